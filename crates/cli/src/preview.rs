//! `dashboards preview`: the dashboard without Kibana. Runs the aggregations of
//! `infra/dashboards/panels.json` (embedded: the same file `build_dashboards.py` turns into the
//! saved objects) against the index, with the same documents left out, and writes one
//! self-contained HTML page: totals, tweets over time stacked by sentiment, the sentiment pie,
//! the top emoji per sentiment, the hashtag cloud and a world map of the geotagged tweets on
//! Natural Earth's land (`crates/cli/assets/`). Inline SVG and CSS only: the page needs no
//! network to open, and every figure it shows is text in its DOM (legends, table cells, the
//! `<title>` of each bar, slice and circle), not pixels of a canvas.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use search_sink::{Method, SearchClient};
use serde::Deserialize;
use serde_json::{Value, json};

/// The one definition of the panels (also read by `scripts/infra/build_dashboards.py`).
pub const PANELS_JSON: &str = include_str!("../../../infra/dashboards/panels.json");
/// Natural Earth's land, as an SVG path on a 720 x 360 plate carree box (`assets/README.md`).
const OUTLINE: &str = include_str!("../assets/land-110m.path");
/// The interval ladder of the time chart: the smallest step giving at most this many bars.
const MAX_BARS: u64 = 60;
/// The map draws at most this many geohash cells, the fullest (the page stays a few MiB at
/// most; the legend counts the tweets of the cells left out).
const MAX_MAP_CELLS: u32 = 5000;

/// panels.json as the preview reads it (presentation-only fields are the generator's).
#[derive(Debug, Deserialize)]
pub struct Definition {
    pub index_pattern: IndexPattern,
    /// Query clauses whose documents count nowhere (tombstones, ...): a `bool.must_not`.
    pub exclude: Vec<Value>,
    pub dashboard: Board,
    pub panels: Vec<Panel>,
}

#[derive(Debug, Deserialize)]
pub struct IndexPattern {
    pub time_field: String,
}

#[derive(Debug, Deserialize)]
pub struct Board {
    pub title: String,
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct Panel {
    pub id: String,
    pub kind: Kind,
    pub title: String,
    pub description: String,
    /// Bucket aggregations, nested in this order; every bucket counts documents.
    pub buckets: Vec<BucketAgg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Histogram,
    Pie,
    Table,
    Tagcloud,
    Map,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "agg", rename_all = "snake_case")]
pub enum BucketAgg {
    Terms {
        field: String,
        size: u32,
        label: String,
    },
    /// `interval: auto`: the preview picks one from the time range, as Kibana does.
    DateHistogram { field: String, label: String },
    GeohashGrid {
        field: String,
        precision: u8,
        centroid: bool,
    },
}

impl Definition {
    pub fn embedded() -> Result<Self> {
        serde_json::from_str(PANELS_JSON).context("the embedded infra/dashboards/panels.json")
    }

    /// The query every figure shares: everything but the excluded documents.
    pub fn query(&self) -> Value {
        json!({"bool": {"must_not": self.exclude}})
    }

    fn panel(&self, kind: Kind) -> Option<&Panel> {
        self.panels.iter().find(|p| p.kind == kind)
    }
}

/// A fixed interval of the time chart: as sent (`fixed_interval`) and its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub name: &'static str,
    pub millis: u64,
    pub words: &'static str,
}

const LADDER: [Interval; 15] = {
    const fn step(name: &'static str, seconds: u64, words: &'static str) -> Interval {
        Interval {
            name,
            millis: seconds * 1000,
            words,
        }
    }
    [
        step("1s", 1, "second"),
        step("5s", 5, "5 seconds"),
        step("10s", 10, "10 seconds"),
        step("30s", 30, "30 seconds"),
        step("1m", 60, "minute"),
        step("5m", 300, "5 minutes"),
        step("10m", 600, "10 minutes"),
        step("30m", 1800, "30 minutes"),
        step("1h", 3600, "hour"),
        step("3h", 3 * 3600, "3 hours"),
        step("12h", 12 * 3600, "12 hours"),
        step("1d", 86_400, "day"),
        step("7d", 7 * 86_400, "7 days"),
        step("30d", 30 * 86_400, "30 days"),
        step("365d", 365 * 86_400, "365 days"),
    ]
};

/// The smallest interval of the ladder that covers `first..=last` (epoch ms) in at most
/// [`MAX_BARS`] buckets (Kibana's `auto` aims at a similar count).
pub fn interval(first: i64, last: i64) -> Interval {
    let span = last.saturating_sub(first).max(0) as u64;
    LADDER
        .iter()
        .copied()
        .find(|i| span / i.millis < MAX_BARS)
        .unwrap_or(LADDER[LADDER.len() - 1])
}

/// The aggregation of one panel: its buckets nested in order (each level's child is `next`),
/// a geohash grid with its centroid when the panel asks for it.
pub fn aggregation(buckets: &[BucketAgg], step: Interval) -> Value {
    let Some((first, rest)) = buckets.split_first() else {
        return json!({});
    };
    let mut agg = match first {
        BucketAgg::Terms { field, size, .. } => json!({"terms": {"field": field, "size": size}}),
        BucketAgg::DateHistogram { field, .. } => json!({"date_histogram": {
            "field": field, "fixed_interval": step.name, "min_doc_count": 1
        }}),
        BucketAgg::GeohashGrid {
            field, precision, ..
        } => {
            json!({"geohash_grid": {"field": field, "precision": precision, "size": MAX_MAP_CELLS}})
        }
    };
    let mut children = serde_json::Map::new();
    if let BucketAgg::GeohashGrid {
        field,
        centroid: true,
        ..
    } = first
    {
        children.insert("centroid".into(), json!({"geo_centroid": {"field": field}}));
    }
    if !rest.is_empty() {
        children.insert("next".into(), aggregation(rest, step));
    }
    if !children.is_empty() {
        agg["aggs"] = Value::Object(children);
    }
    agg
}

/// One bucket of an answer, with the buckets nested under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// The key as text (a term, a geohash, the epoch ms of a time bucket).
    pub key: String,
    pub count: u64,
    /// (lat, lon) of the documents' centroid, for geohash buckets asked with one.
    pub centroid: Option<(f64, f64)>,
    pub children: Vec<Bucket>,
}

fn buckets(agg: &Value) -> Result<Vec<Bucket>> {
    let Some(list) = agg["buckets"].as_array() else {
        bail!("the answer has no buckets where an aggregation was asked: {agg}");
    };
    list.iter()
        .map(|b| {
            let key = match &b["key"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(v) => v.to_string(),
                other => bail!("a bucket key that is not a term: {other}"),
            };
            let centroid = b["centroid"]["location"]["lat"]
                .as_f64()
                .zip(b["centroid"]["location"]["lon"].as_f64());
            let children = if b.get("next").is_some() {
                buckets(&b["next"])?
            } else {
                Vec::new()
            };
            Ok(Bucket {
                key,
                count: b["doc_count"].as_u64().unwrap_or(0),
                centroid,
                children,
            })
        })
        .collect()
}

/// Everything the page shows, as the index answered it.
#[derive(Debug, Clone)]
pub struct Figures {
    pub index: String,
    /// Documents that count (tweets), and all documents in the index.
    pub tweets: u64,
    pub documents: u64,
    pub geotagged: u64,
    /// Epoch ms of the first and last tweet.
    pub span: Option<(i64, i64)>,
    pub step: Interval,
    /// Panel id -> its buckets.
    pub panels: BTreeMap<String, Vec<Bucket>>,
}

/// POSTs one search and returns its JSON answer.
async fn search(client: &SearchClient, path: &str, body: &Value) -> Result<Value> {
    let bytes = serde_json::to_vec(body)?;
    let response = client.request(Method::Post, path, Some(&bytes)).await?;
    if response.status != 200 {
        return Err(crate::dashboards::refused("POST", path, &response).into());
    }
    serde_json::from_slice(&response.body).with_context(|| {
        format!(
            "POST {path}: the answer is not JSON: {}",
            search_sink::excerpt(&response.body)
        )
    })
}

/// Asks the index for every figure: the totals and time range first (they choose the time
/// chart's interval), then every panel's aggregation in one search.
pub async fn figures(client: &SearchClient, index: &str, def: &Definition) -> Result<Figures> {
    let path = format!("{index}/_search");
    let query = def.query();
    let map_field = def.panel(Kind::Map).and_then(|p| match p.buckets.first() {
        Some(BucketAgg::GeohashGrid { field, .. }) => Some(field.clone()),
        _ => None,
    });
    let mut totals_aggs = json!({"time": {"stats": {"field": def.index_pattern.time_field}}});
    if let Some(field) = &map_field {
        totals_aggs["geotagged"] = json!({"filter": {"exists": {"field": field}}});
    }
    let totals = search(
        client,
        &path,
        &json!({"size": 0, "track_total_hits": true, "query": query, "aggs": totals_aggs}),
    )
    .await?;
    let documents = search(
        client,
        &path,
        &json!({"size": 0, "track_total_hits": true, "query": {"match_all": {}}}),
    )
    .await?;
    let total = |answer: &Value| -> Result<u64> {
        answer["hits"]["total"]["value"]
            .as_u64()
            .or_else(|| answer["hits"]["total"].as_u64())
            .with_context(|| format!("POST {path}: the answer has no hits.total"))
    };
    let stats = &totals["aggregations"]["time"];
    let span = stats["min"]
        .as_f64()
        .zip(stats["max"].as_f64())
        .map(|(a, b)| (a as i64, b as i64));
    let step = span.map_or(LADDER[8], |(a, b)| interval(a, b));
    let mut aggs = serde_json::Map::new();
    for panel in &def.panels {
        aggs.insert(panel.id.clone(), aggregation(&panel.buckets, step));
    }
    let answer = search(
        client,
        &path,
        &json!({"size": 0, "query": query, "aggs": aggs}),
    )
    .await?;
    let mut panels = BTreeMap::new();
    for panel in &def.panels {
        let found = buckets(&answer["aggregations"][&panel.id])
            .with_context(|| format!("POST {path}: panel {}", panel.id))?;
        panels.insert(panel.id.clone(), found);
    }
    Ok(Figures {
        index: index.to_owned(),
        tweets: total(&totals)?,
        documents: total(&documents)?,
        geotagged: totals["aggregations"]["geotagged"]["doc_count"]
            .as_u64()
            .unwrap_or(0),
        span,
        step,
        panels,
    })
}

/// Queries the index and writes the page to `out`; returns the figures it shows.
pub async fn write(client: &SearchClient, index: &str, out: &Path) -> Result<Figures> {
    let def = Definition::embedded()?;
    let figures = figures(client, index, &def).await?;
    let page = page(&def, &figures, SystemTime::now());
    std::fs::write(out, page.into_string()).with_context(|| format!("{}", out.display()))?;
    Ok(figures)
}

// ---- the page ----

const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, "DejaVu Sans", "Liberation Sans", sans-serif; margin: 0; background: #f5f7fa; color: #1a1c21; }
header, main, footer { max-width: 1180px; margin: 0 auto; padding: 12px 20px; }
header h1 { margin: 8px 0 2px; font-size: 24px; }
header p, footer p { margin: 2px 0; color: #535966; }
.grid { display: grid; grid-template-columns: repeat(3, 1fr); gap: 16px; }
section { background: #fff; border: 1px solid #d3dae6; border-radius: 6px; padding: 12px 16px; }
section.wide { grid-column: 1 / -1; }
section h2 { font-size: 16px; margin: 0 0 4px; }
section p.about { margin: 0 0 8px; color: #69707d; font-size: 12px; }
#totals { display: flex; gap: 16px; flex-wrap: wrap; margin: 12px 0 16px; }
.total { background: #fff; border: 1px solid #d3dae6; border-radius: 6px; padding: 10px 16px; min-width: 150px; }
.total .value { display: block; font-size: 26px; font-weight: 600; }
.total .label { color: #69707d; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eef0f3; }
td.count, th.count { text-align: right; font-variant-numeric: tabular-nums; }
td.emoji { font-size: 20px; }
.legend { list-style: none; padding: 0; margin: 8px 0 0; }
.legend li { display: flex; align-items: center; gap: 6px; }
.legend.row { display: flex; gap: 18px; }
#time-range .value { font-size: 16px; line-height: 1.6; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; }
.legend .count { margin-left: auto; font-variant-numeric: tabular-nums; }
#hashtags .cloud { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: baseline; }
#hashtags .tag { color: #006bb8; }
svg text { font: 11px system-ui, "DejaVu Sans", sans-serif; fill: #535966; }
.empty { color: #69707d; font-style: italic; }
"#;

/// Sentiment colours (Kibana's palette), then a palette for any other term.
fn colour(term: &str, index: usize) -> &'static str {
    const OTHERS: [&str; 6] = [
        "#6092C0", "#D36086", "#9170B8", "#CA8EAE", "#D6BF57", "#B9A888",
    ];
    match term {
        "Positive" => "#54B399",
        "Neutral" => "#A5A8AE",
        "Negative" => "#E7664C",
        _ => OTHERS[index % OTHERS.len()],
    }
}

/// An epoch-ms time as `2026-11-30 12:00:00 UTC` (seconds dropped when they are 0).
pub fn utc(ms: i64) -> String {
    let Ok(secs) = u64::try_from(ms.div_euclid(1000)) else {
        return format!("{ms} ms");
    };
    let text = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs))
        .to_string()
        .replacen('T', " ", 1)
        .replace('Z', " UTC");
    text.replace(":00 UTC", " UTC")
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0.0%".into();
    }
    format!("{:.1}%", 100.0 * part as f64 / whole as f64)
}

pub fn page(def: &Definition, figures: &Figures, written: SystemTime) -> Markup {
    let written_ms = written
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let left_out = figures.documents.saturating_sub(figures.tweets);
    let exclusions = def
        .exclude
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (def.dashboard.title) " - " (figures.index) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (def.dashboard.title) }
                    p { (def.dashboard.description) }
                    p id="source" {
                        "Index " code { (figures.index) } ", queried " (utc(written_ms))
                        " by tweet-indexer " (env!("CARGO_PKG_VERSION")) " with the aggregations of "
                        code { "infra/dashboards/panels.json" } " (the saved objects' own)."
                    }
                }
                main {
                    div id="totals" {
                        (total("total-tweets", figures.tweets, "tweets"))
                        (total("total-geotagged", figures.geotagged, "geotagged"))
                        (total("total-left-out", left_out, "documents left out"))
                        div.total id="time-range" {
                            span.value { @if let Some((a, b)) = figures.span { (utc(a)) br; (utc(b)) } @else { "-" } }
                            span.label { "first and last tweet" }
                        }
                    }
                    div.grid {
                        @for panel in &def.panels {
                            (section(panel, figures))
                        }
                    }
                }
                footer {
                    p { "Left out of every figure, as in the saved objects: documents matching " code { (exclusions) } " (deletes are tombstones)." }
                    p id="attribution" {
                        "Map: land from " a href="https://www.naturalearthdata.com/" { "Natural Earth" }
                        " (1:110m, public domain), via the world-atlas package (ISC licence, Michael Bostock); plate carr\u{e9}e projection."
                    }
                }
            }
        }
    }
}

fn total(id: &str, value: u64, label: &str) -> Markup {
    html! {
        div.total id=(id) { span.value { (value) } span.label { (label) } }
    }
}

fn section(panel: &Panel, figures: &Figures) -> Markup {
    let empty = Vec::new();
    let buckets = figures.panels.get(&panel.id).unwrap_or(&empty);
    let (id, wide) = match panel.kind {
        Kind::Histogram => ("over-time", true),
        Kind::Pie => ("sentiment", false),
        Kind::Table => ("emoji", false),
        Kind::Tagcloud => ("hashtags", false),
        Kind::Map => ("map", true),
    };
    html! {
        section id=(id) class=[wide.then_some("wide")] data-panel=(panel.id) {
            h2 { (panel.title) }
            p.about { (panel.description) }
            @if buckets.is_empty() {
                p.empty { "No tweets to show." }
            } @else {
                @match panel.kind {
                    Kind::Histogram => (over_time(buckets, figures)),
                    Kind::Pie => (pie(buckets)),
                    Kind::Table => (table(panel, buckets)),
                    Kind::Tagcloud => (cloud(buckets)),
                    Kind::Map => (map(buckets, figures)),
                }
            }
        }
    }
}

/// The order of series keys across all time buckets: by total count, largest first.
fn series(buckets: &[Bucket]) -> Vec<String> {
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for b in buckets {
        for c in &b.children {
            *totals.entry(&c.key).or_default() += c.count;
        }
    }
    let mut keys: Vec<(&str, u64)> = totals.into_iter().collect();
    keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    keys.into_iter().map(|(k, _)| k.to_owned()).collect()
}

/// One stacked segment of a bar: where it is drawn and what its tooltip says.
struct Segment {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    colour: &'static str,
    title: String,
}

fn over_time(buckets: &[Bucket], figures: &Figures) -> Markup {
    const W: f64 = 1100.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 40.0;
    const BOTTOM: f64 = 20.0;
    let keys = series(buckets);
    let timed: Vec<(i64, &Bucket)> = buckets
        .iter()
        .filter_map(|b| b.key.parse::<f64>().ok().map(|k| (k as i64, b)))
        .collect();
    let (Some(first), Some(last)) = (
        timed.iter().map(|(t, _)| *t).min(),
        timed.iter().map(|(t, _)| *t).max(),
    ) else {
        return html! { p.empty { "No tweets with a time." } };
    };
    let step = figures.step.millis.max(1) as i64;
    let slot = (W - LEFT) / ((last - first) / step + 1).max(1) as f64;
    let top = buckets.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let y = |n: u64| (H - BOTTOM) * (1.0 - n as f64 / top);
    let bars: Vec<(i64, Vec<Segment>)> = timed
        .iter()
        .map(|&(time, b)| {
            let x = LEFT + ((time - first) / step) as f64 * slot + slot * 0.1;
            let mut below = 0;
            let mut segments = Vec::new();
            for (i, key) in keys.iter().enumerate() {
                if let Some(c) = b.children.iter().find(|c| &c.key == key) {
                    segments.push(Segment {
                        x,
                        y: y(below + c.count),
                        width: (slot * 0.8).max(1.0),
                        height: y(below) - y(below + c.count),
                        colour: colour(key, i),
                        title: format!("{} \u{b7} {key}: {}", utc(time), c.count),
                    });
                    below += c.count;
                }
            }
            (time, segments)
        })
        .collect();
    html! {
        svg viewBox=(format!("0 0 {W} {H}")) width="100%" role="img" aria-label="Tweets over time" {
            line x1=(LEFT) y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) stroke="#98a2b3" {}
            text x=(LEFT - 4.0) y=(y(top as u64) + 10.0) text-anchor="end" { (top as u64) }
            text x=(LEFT - 4.0) y=(H - BOTTOM) text-anchor="end" { "0" }
            @for (time, segments) in &bars {
                g.bar data-time=(time) {
                    @for s in segments {
                        rect.segment x=(format!("{:.1}", s.x)) y=(format!("{:.1}", s.y))
                            width=(format!("{:.1}", s.width)) height=(format!("{:.1}", s.height)) fill=(s.colour) {
                            title { (s.title) }
                        }
                    }
                }
            }
            text x=(LEFT) y=(H - 4.0) { (utc(first)) }
            text x=(W) y=(H - 4.0) text-anchor="end" { (utc(last)) }
        }
        ul.legend.row {
            @for (i, key) in keys.iter().enumerate() {
                li { span.swatch style=(format!("background:{}", colour(key, i))) {} (key) }
            }
        }
        p.about id="interval" { "One bar per " (figures.step.words) " (" (figures.step.name) ", UTC); hover a bar for its counts." }
    }
}

/// An SVG arc path from angle `a` to `b` (radians, 0 at the top, clockwise) on a donut.
fn slice_path(a: f64, b: f64, outer: f64, inner: f64) -> String {
    let point = |r: f64, t: f64| (100.0 + r * t.sin(), 100.0 - r * t.cos());
    let large = if b - a > std::f64::consts::PI { 1 } else { 0 };
    let (x0, y0) = point(outer, a);
    let (x1, y1) = point(outer, b);
    let (x2, y2) = point(inner, b);
    let (x3, y3) = point(inner, a);
    let mut d = String::new();
    let _ = write!(
        d,
        "M{x0:.2} {y0:.2}A{outer} {outer} 0 {large} 1 {x1:.2} {y1:.2}L{x2:.2} {y2:.2}A{inner} {inner} 0 {large} 0 {x3:.2} {y3:.2}Z"
    );
    d
}

fn pie(buckets: &[Bucket]) -> Markup {
    let whole: u64 = buckets.iter().map(|b| b.count).sum();
    let mut start = 0.0;
    // (bucket, colour, the slice's path; None for a whole ring)
    let slices: Vec<(&Bucket, &str, Option<String>)> = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let share = b.count as f64 / whole.max(1) as f64;
            let end = start + share * std::f64::consts::TAU;
            let path = (share < 0.9999).then(|| slice_path(start, end, 95.0, 45.0));
            start = end;
            (b, colour(&b.key, i), path)
        })
        .collect();
    html! {
        svg viewBox="0 0 200 200" width="220" height="220" role="img" aria-label="Tweets by sentiment" {
            @for (b, colour, path) in &slices {
                @let title = format!("{}: {} ({})", b.key, b.count, percent(b.count, whole));
                @if let Some(d) = path {
                    path.slice d=(d) fill=(colour) { title { (title) } }
                } @else {
                    circle.slice cx="100" cy="100" r="70" fill="none" stroke=(colour) stroke-width="50" { title { (title) } }
                }
            }
        }
        ul.legend {
            @for (b, colour, _) in &slices {
                li data-term=(b.key) {
                    span.swatch style=(format!("background:{colour}")) {}
                    span.term { (b.key) }
                    span.count { (b.count) }
                    span.share { "(" (percent(b.count, whole)) ")" }
                }
            }
        }
    }
}

fn table(panel: &Panel, buckets: &[Bucket]) -> Markup {
    let labels: Vec<&str> = panel
        .buckets
        .iter()
        .map(|b| match b {
            BucketAgg::Terms { label, .. } | BucketAgg::DateHistogram { label, .. } => {
                label.as_str()
            }
            BucketAgg::GeohashGrid { .. } => "Place",
        })
        .collect();
    html! {
        table {
            thead { tr {
                @for label in &labels { th { (label) } }
                th.count { "Tweets" }
            } }
            tbody {
                @for outer in buckets {
                    @for inner in &outer.children {
                        tr {
                            td.term { (outer.key) }
                            td.emoji { (inner.key) }
                            td.count { (inner.count) }
                        }
                    }
                }
            }
        }
    }
}

fn cloud(buckets: &[Bucket]) -> Markup {
    let top = buckets.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let low = buckets.iter().map(|b| b.count).min().unwrap_or(0) as f64;
    html! {
        div.cloud {
            @for b in buckets {
                @let scale = if top > low { (b.count as f64 - low) / (top - low) } else { 1.0 };
                span.tag style=(format!("font-size:{:.0}px", 14.0 + 22.0 * scale))
                    title=(format!("{} tweets", b.count)) data-count=(b.count) { "#" (b.key) }
            }
        }
    }
}

fn map(buckets: &[Bucket], figures: &Figures) -> Markup {
    let top = buckets.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let placed: u64 = buckets.iter().map(|b| b.count).sum();
    html! {
        svg viewBox="0 0 720 360" width="100%" role="img" aria-label="Where tweets come from" {
            rect width="720" height="360" fill="#dfe9f2" {}
            path.land d=(OUTLINE) fill="#d6d3c4" stroke="#a8a496" stroke-width="0.4" {}
            @for b in buckets {
                @if let Some((lat, lon)) = b.centroid.or_else(|| geohash_centre(&b.key)) {
                    circle.place cx=(format!("{:.2}", (lon + 180.0) * 2.0)) cy=(format!("{:.2}", (90.0 - lat) * 2.0))
                        r=(format!("{:.2}", 2.0 + 10.0 * (b.count as f64 / top).sqrt()))
                        fill="#006bb8" fill-opacity="0.55" stroke="#004f88" stroke-width="0.5"
                        data-geohash=(b.key) data-count=(b.count) {
                        title { (b.count) " tweets around " (format!("{lat:.2}, {lon:.2}")) " (geohash " (b.key) ")" }
                    }
                }
            }
        }
        p.about id="map-legend" {
            span id="map-tweets" { (placed) } " geotagged tweets in " span id="map-places" { (buckets.len()) }
            " places (geohash cells, each drawn at its tweets' centroid, area by count)"
            @if placed != figures.geotagged { "; " (figures.geotagged - placed.min(figures.geotagged)) " more in cells not drawn" }
            "."
        }
    }
}

/// The centre of a geohash cell (lat, lon), for answers without a centroid.
fn geohash_centre(hash: &str) -> Option<(f64, f64)> {
    const BASE32: &[u8] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (mut lat, mut lon) = ((-90.0f64, 90.0f64), (-180.0f64, 180.0f64));
    let mut even = true;
    for c in hash.bytes() {
        let value = BASE32.iter().position(|&b| b == c)?;
        for bit in (0..5).rev() {
            let range = if even { &mut lon } else { &mut lat };
            let mid = (range.0 + range.1) / 2.0;
            if value >> bit & 1 == 1 {
                range.0 = mid;
            } else {
                range.1 = mid;
            }
            even = !even;
        }
    }
    Some(((lat.0 + lat.1) / 2.0, (lon.0 + lon.1) / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_panels_parse_and_hold_every_kind() {
        let def = Definition::embedded().expect("panels.json");
        for kind in [
            Kind::Histogram,
            Kind::Pie,
            Kind::Table,
            Kind::Tagcloud,
            Kind::Map,
        ] {
            assert!(def.panel(kind).is_some(), "{kind:?}");
        }
        for (clause, what) in [
            (json!({"term": {"deleted": true}}), "tombstones"),
            (
                json!({"term": {"suppressed": true}}),
                "suppressed documents",
            ),
            (
                json!({"exists": {"field": "withheld_in_countries"}}),
                "withheld documents",
            ),
        ] {
            assert!(
                def.exclude.contains(&clause),
                "{what} are left out: {:?}",
                def.exclude
            );
        }
    }

    #[test]
    fn buckets_nest_in_the_order_panels_json_gives() {
        let def = Definition::embedded().expect("panels.json");
        let table = def.panel(Kind::Table).expect("table");
        let step = LADDER[8];
        let agg = aggregation(&table.buckets, step);
        assert_eq!(agg["terms"]["field"], "sentiments");
        assert_eq!(agg["aggs"]["next"]["terms"]["field"], "emoticons");
        assert_eq!(agg["aggs"]["next"]["terms"]["size"], 5);
        let over_time = aggregation(&def.panel(Kind::Histogram).expect("h").buckets, step);
        assert_eq!(over_time["date_histogram"]["fixed_interval"], "1h");
        assert_eq!(over_time["aggs"]["next"]["terms"]["field"], "sentiments");
        let map = aggregation(&def.panel(Kind::Map).expect("map").buckets, step);
        assert_eq!(
            map["aggs"]["centroid"]["geo_centroid"]["field"],
            "coordinates.coordinates"
        );
    }

    #[test]
    fn the_interval_gives_at_most_sixty_bars() {
        // (span in ms, interval)
        let table: &[(i64, &str)] = &[
            (0, "1s"),
            (59_000, "1s"),
            (60_000, "5s"),
            (3_599_999, "1m"),
            (3_600_000, "5m"),
            (86_400_000, "30m"),
            (7 * 86_400_000, "3h"),
            (365 * 86_400_000, "7d"),
            (i64::MAX, "365d"),
        ];
        for &(span, name) in table {
            assert_eq!(interval(0, span).name, name, "{span}");
        }
        // Whatever the span (up to the ladder's top), first..=last holds at most 60 bars.
        for span in (0..40).map(|k| 1_000i64 << k) {
            let step = interval(0, span);
            if step.name != "365d" {
                assert!(span as u64 / step.millis < MAX_BARS, "{span} {step:?}");
            }
        }
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(utc(1_764_504_000_000), "2025-11-30 12:00 UTC");
        assert_eq!(utc(1_764_504_007_000), "2025-11-30 12:00:07 UTC");
    }

    #[test]
    fn geohash_centres() {
        let (lat, lon) = geohash_centre("u09").expect("valid");
        assert!(
            (lat - 48.52).abs() < 0.8 && (lon - 2.11).abs() < 0.8,
            "{lat} {lon}"
        );
        assert_eq!(geohash_centre("a"), None);
    }
}
