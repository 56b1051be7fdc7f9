//! The filtered stream's rules: list (`GET /2/tweets/search/stream/rules`), add and delete
//! (`POST` with `add` / `delete`, optionally `dry_run`), and the plan that makes the server's
//! rules equal to a file's.
//!
//! It does not read the stream (see `stream`).

use serde::{Deserialize, Serialize};

use crate::message::Problem;
use crate::stream::Token;

pub const RULES_PATH: &str = "/2/tweets/search/stream/rules";

/// A rule as the server returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// A rule as written in a rules file or added: `{"value": "...", "tag": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NewRule {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rules request failed: {0}")]
    Http(String),
    #[error("the rules endpoint answered {status}: {detail}")]
    Refused { status: u16, detail: String },
    #[error("the rules endpoint sent an unexpected body: {0}")]
    Body(String),
}

/// What `sync` changes: rules to delete (by id) and rules to add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncPlan {
    pub delete: Vec<Rule>,
    pub add: Vec<NewRule>,
}

/// The changes that make `current` equal to `wanted` (a rule is the pair value + tag;
/// rules present on both sides are left alone, so their ids and matching stay as they are).
pub fn sync_plan(current: &[Rule], wanted: &[NewRule]) -> SyncPlan {
    let key = |value: &str, tag: &Option<String>| (value.to_owned(), tag.clone());
    let wanted_keys: std::collections::HashSet<_> =
        wanted.iter().map(|r| key(&r.value, &r.tag)).collect();
    let current_keys: std::collections::HashSet<_> =
        current.iter().map(|r| key(&r.value, &r.tag)).collect();
    let mut seen = std::collections::HashSet::new();
    SyncPlan {
        delete: current
            .iter()
            .filter(|r| !wanted_keys.contains(&key(&r.value, &r.tag)))
            .cloned()
            .collect(),
        add: wanted
            .iter()
            .filter(|r| {
                let k = key(&r.value, &r.tag);
                !current_keys.contains(&k) && seen.insert(k)
            })
            .cloned()
            .collect(),
    }
}

/// The answer to an add or delete: the server's JSON, summarised.
#[derive(Debug, Clone, Deserialize)]
pub struct ChangeResponse {
    #[serde(default)]
    pub data: Vec<Rule>,
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
    #[serde(default)]
    pub meta: serde_json::Value,
}

#[derive(Deserialize)]
struct ListResponse {
    #[serde(default)]
    data: Vec<Rule>,
}

/// A rules client for one API base URL and token.
#[derive(Debug, Clone)]
pub struct RulesClient {
    client: reqwest::Client,
    url: String,
    token: Token,
}

impl RulesClient {
    pub fn new(client: reqwest::Client, api_url: &str, token: Token) -> Self {
        RulesClient {
            client,
            url: format!("{}{RULES_PATH}", api_url.trim_end_matches('/')),
            token,
        }
    }

    pub async fn list(&self) -> Result<Vec<Rule>, RulesError> {
        let request = self.client.get(&self.url);
        let body = self.send(request).await?;
        serde_json::from_slice::<ListResponse>(&body)
            .map(|r| r.data)
            .map_err(|e| RulesError::Body(e.to_string()))
    }

    pub async fn add(
        &self,
        rules: &[NewRule],
        dry_run: bool,
    ) -> Result<ChangeResponse, RulesError> {
        self.change(&serde_json::json!({ "add": rules }), dry_run)
            .await
    }

    pub async fn delete(
        &self,
        ids: &[String],
        dry_run: bool,
    ) -> Result<ChangeResponse, RulesError> {
        self.change(&serde_json::json!({ "delete": { "ids": ids } }), dry_run)
            .await
    }

    async fn change(
        &self,
        body: &serde_json::Value,
        dry_run: bool,
    ) -> Result<ChangeResponse, RulesError> {
        let mut request = self.client.post(&self.url).json(body);
        if dry_run {
            request = request.query(&[("dry_run", "true")]);
        }
        let body = self.send(request).await?;
        serde_json::from_slice(&body).map_err(|e| RulesError::Body(e.to_string()))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<bytes::Bytes, RulesError> {
        let auth = self
            .token
            .header()
            .ok_or_else(|| RulesError::Http("the bearer token is not a valid header".into()))?;
        let response = request
            .header(reqwest::header::AUTHORIZATION, auth)
            .send()
            .await
            .map_err(|e| RulesError::Http(e.to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| RulesError::Http(e.to_string()))?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<Problem>(&body)
                .ok()
                .and_then(|p| p.detail.or(p.title))
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_owned());
            return Err(RulesError::Refused {
                status: status.as_u16(),
                detail,
            });
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, value: &str, tag: Option<&str>) -> Rule {
        Rule {
            id: id.into(),
            value: value.into(),
            tag: tag.map(Into::into),
        }
    }

    fn new(value: &str, tag: Option<&str>) -> NewRule {
        NewRule {
            value: value.into(),
            tag: tag.map(Into::into),
        }
    }

    #[test]
    fn sync_plan_table() {
        let current = vec![
            rule("1", "cats", Some("pets")),
            rule("2", "dogs", None),
            rule("3", "rust lang:en", Some("rust")),
        ];
        let table: Vec<(Vec<NewRule>, SyncPlan)> = vec![
            (
                vec![
                    new("cats", Some("pets")),
                    new("dogs", None),
                    new("rust lang:en", Some("rust")),
                ],
                SyncPlan::default(),
            ),
            (
                vec![],
                SyncPlan {
                    delete: current.clone(),
                    add: vec![],
                },
            ),
            (
                // Same value, new tag: delete and re-add. Duplicates in the file added once.
                vec![
                    new("cats", Some("animals")),
                    new("dogs", None),
                    new("dogs", None),
                    new("birds", None),
                    new("birds", None),
                ],
                SyncPlan {
                    delete: vec![current[0].clone(), current[2].clone()],
                    add: vec![new("cats", Some("animals")), new("birds", None)],
                },
            ),
        ];
        for (wanted, expected) in table {
            assert_eq!(sync_plan(&current, &wanted), expected, "{wanted:?}");
        }
    }
}
