#!/usr/bin/env python3
"""An "acknowledging" OpenSearch stand-in on 127.0.0.1 for benchmarks that measure the client.

It answers what a bulk loader sends, as OpenSearch 2.x answers it, and stores no document:
  - `GET /`, `HEAD|PUT|DELETE /{index}`, `GET|PUT /{index}/_mapping`, `PUT /_index_template/{name}`
    (the calls of search-sink's `ensure_index`, and `indices.create` of opensearch-py); an index
    is created from a matching template when a bulk names one that does not exist;
  - `POST /_bulk` and `/{index}/_bulk`: the body (gzip when `Content-Encoding: gzip`, chunked or
    not) is split into lines and only the action lines are parsed (op type, `_index`, `_id`,
    `version`); every item succeeds (201 `created` for an id new to the index, else 200
    `updated`, `_version` = the external version when one is given). `filter_path` is honoured
    for the `items.*.<field>` patterns clients use (search-sink sends one, opensearch-py none),
    so each client gets the response size a real server would send it;
  - `_refresh`, `_count` (distinct ids received per index), so the usual "is everything there"
    checks work;
  - `GET /_ack/stats`: requests, bulk requests, documents, bytes on the wire and decompressed,
    unsupported requests, and this process's own CPU seconds (user + sys) and peak RSS, so a
    benchmark can show the server was not its bottleneck (take a snapshot before and after).
Responses are never compressed (identity is always acceptable). Anything else gets a 400 with
an OpenSearch-shaped error and is counted as `unsupported`.

Written in Python with the standard library only (the bench venv has no server framework to
trust more); each bulk costs a C-level split, one small `json.loads` per action line and one
`json.dumps` of the answer, a few percent of a core at the rates the clients reach.

  ack_server.py [--port 0]   prints `{"url": "http://127.0.0.1:PORT"}` once listening.
"""
import argparse
import fnmatch
import gzip
import json
import resource
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# Every item field OpenSearch 2.x returns for a successful index, in its order.
ITEM_FIELDS = ("_index", "_id", "_version", "result", "_shards", "_seq_no", "_primary_term", "status")
SHARDS = {"total": 2, "successful": 1, "failed": 0}


class State:
    """Indices (their ids only), templates and counters, behind one lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.indices = {}  # name -> {"body": dict, "ids": set}
        self.templates = {}  # name -> template body
        self.seq_no = 0
        self.stats = {
            "requests": 0,
            "bulk_requests": 0,
            "documents": 0,
            "wire_bytes": 0,
            "plain_bytes": 0,
            "gzip_requests": 0,
            "unsupported": 0,
        }

    def create_index(self, name, body):
        """Creates `name` (caller holds the lock); False when it exists."""
        if name in self.indices:
            return False
        self.indices[name] = {"body": body or {}, "ids": set()}
        return True

    def auto_create(self, name):
        """A bulk into a missing index creates it, from a matching template if there is one."""
        if name in self.indices:
            return
        body = {}
        for template in self.templates.values():
            if any(fnmatch.fnmatchcase(name, p) for p in template.get("index_patterns", [])):
                body = template.get("template", {})
        self.create_index(name, body)


def item_filter(query):
    """The item fields `filter_path` keeps (None: keep everything), and whether `took`/`errors`
    survive. Only the `items.*.<field>` patterns are understood; that is what clients send."""
    paths = query.get("filter_path")
    if not paths:
        return None, True
    patterns = [p.strip() for value in paths for p in value.split(",") if p.strip()]
    fields = set()
    for pattern in patterns:
        if pattern.startswith("items.*."):
            fields.add(pattern[len("items.*."):].split(".", 1)[0])
        elif pattern in ("items", "items.*"):
            fields.update(ITEM_FIELDS)
    top = any(p in ("took", "errors") for p in patterns)
    return fields, top


def bulk_answer(state, path_index, body, query):
    """Parses the action lines of one bulk body and answers every item with success."""
    lines = body.split(b"\n")
    keep, top = item_filter(query)
    items = []
    with state.lock:
        i, count = 0, len(lines)
        while i < count:
            line = lines[i]
            i += 1
            if not line.strip():
                continue
            (op, meta), = json.loads(line).items()
            if op != "delete":
                i += 1  # the source line: not parsed, not kept
            index = meta.get("_index", path_index)
            state.auto_create(index)
            ids = state.indices[index]["ids"]
            doc_id = meta.get("_id")
            if doc_id is None:
                doc_id = f"ack-{state.seq_no}"
            new = doc_id not in ids
            if op == "delete":
                ids.discard(doc_id)
                result, status = ("not_found", 404) if new else ("deleted", 200)
            else:
                ids.add(doc_id)
                result, status = ("created", 201) if new else ("updated", 200)
            item = {
                "_index": index,
                "_id": doc_id,
                "_version": meta.get("version", 1),
                "result": result,
                "_shards": SHARDS,
                "_seq_no": state.seq_no,
                "_primary_term": 1,
                "status": status,
            }
            state.seq_no += 1
            if keep is not None:
                item = {k: v for k, v in item.items() if k in keep}
            items.append({op: item})
        state.stats["documents"] += len(items)
    answer = {"items": items}
    if top:
        answer = {"took": 1, "errors": False, "items": items}
    if keep is not None and not keep:
        answer = {}
    return answer


def make_handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ack-server"

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self.route("HEAD")

        def do_GET(self):
            self.route("GET")

        def do_PUT(self):
            self.route("PUT")

        def do_POST(self):
            self.route("POST")

        def do_DELETE(self):
            self.route("DELETE")

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                parts = []
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                raw = b"".join(parts)
            else:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            gzipped = self.headers.get("Content-Encoding", "").lower() == "gzip"
            plain = gzip.decompress(raw) if gzipped and raw else raw
            with state.lock:
                state.stats["requests"] += 1
                state.stats["wire_bytes"] += len(raw)
                state.stats["plain_bytes"] += len(plain)
                state.stats["gzip_requests"] += int(gzipped)
            return plain

        def answer(self, status, payload, method):
            data = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(data)

        def error(self, status, kind, reason, method):
            self.answer(status, {"error": {"root_cause": [{"type": kind, "reason": reason}],
                                           "type": kind, "reason": reason}, "status": status},
                        method)

        def route(self, method):
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            parts = [unquote(p) for p in url.path.split("/") if p]
            body = self.read_body()
            try:
                self.dispatch(method, parts, query, body)
            except (ValueError, KeyError, TypeError) as problem:
                self.error(400, "parse_exception", f"ack server: {problem}", method)

        def dispatch(self, method, parts, query, body):
            if not parts and method in ("GET", "HEAD"):
                return self.answer(200, {"name": "ack", "cluster_name": "ack-server",
                                         "version": {"distribution": "opensearch",
                                                     "number": "2.19.0"},
                                         "tagline": "The OpenSearch Project: https://opensearch.org/"},
                                   method)
            if parts == ["_ack", "stats"]:
                usage = resource.getrusage(resource.RUSAGE_SELF)
                with state.lock:
                    stats = dict(state.stats)
                stats.update(cpu_user_seconds=usage.ru_utime, cpu_sys_seconds=usage.ru_stime,
                             cpu_seconds=usage.ru_utime + usage.ru_stime,
                             max_rss_kib=usage.ru_maxrss, time=time.time())
                return self.answer(200, stats, method)
            if parts and parts[-1] == "_bulk" and method in ("POST", "PUT") and len(parts) <= 2:
                with state.lock:
                    state.stats["bulk_requests"] += 1
                path_index = parts[0] if len(parts) == 2 else None
                return self.answer(200, bulk_answer(state, path_index, body, query), method)
            if len(parts) == 2 and parts[0] == "_index_template" and method in ("PUT", "POST"):
                with state.lock:
                    state.templates[parts[1]] = json.loads(body or b"{}")
                return self.answer(200, {"acknowledged": True}, method)
            if len(parts) == 1 and not parts[0].startswith("_"):
                return self.index(method, parts[0], body)
            if len(parts) == 2 and not parts[0].startswith("_"):
                return self.index_api(method, parts[0], parts[1], body)
            with state.lock:
                state.stats["unsupported"] += 1
            return self.error(400, "illegal_argument_exception",
                              f"ack server does not answer {method} {self.path}", method)

        def index(self, method, name, body):
            with state.lock:
                exists = name in state.indices
                if method in ("HEAD", "GET"):
                    if not exists:
                        return self.missing(name, method)
                    return self.answer(200, {name: state.indices[name]["body"]}, method)
                if method == "PUT":
                    if not state.create_index(name, json.loads(body or b"{}")):
                        return self.error(400, "resource_already_exists_exception",
                                          f"index [{name}] already exists", method)
                    return self.answer(200, {"acknowledged": True, "shards_acknowledged": True,
                                             "index": name}, method)
                if method == "DELETE":
                    if state.indices.pop(name, None) is None:
                        return self.missing(name, method)
                    return self.answer(200, {"acknowledged": True}, method)
            return self.error(405, "illegal_argument_exception", "method not allowed", method)

        def index_api(self, method, name, api, body):
            with state.lock:
                index = state.indices.get(name)
                if index is None:
                    return self.missing(name, method)
                if api == "_mapping" and method == "GET":
                    return self.answer(200, {name: {"mappings": index["body"].get("mappings", {})}},
                                       method)
                if api == "_mapping" and method in ("PUT", "POST"):
                    mappings = index["body"].setdefault("mappings", {})
                    mappings.setdefault("properties", {}).update(
                        json.loads(body or b"{}").get("properties", {}))
                    return self.answer(200, {"acknowledged": True}, method)
                if api == "_refresh":
                    return self.answer(200, {"_shards": SHARDS}, method)
                if api == "_count":
                    return self.answer(200, {"count": len(index["ids"]), "_shards": SHARDS}, method)
                state.stats["unsupported"] += 1
            return self.error(400, "illegal_argument_exception",
                              f"ack server does not answer {method} {self.path}", method)

        def missing(self, name, method):
            self.error(404, "index_not_found_exception", f"no such index [{name}]", method)

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(State()))
    server.daemon_threads = True
    print(json.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}"}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
