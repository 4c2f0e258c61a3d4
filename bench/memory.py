"""Memory: RSS with 100 providers and full 24 h windows, and its growth over a run at 1 s."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass

from bench.cpu import upstream_process


@dataclass(frozen=True, slots=True)
class Memory:
    """RSS figures in bytes: after pre-fill, after warm-up, at the end, and the peak."""

    prefilled: int
    warm: int
    end: int
    peak: int
    run_seconds: float
    warm_seconds: float

    @property
    def growth(self) -> int:
        return self.end - self.warm


async def run_memory(
    providers: int, models: int, prefill: float, run_for: float, warm: float
) -> Memory:
    """Run `bench.memory_child` against an upstream process; summarise its RSS samples."""
    async with upstream_process() as base:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.memory_child",
            base,
            str(providers),
            str(models),
            str(prefill),
            str(run_for),
            str(warm),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench.memory_child failed with exit code {proc.returncode}")
    figures = json.loads(out)
    samples = [(float(t), int(rss)) for t, rss in figures["samples"]]
    after_warm = [rss for t, rss in samples if t >= warm] or [samples[-1][1]]
    return Memory(
        prefilled=int(figures["prefilled"]),
        warm=after_warm[0],
        end=samples[-1][1],
        peak=max(rss for _, rss in samples),
        run_seconds=samples[-1][0],
        warm_seconds=warm,
    )
