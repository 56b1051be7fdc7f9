//! A 10-minute sink outage in the middle of a 15-minute capture (`capture::capture`: reader,
//! queue, sink), on a paused clock with the X fake and `testkit::aws_faults` in memory (no
//! sockets: see `xfake`). Every call fails whole during the outage; the capture keeps
//! reading (the queue spools past its memory budget, or holds the reader back when there is
//! no spool), and once the service is back every tweet is delivered exactly once, each
//! author's tweets in order: nothing dropped, nothing duplicated. (Before, records were
//! counted as dropped after about 81 s of failed calls.)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use capture::CaptureOptions;
use capture::metrics::Stats;
use capture::queue::QueueConfig;
use capture::sink::Sink;
use capture::sink::firehose::FirehoseSink;
use capture::sink::kinesis::{KinesisSink, PartitionKey};
use capture::stream::StreamConfig;
use testkit::aws_faults::{FaultLog, FaultPlan, FaultProxy, WholeFailure};
use testkit::xfake::{Reply, Step, XFake, tweet_line};

mod common;
use common::{MemoryX, memory_firehose_client, memory_kinesis_client};

const TOKEN: &str = "outage-token";
const TWEETS: usize = 900;
const SECS: fn(u64) -> Duration = Duration::from_secs;

/// One tweet a second for 15 minutes, ten authors, then a quiet open stream.
fn script() -> Vec<Reply> {
    let mut steps = Vec::new();
    for i in 0..TWEETS {
        let line = tweet_line(&(10_000 + i).to_string(), &format!("{}", i % 10), "outage");
        steps.push(Step::send(&format!("{line}\r\n")));
        steps.push(Step::Sleep(SECS(1)));
    }
    for _ in 0..200 {
        steps.push(Step::keep_alive());
        steps.push(Step::Sleep(SECS(20)));
    }
    vec![Reply::Stream { gzip: true, steps }]
}

fn spool_root(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capture-outage-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the capture with the outage from 60 s to 660 s; returns the stats and what the
/// service accepted.
async fn run_through_outage(
    sink: Sink,
    proxy: &FaultProxy,
    queue: QueueConfig,
) -> (Arc<Stats>, FaultLog) {
    let fake = XFake::in_memory(TOKEN, script());
    let mut options = CaptureOptions::new(StreamConfig::default(), "outage");
    options.queue = queue;
    options.metrics_out = capture::MetricsOut::Off;
    let stats = Arc::new(Stats::default());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (_abandon, abandon_rx) = tokio::sync::watch::channel(false);
    let start = tokio::time::Instant::now();
    let run = {
        let stats = Arc::clone(&stats);
        let connect = MemoryX::filtered(&fake, TOKEN, None);
        tokio::spawn(async move {
            capture::capture(&connect, &options, sink, stats, stop_rx, abandon_rx).await
        })
    };
    tokio::time::sleep_until(start + SECS(60)).await;
    proxy.set_outage(Some(WholeFailure::Internal));
    tokio::time::sleep_until(start + SECS(660)).await;
    let failed_during = proxy.log().whole_failures;
    assert!(
        failed_during >= 10,
        "calls failed during the outage: {failed_during}"
    );
    assert_eq!(Stats::get(&stats.dropped), 0);
    proxy.set_outage(None);
    // Everything read arrives once the service is back (a paused clock: deterministic).
    while Stats::get(&stats.delivered) < TWEETS as u64 {
        assert!(start.elapsed() < SECS(3 * 3600), "not delivered: {stats:?}");
        tokio::time::sleep(SECS(1)).await;
    }
    stop.send(true).unwrap();
    let delivery = run.await.unwrap().unwrap();
    assert_eq!(delivery, capture::Delivery::Finished);
    (stats, proxy.log())
}

/// Each tweet once, each author's tweets in the order read.
fn assert_each_once_in_order(log: &FaultLog) {
    let mut by_author: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (key, data) in &log.accepted {
        let text = String::from_utf8_lossy(data);
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        let author = v["data"]["author_id"].as_str().unwrap().to_owned();
        if let Some(key) = key {
            assert_eq!(key, &author, "partition key is the author");
        }
        by_author
            .entry(author)
            .or_default()
            .push(v["data"]["id"].as_str().unwrap().parse().unwrap());
    }
    let mut all: Vec<u64> = by_author.values().flatten().copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        (10_000..10_000 + TWEETS as u64).collect::<Vec<_>>(),
        "each tweet exactly once"
    );
    for (author, ids) in &by_author {
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{author} out of order");
    }
}

#[tokio::test(start_paused = true)]
async fn firehose_ten_minute_outage_spools_and_loses_nothing() {
    let (proxy, http) = FaultProxy::in_memory(FaultPlan::Scripted(vec![]));
    let sink = Sink::Firehose(FirehoseSink::new(memory_firehose_client(http), "tweets"));
    let root = spool_root("firehose");
    // 20 KiB of memory: about 20 tweets; ten minutes of them go to disk.
    let queue = QueueConfig {
        memory_bytes: 20 * 1024,
        spool_root: Some(root.clone()),
        spool_bytes: 1 << 30,
    };
    let (stats, log) = run_through_outage(sink, &proxy, queue).await;
    assert!(Stats::get(&stats.spooled) > 400, "{stats:?}");
    assert_eq!(
        Stats::get(&stats.backpressure_waits),
        0,
        "the spool had room"
    );
    assert_eq!(Stats::get(&stats.tweets), TWEETS as u64);
    assert_eq!(stats.not_delivered(), 0);
    assert_eq!(Stats::get(&stats.dropped), 0);
    assert_eq!(log.passed_entries, TWEETS);
    assert_each_once_in_order(&log);
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "the spool directory is gone"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

#[tokio::test(start_paused = true)]
async fn kinesis_ten_minute_outage_without_a_spool_holds_the_reader_back() {
    let (proxy, http) = FaultProxy::in_memory(FaultPlan::Scripted(vec![]));
    let sink = Sink::Kinesis(KinesisSink::new(
        memory_kinesis_client(http),
        "tweets",
        PartitionKey::Author,
    ));
    let queue = QueueConfig {
        memory_bytes: 20 * 1024,
        spool_root: None,
        spool_bytes: 0,
    };
    let (stats, log) = run_through_outage(sink, &proxy, queue).await;
    assert!(Stats::get(&stats.backpressure_waits) > 0, "{stats:?}");
    assert_eq!(Stats::get(&stats.spooled), 0);
    assert_eq!(Stats::get(&stats.tweets), TWEETS as u64);
    assert_eq!(stats.not_delivered(), 0);
    assert_eq!(Stats::get(&stats.dropped), 0);
    assert_eq!(log.passed_entries, TWEETS);
    assert_each_once_in_order(&log);
}

/// A reader that finished its work (a batch compliance job) gives the sink `drain_timeout`
/// to deliver the rest: a delivery stream that stays down does not hold the run for ever
/// (what was left is counted as not delivered), one that comes back in time gets it all.
#[tokio::test(start_paused = true)]
async fn a_finished_reader_gives_the_sink_its_drain_timeout() {
    for (outage, expected) in [
        (SECS(3600), capture::Delivery::Abandoned),
        (SECS(300), capture::Delivery::Finished),
    ] {
        let (proxy, http) = FaultProxy::in_memory(FaultPlan::Scripted(vec![]));
        proxy.set_outage(Some(WholeFailure::Internal));
        let sink = Sink::Firehose(FirehoseSink::new(memory_firehose_client(http), "tweets"));
        let mut options = CaptureOptions::new(StreamConfig::default(), "drain");
        options.metrics_out = capture::MetricsOut::Off;
        options.drain_timeout = Some(SECS(600));
        let stats = Arc::new(Stats::default());
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        let (_abandon, abandon_rx) = tokio::sync::watch::channel(false);
        let read = |tx: capture::queue::QueueTx, stats: Arc<Stats>| async move {
            for i in 0..3 {
                let line = tweet_line(&i.to_string(), "7", "drain");
                let record = capture::stream::Record::new(line, Some(i.to_string()), None);
                tx.send(record, &stats).await.unwrap();
            }
            Ok(())
        };
        let start = tokio::time::Instant::now();
        let run = {
            let stats = Arc::clone(&stats);
            tokio::spawn(async move {
                let delivery =
                    capture::deliver(&options, sink, stats, stop_rx, abandon_rx, read).await;
                (delivery, start.elapsed())
            })
        };
        tokio::time::sleep(outage).await;
        proxy.set_outage(None);
        let (delivery, waited) = run.await.unwrap();
        assert_eq!(delivery.unwrap(), expected, "outage {outage:?}");
        match expected {
            capture::Delivery::Abandoned => {
                assert_eq!(stats.not_delivered(), 3);
                assert!((SECS(600)..SECS(700)).contains(&waited), "{waited:?}");
            }
            capture::Delivery::Finished => {
                assert_eq!(stats.not_delivered(), 0);
                assert_eq!(proxy.log().passed_entries, 3);
            }
        }
    }
}
