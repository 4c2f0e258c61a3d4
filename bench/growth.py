"""How cost grows with the watch list: the real exporter at 10, 100 and 1 000 watched targets.

A target is a provider (its model list probed), an inference pair (a streamed completion probed)
or a status page (polled); all of them point at loopback fakes in a process of their own
(`bench.growth_fakes`). Each size runs its own exporter: after a warm-up, a window scraped once
per interval (as a Prometheus would) gives CPU per second, RSS and probe lag; then /metrics is
timed many times over a short spread.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench import growth_fakes
from bench.cpu import Child
from bench.procstat import cpu_seconds, rss_bytes
from bench.report import Row, Table, percentile
from tests.support.process import ExporterProcess, Samples, parse_metrics
from tests.support.status_pages import SUMMARY_PATH

TITLE = "How cost grows"
MB = 1_048_576
BUDGET = 1_000_000_000  # tokens per day: never the limit here
LAG_GOAL = 0.1  # seconds: probe lag p99 at the largest size must stay under it
RSS_GOAL = 150 * MB  # at the largest size
LAG = "provider_exporter_probe_lag_seconds"
ROWS = (
    "watched targets: providers + inference pairs + status pages",
    "CPU per second (exporter process)",
    "RSS at the end of the window",
    "RSS after the warm-up, before the first scrape",
    "probe lag p99 (list probes, bucket upper bound)",
    "scrape p99 (GET /metrics)",
    "slowest scrape one interval apart",
    "/metrics size",
)


@dataclass(frozen=True, slots=True)
class Split:
    """One size of the watch list."""

    providers: int
    pairs: int  # inference pairs, one model on each of the first `pairs` providers
    pages: int  # status pages, one on each of the first `pages` providers

    @property
    def targets(self) -> int:
        return self.providers + self.pairs + self.pages


@dataclass(frozen=True, slots=True)
class GrowthLoad:
    """The sizes, their common interval, and how long each size is warmed up and measured."""

    splits: tuple[Split, ...]
    interval: float  # of list probes, inference probes and status-page polls alike
    warm: float
    seconds: float  # the measured window, scraped once per interval
    scrapes: int  # GETs of /metrics timed after the window
    spread: float  # seconds those GETs are spread over


FULL = GrowthLoad(
    splits=(Split(6, 2, 2), Split(60, 20, 20), Split(600, 200, 200)),
    interval=15.0,
    warm=30.0,
    seconds=60.0,
    scrapes=100,
    spread=15.0,
)
SMOKE = GrowthLoad(
    splits=(Split(6, 2, 2), Split(12, 4, 4), Split(24, 8, 8)),
    interval=1.0,
    warm=2.0,
    seconds=2.0,
    scrapes=10,
    spread=1.0,
)


@dataclass(frozen=True, slots=True)
class Growth:
    """What one size measured."""

    split: Split
    cpu_per_second: float
    rss: int
    rss_unscraped: int  # before /metrics was ever rendered
    lag_p99: float  # the upper bound of the bucket holding the 99th percentile (inf: above all)
    lag_probes: int  # list probes whose lag the window's histogram counted
    scrape_p99: float
    scrape_spaced_worst: float  # of the window's scrapes, one interval apart
    series: int
    size: int  # bytes of the uncompressed /metrics body
    list_probes: int
    inference_probes: int


def fakes(split: Split) -> Child:
    """`bench.growth_fakes` in its own process, serving `split`'s targets."""
    return Child("bench.growth_fakes", str(split.providers), str(split.pairs), str(split.pages))


def _env(base: str, split: Split, load: GrowthLoad, workdir: Path) -> dict[str, str]:
    entries: list[dict[str, str]] = []
    for index in range(split.providers):
        slug = growth_fakes.slug(index)
        entry = {"slug": slug, "base_url": f"{base}/{slug}", "auth": "none"}
        if index < split.pages:
            entry["status_page_url"] = f"{base}/{growth_fakes.page_name(index)}/{SUMMARY_PATH}"
        entries.append(entry)
    config = workdir / f"growth-{split.targets}.json"
    config.write_text(json.dumps({"providers": entries}), encoding="utf-8")
    model = growth_fakes.MODELS[0]
    pairs = [f"{growth_fakes.slug(index)}:{model}" for index in range(split.pairs)]
    return {
        "PROVIDERS_FILE": str(config),
        "PROBE_INTERVAL_SECONDS": f"{load.interval:g}",
        "INFERENCE_PROBES": ",".join(pairs),
        "INFERENCE_PROBE_INTERVAL_SECONDS": f"{load.interval:g}",
        "INFERENCE_BUDGET_TOKENS_PER_DAY": str(BUDGET),
        "STATUS_PAGES": "on",
        "STATUS_PAGE_POLL_SECONDS": f"{load.interval:g}",
        "LOG_LEVEL": "WARNING",
    }


def lag_buckets(samples: Samples) -> dict[float, float]:
    """Return the probe-lag histogram's cumulative counts by upper bound."""
    return {float(labels["le"]): value for labels, value in samples.all(f"{LAG}_bucket")}


def p99_bound(before: dict[float, float], after: dict[float, float]) -> tuple[float, int]:
    """Return the upper bound of the bucket holding the 99th percentile of the lags observed
    between two scrapes of the histogram, and how many lags there were."""
    deltas = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    total = int(deltas.get(math.inf, 0.0))
    if not total:
        raise RuntimeError("no list probe started in the measured window")
    rank = math.ceil(0.99 * total)
    return min(bound for bound, count in deltas.items() if count >= rank), total


def _totals(samples: Samples) -> tuple[int, int]:
    """Return list probes and inference probes so far; raise if any target was not healthy."""
    problems = [
        f"{name} {labels}"
        for name in ("gatewayz_provider_probes_total", "gatewayz_inference_probes_total")
        for labels, value in samples.all(name)
        if value and labels.get("outcome") != "ok"
    ]
    problems += [
        f"status page of {labels.get('provider')} down"
        for labels, value in samples.all("provider_exporter_status_page_up")
        if value != 1
    ]
    if problems:
        raise RuntimeError(f"targets failed against the loopback fakes: {problems[:5]}")
    listed = sum(value for _, value in samples.all("gatewayz_provider_probes_total"))
    inferred = sum(value for _, value in samples.all("gatewayz_inference_probes_total"))
    return int(listed), int(inferred)


async def _timed_get(session: aiohttp.ClientSession, url: str) -> tuple[float, str]:
    """GET /metrics as a Prometheus does (gzip); return the wall time and the body."""
    started = time.perf_counter()
    async with session.get(url, headers={"Accept-Encoding": "gzip"}) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"/metrics answered {response.status}")
    return time.perf_counter() - started, body.decode()


async def _spread(session: aiohttp.ClientSession, url: str, count: int, over: float) -> list[float]:
    """Time `count` GETs of `url` started evenly over `over` seconds."""
    walls, begun = [], time.monotonic()
    for i in range(count):
        await asyncio.sleep(max(0.0, begun + i * over / count - time.monotonic()))
        wall, _ = await _timed_get(session, url)
        walls.append(wall)
    return walls


async def measure(split: Split, load: GrowthLoad, workdir: Path) -> Growth:
    """Run the exporter watching `split` on its fakes; measure it."""
    async with fakes(split) as base, ExporterProcess(_env(base, split, load, workdir)) as exporter:
        assert exporter.proc is not None
        pid, url = exporter.proc.pid, f"{exporter.url}/metrics"
        async with aiohttp.ClientSession() as session:
            await asyncio.sleep(load.warm)
            rss_unscraped = rss_bytes(pid)
            _, text = await _timed_get(session, url)
            before = parse_metrics(text)
            started, cpu = time.monotonic(), cpu_seconds(pid)
            spaced = []
            for k in range(1, max(1, round(load.seconds / load.interval)) + 1):
                await asyncio.sleep(max(0.0, started + k * load.interval - time.monotonic()))
                wall, text = await _timed_get(session, url)
                spaced.append(wall)
            cpu_per_second = (cpu_seconds(pid) - cpu) / (time.monotonic() - started)
            rss = rss_bytes(pid)
            walls = await _spread(session, url, load.scrapes, load.spread)
    after = parse_metrics(text)  # the window's last scrape, parsed after the CPU was read
    (listed, inferred), (listed_after, inferred_after) = _totals(before), _totals(after)
    if split.pairs and inferred_after == inferred:
        raise RuntimeError("no inference probe completed in the measured window")
    lag, lagged = p99_bound(lag_buckets(before), lag_buckets(after))
    return Growth(
        split=split,
        cpu_per_second=cpu_per_second,
        rss=rss,
        rss_unscraped=rss_unscraped,
        lag_p99=lag,
        lag_probes=lagged,
        scrape_p99=percentile(walls, 0.99),
        scrape_spaced_worst=max(spaced),
        series=sum(1 for line in text.splitlines() if line and not line.startswith("#")),
        size=len(text.encode()),
        list_probes=listed_after - listed,
        inference_probes=inferred_after - inferred,
    )


async def run_growth(load: GrowthLoad, workdir: Path) -> list[Growth]:
    """Measure every size, smallest first, one after the other."""
    return [await measure(split, load, workdir) for split in load.splits]


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def _bound(value: float) -> str:
    return "> 10 s (above every bucket)" if math.isinf(value) else f"≤ {value * 1000:g} ms"


def growth_table(
    load: GrowthLoad, runs: Sequence[Growth], image: str = "", note: str = ""
) -> Table:
    """Return the report's "How cost grows" section (`image`: the plot, relative to the report)."""
    table = Table(TITLE, tuple(f"{run.split.targets} targets" for run in runs))
    largest = runs[-1]
    at = f"at {largest.split.targets} targets"
    table.rows += [
        Row(
            ROWS[0], tuple(f"{r.split.providers} + {r.split.pairs} + {r.split.pages}" for r in runs)
        ),
        Row(ROWS[1], tuple(f"{r.cpu_per_second * 1000:.1f} ms/s" for r in runs)),
        Row(
            ROWS[2],
            tuple(f"{r.rss / MB:.1f} MB" for r in runs),
            f"≤ {RSS_GOAL // MB} MB {at}",
            largest.rss <= RSS_GOAL,
        ),
        Row(ROWS[3], tuple(f"{r.rss_unscraped / MB:.1f} MB" for r in runs)),
        Row(
            ROWS[4],
            tuple(f"{_bound(r.lag_p99)} ({r.lag_probes} probes)" for r in runs),
            f"< {LAG_GOAL * 1000:g} ms {at}",
            largest.lag_p99 <= LAG_GOAL,
        ),
        Row(ROWS[5], tuple(_ms(r.scrape_p99) for r in runs)),
        Row(ROWS[6], tuple(_ms(r.scrape_spaced_worst) for r in runs)),
        Row(ROWS[7], tuple(f"{r.series:,} series, {r.size / 1000:,.0f} kB" for r in runs)),
    ]
    spaced = max(1, round(load.seconds / load.interval))
    table.notes += [
        f"Each size is its own real exporter process (`python -m exporter`, LOG_LEVEL=WARNING, "
        f"every other setting at its default, PROBE_CONCURRENCY 32 among them): keyless "
        f"providers from PROVIDERS_FILE (`auth: none`) probed every {load.interval:g} s "
        f"(PROBE_INTERVAL_SECONDS), INFERENCE_PROBES naming one model of each of the first "
        f"providers at INFERENCE_PROBE_INTERVAL_SECONDS={load.interval:g} (a budget that never "
        f"binds), and a `status_page_url` on as many providers with STATUS_PAGES=on and "
        f"STATUS_PAGE_POLL_SECONDS={load.interval:g}. The split per size is the first row "
        "(3 : 1 : 1). Every target points at loopback fakes in a process of their own "
        "(`bench.growth_fakes`: `tests.support.upstream.FakeUpstream` answering a 2-model list "
        "at once, `tests.support.completions` streaming 8 tokens, the first after "
        f"{growth_fakes.TTFT * 1000:g} ms then {growth_fakes.TOKENS_PER_SECOND:g} tokens/s, and "
        "an all-operational `tests.support.status_pages.ScriptedPage` with ETag/304); every "
        "probe and poll answered `ok`.",
        f"After {load.warm:g} s of warm-up, a {load.seconds:g} s window in which /metrics is "
        f"scraped once per {load.interval:g} s ({spaced} scrapes, as a Prometheus at that "
        "scrape interval would, so every view changed between two of them): CPU per second = "
        "utime + stime from /proc/<pid>/stat over the window ÷ its length (those scrapes "
        "included); RSS = VmRSS from /proc/<pid>/status at its end (and once before the first "
        "scrape, to show what rendering /metrics leaves resident); probe lag = the delta of the "
        f"exporter's own `{LAG}` histogram over the window (how late list probes start against "
        "their schedule, waiting for a PROBE_CONCURRENCY slot included; inference probes and "
        "status-page polls are not in it), its p99 given as the upper bound of the bucket that "
        "holds the 99th percentile (buckets 5, 10, 25, 50, 100, 250 ms …); `slowest scrape one "
        "interval apart` = the slowest of those window scrapes. Then "
        f"{load.scrapes} GETs of /metrics spread evenly over {load.spread:g} s (so only the "
        "views of what was probed in between changed) give scrape p99 (nearest rank). Scrapes "
        "are wall time at the bench's client (`Accept-Encoding: gzip`, as Prometheus sends; "
        "body read to the end); `/metrics size` is the uncompressed body.",
        "What this does not show: real providers answer in 0.1–2 s, not at once on loopback, so "
        "a probe holds its PROBE_CONCURRENCY slot longer and the lag of probes due in the same "
        "tick grows with them; RSS after about 1.5 minutes, not after 24 h of history (the "
        "rings are allocated in full when a target is first seen; the Memory section watches "
        "growth over 10 minutes).",
    ]
    if note:
        table.notes.append(note)
    table.image = image
    return table


def plot(load: GrowthLoad, runs: Sequence[Growth], path: Path) -> None:
    """Write a PNG with the four figures against the number of targets (log x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = [run.split.targets for run in runs]
    panels = (
        ("CPU per second (ms/s)", [r.cpu_per_second * 1000 for r in runs], None),
        ("RSS (MB)", [r.rss / MB for r in runs], RSS_GOAL / MB),
        ("probe lag p99 (ms, bucket bound)", [r.lag_p99 * 1000 for r in runs], LAG_GOAL * 1000),
        ("scrape p99 (ms)", [r.scrape_p99 * 1000 for r in runs], None),
    )
    figure, axes = plt.subplots(2, 2, figsize=(8, 5.5), constrained_layout=True)
    for axis, (title, values, goal) in zip(axes.flat, panels, strict=True):
        axis.plot(targets, values, marker="o")
        if goal is not None:
            axis.axhline(goal, color="tab:red", linestyle="--", linewidth=1, label="goal")
            axis.legend(loc="upper left", fontsize=8)
        axis.set_xscale("log")
        axis.set_xticks(targets, [str(n) for n in targets])
        axis.minorticks_off()
        axis.set_ylim(bottom=0)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("watched targets", fontsize=9)
        axis.grid(True, alpha=0.3)
    figure.suptitle(
        f"How the exporter's cost grows with its watch list (everything every {load.interval:g} s)",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
