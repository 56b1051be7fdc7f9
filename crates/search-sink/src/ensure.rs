//! Ensure the index exists with the fields we write: install an `_index_template` for the
//! index name (so an index auto-created by a bulk after someone deleted it gets our mapping,
//! not dynamic guesses), create the index from the caller's body, treat a concurrent creation
//! as success, add missing fields with `PUT _mapping`, and fail clearly on a type conflict.
//! Every request has a timeout bounded by the deadline and is retried like bulks (429, 5xx,
//! connection errors). Never deletes an index.

use crate::client::Method;
use crate::client::{RawResponse, SearchClient, SendError, method_name};
use crate::deadline::fit_delay;
use crate::error::SinkError;
use crate::error::excerpt;
use crate::retry::Backoff;
use bytes::Bytes;
use http::HeaderValue;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::time::Instant;

/// Time given to [`SearchClient::ensure_index`] (callers with a deadline of their own use
/// [`SearchClient::ensure_index_before`]).
pub const DEFAULT_ENSURE_TIME: Duration = Duration::from_secs(60);

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

/// Once-per-process guard keyed by endpoint + index (warm Lambdas skip the round trips), with
/// the body it was ensured with, so a bulk that finds the index gone can ensure it again.
static ENSURED: LazyLock<Mutex<HashMap<String, Guard>>> = LazyLock::new(Default::default);

#[derive(Clone, Default)]
struct Guard {
    cell: Arc<OnceCell<()>>,
    body: Option<Arc<str>>,
    /// A partition of a family: its family template covers it, no template of its own.
    partition: bool,
}

fn guards() -> std::sync::MutexGuard<'static, HashMap<String, Guard>> {
    ENSURED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

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
    /// endpoint and index, within [`DEFAULT_ENSURE_TIME`]. Concurrent callers in the process
    /// wait for the first one; after a failure the next call tries again.
    pub async fn ensure_index(
        &self,
        index: &str,
        body_json: &str,
    ) -> Result<EnsureOutcome, SinkError> {
        self.ensure_index_before(index, body_json, Instant::now() + DEFAULT_ENSURE_TIME)
            .await
    }

    /// Like [`SearchClient::ensure_index`], every request and retry bounded by `deadline`.
    pub async fn ensure_index_before(
        &self,
        index: &str,
        body_json: &str,
        deadline: Instant,
    ) -> Result<EnsureOutcome, SinkError> {
        self.ensure_guarded(index, body_json, false, deadline).await
    }

    /// Like [`SearchClient::ensure_index_before`] for a partition of a family whose template
    /// [`SearchClient::put_family_template`] installed: no template of its own (the body
    /// should carry the alias, so that the partition joins it even where the template could
    /// not be installed). Once per process per partition; a concurrent creation is success.
    pub async fn ensure_partition_before(
        &self,
        index: &str,
        body_json: &str,
        deadline: Instant,
    ) -> Result<EnsureOutcome, SinkError> {
        self.ensure_guarded(index, body_json, true, deadline).await
    }

    async fn ensure_guarded(
        &self,
        index: &str,
        body_json: &str,
        partition: bool,
        deadline: Instant,
    ) -> Result<EnsureOutcome, SinkError> {
        let key = self.guard_key(index);
        let cell = {
            let mut map = guards();
            let guard = map.entry(key).or_default();
            guard.body = Some(Arc::from(body_json));
            guard.partition = partition;
            guard.cell.clone()
        };
        let mut outcome = None;
        cell.get_or_try_init(|| async {
            outcome = Some(
                self.ensure_now(index, body_json, !partition, deadline)
                    .await?,
            );
            Ok::<(), SinkError>(())
        })
        .await?;
        Ok(outcome.unwrap_or(EnsureOutcome::AlreadyEnsured))
    }

    /// Ensures `index` again with the body this process last ensured it with, after a bulk
    /// found it missing (deleted while the process was warm). `Ok(false)`: this process never
    /// ensured it, so there is no body to create it from.
    pub(crate) async fn reensure(&self, index: &str, deadline: Instant) -> Result<bool, SinkError> {
        let key = self.guard_key(index);
        let (body, partition) = {
            let mut map = guards();
            let Some(guard) = map.get_mut(&key) else {
                return Ok(false);
            };
            let Some(body) = guard.body.clone() else {
                return Ok(false);
            };
            guard.cell = Arc::default();
            (body, guard.partition)
        };
        self.ensure_guarded(index, &body, partition, deadline)
            .await?;
        Ok(true)
    }

    fn guard_key(&self, index: &str) -> String {
        format!("{}\u{0}{index}", self.config.endpoint)
    }

    /// Like [`SearchClient::ensure_index`] but always talks to the server (no process guard).
    pub async fn ensure_index_now(
        &self,
        index: &str,
        body_json: &str,
    ) -> Result<EnsureOutcome, SinkError> {
        self.ensure_index_now_before(index, body_json, Instant::now() + DEFAULT_ENSURE_TIME)
            .await
    }

    /// Like [`SearchClient::ensure_index_now`], bounded by `deadline`.
    pub async fn ensure_index_now_before(
        &self,
        index: &str,
        body_json: &str,
        deadline: Instant,
    ) -> Result<EnsureOutcome, SinkError> {
        self.ensure_now(index, body_json, true, deadline).await
    }

    async fn ensure_now(
        &self,
        index: &str,
        body_json: &str,
        template: bool,
        deadline: Instant,
    ) -> Result<EnsureOutcome, SinkError> {
        let body: Value = serde_json::from_str(body_json).map_err(SinkError::IndexBody)?;
        let path = segment(index);
        if template {
            self.put_template(index, &body, deadline).await?;
        }
        let head = self.retrying(Method::Head, &path, None, deadline).await?;
        match head.status {
            200 => {}
            404 => {
                let put = self
                    .retrying(Method::Put, &path, Some(body_json.as_bytes()), deadline)
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
        let got = self
            .retrying(Method::Get, &mapping_path, None, deadline)
            .await?;
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
                .retrying(
                    Method::Put,
                    &mapping_path,
                    Some(update.as_bytes()),
                    deadline,
                )
                .await?;
            if put.status != 200 {
                return Err(rejected("PUT", &mapping_path, &put));
            }
            tracing::info!(index, fields = ?added_fields, "fields added to the existing mapping");
        }
        Ok(EnsureOutcome::Existing { added_fields })
    }

    /// Installs `_index_template/{index}` matching exactly the index name with the body's
    /// settings and mappings. Servers without composable templates (Elasticsearch before
    /// 7.8) or policies that do not allow it get a warning: the index itself is still ensured.
    async fn put_template(
        &self,
        index: &str,
        body: &Value,
        deadline: Instant,
    ) -> Result<(), SinkError> {
        let mut template = Map::new();
        for part in ["settings", "mappings", "aliases"] {
            if let Some(value) = body.get(part) {
                template.insert(part.to_owned(), value.clone());
            }
        }
        let request = serde_json::json!({
            "index_patterns": [index],
            "priority": 100,
            "template": template,
            "_meta": { "description": "written by tweet-indexer: recreates the index with its mapping" },
        })
        .to_string();
        let path = format!("_index_template/{}", segment(index));
        let put = self
            .retrying(Method::Put, &path, Some(request.as_bytes()), deadline)
            .await?;
        match put.status {
            200 | 201 => Ok(()),
            400 | 401 | 403 | 404 | 405 => {
                tracing::warn!(index, status = put.status, body = %excerpt(&put.body), "index template not installed: an index deleted later would be recreated without our mapping");
                Ok(())
            }
            _ => Err(rejected("PUT", &path, &put)),
        }
    }

    /// One request with the bulk retry policy: timeouts bounded by `deadline`; transient
    /// statuses ([`crate::classify::is_transient_status`]), resets and timeouts retried with
    /// backoff. Other statuses (501 and 405 included) are returned to the caller at once.
    /// Ensure's requests go through it, and so may a caller's setup requests (the Lambda's
    /// fine-grained access control mapping).
    pub async fn request_retrying(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        deadline: Instant,
    ) -> Result<RawResponse, SinkError> {
        self.retrying(method, path, body, deadline).await
    }

    pub(crate) async fn retrying(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        deadline: Instant,
    ) -> Result<RawResponse, SinkError> {
        let body = body.map(Bytes::copy_from_slice);
        let mut backoff =
            Backoff::new(self.config.retry_initial_delay, self.config.retry_max_delay);
        let started = Instant::now();
        let mut last_problem = String::from("none");
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(no_time_left(method, path, started, &last_problem));
            }
            let timeout = self.config.request_timeout.min(remaining);
            let json = HeaderValue::from_static("application/json");
            let sent = self
                .send(method, path, body.clone(), json, &[], false, Some(timeout))
                .await;
            match sent {
                Ok(r) if crate::classify::is_transient_status(r.status) => {
                    last_problem = format!("HTTP {}: {}", r.status, excerpt(&r.body));
                }
                Ok(r) => return Ok(r),
                Err(SendError::Fatal(e)) => return Err(e),
                Err(SendError::Retryable(problem)) => last_problem = problem,
            }
            tracing::warn!(method = method_name(method), path, problem = %last_problem, "request failed; will retry");
            let remaining = deadline.saturating_duration_since(Instant::now());
            let Some(delay) = fit_delay(backoff.next_delay(), remaining) else {
                return Err(no_time_left(method, path, started, &last_problem));
            };
            tokio::time::sleep(delay).await;
        }
    }
}

fn no_time_left(method: Method, path: &str, started: Instant, last_problem: &str) -> SinkError {
    let spent = started.elapsed().as_secs_f64();
    let detail = if last_problem == "none" {
        format!("no answer before the deadline ({spent:.1} s spent)")
    } else {
        format!("no answer before the deadline ({spent:.1} s spent; last problem: {last_problem})")
    };
    SinkError::Transport {
        method: method_name(method).into(),
        path: path.into(),
        detail,
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

pub(crate) fn rejected(method: &str, path: &str, response: &RawResponse) -> SinkError {
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
