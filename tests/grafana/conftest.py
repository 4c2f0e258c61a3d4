"""Real processes for the Grafana tests: redis-server, redis_exporter and Prometheus on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from grafana_support import free_port, start, stop, wait_for


@dataclass(frozen=True)
class RealPrometheus:
    """A running Prometheus scraping itself and a real redis_exporter, and the names it holds."""

    url: str
    names: frozenset[str]


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed; run `make system-deps`")
    return path


def _get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return dict(json.load(response))


def _names(url: str) -> set[str]:
    return set(_get_json(f"{url}/api/v1/label/__name__/values")["data"])  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def real_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPrometheus]:
    """Start redis-server, redis_exporter and Prometheus; wait until every source was scraped."""
    work: Path = tmp_path_factory.mktemp("grafana-prom")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        redis_port, exporter_port, prom_port = free_port(), free_port(), free_port()
        processes.append(start(
            [_binary("redis-server"), "--port", str(redis_port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            work / "redis.log",
        ))  # fmt: skip
        cli = [_binary("redis-cli"), "-p", str(redis_port)]
        wait_for(lambda: subprocess.run([*cli, "ping"], capture_output=True).stdout.strip()
                 == b"PONG", "redis-server", work / "redis.log")  # fmt: skip
        subprocess.run([*cli, "set", "circuit_breaker:openai:state", "closed"], check=True,
                       capture_output=True)  # fmt: skip
        processes.append(start(
            [_binary("prometheus-redis-exporter"), f"-redis.addr=redis://127.0.0.1:{redis_port}",
             f"-web.listen-address=127.0.0.1:{exporter_port}"],
            work / "redis_exporter.log",
        ))  # fmt: skip
        (work / "rules.yml").write_text(
            "groups:\n- name: always\n  rules:\n  - alert: AlwaysFiring\n    expr: vector(1)\n"
        )
        (work / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "rule_files: [rules.yml]\n"
            "scrape_configs:\n"
            f"- job_name: prometheus\n  static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]\n"
            "- job_name: redis_exporter\n"
            f"  static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"
        )
        processes.append(start(
            [_binary("prometheus"), f"--config.file={work / 'prometheus.yml'}",
             f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
            work / "prometheus.log",
        ))  # fmt: skip
        url = f"http://127.0.0.1:{prom_port}"
        needed = {"up", "ALERTS", "redis_up", "prometheus_tsdb_head_series", "redis_db_keys"}
        wait_for(lambda: needed <= _names(url), "Prometheus with both targets scraped",
                 work / "prometheus.log", timeout=60)  # fmt: skip
        yield RealPrometheus(url, frozenset(_names(url)))
    finally:
        for process in reversed(processes):
            stop(process)
