"""Writes the saved objects under infra/dashboards/ (run with any python 3; stdlib only).

Saved objects hold JSON inside JSON strings (visState, panelsJSON, ...), which is easy to break
by hand, so the NDJSON files are generated here and committed; check_dashboards.py fails when a
committed file differs from what this script writes, and validates the files on their own.

Two flavours, because the formats differ where it matters:
- kibana.ndjson: Kibana 7.10 to 8.x. The coordinate map is a Maps app `map` object (Kibana 8
  removed the legacy `tile_map` visualization); the rest are aggregation-based visualizations,
  which Kibana 8 still imports.
- opensearch-dashboards.ndjson: OpenSearch Dashboards 1.x/2.x (Amazon OpenSearch Service). It
  has no `map` type in core, so the map is a `tile_map` (coordinate map) visualization.
Objects are written in the 7.10 shape with `migrationVersion` set accordingly; newer Kibana /
Dashboards versions migrate them on import.

Usage: build_dashboards.py [--check]
"""

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "infra" / "dashboards"

INDEX_PATTERN_ID = "tweet-indexer-twitter"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
DASHBOARD_ID = "tweet-indexer-dashboard"
# Deletes are tombstone documents `{"deleted":true}` (README, "Delivery"): every query leaves
# them out. Tweets have no `deleted` field, so `NOT deleted:true` keeps all of them.
TWEETS_ONLY = {"query": "NOT deleted:true", "language": "kuery"}


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def search_source_with_index() -> dict:
    return {
        "searchSourceJSON": dumps(
            {"query": TWEETS_ONLY, "filter": [], "indexRefName": INDEX_REF}
        )
    }


def index_pattern() -> dict:
    return {
        "type": "index-pattern",
        "id": INDEX_PATTERN_ID,
        # The index, or the alias over its time partitions: never `twitter*`, which also
        # matches the compliance register index `twitter_compliance`.
        "attributes": {"title": "twitter", "timeFieldName": "timestamp_ms"},
        "references": [],
        "migrationVersion": {"index-pattern": "7.6.0"},
    }


def count_metric() -> dict:
    return {"id": "1", "enabled": True, "type": "count", "params": {}, "schema": "metric"}


def terms(agg_id: str, field: str, size: int, schema: str, label: str) -> dict:
    return {
        "id": agg_id,
        "enabled": True,
        "type": "terms",
        "params": {
            "field": field,
            "orderBy": "1",
            "order": "desc",
            "size": size,
            "otherBucket": False,
            "otherBucketLabel": "Other",
            "missingBucket": False,
            "missingBucketLabel": "Missing",
            "customLabel": label,
        },
        "schema": schema,
    }


def visualization(vis_id: str, title: str, description: str, vis_type: str, aggs: list, params: dict) -> dict:
    return {
        "type": "visualization",
        "id": vis_id,
        "attributes": {
            "title": title,
            "description": description,
            "version": 1,
            "uiStateJSON": "{}",
            "visState": dumps({"title": title, "type": vis_type, "aggs": aggs, "params": params}),
            "kibanaSavedObjectMeta": search_source_with_index(),
        },
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN_ID}],
        "migrationVersion": {"visualization": "7.10.0"},
    }


def sentiment_pie() -> dict:
    return visualization(
        "tweet-indexer-sentiment-pie",
        "Tweets by sentiment",
        "Share of Positive / Neutral / Negative tweets (VADER compound score).",
        "pie",
        [count_metric(), terms("2", "sentiments", 3, "segment", "Sentiment")],
        {
            "type": "pie",
            "addTooltip": True,
            "addLegend": True,
            "legendPosition": "right",
            "isDonut": True,
            "labels": {"show": True, "values": True, "last_level": True, "truncate": 100},
        },
    )


def top_emoticons_table() -> dict:
    return visualization(
        "tweet-indexer-top-emoticons",
        "Top 5 emoji by sentiment",
        "The five most used emoji, each split by the sentiment of the tweets carrying it.",
        "table",
        [
            count_metric(),
            terms("2", "emoticons", 5, "bucket", "Emoji"),
            terms("3", "sentiments", 3, "bucket", "Sentiment"),
        ],
        {
            "perPage": 15,
            "showPartialRows": False,
            "showMetricsAtAllLevels": False,
            "sort": {"columnIndex": None, "direction": None},
            "showTotal": False,
            "totalFunc": "sum",
            "percentageCol": "",
        },
    )


def hashtag_cloud() -> dict:
    return visualization(
        "tweet-indexer-hashtag-cloud",
        "Hashtags",
        "The 50 most used hashtags.",
        "tagcloud",
        [count_metric(), terms("2", "hashtags", 50, "segment", "Hashtag")],
        {"scale": "linear", "orientation": "single", "minFontSize": 14, "maxFontSize": 64, "showLabel": False},
    )


def tweets_over_time() -> dict:
    date_histogram = {
        "id": "2",
        "enabled": True,
        "type": "date_histogram",
        "params": {
            "field": "timestamp_ms",
            "useNormalizedEsInterval": True,
            "scaleMetricValues": False,
            "interval": "auto",
            "drop_partials": False,
            "min_doc_count": 1,
            "extended_bounds": {},
            "customLabel": "Time",
        },
        "schema": "segment",
    }
    return visualization(
        "tweet-indexer-tweets-over-time",
        "Tweets over time",
        "Indexed tweets per interval, stacked by sentiment.",
        "histogram",
        [count_metric(), date_histogram, terms("3", "sentiments", 3, "group", "Sentiment")],
        {
            "type": "histogram",
            "grid": {"categoryLines": False},
            "categoryAxes": [
                {
                    "id": "CategoryAxis-1",
                    "type": "category",
                    "position": "bottom",
                    "show": True,
                    "style": {},
                    "scale": {"type": "linear"},
                    "labels": {"show": True, "filter": True, "truncate": 100},
                    "title": {},
                }
            ],
            "valueAxes": [
                {
                    "id": "ValueAxis-1",
                    "name": "LeftAxis-1",
                    "type": "value",
                    "position": "left",
                    "show": True,
                    "style": {},
                    "scale": {"type": "linear", "mode": "normal"},
                    "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                    "title": {"text": "Tweets"},
                }
            ],
            "seriesParams": [
                {
                    "show": True,
                    "type": "histogram",
                    "mode": "stacked",
                    "data": {"label": "Tweets", "id": "1"},
                    "valueAxis": "ValueAxis-1",
                    "drawLinesBetweenPoints": True,
                    "lineWidth": 2,
                    "showCircles": True,
                }
            ],
            "addTooltip": True,
            "addLegend": True,
            "legendPosition": "right",
            "times": [],
            "addTimeMarker": False,
            "labels": {"show": False},
            "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
        },
    )


def coordinate_map() -> dict:
    """OpenSearch Dashboards: the legacy coordinate map, a geohash grid of tweet locations."""
    geohash = {
        "id": "2",
        "enabled": True,
        "type": "geohash_grid",
        "params": {
            "field": "coordinates.coordinates",
            "autoPrecision": True,
            "precision": 2,
            "useGeocentroid": True,
            "isFilteredByCollar": True,
            "mapZoom": 2,
            "mapCenter": [20, 0],
        },
        "schema": "segment",
    }
    return visualization(
        "tweet-indexer-tweet-map",
        "Where tweets come from",
        "Geotagged tweets (GeoJSON point, else the centre of the tweet's place).",
        "tile_map",
        [count_metric(), geohash],
        {
            "mapType": "Scaled Circle Markers",
            "isDesaturated": True,
            "addTooltip": True,
            "heatClusterSize": 1.5,
            "legendPosition": "bottomright",
            "mapZoom": 2,
            "mapCenter": [20, 0],
            "wms": {"enabled": False, "options": {"format": "image/png", "transparent": True}},
        },
    )


def maps_app_map() -> dict:
    """Kibana: a Maps app document with a grid (cluster) layer over coordinates.coordinates."""
    layer_ref = "layer_1_source_index_pattern"
    layers = [
        {
            "id": "basemap",
            "label": None,
            "minZoom": 0,
            "maxZoom": 24,
            "alpha": 1,
            "visible": True,
            "style": {"type": "TILE"},
            "type": "VECTOR_TILE",
            "sourceDescriptor": {"type": "EMS_TMS", "isAutoSelect": True},
        },
        {
            "id": "tweets-grid",
            "label": "Tweets",
            "minZoom": 0,
            "maxZoom": 24,
            "alpha": 0.75,
            "visible": True,
            "type": "VECTOR",
            "sourceDescriptor": {
                "type": "ES_GEO_GRID",
                "id": "tweets-grid-source",
                "geoField": "coordinates.coordinates",
                "requestType": "point",
                "resolution": "COARSE",
                "metrics": [{"type": "count"}],
                "applyGlobalQuery": True,
                "indexPatternRefName": layer_ref,
            },
            "query": TWEETS_ONLY,
            "style": {
                "type": "VECTOR",
                "properties": {
                    "fillColor": {
                        "type": "DYNAMIC",
                        "options": {
                            "color": "Blues",
                            "field": {"name": "doc_count", "origin": "source"},
                            "fieldMetaOptions": {"isEnabled": True, "sigma": 3},
                        },
                    },
                    "iconSize": {
                        "type": "DYNAMIC",
                        "options": {
                            "minSize": 4,
                            "maxSize": 32,
                            "field": {"name": "doc_count", "origin": "source"},
                            "fieldMetaOptions": {"isEnabled": True, "sigma": 3},
                        },
                    },
                },
                "isTimeAware": True,
            },
        },
    ]
    return {
        "type": "map",
        "id": "tweet-indexer-tweet-map",
        "attributes": {
            "title": "Where tweets come from",
            "description": "Geotagged tweets (GeoJSON point, else the centre of the tweet's place).",
            "layerListJSON": dumps(layers),
            "mapStateJSON": dumps(
                {
                    "zoom": 1.5,
                    "center": {"lon": 0, "lat": 20},
                    "timeFilters": {"from": "now-7d", "to": "now"},
                    "refreshConfig": {"isPaused": True, "interval": 0},
                    "query": TWEETS_ONLY,
                    "filters": [],
                    "settings": {},
                }
            ),
            "uiStateJSON": dumps({"isLayerTOCOpen": True, "openTOCDetails": []}),
        },
        "references": [{"name": layer_ref, "type": "index-pattern", "id": INDEX_PATTERN_ID}],
        "migrationVersion": {"map": "7.10.0"},
    }


def dashboard(panels: list) -> dict:
    """panels: (saved object, x, y, w, h) on the 48-column grid."""
    panels_json, references = [], []
    for i, (obj, x, y, w, h) in enumerate(panels):
        ref = f"panel_{i}"
        panels_json.append(
            {
                "version": "7.10.0",
                "gridData": {"x": x, "y": y, "w": w, "h": h, "i": str(i + 1)},
                "panelIndex": str(i + 1),
                "embeddableConfig": {},
                "panelRefName": ref,
            }
        )
        references.append({"name": ref, "type": obj["type"], "id": obj["id"]})
    return {
        "type": "dashboard",
        "id": DASHBOARD_ID,
        "attributes": {
            "title": "Tweets",
            "description": "Sentiment, emoji, hashtags, volume and places of the indexed tweets.",
            "version": 1,
            "hits": 0,
            "timeRestore": True,
            "timeFrom": "now-7d",
            "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 0},
            "optionsJSON": dumps({"useMargins": True, "hidePanelTitles": False}),
            "panelsJSON": dumps(panels_json),
            "kibanaSavedObjectMeta": {
                "searchSourceJSON": dumps({"query": TWEETS_ONLY, "filter": []})
            },
        },
        "references": references,
        "migrationVersion": {"dashboard": "7.9.3"},
    }


def objects(flavour: str) -> list:
    tweet_map = maps_app_map() if flavour == "kibana" else coordinate_map()
    over_time, pie, table, cloud = tweets_over_time(), sentiment_pie(), top_emoticons_table(), hashtag_cloud()
    board = dashboard(
        [
            (over_time, 0, 0, 48, 12),
            (pie, 0, 12, 16, 15),
            (table, 16, 12, 16, 15),
            (cloud, 32, 12, 16, 15),
            (tweet_map, 0, 27, 48, 20),
        ]
    )
    return [index_pattern(), over_time, pie, table, cloud, tweet_map, board]


FILES = {"kibana": "kibana.ndjson", "opensearch-dashboards": "opensearch-dashboards.ndjson"}


def render(flavour: str) -> str:
    return "".join(dumps(obj) + "\n" for obj in objects(flavour))


def main() -> int:
    check = sys.argv[1:] == ["--check"]
    stale = []
    for flavour, name in FILES.items():
        path = OUT / name
        text = render(flavour)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({text.count(chr(10))} objects)")
    if stale:
        print("out of date (run scripts/infra/build_dashboards.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
