#!/usr/bin/env python3
"""Prints the summary table of scripts/bench-e2e from its results.ndjson."""
import json
import sys

MIB = 1024 * 1024


def main() -> int:
    rows = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
    by = lambda name: [r for r in rows if r.get("bench") == name]  # noqa: E731

    print("\n== peak RSS of the handler (one process per object; VmHWM) ==")
    rss = by("handler_rss")
    for r in rss:
        print(f"  {r['bytes_read'] / MIB:7.1f} MiB object  {r['documents']:>7} docs  "
              f"peak {r['vm_hwm_kib'] / 1024:6.1f} MiB (after init {r['vm_hwm_kib_after_init'] / 1024:.1f})  "
              f"{r['documents_per_second']:8.0f} docs/s  gzip={r['bulk_gzip']}")
    if len(rss) >= 2:
        growth = (rss[-1]["vm_hwm_kib"] - rss[0]["vm_hwm_kib"]) / 1024
        print(f"  growth {rss[0]['bytes_read'] / MIB:.0f} -> {rss[-1]['bytes_read'] / MIB:.0f} MiB: "
              f"{growth:+.1f} MiB (goal < 8); largest peak goal <= 64 MiB")
    for r in by("lambda_binary_invoke"):
        obj = (r.get("response") or {}).get("objects", [{}])[0]
        print(f"  deployed binary under a local runtime API: peak {r['vm_hwm_kib'] / 1024:.1f} MiB, "
              f"{obj.get('documents')} docs in {r['seconds']:.1f} s")
    for r in by("osmem_memory"):
        print(f"  osmem-server (other process) after {r['after']}: peak {r['vm_hwm_kib'] / 1024:.0f} MiB, "
              f"now {r['vm_rss_kib'] / 1024:.0f} MiB")

    print("\n== documents/s, same documents, same server, 5 MiB bulks, no compression ==")
    ours = by("throughput_ours")
    py = by("opensearch_py_bulk")
    ratios = []
    for o, p in zip(ours, py):
        ratio = o["documents_per_second"] / p["documents_per_second"]
        ratios.append(ratio)
        print(f"  round {o.get('round', 1)}: ours (S3 -> handler -> osmem) {o['documents']:>7} docs "
              f"{o['seconds']:7.2f} s {o['documents_per_second']:7.0f} docs/s | opensearch-py "
              f"helpers.bulk (built) {p['documents']:>7} docs {p['seconds']:7.2f} s "
              f"{p['documents_per_second']:7.0f} docs/s | {ratio:.2f}x")
    if ratios:
        ratios.sort()
        median = ratios[len(ratios) // 2] if len(ratios) % 2 else \
            (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
        print(f"  ratio ours / opensearch-py: median {median:.2f}x of {len(ratios)} rounds "
              f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f}; goal >= 1.0)")
    for r in by("count"):
        print(f"  count in {r['index']}: {r['count']}")

    for r in by("lambda_init"):
        print(f"\n== Lambda init (start -> first runtime API call), {r['runs']} runs ==")
        print(f"  median {r['median_ms']:.1f} ms (min {r['min_ms']:.1f}, max {r['max_ms']:.1f})")
    for r in by("zip"):
        print(f"\n== zipped binary ({r['arch']}: {r['file']}) ==")
        print(f"  bootstrap {r['bootstrap_bytes'] / MIB:.2f} MiB, zip {r['zip_bytes'] / MIB:.2f} MiB "
              f"({r['zip_bytes']} bytes)")
    for r in by("load"):
        print(f"\nload at {r['when']}: {r['uptime']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
