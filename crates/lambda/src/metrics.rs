//! CloudWatch Embedded Metric Format: one JSON line on stdout per object of an S3 event, per
//! Kinesis batch and per S3 Batch Operations task, whatever happened to it (indexed, failed,
//! missing), which CloudWatch Logs turns into metrics without any API call (no extra
//! permission, no latency; [`search_sink::emf`] writes the envelope). A failed line carries
//! what was done before the failure, so dead letters written by an attempt that then failed
//! still trip the alarm.
//!
//! Every trigger's lines feed the shared counts (`DocumentsDeadLettered` and the rest), so
//! the dead-letter alarm sees them all. What differs per trigger is the unit counted
//! (`ObjectsIndexed`/`ObjectsFailed`/`MissingObjects` for S3 events, `KinesisBatchesIndexed`/
//! `KinesisBatchesFailed`, `BackfillTasksSucceeded`/`BackfillTasksFailed`), and a backfill's
//! new documents are `BackfillDocumentsIndexed`, not `DocumentsIndexed`, with no
//! `LagMilliseconds`: the volume alarm and the lag watch the live feed (S3 events and Kinesis),
//! which a backfill of old tweets must not hide or skew.
//!
//! Compliance (what X requires done within 24 hours): `ComplianceEventsApplied` counts the
//! compliance events and tweet deletes whose effect the server confirmed, and
//! `ComplianceLagMilliseconds` is the longest time from an applied event's `event_at` to its
//! application, on lines of the live triggers that applied a timed event (a backfill's replay
//! of old events reports `BackfillComplianceLagMilliseconds` instead, so the alarm on the
//! first one watches the live feed). `ComplianceDocumentsChanged` counts the documents the
//! registers changed: before indexing, fixed in place, or replaced by a tombstone.

use pipeline::ObjectSummary;
use search_sink::emf::{EmfLine, Unit};

pub const NAMESPACE: &str = "TweetIndexer";

/// How one object (or task) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectOutcome {
    Indexed,
    /// Not (fully) confirmed: the invocation or SQS message fails and is retried.
    Failed,
    /// GetObject answered NoSuchKey: the invocation or SQS message fails too, so that a key
    /// decoded wrongly (or a notification for an object deleted at once) is seen.
    Missing,
}

/// What one line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// An object named by an S3 notification (direct, or through SQS, SNS or EventBridge).
    Object(ObjectOutcome),
    /// A Kinesis batch; `failed`: answered with a record to retry from.
    KinesisBatch { failed: bool },
    /// An S3 Batch Operations task (a backfill).
    BackfillTask(ObjectOutcome),
}

/// Where a trigger's module hands a line's counts (the handler writes the line).
pub type Emit<'a> = &'a (dyn Fn(&ObjectSummary, Subject) + Send + Sync);

/// The metric names and units, in the order they appear in the line.
const METRICS: [(&str, Unit); 26] = [
    ("DocumentsIndexed", Unit::Count),
    ("BackfillDocumentsIndexed", Unit::Count),
    ("DocumentsUpdated", Unit::Count),
    ("DocumentsSuperseded", Unit::Count),
    ("DocumentsRefused", Unit::Count),
    ("TweetsFiltered", Unit::Count),
    ("DocumentsDeadLettered", Unit::Count),
    ("DocumentsDeleted", Unit::Count),
    ("ControlMessages", Unit::Count),
    ("InvalidRecords", Unit::Count),
    ("BytesRead", Unit::Bytes),
    ("ObjectsIndexed", Unit::Count),
    ("ObjectsFailed", Unit::Count),
    ("MissingObjects", Unit::Count),
    ("KinesisBatchesIndexed", Unit::Count),
    ("KinesisBatchesFailed", Unit::Count),
    ("BackfillTasksSucceeded", Unit::Count),
    ("BackfillTasksFailed", Unit::Count),
    ("LagMilliseconds", Unit::Milliseconds),
    ("ComplianceEventsApplied", Unit::Count),
    ("ComplianceDocumentsChanged", Unit::Count),
    ("ComplianceLagMilliseconds", Unit::Milliseconds),
    ("BackfillComplianceLagMilliseconds", Unit::Milliseconds),
    ("ArchivePuts", Unit::Count),
    ("ArchiveDeletes", Unit::Count),
    ("ArchiveUpdates", Unit::Count),
];

/// Builds the EMF line for one object, Kinesis batch or backfill task. `now_ms` is the wall
/// clock in epoch millis; the lag is `now_ms` minus the newest tweet's timestamp and is left
/// out when there was no tweet (and for backfill tasks).
///
/// `DocumentsIndexed` counts documents *new* to the index (`created`): an input retried after
/// a failure writes its documents again and the server answers `updated` for those already
/// there, so each tweet counts once across attempts; the rewrites are `DocumentsUpdated`.
pub fn emf_line(
    summary: &ObjectSummary,
    subject: Subject,
    function_name: &str,
    now_ms: i64,
) -> String {
    let lag = summary
        .newest_tweet_ms
        .map(|newest| (now_ms - newest).max(0) as u64);
    let (live, object, kinesis, backfill) = match subject {
        Subject::Object(outcome) => (true, Some(outcome), None, None),
        Subject::KinesisBatch { failed } => (true, None, Some(failed), None),
        Subject::BackfillTask(outcome) => (false, None, None, Some(outcome)),
    };
    let flag = |on: bool| u64::from(on);
    let changed =
        summary.compliance_on_arrival + summary.compliance_changed + summary.compliance_tombstones;
    // Only with an archive (`ARCHIVE_TABLE`) that wrote something.
    let archived = summary.archive_puts + summary.archive_deletes + summary.archive_updates > 0;
    let values: [Option<u64>; 26] = [
        live.then_some(summary.created),
        (!live).then_some(summary.created),
        Some(summary.updated),
        Some(summary.superseded),
        Some(summary.refused),
        Some(summary.filtered),
        Some(summary.dead_lettered),
        Some(summary.deleted),
        Some(summary.control_messages),
        Some(summary.invalid_records),
        Some(summary.bytes_read),
        object.map(|o| flag(o == ObjectOutcome::Indexed)),
        object.map(|o| flag(o == ObjectOutcome::Failed)),
        object.map(|o| flag(o == ObjectOutcome::Missing)),
        kinesis.map(|failed| flag(!failed)),
        kinesis.map(flag),
        backfill.map(|o| flag(o == ObjectOutcome::Indexed)),
        backfill.map(|o| flag(o != ObjectOutcome::Indexed)),
        lag.filter(|_| live),
        Some(summary.compliance_applied),
        Some(changed),
        summary.compliance_lag_ms.filter(|_| live),
        summary.compliance_lag_ms.filter(|_| !live),
        archived.then_some(summary.archive_puts),
        archived.then_some(summary.archive_deletes),
        archived.then_some(summary.archive_updates),
    ];
    let mut line = EmfLine::new(NAMESPACE, &["FunctionName"]);
    for ((name, unit), value) in METRICS.iter().zip(values) {
        if let Some(value) = value {
            line.metric(name, *unit, value);
        }
    }
    let (trigger, outcome) = match subject {
        Subject::Object(outcome) => ("s3", outcome),
        Subject::KinesisBatch { failed: false } => ("kinesis", ObjectOutcome::Indexed),
        Subject::KinesisBatch { failed: true } => ("kinesis", ObjectOutcome::Failed),
        Subject::BackfillTask(outcome) => ("batch-operations", outcome),
    };
    line.property("FunctionName", function_name)
        .property("trigger", trigger)
        .property("object", summary.object.as_str())
        .property(
            "outcome",
            match outcome {
                ObjectOutcome::Indexed => "indexed",
                ObjectOutcome::Failed => "failed",
                ObjectOutcome::Missing => "missing",
            },
        );
    line.finish(now_ms)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

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

    fn summary() -> ObjectSummary {
        ObjectSummary {
            indexed: 7,
            created: 4,
            updated: 3,
            superseded: 5,
            refused: 6,
            filtered: 8,
            dead_lettered: 2,
            bytes_read: 100,
            newest_tweet_ms: Some(1_000),
            compliance_applied: 9,
            compliance_lag_ms: Some(90_000_000),
            compliance_on_arrival: 1,
            compliance_changed: 2,
            compliance_tombstones: 3,
            ..ObjectSummary::new("s3://b/k")
        }
    }

    #[test]
    fn archive_counts_are_on_the_line_only_when_the_archive_wrote() {
        let line = emf_line(
            &summary(),
            Subject::Object(ObjectOutcome::Indexed),
            "fn",
            1_500,
        );
        for name in ["ArchivePuts", "ArchiveDeletes", "ArchiveUpdates"] {
            assert_eq!(metric(&line, name), None, "{name} without an archive");
        }
        let archived = ObjectSummary {
            archive_puts: 4,
            archive_deletes: 1,
            ..summary()
        };
        let line = emf_line(
            &archived,
            Subject::KinesisBatch { failed: false },
            "fn",
            1_500,
        );
        assert_eq!(metric(&line, "ArchivePuts"), Some(4));
        assert_eq!(metric(&line, "ArchiveDeletes"), Some(1));
        assert_eq!(metric(&line, "ArchiveUpdates"), Some(0));
    }

    #[test]
    fn every_outcome_has_a_line_with_its_counts() {
        let summary = summary();
        // (outcome, ObjectsIndexed, ObjectsFailed, MissingObjects)
        for (outcome, ok, failed, missing) in [
            (ObjectOutcome::Indexed, 1, 0, 0),
            (ObjectOutcome::Failed, 0, 1, 0),
            (ObjectOutcome::Missing, 0, 0, 1),
        ] {
            let line = emf_line(&summary, Subject::Object(outcome), "fn", 1_500);
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
            assert_eq!(metric(&line, "ComplianceEventsApplied"), Some(9));
            assert_eq!(metric(&line, "ComplianceDocumentsChanged"), Some(6));
            assert_eq!(metric(&line, "ComplianceLagMilliseconds"), Some(90_000_000));
            assert_eq!(metric(&line, "BackfillComplianceLagMilliseconds"), None);
            for other in [
                "KinesisBatchesIndexed",
                "KinesisBatchesFailed",
                "BackfillTasksSucceeded",
                "BackfillTasksFailed",
                "BackfillDocumentsIndexed",
            ] {
                assert_eq!(metric(&line, other), None, "{other} on an object's line");
            }
        }
        let no_tweet = emf_line(
            &ObjectSummary::new("x"),
            Subject::Object(ObjectOutcome::Missing),
            "fn",
            1,
        );
        assert_eq!(metric(&no_tweet, "LagMilliseconds"), None);
        // No timed compliance event applied: no compliance lag either (the alarm treats the
        // missing value as fine), but the count is there.
        assert_eq!(metric(&no_tweet, "ComplianceLagMilliseconds"), None);
        assert_eq!(metric(&no_tweet, "ComplianceEventsApplied"), Some(0));
    }

    #[test]
    fn kinesis_batches_and_backfill_tasks_count_their_own_unit_and_share_the_rest() {
        let summary = summary();
        // (subject, metric that is 1, metric that is 0, trigger)
        let table = [
            (
                Subject::KinesisBatch { failed: false },
                "KinesisBatchesIndexed",
                "KinesisBatchesFailed",
                "kinesis",
            ),
            (
                Subject::KinesisBatch { failed: true },
                "KinesisBatchesFailed",
                "KinesisBatchesIndexed",
                "kinesis",
            ),
            (
                Subject::BackfillTask(ObjectOutcome::Indexed),
                "BackfillTasksSucceeded",
                "BackfillTasksFailed",
                "batch-operations",
            ),
            (
                Subject::BackfillTask(ObjectOutcome::Missing),
                "BackfillTasksFailed",
                "BackfillTasksSucceeded",
                "batch-operations",
            ),
        ];
        for (subject, one, zero, trigger) in table {
            let line = emf_line(&summary, subject, "fn", 1_500);
            assert_eq!(metric(&line, one), Some(1), "{subject:?}");
            assert_eq!(metric(&line, zero), Some(0), "{subject:?}");
            // The dead-letter alarm sees every trigger.
            assert_eq!(
                metric(&line, "DocumentsDeadLettered"),
                Some(2),
                "{subject:?}"
            );
            assert_eq!(metric(&line, "DocumentsDeleted"), Some(0), "{subject:?}");
            for object_metric in ["ObjectsIndexed", "ObjectsFailed", "MissingObjects"] {
                assert_eq!(metric(&line, object_metric), None, "{subject:?}");
            }
            let value: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(value["trigger"], trigger);
        }
        // Kinesis is live data: its new documents feed the volume alarm, with the lag.
        let kinesis = emf_line(
            &summary,
            Subject::KinesisBatch { failed: false },
            "fn",
            1_500,
        );
        assert_eq!(metric(&kinesis, "DocumentsIndexed"), Some(4));
        assert_eq!(metric(&kinesis, "LagMilliseconds"), Some(500));
        // A backfill's old tweets neither hide a silent feed nor count as lag.
        let backfill = emf_line(
            &summary,
            Subject::BackfillTask(ObjectOutcome::Indexed),
            "fn",
            1_500,
        );
        assert_eq!(metric(&backfill, "DocumentsIndexed"), None);
        assert_eq!(metric(&backfill, "BackfillDocumentsIndexed"), Some(4));
        assert_eq!(metric(&backfill, "LagMilliseconds"), None);
        // A backfill replays old compliance events: their lag is its own metric, which the
        // 24-hour alarm does not watch.
        assert_eq!(metric(&backfill, "ComplianceLagMilliseconds"), None);
        assert_eq!(
            metric(&backfill, "BackfillComplianceLagMilliseconds"),
            Some(90_000_000)
        );
        assert_eq!(metric(&backfill, "ComplianceEventsApplied"), Some(9));
        assert_eq!(
            metric(&kinesis, "ComplianceLagMilliseconds"),
            Some(90_000_000)
        );
    }
}
