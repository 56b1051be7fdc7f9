//! The Firehose sink: against moto (a delivery stream with an S3 destination; every record
//! lands once, newline-terminated) and against a hand-written PutRecordBatch endpoint that
//! refuses some entries (only those are resent).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use capture::metrics::Stats;
use capture::stream::Record;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;
use common::{create_delivery_stream_to_s3, firehose_client, s3_texts};

fn records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(
                format!(r#"{{"data":{{"id":"{i}","text":"t\u00e9 {i}"}}}}"#).into_bytes(),
                Some(i.to_string()),
                None,
            )
        })
        .collect()
}

#[tokio::test]
async fn moto_firehose_receives_every_record_once_newline_terminated() {
    let Some(endpoint) = testkit::peer("S3_ENDPOINT_URL") else {
        return;
    };
    let bucket = "capture-firehose-test";
    let stream_name = "capture-test";
    let (s3, firehose) =
        create_delivery_stream_to_s3(&endpoint, stream_name, bucket, "tweets/").await;
    let mut sink = capture::sink::firehose::FirehoseSink::new(firehose, stream_name);
    let stats = Stats::default();
    // 1,203 records: three calls of at most 500.
    let mut all = records(1203);
    let oversized = Record::new(vec![b'x'; 1000 * 1024 + 5], Some("big".into()), None);
    all.push(oversized);
    sink.write(all, &stats).await;
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 1203);
    assert_eq!(
        stats.dropped.load(Ordering::Relaxed),
        1,
        "the oversized record is counted"
    );

    let mut lines = Vec::new();
    for text in s3_texts(&s3, bucket, "tweets/").await {
        assert!(text.ends_with('\n'));
        lines.extend(text.lines().map(str::to_owned));
    }
    let mut ids: Vec<usize> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["data"]["id"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..1203).collect::<Vec<_>>());
}

/// A PutRecordBatch endpoint that refuses every third entry of a call, at most twice per
/// record.
async fn flaky_firehose() -> (String, Arc<Mutex<Vec<Vec<String>>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let calls: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let failures: Arc<Mutex<std::collections::HashMap<String, u32>>> = Arc::default();
    let calls_out = Arc::clone(&calls);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let calls = Arc::clone(&calls);
            let failures = Arc::clone(&failures);
            tokio::spawn(async move {
                loop {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 65536];
                    let (head_end, length) = loop {
                        let n = socket.read(&mut tmp).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..p]).to_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (p + 4, length);
                        }
                    };
                    while buf.len() < head_end + length {
                        let n = socket.read(&mut tmp).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&tmp[..n]);
                    }
                    let request: serde_json::Value =
                        serde_json::from_slice(&buf[head_end..head_end + length]).unwrap();
                    let mut datas = Vec::new();
                    let mut responses = Vec::new();
                    let mut failed = 0;
                    for (i, r) in request["Records"].as_array().unwrap().iter().enumerate() {
                        let data = r["Data"].as_str().unwrap().to_owned();
                        let fail = i % 3 == 2 && {
                            let mut failures = failures.lock().unwrap();
                            let count = failures.entry(data.clone()).or_insert(0);
                            *count += 1;
                            *count <= 2
                        };
                        if fail {
                            failed += 1;
                            responses.push(serde_json::json!({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"}));
                        } else {
                            responses.push(serde_json::json!({"RecordId": format!("r{i}")}));
                            datas.push(data);
                        }
                    }
                    calls.lock().unwrap().push(datas);
                    let body = serde_json::json!({"FailedPutCount": failed, "Encrypted": false, "RequestResponses": responses}).to_string();
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if socket.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, calls_out)
}

#[tokio::test(start_paused = true)]
async fn only_failed_entries_are_resent() {
    let (url, calls) = flaky_firehose().await;
    let mut sink = capture::sink::firehose::FirehoseSink::new(firehose_client(&url), "s");
    let stats = Stats::default();
    sink.write(records(9), &stats).await;
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 9);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
    assert_eq!(stats.sink_failures.load(Ordering::Relaxed), 2);
    let calls = calls.lock().unwrap().clone();
    // Call 1: 9 sent, entries 2, 5, 8 refused. Call 2: those 3 resent, the third of them
    // (entry 8) refused once more. Call 3: entry 8 alone.
    let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![6, 2, 1]);
    let mut accepted: Vec<String> = calls.into_iter().flatten().collect();
    accepted.sort();
    accepted.dedup();
    assert_eq!(accepted.len(), 9, "every record accepted exactly once");
}
