//! X's batch compliance jobs API, as X's documents describe it: `POST /2/compliance/jobs`
//! (`type`, `name`), `GET /2/compliance/jobs/:id`, `GET /2/compliance/jobs?type=...`, the
//! ids uploaded with one `PUT` of plain text to the job's `upload_url`, the results read from
//! its `download_url`.
//!
//! The two URLs are secrets (each carries a token for its one operation): they are kept in
//! [`SecretUrl`], whose `Debug` hides them, and no message names more of them than scheme,
//! host and path. The current flow serves them on `api.x.com` and wants the bearer token on
//! both requests; the older flow handed out pre-signed cloud-storage URLs used without it.
//! The token goes only where it belongs: to the API's own origin (and X's API hosts), never to
//! another host, so both flows work and a storage host never sees it.
//!
//! Every JSON request has a deadline ([`REQUEST_TIMEOUT`]), an upload [`UPLOAD_TIMEOUT`]; a
//! download is read chunk by chunk by the caller, each chunk within its own deadline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;

use crate::class::Class;
use crate::message::Problem;
use crate::stream::Token;

pub const JOBS_PATH: &str = "/2/compliance/jobs";
/// Every field of a job (`compliance_job.fields`): X's default answer may leave the URLs out.
pub const JOB_FIELDS: &str = "created_at,download_expires_at,download_url,id,name,resumable,status,type,upload_expires_at,upload_url";
/// The deadline of one JSON request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The deadline of one upload (at most 128 MB).
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The hosts of X's API besides the configured base URL's: upload and download URLs there
/// get the bearer token (the current flow), any other host does not.
const X_API_HOSTS: [&str; 2] = ["api.x.com", "api.twitter.com"];

/// What a job checks: tweet ids or user ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobType {
    Tweets,
    Users,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Tweets => "tweets",
            JobType::Users => "users",
        }
    }
}

/// A URL that must not be shown: `Debug` and [`SecretUrl::shown`] keep only scheme, host
/// and path.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// Scheme, host and path, never the query (where the token is).
    pub fn shown(&self) -> String {
        match reqwest::Url::parse(&self.0) {
            Ok(mut url) => {
                url.set_query(None);
                url.set_fragment(None);
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.to_string()
            }
            Err(_) => "<an invalid URL>".to_owned(),
        }
    }

    fn parse(&self) -> Result<reqwest::Url, JobsError> {
        reqwest::Url::parse(&self.0)
            .map_err(|e| JobsError::Body(format!("a job URL is not a URL ({e}): {}", self.shown())))
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretUrl({}?<redacted>)", self.shown())
    }
}

/// A job's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for its upload.
    Created,
    InProgress,
    /// Results ready at `download_url`.
    Complete,
    Failed,
    /// Not uploaded in time, or its results are gone.
    Expired,
    /// A status X added since.
    Other(String),
}

impl Status {
    pub fn parse(text: &str) -> Status {
        match text {
            "created" => Status::Created,
            "in_progress" => Status::InProgress,
            "complete" => Status::Complete,
            "failed" => Status::Failed,
            "expired" => Status::Expired,
            other => Status::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Status::Created => "created",
            Status::InProgress => "in_progress",
            Status::Complete => "complete",
            Status::Failed => "failed",
            Status::Expired => "expired",
            Status::Other(s) => s,
        }
    }

    /// Holds X's one active job per type.
    pub fn is_active(&self) -> bool {
        matches!(self, Status::Created | Status::InProgress)
    }
}

/// A job as X returns it (fields it leaves out are `None`).
#[derive(Debug, Clone, Deserialize)]
pub struct Job {
    pub id: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub upload_url: Option<SecretUrl>,
    #[serde(default)]
    pub download_url: Option<SecretUrl>,
    #[serde(default)]
    pub upload_expires_at: Option<String>,
    #[serde(default)]
    pub download_expires_at: Option<String>,
}

impl Job {
    pub fn status(&self) -> Status {
        Status::parse(self.status.as_deref().unwrap_or(""))
    }

    /// Whether `at` (RFC 3339, X's `*_expires_at`) is in the past; `false` when it is
    /// missing or unreadable (then the request itself finds out).
    pub fn has_passed(at: Option<&str>) -> bool {
        at.and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .is_some_and(|t| t <= SystemTime::now())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// No answer: the cause first (refused, timed out, name not found, certificate).
    #[error("{what}: {message}")]
    Unreachable {
        what: &'static str,
        message: String,
        class: Class,
    },
    /// An answer that is not a success (409 included, see [`JobsError::is_conflict`]).
    #[error("{what}: X answered {status}: {detail}")]
    Refused {
        what: &'static str,
        status: u16,
        detail: String,
        /// `x-rate-limit-reset`, when X sent it (with a 429).
        reset: Option<Duration>,
    },
    #[error("X sent an unexpected answer: {0}")]
    Body(String),
    /// The request cannot be made (the token is not a valid header, the base URL).
    #[error("{0}")]
    Request(String),
}

impl JobsError {
    /// `409 Conflict` on create: a job of this type is already active.
    pub fn is_conflict(&self) -> bool {
        matches!(self, JobsError::Refused { status: 409, .. })
    }

    /// The HTTP status X refused with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            JobsError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn class(&self) -> Class {
        match self {
            JobsError::Unreachable { class, .. } => *class,
            JobsError::Refused { status, .. } => crate::class::class_of_status(*status),
            JobsError::Body(_) => Class::Refused,
            JobsError::Request(_) => Class::Usage,
        }
    }

    /// When to try again after a 429 (`None`: not a 429, or X did not say).
    pub fn rate_limit_reset(&self) -> Option<Duration> {
        match self {
            JobsError::Refused {
                status: 429, reset, ..
            } => *reset,
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct One {
    data: Option<Job>,
    #[serde(default)]
    errors: Vec<Problem>,
}

#[derive(Deserialize)]
struct Many {
    #[serde(default)]
    data: Vec<Job>,
}

/// A jobs client for one API base URL and token.
#[derive(Debug, Clone)]
pub struct JobsClient {
    client: reqwest::Client,
    api: reqwest::Url,
    auth: HeaderValue,
}

impl JobsClient {
    pub fn new(client: reqwest::Client, api_url: &str, token: &Token) -> Result<Self, JobsError> {
        let auth = token
            .header()
            .ok_or_else(|| JobsError::Request("the bearer token is not a valid header".into()))?;
        let api = reqwest::Url::parse(api_url.trim_end_matches('/'))
            .map_err(|e| JobsError::Request(format!("the API URL is not a URL ({e})")))?;
        Ok(JobsClient { client, api, auth })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api.as_str().trim_end_matches('/'))
    }

    /// `POST /2/compliance/jobs`.
    pub async fn create(&self, kind: JobType, name: &str) -> Result<Job, JobsError> {
        let body = serde_json::json!({"type": kind.as_str(), "name": name});
        let request = self
            .client
            .post(self.url(JOBS_PATH))
            .query(&[("compliance_job.fields", JOB_FIELDS)])
            .json(&body);
        self.one("creating a compliance job", request).await
    }

    /// `GET /2/compliance/jobs/:id`.
    pub async fn get(&self, id: &str) -> Result<Job, JobsError> {
        let request = self
            .client
            .get(self.url(&format!("{JOBS_PATH}/{id}")))
            .query(&[("compliance_job.fields", JOB_FIELDS)]);
        self.one("reading a compliance job", request).await
    }

    /// `GET /2/compliance/jobs?type=...`: X's recent jobs of this type.
    pub async fn list(&self, kind: JobType) -> Result<Vec<Job>, JobsError> {
        let request = self.client.get(self.url(JOBS_PATH)).query(&[
            ("type", kind.as_str()),
            ("compliance_job.fields", JOB_FIELDS),
        ]);
        let body = self.send("listing compliance jobs", request).await?;
        serde_json::from_slice::<Many>(&body)
            .map(|m| m.data)
            .map_err(|e| JobsError::Body(format!("{e}: {}", crate::http::excerpt(&body))))
    }

    /// One `PUT` of the ids (plain text, one a line) to the job's `upload_url`.
    pub async fn upload(&self, url: &SecretUrl, ids: bytes::Bytes) -> Result<(), JobsError> {
        let request = self
            .for_url(self.client.put(url.parse()?), url)?
            .header(CONTENT_TYPE, "text/plain")
            .body(ids)
            .timeout(UPLOAD_TIMEOUT);
        let what = "uploading the ids";
        let response = request.send().await.map_err(unreachable(what))?;
        check(what, response).await.map(|_| ())
    }

    /// `GET` the job's `download_url`: the answer, its status checked; the caller reads the
    /// body chunk by chunk.
    pub async fn download(&self, url: &SecretUrl) -> Result<reqwest::Response, JobsError> {
        let what = "downloading the results";
        let request = self.for_url(self.client.get(url.parse()?), url)?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, request.send())
            .await
            .map_err(|_| JobsError::Unreachable {
                what,
                message: format!("no answer before the deadline ({})", url.shown()),
                class: Class::Transient,
            })?
            .map_err(unreachable(what))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(match check(what, response).await {
            Err(e) => e,
            Ok(_) => JobsError::Body("a failed download read as a success".into()),
        })
    }

    /// The bearer token for the API's origin and X's API hosts (the current flow), nothing
    /// for any other host (a pre-signed storage URL of the older flow).
    pub fn is_trusted(&self, url: &reqwest::Url) -> bool {
        let same_origin = url.scheme() == self.api.scheme()
            && url.host_str() == self.api.host_str()
            && url.port_or_known_default() == self.api.port_or_known_default();
        let x_host = url.scheme() == "https"
            && url
                .host_str()
                .is_some_and(|h| X_API_HOSTS.iter().any(|x| h.eq_ignore_ascii_case(x)));
        same_origin || x_host
    }

    fn for_url(
        &self,
        request: reqwest::RequestBuilder,
        url: &SecretUrl,
    ) -> Result<reqwest::RequestBuilder, JobsError> {
        let parsed = url.parse()?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(JobsError::Body(format!(
                "a job URL is not http(s): {}",
                url.shown()
            )));
        }
        Ok(if self.is_trusted(&parsed) {
            request.header(AUTHORIZATION, self.auth.clone())
        } else {
            request
        })
    }

    async fn one(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Job, JobsError> {
        let body = self.send(what, request).await?;
        let one: One = serde_json::from_slice(&body)
            .map_err(|e| JobsError::Body(format!("{e}: {}", crate::http::excerpt(&body))))?;
        match one.data {
            Some(job) => Ok(job),
            None => Err(JobsError::Refused {
                what,
                status: 200,
                detail: one
                    .errors
                    .first()
                    .and_then(|p| p.detail.clone().or_else(|| p.title.clone()))
                    .unwrap_or_else(|| "no job in the answer".to_owned()),
                reset: None,
            }),
        }
    }

    async fn send(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<bytes::Bytes, JobsError> {
        let response = request
            .header(AUTHORIZATION, self.auth.clone())
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(unreachable(what))?;
        check(what, response).await
    }
}

/// The body of a successful answer, or the refusal with its detail.
async fn check(what: &'static str, response: reqwest::Response) -> Result<bytes::Bytes, JobsError> {
    let status = response.status();
    let reset = response
        .headers()
        .get("x-rate-limit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|epoch| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            Duration::from_secs(epoch).saturating_sub(now)
        });
    let body = tokio::time::timeout(REQUEST_TIMEOUT, response.bytes())
        .await
        .map_err(|_| JobsError::Unreachable {
            what,
            message: "the answer stopped before its end".to_owned(),
            class: Class::Transient,
        })?
        .map_err(unreachable(what))?;
    if status.is_success() {
        return Ok(body);
    }
    let detail = problem_detail(&body).unwrap_or_else(|| match crate::http::excerpt(&body) {
        e if e.is_empty() => status.canonical_reason().unwrap_or("").to_owned(),
        e => e,
    });
    Err(JobsError::Refused {
        what,
        status: status.as_u16(),
        detail,
        reset,
    })
}

/// The detail (or title) of an RFC 7807 problem or of the first of `errors`.
fn problem_detail(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<Problem>,
    }
    let first = serde_json::from_slice::<Errors>(body)
        .ok()
        .and_then(|e| e.errors.into_iter().next())
        .or_else(|| serde_json::from_slice::<Problem>(body).ok())?;
    first.detail.or(first.title)
}

fn unreachable(what: &'static str) -> impl FnOnce(reqwest::Error) -> JobsError {
    move |error| JobsError::Unreachable {
        what,
        message: crate::http::describe(&error),
        class: crate::http::class(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_urls_show_no_query() {
        let url = SecretUrl::new(
            "https://api.x.com/2/compliance/jobs/1/upload?token=s3cr3t&compliance_job.fields=id",
        );
        assert_eq!(url.shown(), "https://api.x.com/2/compliance/jobs/1/upload");
        assert!(!format!("{url:?}").contains("s3cr3t"));
        let signed = SecretUrl::new("https://storage.googleapis.com/b/o?X-Goog-Signature=abc#frag");
        assert!(!format!("{signed:?}").contains("abc"));
        assert!(!SecretUrl::new("not a url").shown().contains("not a url"));
    }

    #[test]
    fn the_token_goes_to_the_api_origin_and_x_hosts_only() {
        let http = search_sink::https::reqwest_client_builder()
            .unwrap()
            .build()
            .unwrap();
        let client = |api: &str| JobsClient::new(http.clone(), api, &Token::new("t")).unwrap();
        let table: &[(&str, &str, bool)] = &[
            (
                "https://api.x.com",
                "https://api.x.com/2/compliance/jobs/1/upload?token=a",
                true,
            ),
            (
                "https://api.x.com",
                "https://api.twitter.com/2/compliance/jobs/1/download",
                true,
            ),
            ("https://api.twitter.com", "https://api.x.com/2/x", true),
            (
                "http://127.0.0.1:9",
                "http://127.0.0.1:9/2/compliance/jobs/1/upload",
                true,
            ),
            // Another port, another host, plain http to X's host: no token.
            ("http://127.0.0.1:9", "http://127.0.0.1:10/upload", false),
            (
                "https://api.x.com",
                "https://storage.googleapis.com/b/o?sig=1",
                false,
            ),
            ("https://api.x.com", "http://api.x.com/2/x", false),
            (
                "https://api.x.com",
                "https://api.x.com.evil.example/2/x",
                false,
            ),
        ];
        for (api, url, expected) in table {
            let parsed = reqwest::Url::parse(url).unwrap();
            assert_eq!(client(api).is_trusted(&parsed), *expected, "{api} -> {url}");
        }
    }

    #[test]
    fn problem_details_table() {
        let table: &[(&str, Option<&str>)] = &[
            (
                r#"{"title":"Conflict","detail":"A job of this type is already active","type":"about:blank","status":409}"#,
                Some("A job of this type is already active"),
            ),
            (
                r#"{"errors":[{"title":"Invalid Request"}]}"#,
                Some("Invalid Request"),
            ),
            ("<html>", None),
        ];
        for (body, expected) in table {
            assert_eq!(
                problem_detail(body.as_bytes()).as_deref(),
                *expected,
                "{body}"
            );
        }
    }

    #[test]
    fn statuses_round_trip_and_only_created_and_in_progress_are_active() {
        for text in [
            "created",
            "in_progress",
            "complete",
            "failed",
            "expired",
            "paused",
        ] {
            let status = Status::parse(text);
            assert_eq!(status.as_str(), text);
            assert_eq!(
                status.is_active(),
                matches!(text, "created" | "in_progress")
            );
        }
    }
}
