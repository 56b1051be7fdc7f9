//! The benchmarks' acknowledging server (`scripts/bench/ack_server.py`) checked against the
//! real sink: `ensure_index` and gzipped, concurrent bulks must get the answers OpenSearch
//! gives (created, then updated), and the server's counters must match what the sink sent, or
//! `scripts/bench-e2e` would measure a client that fails or retries. Needs `TEST_PYTHON`
//! (standard library only); skipped otherwise unless REQUIRE_PEERS=1.

mod common;

use common::{doc, origin, unique_index};
use search_sink::{BulkSink, Config, EnsureOutcome, Method, SearchClient};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const MAPPING: &str = include_str!("fixtures/mapping.json");
const DOCUMENTS: usize = 300;

/// The server as a child process, killed on drop.
struct AckServer {
    child: Child,
    url: String,
}

impl Drop for AckServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Option<AckServer> {
    let python = testkit::python()?;
    let script = testkit::repo_root().join("scripts/bench/ack_server.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let announced: serde_json::Value = serde_json::from_str(&line).unwrap();
    let url = announced["url"].as_str().unwrap().to_owned();
    Some(AckServer { child, url })
}

async fn stats(client: &SearchClient) -> serde_json::Value {
    let response = client
        .request(Method::Get, "_ack/stats", None)
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    serde_json::from_slice(&response.body).unwrap()
}

async fn load(client: &Arc<SearchClient>, version: usize) -> search_sink::Report {
    let mut sink = BulkSink::new(
        client.clone(),
        Instant::now() + Duration::from_secs(30),
        None,
    );
    for i in 0..DOCUMENTS {
        sink.push(doc(&format!("t{i}"), version), origin(i as u64))
            .await
            .unwrap();
    }
    sink.finish().await.unwrap()
}

#[tokio::test]
async fn answers_the_sink_as_opensearch_does_and_counts_what_it_sent() {
    let Some(server) = start() else {
        return;
    };
    let index = unique_index("ack");
    let mut config = Config::new(server.url.clone());
    config.index = index.clone();
    config.gzip = true;
    config.bulk_concurrency = 2;
    // Small bulks, so several are in flight at once.
    config.bulk_max_bytes = 4 * 1024;
    let client = Arc::new(SearchClient::connect(config).await.unwrap());

    assert_eq!(
        client.ensure_index_now(&index, MAPPING).await.unwrap(),
        EnsureOutcome::Created
    );
    assert_eq!(
        client.ensure_index_now(&index, MAPPING).await.unwrap(),
        EnsureOutcome::Existing {
            added_fields: vec![]
        }
    );
    let before = stats(&client).await;

    let first = load(&client, 7).await;
    assert_eq!(first.created, DOCUMENTS as u64, "{first:?}");
    assert_eq!((first.updated, first.retried, first.refused), (0, 0, 0));
    assert!(first.requests > 2, "{first:?}");
    let again = load(&client, 8).await;
    assert_eq!(again.updated, DOCUMENTS as u64, "{again:?}");
    assert_eq!((again.created, again.retried, again.refused), (0, 0, 0));

    let after = stats(&client).await;
    let delta = |name: &str| after[name].as_u64().unwrap() - before[name].as_u64().unwrap();
    let sent = |f: fn(&search_sink::Report) -> u64| f(&first) + f(&again);
    assert_eq!(delta("documents"), 2 * DOCUMENTS as u64);
    assert_eq!(delta("bulk_requests"), sent(|r| r.requests));
    assert_eq!(delta("gzip_requests"), sent(|r| r.requests));
    // Counted by the server after gunzip, so equal to what the sink encoded.
    assert_eq!(delta("plain_bytes"), sent(|r| r.bytes_uncompressed));
    assert_eq!(delta("wire_bytes"), sent(|r| r.bytes_sent));
    assert_eq!(after["unsupported"], 0);
    assert!(after["cpu_seconds"].as_f64().unwrap() > 0.0);

    let count = client
        .request(Method::Get, &format!("{index}/_count"), None)
        .await
        .unwrap();
    let count: serde_json::Value = serde_json::from_slice(&count.body).unwrap();
    assert_eq!(count["count"], DOCUMENTS);
}
