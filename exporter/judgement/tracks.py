"""Each provider's mutable bookkeeping (its track) and the state changes the monitor reports."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from exporter.judgement.model_tracks import ModelTrack
from exporter.judgement.scoring import (
    Health,
    State,
    initial_health,
)
from exporter.judgement.snapshot import (
    LATENCY_BUCKETS,
    Exemplar,
)
from exporter.judgement.windows import ProviderWindows, Ring, RingCopy, UptimeRing
from exporter.outcomes import LIST_OUTCOMES, Verdict, verdict
from exporter.probing.probes import ProbeResult
from exporter.targets import Target


@dataclass(frozen=True, slots=True)
class Transition:
    """A provider changed state."""

    slug: str
    old: State
    new: State
    reason: str
    at: float
    model: str = ""  # set when it is one of the provider's inference-probed models


class ProviderTrack:
    """Mutable bookkeeping for one provider; only the Monitor touches it."""

    def __init__(
        self, target: Target, models: Iterable[str], inference: Iterable[str], now: float
    ) -> None:
        self.target = target
        self.windows = ProviderWindows()
        self.health = initial_health(target.configured, now)  # as its model list judges it
        self.shown = self.health  # as its inference-probed models leave it (its state)
        self.inference = {m: ModelTrack(m, target.configured, now) for m in inference}
        self.probes = dict.fromkeys(LIST_OUTCOMES, 0)
        self.up = 0
        self.down = 0
        self.rt_buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.rt_sum = 0.0
        self.rt_exemplars: list[Exemplar | None] = [None] * len(self.rt_buckets)
        self.state_changes = 0
        self.last: ProbeResult | None = None
        self.last_failure: ProbeResult | None = None
        self.models_listed: int | None = None
        self.models_sample: tuple[str, ...] = ()
        self.uptime = {model: UptimeRing() for model in models}
        self.backoff = 0.0
        # The error ratio behind `degraded` counts from here: when it last left `down` (an
        # outage that is over says nothing about now).
        self.judged_since = -float("inf")
        self.before_blind: Health | None = None  # where it stood when we lost sight of it
        self.counted_at = now  # when a probe last counted (was conclusive about the provider)
        self.ignored = False  # the last probe was one the exporter's own blindness explains

    def judge_from(self, now: float) -> None:
        """Start the error ratio behind `degraded` afresh from `now`."""
        self.judged_since = now
        self.windows.count_from(now)

    def ignore(self, result: ProbeResult) -> None:
        """Count a probe the exporter's own blindness explains: no check, no state change."""
        self.probes[result.outcome] += 1
        self.last = result
        self.ignored = True

    def count(self, result: ProbeResult, now: float, *, local: bool = True) -> Verdict:
        """Count a probe into the windows, and into the counters when this replica sent it."""
        self.counted_at = now
        outcome = result.outcome
        judged = verdict(outcome)
        answered = result.status is not None
        self.windows.record(now, outcome, result.duration if answered else None)
        if local:
            self._count_totals(result, judged, now)
        self.last = result
        self.ignored = False
        if judged is not Verdict.UP:
            self.last_failure = result
        if result.models is not None:
            self.models_listed = result.models.count
            self.models_sample = result.models.sample
        self._count_models(result, judged, now)
        return judged

    def _count_totals(self, result: ProbeResult, judged: Verdict, now: float) -> None:
        self.probes[result.outcome] += 1
        self.up += judged is Verdict.UP
        self.down += judged is Verdict.DOWN
        if result.status is not None:
            bucket = bisect.bisect_left(LATENCY_BUCKETS, result.duration)
            self.rt_buckets[bucket] += 1
            self.rt_sum += result.duration
            if result.trace_id is not None:
                self.rt_exemplars[bucket] = Exemplar(result.trace_id, result.duration, now)

    def _count_models(self, result: ProbeResult, judged: Verdict, now: float) -> None:
        if judged is Verdict.DOWN:
            for ring in self.uptime.values():
                ring.record(now, listed=False)
        if judged is not Verdict.UP or result.models is None:
            return
        for model, ring in self.uptime.items():
            listed = model in result.models.watched_seen
            if listed or result.models.complete:  # a cut list cannot prove a model is missing
                ring.record(now, listed)


def starts_afresh(health: Health) -> bool:
    """Tell whether leaving this state starts the error ratio afresh (leaving `down` does)."""
    return health.state is State.DOWN


def hour_copy(windows: ProviderWindows, now: float) -> RingCopy:
    ring = windows.rings["1h"]
    ring.totals(now)  # slide to `now` first
    return ring.copy()


def stored_rings(track: ProviderTrack) -> dict[str, Ring]:
    """Return a provider's rings by stored name; an inference-probed model's are
    `inference:{window}:{model}` (older versions skip names they do not know)."""
    rings = dict(track.windows.rings)
    for model, probed in track.inference.items():
        rings.update({f"inference:{w}:{model}": ring for w, ring in probed.rings.items()})
    return rings


def dump_ring(ring: Ring, now: float) -> list[list[Any]]:
    return [[start, list(counts)] for start, counts in ring.slots(now) if any(counts)]
