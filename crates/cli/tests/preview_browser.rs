//! `tweet-indexer dashboards preview` rendered in a real browser: the repository's sample
//! captures are indexed into osmem-server, with one extra document per exclusion of
//! `infra/dashboards/panels.json` (a tweet in every other respect, carrying an emoji, a hashtag
//! and a place nothing else has); the page is written, Debian's headless Chromium renders it
//! (`--dump-dom`, after layout and scripts) and takes a screenshot. What the rendered page
//! shows (the totals, the pie's legend, the emoji table, the hashtags, every bar's and every
//! circle's tooltip text) must equal what the index itself answers to aggregations this test
//! writes by hand, and the screenshot must be a PNG of the window's size with something drawn.
//!
//! Chromium: `CHROMIUM` names the binary, else `chromium` on the PATH (`scripts/test` installs
//! Debian's package when it is missing). Skipped without it only when `REQUIRE_PEERS` is unset.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use scraper::{ElementRef, Html, Selector};
use serde_json::{Value, json};

const INDEX: &str = "preview-browser";
const WINDOW: (u32, u32) = (1240, 2000);
/// What only the excluded documents carry: none of it may show on the page.
const EXCLUDED_EMOJI: &str = "🧪";
const EXCLUDED_TAG: &str = "onlyinexcludeddocuments";

fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("CHROMIUM").map(PathBuf::from);
    let found = named.or_else(|| {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("chromium"))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        let required = std::env::var("REQUIRE_PEERS").is_ok_and(|v| v == "1" || v == "true");
        assert!(
            !required,
            "chromium is not installed but REQUIRE_PEERS=1: scripts/test installs Debian's package"
        );
        eprintln!("skipped: no chromium (scripts/test installs Debian's package)");
    }
    found
}

/// Headless Chromium as this machine runs it (root: no sandbox; a closed network: no
/// background connections; a fresh profile).
fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
    cmd
}

struct Index {
    client: search_sink::SearchClient,
}

impl Index {
    async fn new(url: &str) -> Index {
        let client = search_sink::SearchClient::connect(search_sink::Config::new(url))
            .await
            .expect("client");
        Index { client }
    }

    async fn call(&self, method: search_sink::Method, path: &str, body: Option<Value>) -> Value {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let response = self
            .client
            .request(method, path, bytes.as_deref())
            .await
            .expect("request");
        assert!(
            response.status < 300,
            "{path}: {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        serde_json::from_slice(&response.body).expect("JSON answer")
    }

    async fn search(&self, body: Value) -> Value {
        self.call(
            search_sink::Method::Post,
            &format!("{INDEX}/_search"),
            Some(body),
        )
        .await
    }

    async fn count(&self, query: Value) -> u64 {
        let answer = self
            .call(
                search_sink::Method::Post,
                &format!("{INDEX}/_count"),
                Some(json!({ "query": query })),
            )
            .await;
        answer["count"].as_u64().expect("count")
    }
}

/// The exclusions of panels.json, the one definition the saved objects and the page share.
fn exclusions() -> Vec<Value> {
    let text = std::fs::read_to_string(testkit::repo_root().join("infra/dashboards/panels.json"))
        .expect("panels.json");
    let panels: Value = serde_json::from_str(&text).expect("panels.json parses");
    panels["exclude"].as_array().expect("exclude").clone()
}

/// A document that would count everywhere but for `clause`.
fn excluded_document(n: usize, clause: &Value) -> Value {
    let mut doc = json!({
        "id_str": format!("99000000000000000{n}"),
        "text": "an excluded tweet",
        "timestamp_ms": 1_600_000_000_000_i64 + n as i64,
        "sentiments": "Positive",
        "emoticons": [EXCLUDED_EMOJI],
        "hashtags": [EXCLUDED_TAG],
        "coordinates": {"type": "Point", "coordinates": [-150.0, -45.0]},
    });
    if let Some(term) = clause["term"].as_object() {
        for (field, value) in term {
            doc[field] = value.clone();
        }
    } else if let Some(field) = clause["exists"]["field"].as_str() {
        doc[field] = json!(["XX"]);
    } else {
        panic!("an exclusion this test cannot stand for: {clause}");
    }
    doc
}

fn buckets(agg: &Value) -> Vec<(String, u64, &Value)> {
    agg["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            let key = match &b["key"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (key, b["doc_count"].as_u64().expect("doc_count"), b)
        })
        .collect()
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(css).expect("selector");
    doc.select(&selector).collect()
}

fn text(element: ElementRef<'_>) -> String {
    element.text().collect::<String>().trim().to_owned()
}

fn one_text(doc: &Html, css: &str) -> String {
    let found = select(doc, css);
    assert_eq!(found.len(), 1, "{css}: {} elements", found.len());
    text(found[0])
}

fn number(text: &str) -> u64 {
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a count: {text:?}"))
}

/// The text of each matching element's `<title>` child (an SVG tooltip).
fn titles(doc: &Html, css: &str) -> Vec<String> {
    select(doc, css)
        .into_iter()
        .map(|e| {
            let title = e
                .children()
                .filter_map(ElementRef::wrap)
                .find(|c| c.value().name() == "title")
                .unwrap_or_else(|| panic!("{css}: an element without a <title>"));
            text(title)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_page_shows_what_the_index_answers() {
    let Some(url) = testkit::peer("OSMEM_URL") else {
        return;
    };
    let Some(chromium) = chromium() else {
        return;
    };
    let index = Index::new(&url).await;
    let _ = index
        .client
        .request(search_sink::Method::Delete, INDEX, None)
        .await;
    let indexed = common::run_bounded(
        common::bin()
            .args(["index", "--endpoint", &url, "--index", INDEX])
            .arg(common::samples()),
    );
    assert_eq!(indexed.code, Some(0), "{}", indexed.stderr);
    let excluded = exclusions();
    assert!(!excluded.is_empty(), "panels.json leaves nothing out");
    for (n, clause) in excluded.iter().enumerate() {
        index
            .call(
                search_sink::Method::Put,
                &format!("{INDEX}/_doc/excluded-{n}"),
                Some(excluded_document(n, clause)),
            )
            .await;
    }
    index
        .call(
            search_sink::Method::Post,
            &format!("{INDEX}/_refresh"),
            None,
        )
        .await;

    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("dashboard.html");
    let wrote = common::run_bounded(
        common::bin()
            .args([
                "dashboards",
                "preview",
                "--endpoint",
                &url,
                "--index",
                INDEX,
            ])
            .arg("--out")
            .arg(&page),
    );
    assert_eq!(wrote.code, Some(0), "{}", wrote.stderr);
    let html = std::fs::read_to_string(&page).expect("the page");
    // Nothing is loaded from anywhere: the one link is the attribution's, to be followed.
    let refers = html.matches("src=\"").count() + html.matches("url(").count();
    let links = html.matches("href=\"").count();
    assert_eq!(refers, 0, "the page loads something");
    assert_eq!(
        (
            links,
            html.matches("href=\"https://www.naturalearthdata.com/\"")
                .count()
        ),
        (1, 1),
        "the page links to something besides its map's source"
    );

    let file_url = format!("file://{}", page.display());
    let dumped = common::run_bounded(
        headless(&chromium, &dir.path().join("profile-dom"))
            .arg("--dump-dom")
            .arg(&file_url),
    );
    assert_eq!(
        dumped.code,
        Some(0),
        "chromium --dump-dom: {}",
        dumped.stderr
    );
    let dom = Html::parse_document(&String::from_utf8_lossy(&dumped.stdout));
    let shown = |css: &str| one_text(&dom, css);
    assert!(
        shown("#attribution").contains("Natural Earth"),
        "the map's source is named"
    );

    // Totals.
    let not_excluded = json!({"bool": {"must_not": excluded}});
    let tweets = index.count(not_excluded.clone()).await;
    let documents = index.count(json!({"match_all": {}})).await;
    let geotagged = index
        .count(json!({"bool": {
            "must_not": excluded,
            "filter": [{"exists": {"field": "coordinates.coordinates"}}]
        }}))
        .await;
    assert!(
        tweets > 40 && geotagged > 10,
        "{tweets} tweets, {geotagged} geotagged"
    );
    assert!(documents >= tweets + excluded.len() as u64);
    assert_eq!(number(&shown("#total-tweets .value")), tweets);
    assert_eq!(number(&shown("#total-geotagged .value")), geotagged);
    assert_eq!(number(&shown("#total-left-out .value")), documents - tweets);
    assert!(
        !html.contains(EXCLUDED_EMOJI) && !html.contains(EXCLUDED_TAG),
        "an excluded document shows"
    );

    let answer = index
        .search(json!({
            "size": 0,
            "query": not_excluded,
            "aggs": {
                "sentiment": {"terms": {"field": "sentiments", "size": 3}},
                "emoji": {"terms": {"field": "sentiments", "size": 3},
                          "aggs": {"top": {"terms": {"field": "emoticons", "size": 5}}}},
                "hashtags": {"terms": {"field": "hashtags", "size": 50}},
                "places": {"geohash_grid": {"field": "coordinates.coordinates", "precision": 3}},
                "time": {"stats": {"field": "timestamp_ms"}},
            }
        }))
        .await;
    let aggs = &answer["aggregations"];

    // The pie's legend: each sentiment with its count, largest first.
    let expected: Vec<(String, u64)> = buckets(&aggs["sentiment"])
        .into_iter()
        .map(|(k, n, _)| (k, n))
        .collect();
    let legend: Vec<(String, u64)> = select(&dom, "#sentiment .legend li")
        .into_iter()
        .map(|li| {
            let part = |css: &str| {
                let found: Vec<_> = li.select(&Selector::parse(css).expect("css")).collect();
                text(found[0])
            };
            (part(".term"), number(&part(".count")))
        })
        .collect();
    assert_eq!(legend, expected, "sentiment pie");
    assert_eq!(titles(&dom, "#sentiment .slice").len(), expected.len());

    // The emoji table: per sentiment, its top 5 emoji with their counts.
    let mut expected = Vec::new();
    for (sentiment, _, bucket) in buckets(&aggs["emoji"]) {
        for (emoji, n, _) in buckets(&bucket["top"]) {
            expected.push(vec![sentiment.clone(), emoji, n.to_string()]);
        }
    }
    let rows: Vec<Vec<String>> = select(&dom, "#emoji tbody tr")
        .into_iter()
        .map(|tr| {
            tr.select(&Selector::parse("td").expect("css"))
                .map(text)
                .collect()
        })
        .collect();
    assert!(rows.len() >= 6, "{rows:?}");
    assert_eq!(rows, expected, "top emoji per sentiment");

    // Hashtags: the 50 most used, in order, each with its count as its tooltip.
    let expected: Vec<(String, String)> = buckets(&aggs["hashtags"])
        .into_iter()
        .map(|(tag, n, _)| (format!("#{tag}"), format!("{n} tweets")))
        .collect();
    let tags: Vec<(String, String)> = select(&dom, "#hashtags .tag")
        .into_iter()
        .map(|t| (text(t), t.value().attr("title").unwrap_or("").to_owned()))
        .collect();
    assert_eq!(tags, expected, "hashtag cloud");

    // The map: one circle per geohash cell, its tooltip naming the cell and its count.
    let expected: BTreeMap<String, u64> = buckets(&aggs["places"])
        .into_iter()
        .map(|(cell, n, _)| (cell, n))
        .collect();
    let circles: BTreeMap<String, u64> = titles(&dom, "#map circle.place")
        .into_iter()
        .map(|title| {
            // "N tweets around LAT, LON (geohash CELL)"
            let n = number(title.split(' ').next().unwrap_or(""));
            let cell = title
                .rsplit("(geohash ")
                .next()
                .and_then(|rest| rest.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{title}"));
            (cell.to_owned(), n)
        })
        .collect();
    assert_eq!(circles, expected, "map cells");
    assert_eq!(number(&shown("#map-tweets")), geotagged);
    assert_eq!(number(&shown("#map-places")), expected.len() as u64);

    // Tweets over time: the interval the page names, asked of the index; every bar segment's
    // tooltip is "TIME · SENTIMENT: N".
    let interval_text = shown("#interval");
    let fixed = interval_text
        .split('(')
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no interval in {interval_text:?}"))
        .to_owned();
    let over_time = index
        .search(json!({
            "size": 0,
            "query": {"bool": {"must_not": exclusions()}},
            "aggs": {"t": {
                "date_histogram": {"field": "timestamp_ms", "fixed_interval": fixed, "min_doc_count": 1},
                "aggs": {"s": {"terms": {"field": "sentiments", "size": 3}}}
            }}
        }))
        .await;
    let histogram = buckets(&over_time["aggregations"]["t"]);
    assert!(histogram.len() <= 60, "{} bars", histogram.len());
    let bars = select(&dom, "#over-time g.bar");
    assert_eq!(
        bars.len(),
        histogram.len(),
        "one bar per non-empty interval"
    );
    let mut expected = BTreeSet::new();
    for (_, _, bucket) in &histogram {
        let ms = bucket["key"].as_f64().expect("time key") as i64;
        for (sentiment, n, _) in buckets(&bucket["s"]) {
            expected.insert((ms, sentiment, n));
        }
    }
    let mut segments = BTreeSet::new();
    for bar in bars {
        let ms: i64 = bar
            .value()
            .attr("data-time")
            .and_then(|t| t.parse().ok())
            .expect("data-time");
        for rect in bar.select(&Selector::parse("rect").expect("css")) {
            let title = rect
                .select(&Selector::parse("title").expect("css"))
                .map(text)
                .next()
                .expect("a tooltip");
            // "2026-11-30 12:00 UTC · Positive: 3"
            let (_, series) = title.split_once(" \u{b7} ").expect("time · series");
            let (sentiment, n) = series.rsplit_once(": ").expect("series: count");
            segments.insert((ms, sentiment.to_owned(), number(n)));
        }
    }
    assert_eq!(segments, expected, "tweets over time");
    let sum: u64 = segments.iter().map(|(_, _, n)| n).sum();
    assert_eq!(sum, tweets, "the bars hold every tweet with a time");

    // The screenshot: a PNG of the window's size, with more than a blank page in it.
    let png = dir.path().join("dashboard.png");
    let shot = common::run_bounded(
        headless(&chromium, &dir.path().join("profile-png"))
            .arg(format!("--screenshot={}", png.display()))
            .arg(&file_url),
    );
    assert_eq!(shot.code, Some(0), "chromium --screenshot: {}", shot.stderr);
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "not a PNG"
    );
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
    assert_eq!((width, height), WINDOW, "screenshot size");
    // A blank page of this size compresses to a few KiB; the map, charts and text take far more.
    assert!(bytes.len() > 60_000, "screenshot of {} bytes", bytes.len());
}
