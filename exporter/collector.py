"""The Prometheus collector: renders the latest snapshot, with no I/O at scrape time."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from exporter import __version__
from exporter.outcomes import OUTCOMES
from exporter.scoring import STATES
from exporter.snapshot import (
    AVAILABILITY_WINDOWS,
    LAG_BUCKETS,
    LATENCY_BUCKETS,
    Histogram,
    ProviderView,
    Snapshot,
)

P = ["provider"]
SCORE_COMPONENTS = ("availability", "error_rate", "latency", "breaker")


def _families() -> dict[str, Any]:
    """Return fresh, empty families for every series the exporter serves."""
    gauge, counter, hist = GaugeMetricFamily, CounterMetricFamily, HistogramMetricFamily
    families: list[Metric] = [
        gauge("provider_availability", "1 while healthy or degraded, 0 while down.", labels=P),
        gauge("provider_error_rate", "Share of conclusive checks that failed, 5 m.", labels=P),
        hist("provider_response_time_seconds", "Probe round-trip time.", labels=P),
        gauge("gatewayz_provider_health_score", "Health score, 0-1.", labels=P),
        gauge(
            "gatewayz_provider_health_score_component",
            "Inputs of the health score, 0-1.",
            labels=[*P, "component"],
        ),
        gauge("gatewayz_provider_status", "1 for the current state.", labels=[*P, "status"]),
        gauge(
            "gatewayz_provider_state_since_timestamp_seconds",
            "Unix time the current state began.",
            labels=P,
        ),
        counter("gatewayz_provider_state_changes", "State transitions since start.", labels=P),
        counter("gatewayz_provider_probes", "Probes by outcome.", labels=[*P, "outcome"]),
        counter(
            "gatewayz_provider_checks",
            "Conclusive checks: up, or down (counts against availability).",
            labels=[*P, "result"],
        ),
        gauge(
            "gatewayz_provider_availability_ratio",
            "Share of conclusive checks that succeeded over a window.",
            labels=[*P, "window"],
        ),
        gauge(
            "gatewayz_provider_last_probe_timestamp_seconds",
            "Unix time the last probe finished.",
            labels=P,
        ),
        gauge(
            "gatewayz_provider_probe_phase_seconds",
            "Phases of the last probe.",
            labels=[*P, "phase"],
        ),
        gauge("gatewayz_provider_models_listed", "Models in the last model list.", labels=P),
        gauge(
            "gatewayz_provider_rate_limit_backoff_seconds",
            "Retry-After being honoured now; 0 when not backing off.",
            labels=P,
        ),
        gauge(
            "gatewayz_model_uptime_24h",
            "Share of the last 24 h in which the provider was up and listed the model.",
            labels=[*P, "model"],
        ),
        gauge(
            "provider_exporter_build_info",
            "Build information.",
            labels=["version", "python_version"],
        ),
        hist("provider_exporter_probe_lag_seconds", "How late probes start against schedule."),
        gauge("provider_exporter_providers", "Providers per state.", labels=["state"]),
        gauge("provider_exporter_probes_in_flight", "Probes running now."),
        gauge("provider_exporter_ready", "1 once every provider has been probed once."),
    ]
    return {family.name: family for family in families}


# Served by prometheus_client's ProcessCollector (Linux only).
PROCESS_FAMILIES = (
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
)


def make_registry(get_snapshot: Callable[[], Snapshot]) -> CollectorRegistry:
    """Return a registry serving the snapshot plus the process' own CPU, memory and fds."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(SnapshotCollector(get_snapshot))
    ProcessCollector(registry=registry)
    return registry


def family_names() -> list[str]:
    """Return the name of every metric family the exporter can serve (as seen in PromQL)."""
    names: list[str] = list(PROCESS_FAMILIES)
    for family in _families().values():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        names.extend(family.name + s for s in suffixes.get(family.type, [""]))
    return names


class SnapshotCollector(Collector):
    """Render `get_snapshot()`; never raises because a source is down."""

    def __init__(self, get_snapshot: Callable[[], Snapshot]) -> None:
        self._get_snapshot = get_snapshot

    def describe(self) -> Iterator[Metric]:
        """Describe the families without building samples (registering must not collect)."""
        return iter(_families().values())

    def collect(self) -> Iterator[Metric]:
        snapshot = self._get_snapshot()
        families = _families()
        for view in snapshot.providers.values():
            _add_provider(families, view)
        _add_self(families, snapshot)
        return iter(families.values())


def _add_provider(f: dict[str, Any], view: ProviderView) -> None:
    slug = [view.slug]
    for state in STATES:
        f["gatewayz_provider_status"].add_metric(
            [view.slug, state], 1 if state is view.state else 0
        )
    f["gatewayz_provider_state_since_timestamp_seconds"].add_metric(slug, view.since)
    f["gatewayz_provider_state_changes"].add_metric(slug, view.state_changes)
    if not view.configured:
        return  # never probed: every other series would be made up
    available = view.available
    if available is not None:
        f["provider_availability"].add_metric(slug, available)
    if view.error_rate is not None:
        f["provider_error_rate"].add_metric(slug, view.error_rate)
    _add_histogram(f["provider_response_time_seconds"], slug, view.response_time, LATENCY_BUCKETS)
    if view.score is not None:
        f["gatewayz_provider_health_score"].add_metric(slug, view.score.value)
        components = f["gatewayz_provider_health_score_component"]
        for name in SCORE_COMPONENTS:
            value = getattr(view.score, name)
            if value is not None:
                components.add_metric([view.slug, name], value)
    for outcome in OUTCOMES:
        f["gatewayz_provider_probes"].add_metric([view.slug, outcome], view.probes[outcome])
    f["gatewayz_provider_checks"].add_metric([view.slug, "up"], view.checks_up)
    f["gatewayz_provider_checks"].add_metric([view.slug, "down"], view.checks_down)
    for window in AVAILABILITY_WINDOWS:
        ratio = view.availability[window]
        if ratio is not None:
            f["gatewayz_provider_availability_ratio"].add_metric([view.slug, window], ratio)
    if view.last_probe_at is not None:
        f["gatewayz_provider_last_probe_timestamp_seconds"].add_metric(slug, view.last_probe_at)
    for phase, seconds in view.phases.items():
        f["gatewayz_provider_probe_phase_seconds"].add_metric([view.slug, phase], seconds)
    if view.models_listed is not None:
        f["gatewayz_provider_models_listed"].add_metric(slug, view.models_listed)
    f["gatewayz_provider_rate_limit_backoff_seconds"].add_metric(slug, view.backoff)
    for model, uptime in view.model_uptime.items():
        if uptime is not None:
            f["gatewayz_model_uptime_24h"].add_metric([view.slug, model], uptime)


def _add_histogram(
    family: Metric, labels: list[str], histogram: Histogram, bounds: tuple[float, ...]
) -> None:
    assert isinstance(family, HistogramMetricFamily)
    cumulative = 0
    buckets = []
    for bound, count in zip((*bounds, float("inf")), histogram.buckets, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
    family.add_metric(labels, buckets, histogram.total)


def _add_self(f: dict[str, Any], snapshot: Snapshot) -> None:
    f["provider_exporter_build_info"].add_metric([__version__, platform.python_version()], 1)
    _add_histogram(
        f["provider_exporter_probe_lag_seconds"], [], snapshot.stats.probe_lag, LAG_BUCKETS
    )
    for state, count in snapshot.count_states().items():
        f["provider_exporter_providers"].add_metric([state], count)
    f["provider_exporter_probes_in_flight"].add_metric([], snapshot.stats.in_flight)
    f["provider_exporter_ready"].add_metric([], 1 if snapshot.ready else 0)
