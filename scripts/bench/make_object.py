#!/usr/bin/env python3
"""Writes a benchmark object: the shared corpus's v1.1 tweets repeated until the object reaches
--bytes, every copy with a fresh top-level `id` / `id_str`, so every document is distinct.

Plain NDJSON (one tweet per line, no gzip), cut at a record boundary at or below --bytes.
Prints one JSON line: path, bytes, records.
"""
import argparse
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", required=True, help="tweets_v1.ndjson")
    parser.add_argument("--bytes", type=int, required=True, help="target size in bytes")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    tweets = []
    with open(args.corpus, encoding="utf-8") as corpus:
        for line in corpus:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            if isinstance(record, dict) and "id_str" in record:
                tweets.append(record)
    if not tweets:
        print(f"no tweets in {args.corpus}", file=sys.stderr)
        return 1

    # Fresh ids far above the corpus's own (2006-2023 snowflakes stay below 2**61).
    next_id = 1 << 61
    written = records = 0
    with open(args.out, "wb") as out:
        while True:
            for tweet in tweets:
                tweet["id"] = next_id
                tweet["id_str"] = str(next_id)
                line = (json.dumps(tweet, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
                if written + len(line) > args.bytes:
                    print(json.dumps({"path": args.out, "bytes": written, "records": records}))
                    return 0
                out.write(line)
                written += len(line)
                records += 1
                next_id += 1


if __name__ == "__main__":
    sys.exit(main())
