"""`python -m bench.memory_child BASE PROVIDERS MODELS PREFILL RUN WARM`: RSS of a full exporter.

Builds a Monitor of PROVIDERS keyless providers × MODELS watched models on the upstream at BASE,
pre-fills PREFILL seconds of history through `Monitor.record` (one probe per 24 h slot, then the
last 10 minutes at 1 s so the recent-latency buffer is full), then runs the real scheduler,
prober and collector at a 1 s interval for RUN seconds, rendering /metrics every 15 s. Prints
{"prefilled": rss, "samples": [[t, rss], ...]} as JSON (bytes, from /proc/self/status).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time

from bench.procstat import rss_bytes
from exporter.catalog import AuthStyle, ProviderSpec
from exporter.clock import Clock
from exporter.judgement.monitor import Monitor
from exporter.judgement.scoring import Rules
from exporter.judgement.windows import WINDOWS
from exporter.outcomes import Outcome
from exporter.probing.model_lists import ModelList
from exporter.probing.probes import Prober, ProbeResult
from exporter.running.scheduler import Scheduler
from exporter.service import make_session
from exporter.serving.collector import make_process_registry
from exporter.serving.exposition import TextRenderer
from exporter.settings import Settings
from exporter.targets import Target

RECENT = 600  # seconds of 1 s probes pre-filled at the end (fills the latency buffer)


def prefill(
    monitor: Monitor, targets: list[Target], names: tuple[str, ...], seconds: float, now: float
) -> None:
    """Record a day of probes: one per 24 h slot, then one per second for the last 10 minutes."""
    listed = ModelList(len(names), names, frozenset(names), complete=True)
    slot = WINDOWS[-1][1]
    times = [now - seconds + k * slot for k in range(int((seconds - RECENT) // slot))]
    times += [now - RECENT + k for k in range(min(RECENT, int(seconds)))]
    for at in times:
        for target in targets:
            result = ProbeResult(target.slug, Outcome.OK, at, 0.05, 200, models=listed)
            monitor.record(result, at + 0.05)


async def run(
    base: str, providers: int, models: int, seconds: float, run_for: float, warm: float
) -> dict[str, object]:
    """Pre-fill, then run the real probe loop; return RSS samples."""
    settings = Settings(probe_interval_seconds=1.0, probe_concurrency=providers)
    targets = [
        Target(
            spec=ProviderSpec(slug=f"m{i}", base_url=f"{base}/m{i}", auth=AuthStyle.NONE),
            url=f"{base}/m{i}/models",
            credential=None,
        )
        for i in range(providers)
    ]
    names = tuple(f"model-{m}" for m in range(models))
    clock = Clock()
    monitor = Monitor(targets, Rules(), {t.slug: names for t in targets}, clock.now() - seconds)
    prefill(monitor, targets, names, seconds, clock.now())
    # Render as /metrics does: publish on the loop's thread, then the fast text renderer.
    text = TextRenderer(lambda: monitor.published, make_process_registry())

    def scrape() -> None:
        monitor.publish(clock.now())
        text.render()

    scrape()
    gc.collect()
    prefilled = rss_bytes("self")
    samples: list[list[float]] = []
    async with make_session(settings) as session:
        prober = Prober(
            session,
            timeout=5.0,
            max_body_bytes=1_048_576,
            model_cap=1000,
            watch={t.slug: frozenset(names) for t in targets},
        )
        scheduler = Scheduler(
            targets, prober, monitor, interval=1.0, concurrency=providers, now=clock.now
        )
        task = asyncio.create_task(scheduler.run())
        start = time.monotonic()
        step = max(1.0, run_for / 60)
        next_scrape = start
        while (elapsed := time.monotonic() - start) < run_for:
            if time.monotonic() >= next_scrape:
                scrape()  # a Prometheus scrape, every 15 s
                next_scrape += 15
            samples.append([elapsed, rss_bytes("self")])
            await asyncio.sleep(step)
        samples.append([time.monotonic() - start, rss_bytes("self")])
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return {"prefilled": prefilled, "samples": samples, "warm": warm}


if __name__ == "__main__":
    base, providers, models, seconds, run_for, warm = sys.argv[1:7]
    figures = asyncio.run(
        run(base, int(providers), int(models), float(seconds), float(run_for), float(warm))
    )
    print(json.dumps(figures), flush=True)
