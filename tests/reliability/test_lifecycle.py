"""Lifecycle: no descriptor leak over 1 000 probe cycles, and windows immune to clock jumps."""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import pytest

import exporter.running.scheduler
from exporter.clock import Clock
from tests.reliability.faults import SyncExporter, ThreadedUpstream, open_fds, providers_file
from tests.support import upstream as fake
from tests.support.upstream import refused_url

ROUTES = ("ok", "error500", "reset", "json", "hang")


def probes_done(exporter: SyncExporter) -> float:
    return sum(v for _, v in exporter.metrics().all("gatewayz_provider_probes_total"))


def wait_for_probes(exporter: SyncExporter, count: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while probes_done(exporter) < count:
        assert time.monotonic() < deadline, f"fewer than {count} probes within {timeout}s"
        time.sleep(0.2)


@pytest.mark.slow
def test_no_descriptor_leak_over_a_thousand_probes(tmp_path: Path) -> None:
    """After 1 000 more probes of good and failing upstreams, the exporter holds no more fds."""
    with ThreadedUpstream() as upstream:
        behaviours = {
            "ok": fake.ok(),
            "error500": fake.status(500),
            "reset": fake.reset_mid_body(),
            "json": fake.raw(b"{"),
            "hang": fake.hang(),
        }
        for route, behaviour in behaviours.items():
            upstream.set(route, behaviour)
        urls = {f"cycle-{route}": upstream.url(route) for route in ROUTES}
        urls["cycle-refused"] = refused_url()
        urls["cycle-dns"] = "http://no-such-host.invalid/v1"
        env = {
            "PROVIDERS_FILE": str(providers_file(tmp_path / "providers.json", urls)),
            "PROBE_INTERVAL_SECONDS": "0.05",
            "PROBE_TIMEOUT_SECONDS": "0.3",
        }
        with SyncExporter(env) as exporter:
            wait_for_probes(exporter, 200, 30)  # warm: pools and caches at their steady size
            before = open_fds(exporter.pid)
            start = probes_done(exporter)
            wait_for_probes(exporter, start + 1000, 60)
            after = open_fds(exporter.pid)
    print(f"open fds {before} -> {after} across 1000 probes")
    # Allowance: one pooled keep-alive connection per provider may open or close in between.
    assert after <= before + len(urls)


def test_clock_ignores_wall_clock_jumps(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wall clock stepped a day forward or back after start does not move the exporter's time."""
    clock = Clock()
    first = clock.now()
    real = time.time
    for step in (86_400.0, -86_400.0):
        monkeypatch.setattr(time, "time", lambda step=step: real() + step)
        assert abs(clock.now() - first) < 1.0
    assert abs(Clock().now() - real()) > 3600  # a new Clock does see the (stepped) wall clock


def test_schedule_runs_on_the_monotonic_clock() -> None:
    """The scheduler times probes with the event loop's monotonic clock, never the wall clock."""
    source = inspect.getsource(exporter.running.scheduler)
    assert "loop.time()" in source
    assert "time.time(" not in source
