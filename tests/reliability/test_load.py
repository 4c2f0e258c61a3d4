"""Load: 50 providers probed every second while wrk scrapes /metrics with 20 clients for 60 s."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability.faults import SyncExporter, ThreadedUpstream, providers_file, rss_bytes
from tests.support import upstream as fake
from tests.support.process import Samples

PROVIDERS = 50
DURATION = "60s"
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def seconds(text: str) -> float:
    """Turn a wrk duration such as `12.5ms` into seconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert match, text
    return float(match[1]) * UNITS[match[2]]


def lag_max_bucket(samples: Samples) -> float:
    """Return the smallest lag bucket bound that holds every probe start."""
    total = samples.get("provider_exporter_probe_lag_seconds_count")
    bounds = sorted(
        (float(labels["le"]), value)
        for labels, value in samples.all("provider_exporter_probe_lag_seconds_bucket")
    )
    return next(bound for bound, value in bounds if value == total)


@pytest.mark.slow
def test_fifty_providers_under_twenty_scrapers(tmp_path: Path) -> None:
    """With 50 providers at 1 s and 20 scrapers for 60 s: no failed scrape, lag < 1 s, flat RSS."""
    wrk = shutil.which("wrk")
    assert wrk, "wrk is not installed (Debian package `wrk`; scripts/system-deps.sh installs it)"
    with ThreadedUpstream() as upstream:
        upstream.set("ok", fake.ok([f"model-{i}" for i in range(20)]))
        urls = {f"load-{i:02d}": upstream.url("ok") for i in range(PROVIDERS)}
        env = {
            "PROVIDERS_FILE": str(providers_file(tmp_path / "providers.json", urls)),
            "PROBE_INTERVAL_SECONDS": "1",
            "PROBE_TIMEOUT_SECONDS": "2",
        }
        with SyncExporter(env) as exporter:
            time.sleep(3)  # every provider probed at least once
            rss_before = rss_bytes(exporter.pid)
            before = exporter.metrics()
            result = subprocess.run(
                [
                    wrk,
                    "-t2",
                    "-c20",
                    f"-d{DURATION}",
                    "--timeout",
                    "5s",
                    "--latency",
                    exporter.url + "/metrics",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            rss_after = rss_bytes(exporter.pid)
            after = exporter.metrics()
    report = result.stdout
    served = int(re.search(r"(\d+) requests in", report)[1])  # type: ignore[index]
    p99 = seconds(re.search(r"^\s+99%\s+(\S+)", report, re.MULTILINE)[1])  # type: ignore[index]
    probes = sum(v for _, v in after.all("gatewayz_provider_probes_total")) - sum(
        v for _, v in before.all("gatewayz_provider_probes_total")
    )
    lag = lag_max_bucket(after)
    print(
        f"\nscrapes served {served}, p99 scrape {p99 * 1000:.1f} ms, probes {probes:.0f}, "
        f"max probe lag bucket le={lag}, RSS {rss_before / 2**20:.1f} MiB -> "
        f"{rss_after / 2**20:.1f} MiB\n{report}"
    )
    assert "Socket errors" not in report, report
    assert "Non-2xx" not in report, report
    assert served >= 1000
    assert probes >= PROVIDERS * 55  # every provider probed about once a second throughout
    assert {lbl["outcome"] for lbl, v in after.all("gatewayz_provider_probes_total") if v} == {"ok"}
    assert lag <= 1.0
    # Flat: windows are time-bucketed rings, so a minute of probing and scraping adds at most
    # a few MiB of allocator slack, never a per-probe or per-scrape growth.
    assert rss_after - rss_before < 16 * 2**20
