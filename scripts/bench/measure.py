#!/usr/bin/env python3
"""Runs one benchmark command and prints one JSON line: wall seconds, the CPU seconds (user +
sys) and peak RSS of the command's process tree (`wait4`, so children it waited for count too),
and, with --ack URL, what the acknowledging server received meanwhile and the CPU it spent
(its `/_ack/stats` before and after). When the command's own stdout ends with a JSON object
(fake_runtime.py, opensearch_py_bulk.py), that object's fields are merged in under `inner`.

  measure.py --label NAME [--ack URL] [--stdout FILE] [--field k=v ...] -- COMMAND ARGS...

--stdout FILE sends the command's stdout there instead (e.g. /dev/null for `--dry-run`);
its stderr goes to --stderr (default: this process's stderr). Exit status: the command's.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request


def ack_stats(url):
    with urllib.request.urlopen(f"{url}/_ack/stats", timeout=30) as response:
        return json.load(response)


def last_json(path):
    """The last line of `path` that is a JSON object, or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as out:
            lines = out.read().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", required=True)
    parser.add_argument("--ack", help="acknowledging server URL")
    parser.add_argument("--stdout", help="where the command's stdout goes")
    parser.add_argument("--stderr", help="where the command's stderr goes")
    parser.add_argument("--field", action="append", default=[],
                        help="k=v added to the result (v parsed as JSON when it is JSON)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")

    capture = None
    if args.stdout:
        stdout = open(args.stdout, "wb")
    else:
        capture = tempfile.NamedTemporaryFile(prefix="measure-", delete=False)
        stdout = capture
    stderr = open(args.stderr, "ab") if args.stderr else None
    before = ack_stats(args.ack) if args.ack else None

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stdout.close()
    if stderr:
        stderr.close()

    result = {"bench": "measured", "label": args.label}
    for field in args.field:
        key, _, value = field.partition("=")
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    result.update({
        "exit": process.returncode,
        "seconds": seconds,
        "tree_cpu_user_seconds": usage.ru_utime,
        "tree_cpu_sys_seconds": usage.ru_stime,
        "tree_cpu_seconds": usage.ru_utime + usage.ru_stime,
        "tree_max_rss_kib": usage.ru_maxrss,
    })
    if args.ack:
        after = ack_stats(args.ack)
        result["ack"] = {key: after[key] - before[key] for key in
                         ("requests", "bulk_requests", "documents", "wire_bytes", "plain_bytes",
                          "gzip_requests", "unsupported", "cpu_seconds")}
    if capture is not None:
        inner = last_json(capture.name)
        if inner is not None:
            result["inner"] = inner
        os.unlink(capture.name)
    print(json.dumps(result), flush=True)
    return process.returncode


if __name__ == "__main__":
    sys.exit(main())
