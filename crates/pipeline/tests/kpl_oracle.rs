//! Our KPL aggregation against AWS's own Python implementation (`aws-kinesis-agg`, in the test
//! venv): aggregates it builds decode to the same user records with ours, and aggregates we
//! build decode to the same user records with it. Needs `TEST_PYTHON`; skipped otherwise,
//! failing under `REQUIRE_PEERS=1`.

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pipeline::kpl::{self, UserRecord};
use serde_json::{Value, json};

const ORACLE: &str = r#"
import base64, json, sys
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records

request = json.load(sys.stdin)
aggregator = RecordAggregator()
built = []
for r in request["records"]:
    full = aggregator.add_user_record(r["pk"], base64.b64decode(r["data"]), r["ehk"])
    if full is not None:
        built.append(full)
rest = aggregator.clear_and_get()
if rest is not None:
    built.append(rest)
built = [base64.b64encode(a.get_contents()[2]).decode() for a in built]

event_records = [
    {"kinesis": {"kinesisSchemaVersion": "1.0", "sequenceNumber": str(i),
                 "approximateArrivalTimestamp": 1.0, "partitionKey": "agg", "data": data}}
    for i, data in enumerate(request["ours"])
]
decoded = [
    {"pk": r["kinesis"]["partitionKey"], "ehk": r["kinesis"]["explicitHashKey"],
     "data": r["kinesis"]["data"].decode(), "aggregated": r["kinesis"]["aggregated"],
     "seq": r["kinesis"]["sequenceNumber"]}
    for r in deaggregate_records(event_records)
]
json.dump({"built": built, "decoded": decoded}, sys.stdout)
"#;

fn sample_records() -> Vec<UserRecord> {
    let text =
        std::fs::read(testkit::repo_root().join("tests/samples/captured.ndjson")).expect("samples");
    let mut records: Vec<UserRecord> = text
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .take(40)
        .enumerate()
        .map(|(i, line)| UserRecord {
            partition_key: format!("user-{}", i % 7),
            explicit_hash_key: None,
            data: line.to_vec(),
        })
        .collect();
    records.push(UserRecord {
        partition_key: "user-1".into(),
        explicit_hash_key: Some("170141183460469231731687303715884105728".into()),
        data: br#"{"delete":{"status":{"id":1,"id_str":"1"}}}"#.to_vec(),
    });
    records
}

#[test]
fn aggregates_agree_with_aws_kinesis_agg_both_ways() {
    let Some(python) = testkit::python() else {
        return;
    };
    let records = sample_records();
    // Ours, in three aggregates of different sizes.
    let ours: Vec<Vec<u8>> = [&records[..1], &records[1..30], &records[30..]]
        .iter()
        .map(|chunk| kpl::aggregate(chunk))
        .collect();
    let request = json!({
        "records": records.iter().map(|r| json!({
            "pk": r.partition_key, "ehk": r.explicit_hash_key, "data": STANDARD.encode(&r.data)
        })).collect::<Vec<_>>(),
        "ours": ours.iter().map(|a| STANDARD.encode(a)).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python)
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the Python oracle");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write request");
    let output = child.wait_with_output().expect("oracle output");
    assert!(output.status.success(), "the Python oracle failed");
    let answer: Value = serde_json::from_slice(&output.stdout).expect("oracle JSON");

    // Theirs -> ours.
    let built = answer["built"].as_array().expect("built");
    assert!(!built.is_empty());
    let mut decoded = Vec::new();
    for aggregate in built {
        let bytes = STANDARD
            .decode(aggregate.as_str().expect("b64"))
            .expect("b64");
        assert!(kpl::is_aggregate(&bytes));
        decoded.extend(kpl::deaggregate(&bytes).expect("their aggregate decodes"));
    }
    assert_eq!(decoded, records);

    // Ours -> theirs: every record, aggregated (not passed through), with its own keys.
    let theirs = answer["decoded"].as_array().expect("decoded");
    assert_eq!(theirs.len(), records.len());
    let sizes = [1, 29, records.len() - 30];
    let expected_seq = sizes
        .iter()
        .enumerate()
        .flat_map(|(i, n)| std::iter::repeat_n(i.to_string(), *n));
    for ((record, theirs), seq) in records.iter().zip(theirs).zip(expected_seq) {
        assert_eq!(theirs["aggregated"], true);
        assert_eq!(theirs["seq"], seq.as_str());
        assert_eq!(theirs["pk"], record.partition_key.as_str());
        // Their reader gives a record without a hash key index the table's first key (the
        // proto2 default index 0), so only records that carry one are compared.
        if let Some(hash_key) = &record.explicit_hash_key {
            assert_eq!(theirs["ehk"], hash_key.as_str());
        }
        let data = STANDARD
            .decode(theirs["data"].as_str().expect("data"))
            .expect("b64");
        assert_eq!(data, record.data);
    }
}
