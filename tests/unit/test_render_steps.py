"""/metrics publishes and renders in steps: the event loop runs probes between them, and a probe
counted during the steps is never lost."""

from __future__ import annotations

import asyncio

from aiohttp import test_utils
from prometheus_client import CollectorRegistry

from exporter.catalog import AuthStyle, ProviderSpec
from exporter.judgement.monitor import Monitor
from exporter.judgement.scoring import Rules
from exporter.judgement.views import PUBLISH_STEP
from exporter.outcomes import Outcome
from exporter.probing.model_lists import ModelList
from exporter.probing.probes import ProbeResult
from exporter.serving.exposition import RENDER_STEP, TextRenderer
from exporter.serving.web import make_app
from exporter.targets import Target
from tests.support.process import parse_metrics

T0 = 1_800_000_000.0
MODELS = tuple(f"org/model-{m}" for m in range(5))


def make_monitor(providers: int) -> Monitor:
    targets = [
        Target(
            ProviderSpec(f"p{i}", "http://127.0.0.1:9/v1", auth=AuthStyle.NONE),
            f"http://127.0.0.1:9/p{i}/models",
            None,
        )
        for i in range(providers)
    ]
    return Monitor(targets, Rules(), {t.slug: MODELS for t in targets}, T0)


def probe(monitor: Monitor, slug: str, at: float, outcome: Outcome = Outcome.OK) -> None:
    listed = ModelList(len(MODELS), MODELS, frozenset(MODELS), complete=True)
    result = ProbeResult(slug, outcome, at, 0.1, 200 if outcome is Outcome.OK else 503)
    if outcome is Outcome.OK:
        result = ProbeResult(slug, outcome, at, 0.1, 200, {}, listed)
    monitor.record(result, at + 0.1)


def probes_of(monitor: Monitor, slug: str) -> dict[str, int]:
    counts = monitor.published.providers[slug].probes
    return {outcome.value: count for outcome, count in counts.items() if count}


def test_a_probe_counted_between_publish_steps_is_published() -> None:
    """One probed after its view was rebuilt shows in the next publish; one whose view was not
    rebuilt yet shows in this one."""
    monitor = make_monitor(4 * PUBLISH_STEP)
    for slug in monitor.published.providers:
        probe(monitor, slug, T0 + 1)
    steps = monitor.publish_in_steps(T0 + 2)
    next(steps)  # the first PUBLISH_STEP views are rebuilt
    probe(monitor, "p0", T0 + 2, Outcome.HTTP_5XX)  # rebuilt already
    probe(monitor, f"p{4 * PUBLISH_STEP - 1}", T0 + 2, Outcome.HTTP_5XX)  # not yet
    for _ in steps:
        pass
    assert probes_of(monitor, f"p{4 * PUBLISH_STEP - 1}") == {"ok": 1, "http_5xx": 1}
    assert probes_of(monitor, "p0") == {"ok": 1}
    monitor.publish(T0 + 2.5)  # less than a view's max age later: only the probed one changes
    assert probes_of(monitor, "p0") == {"ok": 1, "http_5xx": 1}


async def test_the_loop_runs_while_metrics_renders() -> None:
    """A scrape after every provider was probed rebuilds all views and lines; between its steps
    other coroutines (the probes) run, and the body still holds every provider."""
    providers = 8 * max(PUBLISH_STEP, RENDER_STEP)
    monitor = make_monitor(providers)
    for slug in monitor.published.providers:
        probe(monitor, slug, T0 + 1)
    now = [T0 + 2]
    app = make_app(
        lambda: monitor.publish(now[0]),
        CollectorRegistry(),
        text=TextRenderer(lambda: monitor.published, CollectorRegistry()),
        publish_in_steps=lambda: monitor.publish_in_steps(now[0]),
    )
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    async with test_utils.TestClient(test_utils.TestServer(app, host="127.0.0.1")) as client:
        async with client.get("/metrics") as response:  # the first render: every view new
            assert response.status == 200
            await response.read()
        for slug in monitor.published.providers:
            probe(monitor, slug, T0 + 3)
        now[0] = T0 + 4
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        async with client.get("/metrics") as response:
            body = (await response.read()).decode()
        during = ticks - before
        stop.set()
        await task
    samples = parse_metrics(body)
    for i in range(providers):
        assert samples.get("gatewayz_provider_probes_total", provider=f"p{i}", outcome="ok") == 2
    # one yield per PUBLISH_STEP views and per RENDER_STEP providers rendered, at the least
    assert during >= providers // PUBLISH_STEP + providers // RENDER_STEP, during
