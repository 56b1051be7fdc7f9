//! CloudWatch Embedded Metric Format: one JSON line per object on stdout, which CloudWatch Logs
//! turns into metrics without any API call (no extra permission, no latency).

use pipeline::ObjectSummary;
use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "TweetIndexer";

/// The metric names and units, in the order they appear in the line.
const METRICS: [(&str, &str); 7] = [
    ("DocumentsIndexed", "Count"),
    ("DocumentsDeadLettered", "Count"),
    ("DocumentsDeleted", "Count"),
    ("ControlMessages", "Count"),
    ("InvalidRecords", "Count"),
    ("BytesRead", "Bytes"),
    ("LagMilliseconds", "Milliseconds"),
];

/// Builds the EMF line for one object. `now_ms` is the wall clock in epoch millis; the lag is
/// `now_ms` minus the newest tweet's timestamp and is left out when the object had no tweet.
pub fn emf_line(summary: &ObjectSummary, function_name: &str, now_ms: i64) -> String {
    let lag = summary
        .newest_tweet_ms
        .map(|newest| (now_ms - newest).max(0));
    let values: [Option<u64>; 7] = [
        Some(summary.indexed),
        Some(summary.dead_lettered),
        Some(summary.deleted),
        Some(summary.control_messages),
        Some(summary.invalid_records),
        Some(summary.bytes_read),
        lag.map(|l| l as u64),
    ];
    let mut root = Map::new();
    let mut defs = Vec::new();
    for ((name, unit), value) in METRICS.iter().zip(values) {
        if let Some(value) = value {
            defs.push(json!({"Name": name, "Unit": unit}));
            root.insert((*name).to_owned(), json!(value));
        }
    }
    root.insert("FunctionName".into(), json!(function_name));
    root.insert("object".into(), json!(summary.object));
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": defs,
            }]
        }),
    );
    Value::Object(root).to_string()
}
