//! Reads: the generic calls that look at what an index holds, for callers that decide what
//! to write from it. They know nothing of the documents: whether an index exists, the
//! `_source`s of documents by `_id` (`_mget`, which is real-time: it sees a write as soon as
//! it is acknowledged, refreshed or not), search pages in a stable order (`search_after` on
//! sort fields the caller chooses, bounded pages), and a best-effort `_refresh`.
//!
//! Every request is bounded by the caller's deadline and retried like bulks (transient
//! statuses, resets, timeouts). An index or alias that does not exist is an answer (`None`),
//! not an error. A search that a shard failed or that timed out is an error: its page would be
//! silently incomplete.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::client::{Method, SearchClient};
use crate::ensure::{rejected, segment};
use crate::error::{SinkError, excerpt};

/// Ids per `_mget` request: a caller's longer list is split.
pub const MGET_CHUNK: usize = 10_000;

/// The largest page a search may ask for (the default `index.max_result_window`).
pub const MAX_PAGE: usize = 10_000;

/// What a search returns of each hit's `_source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceFilter {
    /// No `_source` (ids and sort values only).
    None,
    /// The whole `_source`.
    All,
    /// Only these fields.
    Fields(Vec<String>),
}

/// A search read page by page in a stable order.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The `query` clause.
    pub query: Value,
    /// Fields to sort on, ascending. Together they must tell every document apart, so that
    /// `search_after` neither skips nor repeats one between pages.
    pub sort: Vec<String>,
    /// Hits per page, at most [`MAX_PAGE`].
    pub size: usize,
    pub source: SourceFilter,
    /// Ask for each hit's `_version` (to write it back at the version it was read at).
    pub version: bool,
}

impl SearchRequest {
    /// The request body of the page after `after` (the last hit's sort values).
    fn body(&self, after: Option<&[Value]>) -> Value {
        let sort: Vec<Value> = self.sort.iter().map(|f| json!({ f: "asc" })).collect();
        let mut body = json!({
            "query": self.query,
            "sort": sort,
            "size": self.size.min(MAX_PAGE),
            "version": self.version,
            "track_total_hits": false,
        });
        body["_source"] = match &self.source {
            SourceFilter::None => json!(false),
            SourceFilter::All => json!(true),
            SourceFilter::Fields(fields) => json!(fields),
        };
        if let Some(after) = after {
            body["search_after"] = json!(after);
        }
        body
    }
}

/// One hit of a search.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Hit {
    /// The concrete index holding the document (a search through an alias names it).
    #[serde(rename = "_index")]
    pub index: String,
    #[serde(rename = "_id")]
    pub id: String,
    /// Its `_version`, when the request asked for it.
    #[serde(rename = "_version", default)]
    pub version: Option<u64>,
    #[serde(rename = "_source", default)]
    pub source: Option<Map<String, Value>>,
    /// Its sort values (what the next page starts after).
    #[serde(default)]
    pub sort: Vec<Value>,
}

/// A search read page after page: each call to [`Pages::next`] returns the next page, `None`
/// after the last one.
#[derive(Debug, Clone)]
pub struct Pages {
    index: String,
    request: SearchRequest,
    after: Option<Vec<Value>>,
    done: bool,
}

impl Pages {
    /// The pages of `request` on `index` (an index, an alias or a pattern).
    pub fn new(index: impl Into<String>, request: SearchRequest) -> Self {
        Pages {
            index: index.into(),
            request,
            after: None,
            done: false,
        }
    }

    /// The next page; `None` when there is none (or the index does not exist).
    pub async fn next(
        &mut self,
        client: &SearchClient,
        deadline: Instant,
    ) -> Result<Option<Vec<Hit>>, SinkError> {
        if self.done {
            return Ok(None);
        }
        let body = self.request.body(self.after.as_deref());
        let Some(response) = client.search(&self.index, &body, deadline).await? else {
            self.done = true;
            return Ok(None);
        };
        let path = search_path(&self.index);
        let hits: Vec<Hit> = serde_json::from_value(
            response
                .get("hits")
                .and_then(|h| h.get("hits"))
                .cloned()
                .unwrap_or(Value::Array(Vec::new())),
        )
        .map_err(|e| bad_response(&path, format!("hits: {e}")))?;
        if hits.len() < self.request.size.min(MAX_PAGE) {
            self.done = true;
        }
        match hits.last() {
            Some(last) if last.sort.is_empty() => {
                return Err(bad_response(&path, "a hit without sort values".into()));
            }
            Some(last) => self.after = Some(last.sort.clone()),
            None => self.done = true,
        }
        Ok((!hits.is_empty()).then_some(hits))
    }
}

/// What `_mget` and searches answer about a shard or a document they could not read.
#[derive(Deserialize)]
struct Shards {
    #[serde(default)]
    failed: u64,
}

impl SearchClient {
    /// Whether `index` (an index or an alias) exists: `HEAD`, within `deadline`.
    pub async fn index_exists(&self, index: &str, deadline: Instant) -> Result<bool, SinkError> {
        let path = segment(index);
        let head = self
            .request_retrying(Method::Head, &path, None, deadline)
            .await?;
        match head.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(rejected("HEAD", &path, &head)),
        }
    }

    /// The `_source` of each document of `ids` that `index` holds (real-time: a write is seen
    /// once acknowledged), in no particular order, without the ids it does not hold; `None`
    /// when the index does not exist. Long lists are sent [`MGET_CHUNK`] ids at a time.
    pub async fn mget_sources(
        &self,
        index: &str,
        ids: &[String],
        deadline: Instant,
    ) -> Result<Option<Vec<Map<String, Value>>>, SinkError> {
        #[derive(Deserialize)]
        struct Response {
            #[serde(default)]
            docs: Vec<Doc>,
        }
        #[derive(Deserialize)]
        struct Doc {
            #[serde(rename = "_source", default)]
            source: Option<Map<String, Value>>,
            #[serde(default)]
            error: Option<Value>,
        }
        // Only what is read: a document that is not there leaves nothing in the answer.
        let path = format!(
            "{}/_mget?filter_path=docs._source%2Cdocs.error",
            segment(index)
        );
        let mut sources = Vec::new();
        for chunk in ids.chunks(MGET_CHUNK) {
            let body = json!({ "ids": chunk }).to_string();
            let response = self
                .request_retrying(Method::Post, &path, Some(body.as_bytes()), deadline)
                .await?;
            if response.status == 404 && index_missing(&response.body) {
                return Ok(None);
            }
            if response.status != 200 {
                return Err(rejected("POST", &path, &response));
            }
            let parsed: Response = serde_json::from_slice(&response.body)
                .map_err(|e| bad_response(&path, e.to_string()))?;
            for doc in parsed.docs {
                if let Some(error) = doc.error {
                    if error.get("type").and_then(Value::as_str)
                        == Some("index_not_found_exception")
                    {
                        return Ok(None);
                    }
                    // A document that could not be read (a shard not available, ...): its
                    // absence would be a wrong answer, so the call fails and is retried.
                    return Err(SinkError::Transport {
                        method: "POST".into(),
                        path,
                        detail: format!("a document could not be read: {error}"),
                    });
                }
                sources.extend(doc.source);
            }
        }
        Ok(Some(sources))
    }

    /// Runs one search body on `index`; `None` when the index does not exist. A shard
    /// failure or a timed-out search is an error (transient: the page would be incomplete).
    pub async fn search(
        &self,
        index: &str,
        body: &Value,
        deadline: Instant,
    ) -> Result<Option<Value>, SinkError> {
        let path = search_path(index);
        let bytes = body.to_string();
        let response = self
            .request_retrying(Method::Post, &path, Some(bytes.as_bytes()), deadline)
            .await?;
        if response.status == 404 && index_missing(&response.body) {
            return Ok(None);
        }
        if response.status != 200 {
            return Err(rejected("POST", &path, &response));
        }
        let value: Value = serde_json::from_slice(&response.body)
            .map_err(|e| bad_response(&path, e.to_string()))?;
        let failed = value
            .get("_shards")
            .and_then(|s| Shards::deserialize(s).ok())
            .map_or(0, |s| s.failed);
        let timed_out = value.get("timed_out").and_then(Value::as_bool) == Some(true);
        if failed > 0 || timed_out {
            return Err(SinkError::Transport {
                method: "POST".into(),
                path,
                detail: if timed_out {
                    "the search timed out: its answer is incomplete".into()
                } else {
                    format!("{failed} shards failed: the answer is incomplete")
                },
            });
        }
        Ok(Some(value))
    }

    /// Makes what was written to `index` visible to searches now (`POST _refresh`), where
    /// the server allows it: `false` when it does not (OpenSearch Serverless refreshes on
    /// its own; a role may lack the permission), which callers treat as "searches catch up
    /// within the refresh interval".
    pub async fn refresh(&self, index: &str, deadline: Instant) -> Result<bool, SinkError> {
        let path = format!("{}/_refresh", segment(index));
        let response = self
            .request_retrying(Method::Post, &path, None, deadline)
            .await?;
        match response.status {
            200..=299 => Ok(true),
            400..=499 | 501 => {
                tracing::debug!(index, status = response.status, body = %excerpt(&response.body), "refresh not available");
                Ok(false)
            }
            _ => Err(rejected("POST", &path, &response)),
        }
    }
}

fn search_path(index: &str) -> String {
    format!("{}/_search", segment(index))
}

/// Whether an error answer says the index (or alias) does not exist.
fn index_missing(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/type")?.as_str().map(str::to_owned))
        .as_deref()
        == Some("index_not_found_exception")
}

fn bad_response(path: &str, detail: String) -> SinkError {
    SinkError::BadResponse {
        method: "POST".into(),
        path: path.into(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_body_sorts_bounds_and_continues() {
        let request = SearchRequest {
            query: json!({"match_all": {}}),
            sort: vec!["id_str".into()],
            size: 50_000,
            source: SourceFilter::Fields(vec!["user.id".into()]),
            version: true,
        };
        let first = request.body(None);
        assert_eq!(first["sort"], json!([{"id_str": "asc"}]));
        assert_eq!(first["size"], json!(MAX_PAGE));
        assert_eq!(first["_source"], json!(["user.id"]));
        assert_eq!(first["version"], json!(true));
        assert!(first.get("search_after").is_none());
        let next = request.body(Some(&[json!("42")]));
        assert_eq!(next["search_after"], json!(["42"]));
        let none = SearchRequest {
            source: SourceFilter::None,
            ..request
        };
        assert_eq!(none.body(None)["_source"], json!(false));
    }

    #[test]
    fn a_missing_index_is_told_from_other_errors() {
        assert!(index_missing(
            br#"{"error":{"type":"index_not_found_exception","reason":"no such index"},"status":404}"#
        ));
        assert!(!index_missing(
            br#"{"error":{"type":"security_exception"},"status":403}"#
        ));
        assert!(!index_missing(b"not json"));
    }
}
