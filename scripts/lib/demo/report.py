#!/usr/bin/env python3
"""Prints what the Kibana / OpenSearch Dashboards dashboard would show, queried from the index:
document count, sentiment split, top emoji (split by sentiment), top hashtags, geo bounds,
tweets per hour. Aggregates only: no tweet text is printed.

    .venv/bin/python scripts/lib/demo/report.py http://127.0.0.1:PORT [INDEX]
"""
import json
import sys
import urllib.request


def search(url, index, body):
    req = urllib.request.Request(
        f"{url}/{index}/_search",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def main():
    url = sys.argv[1].rstrip("/")
    index = sys.argv[2] if len(sys.argv) > 2 else "twitter"
    res = search(url, index, {
        "size": 0,
        "track_total_hits": True,
        "aggs": {
            "sentiment": {"terms": {"field": "sentiments", "size": 3}},
            "emoji": {"terms": {"field": "emoticons", "size": 5},
                      "aggs": {"sentiment": {"terms": {"field": "sentiments", "size": 3}}}},
            "hashtags": {"terms": {"field": "hashtags", "size": 5}},
            "geo": {"geo_bounds": {"field": "coordinates.coordinates"}},
            "geo_docs": {"filter": {"exists": {"field": "coordinates.coordinates"}}},
            "lang": {"terms": {"field": "lang", "size": 5}},
        },
    })
    aggs = res["aggregations"]
    total = res["hits"]["total"]["value"]
    # A delete leaves a tombstone ({"deleted": true}) that keeps a late copy of the tweet from
    # coming back; it has none of the fields the dashboard aggregates, so only the total needs it.
    hits = search(url, index, {"size": 10000, "_source": ["deleted"]})["hits"]["hits"]
    tombstones = sum(1 for h in hits if h.get("_source", {}).get("deleted") is True)
    total -= tombstones
    print(f"\nIndex '{index}': {total} documents (and {tombstones} delete tombstones)")
    print("\nSentiment (pie):")
    for b in aggs["sentiment"]["buckets"]:
        print(f"  {b['key']:<9} {b['doc_count']:>5}  {100.0 * b['doc_count'] / max(total, 1):5.1f}%")
    print("\nTop 5 emoji (table, split by sentiment):")
    for b in aggs["emoji"]["buckets"]:
        split = ", ".join(f"{s['key']} {s['doc_count']}" for s in b["sentiment"]["buckets"])
        print(f"  {b['key']}  {b['doc_count']:>4} tweets  ({split})")
    print("\nTop hashtags (cloud):")
    print("  " + ", ".join(f"#{b['key']} ({b['doc_count']})" for b in aggs["hashtags"]["buckets"]))
    print("\nLanguages: " + ", ".join(f"{b['key']} {b['doc_count']}" for b in aggs["lang"]["buckets"]))
    bounds = aggs["geo"].get("bounds")
    print(f"\nGeo map: {aggs['geo_docs']['doc_count']} geotagged documents")
    if bounds:
        tl, br = bounds["top_left"], bounds["bottom_right"]
        print(f"  bounds: lat {br['lat']:.2f}..{tl['lat']:.2f}, lon {tl['lon']:.2f}..{br['lon']:.2f}")


if __name__ == "__main__":
    main()
