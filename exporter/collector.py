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
from prometheus_client.samples import Exemplar as PromExemplar

from exporter import __version__
from exporter.outcomes import OUTCOMES
from exporter.redis_source import BACKEND_STATUSES, BREAKER_STATES, RedisView, Traffic
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
        gauge(
            "gatewayz_circuit_breaker_state",
            "1 for the backend's breaker state in Redis, 0 for the other two.",
            labels=[*P, "state"],
        ),
        gauge(
            "gatewayz_gateway_requests_last_hour",
            "Requests the backend recorded over the last hour.",
            labels=P,
        ),
        gauge(
            "gatewayz_gateway_failed_requests_last_hour",
            "Failures the backend recorded over the last hour (under-recorded today).",
            labels=P,
        ),
        gauge(
            "gatewayz_gateway_latency_seconds",
            "Quantiles of the backend's latency samples from the last hour.",
            labels=[*P, "quantile"],
        ),
        gauge(
            "gatewayz_backend_provider_status",
            "1 for the status the backend's own monitor reports (health:providers).",
            labels=[*P, "status"],
        ),
        gauge(
            "gatewayz_backend_models",
            "Models the backend's own monitor reports healthy or unhealthy (health:models).",
            labels=[*P, "status"],
        ),
        hist("provider_exporter_probe_lag_seconds", "How late probes start against schedule."),
        gauge("provider_exporter_redis_up", "1 when the last Redis poll succeeded."),
        gauge("provider_exporter_redis_poll_duration_seconds", "Duration of the last Redis poll."),
        gauge(
            "provider_exporter_redis_last_success_timestamp_seconds",
            "Unix time of the last successful Redis poll.",
        ),
        gauge("provider_exporter_redis_keys_read", "Keys read by the last Redis poll."),
        counter(
            "provider_exporter_redis_parse_errors",
            "Redis values that could not be parsed, by key pattern.",
            labels=["pattern"],
        ),
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


def make_registry(get_snapshot: Callable[[], Snapshot], *extra: Collector) -> CollectorRegistry:
    """Return a registry serving the snapshot plus the process' own CPU, memory and fds."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(SnapshotCollector(get_snapshot))
    ProcessCollector(registry=registry)
    for collector in extra:
        registry.register(collector)
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
        if snapshot.redis is not None:
            _add_redis(families, snapshot.redis)
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
    exemplars = histogram.exemplars or (None,) * len(histogram.buckets)
    cumulative = 0
    buckets: list[Any] = []
    for bound, count, exemplar in zip(
        (*bounds, float("inf")), histogram.buckets, exemplars, strict=True
    ):
        cumulative += count
        le = "+Inf" if bound == float("inf") else repr(bound)
        if exemplar is None:
            buckets.append((le, cumulative))
        else:  # lets Grafana jump from a slow probe to its trace (OpenMetrics only)
            found = PromExemplar(
                {"trace_id": exemplar.trace_id}, exemplar.value, exemplar.timestamp
            )
            buckets.append((le, cumulative, found))
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


def _add_redis(f: dict[str, Any], view: RedisView) -> None:
    """Render the backend's Redis; what could not be read is left out, never zeroed."""
    f["provider_exporter_redis_up"].add_metric([], 1 if view.up else 0)
    if view.poll_duration is not None:
        f["provider_exporter_redis_poll_duration_seconds"].add_metric([], view.poll_duration)
    if view.last_success is not None:
        f["provider_exporter_redis_last_success_timestamp_seconds"].add_metric(
            [], view.last_success
        )
    if view.up:
        f["provider_exporter_redis_keys_read"].add_metric([], view.keys_read)
    for pattern, count in view.parse_errors.items():
        f["provider_exporter_redis_parse_errors"].add_metric([pattern], count)
    for slug, state in view.breakers.items():
        for candidate in BREAKER_STATES:
            current = 1 if candidate == state else 0
            f["gatewayz_circuit_breaker_state"].add_metric([slug, candidate], current)
    for slug, traffic in view.traffic.items():
        _add_traffic(f, slug, traffic)
    for slug, status in view.backend_status.items():
        for candidate in BACKEND_STATUSES:
            current = 1 if candidate == status else 0
            f["gatewayz_backend_provider_status"].add_metric([slug, candidate], current)
    for slug, counts in view.backend_models.items():
        for status, count in counts.items():
            f["gatewayz_backend_models"].add_metric([slug, status], count)


def _add_traffic(f: dict[str, Any], slug: str, traffic: Traffic) -> None:
    if traffic.requests is not None:
        f["gatewayz_gateway_requests_last_hour"].add_metric([slug], traffic.requests)
    if traffic.failures is not None:
        f["gatewayz_gateway_failed_requests_last_hour"].add_metric([slug], traffic.failures)
    for q, seconds in traffic.latency.items():
        f["gatewayz_gateway_latency_seconds"].add_metric([slug, repr(q)], seconds)
