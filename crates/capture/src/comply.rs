//! `tweet-capture comply`: one batch compliance job over an ids file, the results delivered to
//! the sink as records the indexer applies. Following X's documents, per part of at most
//! `ids_per_job` ids (sequential jobs; X takes 128 MB per upload):
//!
//! 1. a job: the one an earlier run left (its id in the state file, see `state`), else a new
//!    one (`POST /2/compliance/jobs`, named after the ids' fingerprint and the part). X keeps
//!    one active job per type: a 409 means one is active; when it bears our name (a run that
//!    died before it saved its state) it is taken over, otherwise the run waits for it to end;
//! 2. the upload: the part's ids, plain text, one `PUT` to `upload_url` (a job taken over
//!    whose upload window has passed is waited out and replaced);
//! 3. polling `GET /2/compliance/jobs/:id` with backoff until `complete` (`failed` or
//!    `expired`: an error; the next run makes a new job);
//! 4. the download from `download_url`, each result line wrapped with its job (see
//!    `results`) and queued for the sink; for a users job, then, one `action: none` line per
//!    uploaded user X did not return.
//!
//! Transient failures (unreachable, 5xx, 429 with its reset) are retried with backoff; every
//! wait is bounded by `max_wait` per part and cut short by a stop (a signal), which leaves
//! the state for the next run to resume. The state file is removed by the caller once every
//! record was delivered.

pub mod ids;
pub mod jobs;
pub mod results;
pub mod state;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use search_sink::{Backoff, Schedule};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::class::Class;
use crate::framing::{Frame, Framer};
use crate::metrics::Stats;
use crate::queue::QueueTx;
use crate::record::Record;
use ids::{IdsError, Plan};
use jobs::{Job, JobType, JobsClient, JobsError, SecretUrl, Status};
use results::{JobRef, Returned};
use state::{State, StateError};

/// How long a chunk of the results may take before the download is retried.
pub const CHUNK_TIMEOUT: Duration = Duration::from_secs(60);
/// The poll and retry delays grow from `poll_interval` to this many times it.
const BACKOFF_FACTOR_MAX: u32 = 4;

/// What one `comply` run does.
#[derive(Debug, Clone)]
pub struct ComplyOptions {
    pub kind: JobType,
    /// The ids file (local).
    pub ids: PathBuf,
    /// The state file.
    pub state: PathBuf,
    pub ids_per_job: usize,
    /// The first delay between two polls (and before retrying a failed request); it grows
    /// to [`BACKOFF_FACTOR_MAX`] times while nothing changes.
    pub poll_interval: Duration,
    /// How long one part may wait (for another active job, its own processing, retries).
    pub max_wait: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ComplyError {
    #[error(transparent)]
    Ids(#[from] IdsError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Jobs(#[from] JobsError),
    #[error(
        "compliance job {id} ended {status}: X produced no results (the next run creates a new job)"
    )]
    JobEnded { id: String, status: String },
    #[error("{what} took longer than --max-wait ({waited}); the next run resumes it")]
    Timeout { what: String, waited: String },
    #[error("stopped while {what}; the next run resumes it")]
    Interrupted { what: String },
    #[error(
        "X refused the upload of {ids} ids as too large (413): lower --max-ids-per-job (X takes 128 MB per upload)"
    )]
    TooLarge { ids: usize },
    #[error("the sink stopped")]
    SinkGone,
}

impl ComplyError {
    pub fn class(&self) -> Class {
        match self {
            ComplyError::Ids(_) | ComplyError::State(_) => Class::Usage,
            ComplyError::Jobs(e) => e.class(),
            ComplyError::TooLarge { .. } => Class::Refused,
            ComplyError::JobEnded { .. }
            | ComplyError::Timeout { .. }
            | ComplyError::Interrupted { .. }
            | ComplyError::SinkGone => Class::Transient,
        }
    }
}

/// What a run did, for its last log line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub ids: u64,
    pub jobs: usize,
    /// Result lines X returned, by action (`delete`, `scrub_geo`, `rehydrate`; `error`
    /// for invalid ids; the reason where an older line has no action).
    pub results: BTreeMap<String, u64>,
    /// Users X did not return (written as `action: none`).
    pub clean_users: u64,
}

/// Runs the jobs for every part of the ids file, queueing their results into `out`.
pub async fn run(
    client: &JobsClient,
    options: &ComplyOptions,
    out: &QueueTx,
    stats: &Stats,
    stop: watch::Receiver<bool>,
) -> Result<Summary, ComplyError> {
    let ids_path = options.ids.clone();
    let per_job = options.ids_per_job;
    let plan = tokio::task::spawn_blocking(move || ids::plan(&ids_path, per_job))
        .await
        .map_err(|e| {
            ComplyError::Ids(IdsError::Io {
                path: options.ids.clone(),
                source: std::io::Error::other(e),
            })
        })??;
    let kind = options.kind.as_str();
    let parts = plan.parts.len();
    let state = match State::load(&options.state)? {
        Some(state) if state.matches(kind, &plan.fingerprint, parts) => {
            tracing::info!(state = %options.state.display(), "resuming an earlier run");
            state
        }
        Some(_) => {
            tracing::warn!(state = %options.state.display(), "the state file is from another ids file or job type: starting afresh");
            State::new(kind, &plan.fingerprint, parts)
        }
        None => State::new(kind, &plan.fingerprint, parts),
    };
    tracing::info!(
        r#type = kind,
        ids = plan.ids,
        jobs = parts,
        ids_per_job = options.ids_per_job,
        "compliance check"
    );
    if parts > 0 {
        // A state that cannot be written stops the run before X is asked for a job.
        state.save(&options.state)?;
    }
    let mut runner = Runner {
        client,
        options,
        out,
        stats,
        stop,
        state,
        plan,
        summary: Summary::default(),
    };
    runner.summary.ids = runner.plan.ids;
    for index in 0..parts {
        runner.part(index).await?;
        runner.summary.jobs += 1;
    }
    Ok(runner.summary)
}

/// Delays growing from the poll interval to [`BACKOFF_FACTOR_MAX`] times it: doubling, exact.
fn poll_backoff(base: Duration) -> Backoff {
    Backoff::exact(Schedule::Doubling {
        start: base,
        max: base.saturating_mul(BACKOFF_FACTOR_MAX),
    })
}

struct Runner<'a> {
    client: &'a JobsClient,
    options: &'a ComplyOptions,
    out: &'a QueueTx,
    stats: &'a Stats,
    stop: watch::Receiver<bool>,
    state: State,
    plan: Plan,
    summary: Summary,
}

/// Where a part's job stands.
enum Obtained {
    /// A job this run created: a refused upload is an error.
    New(Job),
    /// A job of an earlier run (from the state file, or taken over by name).
    Earlier(Job),
}

impl Runner<'_> {
    fn name(&self, index: usize) -> String {
        // At most 64 characters (X's limit): 14 + 6 + 16 + 2 + 2 x 7.
        format!(
            "tweet-capture {} {} {}/{}",
            self.options.kind.as_str(),
            &self.plan.fingerprint[..16.min(self.plan.fingerprint.len())],
            index + 1,
            self.plan.parts.len()
        )
    }

    fn what(&self, index: usize) -> String {
        format!(
            "the {} job of part {}/{}",
            self.options.kind.as_str(),
            index + 1,
            self.plan.parts.len()
        )
    }

    async fn part(&mut self, index: usize) -> Result<(), ComplyError> {
        let deadline = Instant::now() + self.options.max_wait;
        let mut obtained = self.obtain(index, deadline).await?;
        loop {
            let (job, earlier) = match &obtained {
                Obtained::New(job) => (job.clone(), false),
                Obtained::Earlier(job) => (job.clone(), true),
            };
            let job = match job.status() {
                Status::Created => {
                    if !self.upload(index, &job, earlier, deadline).await? {
                        // An earlier run's job whose upload window passed: it expires by
                        // itself; then a new one.
                        self.wait_inactive(index, &job, deadline).await?;
                        obtained = self.create(index, deadline).await?;
                        continue;
                    }
                    self.poll(index, &job, deadline).await?
                }
                Status::Complete => job,
                Status::Failed | Status::Expired => {
                    return Err(ComplyError::JobEnded {
                        id: job.id.clone(),
                        status: job.status().as_str().to_owned(),
                    });
                }
                Status::InProgress | Status::Other(_) => self.poll(index, &job, deadline).await?,
            };
            return self.download(index, &job, deadline).await;
        }
    }

    /// The part's job: an earlier run's, else a new one (or the one of ours X holds active).
    async fn obtain(&mut self, index: usize, deadline: Instant) -> Result<Obtained, ComplyError> {
        if let Some(id) = self.state.jobs[index].clone() {
            let client = self.client;
            match self.retrying(index, deadline, || client.get(&id)).await {
                Ok(job) => {
                    let status = job.status();
                    let gone = matches!(status, Status::Failed | Status::Expired)
                        || (status == Status::Complete
                            && Job::has_passed(job.download_expires_at.as_deref()));
                    if !gone {
                        tracing::info!(job = %id, status = status.as_str(), part = index + 1, "resuming the job of an earlier run");
                        return Ok(Obtained::Earlier(job));
                    }
                    tracing::warn!(job = %id, status = status.as_str(), part = index + 1, "the job of an earlier run cannot be used: creating a new one");
                }
                Err(ComplyError::Jobs(e)) if e.status() == Some(404) => {
                    tracing::warn!(job = %id, part = index + 1, "X does not know the job of an earlier run: creating a new one");
                }
                Err(e) => return Err(e),
            }
        }
        self.create(index, deadline).await
    }

    /// A new job for the part; on 409, ours (by name) taken over, or another one waited for.
    async fn create(&mut self, index: usize, deadline: Instant) -> Result<Obtained, ComplyError> {
        let name = self.name(index);
        let kind = self.options.kind;
        let client = self.client;
        let mut delay = poll_backoff(self.options.poll_interval);
        let mut waiting_for = None;
        loop {
            match self
                .retrying(index, deadline, || client.create(kind, &name))
                .await
            {
                Ok(job) => {
                    tracing::info!(job = %job.id, part = index + 1, name = %name, "compliance job created");
                    self.remember(index, &job.id)?;
                    return Ok(Obtained::New(job));
                }
                Err(ComplyError::Jobs(e)) if e.is_conflict() => {}
                Err(e) => return Err(e),
            }
            let listed = self.retrying(index, deadline, || client.list(kind)).await?;
            let active: Vec<&Job> = listed.iter().filter(|j| j.status().is_active()).collect();
            if let Some(ours) = active
                .iter()
                .find(|j| j.name.as_deref() == Some(name.as_str()))
            {
                let id = ours.id.clone();
                // The list may leave fields out: the job itself has them all.
                let job = self.retrying(index, deadline, || client.get(&id)).await?;
                if job.status().is_active() {
                    tracing::info!(job = %id, part = index + 1, status = job.status().as_str(), "taking over our job that X holds active (an earlier run stopped before it saved its state)");
                    self.remember(index, &id)?;
                    return Ok(Obtained::Earlier(job));
                }
                // It ended meanwhile: the slot is free.
                continue;
            }
            let other = active.first().map(|j| (j.id.clone(), j.name.clone()));
            if waiting_for != other {
                tracing::warn!(
                    job = other.as_ref().map_or("", |o| o.0.as_str()),
                    name = other.as_ref().and_then(|o| o.1.as_deref()).unwrap_or(""),
                    r#type = kind.as_str(),
                    "X runs one job per type and another is active: waiting for it to end"
                );
                waiting_for = other;
            }
            self.pause(
                index,
                delay.next_delay(),
                deadline,
                "waiting for another active job",
            )
            .await?;
        }
    }

    fn remember(&mut self, index: usize, id: &str) -> Result<(), ComplyError> {
        self.state.jobs[index] = Some(id.to_owned());
        self.state.save(&self.options.state)?;
        Ok(())
    }

    /// Uploads the part's ids; `false` when an earlier run's job can no longer take them
    /// (its upload window passed).
    async fn upload(
        &mut self,
        index: usize,
        job: &Job,
        earlier: bool,
        deadline: Instant,
    ) -> Result<bool, ComplyError> {
        let Some(url) = job.upload_url.clone() else {
            return Err(JobsError::Body(format!("job {} has no upload_url", job.id)).into());
        };
        if earlier && Job::has_passed(job.upload_expires_at.as_deref()) {
            tracing::warn!(job = %job.id, "the upload window of an earlier run's job has passed");
            return Ok(false);
        }
        let (path, part) = (self.options.ids.clone(), self.plan.parts[index]);
        let body = tokio::task::spawn_blocking(move || ids::part_body(&path, index, part))
            .await
            .map_err(|e| {
                ComplyError::Ids(IdsError::Io {
                    path: self.options.ids.clone(),
                    source: std::io::Error::other(e),
                })
            })??;
        let body = bytes::Bytes::from(body);
        let bytes = body.len();
        let client = self.client;
        let result = self
            .retrying(index, deadline, || client.upload(&url, body.clone()))
            .await;
        match result {
            Ok(()) => {
                tracing::info!(job = %job.id, ids = part.ids, bytes, "ids uploaded");
                Ok(true)
            }
            Err(ComplyError::Jobs(e)) if e.status() == Some(413) => {
                Err(ComplyError::TooLarge { ids: part.ids })
            }
            Err(ComplyError::Jobs(e))
                if earlier && matches!(e.status(), Some(401 | 403 | 404 | 410)) =>
            {
                tracing::warn!(job = %job.id, error = %e, "an earlier run's job no longer takes its upload");
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Polls until the job is no longer active (it expired, failed or completed).
    async fn wait_inactive(
        &mut self,
        index: usize,
        job: &Job,
        deadline: Instant,
    ) -> Result<(), ComplyError> {
        let client = self.client;
        let mut delay = poll_backoff(self.options.poll_interval);
        loop {
            let current = self
                .retrying(index, deadline, || client.get(&job.id))
                .await?;
            if !current.status().is_active() {
                return Ok(());
            }
            self.pause(
                index,
                delay.next_delay(),
                deadline,
                "waiting for an unusable job to expire",
            )
            .await?;
        }
    }

    /// Polls the job with backoff until it completes (`failed` / `expired`: an error).
    async fn poll(
        &mut self,
        index: usize,
        job: &Job,
        deadline: Instant,
    ) -> Result<Job, ComplyError> {
        let client = self.client;
        let mut delay = poll_backoff(self.options.poll_interval);
        let mut last = job.status();
        loop {
            self.pause(
                index,
                delay.next_delay(),
                deadline,
                "waiting for the job to complete",
            )
            .await?;
            let current = self
                .retrying(index, deadline, || client.get(&job.id))
                .await?;
            let status = current.status();
            if status != last {
                tracing::info!(job = %job.id, status = status.as_str(), "compliance job status");
                delay.reset();
                last = status.clone();
            }
            match status {
                Status::Complete => return Ok(current),
                Status::Failed | Status::Expired => {
                    return Err(ComplyError::JobEnded {
                        id: job.id.clone(),
                        status: status.as_str().to_owned(),
                    });
                }
                _ => {}
            }
        }
    }

    /// Downloads the results (again from the start after a transient failure, skipping what
    /// was queued) and, for a users job, writes the users X did not return.
    async fn download(
        &mut self,
        index: usize,
        job: &Job,
        deadline: Instant,
    ) -> Result<(), ComplyError> {
        let Some(url) = job.download_url.clone() else {
            return Err(JobsError::Body(format!(
                "job {} is complete but has no download_url",
                job.id
            ))
            .into());
        };
        let created_at = job.created_at.clone().unwrap_or_else(|| {
            tracing::warn!(job = %job.id, "the job has no created_at: using the current time");
            humantime::format_rfc3339_millis(SystemTime::now()).to_string()
        });
        let job_ref = JobRef {
            id: job.id.clone(),
            kind: self.options.kind.as_str(),
            created_at,
        };
        let mut queued = 0u64;
        let mut returned = Returned::default();
        let mut delay = poll_backoff(self.options.poll_interval);
        loop {
            match self
                .read_results(&url, &job_ref, &mut queued, &mut returned)
                .await
            {
                Ok(()) => break,
                Err(ComplyError::Jobs(e)) if e.class() == Class::Transient => {
                    tracing::warn!(job = %job.id, error = %e, lines = queued, "the download broke off: reading it again");
                    let wait = e.rate_limit_reset().unwrap_or_else(|| delay.next_delay());
                    self.pause(index, wait, deadline, "downloading the results")
                        .await?;
                }
                Err(e) => return Err(e),
            }
        }
        tracing::info!(job = %job.id, results = queued, "results downloaded");
        if self.options.kind == JobType::Users {
            self.clean_users(index, &job_ref, &mut returned).await?;
        }
        Ok(())
    }

    /// One read of the results file; `queued`: lines queued by earlier reads (skipped).
    async fn read_results(
        &mut self,
        url: &SecretUrl,
        job: &JobRef,
        queued: &mut u64,
        returned: &mut Returned,
    ) -> Result<(), ComplyError> {
        let what = "downloading the results";
        let mut response = self.client.download(url).await?;
        let gzip = response
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let mut framer = Framer::lines(gzip);
        let mut frames = Vec::new();
        let mut seen = 0u64;
        let corrupt =
            |e: crate::framing::FramingError| JobsError::Body(format!("the results file: {e}"));
        loop {
            let chunk = tokio::time::timeout(CHUNK_TIMEOUT, response.chunk())
                .await
                .map_err(|_| JobsError::Unreachable {
                    what,
                    message: format!("nothing received for {}s", CHUNK_TIMEOUT.as_secs()),
                    class: Class::Transient,
                })?
                .map_err(|e| JobsError::Unreachable {
                    what,
                    message: crate::http::describe(&e),
                    class: crate::http::class(&e),
                })?;
            let finished = chunk.is_none();
            let last = match chunk {
                Some(bytes) => {
                    framer.push(&bytes, &mut frames).map_err(corrupt)?;
                    None
                }
                None => framer.finish(&mut frames).map_err(corrupt)?,
            };
            for frame in frames.drain(..).chain(last.map(Frame::Line)) {
                let Frame::Line(line) = frame else { continue };
                seen += 1;
                if seen <= *queued {
                    continue;
                }
                self.result(job, &line, returned).await?;
                *queued = seen;
            }
            if finished {
                return Ok(());
            }
        }
    }

    async fn result(
        &mut self,
        job: &JobRef,
        line: &[u8],
        returned: &mut Returned,
    ) -> Result<(), ComplyError> {
        let wrapped = results::wrap(job, line);
        *self
            .summary
            .results
            .entry(wrapped.action.clone())
            .or_default() += 1;
        let id = wrapped.id.map(|id| id.to_string());
        if let Some(id) = wrapped.id {
            returned.add(id);
        }
        let record = match self.options.kind {
            JobType::Tweets => Record::new(wrapped.line, id, None),
            JobType::Users => Record::new(wrapped.line, None, id),
        };
        self.queue(record).await
    }

    /// One `action: none` line per uploaded user X did not return.
    async fn clean_users(
        &mut self,
        index: usize,
        job: &JobRef,
        returned: &mut Returned,
    ) -> Result<(), ComplyError> {
        let part = self.plan.parts[index];
        let mut reader = ids::PartReader::open(&self.options.ids, index, part)?;
        let mut clean = 0u64;
        while let Some(id) = reader.next_id()? {
            let Some(number) = std::str::from_utf8(&id)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if returned.contains(number) {
                continue;
            }
            let text = number.to_string();
            let line = results::clean_user(job, &text);
            self.queue(Record::new(line, None, Some(text))).await?;
            clean += 1;
        }
        self.summary.clean_users += clean;
        tracing::info!(job = %job.id, clean_users = clean, "users X did not return written as clean");
        Ok(())
    }

    async fn queue(&mut self, record: Record) -> Result<(), ComplyError> {
        self.stats.compliance.fetch_add(1, Ordering::Relaxed);
        self.stats
            .bytes
            .fetch_add(record.line.len() as u64, Ordering::Relaxed);
        tokio::select! {
            sent = self.out.send(record, self.stats) => sent.map_err(|_| ComplyError::SinkGone),
            _ = self.stop.changed() => Err(ComplyError::Interrupted {
                what: "queueing the results (the sink is slow)".to_owned(),
            }),
        }
    }

    /// Runs `call` until it succeeds or fails for good; transient failures (unreachable,
    /// 5xx, 408, 429 after its reset) are retried with backoff within the deadline.
    async fn retrying<T, F, Fut>(
        &mut self,
        index: usize,
        deadline: Instant,
        mut call: F,
    ) -> Result<T, ComplyError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, JobsError>>,
    {
        let mut delay = poll_backoff(self.options.poll_interval);
        loop {
            let result = tokio::select! {
                r = call() => r,
                _ = self.stop.changed() => return Err(ComplyError::Interrupted { what: self.what(index) }),
            };
            match result {
                Ok(value) => return Ok(value),
                Err(e) if e.class() == Class::Transient => {
                    let wait = e.rate_limit_reset().unwrap_or_else(|| delay.next_delay());
                    tracing::warn!(error = %e, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying");
                    if Instant::now() + wait > deadline {
                        return Err(e.into());
                    }
                    self.pause(index, wait, deadline, "retrying").await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Waits `delay`, unless the deadline comes first (an error) or the run is stopped.
    async fn pause(
        &mut self,
        index: usize,
        delay: Duration,
        deadline: Instant,
        doing: &str,
    ) -> Result<(), ComplyError> {
        if *self.stop.borrow() {
            return Err(ComplyError::Interrupted {
                what: format!("{doing} ({})", self.what(index)),
            });
        }
        if Instant::now() + delay > deadline {
            return Err(ComplyError::Timeout {
                what: format!("{} ({doing})", self.what(index)),
                waited: humantime::format_duration(self.options.max_wait).to_string(),
            });
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => Ok(()),
            _ = self.stop.changed() => Err(ComplyError::Interrupted {
                what: format!("{doing} ({})", self.what(index)),
            }),
        }
    }
}
