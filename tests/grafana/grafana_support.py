"""Helpers for the Grafana tests: generator import path, process plumbing, PromQL names."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the generator lives in the repo, not in the installed package
    sys.path.insert(0, str(ROOT))

GRAFANA = ROOT / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "datasources.yml"

# PromQL words that are not metric names: aggregations, keywords, binary operators and literals.
_PROMQL_WORDS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
    "topk", "quantile", "limitk", "limit_ratio", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "bool", "and", "or", "unless", "atan2", "inf", "nan", "start", "end",
}  # fmt: skip
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-z]+", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w:])(?:0x[0-9a-f]+|\d+(?:\.\d*)?(?:e[+-]?\d+)?)", re.IGNORECASE)
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Return the metric names a PromQL expression selects.

    Skips label matchers, strings, grouping label lists, ranges, numbers, function names (an
    identifier followed by ``(``) and keywords. ``label_values(metric, label)`` yields ``metric``.
    """
    text = _STRING.sub('""', expr)
    text = _GROUPING.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _OFFSET.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    if text.startswith("label_values("):  # a variable query: its last argument is a label name
        text = text.rsplit(",", 1)[0] if "," in text else ""
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group()
        following = text[match.end() :].lstrip()
        if following.startswith("(") or word.lower() in _PROMQL_WORDS:
            continue
        names.add(word)
    return names


def free_port() -> int:
    """Return a TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server process whose output goes to a log file."""
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(args, stdout=handle, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process the test started."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for(check: object, what: str, log: Path, timeout: float = 30.0) -> None:
    """Poll ``check()`` until it returns true, or fail with the server's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    raise AssertionError(f"{what} did not come up within {timeout}s; log tail:\n{tail}")


def provisioned_uids() -> dict[str, str]:
    """Return {datasource type: uid} as the provisioning file defines them."""
    document = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))
    return {entry["type"]: entry["uid"] for entry in document["datasources"]}


def catalog_families(path: Path) -> dict[str, dict[str, object]]:
    """Return the families of a catalog file (backend or Tempo)."""
    return dict(yaml.safe_load(path.read_text(encoding="utf-8"))["families"])


def series_names(families: dict[str, dict[str, object]]) -> set[str]:
    """Expand catalog families to the series names PromQL can select."""
    suffixes = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}
    names = set()
    for name, spec in families.items():
        names.update(name + s for s in suffixes.get(str(spec["type"]), ("",)))
    return names


def recording_rule_names() -> set[str]:
    """Return every recording rule name in prometheus/rules/*.yml."""
    names = set()
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8")).get("groups", []):
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def dashboard_files() -> Iterator[Path]:
    """Yield every committed dashboard JSON file."""
    yield from sorted((GRAFANA / "dashboards").rglob("*.json"))
