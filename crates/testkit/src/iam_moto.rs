//! A moto server of the test's own that enforces IAM, with one IAM user per principal whose
//! only policy is a file of `policies/` (rendered with the stack's names): the permission
//! tests run the binaries' AWS calls as those users, so a call the policy does not allow
//! fails here as it would on AWS. The server is `iam_moto.py` beside this file, run by the
//! test venv's Python (`TEST_PYTHON`); it is apart from the shared moto peer, so no other test
//! runs with IAM enforced. Dropping the handle stops it.
//!
//! What moto checks, and the two corrections `iam_moto.py` makes so that it checks what IAM
//! does (S3 permission names such as `s3:GetObjectVersion`, resources of Firehose and
//! Kinesis actions), is described there.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// moto's default account: the ARNs of the rendered policies name it.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// The stack the policies are rendered for: `tweet-indexer` with every parameter at its
/// default in infra/template.yaml.
pub const STACK: &str = "tweet-indexer";
/// The capture bucket's name (`BucketNamePrefix-ACCOUNT-REGION`).
pub const BUCKET: &str = "tweet-indexer-123456789012-us-east-1";
/// The delivery stream (`STACK-tweets`) and the created Kinesis stream (same name).
pub const DELIVERY_STREAM: &str = "tweet-indexer-tweets";
pub const KINESIS_STREAM: &str = "tweet-indexer-tweets";
/// The created archive table (`STACK-tweets-archive`) and the existing one the policy names.
pub const ARCHIVE_TABLE: &str = "tweet-indexer-tweets-archive";
pub const EXISTING_ARCHIVE_TABLE: &str = "existing-tweets-archive";

/// Values for the `${...}` placeholders of `policies/*.json`: the template's parameter
/// defaults for stack [`STACK`], and the ARNs CloudFormation would give its resources.
pub fn stack_values() -> Value {
    let arn = |service: &str, rest: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}");
    json!({
        "AWS::StackName": STACK,
        "BucketNamePrefix": "tweet-indexer",
        "FirehosePrefix": "tweets/",
        "DeadLetterPrefix": "dead-letter/",
        "BatchOperationsPrefix": "batch-operations/",
        "DomainName": "tweet-indexer",
        "IndexName": "twitter",
        "DataKey.Arn": arn("kms", "key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        "FailureQueue.Arn": arn("sqs", "tweet-indexer-FailureQueue-EXAMPLE"),
        "DeliveryStream.Arn": arn("firehose", &format!("deliverystream/{DELIVERY_STREAM}")),
        "TweetsStream.Arn": arn("kinesis", &format!("stream/{KINESIS_STREAM}")),
        "ExistingKinesisStreamArn": arn("kinesis", "stream/existing-tweets"),
        "TweetsArchive.Arn": arn("dynamodb", &format!("table/{ARCHIVE_TABLE}")),
        "ArchiveTable": EXISTING_ARCHIVE_TABLE,
        "IndexerFunction.Arn": arn("lambda", "function:tweet-indexer-indexer"),
        "SearchCollection.Arn": arn("aoss", "collection/EXAMPLEID"),
    })
}

/// An access key of one principal, and the policy it holds (as rendered).
#[derive(Debug, Clone)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub policy: Value,
}

impl Keys {
    /// The variables that make an AWS SDK (and the binaries) use these keys against
    /// `endpoint`, and nothing else of the machine's: no profile, no instance metadata.
    pub fn env(&self, endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_REGION", REGION.into()),
            ("AWS_ENDPOINT_URL", endpoint.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        ]
    }
}

/// The running server. `admin` is always there (every action allowed): the tests arrange
/// objects and read results with it, never run the code under test as it.
pub struct IamMoto {
    child: Child,
    endpoint: String,
    principals: BTreeMap<String, Keys>,
}

impl IamMoto {
    /// Starts a server for `spec`:
    ///
    /// ```json
    /// {"values": {...},                       // placeholders (see stack_values)
    ///  "buckets": [{"name": "...", "versioned": true}],
    ///  "delivery_streams": [{"name": "...", "bucket": "...", "prefix": "tweets/"}],
    ///  "kinesis_streams": ["..."],
    ///  "dynamodb_tables": ["..."],                 // keys id N hash, timestamp N range
    ///  "principals": {"lambda": ["lambda-execution.json"], "nobody": []}}
    /// ```
    ///
    /// `None` (skip) when `TEST_PYTHON` is not set, a panic under `REQUIRE_PEERS=1` (see
    /// [`crate::python`]). Panics when the server does not start.
    pub fn start(spec: &Value) -> Option<IamMoto> {
        let python = crate::python()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let spec_file = dir.path().join("spec.json");
        std::fs::write(&spec_file, spec.to_string()).expect("write spec");
        let log_file = dir.path().join("moto.log");
        let log = std::fs::File::create(&log_file).expect("log file");
        let script = crate::repo_root().join("crates/testkit/src/iam_moto.py");
        let mut child = Command::new(python)
            .arg(script)
            .arg(&spec_file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start iam_moto.py");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        // Generous: importing moto on a loaded machine takes seconds.
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_default();
        let Ok(info) = serde_json::from_str::<Value>(&line) else {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_file).unwrap_or_default();
            let tail: String = log.lines().rev().take(30).collect::<Vec<_>>().join("\n");
            panic!(
                "iam_moto.py did not start (first line {line:?}); its log, last lines first:\n{tail}"
            );
        };
        let principals = info["principals"]
            .as_object()
            .expect("principals")
            .iter()
            .map(|(name, keys)| {
                let text = |field: &str| keys[field].as_str().expect(field).to_owned();
                let keys = Keys {
                    access_key_id: text("access_key_id"),
                    secret_access_key: text("secret_access_key"),
                    policy: keys["policy"].clone(),
                };
                (name.clone(), keys)
            })
            .collect();
        Some(IamMoto {
            child,
            endpoint: info["endpoint"].as_str().expect("endpoint").to_owned(),
            principals,
        })
    }

    /// `http://127.0.0.1:PORT`: S3 (path-style), Firehose, Kinesis, DynamoDB and IAM alike.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The keys of `principal` (a name of the spec, or `admin`).
    pub fn keys(&self, principal: &str) -> &Keys {
        self.principals
            .get(principal)
            .unwrap_or_else(|| panic!("no principal {principal:?} in the spec"))
    }
}

impl Drop for IamMoto {
    fn drop(&mut self) {
        // Closing stdin ends the server; kill in case it is stuck.
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
