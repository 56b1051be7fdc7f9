#!/usr/bin/env python3
"""Prints the summary tables of scripts/bench-e2e from its results.ndjson.

CPU seconds are user + sys of the whole client process (for the Lambda binary: its own
process, init included, read from /proc; for the CLI and Python: the process tree, interpreter
start and imports included); the Python helper's own share is shown beside it. Figures of
runs repeated over rounds are medians.
"""
import json
import statistics
import sys

MIB = 1024 * 1024


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def per_10k(seconds, documents):
    return seconds / documents * 10_000 if seconds is not None and documents else None


def client_figures(run):
    """wall seconds, client CPU seconds, documents, peak RSS KiB of one measured run."""
    inner = run.get("inner") or {}
    documents = (run.get("ack") or {}).get("documents")
    if inner.get("bench") == "lambda_binary_invoke":
        objects = (inner.get("response") or {}).get("objects") or [{}]
        documents = documents or objects[0].get("documents")
        return inner.get("seconds"), inner.get("cpu_seconds"), documents, inner.get("vm_hwm_kib")
    if inner.get("bench") == "opensearch_py_bulk":
        documents = inner.get("documents", documents)
    return run["seconds"], run["tree_cpu_seconds"], documents, run["tree_max_rss_kib"]


def fmt(value, spec, missing="-"):
    """`value` formatted with `spec`; `missing` padded to the spec's width when None."""
    if value is not None:
        return format(value, spec)
    width = "".join(c for c in spec.split(".")[0] if c.isdigit())
    return missing.rjust(int(width or 0))


def comparison(rows):
    runs = [r for r in rows if r.get("bench") == "measured" and r["label"].startswith("cmp-")]
    if not runs:
        return
    size = runs[0].get("size_mib")
    print(f"\n== our cost vs opensearch-py, acknowledging server, {size} MiB object from moto S3, "
          f"5 MiB bulks (medians of {max(r.get('round', 1) for r in runs)} rounds) ==")
    print(f"  {'client':<22}{'mode':<6}{'docs':>8}{'bulks':>7}{'MiB/bulk':>9}{'wall s':>8}"
          f"{'docs/s':>9}{'CPU s':>8}{'CPU s/10k':>10}{'helper':>8}{'server CPU s/10k':>17}"
          f"{'server busy':>12}{'fail':>5}")
    summary = {}
    for mode in ("plain", "gzip"):
        for label in ("cmp-cli", "cmp-lambda", "cmp-py-bulk", "cmp-py-parallel-bulk"):
            group = [r for r in runs if r["label"] == label and r.get("mode") == mode]
            if not group:
                continue
            figures = [client_figures(r) for r in group]
            walls = [f[0] for f in figures]
            docs = median([f[2] for f in figures])
            cpu = median([f[1] for f in figures])
            cpu10k = median([per_10k(f[1], f[2]) for f in figures])
            helper10k = median([per_10k((r.get("inner") or {}).get("cpu_seconds_in_helper"), f[2])
                                for r, f in zip(group, figures)])
            bulks = median([r["ack"]["bulk_requests"] for r in group])
            mib_per_bulk = median([r["ack"]["plain_bytes"] / MIB / max(r["ack"]["bulk_requests"], 1)
                                   for r in group])
            server10k = median([per_10k(r["ack"]["cpu_seconds"], f[2]) for r, f in zip(group, figures)])
            busy = median([r["ack"]["cpu_seconds"] / r["seconds"] for r in group])
            failed = sum(1 for r in group if r["exit"] != 0 or r["ack"]["unsupported"])
            wall = median(walls)
            name = {"cmp-cli": "ours: CLI index",
                    "cmp-lambda": "ours: Lambda binary",
                    "cmp-py-bulk": "opensearch-py bulk",
                    "cmp-py-parallel-bulk": "py parallel_bulk(2)"}[label]
            print(f"  {name:<22}{mode:<6}{fmt(docs, '8.0f')}{fmt(bulks, '7.0f')}"
                  f"{fmt(mib_per_bulk, '9.2f')}{fmt(wall, '8.2f')}"
                  f"{fmt(docs / wall if docs and wall else None, '9.0f')}{fmt(cpu, '8.2f')}"
                  f"{fmt(cpu10k, '10.3f')}{fmt(helper10k, '8.3f')}{fmt(server10k, '17.3f')}"
                  f"{fmt(busy * 100 if busy is not None else None, '11.0f')}%{failed:>5}")
            summary[(label, mode)] = (cpu10k, helper10k)
    print("  (CPU s: the client process; helper: the CPU opensearch-py spent inside the helper; "
          "server busy: the ack server's CPU / the run's wall time)")
    # opensearch-py starts from finished bulk lines; we start from raw tweets. Our sending
    # share alone is the CLI's CPU minus its --dry-run's on the same object (scale series).
    dry = [r for r in rows if r.get("bench") == "measured" and r["label"] == "scale-cli-dry-run"
           and r.get("size_mib") == size]
    if dry:
        dry10k = per_10k(dry[0]["tree_cpu_seconds"], client_figures(dry[0])[2]
                         or next((o["records"] for o in rows if o.get("bench") == "object"
                                  and o.get("size_mib") == size), None))
        for mode in ("plain", "gzip"):
            whole = summary.get(("cmp-cli", mode), (None, None))[0]
            if whole is None or dry10k is None:
                continue
            sending = whole - dry10k
            summary[("cmp-cli-sending", mode)] = (sending, None)
            print(f"  ours, sending only ({mode}): CLI index {whole:.3f} - its --dry-run "
                  f"{dry10k:.3f} = {sending:.3f} CPU s per 10k documents")
    for mode in ("plain", "gzip"):
        for ours in ("cmp-cli", "cmp-lambda", "cmp-cli-sending"):
            mine = summary.get((ours, mode), (None, None))[0]
            for theirs in ("cmp-py-bulk", "cmp-py-parallel-bulk"):
                whole, helper = summary.get((theirs, mode), (None, None))
                if mine and whole:
                    print(f"  {mode:<5} CPU per 10k docs, {theirs[4:]} / {ours[4:]}: "
                          f"{whole / mine:5.1f}x whole process, "
                          f"{fmt(helper / mine if helper else None, '5.1f')}x helper only "
                          f"(goal: ours <= 1/5, i.e. >= 5x)")


def scale(rows):
    runs = [r for r in rows if r.get("bench") == "measured" and r["label"].startswith("scale-")]
    if not runs:
        return
    objects = {r["size_mib"]: r for r in rows if r.get("bench") == "object"}
    print("\n== scale series: one fresh process per run, defaults (gzip on), from moto S3 ==")
    print(f"  {'object':>8}{'docs':>9} | {'--dry-run >/dev/null':^26} | {'CLI index (ack server)':^26}"
          f" | {'Lambda binary (ack server)':^26}")
    print(f"  {'MiB':>8}{'':>9} | {'wall s':>8}{'CPU s':>8}{'peak MiB':>10} | {'wall s':>8}{'CPU s':>8}"
          f"{'peak MiB':>10} | {'wall s':>8}{'CPU s':>8}{'peak MiB':>10}")
    sizes = sorted({r["size_mib"] for r in runs})
    table = {}
    for size in sizes:
        cells = []
        for label in ("scale-cli-dry-run", "scale-cli-index", "scale-lambda"):
            run = next((r for r in runs if r["label"] == label and r["size_mib"] == size), None)
            if run is None:
                cells.append((None, None, None, 0))
                continue
            wall, cpu, _, rss = client_figures(run)
            cells.append((wall, cpu, rss, run["exit"]))
            table[(label, size)] = (wall, rss)
        docs = objects.get(size, {}).get("records")
        line = f"  {size:>8}{fmt(docs, '9d')}"
        for wall, cpu, rss, exit_code in cells:
            flag = "" if exit_code in (0, None) else f" exit {exit_code}"
            line += (f" | {fmt(wall, '8.2f')}{fmt(cpu, '8.2f')}"
                     f"{fmt(rss / 1024 if rss else None, '10.1f')}{flag}")
        print(line)
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        for label, name in (("scale-cli-dry-run", "--dry-run"), ("scale-cli-index", "CLI index"),
                            ("scale-lambda", "Lambda binary")):
            rates = [table[(label, s)][0] / s for s in sizes if table.get((label, s), (None,))[0]]
            if (label, small) not in table or (label, large) not in table:
                continue
            growth = (table[(label, large)][1] - table[(label, small)][1]) / 1024
            print(f"  {name:<14} seconds per MiB: " + " ".join(f"{r:.4f}" for r in rates)
                  + f"; peak RSS {small} -> {large} MiB: {growth:+.1f} MiB")


def main() -> int:
    rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
    by = lambda name: [r for r in rows if r.get("bench") == name]  # noqa: E731

    for r in by("object"):
        print(f"object: {r['size_mib']} MiB requested, {r['bytes'] / MIB:.1f} MiB, {r['records']} tweets")
    comparison(rows)
    scale(rows)

    for r in by("lambda_init"):
        print(f"\n== Lambda init (start -> first runtime API call), {r['runs']} runs ==")
        print(f"  median {r['median_ms']:.1f} ms (min {r['min_ms']:.1f}, max {r['max_ms']:.1f})")
    for r in by("ack_server"):
        s = r["stats"]
        print(f"\n== ack server, whole run: {s['documents']} documents in {s['bulk_requests']} bulks, "
              f"{s['plain_bytes'] / MIB:.0f} MiB ({s['wire_bytes'] / MIB:.0f} MiB on the wire), "
              f"{s['cpu_seconds']:.1f} CPU s, peak {s['max_rss_kib'] / 1024:.0f} MiB, "
              f"unsupported requests: {s['unsupported']} ==")

    ours, py = by("osmem_ours"), by("osmem_py")
    if ours or py:
        print("\n== documents/s against osmem-server (~1,000 docs/s: measures osmem-server, "
              "not the clients) ==")
        for o, p in zip(ours, py):
            print(f"  round {o.get('round', 1)}: handler {o['documents']} docs "
                  f"{o['documents_per_second']:7.0f} docs/s | opensearch-py bulk {p['documents']} docs "
                  f"{p['documents_per_second']:7.0f} docs/s | "
                  f"{o['documents_per_second'] / p['documents_per_second']:.2f}x")
        for r in by("count"):
            print(f"  count in {r['index']}: {r['count']}")
    for r in by("zip"):
        print(f"\n== zipped binary ({r['arch']}: {r['file']}) ==")
        print(f"  bootstrap {r['bootstrap_bytes'] / MIB:.2f} MiB, zip {r['zip_bytes'] / MIB:.2f} MiB "
              f"({r['zip_bytes']} bytes)")
    for r in by("load"):
        print(f"\nload at {r['when']}: {r['uptime']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
