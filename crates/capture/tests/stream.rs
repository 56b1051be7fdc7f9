//! The reader against the X fake (`testkit::xfake`) in memory, on a paused tokio clock:
//! exact forwarded records, the reconnect delays chosen (the backoff resets only on
//! progress), the counters, and the token never logged.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use capture::backoff::Disconnect;
use capture::metrics::Stats;
use capture::queue::{QueueConfig, queue};
use capture::stream::{self, StreamConfig, StreamError};
use testkit::xfake::{
    OPERATIONAL_DISCONNECT, Reply, Step, TOO_MANY_CONNECTIONS, XFake, tweet_line,
};

mod common;
use common::{LogBuffer, MemoryX};

const TOKEN: &str = "AAAA-secret-bearer-token-never-logged";

fn memory_queue() -> QueueConfig {
    QueueConfig {
        memory_bytes: 1 << 20,
        spool_root: None,
        spool_bytes: 0,
    }
}

struct Run {
    lines: Vec<String>,
    stats: Arc<Stats>,
    result: Result<(), StreamError>,
    logs: String,
    elapsed: Duration,
}

async fn run(
    fake: &XFake,
    backfill_minutes: Option<u8>,
    tweak: impl FnOnce(&mut StreamConfig),
) -> Run {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut config = StreamConfig {
        jitter: false,
        ..StreamConfig::default()
    };
    tweak(&mut config);
    let stats = Arc::new(Stats::default());
    let (tx, mut rx) = queue(&memory_queue()).unwrap();
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let started = tokio::time::Instant::now();
    let connect = MemoryX::filtered(fake, TOKEN, backfill_minutes);
    let result = stream::run(&connect, &config, &tx, &stats, shutdown).await;
    let elapsed = started.elapsed();
    drop(tx);
    let mut lines = Vec::new();
    while let Some(batch) = rx.next_batch(&stats).await {
        for record in batch {
            lines.push(String::from_utf8(record.line.to_vec()).unwrap());
        }
    }
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    Run {
        lines,
        stats,
        result,
        logs,
        elapsed,
    }
}

fn crlf(line: &str) -> String {
    format!("{line}\r\n")
}

#[tokio::test(start_paused = true)]
async fn scripted_faults_forward_each_record_once_with_the_guides_delays() {
    let t1 = tweet_line("101", "9", "caf\u{e9} \u{1f600} \u{65e5}\u{672c}");
    let t2 = tweet_line("102", "9", "second");
    let t3 = tweet_line("103", "8", "\u{1f30d} third");
    let t0 = tweet_line("100", "7", "older, out of order");
    let t4 = tweet_line("104", "7", "after the drop");
    let t5 = tweet_line("105", "7", "after the stall");
    let delete = r#"{"data":{"delete":{"tweet":{"id":"102","author_id":"9"},"event_at":"2024-05-01T10:05:00.000Z"}}}"#;
    // t3 cut inside its first multi-byte character.
    let t3_cut = t3.find('\u{1f30d}').unwrap() + 2;
    let reset_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 90;
    let script = vec![
        // 1: gzip, chunks cut mid-record, mid-UTF-8 and mid gzip block; a duplicate; a delete;
        //    then a clean zero-length chunk.
        Reply::Stream {
            gzip: true,
            steps: vec![
                Step::keep_alive(),
                Step::split(&crlf(&t1), 5),
                Step::Send {
                    plain: [crlf(&t2).as_bytes(), &t3.as_bytes()[..t3_cut]].concat(),
                    pieces: 1,
                },
                Step::Send {
                    plain: crlf(&t3).as_bytes()[t3_cut..].to_vec(),
                    pieces: 3,
                },
                Step::send(&crlf(&t1)),
                Step::send(&crlf(&t0)),
                Step::send(&crlf(delete)),
                Step::End,
            ],
        },
        // 2: plain, a tweet then operational-disconnect.
        Reply::Stream {
            gzip: false,
            steps: vec![
                Step::send(&crlf(&t4)),
                Step::send(&crlf(OPERATIONAL_DISCONNECT)),
                Step::Sleep(Duration::from_secs(3600)),
            ],
        },
        // 3, 4: 503 twice.
        Reply::Status {
            status: 503,
            headers: vec![],
            body: r#"{"title":"Service Unavailable"}"#.into(),
        },
        Reply::Status {
            status: 503,
            headers: vec![],
            body: String::new(),
        },
        // 5: 429 TooManyConnections with x-rate-limit-reset 90 s ahead.
        Reply::Status {
            status: 429,
            headers: vec![("x-rate-limit-reset".into(), reset_epoch.to_string())],
            body: TOO_MANY_CONNECTIONS.into(),
        },
        // 6: a keep-alive, then a stall longer than the 30 s timeout.
        Reply::Stream {
            gzip: true,
            steps: vec![Step::keep_alive(), Step::Sleep(Duration::from_secs(3600))],
        },
        // 7: a new tweet, a redelivered one, then the socket drops mid-body.
        Reply::Stream {
            gzip: true,
            steps: vec![
                Step::send(&crlf(&t5)),
                Step::send(&crlf(&t1)),
                Step::split(&t2[..20], 1),
                Step::Drop,
            ],
        },
        // then: 401 (script used up) ends the run.
    ];
    let fake = XFake::in_memory(TOKEN, script);
    let run = run(&fake, Some(2), |_| {}).await;

    assert!(
        matches!(run.result, Err(StreamError::Fatal { status: 401, .. })),
        "{:?}",
        run.result
    );
    assert_eq!(run.lines, vec![t1, t2, t3, t0, delete.to_owned(), t4, t5]);
    let s = &run.stats;
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    assert_eq!(get(&s.tweets), 6);
    assert_eq!(get(&s.duplicates), 2);
    assert_eq!(get(&s.deletes), 1);
    assert_eq!(get(&s.keep_alives), 2);
    assert_eq!(get(&s.problems), 1);
    assert_eq!(get(&s.connections), 8);

    let delays = s.delays();
    let kinds: Vec<Disconnect> = delays.iter().map(|d| d.0).collect();
    assert_eq!(
        kinds,
        vec![
            Disconnect::Disconnected, // zero-length chunk
            Disconnect::Disconnected, // operational-disconnect
            Disconnect::Http,
            Disconnect::Http,
            Disconnect::RateLimited,
            Disconnect::Disconnected, // stall
            Disconnect::Disconnected, // socket dropped
        ]
    );
    // Each connection that delivered records resets the backoff: the drop after it is
    // reconnected at once. The stall came on a connection that delivered nothing (a
    // keep-alive is not progress) after the last one that did: a failed reconnect, 5 s.
    let secs = |i: usize| delays[i].1;
    assert_eq!(secs(0), Duration::ZERO);
    assert_eq!(secs(1), Duration::ZERO);
    assert_eq!(secs(2), Duration::from_secs(5));
    assert_eq!(secs(3), Duration::from_secs(10));
    // x-rate-limit-reset (about 90 s ahead) beats the 60 s first step.
    assert!(
        secs(4) > Duration::from_secs(85) && secs(4) <= Duration::from_secs(90),
        "{:?}",
        secs(4)
    );
    assert_eq!(secs(5), Duration::from_secs(5));
    assert_eq!(secs(6), Duration::ZERO);
    // The virtual clock really waited: the delays plus the 30 s stall.
    let waited: Duration = delays.iter().map(|d| d.1).sum::<Duration>() + Duration::from_secs(30);
    assert!(run.elapsed >= waited, "{:?} < {waited:?}", run.elapsed);

    let seen = fake.seen();
    assert_eq!(seen.len(), 8);
    for request in &seen {
        assert!(request.authorized, "{request:?}");
        assert!(request.accept_gzip, "{request:?}");
        assert!(
            request.target.starts_with("/2/tweets/search/stream?"),
            "{request:?}"
        );
        assert!(request.target.contains("backfill_minutes=2"), "{request:?}");
        assert!(request.target.contains("note_tweet"), "{request:?}");
        assert!(request.target.contains("geo.place_id"), "{request:?}");
    }

    // Problems are logged with title, detail and type; the token never is.
    assert!(
        run.logs.contains("UpstreamOperationalDisconnect")
            || run.logs.contains("operational-disconnect")
    );
    assert!(
        run.logs
            .contains("This stream is currently at the maximum allowed connection limit.")
    );
    assert!(
        run.logs
            .contains("https://api.twitter.com/2/problems/streaming-connection")
    );
    assert!(run.logs.contains("reconnecting"));
    assert!(!run.logs.contains(TOKEN), "the token leaked into the logs");
    assert!(
        !run.logs.contains("secret-bearer"),
        "part of the token leaked into the logs"
    );
}

#[tokio::test(start_paused = true)]
async fn repeated_http_errors_double_to_the_max_backoff() {
    let script = (0..4)
        .map(|_| Reply::Status {
            status: 500,
            headers: vec![],
            body: String::new(),
        })
        .collect();
    let fake = XFake::in_memory(TOKEN, script);
    let run = run(&fake, None, |c| c.max_backoff = Duration::from_secs(12)).await;
    assert!(matches!(
        run.result,
        Err(StreamError::Fatal { status: 401, .. })
    ));
    let delays: Vec<Duration> = run.stats.delays().iter().map(|d| d.1).collect();
    let s = Duration::from_secs;
    assert_eq!(delays, vec![s(5), s(10), s(12), s(12)]);
}

#[tokio::test(start_paused = true)]
async fn a_bad_token_stops_at_once_without_retrying() {
    let fake = XFake::in_memory("another token", vec![]);
    let run = run(&fake, None, |_| {}).await;
    match run.result {
        Err(StreamError::Fatal {
            status: 401,
            detail,
        }) => assert_eq!(detail, "Unauthorized"),
        other => panic!("{other:?}"),
    }
    assert!(run.stats.delays().is_empty());
    assert_eq!(fake.seen().len(), 1);
    assert!(!run.logs.contains(TOKEN));
}

#[tokio::test(start_paused = true)]
async fn shutdown_returns_ok_after_forwarding_what_was_read() {
    let t1 = tweet_line("1", "9", "one");
    let script = vec![Reply::Stream {
        gzip: true,
        steps: vec![
            Step::send(&crlf(&t1)),
            Step::keep_alive(),
            Step::Sleep(Duration::from_secs(10)),
            Step::keep_alive(),
            Step::Sleep(Duration::from_secs(3600)),
        ],
    }];
    let fake = XFake::in_memory(TOKEN, script);
    let config = StreamConfig::default();
    let stats = Stats::default();
    let (tx, mut rx) = queue(&memory_queue()).unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let connect = MemoryX::filtered(&fake, TOKEN, None);
    let reader = stream::run(&connect, &config, &tx, &stats, shutdown);
    let stopper = async {
        let first = rx.next_batch(&stats).await.unwrap().remove(0);
        // A keep-alive after 10 s keeps the 30 s stall timeout from firing.
        tokio::time::sleep(Duration::from_secs(20)).await;
        stop.send(true).unwrap();
        first
    };
    let (result, first) = tokio::join!(reader, stopper);
    result.unwrap();
    assert_eq!(first.line, t1.as_bytes());
    assert_eq!(stats.keep_alives.load(Ordering::Relaxed), 2);
    assert!(stats.delays().is_empty(), "{:?}", stats.delays());
}

/// A server (or proxy) that answers 200, sends a keep-alive or an `errors` payload and closes
/// at once: the first drop is reconnected at once, every later one backs off on the HTTP
/// schedule, since none of these connections made progress. (The backoff used to reset on
/// any frame: 7,339 connections in 12 s.)
#[tokio::test(start_paused = true)]
async fn a_server_that_answers_200_and_closes_at_once_is_not_hammered() {
    for last_words in [
        Step::keep_alive(),
        Step::send(&crlf(OPERATIONAL_DISCONNECT)),
    ] {
        let script: Vec<Reply> = (0..12)
            .map(|_| Reply::Stream {
                gzip: false,
                steps: vec![last_words.clone(), Step::End],
            })
            .collect();
        let fake = XFake::in_memory(TOKEN, script);
        let run = run(&fake, None, |_| {}).await;
        assert!(matches!(
            run.result,
            Err(StreamError::Fatal { status: 401, .. })
        ));
        let delays: Vec<u64> = run.stats.delays().iter().map(|d| d.1.as_secs()).collect();
        assert_eq!(
            delays,
            [0, 5, 10, 20, 40, 80, 160, 320, 320, 320, 320, 320],
            "{last_words:?}"
        );
        // 13 connections (12 scripted, then the 401) over more than half an hour: at most
        // two in any second.
        assert_eq!(fake.connections(), 12);
        assert!(
            run.elapsed >= Duration::from_secs(1_915),
            "{:?}",
            run.elapsed
        );
        assert!(run.lines.is_empty());
    }
}

/// `TooManyConnections` sent inside a 200 stream doubles like a 429 (the payload used to
/// reset the backoff, so it stayed at one minute).
#[tokio::test(start_paused = true)]
async fn too_many_connections_payloads_double() {
    let script: Vec<Reply> = (0..4)
        .map(|_| Reply::Stream {
            gzip: false,
            steps: vec![
                Step::keep_alive(),
                Step::send(&crlf(TOO_MANY_CONNECTIONS)),
                Step::Sleep(Duration::from_secs(3600)),
            ],
        })
        .collect();
    let fake = XFake::in_memory(TOKEN, script);
    let run = run(&fake, None, |c| c.max_backoff = Duration::from_secs(400)).await;
    let delays: Vec<(Disconnect, u64)> = run
        .stats
        .delays()
        .iter()
        .map(|d| (d.0, d.1.as_secs()))
        .collect();
    assert_eq!(
        delays,
        [
            (Disconnect::RateLimited, 60),
            (Disconnect::RateLimited, 120),
            (Disconnect::RateLimited, 240),
            (Disconnect::RateLimited, 400),
        ]
    );
}

/// Progress is a record, or a connection that lived `healthy_after`: a quiet stream of
/// keep-alives that lasts 80 s and closes is reconnected at once every time; one that lasts
/// 40 s after it made no progress: it is a failed reconnect (5 s, then 10 s).
#[tokio::test(start_paused = true)]
async fn a_long_quiet_connection_is_progress_a_short_one_is_not() {
    let quiet = |seconds: u64| Reply::Stream {
        gzip: true,
        steps: (0..seconds / 20)
            .flat_map(|_| [Step::keep_alive(), Step::Sleep(Duration::from_secs(20))])
            .chain([Step::End])
            .collect(),
    };
    let fake = XFake::in_memory(TOKEN, vec![quiet(80), quiet(80), quiet(40), quiet(40)]);
    let run = run(&fake, None, |_| {}).await;
    let delays: Vec<u64> = run.stats.delays().iter().map(|d| d.1.as_secs()).collect();
    assert_eq!(delays, [0, 0, 5, 10]);
}

/// A stop while the queue is full (the sink is down, no spool) returns at once: the reader
/// does not wait for room first, and the record it was queueing counts as not delivered.
#[tokio::test(start_paused = true)]
async fn a_stop_does_not_wait_for_room_in_a_full_queue() {
    let body: String = (1..=5)
        .map(|i| crlf(&tweet_line(&i.to_string(), "7", "full")))
        .collect();
    let script = vec![Reply::Stream {
        gzip: false,
        steps: vec![Step::send(&body), Step::Sleep(Duration::from_secs(3600))],
    }];
    let fake = XFake::in_memory(TOKEN, script);
    let stats = Stats::default();
    // Room for two tweets; nothing takes them.
    let one = tweet_line("1", "7", "full").len();
    let (tx, rx) = queue(&QueueConfig {
        memory_bytes: 2 * one + 10,
        spool_root: None,
        spool_bytes: 0,
    })
    .unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let connect = MemoryX::filtered(&fake, TOKEN, None);
    let config = StreamConfig::default();
    let reader = stream::run(&connect, &config, &tx, &stats, shutdown);
    let stopper = async {
        while Stats::get(&stats.backpressure_waits) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        stop.send(true).unwrap();
    };
    let started = tokio::time::Instant::now();
    // A reader that waited for room would never return: fail after a simulated hour.
    let both = async { tokio::join!(reader, stopper) };
    let (result, ()) = tokio::time::timeout(Duration::from_secs(3600), both)
        .await
        .expect("the reader did not stop");
    result.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(rx.len(), 2);
    assert_eq!(
        Stats::get(&stats.queued),
        3,
        "two queued, one read and not queued"
    );
    assert_eq!(stats.not_delivered(), 3);
}
