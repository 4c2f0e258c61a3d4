"""The judgement live, with the real exporter at PROBE_INTERVAL_SECONDS=1 against scripted loopback
upstreams: a latency step up and down, an outage then recovery, intermittent 503s, and the
exporter's own network gone (upstreams and connectivity targets refusing at once) and back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from tests.reliability.faults import providers_file
from tests.support import upstream as fake
from tests.support.process import ExporterProcess, Samples
from tests.support.upstream import Switchable

INTERVAL = 1.0
Timeline = list[tuple[float, dict[str, str]]]  # (seconds since start, provider -> state)


def states(samples: Samples) -> dict[str, str]:
    return {
        labels["provider"]: labels["status"]
        for labels, value in samples.all("gatewayz_provider_status")
        if value == 1
    }


def first(timeline: Timeline, slug: str, state: str, after: float) -> float | None:
    """Return when `slug` was first seen in `state` at or after `after`, or None."""
    return next((t for t, seen in timeline if t >= after and seen.get(slug) == state), None)


def ever(timeline: Timeline, slug: str, state: str) -> bool:
    return any(seen.get(slug) == state for _, seen in timeline)


async def watch(
    exporter: ExporterProcess, seconds: float, script: dict[float, Callable[[], object]]
) -> Timeline:
    """Scrape every 0.25 s for `seconds`, running `script[t]` once t seconds have passed."""
    start = time.monotonic()
    pending = sorted(script.items())
    timeline: Timeline = []
    while (now := time.monotonic() - start) < seconds:
        while pending and pending[0][0] <= now:
            result = pending.pop(0)[1]()
            if asyncio.iscoroutine(result):
                await result
        timeline.append((now, states(await exporter.metrics())))
        await asyncio.sleep(0.25)
    return timeline


def slow_after_switch(delay: dict[str, float]) -> fake.Behaviour:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(delay["now"])
        return await fake.ok()(request)

    return handler


async def degraded_is_fast_both_ways_and_an_outage_that_is_over_is_over(directory: Path) -> None:
    """At 1 s: 5 ms → 8 s answers are `degraded` within 30 s and `healthy` within 30 s of fast
    answers, never `down`; a 20 s refused outage is `healthy` (not `degraded`) within
    UP_AFTER_SUCCESSES answers + 3 s of the recovery; 30 % 503s, never 4 in a row, are
    `degraded` within 60 s and never `down`."""
    delay = {"now": 0.005}
    slow = await Switchable(slow_after_switch(delay)).start()
    outage = await Switchable(fake.ok()).start()
    flaky = await Switchable(fake.flaky_runs(0.3, seed=7, longest_run=3)).start()
    urls = {"slowstep": slow.url, "outage": outage.url, "flaky": flaky.url}
    env = {
        "PROVIDERS_FILE": str(providers_file(directory / "providers.json", urls)),
        "PROBE_INTERVAL_SECONDS": str(INTERVAL),
        "PROBE_TIMEOUT_SECONDS": "10",
    }
    try:
        async with ExporterProcess(env) as exporter:
            timeline = await watch(
                exporter,
                80.0,
                {
                    10.0: lambda: delay.update(now=8.0),
                    12.0: outage.stop,
                    32.0: outage.start,
                    45.0: lambda: delay.update(now=0.005),
                },
            )
    finally:
        for server in (slow, outage, flaky):
            await server.stop()
    degraded = first(timeline, "slowstep", "degraded", 10.0)
    healthy = first(timeline, "slowstep", "healthy", 45.0)
    recovered = first(timeline, "outage", "healthy", 32.0)
    flaky_degraded = first(timeline, "flaky", "degraded", 0.0)
    print(
        f"slow step: degraded after {degraded and degraded - 10:.1f} s, healthy "
        f"{healthy and healthy - 45:.1f} s after fast; outage healthy "
        f"{recovered and recovered - 32:.1f} s after recovery; flaky degraded at {flaky_degraded}"
    )
    assert degraded is not None and degraded - 10 <= 30
    assert healthy is not None and healthy - 45 <= 30
    assert not ever(timeline, "slowstep", "down")
    assert first(timeline, "outage", "down", 12.0) is not None  # the outage was seen
    assert recovered is not None and recovered - 32 <= 2 * INTERVAL + 3
    assert first(timeline, "outage", "degraded", 32.0) is None  # not "partly failing" after
    assert flaky_degraded is not None and flaky_degraded <= 60
    assert not ever(timeline, "flaky", "down")


async def our_own_outage_is_not_theirs(directory: Path) -> None:
    """Upstreams and (loopback) connectivity targets refuse for 30 s: network_up 0 within 5 s, no
    provider down, no check counted, every provider `unknown` (exporter_offline) within 2 intervals
    + 2 s; all back to healthy within 2 intervals + 2 s once the network is back."""
    upstreams = [await Switchable(fake.ok()).start() for _ in range(3)]
    targets = [await Switchable().start() for _ in range(2)]
    urls = {f"p{i}": server.url for i, server in enumerate(upstreams)}
    env = {
        "PROVIDERS_FILE": str(providers_file(directory / "providers.json", urls)),
        "PROBE_INTERVAL_SECONDS": str(INTERVAL),
        "CONNECTIVITY_CHECK_TARGETS": ",".join(t.address for t in targets),
    }
    checks: dict[str, Samples] = {}
    reasons: list[tuple[float, dict[str, str]]] = []
    pages: list[bytes] = []
    documents: list[dict[str, object]] = []

    async def cut() -> None:
        checks["before"] = await exporter.metrics()
        for server in [*targets, *upstreams]:  # at once
            await server.stop()

    async def restore() -> None:
        checks["during"] = await exporter.metrics()
        _, _, body = await exporter.get("/api/v1/providers")
        _, _, offline_page = await exporter.get("/")
        pages.append(offline_page)
        documents.append(json.loads(body))
        reasons.append(
            (time.monotonic(), {p["slug"]: p["reason"] for p in json.loads(body)["providers"]})
        )
        for server in [*targets, *upstreams]:
            await server.start()

    try:
        async with ExporterProcess(env) as exporter:
            await exporter.wait_for(lambda s: set(states(s).values()) == {"healthy"}, 10)
            network = []
            start = time.monotonic()

            async def note_network() -> None:
                while time.monotonic() - start < 45:
                    samples = await exporter.metrics()
                    network.append(
                        (time.monotonic() - start, samples.get("provider_exporter_network_up"))
                    )
                    await asyncio.sleep(0.25)

            noting = asyncio.ensure_future(note_network())
            timeline = await watch(exporter, 45.0, {1.0: cut, 31.0: restore})
            await noting
            _, _, page = await exporter.get("/")
    finally:
        for server in [*targets, *upstreams]:
            await server.stop()
    slugs = list(urls)
    lost = next(t for t, up in network if up == 0 and t >= 1.0)
    unknown_at = {slug: first(timeline, slug, "unknown", 1.0) for slug in slugs}
    back_at = {slug: first(timeline, slug, "healthy", 31.0) for slug in slugs}
    print(
        f"network_up 0 after {lost - 1.0:.2f} s; unknown after "
        f"{ {s: round(t - 1.0, 2) for s, t in unknown_at.items() if t} } s; healthy again "
        f"{ {s: round(t - 31.0, 2) for s, t in back_at.items() if t} } s after the network"
    )
    assert lost - 1.0 <= 5
    for slug in slugs:
        assert not ever(timeline, slug, "down"), slug
        unknown = first(timeline, slug, "unknown", 1.0)
        assert unknown is not None and unknown - 1.0 <= 2 * INTERVAL + 2, (slug, unknown)
        back = first(timeline, slug, "healthy", 31.0)
        assert back is not None and back - 31.0 <= 2 * INTERVAL + 2, (slug, back)
        for result in ("up", "down"):
            before = checks["before"].get(
                "gatewayz_provider_checks_total", provider=slug, result=result
            )
            during = checks["during"].get(
                "gatewayz_provider_checks_total", provider=slug, result=result
            )
            assert during == before, (slug, result, before, during)
        refused = checks["during"].get(
            "gatewayz_provider_probes_total", provider=slug, outcome="connect_error"
        )
        assert refused is not None and refused >= 20  # still probed, still counted as probes
    assert reasons[0][1] == dict.fromkeys(slugs, "exporter_offline")
    assert checks["during"].get("provider_exporter_offline") == 1
    assert documents[0]["network"] == {"offline": True, "up": False}
    assert b"The exporter cannot reach the network." in pages[0]
    assert b"cannot reach the network" not in page  # back online: no banner


async def test_judgement_live(tmp_path: Path) -> None:
    """Both scenarios above, each with its own exporter process, run at once (80 s, not 125)."""
    for name in ("degraded", "offline"):
        (tmp_path / name).mkdir()
    outcomes = await asyncio.gather(
        degraded_is_fast_both_ways_and_an_outage_that_is_over_is_over(tmp_path / "degraded"),
        our_own_outage_is_not_theirs(tmp_path / "offline"),
        return_exceptions=True,  # both run to the end; the first failure is the test's
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
