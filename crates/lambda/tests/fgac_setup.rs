//! The deploy-time fine-grained access control mapping (`fgac::handle`, the custom resource
//! `FgacRoleMapping` of infra/template.yaml) against a loopback fake of the security plugin's
//! REST API that keeps roles and role mappings and records every request, and a loopback
//! stand-in for CloudFormation's presigned response URL. The properties are the template's
//! own, with the endpoint and ARNs filled in, so the role the fake receives is the one a
//! deployment would create.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tweet_indexer_lambda::fgac;

const MASTER: &str = "arn:aws:iam::123456789012:role/tweet-indexer-FgacSetupRole-EXAMPLE";
const INDEXER: &str = "arn:aws:iam::123456789012:role/tweet-indexer-IndexerRole-EXAMPLE";
const ADMIN: &str = "arn:aws:iam::123456789012:role/SearchAdmin";

/// One request as a fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    content_type: Option<String>,
    body: Value,
}

type Answer = Box<dyn Fn(&Seen, &mut BTreeMap<String, Value>) -> (u16, Value) + Send + Sync>;

/// A loopback HTTP/1.1 server (keep-alive, content-length bodies) answering by `answer`, which
/// sees the request and the server's documents (path -> JSON) and may change them.
struct Fake {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    documents: Arc<Mutex<BTreeMap<String, Value>>>,
}

impl Fake {
    async fn start(documents: BTreeMap<String, Value>, answer: Answer) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let documents = Arc::new(Mutex::new(documents));
        let answer = Arc::new(answer);
        let (s, d) = (seen.clone(), documents.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, documents, answer) = (s.clone(), d.clone(), answer.clone());
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut words = line.split_whitespace();
                        let method = words.next().unwrap_or_default().to_owned();
                        let path = words.next().unwrap_or_default().to_owned();
                        let (mut length, mut content_type) = (0usize, None);
                        loop {
                            let mut header = String::new();
                            if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                                return;
                            }
                            let header = header.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            if let Some((name, value)) = header.split_once(':') {
                                match name.trim().to_ascii_lowercase().as_str() {
                                    "content-length" => length = value.trim().parse().unwrap_or(0),
                                    "content-type" => content_type = Some(value.trim().to_owned()),
                                    _ => {}
                                }
                            }
                        }
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        let request = Seen {
                            method,
                            path,
                            content_type,
                            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                        };
                        let (status, reply) = {
                            let mut docs = documents.lock().expect("documents");
                            answer(&request, &mut docs)
                        };
                        seen.lock().expect("seen").push(request);
                        let text = reply.to_string();
                        let head = format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            text.len()
                        );
                        if write.write_all(head.as_bytes()).await.is_err()
                            || write.write_all(text.as_bytes()).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Fake {
            url,
            seen,
            documents,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }

    fn document(&self, path: &str) -> Option<Value> {
        self.documents.lock().expect("documents").get(path).cloned()
    }
}

/// The security plugin as a domain's master sees it: roles and mappings by path, the reserved
/// mappings holding the master user (with the read-only fields the API returns).
fn security_plugin() -> Answer {
    Box::new(|request, documents| {
        let path = request
            .path
            .trim_start_matches('/')
            .trim_start_matches("_plugins/_security/api/")
            .to_owned();
        let name = path.rsplit('/').next().unwrap_or_default().to_owned();
        match request.method.as_str() {
            "PUT" => {
                let created = documents.insert(path, request.body.clone()).is_none();
                if created {
                    (
                        201,
                        json!({"status": "CREATED", "message": format!("'{name}' created.")}),
                    )
                } else {
                    (
                        200,
                        json!({"status": "OK", "message": format!("'{name}' updated.")}),
                    )
                }
            }
            "GET" => match documents.get(&path) {
                Some(doc) => {
                    let mut doc = doc.clone();
                    doc["reserved"] = json!(false);
                    doc["hidden"] = json!(false);
                    (200, json!({ name: doc }))
                }
                None => (
                    404,
                    json!({"status": "NOT_FOUND", "message": format!("'{name}' not found.")}),
                ),
            },
            "DELETE" => match documents.remove(&path) {
                Some(_) => (
                    200,
                    json!({"status": "OK", "message": format!("'{name}' deleted.")}),
                ),
                None => (
                    404,
                    json!({"status": "NOT_FOUND", "message": format!("'{name}' not found.")}),
                ),
            },
            _ => (405, json!({"error": "method"})),
        }
    })
}

fn reserved_mappings() -> BTreeMap<String, Value> {
    ["all_access", "security_manager"]
        .into_iter()
        .map(|role| {
            (
                format!("rolesmapping/{role}"),
                json!({"backend_roles": [MASTER], "hosts": [], "users": [], "and_backend_roles": [],
                       "description": "Maps the master user"}),
            )
        })
        .collect()
}

/// CloudFormation's side: takes the response document.
async fn response_url() -> Fake {
    Fake::start(BTreeMap::new(), Box::new(|_, _| (200, json!({})))).await
}

/// A value of the template's custom resource properties with its intrinsics filled in.
fn resolve(value: &serde_norway::Value, endpoint: &str) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::String(s) => json!(s),
        Y::Number(n) => json!(n.to_string()), // CloudFormation sends numbers as strings
        Y::Bool(b) => json!(b.to_string()),
        Y::Sequence(items) => Value::Array(items.iter().map(|v| resolve(v, endpoint)).collect()),
        Y::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().unwrap_or("?").to_owned(), resolve(v, endpoint)))
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let arg = tagged.value.as_str().unwrap_or_default();
            match (tagged.tag.to_string().as_str(), arg) {
                ("!Sub", s) if s.contains("DomainEndpoint") => json!(endpoint),
                ("!Sub", s) => json!(s.replace("${IndexName}", "twitter")),
                ("!GetAtt", "IndexerRole.Arn") => json!(INDEXER),
                ("!GetAtt", "FgacSetupFunction.Arn") => {
                    json!("arn:aws:lambda:us-east-1:123456789012:function:tweet-indexer-fgac")
                }
                ("!Ref", "AdminPrincipalArn") => json!(ADMIN),
                (tag, arg) => panic!("unexpected {tag} {arg} in FgacRoleMapping"),
            }
        }
        Y::Null => Value::Null,
    }
}

/// The template's FgacRoleMapping properties for a domain at `endpoint`.
fn template_properties(endpoint: &str) -> Value {
    let text = std::fs::read_to_string(testkit::repo_root().join("infra/template.yaml"))
        .expect("infra/template.yaml");
    let template: serde_norway::Value = serde_norway::from_str(&text).expect("template");
    let mapping = &template["Resources"]["FgacRoleMapping"];
    assert_eq!(mapping["Type"].as_str(), Some("Custom::FgacRoleMapping"));
    resolve(&mapping["Properties"], endpoint)
}

fn event(request_type: &str, response_url: &str, properties: Value) -> Value {
    let mut event = json!({
        "RequestType": request_type,
        "ServiceToken": properties["ServiceToken"],
        "ResponseURL": format!("{response_url}/cloudformation-custom-resource-response?X-Amz-Signature=abc"),
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/tweet-indexer/guid",
        "RequestId": "unique-request",
        "ResourceType": "Custom::FgacRoleMapping",
        "LogicalResourceId": "FgacRoleMapping",
        "ResourceProperties": properties,
    });
    if request_type != "Create" {
        event["PhysicalResourceId"] = json!("tweet_indexer_writer");
    }
    event
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// The answer CloudFormation received: exactly one PUT with an empty content type.
fn answered(cloudformation: &Fake) -> Value {
    let seen = cloudformation.seen();
    assert_eq!(seen.len(), 1, "one answer: {seen:?}");
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(
        seen[0].content_type.as_deref(),
        Some(""),
        "the URL was signed with no content type"
    );
    seen[0].body.clone()
}

#[tokio::test]
async fn create_maps_the_indexer_role_and_adds_the_admin_keeping_the_master() {
    let domain = Fake::start(reserved_mappings(), security_plugin()).await;
    let cloudformation = response_url().await;
    let properties = template_properties(&domain.url);
    let answer = fgac::handle(
        &event("Create", &cloudformation.url, properties),
        deadline(),
    )
    .await
    .expect("answered");

    let role = domain
        .document("roles/tweet_indexer_writer")
        .expect("the role");
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(
            testkit::repo_root().join("infra/fgac/tweet-indexer-writer.role.json"),
        )
        .expect("role file"),
    )
    .expect("role JSON");
    assert_eq!(role, file, "the template's role is the documented one");
    assert_eq!(
        domain.document("rolesmapping/tweet_indexer_writer"),
        Some(json!({"backend_roles": [INDEXER]}))
    );
    for reserved in ["all_access", "security_manager"] {
        let mapping = domain
            .document(&format!("rolesmapping/{reserved}"))
            .expect("mapping");
        assert_eq!(
            mapping["backend_roles"],
            json!([MASTER, ADMIN]),
            "{reserved}"
        );
        assert_eq!(mapping["description"], "Maps the master user", "kept");
        assert!(
            mapping.get("reserved").is_none(),
            "read-only fields are not sent back"
        );
    }
    let requests: Vec<(String, String)> = domain
        .seen()
        .into_iter()
        .map(|s| (s.method, s.path))
        .collect();
    let api = "/_plugins/_security/api";
    assert_eq!(
        requests,
        [
            ("PUT", format!("{api}/roles/tweet_indexer_writer")),
            ("PUT", format!("{api}/rolesmapping/tweet_indexer_writer")),
            ("GET", format!("{api}/rolesmapping/all_access")),
            ("PUT", format!("{api}/rolesmapping/all_access")),
            ("GET", format!("{api}/rolesmapping/security_manager")),
            ("PUT", format!("{api}/rolesmapping/security_manager")),
        ]
        .map(|(m, p)| (m.to_owned(), p))
    );
    let sent = answered(&cloudformation);
    assert_eq!(sent, answer);
    assert_eq!(sent["Status"], "SUCCESS", "{sent}");
    assert_eq!(sent["PhysicalResourceId"], "tweet_indexer_writer");
    assert_eq!(sent["LogicalResourceId"], "FgacRoleMapping");
    assert_eq!(sent["RequestId"], "unique-request");
    assert!(
        sent["StackId"]
            .as_str()
            .is_some_and(|s| s.contains("stack/tweet-indexer"))
    );

    // An update with the same admin adds it nowhere twice.
    let again = response_url().await;
    let update = event("Update", &again.url, template_properties(&domain.url));
    let answer = fgac::handle(&update, deadline()).await.expect("answered");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    let mapping = domain.document("rolesmapping/all_access").expect("mapping");
    assert_eq!(mapping["backend_roles"], json!([MASTER, ADMIN]));
}

#[tokio::test]
async fn a_refusal_fails_the_resource_with_the_domains_reason() {
    let domain = Fake::start(
        reserved_mappings(),
        Box::new(|_, _| {
            (403, json!({"status": "FORBIDDEN", "message": "No permission to access REST API: User arn:aws:iam::123456789012:role/x with backend roles [] does not have any access to endpoint ROLES"}))
        }),
    )
    .await;
    let cloudformation = response_url().await;
    let answer = fgac::handle(
        &event(
            "Create",
            &cloudformation.url,
            template_properties(&domain.url),
        ),
        deadline(),
    )
    .await
    .expect("answered");
    assert_eq!(answer, answered(&cloudformation));
    assert_eq!(answer["Status"], "FAILED");
    let reason = answer["Reason"].as_str().unwrap_or_default();
    assert!(reason.contains("403"), "{reason}");
    assert!(reason.contains("does not have any access"), "{reason}");
    assert_eq!(domain.seen().len(), 1, "a refusal is not retried");
}

/// A domain that just turned active may answer 503 while its security plugin starts.
#[tokio::test]
async fn a_starting_security_plugin_is_waited_for() {
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let plugin = security_plugin();
    let domain = Fake::start(
        reserved_mappings(),
        Box::new(move |request, documents| {
            let mut n = counted.lock().expect("calls");
            *n += 1;
            if *n <= 2 {
                (503, json!({"message": "Security not initialized"}))
            } else {
                plugin(request, documents)
            }
        }),
    )
    .await;
    let cloudformation = response_url().await;
    let mut properties = template_properties(&domain.url);
    properties["AdminBackendRoles"] = json!([""]);
    let answer = fgac::handle(
        &event("Create", &cloudformation.url, properties),
        deadline(),
    )
    .await
    .expect("answered");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert!(
        domain
            .document("rolesmapping/tweet_indexer_writer")
            .is_some()
    );
    assert_eq!(
        domain.seen().len(),
        4,
        "two refusals, then the role and its mapping; no admin (the parameter was empty)"
    );
}

#[tokio::test]
async fn delete_removes_the_role_and_mapping_and_leaves_the_admins() {
    let mut documents = reserved_mappings();
    documents.insert(
        "roles/tweet_indexer_writer".into(),
        json!({"cluster_permissions": []}),
    );
    documents.insert(
        "rolesmapping/tweet_indexer_writer".into(),
        json!({"backend_roles": [INDEXER]}),
    );
    documents.insert(
        "rolesmapping/all_access".into(),
        json!({"backend_roles": [MASTER, ADMIN]}),
    );
    let domain = Fake::start(documents, security_plugin()).await;
    let cloudformation = response_url().await;
    let answer = fgac::handle(
        &event(
            "Delete",
            &cloudformation.url,
            template_properties(&domain.url),
        ),
        deadline(),
    )
    .await
    .expect("answered");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["PhysicalResourceId"], "tweet_indexer_writer");
    assert!(domain.document("roles/tweet_indexer_writer").is_none());
    assert!(
        domain
            .document("rolesmapping/tweet_indexer_writer")
            .is_none()
    );
    assert_eq!(
        domain.document("rolesmapping/all_access").expect("kept")["backend_roles"],
        json!([MASTER, ADMIN])
    );

    // A domain that cannot be reached on delete does not keep the stack from being deleted.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let gone = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let cloudformation = response_url().await;
    let answer = fgac::handle(
        &event("Delete", &cloudformation.url, template_properties(&gone)),
        Instant::now() + Duration::from_secs(5),
    )
    .await
    .expect("answered");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
}

#[tokio::test]
async fn a_malformed_event_is_answered_failed() {
    let cloudformation = response_url().await;
    let event = json!({"RequestType": "Create", "ResponseURL": format!("{}/r", cloudformation.url),
                       "StackId": "s", "RequestId": "r", "LogicalResourceId": "FgacRoleMapping",
                       "ResourceProperties": {"RoleName": "x"}});
    let answer = fgac::handle(&event, deadline()).await.expect("answered");
    assert_eq!(answer, answered(&cloudformation));
    assert_eq!(answer["Status"], "FAILED");
    assert!(
        answer["Reason"]
            .as_str()
            .is_some_and(|r| r.contains("missing field")),
        "{answer}"
    );
    assert!(
        fgac::handle(&json!({"RequestType": "Create"}), deadline())
            .await
            .is_err(),
        "no URL to answer on"
    );
}
