//! Peak memory and throughput of the Lambda handler on one S3 object, end to end against a
//! local S3 (moto) and a search server (osmem-server).
//!
//! The handler is wired exactly as `src/main.rs` wires it (configuration from the `ES_*` /
//! `BULK_*` environment, `S3Store::from_env`, `Indexer::connect_with_s3`) and handles one S3
//! put event naming `--bucket`/`--key`. The object must already be in S3, put there by another
//! process, so that nothing but the handler counts towards this process's peak RSS (`VmHWM`).
//! Run it once per object size, each in a fresh process; `scripts/bench-e2e` does all of that.
//!
//! ```text
//! ES_ENDPOINT=http://127.0.0.1:9200 ES_INDEX=bench AWS_ENDPOINT_URL_S3=http://127.0.0.1:5000 \
//!   cargo bench -p tweet-indexer-lambda --bench handler_rss -- --bucket B --key K
//! ```
//!
//! Prints one JSON line starting with `{"bench":"handler_rss"` (the handler's own metric line
//! also goes to stdout). Without `--bucket`/`--key` it explains itself and exits successfully,
//! so a plain `cargo bench` does not fail on machines without the peers.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::Context;
use pipeline::{Indexer, S3Store};
use serde_json::{Value, json};
use tweet_indexer_lambda::Handler;

struct Args {
    bucket: String,
    key: String,
}

/// `--bucket B --key K`; anything else (cargo passes `--bench`) is ignored.
fn parse_args() -> Option<Args> {
    let mut bucket = None;
    let mut key = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bucket" => bucket = args.next(),
            "--key" => key = args.next(),
            _ => {}
        }
    }
    Some(Args {
        bucket: bucket?,
        key: key?,
    })
}

/// `VmHWM` (peak resident set) and `VmRSS` of this process, in KiB, from `/proc/self/status`.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// An S3 `ObjectCreated:Put` notification for one object (keys in these benchmarks need no
/// URL encoding).
fn put_event(bucket: &str, key: &str) -> Value {
    json!({
        "Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-23T12:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:BENCH"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "bench",
                   "bucket": {"name": bucket, "ownerIdentity": {"principalId": "P"},
                              "arn": format!("arn:aws:s3:::{bucket}")},
                   "object": {"key": key, "size": 1, "eTag": "e", "sequencer": "01"}}
        }]
    })
}

/// A context with Lambda's longest timeout, so the deadline never cuts a benchmark short.
fn context() -> Context {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut context = Context::default();
    context.request_id = "bench-handler-rss".into();
    context.deadline = now_ms + Duration::from_secs(15 * 60).as_millis() as u64;
    context
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(args) = parse_args() else {
        eprintln!(
            "handler_rss: skipped (needs --bucket B --key K naming an object in local S3, plus \
             ES_ENDPOINT and AWS_ENDPOINT_URL_S3; scripts/bench-e2e sets everything up)"
        );
        return Ok(());
    };
    let (hwm_start, _) = memory_kib();
    let config = search_sink::Config::from_env()?;
    let bulk_max_bytes = config.bulk_max_bytes;
    let bulk_concurrency = config.bulk_concurrency;
    let gzip = config.gzip;
    let store = S3Store::from_env().await;
    let indexer = Indexer::connect_with_s3(config, store.client().clone()).await?;
    let handler = Handler::new(store, indexer);
    let (hwm_ready, _) = memory_kib();

    let started = Instant::now();
    let result = handler
        .handle(put_event(&args.bucket, &args.key), &context())
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let (hwm_end, rss_end) = memory_kib();

    let object = &result["objects"][0];
    let field = |name: &str| object[name].as_u64().unwrap_or(0);
    let documents = field("documents");
    let report = json!({
        "bench": "handler_rss",
        "bucket": args.bucket,
        "key": args.key,
        "status": object["status"],
        "bytes_read": field("bytes_read"),
        "records": field("records"),
        "documents": documents,
        "indexed": field("indexed"),
        "dead_lettered": field("dead_lettered"),
        "invalid_records": field("invalid_records"),
        "retried": field("retried"),
        "bulk_max_bytes": bulk_max_bytes,
        "bulk_gzip": gzip,
        "bulk_concurrency": bulk_concurrency,
        "seconds": seconds,
        "documents_per_second": documents as f64 / seconds.max(f64::EPSILON),
        "vm_hwm_kib_at_start": hwm_start,
        "vm_hwm_kib_after_init": hwm_ready,
        "vm_hwm_kib": hwm_end,
        "vm_rss_kib_at_end": rss_end,
    });
    println!("{report}");
    Ok(())
}
