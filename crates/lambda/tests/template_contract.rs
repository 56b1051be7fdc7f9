//! `infra/template.yaml` deploys this binary the way it runs: the function's handler, runtime,
//! architecture and cargo-lambda binary name match, and every environment variable the template
//! sets is one the binary's configuration reads, with a value it accepts (CloudFormation
//! intrinsics are replaced by realistic values: parameter defaults, a domain endpoint), and
//! every alarm on the indexer's metric namespace watches a metric, dimensions and unit that
//! the handler really writes in its EMF lines (run on objects indexed into osmem-server,
//! missing and unreadable), not a name found in its source.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pipeline::{Object, ObjectStore, SourceError};
use search_sink::{Auth, Config, DeadLetterTarget, SigV4Service};
use serde_norway::Value;
use tweet_indexer_lambda::{Handler, metrics};

fn template() -> Value {
    let path = testkit::repo_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).expect("infra/template.yaml");
    serde_norway::from_str(&text).expect("template parses as YAML")
}

/// The indexer: the one function cargo-lambda builds from `tweet-indexer-lambda` (the other,
/// `tweet-indexer-fgac-setup`, is the deploy-time custom resource).
fn the_function(template: &Value) -> (&str, &Value) {
    let resources = template["Resources"].as_mapping().expect("Resources");
    let functions: Vec<(&str, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter(|(_, r)| {
            r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some("tweet-indexer-lambda")
        })
        .map(|(name, r)| (name.as_str().unwrap_or("?"), r))
        .collect();
    assert_eq!(
        functions.len(),
        1,
        "exactly one function is built from tweet-indexer-lambda"
    );
    functions[0]
}

/// A realistic value for one environment variable's template expression.
fn resolve(value: &Value, parameters: &Value) -> String {
    match value {
        Value::String(s) if s.contains("${") => s
            .replace(
                "${BucketNamePrefix}",
                parameters["BucketNamePrefix"]["Default"]
                    .as_str()
                    .unwrap_or("x"),
            )
            .replace("${AWS::AccountId}", "111122223333")
            .replace("${AWS::Region}", "eu-west-1"),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Tagged(tagged) => match tagged.tag.to_string().as_str() {
            "!Ref" => {
                let name = tagged.value.as_str().expect("!Ref names a parameter");
                let default = &parameters[name]["Default"];
                assert!(!default.is_null(), "parameter {name} has a default");
                resolve(default, parameters)
            }
            "!Sub" => resolve(&tagged.value, parameters),
            // The default deployment's branch (SearchBackend=domain comes first); the created
            // domain's endpoint is known only once it exists.
            "!If" => {
                let first = resolve(&tagged.value[1], parameters);
                if first.contains("${") {
                    "https://search-tweets-abc123.eu-west-1.es.amazonaws.com".into()
                } else {
                    first
                }
            }
            other => panic!("unexpected intrinsic {other} in the function's environment"),
        },
        other => panic!("unexpected environment value {other:?}"),
    }
}

#[test]
fn handler_runtime_architecture_and_binary_match_this_crate() {
    let template = template();
    let (name, function) = the_function(&template);
    let props = &function["Properties"];
    assert_eq!(props["Handler"].as_str(), Some("bootstrap"), "{name}");
    assert_eq!(props["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(props["Architectures"][0].as_str(), Some("arm64"));
    assert_eq!(
        function["Metadata"]["BuildMethod"].as_str(),
        Some("rust-cargolambda")
    );
    let binary = function["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .expect("Binary");
    let built = Path::new(env!("CARGO_BIN_EXE_tweet-indexer-lambda"));
    assert_eq!(built.file_stem().and_then(|s| s.to_str()), Some(binary));
    // CodeUri is the workspace root, where cargo-lambda finds the package.
    let code_uri = props["CodeUri"].as_str().expect("CodeUri");
    let root = testkit::repo_root().join("infra").join(code_uri);
    assert!(
        root.join("Cargo.toml").is_file(),
        "{code_uri} from infra/ is the workspace"
    );
}

#[test]
fn every_template_variable_is_read_and_accepted_by_the_binary() {
    let template = template();
    let (_, function) = the_function(&template);
    let variables = function["Properties"]["Environment"]["Variables"]
        .as_mapping()
        .expect("Variables");
    let env: BTreeMap<String, String> = variables
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().expect("name").to_owned(),
                resolve(v, &template["Parameters"]),
            )
        })
        .collect();

    // The binary reads its settings through this one function (src/main.rs).
    let read = RefCell::new(BTreeSet::new());
    let config: Config = Config::from_lookup(|name| {
        read.borrow_mut().insert(name.to_owned());
        env.get(name).cloned()
    })
    .expect("the template's environment is a valid configuration");
    // The author filter is read next to it (src/main.rs); the default is no filter.
    let follow = pipeline::AuthorFilter::from_lookup(|name| {
        read.borrow_mut().insert(name.to_owned());
        env.get(name).cloned()
    })
    .expect("the template's FOLLOW_USER_IDS is a valid list");
    assert!(!follow.is_active());
    // And the lifecycle settings (src/main.rs); the defaults are one index, kept forever.
    let lifecycle = pipeline::lifecycle::Settings::from_lookup(|name| {
        read.borrow_mut().insert(name.to_owned());
        env.get(name).cloned()
    })
    .expect("the template's lifecycle settings are valid");
    assert_eq!(lifecycle, pipeline::lifecycle::Settings::default());
    // And the archive's (src/main.rs); the default deployment has none.
    let archive = pipeline::archive::ArchiveSettings::from_lookup(|name| {
        read.borrow_mut().insert(name.to_owned());
        env.get(name).cloned()
    })
    .expect("the template's archive settings are valid");
    assert_eq!(archive, None);

    let unread: Vec<&String> = env.keys().filter(|k| !read.borrow().contains(*k)).collect();
    assert!(
        unread.is_empty(),
        "the template sets variables the binary never reads: {unread:?}"
    );
    assert!(
        env.contains_key("ES_ENDPOINT"),
        "the one required variable is set"
    );
    assert!(matches!(config.auth, Auth::SigV4(ref s) if s.service == SigV4Service::Es));
    assert_eq!(config.index, "twitter");
    assert_eq!(config.bulk_max_bytes, 5 * 1024 * 1024);
    assert!(config.gzip);
    match config.dead_letter {
        Some(DeadLetterTarget::S3 { bucket, prefix }) => {
            assert_eq!(bucket, "tweet-indexer-111122223333-eu-west-1");
            assert_eq!(prefix, "dead-letter/");
        }
        other => panic!("the template configures an S3 dead-letter store, got {other:?}"),
    }
}

/// The SQS triggers in a template that do not ask for partial batch responses: without
/// `ReportBatchItemFailures` Lambda ignores the handler's `batchItemFailures` and deletes the
/// failed messages with the rest.
fn sqs_triggers_without_partial_batch_responses(template: &Value) -> Vec<String> {
    let reports = |props: &Value| {
        props["FunctionResponseTypes"]
            .as_sequence()
            .is_some_and(|types| {
                types
                    .iter()
                    .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
            })
    };
    let Some(resources) = template["Resources"].as_mapping() else {
        return vec![];
    };
    let queues: BTreeSet<&str> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::SQS::Queue"))
        .filter_map(|(name, _)| name.as_str())
        .collect();
    let mut missing = Vec::new();
    for (name, resource) in resources {
        let name = name.as_str().unwrap_or("?");
        match resource["Type"].as_str() {
            Some("AWS::Serverless::Function") => {
                for (event, spec) in resource["Properties"]["Events"]
                    .as_mapping()
                    .into_iter()
                    .flatten()
                {
                    if spec["Type"].as_str() == Some("SQS") && !reports(&spec["Properties"]) {
                        missing.push(format!("{name}.{}", event.as_str().unwrap_or("?")));
                    }
                }
            }
            Some("AWS::Lambda::EventSourceMapping") => {
                let source = format!("{:?}", resource["Properties"]["EventSourceArn"]);
                let from_queue =
                    queues.iter().any(|q| source.contains(q)) || source.contains(":sqs:");
                if from_queue && !reports(&resource["Properties"]) {
                    missing.push(name.to_owned());
                }
            }
            _ => {}
        }
    }
    missing
}

#[test]
fn every_sqs_trigger_reports_batch_item_failures() {
    let template = template();
    assert_eq!(
        sqs_triggers_without_partial_batch_responses(&template),
        Vec::<String>::new()
    );
    // The check itself catches both ways of wiring SQS.
    let broken: Value = serde_norway::from_str(
        r#"
Resources:
  Q: {Type: "AWS::SQS::Queue"}
  F:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Good: {Type: SQS, Properties: {Queue: x, FunctionResponseTypes: [ReportBatchItemFailures]}}
        Bad: {Type: SQS, Properties: {Queue: x}}
  M:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt Q.Arn
"#,
    )
    .expect("YAML");
    assert_eq!(
        sqs_triggers_without_partial_batch_responses(&broken),
        ["F.Bad", "M"]
    );
}

/// Serves the repository's sample captures under `firehose/ok`, nothing under
/// `firehose/missing`, and an unavailable store under any other key.
#[derive(Clone)]
struct SampleStore;

impl ObjectStore for SampleStore {
    async fn get(&self, bucket: &str, key: &str) -> Result<Object, SourceError> {
        let name = format!("s3://{bucket}/{key}");
        match key {
            "firehose/ok" => Ok(object(
                name,
                std::fs::read(testkit::repo_root().join("tests/samples/captured.ndjson"))
                    .expect("samples"),
            )),
            // Compliance records with their event times: the lag the 24-hour alarm watches.
            "firehose/compliance" => {
                let now = testkit::compliance::now_ms();
                let records = [
                    testkit::compliance::v2_user("user_protect", 7, now - 3_600_000),
                    testkit::compliance::v2_tweet("delete", 9, 7, now - 60_000),
                ];
                Ok(object(name, records.join("\n").into_bytes()))
            }
            "firehose/missing" => Err(SourceError::NotFound { name }),
            _ => Err(SourceError::Unavailable {
                name,
                detail: "throttled".into(),
            }),
        }
    }
}

/// An object of `body`, read from memory.
fn object(name: String, body: Vec<u8>) -> Object {
    Object::in_memory(name, body)
}

/// The EMF lines the handler writes for one S3 event naming an object that is indexed (into
/// osmem-server), one that does not exist and one the store cannot serve (every outcome), and
/// for one Kinesis batch.
async fn emitted_emf_lines(osmem: &str) -> Vec<serde_json::Value> {
    let mut config = Config::new(osmem);
    config.index = "template-contract-emf".into();
    let indexer = pipeline::Indexer::connect(config).await.expect("indexer");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let collected = lines.clone();
    let handler =
        Handler::new(SampleStore, indexer).with_metrics_writer(Arc::new(move |line: String| {
            collected.lock().unwrap().push(line)
        }));
    let mut context = lambda_runtime::Context::default();
    context.deadline = (SystemTime::now() + Duration::from_secs(60))
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    // One invocation per object (a missing one ends its invocation at once).
    for (key, succeeds) in [
        ("firehose/ok", true),
        ("firehose/compliance", true),
        ("firehose/missing", false),
        ("firehose/other", false),
    ] {
        let record = serde_json::json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
            "eventTime": "2026-11-23T12:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "tweets",
                   "bucket": {"name": "in", "ownerIdentity": {"principalId": "P"}, "arn": "arn:aws:s3:::in"},
                   "object": {"key": key, "size": 1, "eTag": "e", "sequencer": "01"}}
        });
        let outcome = handler
            .handle(serde_json::json!({ "Records": [record] }), &context)
            .await;
        assert_eq!(outcome.is_ok(), succeeds, "{key}: {outcome:?}");
    }
    // A Kinesis batch (the first records of the sample event): its line carries the Kinesis
    // trigger's own counts (`KinesisBatches*`) beside the shared ones.
    let kinesis: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(testkit::repo_root().join("events/kinesis.json")).expect("event"),
    )
    .expect("Kinesis event JSON");
    let records: Vec<serde_json::Value> = kinesis["Records"]
        .as_array()
        .expect("Records")
        .iter()
        .take(3)
        .cloned()
        .collect();
    let answer = handler
        .handle(serde_json::json!({ "Records": records }), &context)
        .await
        .expect("the Kinesis batch is answered");
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([]),
        "{answer}"
    );
    let lines = lines.lock().unwrap().clone();
    lines
        .iter()
        .map(|line| serde_json::from_str(line).expect("an EMF line is JSON"))
        .collect()
}

/// What CloudWatch makes of EMF lines: (namespace, metric, dimension names) -> unit. A metric
/// counts only where its value and every dimension are top-level members of the line, as
/// CloudWatch requires.
fn emf_metrics(lines: &[serde_json::Value]) -> BTreeMap<(String, String, Vec<String>), String> {
    let mut metrics = BTreeMap::new();
    for line in lines {
        let directives = line["_aws"]["CloudWatchMetrics"].as_array();
        for directive in directives.into_iter().flatten() {
            let namespace = directive["Namespace"].as_str().unwrap_or_default();
            for set in directive["Dimensions"].as_array().into_iter().flatten() {
                let mut names: Vec<String> = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|d| d.as_str().map(str::to_owned))
                    .collect();
                if names.iter().any(|d| !line[d.as_str()].is_string()) {
                    continue;
                }
                names.sort();
                for metric in directive["Metrics"].as_array().into_iter().flatten() {
                    let name = metric["Name"].as_str().unwrap_or_default();
                    if line[name].is_number() {
                        let unit = metric["Unit"].as_str().unwrap_or("None").to_owned();
                        let key = (namespace.to_owned(), name.to_owned(), names.clone());
                        metrics.insert(key, unit);
                    }
                }
            }
        }
    }
    metrics
}

/// Each CloudWatch alarm on the indexer's namespace watches a metric the binary really emits
/// (run through the handler, not read from its source), with the dimensions it emits it under,
/// the function's name as `FunctionName`, and the unit it uses (when the alarm names one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alarm_on_the_indexer_namespace_watches_a_metric_the_binary_emits() {
    let Some(osmem) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let template = template();
    let (function, _) = the_function(&template);
    let lines = emitted_emf_lines(&osmem).await;
    let outcomes: BTreeSet<&str> = lines.iter().filter_map(|l| l["outcome"].as_str()).collect();
    assert_eq!(
        outcomes,
        BTreeSet::from(["failed", "indexed", "missing"]),
        "one line per object, whatever its outcome: {lines:?}"
    );
    // The value is AWS_LAMBDA_FUNCTION_NAME, which Lambda sets to the name `!Ref` gives.
    let expected = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or("tweet-indexer".into());
    assert!(
        lines.iter().all(|l| l["FunctionName"] == expected.as_str()),
        "{lines:?}"
    );
    let emitted = emf_metrics(&lines);
    let resources = template["Resources"].as_mapping().expect("Resources");
    let mut alarmed = Vec::new();
    for (name, resource) in resources {
        let props = &resource["Properties"];
        if resource["Type"].as_str() != Some("AWS::CloudWatch::Alarm")
            || props["Namespace"].as_str() != Some(metrics::NAMESPACE)
        {
            continue;
        }
        let name = name.as_str().unwrap_or("?");
        let metric = props["MetricName"].as_str().expect("MetricName").to_owned();
        let mut dimensions = Vec::new();
        for dimension in props["Dimensions"].as_sequence().into_iter().flatten() {
            let dimension_name = dimension["Name"].as_str().expect("dimension name");
            if dimension_name == "FunctionName" {
                let Value::Tagged(value) = &dimension["Value"] else {
                    panic!("{name}: FunctionName is not !Ref {function}");
                };
                assert_eq!(value.tag.to_string(), "!Ref", "{name}");
                assert_eq!(value.value.as_str(), Some(function), "{name}");
            }
            dimensions.push(dimension_name.to_owned());
        }
        dimensions.sort();
        let key = (metrics::NAMESPACE.to_owned(), metric.clone(), dimensions);
        let Some(unit) = emitted.get(&key) else {
            panic!(
                "{name} watches {key:?}, which the binary does not emit; it emits {:?}",
                emitted.keys().collect::<Vec<_>>()
            );
        };
        if let Some(alarm_unit) = props["Unit"].as_str() {
            assert_eq!(alarm_unit, unit, "{name}");
        }
        alarmed.push(metric);
    }
    assert!(alarmed.iter().any(|m| m == "MissingObjects"), "{alarmed:?}");
    assert!(
        alarmed.iter().any(|m| m == "DocumentsDeadLettered"),
        "{alarmed:?}"
    );
    assert!(
        alarmed.iter().any(|m| m == "ComplianceLagMilliseconds"),
        "the 24-hour compliance alarm: {alarmed:?}"
    );
}
