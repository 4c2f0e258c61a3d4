"""CPU per inference probe: the exporter with and without streamed-completion probes."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from pathlib import Path

from bench.cpu import Cost, upstream_process
from bench.live import providers_file
from bench.procstat import cpu_seconds
from bench.report import Row, Table
from bench.upstream_proc import MODELS, TOKENS_PER_SECOND, TTFT
from tests.support.process import ExporterProcess, Samples

MAX_OUTPUT_TOKENS = 8  # INFERENCE_MAX_OUTPUT_TOKENS' default
BUDGET = 1_000_000_000  # tokens per day: never the limit here


@dataclass(frozen=True, slots=True)
class InferenceLoad:
    """`providers` list-probed; `models` of each of the first `probed` inference-probed too."""

    providers: int
    probed: int
    models: int
    interval: float  # of list probes and inference probes alike
    warm: float
    seconds: float  # each of the two runs is measured this long

    @property
    def pairs(self) -> int:
        return self.probed * self.models


@dataclass(frozen=True, slots=True)
class Run:
    """Probes completed and CPU seconds of the exporter process within one measured window."""

    list_probes: int
    inference_probes: int
    cpu: float


@dataclass(frozen=True, slots=True)
class InferenceCost:
    """The run without inference probes (the baseline) and the same run with them."""

    baseline: Run
    loaded: Run

    @property
    def per_list_probe(self) -> float:
        return Cost(self.baseline.list_probes, self.baseline.cpu).per_probe

    @property
    def inference_cpu(self) -> float:
        """CPU seconds above the baseline: the loaded run less its list probes' share."""
        return self.loaded.cpu - self.loaded.list_probes * self.per_list_probe

    @property
    def per_inference_probe(self) -> float:
        return Cost(self.loaded.inference_probes, self.inference_cpu).per_probe


def _env(base: str, load: InferenceLoad, workdir: Path, inference: bool) -> dict[str, str]:
    config = workdir / "inference-providers.json"
    slugs = [f"inference-{i}" for i in range(load.providers)]
    providers_file(config, {slug: f"{base}/{slug}" for slug in slugs})
    env = {
        "PROVIDERS_FILE": str(config),
        "PROBE_INTERVAL_SECONDS": str(load.interval),
        "PROBE_CONCURRENCY": str(load.providers + load.pairs),  # nothing waits for a connection
        "INFERENCE_PROBE_INTERVAL_SECONDS": str(load.interval),
        "INFERENCE_MAX_OUTPUT_TOKENS": str(MAX_OUTPUT_TOKENS),
        "INFERENCE_BUDGET_TOKENS_PER_DAY": str(BUDGET),
        "LOG_LEVEL": "WARNING",
    }
    if inference:
        chosen = slugs[: load.probed]
        pairs = [f"{slug}:{model}" for slug in chosen for model in MODELS[: load.models]]
        env["INFERENCE_PROBES"] = ",".join(pairs)
    return env


def _counts(samples: Samples) -> tuple[int, int]:
    """Return list probes and inference probes so far; raise if an inference probe failed."""
    failed = [
        labels
        for labels, value in samples.all("gatewayz_inference_probes_total")
        if value and labels.get("outcome") != "ok"
    ]
    if failed:
        raise RuntimeError(f"inference probes failed against the fake upstream: {failed[:5]}")
    listed = sum(value for _, value in samples.all("gatewayz_provider_probes_total"))
    inferred = sum(value for _, value in samples.all("gatewayz_inference_probes_total"))
    return int(listed), int(inferred)


async def measure(base: str, load: InferenceLoad, workdir: Path, inference: bool) -> Run:
    """Run the exporter on `base` (with the inference probes or without); measure it."""
    async with ExporterProcess(_env(base, load, workdir, inference)) as exporter:
        assert exporter.proc is not None
        pid = exporter.proc.pid
        await asyncio.sleep(load.warm)
        before, cpu = _counts(await exporter.metrics()), cpu_seconds(pid)
        await asyncio.sleep(load.seconds)
        cpu = cpu_seconds(pid) - cpu  # read before the scrape below, which is not a probe
        after = _counts(await exporter.metrics())
    return Run(after[0] - before[0], after[1] - before[1], cpu)


async def run_inference(load: InferenceLoad, workdir: Path) -> InferenceCost:
    """Measure the baseline, then the same exporter with inference probes, on one upstream."""
    async with upstream_process() as base:
        baseline = await measure(base, load, workdir, inference=False)
        loaded = await measure(base, load, workdir, inference=True)
    if not loaded.inference_probes:
        raise RuntimeError("no inference probe completed in the measured window")
    return InferenceCost(baseline, loaded)


def inference_table(load: InferenceLoad, cost: InferenceCost, note: str = "") -> Table:
    """Return the report's "Inference probes" section."""
    columns = ("probes", "measured", "CPU seconds", "CPU per probe")
    table = Table("Inference probes", columns)
    window = f"{load.seconds:g} s"
    base, loaded = cost.baseline, cost.loaded
    table.rows += [
        Row(
            "list probe (exporter without inference probes)",
            (str(base.list_probes), window, f"{base.cpu:.2f}", _ms(cost.per_list_probe)),
        ),
        Row(
            "exporter with inference probes (all its CPU)",
            (
                f"{loaded.list_probes} list + {loaded.inference_probes} inference",
                window,
                f"{loaded.cpu:.2f}",
                "—",
            ),
        ),
        Row(
            "inference probe (CPU above the baseline)",
            (
                str(loaded.inference_probes),
                window,
                f"{cost.inference_cpu:.2f}",
                _ms(cost.per_inference_probe),
            ),
        ),
        Row("inference probe ÷ list probe", ("—", "—", "—", _times(cost))),
    ]
    table.notes.append(
        f"The real exporter process with {load.providers} keyless OpenAI-compatible providers "
        f"(PROVIDERS_FILE) on one loopback upstream in its own process, list probes every "
        f"{load.interval:g} s; measured for {load.seconds:g} s after "
        f"{load.warm:g} s of warm-up, first as it is (the baseline), then with INFERENCE_PROBES "
        f"naming {load.models} models of each of {load.probed} of them ({load.pairs} pairs) at "
        f"INFERENCE_PROBE_INTERVAL_SECONDS={load.interval:g}, "
        f"INFERENCE_MAX_OUTPUT_TOKENS={MAX_OUTPUT_TOKENS} and a budget that never binds. Each "
        f"completion streams {MAX_OUTPUT_TOKENS} tokens, the first after {TTFT * 1000:g} ms, then "
        f"{TOKENS_PER_SECOND:g} tokens/s (`tests.support.completions` in the OpenAI format, with "
        "a usage chunk). CPU = utime + stime from /proc/<pid>/stat; probes from "
        "`gatewayz_provider_probes_total` and `gatewayz_inference_probes_total` (all `ok`). "
        "CPU per inference probe = (CPU with inference probes − its list probes × the baseline's "
        "CPU per list probe) ÷ inference probes."
    )
    if note:
        table.notes.append(note)
    return table


def _ms(value: float) -> str:
    return "n/a (too few ticks)" if math.isnan(value) else f"{value * 1000:.3f} ms"


def _times(cost: InferenceCost) -> str:
    ours, theirs = cost.per_inference_probe, cost.per_list_probe
    if not theirs or math.isnan(theirs) or math.isnan(ours):
        return "n/a (too few ticks)"
    return f"{ours / theirs:.2f}×"
