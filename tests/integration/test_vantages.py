"""Two vantages that disagree, scraped by a real Prometheus running the shipped rules.

Vantage `a` reaches every provider; vantage `b`'s route to `split` is refused. `gone` is refused
from both. Both vantages use the same Redis, and still each probes every provider (vantages never
share). Rule and alert expressions and `for:` durations are the shipped ones; only the scrape
and evaluation intervals are shortened to 1 s.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.stack import Prometheus, wait_until
from tests.prometheus.support import RULES_DIR, tool
from tests.reliability.faults import providers_file
from tests.support import upstream as fake
from tests.support.process import ExporterProcess
from tests.support.redis_server import RedisServer
from tests.support.upstream import FakeUpstream, free_port, refused_url

ENVIRONMENT = "vantage-test"


def prometheus_config(work: Path, targets: list[str], *, with_rules: bool) -> Path:
    rules = work / "rules"
    rules.mkdir(exist_ok=True)
    for path in sorted(RULES_DIR.glob("*.yml")):
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in loaded["groups"]:
            group["interval"] = "1s"
        (rules / path.name).write_text(yaml.safe_dump(loaded, sort_keys=False))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.yml")] if with_rules else [],
        "scrape_configs": [
            {
                "job_name": "provider_exporter",
                "static_configs": [{"targets": targets, "labels": {"environment": ENVIRONMENT}}],
            }
        ],
    }
    path = work / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture
async def vantages(
    upstream: FakeUpstream, tmp_path: Path
) -> AsyncIterator[tuple[Prometheus, FakeUpstream]]:
    upstream.set("ok", fake.ok())
    upstream.set("split", fake.ok())
    redis = RedisServer().start()
    urls = {"ok": upstream.base_url("ok"), "split": upstream.base_url("split")}
    urls["gone"] = refused_url()
    files = {
        "a": providers_file(tmp_path / "a.json", urls),
        "b": providers_file(tmp_path / "b.json", {**urls, "split": refused_url()}),
    }
    common = {"PROBE_INTERVAL_SECONDS": "1", "PROBE_TIMEOUT_SECONDS": "1", "REDIS_URL": redis.url}
    live = Prometheus(free_port(), tmp_path / "prometheus.log")
    try:
        async with (
            ExporterProcess({**common, "VANTAGE": "a", "PROVIDERS_FILE": str(files["a"])}) as a,
            ExporterProcess({**common, "VANTAGE": "b", "PROVIDERS_FILE": str(files["b"])}) as b,
        ):
            # Prometheus starts once each vantage knows `split` (a vantage that does not know
            # yet has no vote, and a lone vantage's word is the quorum, by design)
            await a.wait_for(lambda m: m.get("provider_availability", provider="split") == 1, 20)
            await b.wait_for(lambda m: m.get("provider_availability", provider="split") == 0, 20)
            targets = [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"]
            config = prometheus_config(tmp_path, targets, with_rules=False)
            with live.log.open("wb") as log:
                live.proc = subprocess.Popen(
                    [
                        tool("prometheus"),
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'data'}",
                        f"--web.listen-address=127.0.0.1:{live.port}",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            await asyncio.to_thread(wait_until, lambda: ready(live), 30, "Prometheus ready")
            # The rules are loaded once both vantages have been scraped: a fresh TSDB's first
            # evaluation may otherwise hold one target's samples only, and a lone vantage's word
            # is the quorum, by design (a restarted Prometheus replays its WAL and has both).
            await asyncio.to_thread(wait_until, lambda: both_scraped(live), 30, "both scraped")
            prometheus_config(tmp_path, targets, with_rules=True)
            live.proc.send_signal(signal.SIGHUP)
            await asyncio.to_thread(wait_until, live.rules, 30, "rules loaded")
            yield live, upstream
    finally:
        if live.proc is not None:
            live.proc.terminate()
            live.proc.wait(10)
        redis.close()


def ready(live: Prometheus) -> bool:
    assert live.proc is not None and live.proc.poll() is None, live.log.read_text()
    try:
        urllib.request.urlopen(f"{live.url}/-/ready", timeout=1).close()
    except OSError:
        return False
    return True


def both_scraped(live: Prometheus) -> bool:
    scraped = live.query('count by (provider) (provider_availability{provider="split"})')
    return values(scraped) == {"split": 2.0}


def values(result: list[dict[str, Any]], label: str = "provider") -> dict[str, float]:
    return {sample["metric"].get(label, ""): float(sample["value"][1]) for sample in result}


def firing(live: Prometheus, name: str) -> list[dict[str, str]]:
    return [a["labels"] for a in live.alerts(name) if a["state"] == "firing"]


async def test_one_vantage_that_disagrees_is_a_ticket_not_a_page(
    vantages: tuple[Prometheus, FakeUpstream],
) -> None:
    """`split` refused from one vantage of two: its quorum stays 1, ProviderDown never fires (not
    even pending), ProviderDownFromVantage fires naming that vantage. `gone`, refused from both:
    quorum 0 and ProviderDown fires as with one vantage."""
    live, upstream = vantages
    start = time.monotonic()
    seen_down_for_split: list[dict[str, str]] = []
    quorum_split: set[float] = set()

    def gone_fires() -> bool:
        seen_down_for_split.extend(
            a["labels"] for a in live.alerts("ProviderDown") if a["labels"]["provider"] == "split"
        )
        # (both vantages' series are there from the first evaluation: see the fixture)
        reporting = values(live.query("provider:vantages_reporting:count"))
        quorum = values(live.query("provider:availability:quorum"))
        if "split" in quorum and reporting.get("split") == 2:
            quorum_split.add(quorum["split"])
        return any(a["provider"] == "gone" for a in firing(live, "ProviderDown"))

    await asyncio.to_thread(wait_until, gone_fires, 150, "ProviderDown for gone", 1.0)
    took = time.monotonic() - start
    from_vantage = await asyncio.to_thread(
        wait_until, lambda: firing(live, "ProviderDownFromVantage"), 30, "ProviderDownFromVantage"
    )
    quorum = values(live.query("provider:availability:quorum"))
    print(f"\nProviderDown for `gone` fired {took:.0f} s after start; quorum {quorum}")
    print(f"ProviderDownFromVantage: {from_vantage}")
    assert quorum == {"ok": 1.0, "split": 1.0, "gone": 0.0}
    assert quorum_split == {1.0}, "the quorum of `split` never left 1"
    assert not seen_down_for_split, seen_down_for_split[:3]  # not even pending
    assert [(a["provider"], a["vantage"]) for a in from_vantage] == [("split", "b")]
    assert all(a["severity"] == "warning" for a in from_vantage)
    down = firing(live, "ProviderDown")
    assert [a["provider"] for a in down] == ["gone"], down  # one page, not one per vantage
    # vantages never share probing: both probe `ok` (one probe each per 1 s interval)
    assert upstream.count("ok") >= 2 * (took - 5), upstream.count("ok")
