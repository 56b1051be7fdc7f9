#!/usr/bin/env python3
"""The Python baseline: opensearch-py's `helpers.bulk` (or `helpers.parallel_bulk`) sending
already-built documents.

Reads bulk NDJSON (action line + source line, as `tweet-indexer index --dry-run` prints it)
from a file or, streamed, from S3 (`--s3-url s3://bucket/key`, `AWS_ENDPOINT_URL_S3` honoured),
and turns each pair back into an action with the same `_id`, `version` and `version_type`
and, as `_source`, the exact JSON text our dry run built (opensearch-py sends a string
`_source` as is), so the bulk bodies it sends are byte for byte the lines we send (with
`_index` replaced by --index). Creates the index with the repo's mapping, then times the
helper with the same limits as ours: chunks of at most --max-chunk-bytes (and --chunk-size
operations, large enough that bytes decide), gzip with --compress (opensearch-py's
`http_compress`, gzip level 9), --threads N for `parallel_bulk`. Checks with `_count` that
every document arrived. Prints one JSON line (`cpu_seconds_in_helper`: this process's CPU
while the helper ran, i.e. without interpreter start, imports and index creation).
"""
import argparse
import json
import os
import sys
import time
from urllib.parse import urlsplit

from opensearchpy import OpenSearch, helpers


def bulk_lines(args):
    """The bulk NDJSON, line by line, from the file or streamed from S3."""
    if args.s3_url:
        import boto3

        url = urlsplit(args.s3_url)
        s3 = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3"))
        body = s3.get_object(Bucket=url.netloc, Key=url.path.lstrip("/"))["Body"]
        for line in body.iter_lines(chunk_size=1 << 20):
            yield line.decode("utf-8")
        return
    with open(args.bulk_file, encoding="utf-8") as bulk:
        for line in bulk:
            yield line.rstrip("\n")


def actions(args, counts):
    lines = bulk_lines(args)
    for action_line in lines:
        if not action_line.strip():
            continue
        (op_type, meta), = json.loads(action_line).items()
        action = {"_op_type": op_type, "_index": args.index, "_id": meta["_id"]}
        for key in ("version", "version_type"):
            if key in meta:
                action[key] = meta[key]
        if op_type != "delete":
            action["_source"] = next(lines)
            counts["documents"] += 1
        counts["actions"] += 1
        yield action


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="search server base URL")
    parser.add_argument("--index", required=True, help="a fresh index name")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bulk-file", help="bulk NDJSON from --dry-run")
    source.add_argument("--s3-url", help="the same, as an S3 object: s3://bucket/key")
    parser.add_argument("--mapping", required=True, help="mappings/twitter.json")
    parser.add_argument("--max-chunk-bytes", type=int, default=5 * 1024 * 1024)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=0,
                        help="parallel_bulk with this many threads (0: helpers.bulk)")
    parser.add_argument("--compress", action="store_true", help="gzip request bodies")
    args = parser.parse_args()

    client = OpenSearch(hosts=[args.url], http_compress=args.compress, timeout=120)
    with open(args.mapping, encoding="utf-8") as mapping:
        client.indices.create(index=args.index, body=json.load(mapping))

    counts = {"documents": 0, "actions": 0}
    started, cpu_started = time.perf_counter(), time.process_time()
    common = dict(chunk_size=args.chunk_size, max_chunk_bytes=args.max_chunk_bytes,
                  raise_on_error=False)
    if args.threads:
        ok = errors = 0
        for success, _ in helpers.parallel_bulk(client, actions(args, counts),
                                                thread_count=args.threads, **common):
            ok += int(success)
            errors += int(not success)
    else:
        ok, errors = helpers.bulk(client, actions(args, counts), stats_only=True, **common)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started

    client.indices.refresh(index=args.index)
    count = client.count(index=args.index)["count"]
    documents = counts["documents"]
    print(json.dumps({
        "bench": "opensearch_py_bulk",
        "helper": f"parallel_bulk({args.threads} threads)" if args.threads else "bulk",
        "source": "s3" if args.s3_url else "file",
        "index": args.index,
        "documents": documents,
        "ok": ok,
        "errors": errors,
        "count_after": count,
        "seconds": seconds,
        "documents_per_second": documents / seconds,
        "cpu_seconds_in_helper": cpu_seconds,
        "max_chunk_bytes": args.max_chunk_bytes,
        "chunk_size": args.chunk_size,
        "compress": args.compress,
    }))
    return 0 if errors == 0 and count == documents else 1


if __name__ == "__main__":
    sys.exit(main())
