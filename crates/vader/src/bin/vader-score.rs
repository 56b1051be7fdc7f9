//! `vader-score`: VADER scores for each line of stdin.
//!
//! Reads UTF-8 lines (a trailing `\r` is removed) and writes one line per input:
//! `compound<TAB>pos<TAB>neu<TAB>neg`, numbers in Rust's default `{}` float format.
//! Invalid UTF-8 is replaced with U+FFFD rather than rejected, so every input line gets an
//! output line.
//!
//! `vader-score --bench FILE` scores every line of FILE repeatedly for about two seconds
//! (`VADER_BENCH_SECONDS` overrides) and prints the texts per second of the scoring loop alone.

use std::io::{BufRead, BufWriter, Write};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => score_stdin(),
        [flag, file] if flag == "--bench" => bench(file),
        _ => bail!("usage: vader-score < lines   |   vader-score --bench FILE"),
    }
}

fn strip_line_end(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
}

fn score_stdin() -> Result<()> {
    let analyzer = vader::Analyzer::new();
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut line = Vec::new();
    loop {
        line.clear();
        if input
            .read_until(b'\n', &mut line)
            .context("reading stdin")?
            == 0
        {
            break;
        }
        strip_line_end(&mut line);
        let text = String::from_utf8_lossy(&line);
        let s = analyzer.polarity_scores(&text);
        writeln!(out, "{}\t{}\t{}\t{}", s.compound, s.pos, s.neu, s.neg)
            .context("writing stdout")?;
    }
    out.flush().context("writing stdout")?;
    Ok(())
}

fn bench(file: &str) -> Result<()> {
    let data = std::fs::read(file).with_context(|| format!("reading {file}"))?;
    // Lines as `score_stdin` reads them: no empty text after a final newline.
    let data = data.strip_suffix(b"\n").unwrap_or(&data);
    let texts: Vec<String> = data
        .split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l.strip_suffix(b"\r").unwrap_or(l)).into_owned())
        .collect();
    if texts.is_empty() {
        bail!("{file} has no lines");
    }
    let analyzer = vader::Analyzer::new();
    let mut sink = 0.0;
    // Warm-up pass: builds the lexicon and fills the caches.
    for t in &texts {
        sink += analyzer.polarity_scores(t).compound;
    }
    let seconds = std::env::var("VADER_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(2.0);
    let duration = Duration::from_secs_f64(seconds);
    let mut scored = 0usize;
    let start = Instant::now();
    while start.elapsed() < duration {
        for t in &texts {
            sink += analyzer.polarity_scores(std::hint::black_box(t)).compound;
        }
        scored += texts.len();
    }
    let secs = start.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    println!(
        "{:.0} texts/s ({scored} texts in {secs:.3} s, {} distinct lines)",
        scored as f64 / secs,
        texts.len()
    );
    Ok(())
}
