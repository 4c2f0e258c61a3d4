"""Scrape cost: rendering /metrics for many providers × watched models, and the reference."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.parser import text_string_to_metric_families

from bench.report import percentile
from exporter.catalog import AuthStyle, ProviderSpec
from exporter.judgement.monitor import Monitor
from exporter.judgement.scoring import Rules
from exporter.judgement.snapshot import LAG_BUCKETS, LATENCY_BUCKETS
from exporter.outcomes import Outcome
from exporter.probing.model_lists import ModelList
from exporter.probing.probes import ProbeResult
from exporter.serving.collector import PROCESS_FAMILIES, make_process_registry
from exporter.serving.exposition import TextRenderer
from exporter.targets import Target

PROBES_PER_PROVIDER = 3


@dataclass(frozen=True, slots=True)
class Render:
    """Render times (seconds) and size of one registry's exposition."""

    p50: float
    p99: float
    size: int
    series: int
    cpu_p50: float


def make_monitor(providers: int, models: int, now: float) -> Monitor:
    """Return a Monitor with `providers` keyless providers × `models` watched models, probed."""
    targets = [
        Target(
            spec=ProviderSpec(slug=f"p{i}", base_url="http://127.0.0.1/v1", auth=AuthStyle.NONE),
            url=f"http://127.0.0.1/p{i}/models",
            credential=None,
        )
        for i in range(providers)
    ]
    names = tuple(f"org/model-{m}" for m in range(models))
    monitor = Monitor(targets, Rules(), {t.slug: names for t in targets}, now)
    for probe in range(PROBES_PER_PROVIDER):
        probe_all(monitor, models, now + probe * 15)
    return monitor


def probe_all(monitor: Monitor, models: int, at: float) -> None:
    """Record one successful probe of every provider at `at` (all watched models but one listed)."""
    names = tuple(f"org/model-{m}" for m in range(models))
    listed = ModelList(models, names, frozenset(names[: models - 1]), complete=True)
    for slug in monitor.published.providers:
        result = ProbeResult(
            slug=slug,
            outcome=Outcome.OK,
            started=at,
            duration=0.2,
            status=200,
            phases={"dns": 0.001, "connect": 0.002, "first_byte": 0.15, "transfer": 0.01},
            models=listed,
        )
        monitor.record(result, at + 0.2)


def time_renders(
    render: Callable[[], bytes], renders: int, between: Callable[[], object] = lambda: None
) -> Render:
    """Call `render` `renders` times (`between` untimed before each); return p50/p99 and size."""
    times, cpu = [], []
    body = b""
    for _ in range(renders):
        between()
        start, start_cpu = time.perf_counter(), time.process_time()
        body = render()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return Render(
        percentile(times, 0.5), percentile(times, 0.99), len(body), series, percentile(cpu, 0.5)
    )


def reference_registry(exposition: str) -> CollectorRegistry:
    """Return the same series as `exposition`, held in prometheus_client's default objects."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    for family in text_string_to_metric_families(exposition):
        if any(family.name + suffix in PROCESS_FAMILIES for suffix in ("", "_total")):
            continue
        _mirror(registry, family)
    return registry


def _mirror(registry: CollectorRegistry, family: object) -> None:
    name, kind = family.name, family.type  # type: ignore[attr-defined]
    samples = family.samples  # type: ignore[attr-defined]
    labels = sorted({k for s in samples for k in s.labels if k != "le"})
    doc = family.documentation or name  # type: ignore[attr-defined]
    if kind == "histogram":
        buckets = LAG_BUCKETS if name.startswith("provider_exporter") else LATENCY_BUCKETS
        metric = Histogram(name, doc, labels, registry=registry, buckets=buckets)
        for sample in samples:
            if sample.name == f"{name}_sum":
                child = metric.labels(**sample.labels) if labels else metric
                child.observe(sample.value)
        return
    if kind == "counter":
        counter = Counter(name, doc, labels, registry=registry)
        for sample in samples:
            if sample.name.endswith("_total"):
                (counter.labels(**sample.labels) if labels else counter).inc(sample.value)
        return
    gauge = Gauge(name, doc, labels, registry=registry)
    for sample in samples:
        (gauge.labels(**sample.labels) if labels else gauge).set(sample.value)


def run_scrape(providers: int, models: int, renders: int) -> tuple[Render, Render, Render]:
    """Return the exporter's figures (every view new, views unchanged) and the reference's.

    The exporter's text is what /metrics serves: `exporter.serving.exposition.TextRenderer`, which
    reuses a provider's lines until its view changes. Between scrapes 15 s apart every
    provider has been probed, so the realistic case rebuilds every view before each render.
    """
    now = time.time() - 3600
    monitor = make_monitor(providers, models, now)
    clock = [now + PROBES_PER_PROVIDER * 15]
    text = TextRenderer(lambda: monitor.published, make_process_registry())

    def probed() -> None:  # 15 s later: every provider has been probed once more
        clock[0] += 15
        probe_all(monitor, models, clock[0])

    def scrape() -> bytes:  # what /metrics does: publish (builds changed views), then render
        monitor.publish(clock[0] + 1)
        return text.render()

    fresh = time_renders(scrape, renders, probed)
    cached = time_renders(scrape, renders)
    reference = reference_registry(scrape().decode())
    return fresh, cached, time_renders(lambda: generate_latest(reference), renders)
