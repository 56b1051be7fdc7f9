#!/usr/bin/env python3
"""Reference scores for the `vader` crate's golden tests, from Python vaderSentiment 3.3.2.

Usage (from the repo root, with the test venv's python):
    .venv/bin/python scripts/vader-golden.py            # (re)write crates/vader/tests/golden/
    .venv/bin/python scripts/vader-golden.py --bench    # texts/s of Python on the paper tweets
    ... scripts/vader-golden.py --score-stdin < escaped-lines   # oracle for crates/vader tests

Inputs (read-only): ../shared/reference/vader/*_GroundTruth.txt (the VADER paper's rated texts:
UTF-8, CRLF line ends, `id<TAB>mean rating<TAB>text`) and ../shared/corpus/tweets_v1.ndjson
(tweet text = extended_tweet.full_text > full_text > text; kept when it holds an emoji code
point listed in ../shared/corpus/emoji/16.0/emoji-test.txt; deduplicated, first seen kept).
Set SHARED_DIR to read them elsewhere.

Output: one TSV per input set, `id, rating, neg, neu, pos, compound, text`, numbers written
with repr() so no precision is lost (rating empty where there is none). The text column is
escaped so a record stays on one line: backslash -> `\\\\`, TAB -> `\\t`, LF -> `\\n`,
CR -> `\\r`; everything else is raw UTF-8. Lines starting with `#` are comments. Also writes
pearson.tsv: Pearson r of the reference compound against the human ratings per set.
CI regenerates nothing: it only reads the committed files.
"""

import argparse
import importlib.metadata
import json
import math
import os
import sys
import time
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

VADER_VERSION = importlib.metadata.version("vaderSentiment")
REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SHARED_DIR", REPO.parent / "shared"))
OUT = REPO / "crates" / "vader" / "tests" / "golden"

RATED = [
    ("tweets", "tweets_GroundTruth.txt"),
    ("movie_reviews", "movieReviewSnippets_GroundTruth.txt"),
    ("amazon_reviews", "amazonReviewSnippets_GroundTruth.txt"),
    ("nyt_editorials", "nytEditorialSnippets_GroundTruth.txt"),
]


def escape(text):
    return (
        text.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def read_rated(path):
    """(id, rating, text) records. Split on CRLF only: a lone CR or LF would be text."""
    data = path.read_bytes().decode("utf-8")
    records = []
    for line in data.split("\r\n"):
        if not line:
            continue
        ident, rating, text = line.split("\t", 2)
        records.append((ident, float(rating), text))
    return records


def emoji_code_points():
    points = set()
    path = SHARED / "corpus" / "emoji" / "16.0" / "emoji-test.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        for cp in line.split(";", 1)[0].split():
            c = int(cp, 16)
            # ASCII keycap bases, ZWJ and variation selectors are not emoji by themselves.
            if c >= 0x80 and c not in (0x200D, 0xFE0E, 0xFE0F, 0x20E3):
                points.add(chr(c))
    return points


def tweet_text(record):
    ext = record.get("extended_tweet") or {}
    for text in (ext.get("full_text"), record.get("full_text"), record.get("text")):
        if isinstance(text, str):
            return text
    return None


def replace_lone_surrogates(text):
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def read_emoji_tweets():
    points = emoji_code_points()
    seen = set()
    records = []
    path = SHARED / "corpus" / "tweets_v1.ndjson"
    with path.open(encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            text = tweet_text(record)
            if text is None:
                continue
            text = replace_lone_surrogates(text)
            if text in seen or not any(c in points for c in text):
                continue
            seen.add(text)
            records.append((str(record.get("id_str") or record.get("id")), None, text))
    return records


def edge_cases():
    """Hand-made inputs: edge inputs and one sentence per reproduced quirk."""
    long_unit = "GOOD good not bad, but very bad!!! 😀❤️ kind of ok?? no no love :) \t"
    long_line = (long_unit * (100_000 // len(long_unit.encode("utf-8")) + 1))[:100_000]
    texts = [
        "",
        " ",
        "\t\n",
        "!!!",
        "?",
        "...,,,;;;!!!???",
        "!?!?!?!?",
        long_line,
        "\ufffd",
        "great \ufffd\ufffd day",
        "\ufffdgood\ufffd bad",
        "Это хорошо good 很好 ✨ عظيم",
        "ΟΔΟΣ GOOD bad",
        "ǅ GOOD bad",
        "\u212aiss me",
        "İ love it",
        "ÉTÉ GOOD bad",
        "I ❤ you",
        "I ❤️ you",
        "❤️❤",
        "❤\ufe0fgood",
        "👍🏽 good",
        "👨‍👩‍👧 family",
        "🇺🇸 flag",
        "😀abc",
        "a\t😀",
        "🔛 on",
        "good\x1cbad",
        "\x1fGOOD\x1f bad",
        "good\u00a0bad\u3000nice",
        "good\u200bbad",
        "VADER is smart, handsome, and funny.",
        "VADER is smart, handsome, and funny!",
        "VADER is very smart, handsome, and funny.",
        "VADER is VERY SMART, handsome, and FUNNY.",
        "VADER is VERY SMART, handsome, and FUNNY!!!",
        "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
        "VADER is not smart, handsome, nor funny.",
        "The book was good.",
        "At least it isn't a horrible book.",
        "The book was only kind of good.",
        "The plot was good, but the characters are uncompelling and the dialog is not great.",
        "Today SUX!",
        "Today only kinda sux! But I'll get by, lol",
        "Make sure you :) or :D today!",
        "Catch utf-8 emoji such as 💘 and 💋 and 😁",
        "Not bad at all",
        "Sentiment analysis has never been good.",
        "Sentiment analysis has never been this good!",
        "Most automated sentiment analysis tools are shit.",
        "With VADER, sentiment analysis is the shit!",
        "Other sentiment analysis tools can be quite bad.",
        "On the other hand, VADER is quite bad ass",
        "VADER is such a badass!",
        "Without a doubt, excellent idea.",
        "Roger Dodger is one of the most compelling variations on this theme.",
        "Roger Dodger is at least compelling as a variation on the theme.",
        "Roger Dodger is one of the least compelling variations on this theme.",
        "Not such a badass after all.",
        "Without a doubt, an excellent idea.",
        "no no good",
        "no good",
        "no problem at all",
        "no way or good",
        "NO good thing",
        "good but ok",
        "good but good",
        "happy sad but happy sad",
        "but",
        ":D",
        ":)",
        "<3 and :) and !!",
        "I love it :) <3",
        "ok! fine!",
        "never so good",
        "it is so good",
        "it was this good",
        "never this good",
        "kind of good",
        "it is kind of good",
        "at least good",
        "least good",
        "the least good",
        "very least good",
        "without doubt good",
        "we are without any doubt good",
        "that was the bomb",
        "this is the shit",
        "a kiss of death here",
        "cake to die for here",
        "yeah right great",
        "my beating heart is good",
        "at the bus stop good",
        "just enough good",
        "it is sort of good",
        "I can't believe it isn't good",
        "GOOD!!!!!",
        "good!!!!!!",
        "what??",
        "what?",
        "good???",
        "good????",
        "really?!?!",
        "good\tbad\nnot great\r\nfine",
        "back slash \\ good \\t not a tab",
        "also good",
        "HEART hearts ❤ 💙 💕",
        "GOOD",
        "GOOD BAD",
        "good BAD",
        "EXTREMELY good",
        "extremely GOOD",
        "not EXTREMELY good at all",
        "hardly good",
        "not very good",
        "isn't good",
        "ISN'T good",
        "nothing good",
        "Kinda good",
        "so so",
        "this",
        "no",
        "no no",
        "NO",
    ]
    return [(f"edge-{i:03}", None, t) for i, t in enumerate(texts)]


def pearson(xs, ys):
    n = len(xs)
    mx = sum(xs) / n
    my = sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return sxy / math.sqrt(sxx * syy)


def write_set(analyzer, name, records, source_note):
    path = OUT / f"{name}.tsv"
    compounds = []
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write(f"# VADER golden scores: vaderSentiment {VADER_VERSION}, "
                f"python {sys.version.split()[0]}; {source_note}\n")
        f.write("# id\trating\tneg\tneu\tpos\tcompound\ttext (escaped: \\\\ \\t \\n \\r)\n")
        for ident, rating, text in records:
            s = analyzer.polarity_scores(text)
            compounds.append(s["compound"])
            rating_field = "" if rating is None else repr(rating)
            f.write(
                f"{ident}\t{rating_field}\t{s['neg']!r}\t{s['neu']!r}\t{s['pos']!r}\t"
                f"{s['compound']!r}\t{escape(text)}\n"
            )
    print(f"{path.relative_to(REPO)}: {len(records)} texts", file=sys.stderr)
    return compounds


def generate():
    analyzer = SentimentIntensityAnalyzer()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, file in RATED:
        records = read_rated(SHARED / "reference" / "vader" / file)
        compounds = write_set(
            analyzer, name, records, f"texts and ratings: {file} (vaderSentiment repo, MIT)"
        )
        r = pearson(compounds, [rating for _, rating, _ in records])
        rows.append((name, len(records), r))
    emoji = read_emoji_tweets()
    write_set(
        analyzer,
        "emoji_tweets",
        emoji,
        "texts: tweets_v1.ndjson with an emoji code point, see SOURCES-tweets.tsv",
    )
    write_set(analyzer, "edge", edge_cases(), "hand-made edge inputs and quirk sentences")
    with (OUT / "pearson.tsv").open("w", encoding="utf-8", newline="\n") as f:
        f.write("# Pearson r of reference compound vs mean human rating\n")
        f.write("# set\ttexts\tr\n")
        for name, n, r in rows:
            f.write(f"{name}\t{n}\t{r!r}\n")
            print(f"pearson {name}: n={n} r={r:.6f}", file=sys.stderr)


def bench(seconds):
    analyzer = SentimentIntensityAnalyzer()
    texts = [t for _, _, t in read_rated(SHARED / "reference" / "vader" / "tweets_GroundTruth.txt")]
    for t in texts:  # warm-up
        analyzer.polarity_scores(t)
    scored = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for t in texts:
            analyzer.polarity_scores(t)
        scored += len(texts)
    elapsed = time.perf_counter() - start
    print(f"python vaderSentiment: {scored / elapsed:.0f} texts/s "
          f"({scored} texts in {elapsed:.2f} s, {len(texts)} paper tweets)")


def unescape(field):
    out = []
    chars = iter(field)
    for c in chars:
        if c != "\\":
            out.append(c)
            continue
        n = next(chars, "")
        out.append({"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}[n])
    return "".join(out)


def score_stdin():
    """One escaped text per stdin line -> `neg<TAB>neu<TAB>pos<TAB>compound` (repr) per line."""
    analyzer = SentimentIntensityAnalyzer()
    stdin = open(sys.stdin.fileno(), encoding="utf-8", newline="\n")
    out = open(sys.stdout.fileno(), "w", encoding="utf-8", newline="\n")
    for line in stdin:
        s = analyzer.polarity_scores(unescape(line.rstrip("\n")))
        out.write(f"{s['neg']!r}\t{s['neu']!r}\t{s['pos']!r}\t{s['compound']!r}\n")
    out.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="store_true", help="measure texts/s, write nothing")
    parser.add_argument("--seconds", type=float, default=5.0, help="bench duration")
    parser.add_argument("--score-stdin", action="store_true", help="score escaped stdin lines")
    args = parser.parse_args()
    if args.score_stdin:
        score_stdin()
    elif args.bench:
        bench(args.seconds)
    else:
        generate()


if __name__ == "__main__":
    main()
