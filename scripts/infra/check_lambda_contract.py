"""The template's Lambdas match what their binaries are and read.

Two functions: the indexer (`tweet-indexer-lambda`) and the deploy-time fine-grained access
control mapping (`tweet-indexer-fgac-setup`, a custom resource). Template side (always): Handler
`bootstrap`, Runtime provided.al2023, arm64, built by `rust-cargolambda` with
BuildProperties.Binary one of those, CodeUri at the workspace.
Binary side (once a crate builds that binary): every environment variable the template sets is
read by the binary's own sources or by the path dependencies it links (a variable nobody reads is
a silent misconfiguration), and the binary's required ES_ENDPOINT is set. This reads the Rust
sources for string literals, so it cannot see a name assembled at run time; the crates spell them
out (issue 5: "keep these exact names"). Alarms on the binary's EMF metrics are checked the same
way: namespace, metric and dimension names must be literals the binary's crates contain.
"""

import re
import sys
import tomllib
from pathlib import Path

from common import REPO, TEMPLATE, Report, load_template, main_guard

BINARY = "tweet-indexer-lambda"
BINARIES = {BINARY: {"ES_ENDPOINT"}, "tweet-indexer-fgac-setup": set()}  # binary -> required variables


def crates() -> dict:
    """Package name -> (directory, manifest) for every crate under crates/."""
    out = {}
    for manifest in sorted((REPO / "crates").glob("*/Cargo.toml")):
        with manifest.open("rb") as f:
            data = tomllib.load(f)
        name = data.get("package", {}).get("name")
        if name:
            out[name] = (manifest.parent, data)
    return out


def builds_binary(data: dict, binary: str = BINARY) -> bool:
    if data.get("package", {}).get("name") == binary and not data.get("bin"):
        return True  # src/main.rs builds a binary named after the package
    return any(b.get("name") == binary for b in data.get("bin", []))


def linked_crates(start: str, all_crates: dict) -> list:
    """start and its path dependencies inside the workspace, transitively."""
    seen, todo = [], [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in all_crates:
            continue
        seen.append(name)
        directory, data = all_crates[name]
        for dep_name, spec in data.get("dependencies", {}).items():
            if isinstance(spec, dict) and "path" in spec:
                dep_dir = (directory / spec["path"]).resolve()
                for other, (other_dir, _) in all_crates.items():
                    if other_dir.resolve() == dep_dir:
                        todo.append(other)
    return seen


def string_literals(crate_names, all_crates) -> set:
    literals = set()
    for crate in crate_names:
        for source in (all_crates[crate][0] / "src").rglob("*.rs"):
            literals |= set(re.findall(r'"([A-Za-z][A-Za-z0-9_]{2,})"', source.read_text(encoding="utf-8")))
    return literals


def run() -> int:
    report = Report("lambda contract")
    template = load_template(Path(sys.argv[1]) if len(sys.argv) > 1 else TEMPLATE)
    functions = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    binaries = [f.get("Metadata", {}).get("BuildProperties", {}).get("Binary") for f in functions.values()]
    if sorted(map(str, binaries)) != sorted(BINARIES):
        report.failed(f"expected one AWS::Serverless::Function per binary {sorted(BINARIES)}, found {binaries}")
        return report.finish()
    all_crates = crates()
    literals = set()
    for name, function in functions.items():
        props, meta = function.get("Properties", {}), function.get("Metadata", {})
        binary = meta.get("BuildProperties", {}).get("Binary")
        expected = {
            "Handler": (props.get("Handler"), "bootstrap"),
            "Runtime": (props.get("Runtime"), "provided.al2023"),
            "Architectures": (props.get("Architectures"), ["arm64"]),
            "Metadata.BuildMethod": (meta.get("BuildMethod"), "rust-cargolambda"),
        }
        for key, (got, want) in expected.items():
            if got == want:
                report.passed(f"{name}.{key} = {want}")
            else:
                report.failed(f"{name}.{key} is {got!r}, expected {want!r}")
        code_uri = (TEMPLATE.parent / str(props.get("CodeUri", ""))).resolve()
        if (code_uri / "Cargo.toml").exists() and "workspace" in (code_uri / "Cargo.toml").read_text(encoding="utf-8"):
            report.passed(f"{name}.CodeUri {props.get('CodeUri')!r} is the cargo workspace root")
        else:
            report.failed(f"{name}.CodeUri {props.get('CodeUri')!r} is not the cargo workspace root")

        env = set(props.get("Environment", {}).get("Variables", {}))
        owners = [n for n, (_, data) in all_crates.items() if builds_binary(data, binary)]
        if not owners:
            report.failed(f"{name}: no crate under crates/ builds {binary}")
            continue
        report.passed(f"{name}: crate {owners[0]} builds {binary}")
        linked = linked_crates(owners[0], all_crates)
        read = string_literals(linked, all_crates)
        if binary == BINARY:
            literals = read
        for var in sorted(env):
            if var in read:
                report.passed(f"{var} is read by {binary} (crates: {', '.join(linked)})")
            else:
                report.failed(f"the template sets {var}, which {binary} and its crates never read")
        for var in sorted(BINARIES[binary] - env):
            report.failed(f"the template does not set {var}, which {binary} requires")
    # tweet-capture's EMF metrics (namespace TweetCapture) come from crates/capture instead.
    capture_literals = string_literals(["capture"], all_crates)
    # Alarms on the binary's own (EMF) metrics must use the names it emits.
    for alarm_name, alarm in template["Resources"].items():
        if alarm["Type"] != "AWS::CloudWatch::Alarm":
            continue
        p = alarm["Properties"]
        if str(p.get("Namespace", "")).startswith("AWS/"):
            continue
        names = [p.get("Namespace"), p.get("MetricName")] + [d.get("Name") for d in p.get("Dimensions", [])]
        emitter, emitted = (
            ("tweet-capture", capture_literals) if p.get("Namespace") == "TweetCapture" else (BINARY, literals)
        )
        missing = [n for n in names if n not in emitted]
        if missing:
            report.failed(f"{alarm_name} watches {', '.join(map(str, missing))}, which {emitter} never emits")
        else:
            report.passed(f"{alarm_name} watches {p.get('Namespace')}/{p.get('MetricName')}, which {emitter} emits")
    return report.finish()


if __name__ == "__main__":
    main_guard(run)
