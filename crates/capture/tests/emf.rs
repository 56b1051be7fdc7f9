//! The whole capture loop (`capture::capture`: reader, queue, Firehose sink, EMF reporter)
//! for a few simulated minutes on a paused clock, against the X fake and a Firehose that
//! fails a call whole and then refuses an entry (`testkit::aws_faults`, no peers): each
//! minute's EMF line carries that minute's tweets, keep-alives, reconnects by cause,
//! duplicates, deletes, bytes, lag and sink failures; the volume warning fires only once
//! `--volume-window` minutes in a row stayed under `--min-tweets-per-minute`. And the
//! template's alarm reads a metric, namespace and dimension these lines carry.
//!
//! Both fakes run in memory: on a paused clock, tokio advances time to the next timer
//! whenever the runtime waits on anything else, and a loopback socket is such a wait. With
//! real sockets this test saw each Firehose call take minutes of simulated time and the
//! capture end with 7 to 13 EMF lines instead of 6 (issue 22, finding 8).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use capture::metrics::{NAMESPACE, Stats};
use capture::sink::Sink;
use capture::sink::firehose::FirehoseSink;
use capture::stream::StreamConfig;
use capture::{CaptureOptions, MetricsOut};
use testkit::aws_faults::{Fault, FaultPlan, FaultProxy, WholeFailure};
use testkit::xfake::{Reply, Step, XFake};

mod common;
use common::{LogBuffer, MemoryX, memory_firehose_client};

const TOKEN: &str = "emf-test-token";

impl LogBuffer {
    fn volume_warnings(&self) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter(|l| l.contains("tweet volume is below the floor"))
            .count()
    }
}

fn crlf(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

fn bytes(lines: &[String]) -> u64 {
    lines.iter().map(|l| l.len() as u64).sum()
}

#[tokio::test(start_paused = true)]
async fn emf_lines_count_each_minute_and_the_volume_warning_waits_for_the_window() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // Tweets created 5 s ago (wall clock), so the lag is known.
    let created =
        humantime::format_rfc3339_millis(SystemTime::now() - Duration::from_secs(5)).to_string();
    let tweet = |id: u64| {
        serde_json::json!({
            "data": {"id": id.to_string(), "author_id": "7", "created_at": created,
                     "text": format!("tweet {id} \u{1f600}")},
            "matching_rules": [{"id": "1", "tag": "emf"}],
        })
        .to_string()
    };
    let first: Vec<String> = (1..=10).map(tweet).collect();
    let later: Vec<String> = (11..=16).map(tweet).collect();
    let after_reconnect: Vec<String> = (17..=22).map(tweet).collect();
    let delete = r#"{"data":{"delete":{"tweet":{"id":"3","author_id":"7"},"event_at":"2024-05-01T10:05:00.000Z"}}}"#.to_owned();
    let secs = Duration::from_secs;
    let mut quiet = vec![Step::send(&crlf(&after_reconnect))];
    for _ in 0..14 {
        quiet.extend([Step::Sleep(secs(20)), Step::keep_alive()]);
    }
    quiet.push(Step::Sleep(secs(3600)));
    let script = vec![
        // Minute 1: 10 tweets and a keep-alive at once, keep-alives at 20 s and 40 s, then
        // two redelivered tweets and a delete. Minute 2 (65 s): 6 tweets, a keep-alive and
        // the zero-length chunk.
        Reply::Stream {
            gzip: true,
            steps: vec![
                Step::split(&format!("{}\r\n", crlf(&first)), 7),
                Step::Sleep(secs(20)),
                Step::keep_alive(),
                Step::Sleep(secs(20)),
                Step::keep_alive(),
                Step::send(&crlf(&[first[0].clone(), first[1].clone(), delete.clone()])),
                Step::Sleep(secs(25)),
                Step::send(&format!("{}\r\n", crlf(&later))),
                Step::End,
            ],
        },
        // Reconnected at once (65 s): 6 tweets, then only keep-alives every 20 s.
        Reply::Stream {
            gzip: false,
            steps: quiet,
        },
    ];
    let fake = XFake::in_memory(TOKEN, script);
    // The first PutRecordBatch fails whole (500), its resend has one entry refused.
    let (proxy, http) = FaultProxy::in_memory(FaultPlan::Scripted(vec![
        Fault::Whole(WholeFailure::Internal),
        Fault::Refuse(vec![0]),
    ]));
    let wall_start = SystemTime::now();

    let config = StreamConfig {
        jitter: false,
        ..StreamConfig::default()
    };
    let mut options = CaptureOptions::new(config, "firehose://tweets");
    options.min_tweets_per_minute = 5;
    options.volume_window = 2;
    let emf = Arc::new(Mutex::new(Vec::new()));
    options.metrics_out = MetricsOut::Memory(Arc::clone(&emf));
    let stats = Arc::new(Stats::default());
    let sink = Sink::Firehose(FirehoseSink::new(memory_firehose_client(http), "tweets"));
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let (_abandon, abandon) = tokio::sync::watch::channel(false);
    let start = tokio::time::Instant::now();
    let run = {
        let stats = Arc::clone(&stats);
        let connect = MemoryX::filtered(&fake, TOKEN, None);
        tokio::spawn(async move {
            capture::capture(&connect, &options, sink, stats, shutdown, abandon).await
        })
    };

    // Half way through each minute: that many EMF lines, and warnings only once two
    // minutes in a row (3 and 4) had fewer than 5 tweets.
    let lines_now = || emf.lock().unwrap().len();
    for (at, lines, warnings) in [
        (30, 0, 0),
        (90, 1, 0),
        (150, 2, 0),
        (210, 3, 0), // minute 3 is low, but alone
        (270, 4, 1),
        (330, 5, 2),
    ] {
        tokio::time::sleep_until(start + secs(at)).await;
        assert_eq!(lines_now(), lines, "EMF lines at {at} s");
        assert_eq!(logs.volume_warnings(), warnings, "warnings at {at} s");
    }
    stop.send(true).unwrap();
    run.await.unwrap().unwrap();
    assert_eq!(
        start.elapsed(),
        secs(330),
        "the shutdown took no simulated time"
    );

    let emf = emf.lock().unwrap().clone();
    assert_eq!(emf.len(), 6, "five minutes and the last part at shutdown");
    let v: Vec<serde_json::Value> = emf
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let column = |name: &str| -> Vec<u64> { v.iter().map(|l| l[name].as_u64().unwrap()).collect() };
    assert_eq!(column("Tweets"), [10, 12, 0, 0, 0, 0]);
    assert_eq!(column("KeepAlives"), [3, 3, 3, 3, 3, 2]);
    assert_eq!(column("Duplicates"), [2, 0, 0, 0, 0, 0]);
    assert_eq!(column("Deletes"), [1, 0, 0, 0, 0, 0]);
    assert_eq!(column("ReconnectsDisconnected"), [0, 1, 0, 0, 0, 0]);
    for other in [
        "ReconnectsNetwork",
        "ReconnectsHttp",
        "ReconnectsRateLimited",
    ] {
        assert_eq!(column(other), [0; 6], "{other}");
    }
    let all_later = [later.clone(), after_reconnect.clone()].concat();
    assert_eq!(
        column("Bytes"),
        [
            bytes(&first) + delete.len() as u64,
            bytes(&all_later),
            0,
            0,
            0,
            0
        ]
    );
    assert_eq!(column("SinkFailures"), [2, 0, 0, 0, 0, 0]);
    assert_eq!(column("Dropped"), [0; 6]);
    let log = proxy.log();
    assert_eq!(
        column("Resent").iter().sum::<u64>(),
        (log.entries_in_failed_calls + log.refused_entries) as u64
    );
    assert_eq!(
        log.passed_entries, 23,
        "22 tweets and the delete, once each"
    );
    let lag = column("LagMs");
    assert!((5_000..3_600_000).contains(&lag[0]), "{lag:?}");
    assert!((5_000..3_600_000).contains(&lag[1]), "{lag:?}");
    assert_eq!(lag[2..], [0, 0, 0, 0]);

    // EMF timestamps are wall-clock milliseconds (what CloudWatch buckets by); this run took
    // well under a day of wall time, whatever the load.
    let millis = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let day = 24 * 3600 * 1000;
    let plausible = millis(wall_start) - day..millis(SystemTime::now()) + day;
    for line in &v {
        assert_eq!(line["Stream"], "firehose://tweets");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], serde_json::json!([["Stream"]]));
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_u64(), "{name} has no value");
        }
        let timestamp = line["_aws"]["Timestamp"].as_u64().unwrap();
        assert!(plausible.contains(&timestamp), "{timestamp}");
    }
    assert_eq!(logs.volume_warnings(), 3, "and once more at shutdown");
}

/// `infra/template.yaml`: the low-volume alarm watches the metric, namespace and `Stream`
/// dimension the capture task's EMF lines carry, over as many one-minute periods as the
/// task's `--volume-window`, against the same floor as its `--min-tweets-per-minute`.
#[test]
fn the_template_alarm_reads_what_the_capture_task_emits() {
    let path = testkit::repo_root().join("infra/template.yaml");
    let template: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let resources = &template["Resources"];
    let alarm = &resources["CaptureLowVolumeAlarm"]["Properties"];
    let container = &resources
        .as_mapping()
        .unwrap()
        .values()
        .find(|r| r["Type"].as_str() == Some("AWS::ECS::TaskDefinition"))
        .expect("the capture task definition")["Properties"]["ContainerDefinitions"][0];
    let command = container["Command"].as_sequence().unwrap();
    let argument = |flag: &str| {
        let at = command
            .iter()
            .position(|a| a.as_str() == Some(flag))
            .unwrap_or_else(|| panic!("the task runs without {flag}"));
        command[at + 1].clone()
    };

    // The EMF line of a capture labelled as the task's --to argument.
    let stats = Stats::default();
    let (line, _) = capture::metrics::Reporter::new("firehose://x").line(&stats, 0);
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    let emitted: Vec<&str> = directive["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();

    assert_eq!(alarm["Namespace"].as_str(), Some(NAMESPACE));
    let metric = alarm["MetricName"].as_str().unwrap();
    assert_eq!(metric, "Tweets");
    assert!(emitted.contains(&metric), "{emitted:?}");
    assert_eq!(alarm["Dimensions"][0]["Name"].as_str(), Some("Stream"));
    assert_eq!(directive["Dimensions"], serde_json::json!([["Stream"]]));
    // Same expression: the dimension value is the --to argument the task runs with.
    assert_eq!(alarm["Dimensions"][0]["Value"], argument("--to"));
    assert_eq!(alarm["Statistic"].as_str(), Some("Sum"));
    assert_eq!(
        alarm["Period"].as_u64(),
        Some(
            CaptureOptions::new(StreamConfig::default(), "x")
                .metrics_interval
                .as_secs()
        )
    );
    assert_eq!(
        alarm["ComparisonOperator"].as_str(),
        Some("LessThanThreshold")
    );
    assert_eq!(alarm["Threshold"], argument("--min-tweets-per-minute"));
    let window = argument("--volume-window");
    assert_eq!(
        alarm["EvaluationPeriods"].as_u64(),
        window.as_str().and_then(|w| w.parse().ok()),
    );
}
