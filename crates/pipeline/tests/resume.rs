//! A GetObject body cut mid-way resumes with one ranged GET from the byte already consumed,
//! pinned to the object first read (`If-Match` its ETag): plain and gzip objects complete with
//! every record once, and an object changed between the cut and the resume fails the read
//! instead of being stitched. moto S3 behind `testkit::faults::BodyCutter`, osmem-server.

use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use flate2::Compression;
use flate2::write::GzEncoder;
use pipeline::{Indexer, ObjectStore, ObjectSummary, PipelineError, S3Store};
use search_sink::Config;
use std::io::Write;
use testkit::faults::{BodyCutter, CutRule};
use tokio::time::Instant;
use tweets::{Extractor, ExtractorOptions, Item};

fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .http_client(search_sink::https::aws_http_client())
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .force_path_style(true)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "resume"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn unique(name: &str) -> String {
    format!(
        "resume-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

fn samples() -> Vec<u8> {
    std::fs::read(testkit::repo_root().join("tests/samples/captured.ndjson")).unwrap()
}

struct Env {
    direct: aws_sdk_s3::Client,
    cutter: BodyCutter,
    store: S3Store,
    bucket: String,
    indexer: Indexer,
}

async fn setup(name: &str, hold: bool) -> Option<Env> {
    let osmem = testkit::peer("OSMEM_URL")?;
    let s3_url = testkit::peer("S3_ENDPOINT_URL")?;
    let bucket = unique(name);
    let direct = s3_client(&s3_url);
    direct.create_bucket().bucket(&bucket).send().await.unwrap();
    let cutter = BodyCutter::start(&s3_url, CutRule::FirstGetOf("/object".into()), hold).await;
    let store = S3Store::new(s3_client(&cutter.url));
    let mut config = Config::new(&osmem);
    config.index = bucket.clone();
    let indexer = Indexer::connect(config).await.unwrap();
    indexer.ensure_index().await.unwrap();
    Some(Env {
        direct,
        cutter,
        store,
        bucket,
        indexer,
    })
}

impl Env {
    async fn put(&self, body: Vec<u8>) {
        self.direct
            .put_object()
            .bucket(&self.bucket)
            .key("object")
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }

    async fn index(&self) -> (Result<(), PipelineError>, ObjectSummary) {
        let object = self.store.get(&self.bucket, "object").await.unwrap();
        let mut summary = ObjectSummary::new("object");
        let result = self
            .indexer
            .index_into(
                object,
                Instant::now() + Duration::from_secs(30),
                &mut summary,
            )
            .await;
        (result, summary)
    }
}

async fn resumes_once_with_every_record_once(name: &str, body: Vec<u8>) {
    let Some(env) = setup(name, false).await else {
        return;
    };
    let extractor = Extractor::new(ExtractorOptions::default());
    let items: Vec<Item> = extractor.items(&body[..]).collect();
    let documents = items
        .iter()
        .filter(|i| matches!(i, Item::Document { .. }))
        .count() as u64;
    let size = body.len() as u64;
    env.put(body).await;
    let (result, summary) = env.index().await;
    result.unwrap();
    assert_eq!(summary.resumed_reads, 1, "{summary:?}");
    assert_eq!(summary.bytes_read, size, "every byte read once");
    assert_eq!(summary.documents, documents, "{summary:?}");
    assert_eq!(summary.invalid_records, 0, "nothing stitched wrongly");
    assert_eq!(
        summary.documents
            + summary.deletes
            + summary.control_messages
            + summary.compliance_events
            + summary.invalid_records
            + summary.filtered,
        summary.records
    );
    let gets: Vec<_> = env
        .cutter
        .seen()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0].range, None);
    let range = gets[1].range.as_deref().expect("the second GET is ranged");
    let from: u64 = range
        .strip_prefix("bytes=")
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{range}"));
    assert!(from > 0 && from < size, "resumed at {from} of {size}");
    assert!(gets[1].if_match.is_some(), "pinned by ETag: {gets:?}");
}

#[tokio::test]
async fn a_plain_object_cut_mid_body_resumes_with_one_ranged_get() {
    resumes_once_with_every_record_once("plain", samples()).await;
}

#[tokio::test]
async fn a_gzip_object_cut_mid_body_resumes_below_the_decoder() {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(&samples()).unwrap();
    resumes_once_with_every_record_once("gzip", encoder.finish().unwrap()).await;
}

#[tokio::test]
async fn an_object_changed_before_the_resume_fails_instead_of_being_stitched() {
    let Some(env) = setup("changed", true).await else {
        return;
    };
    env.put(samples()).await;
    let reading = env.index();
    let changing = async {
        env.cutter.cut().await;
        let mut other = samples();
        other.reverse();
        env.put(other).await;
        env.cutter.release();
    };
    let ((result, summary), ()) = tokio::join!(reading, changing);
    let error = result.expect_err("a changed object is not stitched");
    assert!(
        matches!(error, PipelineError::Read { .. }),
        "a read error (the object is retried whole): {error}"
    );
    assert!(error.to_string().contains("resuming"), "{error}");
    assert_eq!(summary.resumed_reads, 0);
    let ranged = env
        .cutter
        .seen()
        .into_iter()
        .find(|r| r.range.is_some())
        .expect("a ranged GET was tried");
    assert!(ranged.if_match.is_some());
}
