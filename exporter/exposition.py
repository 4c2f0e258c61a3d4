"""The Prometheus text format (0.0.4) of a snapshot, fast: each provider's lines are rendered once
per view and reused by every scrape until the view changes.

prometheus_client formats every sample on every scrape (about 70 ms for 100 providers with 50
watched models each); here a scrape mostly joins strings. The samples come from the same
`families.emit_*` functions as the Collector's, so both renderers say the same thing; a test
parses both outputs and compares them. OpenMetrics (exemplars) still goes through the Collector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString

from exporter.families import FAMILIES, Family, emit_exporter, emit_provider
from exporter.snapshot import Histogram, ProviderView, Snapshot

_BY_NAME = {family.name: family for family in FAMILIES}
_go_float = cast(Callable[[float], str], floatToGoString)


def _number(value: float) -> str:
    """Format a sample value: repr for the common finite case, Go's spelling otherwise."""
    number = float(value)
    if number != number or number in (_INF, -_INF) or abs(number) >= 1e16:
        return _go_float(number)
    return repr(number)


_INF = float("inf")
Lines = dict[str, list[str]]  # family name -> sample lines


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _exposed_name(family: Family) -> str:
    return family.name + "_total" if family.kind == "counter" else family.name


class _TextSink:
    """Formats samples into lines, grouped by family.

    The part of a line before its value is cached by series: series are bounded by configuration,
    so a scrape mostly formats numbers.
    """

    def __init__(self, prefixes: dict[tuple[str, tuple[str, ...], str], str]) -> None:
        self.lines: Lines = {}
        self._prefixes = prefixes

    def _prefix(self, name: str, family: str, labels: Sequence[str], le: str = "") -> str:
        key = (name, tuple(labels), le)
        prefix = self._prefixes.get(key)
        if prefix is None:
            extra = f'le="{le}"' if le else ""
            prefix = f"{name}{_labels(_BY_NAME[family].labels, labels, extra)} "
            self._prefixes[key] = prefix
        return prefix

    def sample(self, family: str, labels: Sequence[str], value: float) -> None:
        name = _exposed_name(_BY_NAME[family])
        line = f"{self._prefix(name, family, labels)}{_number(value)}\n"
        self.lines.setdefault(family, []).append(line)

    def histogram(
        self, family: str, labels: Sequence[str], histogram: Histogram, bounds: Sequence[float]
    ) -> None:
        out = self.lines.setdefault(family, [])
        bucket = f"{family}_bucket"
        cumulative = 0
        for bound, count in zip((*bounds, _INF), histogram.buckets, strict=True):
            cumulative += count
            prefix = self._prefix(bucket, family, labels, _go_float(bound))
            out.append(f"{prefix}{_number(cumulative)}\n")
        out.append(f"{self._prefix(family + '_count', family, labels)}{_number(histogram.count)}\n")
        out.append(f"{self._prefix(family + '_sum', family, labels)}{_number(histogram.total)}\n")


def _headers() -> dict[str, str]:
    headers = {}
    for family in FAMILIES:
        name = _exposed_name(family)
        doc = family.help.replace("\\", "\\\\").replace("\n", "\\n")
        headers[family.name] = f"# HELP {name} {doc}\n# TYPE {name} {family.kind}\n"
    return headers


class TextRenderer:
    """Render snapshots in the text format, reusing each provider's lines while its view holds.

    Not thread-safe: call it from one thread at a time (the web layer's single render thread).
    """

    def __init__(self, get_snapshot: Callable[[], Snapshot], extra: CollectorRegistry) -> None:
        self._get_snapshot = get_snapshot
        self._extra = extra  # process metrics and other collectors: few samples, rendered as is
        self._headers = _headers()
        self._cache: dict[str, tuple[ProviderView, Lines]] = {}
        self._prefixes: dict[tuple[str, tuple[str, ...], str], str] = {}

    def render(self) -> bytes:
        """Return the exposition of the current snapshot."""
        snapshot = self._get_snapshot()
        fragments = [self._lines(view) for view in snapshot.providers.values()]
        own = _TextSink(self._prefixes)
        emit_exporter(own, snapshot)
        fragments.append(own.lines)
        parts: list[str] = []
        for family in FAMILIES:
            parts.append(self._headers[family.name])
            for lines in fragments:
                parts.extend(lines.get(family.name, ()))
        for slug in self._cache.keys() - snapshot.providers.keys():
            del self._cache[slug]
        return "".join(parts).encode() + generate_latest(self._extra)

    def _lines(self, view: ProviderView) -> Lines:
        cached = self._cache.get(view.slug)
        if cached is not None and cached[0] is view:
            return cached[1]
        sink = _TextSink(self._prefixes)
        emit_provider(sink, view)
        self._cache[view.slug] = (view, sink.lines)
        return sink.lines
