//! What an invocation asks us to index: its trigger, classified.
//!
//! Accepted shapes: S3 event notifications (every record), the `s3:TestEvent` S3 sends when a
//! notification is configured (skipped), EventBridge "Object Created" events, SNS events whose
//! messages are any of those (S3 -> SNS -> Lambda), and any of those wrapped in SQS messages
//! (fan-out setups), also through an SNS envelope. Records that are not `ObjectCreated:*`, and
//! SNS messages that are not S3 notifications, are skipped with a reason, never an error.
//! Kinesis batches ([`crate::kinesis`]) and S3 Batch Operations jobs ([`crate::batch_ops`])
//! are recognised here and decoded by their own modules.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use aws_lambda_events::event::sqs::SqsEvent;
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::Value;

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
    Kinesis(Vec<crate::kinesis::KinesisRecord>),
    /// S3 Batch Operations: one result code per task.
    BatchJob(crate::batch_ops::BatchJobEvent),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("unrecognised event shape: {0}")]
    Unrecognised(String),
    #[error("malformed {shape}: {reason}")]
    Malformed { shape: &'static str, reason: String },
    #[error("object key {raw:?} is not valid URL-encoded UTF-8")]
    BadKey { raw: String },
}

/// Classifies the raw invocation payload.
pub fn parse_invocation(payload: &Value) -> Result<Invocation, EventError> {
    if is_sqs(payload) {
        let event: SqsEvent = from_value(payload, "SQS event")?;
        let works = event
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
            .collect();
        return Ok(Invocation::Sqs(works));
    }
    if crate::kinesis::is_kinesis(payload) {
        return crate::kinesis::parse(payload).map(Invocation::Kinesis);
    }
    if crate::batch_ops::is_batch_job(payload) {
        return crate::batch_ops::parse(payload).map(Invocation::BatchJob);
    }
    objects_in(payload).map(Invocation::Direct)
}

fn is_sqs(payload: &Value) -> bool {
    payload
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        .is_some_and(|s| s == "aws:sqs")
}

/// The objects named by a direct event: S3 notification, test event, EventBridge, SNS envelope.
pub fn objects_in(value: &Value) -> Result<Found, EventError> {
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Found {
            objects: vec![],
            skipped: vec![format!(
                "s3:TestEvent for bucket {}",
                value.get("Bucket").and_then(Value::as_str).unwrap_or("?")
            )],
        });
    }
    if value.get("Type").and_then(Value::as_str) == Some("Notification") {
        // SNS envelope (S3 -> SNS -> SQS): the S3 event is a JSON string in `Message`.
        let message = value
            .get("Message")
            .and_then(Value::as_str)
            .ok_or_else(|| EventError::Malformed {
                shape: "SNS notification",
                reason: "no Message string".into(),
            })?;
        let inner: Value = serde_json::from_str(message).map_err(|e| EventError::Malformed {
            shape: "SNS Message",
            reason: e.to_string(),
        })?;
        return objects_in(&inner);
    }
    if value
        .pointer("/Records/0/EventSource")
        .and_then(Value::as_str)
        == Some("aws:sns")
    {
        return sns_event(value);
    }
    if value.get("Records").is_some() {
        return s3_notification(value);
    }
    if value.get("detail-type").is_some() {
        return eventbridge(value);
    }
    Err(EventError::Unrecognised(describe(value)))
}

/// An SNS event (S3 -> SNS -> Lambda): each record's `Sns.Message` is read like a direct
/// event. A message that is not JSON or not a known event shape is skipped with a reason
/// naming its topic (another publisher on a shared topic); a known shape that is malformed
/// is an error, as it is when it comes directly.
fn sns_event(value: &Value) -> Result<Found, EventError> {
    let records = value
        .get("Records")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut found = Found::default();
    for (i, record) in records.iter().enumerate() {
        let topic = record
            .pointer("/Sns/TopicArn")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let message = record
            .pointer("/Sns/Message")
            .and_then(Value::as_str)
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

fn s3_notification(value: &Value) -> Result<Found, EventError> {
    let event: S3Event = from_value(value, "S3 event notification")?;
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

#[derive(Deserialize, serde::Serialize)]
struct ObjectCreatedDetail {
    bucket: NameOnly,
    object: KeyOnly,
}
#[derive(Deserialize, serde::Serialize)]
struct NameOnly {
    name: String,
}
#[derive(Deserialize, serde::Serialize)]
struct KeyOnly {
    key: String,
}

fn eventbridge(value: &Value) -> Result<Found, EventError> {
    let detail_type = value
        .get("detail-type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let source = value.get("source").and_then(Value::as_str).unwrap_or("");
    if source != "aws.s3" || detail_type != "Object Created" {
        return Ok(Found {
            objects: vec![],
            skipped: vec![format!(
                "EventBridge {source:?} {detail_type:?} is not an S3 Object Created event"
            )],
        });
    }
    let event: EventBridgeEvent<ObjectCreatedDetail> = from_value(value, "EventBridge event")?;
    // EventBridge carries the key as stored (not URL-encoded, unlike S3 notifications).
    Ok(Found {
        objects: vec![ObjectRef {
            bucket: event.detail.bucket.name,
            key: event.detail.object.key,
        }],
        skipped: vec![],
    })
}

/// Decodes an S3 notification key: `+` is a space, `%XX` are UTF-8 bytes.
pub fn decode_key(raw: &str) -> Result<String, EventError> {
    let plus_as_space = raw.replace('+', " ");
    percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| EventError::BadKey {
            raw: raw.to_owned(),
        })
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
    fn decodes_plus_and_percent_utf8() {
        assert_eq!(
            decode_key("a+b%2Bc/%C3%A9t%C3%A9+2026.gz").unwrap(),
            "a b+c/été 2026.gz"
        );
        assert_eq!(decode_key("plain/key").unwrap(), "plain/key");
        assert!(matches!(
            decode_key("bad%FF"),
            Err(EventError::BadKey { .. })
        ));
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
