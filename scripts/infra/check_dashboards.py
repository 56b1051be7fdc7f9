"""Structural check of the saved objects in infra/dashboards/*.ndjson against mappings/twitter.json.

No Kibana or OpenSearch Dashboards runs here, so this reads the files the way the saved objects
import API does, independently of build_dashboards.py (which only has to be up to date):
- every line is a saved object: a string `type` and `id`, an `attributes` object, `references`
  entries with name / type / id, no duplicate (type, id);
- embedded JSON (visState, panelsJSON, searchSourceJSON, layerListJSON, ...) parses;
- every reference resolves to an object in the same file, and every `indexRefName`,
  `panelRefName` and `indexPatternRefName` resolves to a reference of the right type, so the
  file imports with no missing references;
- every field an aggregation, time field or map layer uses exists in mappings/twitter.json with
  a type that aggregation can run on (keyword / date / geo_point / numeric / boolean: never
  `text`, which has no doc values);
- every query (visualizations, the map and its tweet layer, the dashboard) leaves out the
  tombstones deletes write (`{"deleted":true}`, README "Delivery") with `NOT deleted:true`,
  and what X requires hidden (README "Compliance"): `NOT suppressed:true` and
  `NOT withheld_in_countries:*`, each field mapped with the type the clause needs;
- each file holds what the dashboard is for: index pattern `twitter` (the index, or the alias
  over its time partitions; not `twitter*`, which matches `twitter_compliance`) on `timestamp_ms`, a map of
  `coordinates.coordinates`, a sentiment pie, a top-5 emoji table split by sentiment, a hashtag
  cloud, tweets over time, and one dashboard holding all of them.
"""

import fnmatch
import json
import subprocess
import sys
from pathlib import Path

from common import REPO, Report, main_guard

DASHBOARDS = REPO / "infra" / "dashboards"
MAPPING = REPO / "mappings" / "twitter.json"
INDEX = "twitter"

NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
TERMS_TYPES = {"keyword", "boolean", "date", "ip"} | NUMERIC
# Aggregation type -> field types it can run on.
AGG_FIELD_TYPES = {
    "terms": TERMS_TYPES,
    "significant_terms": TERMS_TYPES,
    "rare_terms": TERMS_TYPES,
    "cardinality": TERMS_TYPES,
    "date_histogram": {"date"},
    "date_range": {"date"},
    "histogram": NUMERIC,
    "range": NUMERIC,
    "avg": NUMERIC,
    "sum": NUMERIC,
    "min": NUMERIC | {"date"},
    "max": NUMERIC | {"date"},
    "median": NUMERIC,
    "percentiles": NUMERIC,
    "geohash_grid": {"geo_point"},
    "geotile_grid": {"geo_point"},
    "geo_centroid": {"geo_point"},
    "geo_bounds": {"geo_point"},
}
NO_FIELD_AGGS = {"count", "filters"}
KNOWN_TYPES = {"index-pattern", "visualization", "dashboard", "map", "search"}
# Every query leaves these out: (KQL clause, its field, the types that field may be mapped as).
EXCLUSIONS = [
    ("NOT deleted:true", "deleted", {"boolean"}),
    ("NOT suppressed:true", "suppressed", {"boolean"}),
    ("NOT withheld_in_countries:*", "withheld_in_countries", {"keyword"}),
]


def mapped_fields(mapping: dict) -> dict:
    """Dotted field path -> type, including multi-fields (`user.name.keyword`)."""
    out = {}

    def walk(props: dict, prefix: str):
        for name, spec in props.items():
            path = prefix + name
            if "properties" in spec:
                walk(spec["properties"], path + ".")
            if "type" in spec:
                out[path] = spec["type"]
            for sub, sub_spec in spec.get("fields", {}).items():
                out[f"{path}.{sub}"] = sub_spec.get("type", "object")

    walk(mapping["mappings"]["properties"], "")
    return out


class FileCheck:
    def __init__(self, path: Path, fields: dict, report: Report):
        self.path, self.fields, self.report = path, fields, report
        self.name = path.name
        self.objects: dict = {}
        self.errors = 0

    def fail(self, msg: str):
        self.errors += 1
        self.report.failed(f"{self.name}: {msg}")

    def embedded(self, obj: dict, key: str, container: dict):
        raw = container.get(key)
        if not isinstance(raw, str):
            self.fail(f"{obj['type']}/{obj['id']}: {key} missing or not a JSON string")
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as e:
            self.fail(f"{obj['type']}/{obj['id']}: {key} does not parse: {e}")
            return None

    def reference(self, obj: dict, ref_name: str, want_type: str | None):
        for ref in obj.get("references", []):
            if ref.get("name") == ref_name:
                if want_type and ref.get("type") != want_type:
                    self.fail(f"{obj['type']}/{obj['id']}: reference {ref_name} is a {ref.get('type')}, not a {want_type}")
                return ref
        self.fail(f"{obj['type']}/{obj['id']}: no reference named {ref_name}")
        return None

    def field(self, obj: dict, field: str, allowed: set, what: str):
        kind = self.fields.get(field)
        if kind is None:
            self.fail(f"{obj['type']}/{obj['id']}: {what} uses field {field!r}, which mappings/twitter.json does not map")
        elif kind not in allowed:
            self.fail(f"{obj['type']}/{obj['id']}: {what} on {field!r} needs {'/'.join(sorted(allowed))}, the mapping says {kind}")
        return kind

    # ---- per type ----
    def index_pattern(self, obj: dict):
        attrs = obj["attributes"]
        title, time_field = attrs.get("title"), attrs.get("timeFieldName")
        if not isinstance(title, str) or not fnmatch.fnmatchcase(INDEX, title):
            self.fail(f"index-pattern/{obj['id']}: title {title!r} does not match the index {INDEX!r}")
        self.field(obj, time_field, {"date"}, "time field")

    def search_source_index(self, obj: dict):
        meta = obj["attributes"].get("kibanaSavedObjectMeta", {})
        source = self.embedded(obj, "searchSourceJSON", meta)
        if source is not None and "indexRefName" in source:
            self.reference(obj, source["indexRefName"], "index-pattern")
        if source is not None:
            self.excludes_tombstones(obj, source.get("query"), "searchSourceJSON")
        return source

    def excludes_tombstones(self, obj: dict, query, where: str):
        """A KQL query that leaves out tombstones, suppressed and withheld documents (EXCLUSIONS,
        and-ed); each field must be mapped with the type its clause needs."""
        text = query.get("query") if isinstance(query, dict) else None
        kuery = isinstance(text, str) and query.get("language") == "kuery"
        clauses = [c.strip() for c in text.split(" AND ")] if kuery else []
        for clause, field, types in EXCLUSIONS:
            if clause not in clauses:
                self.fail(f"{obj['type']}/{obj['id']}: {where} query {query!r} does not exclude {field} ({clause})")
            self.field(obj, field, types, "exclusion")

    def visualization(self, obj: dict):
        vis = self.embedded(obj, "visState", obj["attributes"])
        source = self.search_source_index(obj)
        if vis is None:
            return None
        if source is None or "indexRefName" not in source:
            self.fail(f"visualization/{obj['id']}: no index pattern (searchSourceJSON.indexRefName)")
        aggs = vis.get("aggs")
        if not isinstance(aggs, list) or not aggs:
            self.fail(f"visualization/{obj['id']}: visState has no aggs")
            return None
        for agg in aggs:
            kind = agg.get("type")
            if not {"id", "type", "schema", "params"} <= agg.keys():
                self.fail(f"visualization/{obj['id']}: agg {agg} lacks id/type/schema/params")
                continue
            if kind in NO_FIELD_AGGS:
                continue
            if kind not in AGG_FIELD_TYPES:
                self.fail(f"visualization/{obj['id']}: unknown aggregation {kind!r}")
                continue
            self.field(obj, agg["params"].get("field"), AGG_FIELD_TYPES[kind], f"{kind} aggregation")
        return vis

    def map(self, obj: dict):
        layers = self.embedded(obj, "layerListJSON", obj["attributes"])
        state = self.embedded(obj, "mapStateJSON", obj["attributes"])
        if state is not None:
            self.excludes_tombstones(obj, state.get("query"), "mapStateJSON")
        geo_fields = []
        for layer in layers or []:
            source = layer.get("sourceDescriptor", {})
            if "indexPatternRefName" in source:
                self.excludes_tombstones(obj, layer.get("query"), f"layer {layer.get('id')}")
            if "indexPatternRefName" in source:
                self.reference(obj, source["indexPatternRefName"], "index-pattern")
            if "geoField" in source:
                self.field(obj, source["geoField"], {"geo_point", "geo_shape"}, f"{source.get('type')} layer")
                geo_fields.append(source["geoField"])
            for metric in source.get("metrics", []):
                if "field" in metric:
                    self.field(obj, metric["field"], AGG_FIELD_TYPES.get(metric.get("type"), set()), f"{metric.get('type')} metric")
            for tip in source.get("tooltipProperties", []):
                self.field(obj, tip, set(self.fields.values()) - {"text"}, "tooltip")
        return geo_fields

    def dashboard(self, obj: dict):
        panels = self.embedded(obj, "panelsJSON", obj["attributes"])
        self.embedded(obj, "optionsJSON", obj["attributes"])
        self.search_source_index(obj)
        held = []
        for panel in panels or []:
            grid = panel.get("gridData", {})
            if not {"x", "y", "w", "h", "i"} <= grid.keys():
                self.fail(f"dashboard/{obj['id']}: panel {panel.get('panelIndex')} has incomplete gridData")
            ref = self.reference(obj, panel.get("panelRefName", "?"), None)
            if ref:
                held.append((ref["type"], ref["id"]))
        return held

    # ---- the file ----
    def run(self):
        lines = [l for l in self.path.read_text(encoding="utf-8").splitlines() if l.strip()]
        for n, line in enumerate(lines, 1):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                self.fail(f"line {n} is not JSON: {e}")
                continue
            if "exportedCount" in obj:  # the summary line an export ends with
                continue
            if not (isinstance(obj.get("type"), str) and isinstance(obj.get("id"), str) and isinstance(obj.get("attributes"), dict)):
                self.fail(f"line {n}: not a saved object (type, id, attributes)")
                continue
            if obj["type"] not in KNOWN_TYPES:
                self.fail(f"line {n}: unexpected saved object type {obj['type']!r}")
            refs = obj.get("references", [])
            if not isinstance(refs, list) or not all(
                isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("name", "type", "id")) for r in refs
            ):
                self.fail(f"{obj['type']}/{obj['id']}: references must be objects with name, type, id")
                obj["references"] = []
            key = (obj["type"], obj["id"])
            if key in self.objects:
                self.fail(f"duplicate saved object {key}")
            self.objects[key] = obj

        for (kind, oid), obj in self.objects.items():
            for ref in obj.get("references", []):
                if (ref["type"], ref["id"]) not in self.objects:
                    self.fail(f"{kind}/{oid}: reference {ref['name']} -> {ref['type']}/{ref['id']} is not in the file")

        patterns = [o for (k, _), o in self.objects.items() if k == "index-pattern"]
        for obj in patterns:
            self.index_pattern(obj)
        found = {}
        for (kind, oid), obj in self.objects.items():
            if kind == "visualization":
                vis = self.visualization(obj)
                if vis:
                    found.setdefault("vis", []).append((oid, vis))
            elif kind == "map":
                if "coordinates.coordinates" in self.map(obj):
                    found.setdefault("map", []).append(oid)
        dashboards = [(oid, self.dashboard(o)) for (k, oid), o in self.objects.items() if k == "dashboard"]
        self.required_content(patterns, found, dashboards)

    def required_content(self, patterns, found, dashboards):
        def agg_fields(vis):
            return [(a.get("type"), a.get("params", {}).get("field"), a.get("params", {}).get("size")) for a in vis["aggs"]]

        wanted = {
            "sentiment pie": lambda v: v["type"] == "pie" and ("terms", "sentiments") in [a[:2] for a in agg_fields(v)],
            "top 5 emoji table split by sentiment": lambda v: v["type"] == "table"
            and ("terms", "emoticons", 5) in agg_fields(v)
            and ("terms", "sentiments") in [a[:2] for a in agg_fields(v)],
            "hashtag cloud": lambda v: v["type"] == "tagcloud" and ("terms", "hashtags") in [a[:2] for a in agg_fields(v)],
            "tweets over time": lambda v: ("date_histogram", "timestamp_ms") in [a[:2] for a in agg_fields(v)],
            "coordinate map": lambda v: v["type"] in {"tile_map", "region_map"}
            and any(a[0] in {"geohash_grid", "geotile_grid"} and a[1] == "coordinates.coordinates" for a in agg_fields(v)),
        }
        if not any(p["attributes"].get("title") == INDEX and p["attributes"].get("timeFieldName") == "timestamp_ms" for p in patterns):
            self.fail(f"no index pattern `{INDEX}` (the index, or the alias over its partitions) with time field timestamp_ms")
        ids = {}
        for what, test in wanted.items():
            hits = [("visualization", oid) for oid, vis in found.get("vis", []) if test(vis)]
            if what == "coordinate map":
                hits += [("map", oid) for oid in found.get("map", [])]
            if hits:
                ids[what] = hits
            else:
                self.fail(f"no {what}")
        if len(dashboards) != 1:
            self.fail(f"expected one dashboard, found {len(dashboards)}")
            return
        board_id, held = dashboards[0]
        for what, hits in ids.items():
            if not any(h in held for h in hits):
                self.fail(f"dashboard/{board_id} does not hold the {what}")


def run() -> int:
    report = Report("dashboards")
    # An optional argument names another folder of NDJSON (the self-test feeds broken copies).
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DASHBOARDS
    if folder != DASHBOARDS:
        return check_folder(folder, report)
    fresh = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("build_dashboards.py")), "--check"],
        capture_output=True, text=True,
    )
    if fresh.returncode == 0:
        report.passed("infra/dashboards/*.ndjson are what build_dashboards.py writes")
    else:
        report.failed((fresh.stdout + fresh.stderr).strip())
    return check_folder(folder, report)


def check_folder(folder: Path, report: Report) -> int:
    if not MAPPING.exists():
        report.failed("mappings/twitter.json is missing")
        return report.finish()
    with MAPPING.open(encoding="utf-8") as f:
        fields = mapped_fields(json.load(f))
    files = sorted(folder.glob("*.ndjson"))
    if not files:
        report.failed("no saved objects in infra/dashboards/")
    for path in files:
        check = FileCheck(path, fields, report)
        check.run()
        if not check.errors:
            kinds = sorted({k for k, _ in check.objects})
            report.passed(f"{path.name}: {len(check.objects)} saved objects ({', '.join(kinds)}) parse as saved objects, references resolve, every field mapped and aggregatable")
    return report.finish()


if __name__ == "__main__":
    main_guard(run)
