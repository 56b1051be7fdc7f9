//! The CloudFormation custom resource behind `FgacRoleMapping`: when the stack creates an
//! OpenSearch domain, `tweet-indexer-fgac-setup` (a second binary of this crate) maps the
//! indexer's IAM role to a least-privilege role of the security plugin (fine-grained access
//! control) through its REST API, signed with SigV4 as the domain's master user. That function
//! runs at deploy time only; the indexer itself is never master.
//!
//! - Create / Update: `PUT _plugins/_security/api/roles/{RoleName}` with the permissions the
//!   template gives ([`Properties`]), `PUT .../rolesmapping/{RoleName}` with the indexer role as
//!   its only backend role, and each admin principal added to the backend roles of `all_access`
//!   and `security_manager` (read, merged, written back: the entries already there, the master
//!   user's among them, stay).
//! - Delete: the role and its mapping are removed; admins stay mapped (the domain is retained
//!   and must stay administrable). A failure here is logged, not fatal: a mapping naming a
//!   deleted IAM role grants nothing, and a failed delete would leave the stack stuck.
//!
//! Every event is answered on its `ResponseURL` (a presigned S3 URL), failures included, so a
//! stack never waits for a timeout. Requests are retried on transient answers until the
//! invocation's deadline (the security plugin of a domain that just turned active may still
//! be starting).

use std::time::Duration;

use lambda_runtime::tracing;
use search_sink::{Config, Method, SearchClient, SinkError, excerpt};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

/// The security plugin's REST API.
const API: &str = "_plugins/_security/api";
/// The reserved roles an administrator is added to.
const ADMIN_ROLES: [&str; 2] = ["all_access", "security_manager"];
/// CloudFormation reads at most 4 KiB of a response; the reason is cut well below.
const MAX_REASON: usize = 1_000;

/// The custom resource's properties, as the template writes them (`ServiceToken` aside).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    /// `https://` endpoint of the domain.
    pub endpoint: String,
    /// The security plugin role to create and map, e.g. `tweet_indexer_writer`.
    pub role_name: String,
    #[serde(default)]
    pub description: String,
    /// The IAM role ARN mapped to it (the indexer's).
    pub backend_role: String,
    /// IAM ARNs added to `all_access` and `security_manager`; empty strings are skipped (the
    /// template passes an optional parameter as is).
    #[serde(default)]
    pub admin_backend_roles: Vec<String>,
    #[serde(default)]
    pub cluster_permissions: Vec<String>,
    #[serde(default)]
    pub index_permissions: Vec<IndexPermission>,
}

/// One `index_permissions` entry of the role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexPermission {
    pub index_patterns: Vec<String>,
    pub allowed_actions: Vec<String>,
}

impl Properties {
    /// The body of `PUT roles/{RoleName}`.
    pub fn role_body(&self) -> Value {
        let index_permissions: Vec<Value> = self
            .index_permissions
            .iter()
            .map(|p| json!({"index_patterns": p.index_patterns, "allowed_actions": p.allowed_actions}))
            .collect();
        json!({
            "description": self.description,
            "cluster_permissions": self.cluster_permissions,
            "index_permissions": index_permissions,
        })
    }

    fn admins(&self) -> impl Iterator<Item = &str> {
        self.admin_backend_roles
            .iter()
            .map(|a| a.trim())
            .filter(|a| !a.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum RequestType {
    Create,
    Update,
    Delete,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Event {
    request_type: RequestType,
    #[serde(rename = "ResponseURL")]
    response_url: String,
    stack_id: String,
    request_id: String,
    logical_resource_id: String,
    #[serde(default)]
    physical_resource_id: Option<String>,
    resource_properties: Properties,
}

/// Why a request to the domain did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("invalid endpoint: {0}")]
    Config(#[from] search_sink::ConfigError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("{method} {path} answered {status}: {body}")]
    Refused {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
}

/// Handles one custom resource event and answers CloudFormation on its `ResponseURL`.
/// Returns the answer sent; an error when it could not be sent (or the event names no URL to
/// send it to).
pub async fn handle(event: &Value, deadline: Instant) -> Result<Value, String> {
    let parsed: Event = match serde_json::from_value(event.clone()) {
        Ok(parsed) => parsed,
        Err(e) => {
            let reason = format!("malformed custom resource event: {e}");
            tracing::error!(%reason);
            let url = event["ResponseURL"]
                .as_str()
                .ok_or_else(|| format!("{reason}; no ResponseURL to answer on"))?;
            let physical = event["PhysicalResourceId"]
                .as_str()
                .unwrap_or("tweet-indexer-fgac")
                .to_owned();
            let answer = answer(event, "FAILED", &reason, &physical);
            send_answer(url, &answer, deadline).await?;
            return Ok(answer);
        }
    };
    let props = &parsed.resource_properties;
    let (outcome, physical) = match parsed.request_type {
        RequestType::Create | RequestType::Update => {
            (apply(props, deadline).await, props.role_name.clone())
        }
        RequestType::Delete => {
            let physical = parsed
                .physical_resource_id
                .clone()
                .unwrap_or_else(|| props.role_name.clone());
            if let Err(e) = remove(props, &physical, deadline).await {
                tracing::warn!(error = %e, role = %physical, "could not remove the role mapping; left in place");
            }
            (Ok(()), physical)
        }
    };
    let (status, reason) = match &outcome {
        Ok(()) => ("SUCCESS", String::new()),
        Err(e) => {
            tracing::error!(error = %e, "fine-grained access control setup failed");
            ("FAILED", e.to_string())
        }
    };
    let mut reply = answer(event, status, &reason, &physical);
    reply["StackId"] = json!(parsed.stack_id);
    reply["RequestId"] = json!(parsed.request_id);
    reply["LogicalResourceId"] = json!(parsed.logical_resource_id);
    send_answer(&parsed.response_url, &reply, deadline).await?;
    Ok(reply)
}

/// The response document: status, a reason cut to fit, the ids CloudFormation matches on.
fn answer(event: &Value, status: &str, reason: &str, physical: &str) -> Value {
    let mut reason: String = reason.chars().take(MAX_REASON).collect();
    if reason.is_empty() && status == "FAILED" {
        reason = "failed".into();
    }
    json!({
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": physical,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "NoEcho": false,
        "Data": {"RoleName": physical},
    })
}

/// PUTs the answer to the presigned URL, with the empty content type it was signed for;
/// retried a few times on transport errors and 5xx within the deadline.
async fn send_answer(url: &str, answer: &Value, deadline: Instant) -> Result<(), String> {
    let body = answer.to_string();
    let client = search_sink::https::reqwest_client_builder()
        .map_err(|e| format!("TLS setup: {e}"))?
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let mut last = String::from("no attempt");
    for attempt in 0..4u32 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep((Duration::from_millis(200) * 2u32.pow(attempt)).min(remaining / 2))
                .await;
        }
        let sent = client
            .put(url)
            .header("content-type", "")
            .body(body.clone())
            .timeout(Duration::from_secs(30).min(remaining))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                tracing::info!(status = %answer["Status"], "answered CloudFormation");
                return Ok(());
            }
            Ok(r) if r.status().is_server_error() => last = format!("HTTP {}", r.status()),
            Ok(r) => return Err(format!("the response URL answered HTTP {}", r.status())),
            Err(e) => last = search_sink::https::error_chain(&e),
        }
    }
    Err(format!("could not answer CloudFormation: {last}"))
}

/// The endpoint's client: SigV4 for `es` with the function's role on an AWS host (the
/// sink's own rules), nothing else of the indexer's settings. A domain that refuses
/// connections is given a few quick attempts, not the whole deadline.
fn client_config(endpoint: &str) -> Result<Config, search_sink::ConfigError> {
    let mut config = Config::from_lookup(|name| match name {
        "ES_ENDPOINT" => Some(endpoint.to_owned()),
        "ES_INDEX" | "DEAD_LETTER_BUCKET" | "DEAD_LETTER_FILE" => None,
        other => std::env::var(other).ok(),
    })?;
    config.unreachable_attempts = Some(5);
    Ok(config)
}

async fn connect(endpoint: &str) -> Result<SearchClient, SetupError> {
    Ok(SearchClient::connect(client_config(endpoint)?).await?)
}

/// Creates or updates the role, its mapping, and the admins' mappings.
async fn apply(props: &Properties, deadline: Instant) -> Result<(), SetupError> {
    let client = connect(&props.endpoint).await?;
    let role = segment(&props.role_name);
    put(
        &client,
        &format!("{API}/roles/{role}"),
        &props.role_body(),
        deadline,
    )
    .await?;
    put(
        &client,
        &format!("{API}/rolesmapping/{role}"),
        &json!({"backend_roles": [props.backend_role]}),
        deadline,
    )
    .await?;
    tracing::info!(role = %props.role_name, backend_role = %props.backend_role, "indexer role mapped");
    for admin in props.admins() {
        for reserved in ADMIN_ROLES {
            add_backend_role(&client, reserved, admin, deadline).await?;
        }
    }
    Ok(())
}

/// Adds `arn` to the backend roles of the mapping of `role`, keeping everything else in it.
async fn add_backend_role(
    client: &SearchClient,
    role: &str,
    arn: &str,
    deadline: Instant,
) -> Result<(), SetupError> {
    let path = format!("{API}/rolesmapping/{role}");
    let got = client
        .request_retrying(Method::Get, &path, None, deadline)
        .await?;
    let mut mapping = match got.status {
        200 => serde_json::from_slice::<Value>(&got.body)
            .ok()
            .and_then(|v| v.get(role).and_then(Value::as_object).cloned())
            .unwrap_or_default(),
        404 => Map::new(),
        status => {
            return Err(SetupError::Refused {
                method: "GET",
                path,
                status,
                body: excerpt(&got.body),
            });
        }
    };
    let mut backend_roles: Vec<Value> = mapping
        .get("backend_roles")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if backend_roles.iter().any(|r| r.as_str() == Some(arn)) {
        return Ok(());
    }
    backend_roles.push(json!(arn));
    // Only what the API takes back: `reserved`, `hidden` and `static` are read-only.
    mapping.retain(|key, _| {
        matches!(
            key.as_str(),
            "hosts" | "users" | "and_backend_roles" | "description"
        )
    });
    mapping.insert("backend_roles".into(), Value::Array(backend_roles));
    put(client, &path, &Value::Object(mapping), deadline).await?;
    tracing::info!(role, admin = arn, "admin mapped");
    Ok(())
}

async fn put(
    client: &SearchClient,
    path: &str,
    body: &Value,
    deadline: Instant,
) -> Result<(), SetupError> {
    let body = body.to_string();
    let answer = client
        .request_retrying(Method::Put, path, Some(body.as_bytes()), deadline)
        .await?;
    match answer.status {
        200 | 201 => Ok(()),
        status => Err(SetupError::Refused {
            method: "PUT",
            path: path.to_owned(),
            status,
            body: excerpt(&answer.body),
        }),
    }
}

/// Removes the mapping and the role named `physical` (404 counts as removed).
async fn remove(props: &Properties, physical: &str, deadline: Instant) -> Result<(), SetupError> {
    let client = connect(&props.endpoint).await?;
    let role = segment(physical);
    for path in [
        format!("{API}/rolesmapping/{role}"),
        format!("{API}/roles/{role}"),
    ] {
        let answer = client
            .request_retrying(Method::Delete, &path, None, deadline)
            .await?;
        if !matches!(answer.status, 200 | 204 | 404) {
            return Err(SetupError::Refused {
                method: "DELETE",
                path,
                status: answer.status,
                body: excerpt(&answer.body),
            });
        }
    }
    tracing::info!(role = physical, "role and mapping removed");
    Ok(())
}

/// A role name as one path segment: everything but unreserved characters encoded.
fn segment(name: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(name, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_body_is_the_security_plugin_shape() {
        let props: Properties = serde_json::from_value(json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:x",
            "Endpoint": "https://search-x.us-east-1.es.amazonaws.com",
            "RoleName": "tweet_indexer_writer",
            "Description": "d",
            "BackendRole": "arn:aws:iam::123456789012:role/indexer",
            "AdminBackendRoles": ["", " "],
            "ClusterPermissions": ["cluster:monitor/health"],
            "IndexPermissions": [{"IndexPatterns": ["twitter*"], "AllowedActions": ["indices:data/write/bulk*"]}],
        }))
        .expect("properties");
        assert_eq!(
            props.role_body(),
            json!({"description": "d", "cluster_permissions": ["cluster:monitor/health"],
                   "index_permissions": [{"index_patterns": ["twitter*"], "allowed_actions": ["indices:data/write/bulk*"]}]})
        );
        assert_eq!(props.admins().count(), 0, "empty admins are skipped");
        assert_eq!(segment("tweet_indexer_writer"), "tweet_indexer_writer");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
