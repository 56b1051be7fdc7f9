//! The `_bulk` wire format: NDJSON encoding of operations (pure, no I/O: the CLI's `--dry-run`
//! prints it) and parsing of the per-item results in a bulk response.

use std::io::Write;

use crate::operation::{Operation, TOMBSTONE_SOURCE};
use serde::Deserialize;

/// Why an operation cannot be encoded. These are caller bugs, reported per operation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncodeError {
    /// `_id` must not be empty.
    #[error("document id is empty")]
    EmptyId,
    /// `_id` is limited to 512 bytes by Elasticsearch and OpenSearch.
    #[error("document id is {0} bytes long; the limit is 512")]
    IdTooLong(usize),
    /// The source must be one JSON object.
    #[error("document {id:?} source is not a JSON object")]
    NotAnObject {
        /// The document id.
        id: String,
    },
}

/// Appends the bulk lines for `op` to `out`: a versioned `index` action line and its source
/// line; a delete is a tombstone ([`crate::operation`] explains why). The action line names
/// no `_index`: the lines are the body of `POST /{index}/_bulk`, whose path alone says where
/// they go (so IAM policies on index paths, and `rest.action.multi.allow_explicit_index:
/// false`, confine them).
///
/// `{"index":{"_id":"1","version":111411200000014975,"version_type":"external_gte"}}\n{...source...}\n`
/// or, for a delete, an action at [`TOMBSTONE_VERSION`](crate::TOMBSTONE_VERSION) with
/// `"version_type":"external"` and [`TOMBSTONE_SOURCE`].
/// Line breaks inside the source (pretty JSON) are folded into spaces: outside strings they
/// are whitespace and inside strings valid JSON has them escaped, so this keeps the JSON equal
/// while making it one NDJSON line. On error nothing is appended.
pub fn encode(op: &Operation, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let id = op.id();
    if id.is_empty() {
        return Err(EncodeError::EmptyId);
    }
    if id.len() > 512 {
        return Err(EncodeError::IdTooLong(id.len()));
    }
    let source: &[u8] = match op {
        Operation::Index { source, .. } => source,
        Operation::Delete { .. } => TOMBSTONE_SOURCE,
    };
    let first = source.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(EncodeError::NotAnObject { id: id.to_owned() });
    }
    out.extend_from_slice(b"{\"index\":{\"_id\":");
    write_json_string(id, out);
    out.extend_from_slice(b",\"version\":");
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{}", op.version());
    // An index overwrites an equal version (a replay is idempotent); a tombstone needs a
    // greater one, so a replayed delete is refused (409) and not counted again.
    out.extend_from_slice(match op {
        Operation::Index { .. } => b",\"version_type\":\"external_gte\"}}\n",
        Operation::Delete { .. } => b",\"version_type\":\"external\"}}\n",
    });
    let start = out.len();
    out.extend_from_slice(source.trim_ascii());
    // Compact JSON (every document we make) has no line break: one vector scan finds none.
    let folded = &mut out[start..];
    let mut at = 0;
    while let Some(i) = memchr::memchr2(b'\n', b'\r', &folded[at..]) {
        folded[at + i] = b' ';
        at += i + 1;
    }
    out.push(b'\n');
    Ok(())
}

fn write_json_string(s: &str, out: &mut Vec<u8>) {
    // serde_json escapes exactly as JSON requires; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The outcome of one item in a bulk response, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOutcome {
    /// HTTP-like status of the item (201 created, 200 updated/deleted, 404 not found, ...).
    pub status: u16,
    /// The document did not exist before: status 201, or `result: created` (servers that
    /// answer 200 for every success).
    pub created: bool,
    /// `error.type` when the item failed.
    pub error_type: Option<String>,
    /// `error.reason` when the item failed.
    pub error_reason: Option<String>,
}

/// Parses a `_bulk` response body into one outcome per item, in order. Typed and borrowed:
/// a response with thousands of items costs a few bytes per item, not a JSON tree.
pub fn parse_response(body: &[u8]) -> Result<Vec<ItemOutcome>, serde_json::Error> {
    let response: Response = serde_json::from_slice(body)?;
    Ok(response.items.into_iter().map(|i| i.0).collect())
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    items: Vec<ItemEntry>,
}

/// `{ "<action>": { "status": .., "result": .., "error": .. } }`: exactly one key.
struct ItemEntry(ItemOutcome);

impl<'de> Deserialize<'de> for ItemEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ItemEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a bulk item `{\"<action>\": {...}}`")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ItemEntry, A::Error> {
                let Some((_, item)) = map.next_entry::<serde::de::IgnoredAny, Item>()? else {
                    return Err(serde::de::Error::custom("empty bulk item"));
                };
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                let (error_type, error_reason) = match item.error {
                    None | Some(serde_json::Value::Null) => (None, None),
                    // Very old servers sent the error as a plain string.
                    Some(serde_json::Value::String(s)) => (Some("error".to_owned()), Some(s)),
                    Some(v) => (
                        v.get("type").and_then(|t| t.as_str()).map(str::to_owned),
                        v.get("reason").and_then(|t| t.as_str()).map(str::to_owned),
                    ),
                };
                Ok(ItemEntry(ItemOutcome {
                    status: item.status,
                    created: item.status == 201 || item.result.as_deref() == Some("created"),
                    error_type,
                    error_reason,
                }))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct Item<'a> {
    status: u16,
    #[serde(default, borrow)]
    result: Option<std::borrow::Cow<'a, str>>,
    /// Only failed items carry one, so the tree is rare.
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(id: &str, source: &str) -> Operation {
        Operation::Index {
            id: id.into(),
            source: source.as_bytes().to_vec(),
            version: 7,
        }
    }

    #[test]
    fn encodes_versioned_indexes_and_tombstones() {
        let mut out = Vec::new();
        encode(&index("1", r#"{"a":1}"#), &mut out).unwrap();
        encode(&Operation::Delete { id: "2".into() }, &mut out).unwrap();
        let too_new = Operation::Index {
            id: "3".into(),
            source: b"{}".to_vec(),
            version: u64::MAX,
        };
        encode(&too_new, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"index\":{\"_id\":\"1\",\"version\":7,\"version_type\":\"external_gte\"}}\n{\"a\":1}\n\
             {\"index\":{\"_id\":\"2\",\"version\":1000000000000000000,\"version_type\":\"external\"}}\n{\"deleted\":true}\n\
             {\"index\":{\"_id\":\"3\",\"version\":999999999999999999,\"version_type\":\"external_gte\"}}\n{}\n"
        );
    }

    #[test]
    fn escapes_ids_and_folds_pretty_json() {
        let mut out = Vec::new();
        encode(&index("a\"b\n", "{\n  \"t\": \"x\\ny\"\r\n}\n"), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            r#"{"index":{"_id":"a\"b\n","version":7,"version_type":"external_gte"}}"#
        );
        let doc: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(doc["t"], "x\ny");
    }

    #[test]
    fn rejects_bad_operations_without_writing() {
        let mut out = Vec::new();
        assert_eq!(
            encode(&index("", "{}"), &mut out),
            Err(EncodeError::EmptyId)
        );
        assert_eq!(
            encode(&index("1", "[1]"), &mut out),
            Err(EncodeError::NotAnObject { id: "1".into() })
        );
        let long = "x".repeat(513);
        assert_eq!(
            encode(&Operation::Delete { id: long }, &mut out),
            Err(EncodeError::IdTooLong(513))
        );
        assert!(out.is_empty());
    }

    #[test]
    fn parses_mixed_items() {
        let body = br#"{"took":3,"errors":true,"items":[
            {"index":{"_id":"1","status":201,"result":"created"}},
            {"index":{"_id":"2","status":429,"error":{"type":"es_rejected_execution_exception","reason":"busy"}}},
            {"delete":{"_id":"3","status":404,"result":"not_found"}}]}"#;
        let items = parse_response(body).unwrap();
        assert_eq!(items.len(), 3);
        assert!(items[0].created);
        assert!(!items[1].created && !items[2].created);
        assert_eq!(items[1].status, 429);
        assert_eq!(
            items[1].error_type.as_deref(),
            Some("es_rejected_execution_exception")
        );
        assert_eq!(items[1].error_reason.as_deref(), Some("busy"));
        assert_eq!(items[2].status, 404);
    }

    #[test]
    fn reads_200_created_plain_string_errors_and_escaped_results() {
        // Servers that answer 200 for every success say `created` in `result`; very old ones
        // send errors as strings; a result with an escape cannot be borrowed.
        let body = br#"{"items":[
            {"index":{"status":200,"result":"created"}},
            {"index":{"status":200,"result":"updated"}},
            {"index":{"status":400,"error":"MapperParsingException[failed]"}},
            {"create":{"status":200,"result":"cr\u0065ated","_id":"x"}}]}"#;
        let items = parse_response(body).unwrap();
        let created: Vec<bool> = items.iter().map(|i| i.created).collect();
        assert_eq!(created, [true, false, false, true]);
        assert_eq!(items[2].error_type.as_deref(), Some("error"));
        assert_eq!(
            items[2].error_reason.as_deref(),
            Some("MapperParsingException[failed]")
        );
        assert!(parse_response(br#"{"items":[{}]}"#).is_err());
        assert!(parse_response(br#"{"items":[{"index":{"result":"created"}}]}"#).is_err());
        assert_eq!(parse_response(b"{}").unwrap(), vec![]);
    }
}
