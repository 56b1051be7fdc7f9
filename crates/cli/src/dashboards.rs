//! `dashboards import`: uploads the saved objects of `infra/dashboards/` (index pattern,
//! visualizations, the dashboard) to Kibana or OpenSearch Dashboards through the saved-objects
//! import API, overwriting earlier versions. Authenticated like the indexer: none, basic (e.g.
//! fine-grained access control users) or SigV4 (Dashboards on an Amazon OpenSearch domain:
//! use `https://DOMAIN/_dashboards` as the URL).

use anyhow::{Context, Result, bail};
use search_sink::{Config, HeaderName, HeaderValue, Method, SearchClient};

use crate::args::{Flavor, ImportArgs};
use crate::exit::{self, Problem};
use search_sink::{ConfigError, SinkError};
use serde_json::Value;

const KIBANA: &str = include_str!("../../../infra/dashboards/kibana.ndjson");
const OPENSEARCH_DASHBOARDS: &str =
    include_str!("../../../infra/dashboards/opensearch-dashboards.ndjson");
const IMPORT_PATH: &str = "api/saved_objects/_import?overwrite=true";
const BOUNDARY: &str = "tweet-indexer-saved-objects-7d1f3c";

/// Returns whether every object was imported.
pub async fn import(args: ImportArgs) -> Result<bool> {
    let ndjson = match &args.file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?
        }
        None => match args.flavor {
            Flavor::Kibana => KIBANA.to_owned(),
            Flavor::OpensearchDashboards => OPENSEARCH_DASHBOARDS.to_owned(),
        },
    };
    let mut config = Config::from_lookup(|name| match name {
        "ES_ENDPOINT" => Some(args.url.clone()),
        "AWS_REGION" | "AWS_DEFAULT_REGION" => std::env::var(name).ok(),
        other => args.auth.lookup(other).flatten(),
    })?;
    config.unreachable_attempts = Some(crate::config::UNREACHABLE_ATTEMPTS);
    let client = SearchClient::connect(config).await?;
    let body = multipart(&ndjson);
    let content_type = HeaderValue::from_str(&format!("multipart/form-data; boundary={BOUNDARY}"))?;
    // Both products refuse API writes without their anti-CSRF header; each ignores the other's.
    let xsrf = [
        (
            HeaderName::from_static("osd-xsrf"),
            HeaderValue::from_static("true"),
        ),
        (
            HeaderName::from_static("kbn-xsrf"),
            HeaderValue::from_static("true"),
        ),
    ];
    let response = client
        .request_with(Method::Post, IMPORT_PATH, Some(&body), content_type, &xsrf)
        .await?;
    if response.status != 200 {
        return Err(refused("POST", IMPORT_PATH, &response).into());
    }
    let text = String::from_utf8_lossy(&response.body);
    let Ok(answer) = serde_json::from_str::<Value>(&text) else {
        bail!(
            "POST {IMPORT_PATH}: the answer is not JSON: {}",
            search_sink::excerpt(&response.body)
        );
    };
    let sent = ndjson.lines().filter(|l| !l.trim().is_empty()).count();
    let imported = answer["successCount"].as_u64().unwrap_or(0);
    eprintln!(
        "imported {imported} of {sent} saved objects into {}",
        args.url
    );
    let errors = answer["errors"].as_array().cloned().unwrap_or_default();
    for error in &errors {
        eprintln!(
            "error: {} {}: {}",
            error["type"].as_str().unwrap_or("?"),
            error["id"].as_str().unwrap_or("?"),
            error["error"]["type"].as_str().unwrap_or("unknown")
        );
    }
    Ok(answer["success"].as_bool() == Some(true) && errors.is_empty())
}

/// An answer other than 200 to a request of Dashboards or the search server, as the error the
/// exit code classifies (`exit::sink_problem`).
pub fn refused(method: &str, path: &str, response: &search_sink::RawResponse) -> SinkError {
    SinkError::Rejected {
        method: method.into(),
        path: path.into(),
        status: response.status,
        body: search_sink::excerpt(&response.body),
        unconfirmed: 0,
    }
}

/// The form the import API takes: one `file` part holding the NDJSON.
fn multipart(ndjson: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(ndjson.len() + 256);
    body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
    body.extend_from_slice(
        b"Content-Disposition: form-data; name=\"file\"; filename=\"tweet-indexer.ndjson\"\r\n",
    );
    body.extend_from_slice(b"Content-Type: application/ndjson\r\n\r\n");
    body.extend_from_slice(ndjson.as_bytes());
    if !ndjson.ends_with('\n') {
        body.push(b'\n');
    }
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// How a failed import counts in the exit code: a setting or the `--file` is the user's to
/// fix, the server's errors are sorted like the indexer's, anything else is transient.
pub fn problem(error: &anyhow::Error) -> Problem {
    if error.downcast_ref::<ConfigError>().is_some()
        || error.downcast_ref::<std::io::Error>().is_some()
    {
        Problem::Usage
    } else if let Some(sink) = error.downcast_ref::<SinkError>() {
        exit::sink_problem(sink)
    } else {
        Problem::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_sets_are_saved_objects() {
        for set in [KIBANA, OPENSEARCH_DASHBOARDS] {
            let objects: Vec<Value> = set
                .lines()
                .map(|l| serde_json::from_str(l).expect("NDJSON"))
                .collect();
            assert!(objects.iter().any(|o| o["type"] == "dashboard"));
            assert!(objects.iter().any(|o| o["type"] == "index-pattern"));
        }
    }

    #[test]
    fn the_multipart_body_carries_the_file_whole() {
        let body = String::from_utf8(multipart("{\"a\":1}\n{\"b\":2}")).expect("UTF-8");
        assert!(body.starts_with(&format!("--{BOUNDARY}\r\n")));
        assert!(body.contains("name=\"file\"; filename=\"tweet-indexer.ndjson\""));
        assert!(body.contains("\r\n\r\n{\"a\":1}\n{\"b\":2}\n\r\n"));
        assert!(body.ends_with(&format!("--{BOUNDARY}--\r\n")));
    }
}
