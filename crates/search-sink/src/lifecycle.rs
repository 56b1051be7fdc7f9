//! Index families: partitions `{alias}-*` behind one alias, for callers that split their
//! documents over time (the sink knows nothing of what the partitions hold). A composable
//! index template gives every partition the mapping, settings and the alias; partitions are
//! created on demand (once per process, race-safe); the alias can replace a single index in
//! one atomic `_aliases` call; retention is left to the engine's own lifecycle management
//! (ISM on OpenSearch, ILM on Elasticsearch) when it has one. Every request is retried like
//! bulks within the caller's deadline.

use crate::client::{Method, RawResponse, SearchClient};
use crate::ensure::{rejected, segment};
use crate::error::{SinkError, excerpt};
use serde_json::{Value, json};
use tokio::time::Instant;

/// What a name is on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameState {
    /// Neither an index nor an alias.
    Missing,
    /// A concrete index.
    Index,
    /// An alias over these indices (sorted).
    Alias(Vec<String>),
}

/// Which lifecycle management the server has (it answered our policy call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifecycleEngine {
    /// OpenSearch Index State Management: the policy attaches itself to new partitions
    /// (`ism_template`).
    Ism,
    /// Elasticsearch Index Lifecycle Management: the template names the policy
    /// (`index.lifecycle.name`).
    Ilm,
}

/// The ISM policy deleting partitions `min_age_days` after their creation (OpenSearch's
/// published format: `policy.default_state`, `states[].actions/transitions`,
/// `transitions[].conditions.min_index_age`, `ism_template[].index_patterns/priority`).
pub fn ism_policy(pattern: &str, min_age_days: u64, description: &str) -> Value {
    json!({
        "policy": {
            "description": description,
            "default_state": "keep",
            "states": [
                {
                    "name": "keep",
                    "actions": [],
                    "transitions": [
                        { "state_name": "delete", "conditions": { "min_index_age": format!("{min_age_days}d") } }
                    ]
                },
                { "name": "delete", "actions": [ { "delete": {} } ], "transitions": [] }
            ],
            "ism_template": [ { "index_patterns": [pattern], "priority": 100 } ]
        }
    })
}

/// The ILM policy deleting an index `min_age_days` after its origination date (Elasticsearch's
/// published format: `policy.phases.delete.min_age` and `actions.delete`; the age counts from
/// `index.lifecycle.origination_date` when the index has one, else from its creation).
pub fn ilm_policy(min_age_days: u64, description: &str) -> Value {
    json!({
        "policy": {
            "_meta": { "description": description },
            "phases": {
                "delete": { "min_age": format!("{min_age_days}d"), "actions": { "delete": {} } }
            }
        }
    })
}

impl SearchClient {
    /// Like [`SearchClient::request_retrying`], failing on any status but 200 and 201.
    pub async fn request_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        deadline: Instant,
    ) -> Result<RawResponse, SinkError> {
        let response = self.retrying(method, path, body, deadline).await?;
        if matches!(response.status, 200 | 201) {
            Ok(response)
        } else {
            Err(rejected(
                crate::client::method_name(method),
                path,
                &response,
            ))
        }
    }

    /// Installs the composable index template `name` for `pattern`: the index body's
    /// settings and mappings, and `alias`, so that every index the pattern matches joins the
    /// alias with our mapping, whoever creates it.
    pub async fn put_family_template(
        &self,
        name: &str,
        pattern: &str,
        alias: &str,
        body: &Value,
        deadline: Instant,
    ) -> Result<(), SinkError> {
        let mut template = serde_json::Map::new();
        for part in ["settings", "mappings"] {
            if let Some(value) = body.get(part) {
                template.insert(part.to_owned(), value.clone());
            }
        }
        template.insert("aliases".into(), json!({ alias: {} }));
        let request = json!({
            "index_patterns": [pattern],
            "priority": 100,
            "template": template,
            "_meta": { "description": format!("written by tweet-indexer: the partitions of {alias}") },
        })
        .to_string();
        let path = format!("_index_template/{}", segment(name));
        let put = self
            .retrying(Method::Put, &path, Some(request.as_bytes()), deadline)
            .await?;
        match put.status {
            200 | 201 => {
                tracing::info!(
                    template = name,
                    pattern,
                    alias,
                    "partition template installed"
                );
                Ok(())
            }
            // As for the single index's template: partitions we create carry the same body
            // (alias included), so only indices created by others would miss it.
            400 | 401 | 403 | 404 | 405 => {
                tracing::warn!(template = name, status = put.status, body = %excerpt(&put.body), "partition template not installed: partitions created by others than this indexer would lack the mapping and the alias");
                Ok(())
            }
            _ => Err(rejected("PUT", &path, &put)),
        }
    }

    /// Whether `name` is an index, an alias (over which indices) or nothing: one
    /// `GET {name}/_alias`, a path under the name (where IAM policies scoped to the index
    /// paths allow it).
    pub async fn name_state(&self, name: &str, deadline: Instant) -> Result<NameState, SinkError> {
        let path = format!("{}/_alias", segment(name));
        let response = self.retrying(Method::Get, &path, None, deadline).await?;
        match response.status {
            404 => return Ok(NameState::Missing),
            200 => {}
            _ => return Err(rejected("GET", &path, &response)),
        }
        let value: Value =
            serde_json::from_slice(&response.body).map_err(|e| bad_response("GET", &path, e))?;
        let indices = value
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>());
        match indices {
            Some(indices) if indices.iter().any(|i| i == name) => Ok(NameState::Index),
            Some(mut indices) if !indices.is_empty() => {
                indices.sort();
                Ok(NameState::Alias(indices))
            }
            _ => Err(bad_response("GET", &path, "no index in the answer")),
        }
    }

    /// The concrete indices matching `pattern` (e.g. `twitter-*`), sorted.
    pub async fn list_indices(
        &self,
        pattern: &str,
        deadline: Instant,
    ) -> Result<Vec<String>, SinkError> {
        let path = format!(
            "_cat/indices/{}?format=json&h=index&expand_wildcards=open",
            segment(pattern).replace("%2A", "*")
        );
        let response = self.request_ok(Method::Get, &path, None, deadline).await?;
        let rows: Vec<Value> =
            serde_json::from_slice(&response.body).map_err(|e| bad_response("GET", &path, e))?;
        let mut names: Vec<String> = rows
            .iter()
            .filter_map(|r| r.get("index").and_then(Value::as_str).map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Documents in `index` (an index, alias or pattern), after a refresh.
    pub async fn count(&self, index: &str, deadline: Instant) -> Result<u64, SinkError> {
        let target = segment(index).replace("%2A", "*");
        self.request_ok(Method::Post, &format!("{target}/_refresh"), None, deadline)
            .await?;
        let path = format!("{target}/_count");
        let response = self.request_ok(Method::Get, &path, None, deadline).await?;
        let value: Value =
            serde_json::from_slice(&response.body).map_err(|e| bad_response("GET", &path, e))?;
        value
            .get("count")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad_response("GET", &path, "no count in the answer"))
    }

    /// Deletes one concrete index (never a pattern: the name is sent encoded). A missing
    /// index is no error.
    pub async fn delete_index(&self, index: &str, deadline: Instant) -> Result<(), SinkError> {
        let path = segment(index);
        let response = self.retrying(Method::Delete, &path, None, deadline).await?;
        match response.status {
            200 | 404 => Ok(()),
            _ => Err(rejected("DELETE", &path, &response)),
        }
    }

    /// `POST _aliases` with `actions`: applied atomically, all or none.
    pub async fn update_aliases(&self, actions: Value, deadline: Instant) -> Result<(), SinkError> {
        let body = json!({ "actions": actions }).to_string();
        self.request_ok(Method::Post, "_aliases", Some(body.as_bytes()), deadline)
            .await?;
        Ok(())
    }

    /// Installs the retention policy `id` in the engine's lifecycle management: ISM when the
    /// server has it (the policy attaches itself to indices matching `pattern`), else ILM
    /// (the caller names the policy in its template), else `None`: the server has neither
    /// (OpenSearch Serverless, the local test server), so old partitions must be removed
    /// by the caller.
    pub async fn put_retention_policy(
        &self,
        id: &str,
        pattern: &str,
        min_age_days: u64,
        deadline: Instant,
    ) -> Result<Option<LifecycleEngine>, SinkError> {
        let description = format!(
            "written by tweet-indexer: deletes {pattern} {min_age_days} days after they begin"
        );
        let ism_path = format!("_plugins/_ism/policies/{}", segment(id));
        let existing = self
            .retrying(Method::Get, &ism_path, None, deadline)
            .await?;
        let ism = ism_policy(pattern, min_age_days, &description);
        match existing.status {
            200 => {
                let current: Value = serde_json::from_slice(&existing.body).unwrap_or_default();
                if same_ism(&current, &ism) {
                    return Ok(Some(LifecycleEngine::Ism));
                }
                // An update must name the version it replaces.
                let seq_no = current.get("_seq_no").and_then(Value::as_u64).unwrap_or(0);
                let term = current
                    .get("_primary_term")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                let path = format!("{ism_path}?if_seq_no={seq_no}&if_primary_term={term}");
                let body = ism.to_string();
                self.request_ok(Method::Put, &path, Some(body.as_bytes()), deadline)
                    .await?;
                tracing::info!(policy = id, "ISM retention policy updated");
                return Ok(Some(LifecycleEngine::Ism));
            }
            404 if String::from_utf8_lossy(&existing.body).contains("Policy not found") => {
                let body = ism.to_string();
                self.request_ok(Method::Put, &ism_path, Some(body.as_bytes()), deadline)
                    .await?;
                tracing::info!(policy = id, "ISM retention policy installed");
                return Ok(Some(LifecycleEngine::Ism));
            }
            _ => {}
        }
        let ilm_path = format!("_ilm/policy/{}", segment(id));
        let body = ilm_policy(min_age_days, &description).to_string();
        let put = self
            .retrying(Method::Put, &ilm_path, Some(body.as_bytes()), deadline)
            .await?;
        if matches!(put.status, 200 | 201) {
            tracing::info!(policy = id, "ILM retention policy installed");
            return Ok(Some(LifecycleEngine::Ilm));
        }
        tracing::warn!(
            status = put.status,
            body = %excerpt(&put.body),
            "the server has no ISM nor ILM: old partitions are removed only by `tweet-indexer retention apply`"
        );
        Ok(None)
    }
}

fn bad_response(method: &str, path: &str, detail: impl ToString) -> SinkError {
    SinkError::BadResponse {
        method: method.into(),
        path: path.into(),
        detail: detail.to_string(),
    }
}

/// Whether the installed ISM policy (`GET` answer) already says what `wanted` says.
fn same_ism(current: &Value, wanted: &Value) -> bool {
    let Some(policy) = current.get("policy") else {
        return false;
    };
    ["default_state", "states", "ism_template"]
        .iter()
        .all(|key| match (policy.get(key), wanted["policy"].get(key)) {
            (Some(have), Some(want)) if *key == "ism_template" => {
                // The server adds `last_updated_time` to each template.
                let strip = |v: &Value| {
                    v.as_array()
                        .map(|a| {
                            a.iter()
                                .map(|t| {
                                    (t.get("index_patterns").cloned(), t.get("priority").cloned())
                                })
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                };
                strip(have) == strip(want)
            }
            (have, want) => have == want,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policies in the shapes the engines publish. OpenSearch's ISM reference
    /// (docs.opensearch.org, im-plugin/ism/policies: "Sample policy" with `default_state`,
    /// `states[].name/actions/transitions`, `transitions[].state_name/conditions`,
    /// `conditions.min_index_age`, `actions[].delete: {}`, `ism_template.index_patterns/priority`)
    /// and Elasticsearch's ILM reference (put-lifecycle API: `policy.phases.<phase>.min_age`,
    /// `actions.delete: {}`, `_meta`). Both engines reject unknown keys, so every key here must
    /// be one of theirs.
    #[test]
    fn policies_use_only_the_engines_published_keys() {
        let ism = ism_policy("twitter-*", 434, "d");
        let policy = &ism["policy"];
        let keys: Vec<&str> = policy
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut keys = keys;
        keys.sort();
        assert_eq!(
            keys,
            ["default_state", "description", "ism_template", "states"]
        );
        let states = policy["states"].as_array().unwrap();
        let names: Vec<&str> = states.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert!(names.contains(&policy["default_state"].as_str().unwrap()));
        for state in states {
            let mut keys: Vec<&String> = state.as_object().unwrap().keys().collect();
            keys.sort();
            assert_eq!(keys, ["actions", "name", "transitions"]);
            for t in state["transitions"].as_array().unwrap() {
                assert!(names.contains(&t["state_name"].as_str().unwrap()));
                assert_eq!(t["conditions"]["min_index_age"], "434d");
            }
        }
        assert_eq!(states[1]["actions"], json!([{ "delete": {} }]));
        assert_eq!(
            policy["ism_template"],
            json!([{ "index_patterns": ["twitter-*"], "priority": 100 }])
        );

        let ilm = ilm_policy(434, "d");
        let mut keys: Vec<&String> = ilm["policy"].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["_meta", "phases"]);
        assert_eq!(
            ilm["policy"]["phases"],
            json!({ "delete": { "min_age": "434d", "actions": { "delete": {} } } })
        );
    }

    #[test]
    fn an_installed_ism_policy_is_recognised_despite_server_fields() {
        let wanted = ism_policy("t-*", 10, "d");
        let mut answer = json!({ "_id": "p", "_seq_no": 3, "_primary_term": 1, "policy": wanted["policy"].clone() });
        answer["policy"]["ism_template"][0]["last_updated_time"] = json!(1);
        answer["policy"]["policy_id"] = json!("p");
        assert!(same_ism(&answer, &wanted));
        assert!(!same_ism(&answer, &ism_policy("t-*", 11, "d")));
        assert!(!same_ism(&json!({}), &wanted));
    }
}
