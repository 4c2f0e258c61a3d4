"""A hand-built snapshot of three providers, the real web app serving it, and API polling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import test_utils
from prometheus_client import CollectorRegistry

from exporter.judgement.scoring import Score, State
from exporter.judgement.snapshot import (
    LAG_BUCKETS,
    LATENCY_BUCKETS,
    ExporterStats,
    Histogram,
    ProviderView,
    Snapshot,
)
from exporter.judgement.windows import COLUMNS, LATENCY_COUNT, LATENCY_SUM, Ring, RingCopy
from exporter.outcomes import OUTCOME_INDEX, OUTCOMES, Outcome
from exporter.serving.web import make_app
from tests.support.process import ExporterProcess

NOW = 1_750_000_000.0  # 2025-06-15T15:06:40Z
TOKEN = "status-page-token-0123456789"
EMPTY_LATENCY = Histogram((0,) * (len(LATENCY_BUCKETS) + 1), 0.0, 0)
NO_PROBES = dict.fromkeys(OUTCOMES, 0)


def minutes(availability: float | None, latency: float | None) -> RingCopy:
    """Return an hour ring: no data for the first 50 minutes, then 10 probes a minute at
    `availability` (ok vs 5xx) and `latency` (None: no probe at all)."""
    ring = Ring(60, 60, COLUMNS)
    ring.totals(NOW)  # the hour ends now
    if availability is None:
        return ring.copy()
    counts = [0] * COLUMNS
    counts[OUTCOME_INDEX[Outcome.OK]] = round(10 * availability)
    counts[OUTCOME_INDEX[Outcome.HTTP_5XX]] = 10 - round(10 * availability)
    if latency is not None:
        counts[LATENCY_SUM] = round(10 * latency * 1000)
        counts[LATENCY_COUNT] = 10
    for minute in range(10):
        ring.load(NOW - 60 * minute, counts)
    return ring.copy()


def healthy() -> ProviderView:
    return ProviderView(
        slug="openai",
        configured=True,
        state=State.HEALTHY,
        since=NOW - 600,
        reason="ok",
        state_changes=1,
        score=Score(0.97, 0.9996, 0.0, 0.9, 1.0),
        availability={"5m": 1.0, "1h": 0.9996, "24h": 0.5},
        error_rate=0.0,
        latency_p50=0.2,
        latency_p95=0.4,
        probes={**NO_PROBES, Outcome.OK: 40, Outcome.HTTP_5XX: 1},
        checks_up=40,
        checks_down=1,
        response_time=Histogram((0, 0, 0, 10, 30, 1, 0, 0, 0, 0, 0, 0), 12.0, 41),
        last_outcome=Outcome.OK,
        last_probe_at=NOW - 5,
        last_status=200,
        last_failure=Outcome.HTTP_5XX,
        last_failure_at=NOW - 3000,
        models_listed=120,
        model_uptime={"gpt-4o": 1.0, "gpt-5": 0.0, "o3": None, "<img src=x>": None},
        hour=minutes(1.0, 0.2),
        breaker="closed",
    )


def down() -> ProviderView:
    return ProviderView(
        slug="groq",
        configured=True,
        state=State.DOWN,
        since=NOW - 120,
        reason="http_5xx",
        state_changes=2,
        score=Score(0.2, 0.5, 1.0, None, None),
        availability={"5m": 0.0, "1h": 0.5, "24h": 0.5},
        error_rate=1.0,
        latency_p50=None,
        latency_p95=None,
        probes={**NO_PROBES, Outcome.OK: 4, Outcome.HTTP_5XX: 4},
        checks_up=4,
        checks_down=4,
        response_time=EMPTY_LATENCY,
        last_outcome=Outcome.HTTP_5XX,
        last_probe_at=NOW - 2,
        last_status=503,
        last_failure=Outcome.HTTP_5XX,
        last_failure_at=NOW - 2,
        hour=minutes(0.0, 0.05),
    )


def unconfigured() -> ProviderView:
    return ProviderView(
        slug="fireworks",
        configured=False,
        state=State.UNCONFIGURED,
        since=NOW - 900,
        reason="no API key configured",
        state_changes=0,
        score=None,
        availability={"5m": None, "1h": None, "24h": None},
        error_rate=None,
        latency_p50=None,
        latency_p95=None,
        probes=NO_PROBES,
        checks_up=0,
        checks_down=0,
        response_time=EMPTY_LATENCY,
        hour=minutes(None, None),
    )


def make_snapshot() -> Snapshot:
    views = (healthy(), down(), unconfigured())
    lag = Histogram((0,) * (len(LAG_BUCKETS) + 1), 0.0, 0)
    return Snapshot({v.slug: v for v in views}, ExporterStats(lag), ready=True)


@asynccontextmanager
async def serve(token: str | None = None) -> AsyncIterator[test_utils.TestClient[Any, Any]]:
    """Serve the real app (make_app) over loopback HTTP, reading the hand-built snapshot."""
    snapshot = make_snapshot()
    app = make_app(lambda: snapshot, CollectorRegistry(), token)
    async with test_utils.TestClient(test_utils.TestServer(app, host="127.0.0.1")) as client:
        yield client


async def providers(exporter: ExporterProcess, **kwargs: object) -> dict[str, dict[str, object]]:
    code, _, body = await exporter.get("/api/v1/providers", **kwargs)
    assert code == 200, body
    return {p["slug"]: p for p in json.loads(body)["providers"]}


async def wait_for_states(
    exporter: ExporterProcess, wanted: dict[str, str], timeout: float
) -> dict[str, dict[str, object]]:
    """Poll the API until every provider in `wanted` is in its state; return the providers."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await providers(exporter)
        if all(found.get(slug, {}).get("state") == state for slug, state in wanted.items()):
            return found
        if asyncio.get_running_loop().time() > deadline:
            seen = {slug: p["state"] for slug, p in found.items()}
            raise AssertionError(f"states {seen} did not reach {wanted} within {timeout}s")
        await asyncio.sleep(0.2)
