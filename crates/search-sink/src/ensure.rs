//! Ensure the index exists with the fields we write: create it from the caller's body, treat a
//! concurrent creation as success, add missing fields with `PUT _mapping`, and fail clearly on
//! a type conflict. Never deletes an index.

use crate::client::{RawResponse, SearchClient};
use crate::error::SinkError;
use elasticsearch::http::Method;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use tokio::sync::OnceCell;

/// What `ensure_index` found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnsureOutcome {
    /// The index did not exist and this call created it.
    Created,
    /// The index existed (or another process created it first); `added_fields` lists the
    /// dotted paths of fields this call added with `PUT _mapping` (often none).
    Existing {
        /// Fields added to the existing mapping.
        added_fields: Vec<String>,
    },
    /// This process already ensured this index on this endpoint; nothing was sent.
    AlreadyEnsured,
}

/// Once-per-process guard keyed by endpoint + index (warm Lambdas skip the round trips).
static ENSURED: LazyLock<Mutex<HashMap<String, Arc<OnceCell<()>>>>> =
    LazyLock::new(Default::default);

/// Path-segment encoding: everything but unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

impl SearchClient {
    /// Ensures `index` exists with the mappings of `body_json` (the index body: settings +
    /// mappings, e.g. the embedded `mappings/twitter.json`), once per process for this
    /// endpoint and index. Concurrent callers in the process wait for the first one; after a
    /// failure the next call tries again.
    pub async fn ensure_index(
        &self,
        index: &str,
        body_json: &str,
    ) -> Result<EnsureOutcome, SinkError> {
        let key = format!("{}\u{0}{index}", self.config.endpoint);
        let cell = {
            let mut map = ENSURED
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.entry(key).or_default().clone()
        };
        let mut outcome = None;
        cell.get_or_try_init(|| async {
            outcome = Some(self.ensure_index_now(index, body_json).await?);
            Ok::<(), SinkError>(())
        })
        .await?;
        Ok(outcome.unwrap_or(EnsureOutcome::AlreadyEnsured))
    }

    /// Like [`SearchClient::ensure_index`] but always talks to the server (no process guard).
    pub async fn ensure_index_now(
        &self,
        index: &str,
        body_json: &str,
    ) -> Result<EnsureOutcome, SinkError> {
        let body: Value = serde_json::from_str(body_json).map_err(SinkError::IndexBody)?;
        let path = segment(index);
        let head = self.request(Method::Head, &path, None).await?;
        match head.status {
            200 => {}
            404 => {
                let put = self
                    .request(Method::Put, &path, Some(body_json.as_bytes()))
                    .await?;
                match put.status {
                    200 | 201 => {
                        tracing::info!(index, "index created");
                        return Ok(EnsureOutcome::Created);
                    }
                    400 if error_type(&put).as_deref()
                        == Some("resource_already_exists_exception") =>
                    {
                        tracing::info!(index, "index created concurrently by someone else");
                    }
                    _ => return Err(rejected("PUT", &path, &put)),
                }
            }
            _ => return Err(rejected("HEAD", &path, &head)),
        }
        let wanted = body
            .get("mappings")
            .and_then(|m| m.get("properties"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if wanted.is_empty() {
            return Ok(EnsureOutcome::Existing {
                added_fields: vec![],
            });
        }
        let mapping_path = format!("{path}/_mapping");
        let got = self.request(Method::Get, &mapping_path, None).await?;
        if got.status != 200 {
            return Err(rejected("GET", &mapping_path, &got));
        }
        let existing: Map<String, Value> =
            serde_json::from_slice(&got.body).map_err(|e| SinkError::BadResponse {
                method: "GET".into(),
                path: mapping_path.clone(),
                detail: e.to_string(),
            })?;
        // An alias may resolve to several concrete indices: all must be compatible.
        let mut missing = Map::new();
        let mut added_fields = Vec::new();
        for concrete in existing.values() {
            let have = concrete
                .pointer("/mappings/properties")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            compare(index, "", &wanted, &have, &mut missing, &mut added_fields)?;
        }
        added_fields.sort();
        added_fields.dedup();
        if !missing.is_empty() {
            let update = serde_json::json!({ "properties": missing }).to_string();
            let put = self
                .request(Method::Put, &mapping_path, Some(update.as_bytes()))
                .await?;
            if put.status != 200 {
                return Err(rejected("PUT", &mapping_path, &put));
            }
            tracing::info!(index, fields = ?added_fields, "fields added to the existing mapping");
        }
        Ok(EnsureOutcome::Existing { added_fields })
    }
}

fn field_type(def: &Value) -> &str {
    match def.get("type").and_then(Value::as_str) {
        Some(t) => t,
        // A field with `properties` and no type is an object.
        None => "object",
    }
}

/// Walks our wanted properties against the index's: collects missing fields (as a
/// properties tree for `PUT _mapping`) and fails on the first type conflict.
fn compare(
    index: &str,
    prefix: &str,
    wanted: &Map<String, Value>,
    have: &Map<String, Value>,
    missing: &mut Map<String, Value>,
    added: &mut Vec<String>,
) -> Result<(), SinkError> {
    for (name, def) in wanted {
        let dotted = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let Some(existing) = have.get(name) else {
            missing.insert(name.clone(), def.clone());
            added.push(dotted);
            continue;
        };
        let (want_type, have_type) = (field_type(def), field_type(existing));
        if want_type != have_type {
            return Err(SinkError::MappingConflict {
                index: index.into(),
                field: dotted,
                existing: have_type.into(),
                wanted: want_type.into(),
            });
        }
        if let Some(sub) = def.get("properties").and_then(Value::as_object) {
            let empty = Map::new();
            let have_sub = existing
                .get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let mut sub_missing = Map::new();
            compare(index, &dotted, sub, have_sub, &mut sub_missing, added)?;
            if !sub_missing.is_empty() {
                let entry = missing
                    .entry(name.clone())
                    .or_insert_with(|| serde_json::json!({ "properties": {} }));
                if let Some(props) = entry.get_mut("properties").and_then(Value::as_object_mut) {
                    props.extend(sub_missing);
                }
            }
        }
    }
    Ok(())
}

/// `error.type` of an error response, when it has one.
fn error_type(response: &RawResponse) -> Option<String> {
    let body: Value = serde_json::from_slice(&response.body).ok()?;
    body.pointer("/error/type")?.as_str().map(str::to_owned)
}

pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(500).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

fn rejected(method: &str, path: &str, response: &RawResponse) -> SinkError {
    SinkError::Rejected {
        method: method.into(),
        path: path.into(),
        status: response.status,
        body: excerpt(&response.body),
        unconfirmed: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn finds_missing_nested_fields_and_conflicts() {
        let wanted = props(json!({
            "a": {"type": "keyword"},
            "user": {"properties": {"id": {"type": "keyword"}, "n": {"type": "long"}}},
        }));
        let have = props(json!({"user": {"properties": {"id": {"type": "keyword"}}}}));
        let (mut missing, mut added) = (Map::new(), Vec::new());
        compare("i", "", &wanted, &have, &mut missing, &mut added).unwrap();
        added.sort();
        assert_eq!(added, ["a", "user.n"]);
        assert_eq!(missing["user"]["properties"]["n"]["type"], "long");

        let have = props(json!({"user": {"properties": {"id": {"type": "long"}}}}));
        let err = compare("i", "", &wanted, &have, &mut Map::new(), &mut Vec::new()).unwrap_err();
        assert!(
            matches!(err, SinkError::MappingConflict { ref field, .. } if field == "user.id"),
            "{err}"
        );
    }
}
