//! `infra/template.yaml` deploys this binary the way it runs: the function's handler, runtime,
//! architecture and cargo-lambda binary name match, and every environment variable the template
//! sets is one the binary's configuration reads, with a value it accepts (CloudFormation
//! intrinsics are replaced by realistic values: parameter defaults, a domain endpoint).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use search_sink::{Auth, Config, DeadLetterTarget, SigV4Service};
use serde_norway::Value;

fn template() -> Value {
    let path = testkit::repo_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).expect("infra/template.yaml");
    serde_norway::from_str(&text).expect("template parses as YAML")
}

fn the_function(template: &Value) -> (&str, &Value) {
    let resources = template["Resources"].as_mapping().expect("Resources");
    let functions: Vec<(&str, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter(|(_, r)| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .is_some()
        })
        .map(|(name, r)| (name.as_str().unwrap_or("?"), r))
        .collect();
    assert_eq!(
        functions.len(),
        1,
        "exactly one function is built by cargo-lambda"
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
            // The endpoint: the created domain's, or an existing one.
            "!If" => "https://search-tweets-abc123.eu-west-1.es.amazonaws.com".into(),
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

#[test]
fn every_alarm_on_the_indexer_namespace_uses_a_metric_the_binary_emits() {
    let template = template();
    let metrics =
        std::fs::read_to_string(testkit::repo_root().join("crates/lambda/src/metrics.rs"))
            .expect("metrics.rs");
    let resources = template["Resources"].as_mapping().expect("Resources");
    let alarmed: Vec<&str> = resources
        .iter()
        .filter(|(_, r)| r["Properties"]["Namespace"].as_str() == Some("TweetIndexer"))
        .filter_map(|(_, r)| r["Properties"]["MetricName"].as_str())
        .collect();
    assert!(alarmed.contains(&"MissingObjects"), "{alarmed:?}");
    assert!(alarmed.contains(&"DocumentsDeadLettered"), "{alarmed:?}");
    for name in alarmed {
        assert!(
            metrics.contains(&format!("(\"{name}\", ")),
            "alarm on {name}, which metrics.rs does not emit"
        );
    }
}
