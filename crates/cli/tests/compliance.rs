//! `tweet-indexer ids [--users]` and `tweet-indexer compliance sweep` against osmem-server (and
//! moto DynamoDB for the sweep's archive).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::{bin, run_bounded, samples};
use search_sink::{Config, Method, SearchClient};
use serde_json::{Value, json};
use testkit::compliance::{DAY_MS, now_ms, v1_delete};
use tweets::compliance::register::MAPPING_JSON;
use tweets::compliance::{Register, RegisterKind, Source, Subject};

fn server<'a>(url: &'a str, index: &'a str) -> [&'a str; 6] {
    ["--endpoint", url, "--index", index, "--auth", "none"]
}

/// The sample tweets: id -> author, from the dry run's bulk lines (tombstones left out).
fn sample_tweets() -> BTreeMap<u64, u64> {
    let dry = run_bounded(bin().args(["index", "--dry-run"]).arg(samples()));
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    let text = String::from_utf8(dry.stdout).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .filter_map(|pair| {
            let source: Value = serde_json::from_str(pair[1]).ok()?;
            let id = source["id_str"].as_str()?.parse().ok()?;
            Some((id, source["user"]["id"].as_u64()?))
        })
        .collect()
}

fn write_file(name: &str, lines: &[String]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cli-compliance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n")).expect("write");
    path
}

fn index_files(url: &str, index: &str, files: &[PathBuf]) {
    let out = run_bounded(
        bin()
            .arg("index")
            .args(server(url, index))
            .args(["--jobs", "1"])
            .args(files),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

#[test]
fn ids_lists_every_stored_tweet_and_author_but_the_deleted_ones() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let index = testkit::unique_name("cli-ids");
    let tweets = sample_tweets();
    // Every tweet of one author deleted, and one more tweet.
    let by_author = |author: u64| -> Vec<u64> {
        tweets
            .iter()
            .filter(|(_, a)| **a == author)
            .map(|(id, _)| *id)
            .collect()
    };
    let (&gone_author, _) = tweets
        .iter()
        .find(|(_, a)| by_author(**a).len() >= 2)
        .map(|(_, a)| (a, ()))
        .expect("an author with two tweets");
    let mut deleted = by_author(gone_author);
    let other = *tweets
        .keys()
        .find(|id| tweets[*id] != gone_author)
        .expect("another tweet");
    deleted.push(other);
    let deletes: Vec<String> = deleted
        .iter()
        .map(|id| v1_delete(*id, tweets[id], now_ms()))
        .collect();
    index_files(
        &url,
        &index,
        &[samples(), write_file("deletes.ndjson", &deletes)],
    );

    let out = run_bounded(bin().arg("ids").args(server(&url, &index)));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let listed: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect();
    // Sorted as the index sorts ids (as strings), each once, the deleted ones left out.
    let mut want: Vec<String> = tweets
        .keys()
        .filter(|id| !deleted.contains(id))
        .map(u64::to_string)
        .collect();
    want.sort();
    assert_eq!(listed, want);
    assert!(
        out.stderr
            .contains(&format!("{} tweet ids of {index}", want.len())),
        "{}",
        out.stderr
    );

    let out = run_bounded(bin().args(["ids", "--users"]).args(server(&url, &index)));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let authors: Vec<u64> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| l.parse().expect("a decimal id"))
        .collect();
    let want: Vec<u64> = tweets
        .iter()
        .filter(|(id, _)| !deleted.contains(id))
        .map(|(_, a)| *a)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(authors, want, "each author once, in order");
    assert!(!authors.contains(&gone_author));

    // An index that does not exist has no ids.
    let out = run_bounded(bin().arg("ids").args(server(&url, "cli-ids-nothing-here")));
    assert_eq!((out.code, out.stdout.len()), (Some(0), 0), "{}", out.stderr);
    assert!(out.stderr.contains("0 tweet ids"), "{}", out.stderr);
}

/// The documents of `index` by id.
async fn documents(client: &SearchClient, index: &str) -> BTreeMap<u64, Value> {
    let body = json!({"size": 1000, "query": {"match_all": {}}}).to_string();
    let r = client
        .request(
            Method::Post,
            &format!("{index}/_search"),
            Some(body.as_bytes()),
        )
        .await
        .unwrap();
    testkit::compliance::search_hits(&r.body)
        .into_iter()
        .filter_map(|h| Some((h.id.parse().ok()?, h.source)))
        .collect()
}

/// Writes `r` into `{index}_compliance` as another indexer would, after this one indexed the
/// documents it concerns: the race the sweep closes.
async fn write_register(client: &SearchClient, index: &str, r: &Register) {
    let compliance = format!("{index}_compliance");
    client
        .ensure_index(&compliance, MAPPING_JSON)
        .await
        .unwrap();
    let put = client
        .request(
            Method::Put,
            &format!(
                "{compliance}/_doc/{}?version={}&version_type=external_gte",
                r.doc_id().replace(':', "%3A"),
                r.version()
            ),
            Some(&r.to_json()),
        )
        .await
        .unwrap();
    assert!(put.status < 300, "{}", String::from_utf8_lossy(&put.body));
}

#[test]
fn sweep_applies_registers_written_behind_the_indexers_back_then_changes_nothing() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let index = testkit::unique_name("cli-sweep");
    let tweets = sample_tweets();
    index_files(&url, &index, &[samples()]);
    let mut authors: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (id, author) in &tweets {
        authors.entry(*author).or_default().push(*id);
    }
    let mut several = authors.iter().filter(|(_, ids)| ids.len() >= 2);
    let (&protected, protected_ids) = several.next().expect("an author with two tweets");
    let (&deleted, deleted_ids) = several.next().expect("another one");
    let mut singles = authors.iter().filter(|(_, ids)| ids.len() == 1);
    let withheld = singles.next().expect("an author with one tweet").1[0];
    let (&lifted_author, lifted) = singles.next().expect("another one");
    let lifted = lifted[0];
    let now = now_ms();
    let register = |subject, subject_id, kind, event_at| Register {
        subject,
        subject_id,
        kind,
        active: true,
        countries: Vec::new(),
        up_to_id: None,
        event_at,
        source: Source::Stream,
    };

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = runtime
        .block_on(SearchClient::connect(Config::new(&url)))
        .unwrap();
    runtime.block_on(async {
        let hour = 3_600_000;
        write_register(
            &client,
            &index,
            &register(Subject::User, protected, RegisterKind::Protect, now - hour),
        )
        .await;
        // Deleted 40 days ago and never reversed: X allows 30.
        write_register(
            &client,
            &index,
            &register(
                Subject::User,
                deleted,
                RegisterKind::Delete,
                now - 40 * DAY_MS,
            ),
        )
        .await;
        write_register(
            &client,
            &index,
            &Register {
                countries: vec!["DE".into()],
                ..register(Subject::Tweet, withheld, RegisterKind::Withheld, now - hour)
            },
        )
        .await;
        // A copy indexed while its author was suspended, whose unsuspend came meanwhile:
        // its fields are stale, no register holds them.
        let got = client
            .request(Method::Get, &format!("{index}/_doc/{lifted}"), None)
            .await
            .unwrap();
        let got: Value = serde_json::from_slice(&got.body).unwrap();
        let mut stale = got["_source"].clone();
        stale["suppressed"] = json!(true);
        stale["suppressed_reasons"] = json!(["user_suspend"]);
        let put = client
            .request(
                Method::Put,
                &format!(
                    "{index}/_doc/{lifted}?version={}&version_type=external_gte",
                    got["_version"]
                ),
                Some(stale.to_string().as_bytes()),
            )
            .await
            .unwrap();
        assert!(put.status < 300, "{}", String::from_utf8_lossy(&put.body));
    });
    let before = runtime.block_on(documents(&client, &index));

    let out = run_bounded(
        bin()
            .args(["compliance", "sweep"])
            .args(server(&url, &index)),
    );
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let changed = protected_ids.len() + 2;
    // The three above, and the samples' own scrub_geo.
    assert!(
        out.stderr.contains(&format!(
            "sweep: 4 active registers in {index}_compliance; "
        )) && out.stderr.contains(&format!(
            "{changed} changed, {} made tombstones",
            deleted_ids.len()
        )),
        "{}",
        out.stderr
    );
    let after = runtime.block_on(documents(&client, &index));
    for (id, doc) in &after {
        let mut want = before[id].clone();
        if protected_ids.contains(id) {
            want["suppressed"] = json!(true);
            want["suppressed_reasons"] = json!(["user_protect"]);
        } else if deleted_ids.contains(id) {
            want = json!({"deleted": true});
        } else if *id == withheld {
            want["withheld_in_countries"] = json!(["DE"]);
        } else if *id == lifted {
            let source = want.as_object_mut().unwrap();
            source.remove("suppressed");
            source.remove("suppressed_reasons");
        }
        assert_eq!(doc, &want, "{id}");
    }
    assert_eq!(after.len(), before.len());
    assert_ne!(lifted_author, protected);

    // Idempotent: nothing left to change.
    let again = run_bounded(
        bin()
            .args(["compliance", "sweep"])
            .args(server(&url, &index)),
    );
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert!(
        again
            .stderr
            .contains("0 changed, 0 made tombstones, 0 overtaken"),
        "{}",
        again.stderr
    );
    assert_eq!(runtime.block_on(documents(&client, &index)), after);
}

/// `compliance sweep` reads the archive's settings as `index` does (checked before anything is
/// connected), and a table that refuses its fixes (here: one that does not exist) fails it
/// with status 4, naming the table, as it fails `index`.
#[test]
fn a_sweep_whose_archive_table_does_not_exist_is_refused_by_name() {
    let ran = run_bounded(bin().args([
        "compliance",
        "sweep",
        "--endpoint",
        "http://127.0.0.1:9",
        "--archive-retention",
        "2y",
    ]));
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(
        ran.stderr
            .starts_with("error: --archive-retention: needs ARCHIVE_TABLE"),
        "{}",
        ran.stderr
    );
    let (Some(url), Some(moto)) = (testkit::peer("OSMEM_URL"), testkit::peer("S3_ENDPOINT_URL"))
    else {
        return;
    };
    let index = testkit::unique_name("cli-sweep-archive");
    index_files(&url, &index, &[samples()]);
    let (_, author) = sample_tweets().into_iter().next().expect("a sample tweet");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = runtime
        .block_on(SearchClient::connect(Config::new(&url)))
        .unwrap();
    // Deleted 40 days ago: the sweep makes the author's tweets tombstones, and deletes their
    // items from the archive.
    runtime.block_on(write_register(
        &client,
        &index,
        &Register {
            subject: Subject::User,
            subject_id: author,
            kind: RegisterKind::Delete,
            active: true,
            countries: Vec::new(),
            up_to_id: None,
            event_at: now_ms() - 40 * DAY_MS,
            source: Source::Stream,
        },
    ));
    let table = testkit::unique_name("no-such-table");
    let mut sweep = bin();
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL_DYNAMODB",
    ] {
        sweep.env_remove(var);
    }
    sweep
        .env("AWS_ENDPOINT_URL", &moto)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("ARCHIVE_TABLE", &table)
        .args(["compliance", "sweep"])
        .args(server(&url, &index));
    let ran = run_bounded(&mut sweep);
    assert_eq!(ran.code, Some(4), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!("archive table {table}")),
        "{}",
        ran.stderr
    );
}
