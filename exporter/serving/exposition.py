"""The Prometheus text format (0.0.4) of a snapshot, fast: each provider's lines are rendered once
per view and reused by every scrape until the view changes.

prometheus_client formats every sample on every scrape (about 70 ms for 100 providers with 50
watched models each); here a scrape mostly joins strings. The samples come from the same
`families.emit_*` functions as the Collector's, so both renderers say the same thing; a test
parses both outputs and compares them. OpenMetrics (exemplars) still goes through the Collector.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Sequence
from functools import cache
from itertools import accumulate
from typing import cast

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString

from exporter.judgement.snapshot import Histogram, ProviderView, Snapshot
from exporter.serving.families import FAMILIES, Family, Row, emit_exporter, emit_provider

_BY_NAME = {family.name: family for family in FAMILIES}
_go_float = cast(Callable[[float], str], floatToGoString)


_INF = float("inf")
RENDER_STEP = 16  # providers rendered between two yields of render_in_steps (~1-3 ms of CPU)
Lines = dict[str, list[str]]  # family name -> sample lines
Series = dict[tuple[str, tuple[str, ...]], tuple[float, str]]  # -> value, line


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{name}="{_escape(value)}"' for name, value in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _exposed_name(family: Family) -> str:
    return family.name + "_total" if family.kind == "counter" else family.name


_EXPOSED = {family.name: _exposed_name(family) for family in FAMILIES}


class _TextSink:
    """Formats samples into lines, grouped by family.

    Every series remembers its last value and line: series are bounded by configuration, and a
    series whose value did not change since the last scrape reuses its line.
    """

    def __init__(self, series: Series, vantage: str) -> None:
        self.lines: Lines = {}
        self._series = series  # keyed without the vantage: one process has one
        self._vantage = f'vantage="{_escape(vantage)}"'

    def sample(self, family: str, labels: tuple[str, ...], value: float) -> None:
        self.samples(family, ((labels, value),))

    def samples(self, family: str, rows: Iterable[Row]) -> None:
        out = self.lines.setdefault(family, [])
        described = _BY_NAME[family]
        self._write(out, _EXPOSED[family], described.labels, rows, self._extra(described))

    def histogram(
        self, family: str, labels: tuple[str, ...], histogram: Histogram, bounds: Sequence[float]
    ) -> None:
        out = self.lines.setdefault(family, [])
        described = _BY_NAME[family]
        names, extra = described.labels, self._extra(described)
        cumulative = accumulate(histogram.buckets)
        buckets = zip(_bound_labels(tuple(bounds)), cumulative, strict=True)
        rows = (((*labels, le), count) for le, count in buckets)
        self._write(out, f"{family}_bucket", (*names, "le"), rows, extra)
        self._write(out, f"{family}_count", names, ((labels, histogram.count),), extra)
        self._write(out, f"{family}_sum", names, ((labels, histogram.total),), extra)

    def _extra(self, family: Family) -> str:
        return self._vantage if family.vantaged else ""

    def _write(
        self, out: list[str], name: str, names: tuple[str, ...], rows: Iterable[Row], extra: str
    ) -> None:
        # The hot loop of a scrape (~10 000 samples at 100 providers x 50 models): locals only.
        series = self._series
        for labels, value in rows:
            key = (name, labels)
            known = series.get(key)
            if known is not None and known[0] == value:
                out.append(known[1])
                continue
            if known is not None:  # the value follows the last space: no label value is cut
                prefix = known[1][: known[1].rindex(" ") + 1]
            else:
                prefix = f"{name}{_labels(names, labels, extra)} "
            number = float(value)
            text = repr(number) if -1e16 < number < 1e16 else _go_float(number)
            line = f"{prefix}{text}\n"
            series[key] = (value, line)
            out.append(line)


@cache
def _bound_labels(bounds: tuple[float, ...]) -> tuple[str, ...]:
    """Return the `le` values of a histogram's buckets, +Inf included, as Prometheus spells them."""
    return tuple(_go_float(bound) for bound in (*bounds, _INF))


def _headers() -> dict[str, str]:
    headers = {}
    for family in FAMILIES:
        name = _exposed_name(family)
        doc = family.help.replace("\\", "\\\\").replace("\n", "\\n")
        headers[family.name] = f"# HELP {name} {doc}\n# TYPE {name} {family.kind}\n"
    return headers


class TextRenderer:
    """Render snapshots in the text format, reusing each provider's lines while its view holds.

    Not thread-safe: call it from one thread at a time (the web layer calls it on the event loop,
    in steps).
    """

    def __init__(self, get_snapshot: Callable[[], Snapshot], extra: CollectorRegistry) -> None:
        self._get_snapshot = get_snapshot
        self._extra = extra  # process metrics and other collectors: few samples, rendered as is
        self._headers = _headers()
        self._cache: dict[str, tuple[ProviderView, Lines]] = {}
        self._series: Series = {}  # one entry per series: bounded by configuration

    def render(self) -> bytes:
        """Return the exposition of the current snapshot."""
        steps = self.render_in_steps()
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return cast(bytes, done.value)

    def render_in_steps(self, step: int = RENDER_STEP) -> Generator[None, None, bytes]:
        """Render as `render` does, yielding after every `step` providers whose lines changed
        and after each family; the generator returns the exposition."""
        snapshot = self._get_snapshot()
        fragments, rendered = [], 0
        for view in snapshot.providers.values():
            cached = self._cache.get(view.slug)
            if cached is not None and cached[0] is view:
                fragments.append(cached[1])
                continue
            fragments.append(self._lines(view, snapshot.vantage))
            rendered += 1
            if rendered % step == 0:
                yield
        own = _TextSink(self._series, snapshot.vantage)
        emit_exporter(own, snapshot)
        fragments.append(own.lines)
        for slug in self._cache.keys() - snapshot.providers.keys():
            del self._cache[slug]
        chunks: list[bytes] = []
        for family in FAMILIES:  # one family at a time: a step, even of thousands of lines
            parts = [self._headers[family.name]]
            for lines in fragments:
                parts.extend(lines.get(family.name, ()))
            # "replace": a character no label can carry becomes "?" rather than a failed scrape
            chunks.append("".join(parts).encode(errors="replace"))
            yield
        chunks.append(generate_latest(self._extra))
        return b"".join(chunks)

    def _lines(self, view: ProviderView, vantage: str) -> Lines:
        sink = _TextSink(self._series, vantage)
        emit_provider(sink, view)
        self._cache[view.slug] = (view, sink.lines)
        return sink.lines
