#!/usr/bin/env python3
"""Puts the repo's sample captures into (local) S3 the way Kinesis Data Firehose writes them,
one object per layout, so that one S3 put event (events/s3-put.json) names them all.

    S3_ENDPOINT_URL=http://127.0.0.1:PORT .venv/bin/python scripts/lib/demo/put-objects.py BUCKET

Layouts: gzip NDJSON (Firehose with the newline-appending processor and GZIP compression), records
concatenated with no delimiter (Firehose's default), the legacy `[{...},\n{...}]` layout the
original Python Lambda read, and CRLF-delimited records in two gzip members back to back.
"""
import gzip
import os
import pathlib
import sys

import boto3

ROOT = pathlib.Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "tests" / "samples" / "captured.ndjson"

# Keys must match events/s3-put.json (which carries them URL-encoded, as S3 does).
KEYS = {
    "ndjson_gzip": "firehose/2026/11/23/12/tweets-stream-1-2026-11-23-12-00-00-ndjson.gz",
    "concatenated": "firehose/2026/11/23/12/tweets stream 2 concatenated",
    "legacy_array": "firehose/2026/11/23/12/tweets-stream-3-legacy.json",
    "crlf_gzip_members": "firehose/2026/11/23/12/tweets-été-4-crlf.gz",
}


def layouts(records):
    quarter = max(1, len(records) // 4)
    parts = [records[i * quarter:(i + 1) * quarter] for i in range(3)] + [records[3 * quarter:]]
    ndjson, concat, legacy, crlf = parts
    half = len(crlf) // 2
    return {
        "ndjson_gzip": gzip.compress(b"".join(r + b"\n" for r in ndjson)),
        "concatenated": b"".join(concat),
        "legacy_array": b"[" + b",\n".join(legacy) + b"]\n",
        "crlf_gzip_members": gzip.compress(b"".join(r + b"\r\n" for r in crlf[:half]))
        + gzip.compress(b"".join(r + b"\r\n" for r in crlf[half:])),
    }


def main():
    bucket = sys.argv[1] if len(sys.argv) > 1 else "tweets-demo"
    records = [line.rstrip(b"\r\n") for line in SAMPLES.read_bytes().splitlines() if line.strip()]
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
    )
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    for layout, body in layouts(records).items():
        s3.put_object(Bucket=bucket, Key=KEYS[layout], Body=body)
        print(f"put s3://{bucket}/{KEYS[layout]} ({layout}, {len(body)} bytes)")
    print(f"{len(records)} records in {len(KEYS)} objects")


if __name__ == "__main__":
    main()
