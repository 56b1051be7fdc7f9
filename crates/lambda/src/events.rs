//! What an invocation asks us to index: the payload parsed into one typed event, [`Trigger`],
//! then classified by failure policy into an [`Invocation`].
//!
//! Accepted shapes: S3 event notifications (every record), the `s3:TestEvent` S3 sends when a
//! notification is configured (skipped), EventBridge "Object Created" events, SNS events whose
//! messages are any of those (S3 -> SNS -> Lambda), and any of those wrapped in SQS messages
//! (fan-out setups), also through an SNS envelope. Records that are not `ObjectCreated:*`, and
//! SNS messages that are not S3 notifications, are skipped with a reason, never an error.
//! Kinesis batches ([`kinesis`]) and S3 Batch Operations jobs ([`batch_job`]) are read by
//! their own submodules; indexing them is [`crate::kinesis`]'s and [`crate::batch_ops`]'s.
//!
//! Which shape a payload is, is decided by a detection step that reads the few fields that
//! name it (as the event sources document them), then the payload is read into that shape's
//! type: an unknown payload is reported by its top-level keys, a malformed one by the shape it
//! claimed and serde's reason (an untagged enum would say neither).

pub mod batch_job;
pub mod kinesis;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use serde::Deserialize;
use serde_json::Value;

pub use crate::event_error::EventError;
pub use crate::s3_key::decode_key;
use batch_job::BatchJobEvent;
use kinesis::KinesisRecord;

/// One object to index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub bucket: String,
    /// The real key, already URL-decoded.
    pub key: String,
}

/// What one event (or one SQS message body) names: objects to index and records skipped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub objects: Vec<ObjectRef>,
    /// Why each skipped record was skipped (logged by the handler).
    pub skipped: Vec<String>,
}

/// One SQS message of a batch: the objects its body names, or why it could not be read.
#[derive(Debug)]
pub struct SqsWork {
    pub message_id: String,
    pub found: Result<Found, EventError>,
}

/// The invocation, classified.
#[derive(Debug)]
pub enum Invocation {
    /// Direct S3 notification or EventBridge event: a failure fails the whole invocation.
    Direct(Found),
    /// SQS batch: failures are reported per message (partial batch response).
    Sqs(Vec<SqsWork>),
    /// Kinesis batch: answered with the first record to retry.
    Kinesis(Vec<KinesisRecord>),
    /// S3 Batch Operations: one result code per task.
    BatchJob(BatchJobEvent),
}

/// An invocation payload (or an SQS message body, an SNS message) read into the type of the
/// trigger that sent it.
#[derive(Debug)]
pub enum Trigger {
    /// An S3 event notification.
    S3(S3Event),
    /// The `s3:TestEvent` S3 sends when a notification is configured.
    S3Test(S3TestEvent),
    /// An SNS event (S3 -> SNS -> Lambda): each record's message is read like a direct event.
    Sns(Vec<SnsRecord>),
    /// An SNS envelope as SNS delivers it to SQS (S3 -> SNS -> SQS): its message is the event.
    SnsEnvelope(SnsRecord),
    /// An EventBridge "Object Created" event from S3.
    EventBridge(EventBridgeEvent<ObjectCreatedDetail>),
    /// Any other EventBridge event (skipped).
    OtherEventBridge { source: String, detail_type: String },
    /// An SQS batch: each message body is read like a direct event.
    Sqs(SqsEvent),
    /// A Kinesis batch.
    Kinesis(Vec<KinesisRecord>),
    /// An S3 Batch Operations job.
    BatchJob(BatchJobEvent),
}

/// The `s3:TestEvent`: only its bucket is kept (for the skip reason).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3TestEvent {
    pub bucket: Option<String>,
}

/// One SNS message: the topic it came from and its `Message` string, when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsRecord {
    pub topic_arn: Option<String>,
    pub message: Option<String>,
}

/// The part of an EventBridge "Object Created" detail that names the object.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
pub struct ObjectCreatedDetail {
    bucket: NameOnly,
    object: KeyOnly,
}
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct NameOnly {
    name: String,
}
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct KeyOnly {
    key: String,
}

/// Parses and classifies the raw invocation payload.
pub fn parse_invocation(payload: &Value) -> Result<Invocation, EventError> {
    Trigger::parse(payload)?.into_invocation()
}

/// The objects named by a direct event: S3 notification, test event, EventBridge, SNS envelope.
pub fn objects_in(value: &Value) -> Result<Found, EventError> {
    Trigger::parse_message(value)?.into_found()
}

impl Trigger {
    /// Reads an invocation payload: an SQS, Kinesis or Batch Operations event, or a direct one
    /// ([`Trigger::parse_message`]).
    pub fn parse(payload: &Value) -> Result<Trigger, EventError> {
        if text_at(payload, "/Records/0/eventSource") == Some("aws:sqs") {
            return from_value(payload, "SQS event").map(Trigger::Sqs);
        }
        if kinesis::is_kinesis(payload) {
            return kinesis::parse(payload).map(Trigger::Kinesis);
        }
        if batch_job::is_batch_job(payload) {
            return batch_job::parse(payload).map(Trigger::BatchJob);
        }
        Trigger::parse_message(payload)
    }

    /// Reads what may come directly or inside a message (an SQS body, an SNS message): an S3
    /// notification, the test event, an SNS event or envelope, an EventBridge event.
    pub fn parse_message(value: &Value) -> Result<Trigger, EventError> {
        if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
            let bucket = value
                .get("Bucket")
                .and_then(Value::as_str)
                .map(str::to_owned);
            return Ok(Trigger::S3Test(S3TestEvent { bucket }));
        }
        if value.get("Type").and_then(Value::as_str) == Some("Notification") {
            return Ok(Trigger::SnsEnvelope(SnsRecord {
                topic_arn: text_at(value, "/TopicArn").map(str::to_owned),
                message: text_at(value, "/Message").map(str::to_owned),
            }));
        }
        if text_at(value, "/Records/0/EventSource") == Some("aws:sns") {
            let records = value
                .get("Records")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let records = records.iter().map(|record| SnsRecord {
                topic_arn: text_at(record, "/Sns/TopicArn").map(str::to_owned),
                message: text_at(record, "/Sns/Message").map(str::to_owned),
            });
            return Ok(Trigger::Sns(records.collect()));
        }
        if value.get("Records").is_some() {
            return from_value(value, "S3 event notification").map(Trigger::S3);
        }
        if value.get("detail-type").is_some() {
            let detail_type = text_at(value, "/detail-type").unwrap_or("");
            let source = text_at(value, "/source").unwrap_or("");
            if source != "aws.s3" || detail_type != "Object Created" {
                return Ok(Trigger::OtherEventBridge {
                    source: source.to_owned(),
                    detail_type: detail_type.to_owned(),
                });
            }
            return from_value(value, "EventBridge event").map(Trigger::EventBridge);
        }
        Err(EventError::Unrecognised(describe(value)))
    }

    /// Whether the object keys this event names come as stored (EventBridge), not URL-encoded.
    pub fn keys_as_stored(&self) -> bool {
        matches!(self, Trigger::EventBridge(_))
    }

    /// Classifies the event by how its failures are answered.
    pub fn into_invocation(self) -> Result<Invocation, EventError> {
        Ok(match self {
            Trigger::Sqs(event) => Invocation::Sqs(sqs_works(event)),
            Trigger::Kinesis(records) => Invocation::Kinesis(records),
            Trigger::BatchJob(job) => Invocation::BatchJob(job),
            direct => Invocation::Direct(direct.into_found()?),
        })
    }

    /// The objects a direct event names, and the records it skips.
    pub fn into_found(self) -> Result<Found, EventError> {
        match self {
            Trigger::S3(event) => s3_notification(event),
            Trigger::S3Test(test) => Ok(Found {
                objects: vec![],
                skipped: vec![format!(
                    "s3:TestEvent for bucket {}",
                    test.bucket.as_deref().unwrap_or("?")
                )],
            }),
            Trigger::SnsEnvelope(envelope) => {
                // SNS envelope (S3 -> SNS -> SQS): the S3 event is a JSON string in `Message`.
                let message = envelope.message.ok_or_else(|| EventError::Malformed {
                    shape: "SNS notification",
                    reason: "no Message string".into(),
                })?;
                let inner: Value =
                    serde_json::from_str(&message).map_err(|e| EventError::Malformed {
                        shape: "SNS Message",
                        reason: e.to_string(),
                    })?;
                objects_in(&inner)
            }
            Trigger::Sns(records) => sns_event(records),
            Trigger::EventBridge(event) => {
                // EventBridge carries the key as stored (not URL-encoded, unlike S3 notifications).
                Ok(Found {
                    objects: vec![ObjectRef {
                        bucket: event.detail.bucket.name,
                        key: event.detail.object.key,
                    }],
                    skipped: vec![],
                })
            }
            Trigger::OtherEventBridge {
                source,
                detail_type,
            } => Ok(Found {
                objects: vec![],
                skipped: vec![format!(
                    "EventBridge {source:?} {detail_type:?} is not an S3 Object Created event"
                )],
            }),
            // `parse_message` reads none of these: a batch names no objects of its own.
            Trigger::Sqs(_) | Trigger::Kinesis(_) | Trigger::BatchJob(_) => Err(
                EventError::Unrecognised("a batch event where a direct event belongs".into()),
            ),
        }
    }
}

/// Each SQS message's body, read like a direct event.
fn sqs_works(event: SqsEvent) -> Vec<SqsWork> {
    event
        .records
        .into_iter()
        .enumerate()
        .map(|(i, message)| SqsWork {
            message_id: message.message_id.unwrap_or_else(|| format!("#{i}")),
            found: match message.body.as_deref() {
                Some(body) => serde_json::from_str::<Value>(body)
                    .map_err(|e| EventError::Malformed {
                        shape: "SQS message body",
                        reason: e.to_string(),
                    })
                    .and_then(|v| objects_in(&v)),
                None => Err(EventError::Malformed {
                    shape: "SQS message",
                    reason: "no body".into(),
                }),
            },
        })
        .collect()
}

/// An SNS event (S3 -> SNS -> Lambda): each record's `Sns.Message` is read like a direct
/// event. A message that is not JSON or not a known event shape is skipped with a reason
/// naming its topic (another publisher on a shared topic); a known shape that is malformed
/// is an error, as it is when it comes directly.
fn sns_event(records: Vec<SnsRecord>) -> Result<Found, EventError> {
    let mut found = Found::default();
    for (i, record) in records.into_iter().enumerate() {
        let topic = record.topic_arn.as_deref().unwrap_or("?");
        let message = record
            .message
            .as_deref()
            .ok_or_else(|| EventError::Malformed {
                shape: "SNS event",
                reason: format!("record {i} has no Sns.Message string"),
            })?;
        let inner = match serde_json::from_str::<Value>(message) {
            Ok(inner) => objects_in(&inner),
            Err(e) => Err(EventError::Unrecognised(format!("not JSON ({e})"))),
        };
        match inner {
            Ok(inner) => {
                found.objects.extend(inner.objects);
                found.skipped.extend(inner.skipped);
            }
            Err(EventError::Unrecognised(what)) => found.skipped.push(format!(
                "SNS record {i} from topic {topic} is not an S3 notification: {what}"
            )),
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

fn s3_notification(event: S3Event) -> Result<Found, EventError> {
    let mut found = Found::default();
    for (i, record) in event.records.into_iter().enumerate() {
        let name = record.event_name.unwrap_or_default();
        let bucket = record.s3.bucket.name.unwrap_or_default();
        let raw_key = record.s3.object.key.unwrap_or_default();
        if !name.starts_with("ObjectCreated:") {
            found.skipped.push(format!(
                "record {i}: {name:?} on s3://{bucket}/{raw_key} is not ObjectCreated"
            ));
            continue;
        }
        if bucket.is_empty() || raw_key.is_empty() {
            return Err(EventError::Malformed {
                shape: "S3 event notification",
                reason: format!("record {i} has no bucket name or object key"),
            });
        }
        found.objects.push(ObjectRef {
            bucket,
            key: decode_key(&raw_key)?,
        });
    }
    Ok(found)
}

fn text_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn from_value<T: serde::de::DeserializeOwned>(
    value: &Value,
    shape: &'static str,
) -> Result<T, EventError> {
    T::deserialize(value).map_err(|e| EventError::Malformed {
        shape,
        reason: e.to_string(),
    })
}

/// A short description of an unknown payload for the error: its top-level keys, not its values.
fn describe(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
            format!("object with keys [{}]", keys.join(", "))
        }
        other => format!("JSON {}", json_kind(other)),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s3_record(name: &str, bucket: &str, key: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-23T12:00:00.000Z", "eventName": name,
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                   "bucket": {"name": bucket, "ownerIdentity": {"principalId": "P"}, "arn": format!("arn:aws:s3:::{bucket}")},
                   "object": {"key": key, "size": 10, "eTag": "e", "sequencer": "01"}}
        })
    }

    #[test]
    fn every_record_of_a_notification_and_skips_non_created() {
        let event = json!({"Records": [
            s3_record("ObjectCreated:Put", "b", "firehose/one+file.gz"),
            s3_record("ObjectRemoved:Delete", "b", "firehose/gone"),
            s3_record("ObjectCreated:CompleteMultipartUpload", "b", "firehose/two"),
        ]});
        let Invocation::Direct(found) = parse_invocation(&event).unwrap() else {
            panic!("expected a direct invocation");
        };
        let keys: Vec<&str> = found.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["firehose/one file.gz", "firehose/two"]);
        assert_eq!(found.skipped.len(), 1);
        assert!(found.skipped[0].contains("ObjectRemoved:Delete"));
    }

    #[test]
    fn test_event_is_skipped() {
        let event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-23T12:00:00.000Z",
                           "Bucket": "b", "RequestId": "R", "HostId": "H"});
        let Invocation::Direct(found) = parse_invocation(&event).unwrap() else {
            panic!("expected a direct invocation");
        };
        assert!(found.objects.is_empty());
        assert!(found.skipped[0].contains("s3:TestEvent"));
    }

    #[test]
    fn sqs_messages_each_carry_their_own_objects_or_error() {
        let body = json!({"Records": [s3_record("ObjectCreated:Put", "b", "k%20one")]}).to_string();
        let sns = json!({"Type": "Notification", "Message": body.clone()}).to_string();
        let event = json!({"Records": [
            {"messageId": "m1", "body": body, "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}},
            {"messageId": "m2", "body": "not json", "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}},
            {"messageId": "m3", "body": sns, "eventSource": "aws:sqs", "attributes": {}, "messageAttributes": {}},
        ]});
        let Invocation::Sqs(works) = parse_invocation(&event).unwrap() else {
            panic!("expected an SQS batch");
        };
        assert_eq!(works.len(), 3);
        assert_eq!(works[0].found.as_ref().unwrap().objects[0].key, "k one");
        assert!(works[1].found.is_err());
        assert_eq!(works[2].found.as_ref().unwrap().objects[0].key, "k one");
    }

    #[test]
    fn eventbridge_object_created_keeps_key_as_is() {
        let event = json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
            "account": "1", "time": "2026-11-23T12:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"version": "0", "bucket": {"name": "b"}, "object": {"key": "a+b c.gz", "size": 3}}});
        let Invocation::Direct(found) = parse_invocation(&event).unwrap() else {
            panic!("expected a direct invocation");
        };
        assert_eq!(
            found.objects,
            [ObjectRef {
                bucket: "b".into(),
                key: "a+b c.gz".into()
            }]
        );
    }

    fn sns_record(topic: &str, message: &str) -> Value {
        json!({
            "EventSource": "aws:sns", "EventVersion": "1.0",
            "EventSubscriptionArn": format!("{topic}:0b6941c3-f04d-4d3e-a66d-b1df00e1e381"),
            "Sns": {
                "Type": "Notification", "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "TopicArn": topic, "Subject": "Amazon S3 Notification", "Message": message,
                "Timestamp": "2026-11-23T12:00:00.000Z", "SignatureVersion": "1",
                "Signature": "EXAMPLE", "SigningCertUrl": "https://example.com/cert.pem",
                "UnsubscribeUrl": "https://example.com/unsubscribe", "MessageAttributes": {}
            }
        })
    }

    #[test]
    fn sns_messages_are_read_like_direct_events() {
        let topic = "arn:aws:sns:us-east-1:123456789012:tweets";
        let put = json!({"Records": [s3_record("ObjectCreated:Put", "b", "firehose/a%20b.gz")]})
            .to_string();
        let test_event =
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}).to_string();
        let event = json!({"Records": [
            sns_record(topic, &put),
            sns_record(topic, &test_event),
            sns_record(topic, r#"{"alarm": "high CPU"}"#),
            sns_record(topic, "plain text"),
        ]});
        let Invocation::Direct(found) = parse_invocation(&event).unwrap() else {
            panic!("expected a direct invocation");
        };
        assert_eq!(
            found.objects,
            [ObjectRef {
                bucket: "b".into(),
                key: "firehose/a b.gz".into()
            }]
        );
        assert_eq!(found.skipped.len(), 3, "{:?}", found.skipped);
        assert!(found.skipped[0].contains("s3:TestEvent"));
        for skipped in &found.skipped[1..] {
            assert!(
                skipped.contains(&format!("from topic {topic} is not an S3 notification")),
                "{skipped}"
            );
        }
        // A malformed S3 notification fails as it does when it comes directly.
        let broken = json!({"Records": [{"eventName": "ObjectCreated:Put"}]}).to_string();
        let err = parse_invocation(&json!({"Records": [sns_record(topic, &broken)]})).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("malformed S3 event notification"),
            "{err}"
        );
    }

    #[test]
    fn each_shipped_sample_event_is_read_into_its_trigger() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        let trigger = |name: &str| {
            let text = std::fs::read_to_string(root.join(name)).unwrap();
            Trigger::parse(&serde_json::from_str(&text).unwrap()).unwrap()
        };
        assert!(matches!(trigger("s3-put.json"), Trigger::S3(_)));
        assert!(matches!(trigger("s3-test-event.json"), Trigger::S3Test(_)));
        assert!(matches!(trigger("sqs-s3-put.json"), Trigger::Sqs(_)));
        assert!(matches!(trigger("sns-s3-put.json"), Trigger::Sns(_)));
        let eventbridge = trigger("eventbridge-object-created.json");
        assert!(eventbridge.keys_as_stored());
        assert!(matches!(eventbridge, Trigger::EventBridge(_)));
        assert!(matches!(trigger("kinesis.json"), Trigger::Kinesis(_)));
        for name in ["s3-batch-v1.json", "s3-batch-v2.json"] {
            assert!(matches!(trigger(name), Trigger::BatchJob(_)), "{name}");
        }
        // Only EventBridge sends keys as stored.
        assert!(!trigger("s3-put.json").keys_as_stored());
        // Inside a message, only what may come directly is read.
        let kinesis =
            serde_json::from_str(&std::fs::read_to_string(root.join("kinesis.json")).unwrap())
                .unwrap();
        assert!(!matches!(
            Trigger::parse_message(&kinesis),
            Ok(Trigger::Kinesis(_))
        ));
    }

    #[test]
    fn the_shipped_sample_events_parse() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        let read = |name: &str| -> Value {
            serde_json::from_str(&std::fs::read_to_string(root.join(name)).unwrap()).unwrap()
        };
        let Invocation::Direct(found) = parse_invocation(&read("sns-s3-put.json")).unwrap() else {
            panic!("sns-s3-put.json: expected a direct invocation");
        };
        assert_eq!(found.objects.len(), 1);
        assert!(
            matches!(parse_invocation(&read("kinesis.json")).unwrap(), Invocation::Kinesis(r) if r.len() >= 4)
        );
        for name in ["s3-batch-v1.json", "s3-batch-v2.json"] {
            assert!(
                matches!(
                    parse_invocation(&read(name)).unwrap(),
                    Invocation::BatchJob(_)
                ),
                "{name}"
            );
        }
    }

    #[test]
    fn unknown_shape_is_a_clear_error() {
        let err = parse_invocation(&json!({"hello": 1})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unrecognised event shape: object with keys [hello]"
        );
    }
}
