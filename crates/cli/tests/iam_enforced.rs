//! `tweet-indexer index s3://...` with the Lambda role's permissions and nothing else: moto
//! with IAM enforced (`testkit::iam_moto`), the binary given the keys of a user whose only
//! policy is `policies/lambda-execution.json` rendered for the stack (what docs/deploy.md
//! tells a backfill from the CLI to use), osmem-server as the search side. It lists the
//! prefix (`s3:ListBucket`), reads each object, resumes a read cut mid-body pinned to the
//! version first read (`s3:GetObjectVersion`) and writes dead letters; a prefix outside the
//! policy is refused.

mod common;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use common::{bin, count, run_bounded};
use testkit::faults::{BodyCutter, CutRule};
use testkit::iam_moto::{BUCKET, IamMoto, stack_values};

const HOUR: &str = "tweets/2026/11/23/12/";

fn admin_s3(moto: &IamMoto) -> aws_sdk_s3::Client {
    let keys = moto.keys("admin");
    let credentials = Credentials::new(
        &keys.access_key_id,
        &keys.secret_access_key,
        None,
        None,
        "iam-moto",
    );
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::Config::builder()
            .http_client(search_sink::https::aws_http_client())
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(moto.endpoint())
            .force_path_style(true)
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials)
            .build(),
    )
}

/// `tweet-indexer index` as `principal`, S3 through `s3_endpoint`, dead letters to the bucket.
fn index_as(
    moto: &IamMoto,
    principal: &str,
    s3_endpoint: &str,
    osmem: &str,
    index: &str,
    input: &str,
) -> common::Ran {
    let mut cmd = bin();
    for var in ["AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"] {
        cmd.env_remove(var);
    }
    cmd.envs(moto.keys(principal).env(s3_endpoint))
        .env("DEAD_LETTER_BUCKET", BUCKET)
        .env("DEAD_LETTER_PREFIX", "dead-letter/")
        .args([
            "index",
            "--auth",
            "none",
            "--endpoint",
            osmem,
            "--index",
            index,
        ])
        .arg(input);
    run_bounded(&mut cmd)
}

fn sample_lines() -> Vec<Vec<u8>> {
    std::fs::read(common::samples())
        .expect("samples")
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| [l, b"\n"].concat())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_from_s3_lists_reads_resumes_and_dead_letters_as_the_lambda_role() {
    let Some(osmem) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let Some(moto) = IamMoto::start(&serde_json::json!({
        "values": stack_values(),
        "buckets": [{"name": BUCKET, "versioned": true}],
        "principals": {"lambda": ["lambda-execution.json"]},
    })) else {
        return;
    };
    let admin = admin_s3(&moto);
    let lines = sample_lines();
    let (first, second) = lines.split_at(lines.len() / 2);
    let mut with_bad = first.concat();
    with_bad.extend_from_slice(b"{\"id_str\": \"123\", \"text\": \"cut off\n");
    let cut_key = format!("{HOUR}second");
    for (key, body) in [
        (format!("{HOUR}first"), with_bad),
        (cut_key.clone(), second.concat()),
    ] {
        admin
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .expect("put");
    }
    let cutter = BodyCutter::start(moto.endpoint(), CutRule::FirstGetOf(cut_key), false).await;
    let index = format!("iam-cli-{}", std::process::id());
    let prefix = format!("s3://{BUCKET}/tweets/");
    let ran = tokio::task::block_in_place(|| {
        index_as(&moto, "lambda", &cutter.url, &osmem, &index, &prefix)
    });
    // 1: one record was unusable (the cut-off one, dead-lettered); everything else is done.
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    let ranged: Vec<_> = cutter
        .seen()
        .into_iter()
        .filter(|r| r.range.is_some())
        .collect();
    assert_eq!(ranged.len(), 1, "one resumed read: {ranged:?}");
    assert!(ranged[0].target.contains("versionId="), "{ranged:?}");

    // Everything but the cut-off record is indexed, the cut-off record dead-lettered.
    let all = run_bounded(
        bin()
            .args(["index", "--auth", "none", "--endpoint", &osmem, "--index"])
            .arg(format!("{index}-local"))
            .arg(common::samples()),
    );
    assert_eq!(all.code, Some(0), "{}", all.stderr);
    assert_eq!(
        count(&osmem, &index).await,
        count(&osmem, &format!("{index}-local")).await
    );
    let letters = admin
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("dead-letter/")
        .send()
        .await
        .expect("list dead letters");
    assert_eq!(letters.contents().len(), 1, "{letters:?}");

    // The enforcement is real: the same keys cannot read outside FirehosePrefix (listing the
    // bucket is allowed, reading the object is not).
    admin
        .put_object()
        .bucket(BUCKET)
        .key("other/x")
        .body(ByteStream::from(first.concat()))
        .send()
        .await
        .expect("put");
    let refused = tokio::task::block_in_place(|| {
        index_as(
            &moto,
            "lambda",
            moto.endpoint(),
            &osmem,
            &index,
            &format!("s3://{BUCKET}/other/"),
        )
    });
    assert_eq!(refused.code, Some(4), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("AccessDenied"),
        "{}",
        refused.stderr
    );
}
