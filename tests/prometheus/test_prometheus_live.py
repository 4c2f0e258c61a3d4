"""A real Prometheus started through prometheus/entrypoint.sh loads every rule, scrapes the
exporter job with its environment label, and finds Alertmanager."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.prometheus.support import (
    BASE_ENV,
    CONTRACT_ALERTS,
    CONTRACT_MODEL_RECORDS,
    CONTRACT_RECORDS,
    PROMETHEUS_DIR,
    RULES_DIR,
    tool,
)
from tests.support.upstream import free_port

# What a provider exporter serves, reduced to the series the rules read first.
EXPORTER_TEXT = b"""\
# TYPE gatewayz_provider_checks_total counter
gatewayz_provider_checks_total{provider="openai",result="up"} 40
gatewayz_provider_checks_total{provider="openai",result="down"} 0
# TYPE provider_availability gauge
provider_availability{provider="openai"} 1
"""


class _ExporterHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(EXPORTER_TEXT)

    def log_message(self, *args: object) -> None:
        return


@dataclass(frozen=True)
class LivePrometheus:
    """A running Prometheus and the address of the static exporter it scrapes."""

    port: int
    exporter: str

    def api(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen within {timeout:.0f}s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePrometheus]:
    """Prometheus (Debian's build, the same flags as the image) run by the real entrypoint."""
    tool("prometheus")
    assert Path("/bin/prometheus").is_file(), "the entrypoint execs /bin/prometheus"
    tmp = tmp_path_factory.mktemp("prometheus")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ExporterHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    exporter = f"127.0.0.1:{server.server_address[1]}"
    port = free_port()
    env = {
        **BASE_ENV,
        "PROMETHEUS_CONFIG_TEMPLATE": str(PROMETHEUS_DIR / "prometheus.yml"),
        "PROMETHEUS_RENDER_DIR": str(tmp / "rendered"),
        "PROMETHEUS_RULES_DIR": str(RULES_DIR),
        "PROMETHEUS_STORAGE_PATH": str(tmp / "data"),
        "ENVIRONMENT": "ci",
        "PROVIDER_EXPORTER_TARGET": exporter,
        "REDIS_EXPORTER_TARGET": f"127.0.0.1:{free_port()}",
        "ALERTMANAGER_TARGET": f"127.0.0.1:{free_port()}",
    }
    log = (tmp / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            "/bin/sh",
            str(PROMETHEUS_DIR / "entrypoint.sh"),
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    live = LivePrometheus(port, exporter)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError("prometheus exited:\n" + (tmp / "prometheus.log").read_text())
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1).close()
        except OSError:
            return False
        return True

    try:
        _wait(ready, 30, "Prometheus ready")
        yield live
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
        server.shutdown()
        server.server_close()


def _rules(live: LivePrometheus) -> list[dict[str, Any]]:
    return [rule for group in live.api("/api/v1/rules")["groups"] for rule in group["rules"]]


@pytest.mark.slow
def test_every_alert_and_record_is_loaded(prometheus: LivePrometheus) -> None:
    """/api/v1/rules lists every contract alert and recording rule."""
    rules = _rules(prometheus)
    assert {r["name"] for r in rules if r["type"] == "alerting"} == set(CONTRACT_ALERTS)
    recorded = {r["name"] for r in rules if r["type"] == "recording"}
    assert set(CONTRACT_RECORDS) <= recorded
    assert set(CONTRACT_MODEL_RECORDS) <= recorded


@pytest.mark.slow
def test_exporter_target_is_scraped_with_its_environment(prometheus: LivePrometheus) -> None:
    """The provider_exporter job's target is up and its series carry environment="ci"."""

    def scraped() -> bool:
        result = prometheus.api("/api/v1/query?query=up%7Bjob%3D%22provider_exporter%22%7D")
        return bool(result["result"]) and result["result"][0]["value"][1] == "1"

    _wait(scraped, 40, "up{job=provider_exporter} == 1")
    (sample,) = prometheus.api("/api/v1/query?query=provider_availability")["result"]
    assert sample["metric"]["environment"] == "ci"
    assert sample["metric"]["instance"] == prometheus.exporter
    assert sample["metric"]["provider"] == "openai"


@pytest.mark.slow
def test_short_window_rules_evaluate_without_errors(prometheus: LivePrometheus) -> None:
    """After their first evaluation, the 15-second groups' rules report health "ok"."""

    def evaluated() -> bool:
        groups = prometheus.api("/api/v1/rules")["groups"]
        short = [g for g in groups if g["interval"] == 15]
        return all(r["health"] != "unknown" for g in short for r in g["rules"])

    _wait(evaluated, 40, "a first evaluation of every 15 s group")
    groups = prometheus.api("/api/v1/rules")["groups"]
    failing = {
        r["name"]: r.get("lastError")
        for g in groups
        for r in g["rules"]
        if r["health"] not in {"ok", "unknown"}
    }
    assert failing == {}


@pytest.mark.slow
def test_alertmanager_is_configured_and_flags_match_the_image(prometheus: LivePrometheus) -> None:
    """Alerts go to the configured Alertmanager, data is kept 31 days and remote write is on."""
    alertmanagers = prometheus.api("/api/v1/alertmanagers")["activeAlertmanagers"]
    assert len(alertmanagers) == 1
    assert alertmanagers[0]["url"].endswith("/api/v2/alerts")
    flags = prometheus.api("/api/v1/status/flags")
    assert flags["storage.tsdb.retention.time"] == "31d"
    assert flags["web.enable-remote-write-receiver"] == "true"
