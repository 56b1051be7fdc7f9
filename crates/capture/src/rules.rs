//! The filtered stream's rules: list (`GET /2/tweets/search/stream/rules`, every page:
//! `meta.next_token` is followed with `pagination_token`), add and delete (`POST` with `add` /
//! `delete`, optionally `dry_run`), and the sync that makes the server's rules equal to a
//! file's without ever leaving the stream with fewer rules than asked: additions first,
//! deletions only once every addition was accepted (see [`RulesClient::sync`]).
//!
//! Every request has a deadline ([`REQUEST_TIMEOUT`]). It does not read the stream (see
//! `stream`).

use serde::{Deserialize, Serialize};

use crate::message::Problem;
use crate::stream::Token;

pub const RULES_PATH: &str = "/2/tweets/search/stream/rules";
/// Rules asked for per page (X's maximum).
pub const PAGE_SIZE: usize = 1000;
/// The deadline of one rules request.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// More pages than this is a server that keeps handing out tokens (X allows 1,000 rules on
/// the largest plans, so 1 page; 25,000 at most on enterprise plans).
const MAX_PAGES: usize = 1000;

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
    /// No answer: the cause first (refused, timed out, name not found, certificate).
    #[error("{message}")]
    Unreachable {
        message: String,
        class: crate::class::Class,
    },
    #[error("the rules endpoint answered {status}: {detail}")]
    Refused { status: u16, detail: String },
    #[error("the rules endpoint sent an unexpected body: {0}")]
    Body(String),
    /// The request cannot be made (the token is not a valid header).
    #[error("{0}")]
    Request(String),
}

/// Rule changes the server refused (invalid or duplicate rules), beside those it made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{refused} rule change(s) refused, {made} made{}", held_back(*.not_tried))]
pub struct ChangeError {
    pub made: usize,
    pub refused: usize,
    /// Deletions not attempted because an addition failed (so no rule is lost).
    pub not_tried: usize,
}

fn held_back(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(
            ", {n} deletion(s) held back so that no rule is lost (the old rules stay beside the new)"
        )
    }
}

impl ChangeError {
    /// Some changes were made: the command did part of its work.
    pub fn is_partial(&self) -> bool {
        self.made > 0
    }

    pub fn class(&self) -> crate::class::Class {
        crate::class::Class::Refused
    }
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
    #[serde(default)]
    meta: ListMeta,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(default)]
    next_token: Option<String>,
}

/// What [`RulesClient::sync`] did.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    /// The server's answers, in order (each printed by the command).
    pub answers: Vec<ChangeResponse>,
    /// Rules added (validated only, in a dry run).
    pub added: usize,
    pub deleted: usize,
    /// The server's refusals (one entry per refused rule).
    pub refused: Vec<serde_json::Value>,
    /// Deletions not made because an addition failed.
    pub held_back: Vec<Rule>,
}

impl SyncReport {
    /// `Err` when anything was refused or held back.
    pub fn result(&self) -> Result<(), ChangeError> {
        if self.refused.is_empty() && self.held_back.is_empty() {
            Ok(())
        } else {
            Err(ChangeError {
                made: self.added + self.deleted,
                refused: self.refused.len(),
                not_tried: self.held_back.len(),
            })
        }
    }
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

    /// Every rule, following `meta.next_token` page by page.
    pub async fn list(&self) -> Result<Vec<Rule>, RulesError> {
        let mut rules = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("max_results", PAGE_SIZE.to_string())];
            if let Some(token) = &token {
                query.push(("pagination_token", token.clone()));
            }
            let body = self.send(self.client.get(&self.url).query(&query)).await?;
            let page = serde_json::from_slice::<ListResponse>(&body)
                .map_err(|e| RulesError::Body(format!("{e}: {}", crate::http::excerpt(&body))))?;
            rules.extend(page.data);
            match page.meta.next_token {
                Some(next) if Some(&next) != token.as_ref() => token = Some(next),
                Some(_) => return Err(RulesError::Body("meta.next_token repeats itself".into())),
                None => return Ok(rules),
            }
        }
        Err(RulesError::Body(format!(
            "more than {MAX_PAGES} pages of rules"
        )))
    }

    /// Makes the server's rules those of `plan` (see [`sync_plan`]) without losing any:
    ///
    /// 1. new values are added;
    /// 2. only if every addition was accepted, rules the file no longer has are deleted;
    /// 3. rules whose value stays but whose tag changes are replaced last (X refuses a
    ///    second rule with the same value, so the old one goes first); a replacement the
    ///    server refuses gets its old rule back.
    ///
    /// A dry run sends the additions with `dry_run=true` (X validates them) and changes
    /// nothing; replacements are not sent (their value exists, so it is valid).
    pub async fn sync(
        &self,
        current: &[Rule],
        plan: &SyncPlan,
        dry_run: bool,
    ) -> Result<SyncReport, RulesError> {
        let current_values = current.iter().map(|r| r.value.as_str()).collect();
        let (replacements, additions) = split_by_value(&plan.add, |r| &r.value, &current_values);
        let replaced_values = replacements.iter().map(|r| r.value.as_str()).collect();
        let (old_versions, deletions) =
            split_by_value(&plan.delete, |r| &r.value, &replaced_values);
        let mut report = SyncReport::default();
        if !additions.is_empty() {
            let answer = self.add(&additions, dry_run).await?;
            report.added += answer.data.len();
            report.refused.extend(answer.errors.iter().cloned());
            report.answers.push(answer);
        }
        if !report.refused.is_empty() {
            report.held_back = plan.delete.clone();
            return Ok(report);
        }
        if !deletions.is_empty() {
            let ids: Vec<String> = deletions.iter().map(|r| r.id.clone()).collect();
            let answer = self.delete(&ids, dry_run).await?;
            report.deleted += deleted_count(&answer, ids.len());
            report.refused.extend(answer.errors.iter().cloned());
            report.answers.push(answer);
        }
        if dry_run || replacements.is_empty() {
            return Ok(report);
        }
        let ids: Vec<String> = old_versions.iter().map(|r| r.id.clone()).collect();
        let answer = self.delete(&ids, false).await?;
        report.deleted += deleted_count(&answer, ids.len());
        report.refused.extend(answer.errors.iter().cloned());
        report.answers.push(answer);
        let answer = self.add(&replacements, false).await?;
        report.added += answer.data.len();
        let refused_values: Vec<&str> = answer
            .errors
            .iter()
            .filter_map(|e| e["value"].as_str())
            .collect();
        let restore: Vec<NewRule> = old_versions
            .iter()
            .filter(|r| refused_values.contains(&r.value.as_str()))
            .map(|r| NewRule {
                value: r.value.clone(),
                tag: r.tag.clone(),
            })
            .collect();
        report.refused.extend(answer.errors.iter().cloned());
        report.answers.push(answer);
        if !restore.is_empty() {
            tracing::warn!(
                rules = restore.len(),
                "replacements refused: putting the old rules back"
            );
            report.answers.push(self.add(&restore, false).await?);
        }
        Ok(report)
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
            .ok_or_else(|| RulesError::Request("the bearer token is not a valid header".into()))?;
        let response = request
            .header(reqwest::header::AUTHORIZATION, auth)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<Problem>(&body)
                .ok()
                .and_then(|p| p.detail.or(p.title))
                .unwrap_or_else(|| match crate::http::excerpt(&body) {
                    e if e.is_empty() => status.canonical_reason().unwrap_or("").to_owned(),
                    e => e,
                });
            return Err(RulesError::Refused {
                status: status.as_u16(),
                detail,
            });
        }
        Ok(body)
    }
}

fn unreachable(error: reqwest::Error) -> RulesError {
    RulesError::Unreachable {
        message: crate::http::describe(&error),
        class: crate::http::class(&error),
    }
}

/// Deletions an answer reports (`meta.summary.deleted`), or all asked when it does not say.
fn deleted_count(answer: &ChangeResponse, asked: usize) -> usize {
    answer.meta["summary"]["deleted"]
        .as_u64()
        .map_or(asked, |n| usize::try_from(n).unwrap_or(asked))
}

/// `rules` split into those whose value is one of `values`, and the others.
fn split_by_value<T: Clone>(
    rules: &[T],
    value: impl Fn(&T) -> &String,
    values: &std::collections::HashSet<&str>,
) -> (Vec<T>, Vec<T>) {
    rules
        .iter()
        .cloned()
        .partition(|r| values.contains(value(r).as_str()))
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
