"""Detection in real time: the real exporter process at a 1 s interval against scripted faults.

Every repetition is its own provider (one route of the fake upstream each), so all faults and
all repetitions run at once; each provider's schedule starts at an unrelated random moment.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bench.detection import Tally, Transition
from bench.faults import RANDOM_FAILURE_RATIO, Kind, Phase, Profile, answer
from tests.support.process import ExporterProcess
from tests.support.upstream import FakeUpstream, flaky, models_body

PROFILE = Profile(interval=1.0, timeout=2.0, base_latency=0.2, latency_slow=0.8)
GROUPS = (Kind.REFUSED, Kind.HTTP_5XX, Kind.HANG, Kind.SLOW, Kind.FLAP, Kind.RANDOM)


@dataclass(frozen=True, slots=True)
class Timeline:
    """How long the live run warms up and holds each fault, in seconds."""

    warm: float  # healthy history before the faults (the latency median looks back 5 min)
    outage: float  # refused, 5xx burst and hang last this long, then recover
    slow: float
    flap: float
    random: float
    tail: float  # watched after the last fault ends
    flap_period: float = 20.0

    def phase(self, kind: Kind) -> Phase:
        """Return the phase of `kind`, relative to the moment the faults start."""
        length = {Kind.SLOW: self.slow, Kind.FLAP: self.flap, Kind.RANDOM: self.random}
        return Phase(kind, 0.0, length.get(kind, self.outage))

    @property
    def length(self) -> float:
        return max(self.outage, self.slow, self.flap, self.random) + self.tail


FULL = Timeline(warm=20, outage=20, slow=60, flap=80, random=80, tail=8)
# Smoke: the hang must outlast 4 timeouts of 2 s to be reported at all.
SMOKE = Timeline(warm=3, outage=10, slow=6, flap=8, random=6, tail=3, flap_period=4)


class Scripted:
    """One route's behaviour: healthy until the faults start, then its fault for its phase."""

    def __init__(self, kind: Kind, phase: Phase, profile: Profile, seed: int) -> None:
        self.kind = kind
        self.phase = phase
        self.profile = profile
        self.started: float | None = None  # monotonic time the faults started
        self._rng = random.Random(seed)
        self._random = flaky(RANDOM_FAILURE_RATIO, seed=seed)
        self._body = models_body(("model-a",))

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        since = None if self.started is None else time.monotonic() - self.started
        if since is None or not self.phase.start <= since < self.phase.end:
            await asyncio.sleep(self.profile.base_latency)
            return web.Response(body=self._body, content_type="application/json")
        if self.kind is Kind.RANDOM:
            return await self._random(request)
        got = answer(self.kind, since, self.profile, self._rng)
        await asyncio.sleep(got.duration)
        if got.status is None:  # hang: the prober gives up first
            await asyncio.sleep(3600)
        return web.Response(status=got.status or 200, body=self._body)


class Restartable:
    """A loopback upstream that can be stopped (connections refused) and started on its port."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._body = models_body(("model-a",))

    async def _ok(self, _request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(self.profile.base_latency)
        return web.Response(body=self._body, content_type="application/json")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._ok)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def providers_file(path: Path, routes: dict[str, str]) -> None:
    """Write a PROVIDERS_FILE with one keyless provider per route (slug -> base URL)."""
    entries = [{"slug": slug, "base_url": url, "auth": "none"} for slug, url in routes.items()]
    path.write_text(json.dumps({"providers": entries}), encoding="utf-8")


def parse_transitions(lines: Sequence[str], t0: float) -> dict[str, list[Transition]]:
    """Return each provider's state changes from the exporter's JSON log, relative to `t0`."""
    changes: dict[str, list[Transition]] = {}
    for line in lines:
        if '"provider_state_changed"' not in line:
            continue
        event = json.loads(line)
        at = datetime.datetime.fromisoformat(event["timestamp"]).timestamp()
        changes.setdefault(event["provider"], []).append((at - t0, event["to"]))
    return changes


async def run_live(reps: int, timeline: Timeline, workdir: Path) -> dict[Kind, Tally]:
    """Run every fault `reps` times at once against the real exporter; return the tallies."""
    profile = Profile(
        PROFILE.interval,
        PROFILE.timeout,
        PROFILE.base_latency,
        PROFILE.latency_slow,
        timeline.flap_period,
    )
    upstream = await FakeUpstream().start()
    refusing = Restartable(profile)
    await refusing.start()
    scripts: dict[str, Scripted] = {}
    routes: dict[str, str] = {}
    for kind in GROUPS:
        for index in range(reps):
            slug = f"{kind.value.replace('_', '-')}-{index}"
            if kind is Kind.REFUSED:
                routes[slug] = f"http://127.0.0.1:{refusing.port}/{slug}"
                continue
            scripts[slug] = Scripted(kind, timeline.phase(kind), profile, seed=index)
            upstream.set(slug, scripts[slug])
            routes[slug] = upstream.base_url(slug)
    config = workdir / "live-providers.json"
    providers_file(config, routes)
    env = {
        "PROVIDERS_FILE": str(config),
        "PROBE_INTERVAL_SECONDS": str(profile.interval),
        "PROBE_TIMEOUT_SECONDS": str(profile.timeout),
        "PROBE_CONCURRENCY": "512",  # every repetition probes on its own schedule, unqueued
        "LATENCY_TARGET_SECONDS": str(profile.latency_slow / 4),
        "LATENCY_SLOW_SECONDS": str(profile.latency_slow),
    }
    try:
        async with ExporterProcess(env) as exporter:
            await asyncio.sleep(timeline.warm)
            t0 = time.time()
            started = time.monotonic()
            for script in scripts.values():
                script.started = started
            await refusing.stop()
            await asyncio.sleep(timeline.outage - (time.monotonic() - started))
            await refusing.start()
            await asyncio.sleep(timeline.length - (time.monotonic() - started))
            lines = exporter.logs()
    finally:
        await refusing.stop()
        await upstream.stop()
    changes = parse_transitions(lines, t0)
    tallies: dict[Kind, Tally] = {}
    for kind in GROUPS:
        tally = tallies.setdefault(kind, Tally())
        for index in range(reps):
            slug = f"{kind.value.replace('_', '-')}-{index}"
            tally.add(changes.get(slug, []), (timeline.phase(kind),))
    return tallies
