//! Scaffolding shared by the capture tests: the X fake and the fault proxy in memory (for
//! tests on a paused clock, which must not wait on real sockets), and for moto: clients with
//! dummy credentials, a Firehose delivery stream into S3, and reading back what landed (S3
//! objects, Kinesis shards).
// Each test file uses some of these.
#![allow(dead_code)]

use capture::stream::{
    Answer, Body, BoxFuture, ComplianceStream, Connect, STREAM_PATH, Token, compliance_query,
    filtered_query,
};
use testkit::xfake::{MemoryBody, XFake};

/// The filtered stream of an in-memory [`XFake`], requested as `HttpStream` requests it.
pub struct MemoryX {
    fake: XFake,
    target: String,
    authorization: Option<String>,
}

impl MemoryX {
    pub fn filtered(fake: &XFake, token: &str, backfill_minutes: Option<u8>) -> MemoryX {
        MemoryX::at(fake, token, STREAM_PATH, filtered_query(backfill_minutes))
    }

    /// One partition of a compliance stream, requested as `HttpStream::compliance` does.
    pub fn compliance(
        fake: &XFake,
        token: &str,
        stream: ComplianceStream,
        partition: u8,
        backfill_minutes: Option<u8>,
    ) -> MemoryX {
        let query = compliance_query(partition, backfill_minutes);
        MemoryX::at(fake, token, stream.path(), query)
    }

    fn at(fake: &XFake, token: &str, path: &str, query: Vec<(String, String)>) -> MemoryX {
        let url = reqwest::Url::parse_with_params(&format!("http://x{path}"), query).unwrap();
        MemoryX {
            fake: fake.clone(),
            target: format!("{}?{}", url.path(), url.query().unwrap_or("")),
            authorization: Token::new(token)
                .header()
                .and_then(|h| h.to_str().ok().map(str::to_owned)),
        }
    }
}

impl Connect for MemoryX {
    fn connect(&self) -> BoxFuture<'_, Result<Answer, String>> {
        Box::pin(async move {
            let answer = self
                .fake
                .open_stream(&self.target, self.authorization.as_deref());
            let header = |name: &str| {
                answer
                    .headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            Ok(Answer {
                status: answer.status,
                gzip: header("content-encoding").as_deref() == Some("gzip"),
                rate_limit_reset: header("x-rate-limit-reset").and_then(|v| v.parse().ok()),
                body: Box::new(MemoryChunks(answer.body)),
            })
        })
    }
}

struct MemoryChunks(MemoryBody);

impl Body for MemoryChunks {
    fn chunk(&mut self) -> BoxFuture<'_, Result<Option<bytes::Bytes>, String>> {
        Box::pin(async move {
            self.0
                .chunk()
                .await
                .map(|c| c.map(bytes::Bytes::from))
                .map_err(|e| e.to_string())
        })
    }
}

const REGION: &str = "us-east-1";

/// A client of SDK crate `$sdk` with dummy credentials, at `$endpoint`, over `$http`.
macro_rules! sdk_client {
    ($sdk:ident, $endpoint:expr, $http:expr) => {{
        use $sdk::config::{BehaviorVersion, Credentials, Region};
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .http_client($http)
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
                .endpoint_url($endpoint)
                .build(),
        )
    }};
}

/// A Firehose client over the in-memory fault proxy.
pub fn memory_firehose_client(
    http: aws_sdk_firehose::config::SharedHttpClient,
) -> aws_sdk_firehose::Client {
    sdk_client!(aws_sdk_firehose, "http://in-memory.invalid", http)
}

/// A Kinesis client over the in-memory fault proxy.
pub fn memory_kinesis_client(
    http: aws_sdk_kinesis::config::SharedHttpClient,
) -> aws_sdk_kinesis::Client {
    sdk_client!(aws_sdk_kinesis, "http://in-memory.invalid", http)
}

pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .http_client(search_sink::https::aws_http_client())
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .build(),
    )
}

pub fn firehose_client(endpoint: &str) -> aws_sdk_firehose::Client {
    sdk_client!(
        aws_sdk_firehose,
        endpoint,
        search_sink::https::aws_http_client()
    )
}

pub fn kinesis_client(endpoint: &str) -> aws_sdk_kinesis::Client {
    sdk_client!(
        aws_sdk_kinesis,
        endpoint,
        search_sink::https::aws_http_client()
    )
}

/// Creates `bucket` and a delivery stream `name` writing into it under `prefix` (moto writes
/// one object per PutRecordBatch call).
pub async fn create_delivery_stream_to_s3(
    endpoint: &str,
    name: &str,
    bucket: &str,
    prefix: &str,
) -> (aws_sdk_s3::Client, aws_sdk_firehose::Client) {
    let s3 = s3_client(endpoint);
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let firehose = firehose_client(endpoint);
    firehose
        .create_delivery_stream()
        .delivery_stream_name(name)
        .extended_s3_destination_configuration(
            aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
                .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                .role_arn("arn:aws:iam::123456789012:role/firehose")
                .prefix(prefix)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    (s3, firehose)
}

/// The bodies of the objects under `prefix`, as text.
pub async fn s3_texts(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    let mut texts = Vec::new();
    for object in listed.contents() {
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(object.key().unwrap())
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        texts.push(String::from_utf8(body.to_vec()).unwrap());
    }
    texts
}

/// Every record of one shard from its start, in order: (partition key, data).
pub async fn shard_records(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    shard: &str,
) -> Vec<(String, Vec<u8>)> {
    let mut iterator = client
        .get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator()
        .map(str::to_owned);
    let mut records = Vec::new();
    while let Some(it) = iterator.take() {
        let out = client
            .get_records()
            .shard_iterator(it)
            .limit(1000)
            .send()
            .await
            .unwrap();
        if out.records().is_empty() {
            break;
        }
        for r in out.records() {
            records.push((r.partition_key().to_owned(), r.data().as_ref().to_vec()));
        }
        iterator = out.next_shard_iterator().map(str::to_owned);
    }
    records
}

/// Every line of the completed files of a `dir://` capture, file by file in name order.
pub fn dir_lines(dir: &std::path::Path) -> Vec<String> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut lines = Vec::new();
    for path in paths {
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).unwrap()),
            &mut text,
        )
        .unwrap();
        lines.extend(text.lines().map(str::to_owned));
    }
    lines
}

/// A tracing writer into memory, so a test can read what was logged.
#[derive(Clone, Default)]
pub struct LogBuffer(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A running `tweet-capture`, its stderr read as it comes (a full pipe of logs would block
/// it mid-write).
pub struct Running {
    child: std::process::Child,
    stderr: std::thread::JoinHandle<String>,
}

impl Running {
    /// Starts the binary with `args` and these variables added to the test's.
    pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Running {
        Running::spawn_in(&std::env::temp_dir(), args, envs)
    }

    /// The same with `dir` as the working directory.
    pub fn spawn_in(dir: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> Running {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tweet-capture"))
            .args(args)
            .current_dir(dir)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut pipe, &mut text).unwrap();
            text
        });
        Running { child, stderr }
    }

    /// Whether it exited by now.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the exit, generously (a loaded machine is slow, but a hang fails): the
    /// exit code (`None` when killed by a signal) and stderr.
    pub fn wait(mut self) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code(), self.stderr.join().unwrap());
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "tweet-capture did not exit: {}",
                    self.stderr.join().unwrap()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
