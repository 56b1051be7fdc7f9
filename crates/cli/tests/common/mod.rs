//! Helpers shared by the CLI's integration tests (each test file includes this module; not all
//! use every helper).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// `tweet-indexer`, with every variable a flag falls back to removed: flags under test must
/// not be overridden by the caller's environment.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tweet-indexer"));
    for var in [
        "ES_ENDPOINT",
        "ES_INDEX",
        "ES_AUTH",
        "DEAD_LETTER_BUCKET",
        "DEAD_LETTER_FILE",
        "BULK_GZIP",
        "BULK_CONCURRENCY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// The captured sample tweets of the repository.
pub fn samples() -> PathBuf {
    testkit::repo_root().join("tests/samples/captured.ndjson")
}

/// The tweet count of `index` (delete tombstones have no `timestamp_ms`), after a refresh,
/// through the sink's own client.
pub async fn count(url: &str, index: &str) -> u64 {
    let client = search_sink::SearchClient::connect(search_sink::Config::new(url))
        .await
        .expect("client");
    client
        .request(
            search_sink::Method::Post,
            &format!("{index}/_refresh"),
            None,
        )
        .await
        .expect("refresh");
    let response = client
        .request(
            search_sink::Method::Post,
            &format!("{index}/_count"),
            Some(br#"{"query":{"exists":{"field":"timestamp_ms"}}}"#),
        )
        .await
        .expect("count");
    let body: Value = serde_json::from_slice(&response.body).expect("count JSON");
    body["count"].as_u64().expect("count number")
}
