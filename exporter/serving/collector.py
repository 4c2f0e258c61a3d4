"""The Prometheus collector: renders the latest snapshot, with no I/O at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
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

from exporter.judgement.snapshot import Histogram, Snapshot
from exporter.serving.families import (
    FAMILIES,
    PROCESS_FAMILIES,
    Row,
    emit_exporter,
    emit_provider,
    family_names,
)

__all__ = [
    "PROCESS_FAMILIES",
    "SnapshotCollector",
    "family_names",
    "make_process_registry",
    "make_registry",
]

_METRIC_TYPES = {
    "gauge": GaugeMetricFamily,
    "counter": CounterMetricFamily,
    "histogram": HistogramMetricFamily,
}


def _families() -> dict[str, Any]:
    """Return fresh, empty prometheus_client families for every family the exporter serves."""
    return {
        f.name: _METRIC_TYPES[f.kind](f.name, f.help, labels=list(f.exposed_labels))
        for f in FAMILIES
    }


_VANTAGED = frozenset(family.name for family in FAMILIES if family.vantaged)


class _MetricSink:
    """Adds samples to prometheus_client families (with the vantage on a provider's)."""

    def __init__(self, vantage: str) -> None:
        self.families = _families()
        self._vantage = (vantage,)

    def _labels(self, family: str, labels: tuple[str, ...]) -> list[str]:
        return [*labels, *self._vantage] if family in _VANTAGED else list(labels)

    def sample(self, family: str, labels: tuple[str, ...], value: float) -> None:
        self.families[family].add_metric(self._labels(family, labels), value)

    def samples(self, family: str, rows: Iterable[Row]) -> None:
        metric = self.families[family]
        for labels, value in rows:
            metric.add_metric(self._labels(family, labels), value)

    def histogram(
        self, family: str, labels: tuple[str, ...], histogram: Histogram, bounds: Sequence[float]
    ) -> None:
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
        self.families[family].add_metric(self._labels(family, labels), buckets, histogram.total)


class SnapshotCollector(Collector):
    """Render `get_snapshot()`; never raises because a source is down."""

    def __init__(self, get_snapshot: Callable[[], Snapshot]) -> None:
        self._get_snapshot = get_snapshot

    def describe(self) -> Iterator[Metric]:
        """Describe the families without building samples (registering must not collect)."""
        return iter(_families().values())

    def collect(self) -> Iterator[Metric]:
        snapshot = self._get_snapshot()
        sink = _MetricSink(snapshot.vantage)
        for view in snapshot.providers.values():
            emit_provider(sink, view)
        emit_exporter(sink, snapshot)
        return iter(sink.families.values())


def make_process_registry(*extra: Collector) -> CollectorRegistry:
    """Return a registry of the process' own CPU, memory and fds, plus `extra` collectors."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    for collector in extra:
        registry.register(collector)
    return registry


def make_registry(get_snapshot: Callable[[], Snapshot], *extra: Collector) -> CollectorRegistry:
    """Return a registry serving the snapshot plus the process registry's collectors."""
    registry = make_process_registry(*extra)
    registry.register(SnapshotCollector(get_snapshot))
    return registry
