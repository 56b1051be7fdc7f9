//! `tweet-indexer dashboards import` against a loopback HTTP peer that answers like the
//! saved-objects import API and records what it received. (No Kibana or OpenSearch Dashboards
//! can be installed here; the request shape follows both products' documented API.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::thread;

struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves one request with `answer` (HTTP 200, JSON) and returns what it got.
fn one_shot_server(answer: &'static str) -> (String, thread::JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut request_line = String::new();
        reader.read_line(&mut request_line).expect("request line");
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .expect("content-length");
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .expect("answer");
        Received {
            request_line: request_line.trim_end().to_owned(),
            headers,
            body: String::from_utf8(body).expect("UTF-8 body"),
        }
    });
    (url, handle)
}

fn tweet_indexer() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tweet-indexer"));
    for var in ["ES_AUTH", "ES_USERNAME", "ES_PASSWORD", "ES_SIGV4_SERVICE"] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn imports_the_opensearch_dashboards_set_with_overwrite_xsrf_and_basic_auth() {
    let (url, server) = one_shot_server(r#"{"success":true,"successCount":7}"#);
    let out = tweet_indexer()
        .args([
            "dashboards",
            "import",
            "--url",
            &format!("{url}/_dashboards"),
        ])
        .args(["--username", "admin", "--password", "s3cret"])
        .output()
        .expect("run");
    let got = server.join().expect("server");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        got.request_line,
        "POST /_dashboards/api/saved_objects/_import?overwrite=true HTTP/1.1"
    );
    assert_eq!(got.header("osd-xsrf"), Some("true"));
    assert_eq!(got.header("authorization"), Some("Basic YWRtaW46czNjcmV0"));
    let content_type = got.header("content-type").expect("content type");
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .expect("multipart");
    assert!(got.body.starts_with(&format!("--{boundary}\r\n")));
    let file = std::fs::read_to_string(
        testkit::repo_root().join("infra/dashboards/opensearch-dashboards.ndjson"),
    )
    .expect("saved objects file");
    assert!(
        got.body.contains(file.trim_end()),
        "the whole NDJSON file is sent"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("imported 7 of 7 saved objects"));
}

#[test]
fn kibana_flavor_sends_the_kibana_set_and_reports_import_errors() {
    let (url, server) = one_shot_server(
        r#"{"success":false,"successCount":6,"errors":[{"id":"tweets-map","type":"map","error":{"type":"unsupported_type"}}]}"#,
    );
    let out = tweet_indexer()
        .args(["dashboards", "import", "--url", &url, "--flavor", "kibana"])
        .output()
        .expect("run");
    let got = server.join().expect("server");
    assert_eq!(out.status.code(), Some(1), "a partial import is a failure");
    assert_eq!(got.header("kbn-xsrf"), Some("true"));
    assert_eq!(got.header("authorization"), None);
    let file = std::fs::read_to_string(testkit::repo_root().join("infra/dashboards/kibana.ndjson"))
        .expect("file");
    assert!(got.body.contains(file.trim_end()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: map tweets-map: unsupported_type"),
        "{stderr}"
    );
}

/// `dashboards preview` of an index that does not exist: the server's refusal, exit 4, and no
/// page left behind.
#[test]
fn preview_of_a_missing_index_is_a_refusal_and_writes_nothing() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("page.html");
    let out = Command::new(env!("CARGO_BIN_EXE_tweet-indexer"))
        .args(["dashboards", "preview", "--endpoint", &url])
        .args(["--index", "preview-no-such-index", "--out"])
        .arg(&page)
        .env_remove("ES_AUTH")
        .env_remove("ES_INDEX")
        .output()
        .expect("run tweet-indexer");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("preview-no-such-index/_search") && stderr.contains("404"),
        "{stderr}"
    );
    assert!(!page.exists(), "a page was written");
}
