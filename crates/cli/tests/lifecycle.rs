//! `migrate --to month`, `index --index-partition month` and `retention apply [--dry-run]` as
//! users run them, against osmem-server: the samples indexed into one index, migrated into
//! monthly partitions behind the alias (the alias counts what the index held), indexed again
//! partitioned (nothing doubles), and the partitions past retention listed, then deleted.

mod common;
use common::{bin, count, run_bounded, samples};

fn server(url: &str, index: &str) -> Vec<String> {
    ["--auth", "none", "--endpoint", url, "--index", index]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

/// Documents behind `name`, tombstones included.
async fn all(url: &str, name: &str) -> u64 {
    let client = search_sink::SearchClient::connect(search_sink::Config::new(url))
        .await
        .expect("client");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    client.count(name, deadline).await.expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_then_index_partitioned_then_apply_retention() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let index = format!("cli-lifecycle-{}", std::process::id());
    let args = server(&url, &index);
    let ran = run_bounded(bin().arg("index").args(&args).arg(samples()));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let tweets = count(&url, &index).await;
    let documents = all(&url, &index).await;
    assert!(tweets > 50);

    // Partitioned writers are refused while the index is single, with what to do.
    let refused = run_bounded(
        bin()
            .arg("index")
            .args(&args)
            .args(["--index-partition", "month"])
            .arg(samples()),
    );
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("tweet-indexer migrate --to month"),
        "{}",
        refused.stderr
    );

    let migrated = run_bounded(bin().args(["migrate", "--to", "month"]).args(&args));
    assert_eq!(migrated.code, Some(0), "{}", migrated.stderr);
    assert!(
        migrated
            .stderr
            .contains(&format!("{documents} of {documents} documents copied")),
        "{}",
        migrated.stderr
    );
    assert!(
        migrated.stderr.contains(&format!(
            "; {index} is now their alias: set INDEX_PARTITION=month"
        )),
        "{}",
        migrated.stderr
    );
    assert_eq!(count(&url, &index).await, tweets, "through the alias");
    assert_eq!(all(&url, &index).await, documents);

    // The same input again, partitioned: every operation lands where its copy is.
    let again = run_bounded(
        bin()
            .arg("index")
            .args(&args)
            .args(["--index-partition", "month"])
            .arg(samples()),
    );
    assert_eq!(again.code, Some(0), "{}", again.stderr);
    assert_eq!(all(&url, &index).await, documents, "nothing doubled");

    // Retention: everything in the samples is years old, so 1 month removes every partition.
    let client = search_sink::SearchClient::connect(search_sink::Config::new(&url))
        .await
        .expect("client");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    let partitions = client
        .list_indices(&format!("{index}-*"), deadline)
        .await
        .expect("list");
    assert!(partitions.len() > 1, "{partitions:?}");
    let dry = run_bounded(
        bin()
            .args(["retention", "apply", "--dry-run", "--retention", "1mo"])
            .args(&args),
    );
    assert_eq!(dry.code, Some(0), "{}", dry.stderr);
    for partition in &partitions {
        assert!(
            dry.stderr
                .contains(&format!("would delete {partition} (past 1mo)")),
            "{}",
            dry.stderr
        );
    }
    assert_eq!(
        client
            .list_indices(&format!("{index}-*"), deadline)
            .await
            .expect("list"),
        partitions,
        "a dry run deletes nothing"
    );
    let applied = run_bounded(
        bin()
            .args(["retention", "apply", "--retention", "1mo"])
            .args(&args),
    );
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    assert!(
        applied.stderr.contains(&format!(
            "retention 1mo: deleted {} partitions, kept 0 partitions",
            partitions.len()
        )),
        "{}",
        applied.stderr
    );
    let left: Vec<String> = client
        .list_indices(&format!("{index}-*"), deadline)
        .await
        .expect("list");
    assert_eq!(left, Vec::<String>::new());
}
