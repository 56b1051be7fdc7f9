//! Soak: at least 30 minutes of simulated stream (paused clock) against the X fake in memory
//! with seeded random faults (cuts anywhere, keep-alives, stalls, drops mid-record, clean
//! closes, operational disconnects, 503, 429, redelivered tweets): every tweet whose line the
//! server completed is forwarded exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use capture::metrics::Stats;
use capture::queue::{QueueConfig, queue};
use capture::stream::{self, StreamConfig, StreamError};
use testkit::xfake::{OPERATIONAL_DISCONNECT, Reply, Step, XFake, tweet_line};

mod common;
use common::MemoryX;

const TOKEN: &str = "soak-token";

/// Builds a script of `connections` replies; returns it with the ids of every tweet whose
/// line was sent completely at least once, and the simulated seconds the fake sleeps.
fn script(seed: u64, connections: usize) -> (Vec<Reply>, Vec<u64>, u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut next_id = 1_000_000u64;
    let mut completed: Vec<u64> = Vec::new();
    let mut script = Vec::new();
    let mut slept = 0;
    for _ in 0..connections {
        match rng.u8(0..10) {
            0 => {
                script.push(Reply::Status {
                    status: 503,
                    headers: vec![],
                    body: String::new(),
                });
                continue;
            }
            1 => {
                script.push(Reply::Status {
                    status: 429,
                    headers: vec![],
                    body: String::new(),
                });
                continue;
            }
            _ => {}
        }
        let gzip = rng.bool();
        let mut steps = Vec::new();
        let mut body = Vec::new();
        // A backfill: some tweets already sent come again.
        if !completed.is_empty() && rng.bool() {
            for _ in 0..rng.usize(1..5) {
                let id = completed[rng.usize(0..completed.len())];
                body.extend_from_slice(
                    tweet_line(&id.to_string(), "7", "again \u{1f501}").as_bytes(),
                );
                body.extend_from_slice(b"\r\n");
            }
        }
        for _ in 0..rng.usize(5..40) {
            next_id += 1;
            if rng.u8(0..4) == 0 {
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(
                tweet_line(&next_id.to_string(), "7", "caf\u{e9} \u{1f600} \u{65e5}").as_bytes(),
            );
            body.extend_from_slice(b"\r\n");
            completed.push(next_id);
            if rng.u8(0..6) == 0 {
                // Flush what we have in random pieces, then wait below the stall timeout.
                let pieces = rng.usize(1..12);
                steps.push(Step::Send {
                    plain: std::mem::take(&mut body),
                    pieces,
                });
                // Below the stall timeout (30 s).
                let pause = rng.u64(1..6);
                slept += pause;
                steps.push(Step::Sleep(Duration::from_secs(pause)));
            }
        }
        if !body.is_empty() {
            steps.push(Step::Send {
                plain: std::mem::take(&mut body),
                pieces: rng.usize(1..20),
            });
        }
        match rng.u8(0..5) {
            0 => steps.push(Step::End),
            1 => {
                // Drop mid-record: this tweet's line is never completed here; a later
                // connection sends it whole.
                next_id += 1;
                let line = tweet_line(&next_id.to_string(), "7", "cut");
                steps.push(Step::Send {
                    plain: line.as_bytes()[..line.len() / 2].to_vec(),
                    pieces: 1,
                });
                steps.push(Step::Drop);
                next_id -= 1;
            }
            2 => {
                steps.push(Step::send(&format!("{OPERATIONAL_DISCONNECT}\r\n")));
                steps.push(Step::Sleep(Duration::from_secs(3600)));
            }
            // A stall: nothing for longer than the stall timeout.
            _ => {
                slept += 30;
                steps.push(Step::Sleep(Duration::from_secs(3600)));
            }
        }
        script.push(Reply::Stream { gzip, steps });
    }
    (script, completed, slept)
}

#[tokio::test(start_paused = true)]
async fn thirty_minutes_of_random_faults_lose_and_duplicate_nothing() {
    let (script, completed, slept) = script(0x5eed, 120);
    let fake = XFake::in_memory(TOKEN, script);
    let config = StreamConfig {
        dedup_window: Duration::from_secs(24 * 3600),
        max_backoff: Duration::from_secs(120),
        ..StreamConfig::default()
    };
    let stats = Arc::new(Stats::default());
    let (tx, mut rx) = queue(&QueueConfig {
        memory_bytes: 256 * 1024,
        spool_root: None,
        spool_bytes: 0,
    })
    .unwrap();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let connect = MemoryX::filtered(&fake, TOKEN, None);
    let started = tokio::time::Instant::now();
    // Read concurrently: the queue is small, so the reader also meets backpressure.
    let reader = async {
        let result = stream::run(&connect, &config, &tx, &stats, shutdown).await;
        drop(tx);
        result
    };
    let collector = async {
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        while let Some(batch) = rx.next_batch(&stats).await {
            for record in batch {
                let v: serde_json::Value = serde_json::from_slice(&record.line).unwrap();
                let id: u64 = v["data"]["id"].as_str().unwrap().parse().unwrap();
                *counts.entry(id).or_default() += 1;
            }
        }
        counts
    };
    let (result, counts) = tokio::join!(reader, collector);
    assert!(
        matches!(result, Err(StreamError::Fatal { status: 401, .. })),
        "{result:?}"
    );
    let simulated = started.elapsed();
    assert!(
        simulated >= Duration::from_secs(30 * 60),
        "only {simulated:?} simulated"
    );
    assert!(slept > 0);

    let expected: std::collections::BTreeSet<u64> = completed.into_iter().collect();
    let got: std::collections::BTreeSet<u64> = counts.keys().copied().collect();
    let lost: Vec<_> = expected.difference(&got).collect();
    assert!(
        lost.is_empty(),
        "lost {} tweets: {:?}",
        lost.len(),
        &lost[..lost.len().min(10)]
    );
    assert_eq!(
        got.len(),
        expected.len(),
        "forwarded ids the fake never completed"
    );
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    assert!(get(&stats.duplicates) > 0, "the script redelivers tweets");
    assert_eq!(get(&stats.tweets) as usize, expected.len());
    eprintln!(
        "soak: {} tweets, {} duplicates dropped, {} reconnects, {:?} simulated",
        expected.len(),
        get(&stats.duplicates),
        stats.delays().len(),
        simulated
    );
}
