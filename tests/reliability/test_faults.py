"""The fault matrix: the real exporter against every misbehaving upstream at once.

One exporter process probes 18 providers, each pointed at one scripted fault, plus a healthy
neighbour, while /metrics is scraped five times a second. Each test reads one row of the matrix
(docs/reliability.md) from that run.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.reliability.faults import (
    SyncExporter,
    ThreadedUpstream,
    fault_behaviours,
    providers_file,
    rss_bytes,
)
from tests.support import upstream as fake
from tests.support.process import Samples, parse_metrics
from tests.support.upstream import refused_url

RUN_SECONDS = 13.0
INTERVAL = 1.0
TIMEOUT = 2.0
RETRY_AFTER = 4.0
MANY = [f"org/model-{i:05d}" for i in range(5000)]
# Model ids that are hostile to the text exposition format; all within the 256-character limit.
# (A line break or a tab in MODELS is refused at start since #19: test_hardening.py.)
HOSTILE = ['quote"model', "back\\slash\\", "ünïcode ✓ spaced", "x" * 256, "}{=#", "<b>&amp;"]
WATCHED_MANY = ("org/model-00042", "org/model-99999")

EXPECTED = {
    "hang": "timeout",
    "endless": "timeout",
    "slowloris": "timeout",
    "reset": "connect_error",
    "huge": "ok",
    "utf8": "bad_body",
    "json": "bad_body",
    "shape": "bad_body",
    "nulls": "bad_body",
    "redirect": "redirect_error",
    "tls": "tls_error",
    "dns": "dns_error",
    "ipv6": "ok",
    "ratelimit": "http_429",
    "many": "ok",
    "refused": "connect_error",
    "error500": "http_5xx",
}


@dataclass
class FaultRun:
    """Everything one run of the exporter against all faults showed."""

    final: Samples
    scrapes: list[tuple[int, float, bool]] = field(default_factory=list)  # status, secs, parsed
    rss_start: int = 0
    rss_end: int = 0
    ratelimit_arrivals: list[float] = field(default_factory=list)
    logs: str = ""
    exit_status: int | None = None
    exit_seconds: float | None = None


def slug(route: str) -> str:
    return f"f-{route}"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRun]:
    """Run the exporter against every fault for RUN_SECONDS, scraping all along."""
    directory = tmp_path_factory.mktemp("faults")
    with ThreadedUpstream(cert_dir=directory) as upstream:
        behaviours = fault_behaviours(MANY)
        behaviours["labels"] = fake.ok(HOSTILE)
        for route, behaviour in behaviours.items():
            upstream.set(route, behaviour)
        urls = {slug(route): upstream.url(route) for route in behaviours if route != "neighbour"}
        urls |= {
            slug("tls"): upstream.tls_url("tls"),
            slug("ipv6"): upstream.ipv6_url("ipv6"),
            slug("dns"): "http://no-such-host.invalid/v1",
            slug("refused"): refused_url(),
            "neighbour": upstream.url("neighbour"),
        }
        watched = [f"{slug('many')}:{m}" for m in WATCHED_MANY]
        watched += [f"{slug('labels')}:{m}" for m in HOSTILE]
        env = {
            "PROVIDERS_FILE": str(providers_file(directory / "providers.json", urls)),
            "PROBE_INTERVAL_SECONDS": str(INTERVAL),
            "PROBE_TIMEOUT_SECONDS": str(TIMEOUT),
            "MODELS": ",".join(watched),
            "LOG_LEVEL": "DEBUG",
        }
        exporter = SyncExporter(env)
        with exporter:
            result = _observe(exporter)
            upstream_arrivals = upstream.arrivals("ratelimit")
        result.ratelimit_arrivals = upstream_arrivals
        result.logs = exporter.text()
        result.exit_status = exporter.proc.returncode if exporter.proc else None
        result.exit_seconds = exporter.exit_seconds
    yield result


def _observe(exporter: SyncExporter) -> FaultRun:
    started = time.monotonic()
    scrapes: list[tuple[int, float, bool]] = []
    rss_start = 0
    text = ""
    while time.monotonic() - started < RUN_SECONDS:
        if not rss_start and time.monotonic() - started > 3.0:  # after the first round
            rss_start = rss_bytes(exporter.pid)
        begin = time.monotonic()
        code, _, body = exporter.get("/metrics")
        elapsed = time.monotonic() - begin
        text = body.decode()
        try:
            parse_metrics(text)
            parsed = True
        except ValueError:
            parsed = False
        scrapes.append((code, elapsed, parsed))
        time.sleep(0.2)
    return FaultRun(
        final=parse_metrics(text),
        scrapes=scrapes,
        rss_start=rss_start,
        rss_end=rss_bytes(exporter.pid),
    )


def outcomes_of(samples: Samples, provider: str) -> dict[str, float]:
    """Return the non-zero probe counts of `provider` by outcome."""
    return {
        labels["outcome"]: value
        for labels, value in samples.all("gatewayz_provider_probes_total", provider=provider)
        if value
    }


@pytest.mark.parametrize("route", sorted(EXPECTED))
def test_fault_is_classified(run: FaultRun, route: str) -> None:
    """Every probe of a faulty upstream is counted under the outcome the matrix documents."""
    seen = outcomes_of(run.final, slug(route))
    assert set(seen) == {EXPECTED[route]}, seen
    assert seen[EXPECTED[route]] >= 2


def test_exporter_keeps_serving(run: FaultRun) -> None:
    """While every fault runs, every scrape of /metrics answers 200 in well under a second."""
    assert len(run.scrapes) >= 30
    assert all(code == 200 and parsed for code, _, parsed in run.scrapes), run.scrapes
    slowest = max(seconds for _, seconds, _ in run.scrapes)
    print(f"{len(run.scrapes)} scrapes, slowest {slowest * 1000:.1f} ms")
    assert slowest < 0.5


def test_healthy_neighbour_is_not_delayed(run: FaultRun) -> None:
    """A healthy provider next to all faults is probed every interval and every start is on time."""
    assert outcomes_of(run.final, "neighbour") == {"ok": pytest.approx(12, abs=2)}
    total = run.final.get("provider_exporter_probe_lag_seconds_count")
    on_time = run.final.get("provider_exporter_probe_lag_seconds_bucket", le="1.0")
    assert total is not None and total > 100
    assert on_time == total


def test_rate_limit_is_honoured(run: FaultRun) -> None:
    """A 429 with Retry-After: 4 gets no request for 4 s, and the backoff gauge says 4."""
    arrivals = run.ratelimit_arrivals
    assert len(arrivals) >= 3, arrivals
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert min(gaps) >= RETRY_AFTER - 0.1, gaps
    backoff = run.final.get(
        "gatewayz_provider_rate_limit_backoff_seconds", provider=slug("ratelimit")
    )
    assert backoff == RETRY_AFTER
    assert run.final.get("gatewayz_provider_rate_limit_backoff_seconds", provider="neighbour") == 0


def test_model_cardinality_is_capped(run: FaultRun) -> None:
    """5 000 listed models are counted, but only the models named in MODELS become label values."""
    assert run.final.get("gatewayz_provider_models_listed", provider=slug("many")) == len(MANY)
    models = {labels["model"] for labels, _ in run.final.all("gatewayz_model_uptime_24h")}
    assert models == set(WATCHED_MANY) | set(HOSTILE)
    many = dict(
        (labels["model"], value)
        for labels, value in run.final.all("gatewayz_model_uptime_24h", provider=slug("many"))
    )
    assert many == {"org/model-00042": 1, "org/model-99999": 0}


def test_hostile_label_values_round_trip(run: FaultRun) -> None:
    """Model ids with quotes, backslashes, newlines and 256 characters survive the exposition."""
    labelled = {
        labels["model"]: value
        for labels, value in run.final.all("gatewayz_model_uptime_24h", provider=slug("labels"))
    }
    assert labelled == dict.fromkeys(HOSTILE, 1.0)


def test_huge_body_keeps_memory_flat(run: FaultRun) -> None:
    """Repeated 50 MB model lists are read as a capped prefix: RSS grows by less than 16 MiB."""
    assert outcomes_of(run.final, slug("huge"))["ok"] >= 8  # ≥ 400 MB offered in all
    growth = run.rss_end - run.rss_start
    print(f"RSS {run.rss_start / 2**20:.1f} MiB -> {run.rss_end / 2**20:.1f} MiB")
    # One probe holds at most PROBE_MAX_BODY_BYTES (1 MiB) plus one copy and its parsed ids;
    # allocator slack included, 16 MiB is far below the 50 MB a single unbounded read would take.
    assert growth < 16 * 2**20


def test_logs_stay_structured(run: FaultRun) -> None:
    """Under every fault the exporter logs JSON lines only: no traceback, no crashed probe."""
    lines = [line for line in run.logs.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]
    assert "Traceback" not in run.logs
    assert "probe_crashed" not in {event["event"] for event in events}
    failed = {e["provider"] for e in events if e["event"] == "probe_failed"}
    assert failed == {slug(r) for r, outcome in EXPECTED.items() if outcome != "ok"}


def test_stops_promptly_with_probes_in_flight(run: FaultRun) -> None:
    """SIGTERM with hanging probes in flight ends the process cleanly (status 0) within 5 s."""
    assert run.exit_status == 0
    assert run.exit_seconds is not None and run.exit_seconds < 5.0
    assert '"event": "exporter_stopped"' in run.logs
