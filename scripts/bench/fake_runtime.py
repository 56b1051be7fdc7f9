#!/usr/bin/env python3
"""A minimal Lambda runtime API on 127.0.0.1 for measuring the real `tweet-indexer-lambda`
binary as Lambda runs it (the process is started with AWS_LAMBDA_RUNTIME_API pointing here).

  init   --binary B --runs N : N fresh processes; time from just before spawning each to the
                               arrival of its first `GET /2018-06-01/runtime/invocation/next`.
  invoke --binary B --event E: one process, one invocation with event E; when the process asks
                               for the next event, its peak RSS (VmHWM) and CPU seconds (user +
                               sys, also read at its first poll: the init's share) are read from
                               /proc and it is stopped. --max-rss-mib M kills it as soon as its
                               resident set passes M MiB (read every 20 ms), so that a test of a
                               memory bound cannot take the machine down with it; the line then
                               says "killed_over_rss_mib" and the exit status is 1.

The environment (ES_ENDPOINT, AWS_ENDPOINT_URL_S3, ...) is passed through to the binary, less
SSL_CERT_FILE and SSL_CERT_DIR: Lambda does not set them, and a machine that sets them for its
other tools would make the binary read its whole certificate directory, which it never does on
Lambda (pass --keep-ssl-env to keep them).
Prints one JSON line.
"""
import argparse
import http.server
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time

NEXT = "/2018-06-01/runtime/invocation/next"


KEEP_SSL_ENV = False


def lambda_env(port: int) -> dict:
    env = dict(os.environ)
    if not KEEP_SSL_ENV:
        env.pop("SSL_CERT_FILE", None)
        env.pop("SSL_CERT_DIR", None)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "tweet-indexer",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/tweet-indexer",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    })
    return env


def listen() -> tuple:
    """A listening socket on a random port in 30000-39999."""
    for _ in range(100):
        port = random.randint(30000, 39999)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen(16)
        return sock, port
    raise SystemExit("no free port in 30000-39999")


def stop(process: subprocess.Popen) -> None:
    process.kill()
    process.wait()


def init_once(binary: str, log) -> float:
    sock, port = listen()
    sock.settimeout(30)
    try:
        started = time.perf_counter()
        process = subprocess.Popen([binary], env=lambda_env(port), stdout=log, stderr=log)
        try:
            while True:
                conn, _ = sock.accept()
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.split(b"\r\n", 1)[0].startswith(f"GET {NEXT}".encode()):
                    elapsed = time.perf_counter() - started
                    conn.close()
                    return elapsed
                conn.close()
        finally:
            stop(process)
    finally:
        sock.close()


def vm_kib(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                out[name] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` so far (its threads included), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def watch_rss(process: subprocess.Popen, limit_kib: int, state: dict, done: threading.Event) -> None:
    """Kills `process` once its VmRSS passes `limit_kib` (recording the reading); ends the
    wait if the process exits on its own."""
    while not done.is_set():
        if process.poll() is not None:
            state["exited"] = process.returncode
            done.set()
            return
        try:
            memory = vm_kib(process.pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if memory.get("VmRSS", 0) > limit_kib:
            state["killed"] = memory
            process.kill()
            done.set()
            return
        time.sleep(0.02)


def invoke_once(binary: str, event: bytes, log, max_rss_mib=None) -> dict:
    state = {"served": False, "response": None, "memory": None, "started": None, "killed": None}
    done = threading.Event()
    holder = {}

    class Runtime(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != NEXT:
                self.send_error(404)
                return
            if not state["served"]:
                state["served"] = True
                state["cpu_init"] = cpu_seconds(holder["process"].pid)
                state["started"] = time.perf_counter()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(event)))
                self.send_header("Lambda-Runtime-Aws-Request-Id", "bench-request")
                deadline_ms = int(time.time() * 1000) + 15 * 60 * 1000
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:000000000000:function:tweet-indexer")
                self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
                self.end_headers()
                self.wfile.write(event)
                return
            # The second poll: the invocation is over; read the peak before stopping it.
            state["memory"] = vm_kib(holder["process"].pid)
            state["cpu"] = cpu_seconds(holder["process"].pid)
            done.set()
            time.sleep(5)

        def do_POST(self):
            body = self.read_body()
            if "/response" in self.path or "/error" in self.path:
                state["seconds"] = time.perf_counter() - state["started"]
                state["response"] = {"path": self.path, "body": body.decode("utf-8", "replace")}
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    sock, port = listen()
    sock.close()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Runtime)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    process = subprocess.Popen([binary], env=lambda_env(port), stdout=log, stderr=log)
    holder["process"] = process
    if max_rss_mib is not None:
        threading.Thread(
            target=watch_rss, args=(process, max_rss_mib * 1024, state, done), daemon=True
        ).start()
    try:
        if not done.wait(timeout=900):
            raise SystemExit("the invocation did not finish in 900 s")
    finally:
        stop(process)
        server.shutdown()
    if state["killed"] is not None or state["memory"] is None:
        killed = state["killed"] or {}
        return {
            "bench": "lambda_binary_invoke",
            "killed_over_rss_mib": max_rss_mib if state["killed"] else None,
            "exited": state.get("exited"),
            "vm_hwm_kib": killed.get("VmHWM"),
            "vm_rss_kib_at_end": killed.get("VmRSS"),
            "response_path": None,
            "response": None,
        }
    response = state["response"] or {}
    return {
        "bench": "lambda_binary_invoke",
        "vm_hwm_kib": state["memory"]["VmHWM"],
        "vm_rss_kib_at_end": state["memory"]["VmRSS"],
        "seconds": state.get("seconds"),
        "cpu_seconds_init": state["cpu_init"],
        "cpu_seconds": state["cpu"],
        "response_path": response.get("path"),
        "response": json.loads(response["body"]) if response.get("body") else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["init", "invoke"])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--event", help="event JSON file (invoke)")
    parser.add_argument("--log", default=os.devnull, help="where the binary's output goes")
    parser.add_argument("--max-rss-mib", type=int,
                        help="invoke: kill the binary once its resident set passes this")
    parser.add_argument("--keep-ssl-env", action="store_true",
                        help="pass SSL_CERT_FILE / SSL_CERT_DIR through to the binary")
    args = parser.parse_args()
    global KEEP_SSL_ENV
    KEEP_SSL_ENV = args.keep_ssl_env
    with open(args.log, "ab") as log:
        if args.mode == "init":
            times = [init_once(args.binary, log) for _ in range(args.runs)]
            print(json.dumps({
                "bench": "lambda_init",
                "runs": len(times),
                "median_ms": statistics.median(times) * 1000,
                "min_ms": min(times) * 1000,
                "max_ms": max(times) * 1000,
                "all_ms": [round(t * 1000, 2) for t in times],
            }))
            return 0
        with open(args.event, "rb") as event:
            result = invoke_once(args.binary, event.read(), log, args.max_rss_mib)
        print(json.dumps(result))
        return 0 if result["response_path"] and result["response_path"].endswith("/response") else 1


if __name__ == "__main__":
    sys.exit(main())
