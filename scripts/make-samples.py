#!/usr/bin/env python3
"""Re-derives tests/samples/captured.ndjson: a small, deterministic selection of real captured
records from ../shared/corpus for the demo and the end-to-end tests (geo, emoji, long tweets,
retweets, v2 payloads, control messages). Run with any Python 3 that has the `emoji` package:

    .venv/bin/python scripts/make-samples.py
"""
import json
import pathlib
import sys

import emoji

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
OUT = ROOT / "tests" / "samples" / "captured.ndjson"


def text_of(t):
    return (t.get("extended_tweet") or {}).get("full_text") or t.get("full_text") or t.get("text") or ""


def pick_v1():
    picked, seen = [], set()
    want = {"coordinates": 12, "place": 10, "emoji": 16, "extended": 4, "retweet": 4, "other": 6}
    got = dict.fromkeys(want, 0)
    with open(CORPUS / "tweets_v1.ndjson", encoding="utf-8") as f:
        for line in f:
            t = json.loads(line)
            if "id_str" not in t or t["id_str"] in seen or "created_at" not in t:
                continue
            kinds = []
            if t.get("coordinates"):
                kinds.append("coordinates")
            if (t.get("place") or {}).get("bounding_box"):
                kinds.append("place")
            if emoji.emoji_count(text_of(t)) > 0:
                kinds.append("emoji")
            if "extended_tweet" in t:
                kinds.append("extended")
            if "retweeted_status" in t:
                kinds.append("retweet")
            kinds.append("other")
            for k in kinds:
                if got[k] < want[k]:
                    got[k] += 1
                    seen.add(t["id_str"])
                    picked.append(line.rstrip("\r\n"))
                    break
    return picked


def pick_lines(name, pred, limit):
    out = []
    with open(CORPUS / name, encoding="utf-8") as f:
        for line in f:
            if pred(json.loads(line)):
                out.append(line.rstrip("\r\n"))
                if len(out) == limit:
                    break
    return out


def main():
    if not CORPUS.is_dir():
        sys.exit(f"{CORPUS} not found")
    lines = pick_v1()
    lines += pick_lines("tweets_v2_payloads.ndjson", lambda d: "includes" in d and "matching_rules" in d, 2)
    lines += pick_lines("tweets_v2_objects.ndjson", lambda d: "geo" in d, 2)
    lines += pick_lines("tweets_v2_objects.ndjson", lambda d: "geo" not in d, 2)
    for kind in ("delete", "limit", "scrub_geo", "warning"):
        lines += pick_lines("system_messages.ndjson", lambda d, k=kind: k in d, 1)
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} records to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
