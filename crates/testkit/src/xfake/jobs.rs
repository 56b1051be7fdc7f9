//! X's batch compliance jobs in the fake, after X's documents (the batch compliance
//! introduction, quickstart and integration guide, and the OpenAPI spec):
//!
//! - `POST /2/compliance/jobs` (`{"type","name"}`) makes a job `created`, with an
//!   `upload_url` and a `download_url`; while a job of that type is `created` or
//!   `in_progress`, another gets `409 Conflict` (a `users` job may run beside a `tweets` one);
//! - `GET /2/compliance/jobs/:id`, `GET /2/compliance/jobs?type=...` (newest first);
//! - the upload (one `PUT` of plain text, one id a line, at most [`JobsConfig::max_upload_bytes`],
//!   else `413`) makes the job `in_progress`; each poll of an `in_progress` job counts, and
//!   after [`JobsConfig::polls_to_complete`] of them it is `complete` (or ends as scripted
//!   with [`super::XFake::end_next_job`]: `failed`, `expired`); a job left `created` past its
//!   upload window ([`super::XFake::expire_upload_windows`]) is `expired` from its second
//!   read on;
//! - the results: one line per uploaded id X has something to say about (the configured
//!   [`JobsConfig::results`], merged with `{"id": ...}`), `{"id":..,"error":"invalid_id"}` per
//!   line that is not an id; absent ids are clean.
//!
//! The current flow serves the URLs on the API's own origin
//! (`/2/compliance/jobs/:id/upload?token=...`, `/download?token=...`) and wants the bearer
//! token with them; the older flow ([`JobsConfig::presigned`]) hands out pre-signed URLs on
//! another origin (the fake's second listener, standing for cloud storage) that refuse a
//! request carrying an `Authorization` header, as a signed storage URL does: a client that
//! sends its token there is caught.

use std::collections::{BTreeMap, VecDeque};

use super::wire::{Reply, Seen, json_status, query_param};

/// What the fake's jobs do.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// What X reports per id (the fields of its result line besides `id`, e.g.
    /// `{"action":"delete","reason":"deleted","redacted_at":"..."}`); other ids are clean.
    pub results: BTreeMap<String, serde_json::Value>,
    /// Polls of an `in_progress` job before it is `complete`.
    pub polls_to_complete: usize,
    /// The older flow: pre-signed upload and download URLs on another origin.
    pub presigned: bool,
    /// Larger uploads get `413`.
    pub max_upload_bytes: usize,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            results: BTreeMap::new(),
            polls_to_complete: 1,
            presigned: false,
            max_upload_bytes: 128_000_000,
        }
    }
}

/// One job as the fake keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeJob {
    pub id: String,
    pub kind: String,
    pub name: Option<String>,
    pub status: String,
    pub created_at: String,
    pub upload_expires_at: String,
    /// The ids uploaded (each line of the body).
    pub uploaded: Vec<String>,
    /// Polls while `in_progress`.
    pub polls: usize,
    /// How it ends instead of completing.
    ending: Option<String>,
    /// Reads that still show it `created` once its upload window passed.
    pub(super) expiry_reads: usize,
    upload_token: String,
    download_token: String,
}

#[derive(Debug, Default)]
pub(super) struct Jobs {
    pub(super) config: JobsConfig,
    pub(super) jobs: Vec<FakeJob>,
    next_id: u64,
    /// The next jobs to reach `in_progress` end this way (`failed`, `expired`).
    pub(super) endings: VecDeque<String>,
}

/// What a request to the jobs API or the storage origin needs from the transport.
pub(super) struct Origins<'a> {
    pub api: &'a str,
    pub storage: Option<&'a str>,
}

const CREATED_AT: &str = "2024-05-01T10:00:00.000Z";
const FAR_FUTURE: &str = "2999-01-01T00:00:00.000Z";
pub(super) const PAST: &str = "2000-01-01T00:00:00.000Z";

fn problem(status: u16, title: &str, detail: &str) -> Reply {
    json_status(
        status,
        &serde_json::json!({"title": title, "detail": detail, "type": "about:blank", "status": status})
            .to_string(),
    )
}

impl Jobs {
    fn job_json(&self, job: &FakeJob, origins: &Origins<'_>) -> serde_json::Value {
        let (upload, download) = match (self.config.presigned, origins.storage) {
            (true, Some(storage)) => (
                format!(
                    "{storage}/upload/{}?X-Goog-Signature={}",
                    job.id, job.upload_token
                ),
                format!(
                    "{storage}/download/{}?X-Goog-Signature={}",
                    job.id, job.download_token
                ),
            ),
            _ => (
                format!(
                    "{}/2/compliance/jobs/{}/upload?token={}",
                    origins.api, job.id, job.upload_token
                ),
                format!(
                    "{}/2/compliance/jobs/{}/download?token={}",
                    origins.api, job.id, job.download_token
                ),
            ),
        };
        serde_json::json!({
            "id": job.id,
            "type": job.kind,
            "name": job.name,
            "status": job.status,
            "resumable": false,
            "created_at": job.created_at,
            "upload_url": upload,
            "upload_expires_at": job.upload_expires_at,
            "download_url": download,
            "download_expires_at": FAR_FUTURE,
        })
    }

    /// `/2/compliance/jobs...` on the API origin (the request is authorized).
    pub(super) fn api(&mut self, seen: &Seen, path: &str, origins: &Origins<'_>) -> Reply {
        let rest = path.trim_start_matches("/2/compliance/jobs");
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        match (seen.method.as_str(), parts.as_slice()) {
            ("POST", []) => self.create(&seen.body, origins),
            ("GET", []) => self.list(&seen.target, origins),
            ("GET", [id]) => self.get(id, origins),
            ("PUT", [id, "upload"]) => {
                let token = query_param(&seen.target, "token").unwrap_or("");
                self.upload(id, token, &seen.body, false)
            }
            ("GET", [id, "download"]) => {
                let token = query_param(&seen.target, "token").unwrap_or("");
                self.download(id, token)
            }
            _ => problem(404, "Not Found Error", "no such path"),
        }
    }

    /// A request to the storage origin of the older flow: signed URLs, no `Authorization`.
    pub(super) fn storage(&mut self, seen: &Seen) -> Reply {
        if seen.has_authorization {
            return json_status(
                400,
                r#"{"error":"a signed URL takes no Authorization header"}"#,
            );
        }
        let path = seen.target.split('?').next().unwrap_or("");
        let token = query_param(&seen.target, "X-Goog-Signature").unwrap_or("");
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match (seen.method.as_str(), parts.as_slice()) {
            ("PUT", ["upload", id]) => self.upload(id, token, &seen.body, true),
            ("GET", ["download", id]) => self.download(id, token),
            _ => json_status(404, r#"{"error":"no such object"}"#),
        }
    }

    fn create(&mut self, body: &str, origins: &Origins<'_>) -> Reply {
        let Ok(request) = serde_json::from_str::<serde_json::Value>(body) else {
            return problem(400, "Invalid Request", "the body is not JSON");
        };
        let kind = match request["type"].as_str() {
            Some(k @ ("tweets" | "users")) => k.to_owned(),
            _ => return problem(400, "Invalid Request", "type must be tweets or users"),
        };
        let name = request["name"].as_str().map(str::to_owned);
        if name.as_ref().is_some_and(|n| n.chars().count() > 64) {
            return problem(400, "Invalid Request", "name is longer than 64 characters");
        }
        if self
            .jobs
            .iter()
            .any(|j| j.kind == kind && matches!(j.status.as_str(), "created" | "in_progress"))
        {
            return problem(
                409,
                "Conflict",
                &format!("A {kind} compliance job is already active"),
            );
        }
        self.next_id += 1;
        let id = (1_460_000_000_000_000_000u64 + self.next_id).to_string();
        let job = FakeJob {
            id: id.clone(),
            kind,
            name,
            status: "created".to_owned(),
            created_at: CREATED_AT.to_owned(),
            upload_expires_at: FAR_FUTURE.to_owned(),
            uploaded: Vec::new(),
            polls: 0,
            ending: None,
            expiry_reads: 0,
            upload_token: format!("up-secret-{id}"),
            download_token: format!("down-secret-{id}"),
        };
        let out = serde_json::json!({"data": self.job_json(&job, origins)});
        self.jobs.push(job);
        json_status(200, &out.to_string())
    }

    fn get(&mut self, id: &str, origins: &Origins<'_>) -> Reply {
        let polls_to_complete = self.config.polls_to_complete;
        let Some(job) = self.jobs.iter_mut().find(|j| j.id == id) else {
            return problem(404, "Not Found Error", &format!("Could not find job {id}"));
        };
        if job.status == "created" && job.upload_expires_at == PAST {
            // Left without an upload past its window, it expires (X's integration guide),
            // not at once: the first read still shows it `created`.
            if job.expiry_reads == 0 {
                job.status = "expired".to_owned();
            } else {
                job.expiry_reads -= 1;
            }
        }
        if job.status == "in_progress" {
            job.polls += 1;
            if job.polls >= polls_to_complete {
                job.status = job.ending.clone().unwrap_or_else(|| "complete".to_owned());
            }
        }
        let job = job.clone();
        let out = serde_json::json!({"data": self.job_json(&job, origins)});
        json_status(200, &out.to_string())
    }

    fn list(&self, target: &str, origins: &Origins<'_>) -> Reply {
        let Some(kind) = query_param(target, "type") else {
            return problem(400, "Invalid Request", "type is required");
        };
        let data: Vec<serde_json::Value> = self
            .jobs
            .iter()
            .rev()
            .filter(|j| j.kind == kind)
            .map(|j| self.job_json(j, origins))
            .collect();
        let out = serde_json::json!({"data": data, "meta": {"result_count": data.len()}});
        json_status(200, &out.to_string())
    }

    /// The job a URL names, if its token is the one that URL was given (`upload`: the upload
    /// URL's, else the download URL's).
    fn by_token(&mut self, id: &str, token: &str, upload: bool) -> Result<&mut FakeJob, Reply> {
        let Some(job) = self.jobs.iter_mut().find(|j| j.id == id) else {
            return Err(problem(404, "Not Found Error", "no such job"));
        };
        let expected = if upload {
            &job.upload_token
        } else {
            &job.download_token
        };
        if token != expected {
            return Err(problem(
                403,
                "Forbidden",
                "the token is not valid for this job and operation",
            ));
        }
        Ok(job)
    }

    fn upload(&mut self, id: &str, token: &str, body: &str, presigned: bool) -> Reply {
        let max = self.config.max_upload_bytes;
        let ending = self.endings.front().cloned();
        let job = match self.by_token(id, token, true) {
            Ok(job) => job,
            Err(refused) => return refused,
        };
        if job.upload_expires_at.as_str() == PAST {
            return problem(403, "Forbidden", "the upload URL has expired");
        }
        if job.status != "created" {
            return problem(400, "Invalid Request", "the job takes no more uploads");
        }
        if body.len() > max {
            return problem(413, "Payload Too Large", "the upload exceeds 128 MB");
        }
        job.uploaded = body
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        job.status = "in_progress".to_owned();
        if ending.is_some() {
            job.ending = ending;
            self.endings.pop_front();
        }
        if presigned {
            json_status(200, "")
        } else {
            json_status(200, &serde_json::json!({"data": {"id": id}}).to_string())
        }
    }

    fn download(&mut self, id: &str, token: &str) -> Reply {
        let job = match self.by_token(id, token, false) {
            Ok(job) => job.clone(),
            Err(refused) => return refused,
        };
        if job.status != "complete" {
            return problem(400, "Invalid Request", "the job is not complete");
        }
        let mut body = String::new();
        for id in &job.uploaded {
            let line = if !id.bytes().all(|b| b.is_ascii_digit()) || id.len() > 19 {
                serde_json::json!({"id": id, "error": "invalid_id"})
            } else if let Some(fields) = self.config.results.get(id) {
                let mut line = serde_json::json!({"id": id});
                if let (Some(line), Some(fields)) = (line.as_object_mut(), fields.as_object()) {
                    for (k, v) in fields {
                        line.insert(k.clone(), v.clone());
                    }
                }
                line
            } else {
                continue;
            };
            body.push_str(&line.to_string());
            body.push('\n');
        }
        Reply::Status {
            status: 200,
            headers: vec![("content-type".to_owned(), "application/x-ndjson".to_owned())],
            body,
        }
    }
}
