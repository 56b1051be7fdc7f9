//! CloudWatch Embedded Metric Format: one JSON line per object on stdout, whatever happened to
//! it (indexed, failed, missing), which CloudWatch Logs turns into metrics without any API call
//! (no extra permission, no latency). A failed object's line carries what was done before the
//! failure, so dead letters written by an attempt that then failed still trip the alarm.

use pipeline::ObjectSummary;
use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "TweetIndexer";

/// How one object ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Indexed,
    /// Not (fully) confirmed: the invocation or SQS message fails and is retried.
    Failed,
    /// GetObject answered NoSuchKey: the invocation or SQS message fails too, so that a key
    /// decoded wrongly (or a notification for an object deleted at once) is seen.
    Missing,
}

/// The metric names and units, in the order they appear in the line.
const METRICS: [(&str, &str); 14] = [
    ("DocumentsIndexed", "Count"),
    ("DocumentsUpdated", "Count"),
    ("DocumentsSuperseded", "Count"),
    ("DocumentsRefused", "Count"),
    ("TweetsFiltered", "Count"),
    ("DocumentsDeadLettered", "Count"),
    ("DocumentsDeleted", "Count"),
    ("ControlMessages", "Count"),
    ("InvalidRecords", "Count"),
    ("BytesRead", "Bytes"),
    ("ObjectsIndexed", "Count"),
    ("ObjectsFailed", "Count"),
    ("MissingObjects", "Count"),
    ("LagMilliseconds", "Milliseconds"),
];

/// Builds the EMF line for one object. `now_ms` is the wall clock in epoch millis; the lag is
/// `now_ms` minus the newest tweet's timestamp and is left out when the object had no tweet.
///
/// `DocumentsIndexed` counts documents *new* to the index (`created`): an object retried after
/// a failure writes its documents again and the server answers `updated` for those already
/// there, so each tweet counts once across attempts; the rewrites are `DocumentsUpdated`.
pub fn emf_line(
    summary: &ObjectSummary,
    outcome: Outcome,
    function_name: &str,
    now_ms: i64,
) -> String {
    let lag = summary
        .newest_tweet_ms
        .map(|newest| (now_ms - newest).max(0));
    let one_if = |wanted: Outcome| Some(u64::from(outcome == wanted));
    let values: [Option<u64>; 14] = [
        Some(summary.created),
        Some(summary.updated),
        Some(summary.superseded),
        Some(summary.refused),
        Some(summary.filtered),
        Some(summary.dead_lettered),
        Some(summary.deleted),
        Some(summary.control_messages),
        Some(summary.invalid_records),
        Some(summary.bytes_read),
        one_if(Outcome::Indexed),
        one_if(Outcome::Failed),
        one_if(Outcome::Missing),
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
        "outcome".into(),
        json!(match outcome {
            Outcome::Indexed => "indexed",
            Outcome::Failed => "failed",
            Outcome::Missing => "missing",
        }),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(line: &str, name: &str) -> Option<u64> {
        let value: Value = serde_json::from_str(line).unwrap();
        let declared = value["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Name"] == name);
        assert_eq!(
            declared,
            value.get(name).is_some(),
            "{name} declared iff present"
        );
        value.get(name).and_then(Value::as_u64)
    }

    #[test]
    fn every_outcome_has_a_line_with_its_counts() {
        let summary = ObjectSummary {
            indexed: 7,
            created: 4,
            updated: 3,
            superseded: 5,
            refused: 6,
            filtered: 8,
            dead_lettered: 2,
            bytes_read: 100,
            newest_tweet_ms: Some(1_000),
            ..ObjectSummary::new("s3://b/k")
        };
        // (outcome, ObjectsIndexed, ObjectsFailed, MissingObjects)
        for (outcome, ok, failed, missing) in [
            (Outcome::Indexed, 1, 0, 0),
            (Outcome::Failed, 0, 1, 0),
            (Outcome::Missing, 0, 0, 1),
        ] {
            let line = emf_line(&summary, outcome, "fn", 1_500);
            assert_eq!(metric(&line, "ObjectsIndexed"), Some(ok), "{outcome:?}");
            assert_eq!(metric(&line, "ObjectsFailed"), Some(failed), "{outcome:?}");
            assert_eq!(
                metric(&line, "MissingObjects"),
                Some(missing),
                "{outcome:?}"
            );
            // A failed attempt's dead letters still reach the dead-letter alarm.
            assert_eq!(metric(&line, "DocumentsDeadLettered"), Some(2));
            assert_eq!(metric(&line, "DocumentsIndexed"), Some(4), "created only");
            assert_eq!(metric(&line, "DocumentsUpdated"), Some(3));
            assert_eq!(metric(&line, "DocumentsSuperseded"), Some(5));
            assert_eq!(metric(&line, "DocumentsRefused"), Some(6));
            assert_eq!(metric(&line, "TweetsFiltered"), Some(8));
            assert_eq!(metric(&line, "LagMilliseconds"), Some(500));
        }
        let no_tweet = emf_line(&ObjectSummary::new("x"), Outcome::Missing, "fn", 1);
        assert_eq!(metric(&no_tweet, "LagMilliseconds"), None);
    }
}
