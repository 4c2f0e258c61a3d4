"""Mutable bookkeeping of one inference-probed model; only the Monitor touches it."""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence

from exporter.judgement.scoring import Evidence, initial_health
from exporter.judgement.snapshot import (
    AVAILABILITY_WINDOWS,
    TPS_BUCKETS,
    TTFT_BUCKETS,
    Histogram,
    ModelView,
)
from exporter.judgement.windows import WINDOWS, Ring
from exporter.outcomes import OUTCOMES, Verdict, verdict
from exporter.probing.inference import InferenceResult
from exporter.quantiles import quantile

HOUR = 3600.0
RECENT = 3  # `slow` and `slow_tokens` are judged on the median of this many last probes
SAMPLES = 256  # the last hour's probes kept for quantiles (a minute apart: every one)
MIN_FAILED_CHECKS = 2  # one failure is never "partly failing"
UP, DOWN = 0, 1  # the columns of a model's availability rings


class Buckets:
    """A histogram being counted: per-bucket counts (not cumulated) and the sum."""

    __slots__ = ("_bounds", "_counts", "_sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._sum = 0.0

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def freeze(self) -> Histogram:
        return Histogram(tuple(self._counts), self._sum, sum(self._counts))


class ModelTrack:
    """One model's probes, checks, windows and health."""

    def __init__(self, model: str, configured: bool, now: float) -> None:
        self.model = model
        self.health = initial_health(configured, now)
        self.probes = dict.fromkeys(OUTCOMES, 0)
        self.up = 0
        self.down = 0
        self.ttft = Buckets(TTFT_BUCKETS)
        self.tps = Buckets(TPS_BUCKETS)
        self.tokens = {"input": 0, "output": 0}
        self.rings = {name: Ring(width, slots, 2) for name, width, slots in WINDOWS}
        self.checks: deque[tuple[float, bool]] = deque(maxlen=SAMPLES)  # (when, failed)
        self.samples: deque[tuple[float, float | None, float | None]] = deque(maxlen=SAMPLES)
        self.last: InferenceResult | None = None
        self.counted_at = now  # when a probe last counted
        self.judged_since = -float("inf")  # the error ratio counts from its last recovery
        self.skipped = 0
        self.backoff = 0.0
        self.ignored = False  # the last probe was one the exporter's own blindness explains

    def ignore(self, result: InferenceResult) -> None:
        """Count a probe the exporter's own blindness explains: no check, no state change."""
        self.probes[result.outcome] += 1
        self.last = result
        self.ignored = True

    def count(self, result: InferenceResult, now: float, *, local: bool = True) -> Verdict:
        """Count one probe; return what it says about the model. A probe another replica
        sent (`local` False) moves the windows only: counters count this replica's probes."""
        self.counted_at = now
        self.last = result
        self.ignored = False
        judged = verdict(result.outcome)
        if local:
            self._count_totals(result, judged)
        if judged in (Verdict.UP, Verdict.DOWN):
            failed = judged is Verdict.DOWN
            for ring in self.rings.values():
                ring.add(now, DOWN if failed else UP)
            self.checks.append((now, failed))
        if judged is Verdict.UP and result.ttft is not None:
            self.samples.append((now, result.ttft, result.tokens_per_second))
        return judged

    def _count_totals(self, result: InferenceResult, judged: Verdict) -> None:
        self.probes[result.outcome] += 1
        if result.input_tokens is not None:
            self.tokens["input"] += result.input_tokens
        if result.output_tokens is not None:
            self.tokens["output"] += result.output_tokens
        self.up += judged is Verdict.UP
        self.down += judged is Verdict.DOWN
        if judged is Verdict.UP and result.ttft is not None:
            self.ttft.observe(result.ttft)
            if result.tokens_per_second is not None:
                self.tps.observe(result.tokens_per_second)

    def evidence(self, now: float, *, afresh: bool = False) -> Evidence:
        """What `degraded` is judged on: failures since the last recovery within the hour (none
        when it is recovering now: `afresh`), and the median time to first token and tokens per
        second of the last few probes."""
        since = now if afresh else max(self.judged_since, now - HOUR)
        checks = [failed for at, failed in self.checks if at > since]
        failed = sum(checks)
        recent = [s for s in self.samples if s[0] >= now - HOUR][-RECENT:]
        return Evidence(
            error_ratio=failed / len(checks) if checks and failed >= MIN_FAILED_CHECKS else None,
            latency_recent=_median([ttft for _, ttft, _ in recent]),
            throughput_recent=_median([tps for _, _, tps in recent]),
        )

    def view(self, now: float) -> ModelView:
        health, last = self.health, self.last
        hour = [s for s in self.samples if s[0] >= now - HOUR]
        ttfts = sorted(t for _, t, _ in hour if t is not None)
        return ModelView(
            model=self.model,
            state=health.state,
            since=health.since,
            reason=health.reason,
            probes=dict(self.probes),
            checks_up=self.up,
            checks_down=self.down,
            availability={w: self._availability(w, now) for w in AVAILABILITY_WINDOWS},
            ttft=self.ttft.freeze(),
            tokens_per_second=self.tps.freeze(),
            tokens=dict(self.tokens),
            ttft_p50=quantile(ttfts, 0.5),
            ttft_p95=quantile(ttfts, 0.95),
            tokens_per_second_p50=_median([tps for _, _, tps in hour]),
            skipped=self.skipped,
            last_outcome=last.outcome if last else None,
            last_probe_at=last.started + last.duration if last else None,
            last_status=last.status if last else None,
            last_ttft=last.ttft if last else None,
            last_tokens_per_second=last.tokens_per_second if last else None,
            last_max_gap=last.max_gap if last else None,
            backoff=self.backoff,
        )

    def _availability(self, window: str, now: float) -> float | None:
        up, down = self.rings[window].totals(now)
        return up / (up + down) if up + down else None


def _median(values: list[float | None]) -> float | None:
    return quantile(sorted(v for v in values if v is not None), 0.5)
