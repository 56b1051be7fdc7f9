"""Writes the saved objects under infra/dashboards/ (run with any python 3; stdlib only).

What the dashboard shows is defined once, in infra/dashboards/panels.json: the documents left
out of every count, and each panel's bucket aggregations. This script turns that file into the
saved objects; `tweet-indexer dashboards preview` embeds the same file and runs the same
aggregations against the index. Only presentation (chart styles, legend positions, the map's
layers) lives here.

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
PANELS = json.loads((OUT / "panels.json").read_text(encoding="utf-8"))

INDEX_PATTERN_ID = PANELS["index_pattern"]["id"]
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
DASHBOARD_ID = PANELS["dashboard"]["id"]


def kql_exclusion(clause: dict) -> str:
    """One exclusion of panels.json as KQL: a term is `NOT field:value`, exists `NOT field:*`."""
    if set(clause) == {"term"} and len(clause["term"]) == 1:
        ((field, value),) = clause["term"].items()
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif not isinstance(value, (int, float, str)) or (isinstance(value, str) and not value.isalnum()):
            raise SystemExit(f"panels.json: exclusion {clause} needs a plain value")
        return f"NOT {field}:{value}"
    if set(clause) == {"exists"} and set(clause["exists"]) == {"field"}:
        return f"NOT {clause['exists']['field']}:*"
    raise SystemExit(f"panels.json: exclusion {clause} is neither a one-field term nor exists")


# Deletes are tombstone documents `{"deleted":true}` (README, "Delivery"); what X requires
# hidden carries `suppressed: true` (a protected, suspended or deleted user, a dropped tweet, an
# earlier version of an edited one) or `withheld_in_countries` (README, "Compliance").
# panels.json lists them and whatever else must not count: every query leaves them out.
TWEETS_ONLY = {"query": " AND ".join(kql_exclusion(c) for c in PANELS["exclude"]), "language": "kuery"}


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def search_source_with_index() -> dict:
    return {
        "searchSourceJSON": dumps(
            {"query": TWEETS_ONLY, "filter": [], "indexRefName": INDEX_REF}
        )
    }


def index_pattern() -> dict:
    pattern = PANELS["index_pattern"]
    return {
        "type": "index-pattern",
        "id": INDEX_PATTERN_ID,
        "attributes": {"title": pattern["title"], "timeFieldName": pattern["time_field"]},
        "references": [],
        "migrationVersion": {"index-pattern": "7.6.0"},
    }


def count_metric() -> dict:
    return {"id": "1", "enabled": True, "type": "count", "params": {}, "schema": "metric"}


def bucket_agg(agg_id: str, kind: str, params: dict, schema: str) -> dict:
    return {"id": agg_id, "enabled": True, "type": kind, "params": params, "schema": schema}


def terms(agg_id: str, field: str, size: int, schema: str, label: str) -> dict:
    params = {
        "field": field,
        "orderBy": "1",
        "order": "desc",
        "size": size,
        "otherBucket": False,
        "otherBucketLabel": "Other",
        "missingBucket": False,
        "missingBucketLabel": "Missing",
        "customLabel": label,
    }
    return bucket_agg(agg_id, "terms", params, schema)


def date_histogram(agg_id: str, bucket: dict) -> dict:
    params = {
        "field": bucket["field"],
        "useNormalizedEsInterval": True,
        "scaleMetricValues": False,
        "interval": bucket["interval"],
        "drop_partials": False,
        "min_doc_count": 1,
        "extended_bounds": {},
        "customLabel": bucket["label"],
    }
    return bucket_agg(agg_id, "date_histogram", params, bucket["schema"])


def geohash_grid(agg_id: str, bucket: dict) -> dict:
    params = {
        "field": bucket["field"],
        "autoPrecision": True,
        "precision": bucket["precision"],
        "useGeocentroid": bucket["centroid"],
        "isFilteredByCollar": True,
        "mapZoom": 2,
        "mapCenter": [20, 0],
    }
    return bucket_agg(agg_id, "geohash_grid", params, bucket["schema"])


def aggs(panel: dict) -> list:
    """The count metric (id 1) and the panel's bucket aggregations (ids 2, 3, ...) in order."""
    out = [count_metric()]
    for n, bucket in enumerate(panel["buckets"], 2):
        agg_id, kind = str(n), bucket["agg"]
        if kind == "terms":
            out.append(terms(agg_id, bucket["field"], bucket["size"], bucket["schema"], bucket["label"]))
        elif kind == "date_histogram":
            out.append(date_histogram(agg_id, bucket))
        elif kind == "geohash_grid":
            out.append(geohash_grid(agg_id, bucket))
        else:
            raise SystemExit(f"panels.json: panel {panel['id']}: unknown aggregation {kind!r}")
    return out


def visualization(panel: dict, vis_type: str, params: dict) -> dict:
    title = panel["title"]
    return {
        "type": "visualization",
        "id": panel["id"],
        "attributes": {
            "title": title,
            "description": panel["description"],
            "version": 1,
            "uiStateJSON": "{}",
            "visState": dumps({"title": title, "type": vis_type, "aggs": aggs(panel), "params": params}),
            "kibanaSavedObjectMeta": search_source_with_index(),
        },
        "references": [{"name": INDEX_REF, "type": "index-pattern", "id": INDEX_PATTERN_ID}],
        "migrationVersion": {"visualization": "7.10.0"},
    }


def sentiment_pie(panel: dict) -> dict:
    return visualization(
        panel,
        "pie",
        {
            "type": "pie",
            "addTooltip": True,
            "addLegend": True,
            "legendPosition": "right",
            "isDonut": True,
            "labels": {"show": True, "values": True, "last_level": True, "truncate": 100},
        },
    )


def top_emoticons_table(panel: dict) -> dict:
    return visualization(
        panel,
        "table",
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


def hashtag_cloud(panel: dict) -> dict:
    return visualization(
        panel,
        "tagcloud",
        {"scale": "linear", "orientation": "single", "minFontSize": 14, "maxFontSize": 64, "showLabel": False},
    )


def tweets_over_time(panel: dict) -> dict:
    return visualization(
        panel,
        "histogram",
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


def coordinate_map(panel: dict) -> dict:
    """OpenSearch Dashboards: the legacy coordinate map, a geohash grid of tweet locations."""
    return visualization(
        panel,
        "tile_map",
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


def maps_app_map(panel: dict) -> dict:
    """Kibana: a Maps app document with a grid (cluster) layer over the panel's geo field."""
    layer_ref = "layer_1_source_index_pattern"
    (grid,) = panel["buckets"]
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
                "geoField": grid["field"],
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
        "id": panel["id"],
        "attributes": {
            "title": panel["title"],
            "description": panel["description"],
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
    """panels: (saved object, its panels.json entry, whose grid places it on 48 columns)."""
    panels_json, references = [], []
    for i, (obj, panel) in enumerate(panels):
        ref = f"panel_{i}"
        grid = panel["grid"]
        panels_json.append(
            {
                "version": "7.10.0",
                "gridData": {"x": grid["x"], "y": grid["y"], "w": grid["w"], "h": grid["h"], "i": str(i + 1)},
                "panelIndex": str(i + 1),
                "embeddableConfig": {},
                "panelRefName": ref,
            }
        )
        references.append({"name": ref, "type": obj["type"], "id": obj["id"]})
    board = PANELS["dashboard"]
    return {
        "type": "dashboard",
        "id": DASHBOARD_ID,
        "attributes": {
            "title": board["title"],
            "description": board["description"],
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


# panels.json kind -> the saved object for each flavour.
BUILDERS = {
    "histogram": {"kibana": tweets_over_time, "opensearch-dashboards": tweets_over_time},
    "pie": {"kibana": sentiment_pie, "opensearch-dashboards": sentiment_pie},
    "table": {"kibana": top_emoticons_table, "opensearch-dashboards": top_emoticons_table},
    "tagcloud": {"kibana": hashtag_cloud, "opensearch-dashboards": hashtag_cloud},
    "map": {"kibana": maps_app_map, "opensearch-dashboards": coordinate_map},
}


def objects(flavour: str) -> list:
    placed = []
    for panel in PANELS["panels"]:
        if panel["kind"] not in BUILDERS:
            raise SystemExit(f"panels.json: panel {panel['id']}: unknown kind {panel['kind']!r}")
        placed.append((BUILDERS[panel["kind"]][flavour](panel), panel))
    return [index_pattern(), *(obj for obj, _ in placed), dashboard(placed)]


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
