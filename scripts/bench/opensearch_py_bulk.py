#!/usr/bin/env python3
"""The Python baseline: `opensearch-py`'s `helpers.bulk` sending already-built documents.

Reads bulk NDJSON (action line + source line, as `tweet-indexer index --dry-run` prints it),
keeps each source as the exact JSON text our dry run built (opensearch-py sends a string
`_source` as is), creates a fresh index with the repo's mapping, then times only
`helpers.bulk` with the same limits as ours (chunks of at most --max-chunk-bytes and
--chunk-size operations). Checks that every document is in the index afterwards.
Prints one JSON line.
"""
import argparse
import json
import sys
import time

from opensearchpy import OpenSearch, helpers


def load_actions(path: str, index: str) -> list:
    actions = []
    with open(path, encoding="utf-8") as bulk:
        while True:
            action_line = bulk.readline()
            if not action_line:
                return actions
            if not action_line.strip():
                continue
            (op_type, meta), = json.loads(action_line).items()
            action = {"_op_type": op_type, "_index": index, "_id": meta["_id"]}
            if op_type != "delete":
                action["_source"] = bulk.readline().rstrip("\n")
            actions.append(action)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="search server base URL")
    parser.add_argument("--index", required=True, help="a fresh index name")
    parser.add_argument("--bulk-file", required=True, help="bulk NDJSON from --dry-run")
    parser.add_argument("--mapping", required=True, help="mappings/twitter.json")
    parser.add_argument("--max-chunk-bytes", type=int, default=5 * 1024 * 1024)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--compress", action="store_true", help="gzip request bodies")
    args = parser.parse_args()

    actions = load_actions(args.bulk_file, args.index)
    client = OpenSearch(hosts=[args.url], http_compress=args.compress, timeout=120)
    with open(args.mapping, encoding="utf-8") as mapping:
        client.indices.create(index=args.index, body=json.load(mapping))

    started = time.perf_counter()
    ok, errors = helpers.bulk(
        client,
        actions,
        chunk_size=args.chunk_size,
        max_chunk_bytes=args.max_chunk_bytes,
        raise_on_error=False,
        stats_only=True,
    )
    seconds = time.perf_counter() - started

    client.indices.refresh(index=args.index)
    count = client.count(index=args.index)["count"]
    documents = sum(1 for a in actions if a["_op_type"] == "index")
    print(json.dumps({
        "bench": "opensearch_py_bulk",
        "index": args.index,
        "documents": documents,
        "ok": ok,
        "errors": errors,
        "count_after": count,
        "seconds": seconds,
        "documents_per_second": documents / seconds,
        "max_chunk_bytes": args.max_chunk_bytes,
        "chunk_size": args.chunk_size,
        "compress": args.compress,
    }))
    return 0 if errors == 0 and count == documents else 1


if __name__ == "__main__":
    sys.exit(main())
