//! `tweet-capture comply` against the X fake's batch compliance jobs (loopback TCP, a real
//! clock, `--poll-interval 1s`): the documented flow for a tweets and a users job, the older
//! pre-signed URLs (which never see the token), a run killed mid-poll resumed from its state
//! file or, without it, by the job's name, another active job waited for, an upload window
//! that passed, large id lists split into sequential jobs, failed and expired jobs, refusals
//! and bad input with their exit codes, and ids read from S3. What `comply` writes is read
//! back with the indexer's own extractor (`tweets`): the records it must accept. Every run
//! logs at TRACE, and neither the token nor the URLs' tokens may appear in what it prints.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;
use testkit::xfake::XFake;
use testkit::xfake::jobs::JobsConfig;
use tweets::compliance::EventKind;
use tweets::{Extractor, ExtractorOptions, Item};

mod common;
use common::{Running, dir_lines, s3_client};

const TOKEN: &str = "comply-bearer-token-never-logged";

fn tmpdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("capture-comply-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ids_file(dir: &Path, ids: &[&str]) -> PathBuf {
    let path = dir.join("ids.txt");
    std::fs::write(
        &path,
        ids.iter().map(|i| format!("{i}\n")).collect::<String>(),
    )
    .unwrap();
    path
}

/// `comply` with these arguments (after `comply`), X at the fake.
fn spawn(fake: &XFake, args: &[&str], envs: &[(&str, &str)]) -> Running {
    let url = fake.url();
    let mut all = vec![
        ("X_BEARER_TOKEN", TOKEN),
        ("X_API_URL", url.as_str()),
        ("RUST_LOG", "trace"),
    ];
    all.extend_from_slice(envs);
    let mut argv = vec!["comply", "--poll-interval", "1s"];
    argv.extend_from_slice(args);
    Running::spawn(&argv, &all)
}

fn run(fake: &XFake, args: &[&str]) -> (Option<i32>, String) {
    finish(spawn(fake, args, &[]))
}

/// Waits for the exit: its code and stderr, where no secret may be.
fn finish(running: Running) -> (Option<i32>, String) {
    let (code, stderr) = running.wait();
    for secret in [TOKEN, "up-secret", "down-secret", "X-Goog-Signature"] {
        assert!(
            !stderr.contains(secret),
            "{secret} is in the logs:\n{stderr}"
        );
    }
    (code, stderr)
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the indexer makes of each line `comply` wrote, in order.
fn indexer_reads(lines: &[String]) -> Vec<String> {
    let extractor = Extractor::new(ExtractorOptions::default());
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    extractor
        .items(text.as_bytes())
        .map(|item| match item {
            Item::Delete { id, event_at, .. } => format!("delete {id} at {event_at:?}"),
            Item::Compliance { event, .. } => match event.kind {
                EventKind::TweetScrubGeo { tweet_id } => format!("scrub_geo {tweet_id}"),
                EventKind::Edit { earlier, .. } => format!("edited {earlier:?}"),
                EventKind::User { user_id, change } => format!("{} {user_id}", change.as_str()),
                EventKind::UserClean { user_id } => format!("user_clean {user_id}"),
                other => format!("{other:?}"),
            },
            other => panic!("the indexer does not accept what comply wrote: {other:?}"),
        })
        .collect()
}

fn results(entries: &[(&str, serde_json::Value)]) -> BTreeMap<String, serde_json::Value> {
    entries
        .iter()
        .map(|(id, v)| ((*id).to_owned(), v.clone()))
        .collect()
}

/// 2024-05-02T08:30:00.000Z, epoch ms (the redaction time the fake reports).
const REDACTED_MS: i64 = 1_714_638_600_000;
/// The fake's jobs' created_at, epoch ms.
const JOB_MS: i64 = 1_714_557_600_000;

fn tweets_results() -> BTreeMap<String, serde_json::Value> {
    let redacted = "2024-05-02T08:30:00.000Z";
    results(&[
        (
            "1001",
            json!({"action": "delete", "reason": "deleted", "created_at": "2024-04-01T00:00:00.000Z", "redacted_at": redacted, "deleted_at": redacted}),
        ),
        (
            "1002",
            json!({"action": "delete", "reason": "protected", "redacted_at": redacted}),
        ),
        (
            "1003",
            json!({"action": "scrub_geo", "reason": "geo_scrubbed"}),
        ),
        (
            "1004",
            json!({"action": "rehydrate", "reason": "tweet_edited"}),
        ),
        // The older format: a reason, no action.
        ("1005", json!({"reason": "deleted", "redacted_at": null})),
    ])
}

fn expected_tweets() -> Vec<String> {
    vec![
        format!("delete 1001 at Some({REDACTED_MS})"),
        format!("delete 1002 at Some({REDACTED_MS})"),
        "scrub_geo 1003".to_owned(),
        "edited [1004]".to_owned(),
        format!("delete 1005 at Some({JOB_MS})"),
    ]
}

const TWEET_IDS: [&str; 6] = ["1001", "1002", "1003", "1004", "1005", "1006"];

/// One test's fake, directory, ids file and `dir://` destination.
struct Case {
    fake: XFake,
    dir: PathBuf,
    ids: PathBuf,
    to: String,
}

impl Case {
    /// The fake's jobs configured so, `ids` in `DIR/ids.txt`, results to `dir://DIR/out`.
    async fn new(name: &str, config: JobsConfig, ids: &[&str]) -> Case {
        let fake = XFake::start(TOKEN, vec![]).await.unwrap();
        fake.configure_jobs(config);
        let dir = tmpdir(name);
        let ids = ids_file(&dir, ids);
        let to = format!("dir://{}", dir.join("out").display());
        Case { fake, dir, ids, to }
    }

    /// `--type KIND --ids FILE --to DIR/out` and `extra`.
    fn args<'a>(&'a self, kind: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "--type",
            kind,
            "--ids",
            self.ids.to_str().unwrap(),
            "--to",
            &self.to,
        ];
        args.extend_from_slice(extra);
        args
    }

    fn run(&self, kind: &str, extra: &[&str]) -> (Option<i32>, String) {
        run(&self.fake, &self.args(kind, extra))
    }

    /// What the indexer makes of what was written to `DIR/out`.
    fn written(&self) -> Vec<String> {
        indexer_reads(&dir_lines(&self.dir.join("out")))
    }

    fn state(&self, kind: &str) -> PathBuf {
        self.dir.join(format!("ids.txt.{kind}.comply-state.json"))
    }

    fn remove(self) {
        std::fs::remove_dir_all(&self.dir).unwrap();
    }
}

fn config(results: BTreeMap<String, serde_json::Value>) -> JobsConfig {
    JobsConfig {
        results,
        ..JobsConfig::default()
    }
}

/// The documented flow: create (type, name), one PUT of the ids as plain text with the
/// bearer token (current flow), polls until complete, the download with the token; every
/// result line wrapped with its job, accepted by the indexer as the event it is; the state
/// file gone at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tweets_job_follows_the_documented_flow() {
    let config = JobsConfig {
        polls_to_complete: 2,
        ..config(tweets_results())
    };
    let case = Case::new("flow", config, &TWEET_IDS).await;
    let (code, stderr) = case.run("tweets", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(case.written(), expected_tweets());
    let lines = dir_lines(&case.dir.join("out"));
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let job = &case.fake.jobs()[0];
    assert_eq!(
        first["compliance_job_result"]["job"],
        json!({"id": job.id, "type": "tweets", "created_at": "2024-05-01T10:00:00.000Z"})
    );
    assert_eq!(first["compliance_job_result"]["result"]["id"], "1001");
    // The requests, in order.
    let seen = case.fake.seen();
    let calls: Vec<String> = seen
        .iter()
        .map(|s| {
            let path = s.target.split('?').next().unwrap();
            format!("{} {}", s.method, path.replace(&job.id, "ID"))
        })
        .collect();
    assert_eq!(
        calls,
        [
            "POST /2/compliance/jobs",
            "PUT /2/compliance/jobs/ID/upload",
            "GET /2/compliance/jobs/ID",
            "GET /2/compliance/jobs/ID",
            "GET /2/compliance/jobs/ID/download",
        ]
    );
    assert!(
        seen.iter().all(|s| s.authorized && !s.storage),
        "the token on every request"
    );
    let create: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(create["type"], "tweets");
    let name = create["name"].as_str().unwrap();
    assert!(
        name.starts_with("tweet-capture tweets ") && name.ends_with(" 1/1"),
        "{name}"
    );
    assert_eq!(seen[1].body, "1001\n1002\n1003\n1004\n1005\n1006\n");
    assert_eq!(job.uploaded, TWEET_IDS.to_vec());
    assert!(
        !case.state("tweets").exists(),
        "the state file is removed once everything was delivered"
    );
    assert!(stderr.contains("comply stopped"), "{stderr}");
    case.remove();
}

/// A users job: the results X returned, then one `action: none` line per uploaded user X
/// did not return (clean as of the job); the indexer reads each as its user event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_job_writes_the_users_x_did_not_return_as_clean() {
    let redacted = "2024-05-02T08:30:00.000Z";
    let results = results(&[
        (
            "2001",
            json!({"action": "delete", "reason": "suspended", "redacted_at": redacted}),
        ),
        (
            "2002",
            json!({"action": "delete", "reason": "deactivated", "redacted_at": redacted}),
        ),
        ("2003", json!({"reason": "protected"})),
    ]);
    let ids = ["2001", "2002", "2003", "2004", "2005"];
    let case = Case::new("users", config(results), &ids).await;
    let (code, stderr) = case.run("users", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        case.written(),
        [
            "user_suspend 2001",
            "user_delete 2002",
            "user_protect 2003",
            "user_clean 2004",
            "user_clean 2005",
        ]
    );
    case.remove();
}

/// The older flow: pre-signed URLs on another origin. The token never goes there (the fake's
/// storage refuses a request that carries an Authorization header, as a signed URL does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_older_flow_gets_no_token_on_its_presigned_urls() {
    let config = JobsConfig {
        presigned: true,
        ..config(tweets_results())
    };
    let case = Case::new("presigned", config, &TWEET_IDS).await;
    let (code, stderr) = case.run("tweets", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(case.written(), expected_tweets());
    let storage: Vec<_> = case.fake.seen().into_iter().filter(|s| s.storage).collect();
    assert_eq!(storage.len(), 2, "the upload and the download");
    assert!(storage.iter().all(|s| !s.has_authorization));
    case.remove();
}

/// Starts `comply` with `args`, and kills it once its job was polled twice (the job stays in
/// progress: the fake's jobs are slow).
async fn kill_mid_poll(fake: &XFake, args: &[&str], job: usize) {
    let running = spawn(fake, args, &[]);
    wait_until("two polls of the job", || {
        fake.jobs()
            .get(job)
            .is_some_and(|j| j.status == "in_progress" && j.polls >= 2)
    })
    .await;
    running.signal("KILL");
    assert_eq!(running.wait().0, None, "killed");
}

/// A run killed while it polls leaves its job in the state file; the next run reads it
/// and carries on with the same job (no new one); a run that lost its state finds the job
/// again by name (X's 409, then the list) instead of waiting for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_run_resumes_its_job() {
    let slow = JobsConfig {
        polls_to_complete: 1_000_000,
        ..config(tweets_results())
    };
    let case = Case::new("resume", slow.clone(), &TWEET_IDS).await;
    let fake = &case.fake;
    kill_mid_poll(fake, &case.args("tweets", &[]), 0).await;
    let job = fake.jobs()[0].id.clone();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.state("tweets")).unwrap()).unwrap();
    assert_eq!(saved["jobs"], json!([job]));

    // With its state: straight back to polling the same job.
    fake.configure_jobs(JobsConfig {
        polls_to_complete: 1,
        ..slow.clone()
    });
    let posts = || fake.seen().iter().filter(|s| s.method == "POST").count();
    let posts_before = posts();
    let (code, stderr) = case.run("tweets", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("resuming the job of an earlier run"),
        "{stderr}"
    );
    assert_eq!(posts(), posts_before, "no job created");
    assert_eq!(fake.jobs().len(), 1);
    assert_eq!(case.written(), expected_tweets());
    assert!(!case.state("tweets").exists());

    // Without it (a new container): the job is found by its name.
    std::fs::remove_dir_all(case.dir.join("out")).unwrap();
    fake.configure_jobs(slow);
    ids_file(&case.dir, &TWEET_IDS[..2]);
    kill_mid_poll(fake, &case.args("tweets", &[]), 1).await;
    std::fs::remove_file(case.state("tweets")).unwrap();
    // The job completes only once the new run found it (a poll the killed run had in
    // flight may still reach the fake).
    let second = fake.jobs()[1].id.clone();
    let lists = || {
        fake.seen()
            .iter()
            .filter(|s| s.target.starts_with("/2/compliance/jobs?type="))
            .count()
    };
    let listed = lists();
    let running = spawn(fake, &case.args("tweets", &[]), &[]);
    wait_until("the job list", || lists() > listed).await;
    fake.set_job_status(&second, "complete");
    let (code, stderr) = finish(running);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("taking over our job"), "{stderr}");
    assert_eq!(fake.jobs().len(), 2, "no third job");
    assert_eq!(case.written(), expected_tweets()[..2].to_vec());
    case.remove();
}

/// X runs one job per type: while another client's tweets job is active, `comply` waits
/// (its creates get 409, the job is not ours), then goes on once it ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_active_job_is_waited_for() {
    let case = Case::new("wait", config(tweets_results()), &TWEET_IDS).await;
    let fake = &case.fake;
    let theirs = fake.add_job("tweets", "someone else's job");
    let running = spawn(fake, &case.args("tweets", &[]), &[]);
    let posts = || fake.seen().iter().filter(|s| s.method == "POST").count();
    wait_until("two refused creates", || posts() >= 2).await;
    assert_eq!(
        fake.jobs().len(),
        1,
        "nothing created while theirs is active"
    );
    fake.set_job_status(&theirs, "complete");
    let (code, stderr) = finish(running);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("another is active: waiting"), "{stderr}");
    assert_eq!(fake.jobs().len(), 2);
    assert_eq!(case.written(), expected_tweets());
    case.remove();
}

/// An earlier run's job still `created` whose upload window passed cannot take the ids: it
/// is waited out (X expires it) and replaced by a new job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_upload_window_passed_is_replaced() {
    let case = Case::new("window", config(tweets_results()), &TWEET_IDS).await;
    // The job a run that died before its upload left behind, under the name comply gives.
    let plan = capture::comply::ids::plan(&case.ids, 5_000_000).unwrap();
    let name = format!("tweet-capture tweets {} 1/1", &plan.fingerprint[..16]);
    let ours = case.fake.add_job("tweets", &name);
    case.fake.expire_upload_windows();
    let (code, stderr) = case.run("tweets", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("taking over our job"), "{stderr}");
    assert!(stderr.contains("upload window"), "{stderr}");
    let jobs = case.fake.jobs();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        (jobs[0].id.as_str(), jobs[0].status.as_str()),
        (ours.as_str(), "expired")
    );
    assert!(jobs[0].uploaded.is_empty());
    assert_eq!(jobs[1].uploaded, TWEET_IDS.to_vec());
    assert_eq!(case.written(), expected_tweets());
    case.remove();
}

/// More ids than one job takes: sequential jobs of at most `--max-ids-per-job` ids each
/// (never two at once: X would refuse), named part by part, every result written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_id_lists_are_split_into_sequential_jobs() {
    let mut ids = TWEET_IDS.to_vec();
    ids.push("1007");
    let case = Case::new("split", config(tweets_results()), &ids).await;
    let (code, stderr) = case.run("tweets", &["--max-ids-per-job", "3"]);
    assert_eq!(code, Some(0), "{stderr}");
    let jobs = case.fake.jobs();
    let uploads: Vec<Vec<String>> = jobs.iter().map(|j| j.uploaded.clone()).collect();
    assert_eq!(
        uploads,
        [
            vec!["1001", "1002", "1003"],
            vec!["1004", "1005", "1006"],
            vec!["1007"],
        ]
    );
    for (i, job) in jobs.iter().enumerate() {
        let name = job.name.as_deref().unwrap();
        assert!(name.ends_with(&format!(" {}/3", i + 1)), "{name}");
        assert_eq!(job.status, "complete");
    }
    assert_eq!(case.written(), expected_tweets());
    case.remove();
}

/// A job X fails (or lets expire) is a clear error, exit 3, its state kept; the next run
/// makes a new job instead of resuming the dead one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_expired_jobs_are_errors_and_the_next_run_starts_a_new_job() {
    let case = Case::new("failed", config(tweets_results()), &TWEET_IDS).await;
    for (n, ending) in ["failed", "expired"].into_iter().enumerate() {
        case.fake.end_next_job(ending);
        let (code, stderr) = case.run("tweets", &[]);
        assert_eq!(code, Some(3), "{stderr}");
        let job = &case.fake.jobs()[n];
        let says = format!("compliance job {} ended {ending}", job.id);
        assert!(stderr.contains(&says), "{stderr}");
        assert!(case.state("tweets").exists());
    }
    let (code, stderr) = case.run("tweets", &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("cannot be used: creating a new one"),
        "{stderr}"
    );
    assert_eq!(case.fake.jobs().len(), 3);
    assert_eq!(case.written(), expected_tweets());
    case.remove();
}

/// Exit codes: a file that is not ids, or missing, or a state that cannot be written is a
/// usage error (2) found before X is asked; a token X refuses and an upload too large are refusals (4), the latter saying to
/// lower --max-ids-per-job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_refusals_have_their_exit_codes() {
    let case = Case::new("codes", JobsConfig::default(), &["1001", "", "1002x"]).await;
    let (code, stderr) = case.run("tweets", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("ids.txt:3: not a tweet or user id"),
        "{stderr}"
    );
    std::fs::remove_file(&case.ids).unwrap();
    let (code, stderr) = case.run("users", &[]);
    assert_eq!(code, Some(2), "{stderr}");
    ids_file(&case.dir, &TWEET_IDS);
    let (code, stderr) = case.run("tweets", &["--state-dir", "/proc/no-such-dir"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("state file /proc/no-such-dir/"), "{stderr}");
    assert!(case.fake.seen().is_empty(), "X was not asked");

    let url = case.fake.url();
    let mut argv = vec!["comply"];
    argv.extend(case.args("tweets", &[]));
    let (code, stderr) =
        Running::spawn(&argv, &[("X_BEARER_TOKEN", "wrong"), ("X_API_URL", &url)]).wait();
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");

    case.fake.configure_jobs(JobsConfig {
        max_upload_bytes: 10,
        ..JobsConfig::default()
    });
    let (code, stderr) = case.run("tweets", &[]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(stderr.contains("lower --max-ids-per-job"), "{stderr}");
    case.remove();
}

/// `--ids s3://BUCKET/KEY` (the scheduled task's input, on moto): the object is copied
/// beside the state, checked, and the copy removed at the end; a missing key exits 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_read_from_s3() {
    let Some(moto) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let s3 = s3_client(&moto);
    let bucket = format!("capture-comply-{}", std::process::id());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let body: String = TWEET_IDS.iter().map(|i| format!("{i}\n")).collect();
    s3.put_object()
        .bucket(&bucket)
        .key("compliance/tweet-ids.txt")
        .body(body.into_bytes().into())
        .send()
        .await
        .unwrap();
    let case = Case::new("s3", config(tweets_results()), &[]).await;
    let state_dir = case.dir.join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let aws = [
        ("AWS_ENDPOINT_URL_S3", moto.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let comply = |key: &str| {
        let ids = format!("s3://{bucket}/{key}");
        let state = state_dir.to_str().unwrap();
        let args = [
            "--type",
            "tweets",
            "--ids",
            &ids,
            "--state-dir",
            state,
            "--to",
            &case.to,
        ];
        finish(spawn(&case.fake, &args, &aws))
    };
    let (code, stderr) = comply("compliance/tweet-ids.txt");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(case.written(), expected_tweets());
    assert_eq!(case.fake.jobs()[0].uploaded, TWEET_IDS.to_vec());
    let left = std::fs::read_dir(&state_dir).unwrap().count();
    assert_eq!(left, 0, "the copy and the state removed");
    let (code, stderr) = comply("nothing.txt");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("nothing.txt"), "{stderr}");
    case.remove();
}
