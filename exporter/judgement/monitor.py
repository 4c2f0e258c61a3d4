"""The one owner of mutable provider state: turns probe results into immutable snapshots."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from exporter.judgement.blindness import Blindness
from exporter.judgement.inputs import Inputs
from exporter.judgement.model_judging import ModelJudging
from exporter.judgement.scoring import (
    Health,
    Rules,
    needs_confirmation,
    overlay_inference,
    step,
)
from exporter.judgement.snapshot import (
    LAG_BUCKETS,
    Snapshot,
)
from exporter.judgement.tracks import (
    ProviderTrack,
    Transition,
    starts_afresh,
)
from exporter.judgement.views import ProviderViews

__all__ = ["Monitor", "Transition"]  # a state change, as the loops log it
from exporter.probing.budget import TokenBudget
from exporter.probing.connectivity import NETWORK_OUTCOMES, Network
from exporter.probing.official import OfficialView
from exporter.probing.probes import ProbeResult
from exporter.stored.redis_source import RedisView
from exporter.stored.replicas import ReplicaStats
from exporter.targets import Target


class Monitor(Blindness, ModelJudging, Inputs, ProviderViews):
    """Holds every provider's windows and health; publishes immutable Snapshots when asked."""

    def __init__(
        self,
        targets: Iterable[Target],
        rules: Rules,
        models: Mapping[str, Iterable[str]],
        now: float,
        *,
        interval: float = 15.0,
        network: Network | None = None,
        inference: Mapping[str, Iterable[str]] | None = None,
        model_rules: Rules | None = None,
        inference_interval: float = 300.0,
        budget: TokenBudget | None = None,
        vantage: str = "default",
    ) -> None:
        self._rules = rules
        self._vantage = vantage
        self.replica_stats: Callable[[], ReplicaStats] | None = None  # set by the service
        probed = inference or {}
        self._tracks = {
            t.slug: ProviderTrack(t, models.get(t.slug, ()), probed.get(t.slug, ()), now)
            for t in targets
        }
        self._interval = interval  # PROBE_INTERVAL_SECONDS: for a target without its own
        self._model_rules = model_rules or rules
        self._inference_interval = inference_interval
        self.budget = budget  # the inference token budget, when pairs are probed
        self._side_transitions: list[Transition] = []
        watched = [slug for slug, track in self._tracks.items() if track.target.configured]
        self.network = network or Network(False, watched, interval)
        self._lag = [0] * (len(LAG_BUCKETS) + 1)
        self._lag_sum = 0.0
        self._in_flight = 0
        self._redis: RedisView | None = None  # the last reading, as exported
        self._official: dict[str, OfficialView] = {}  # their status pages: shown, never judged
        self._known: RedisView | None = None  # the last successful reading, for decisions
        self._views = {slug: self._view(track, now) for slug, track in self._tracks.items()}
        self._built = dict.fromkeys(self._tracks, now)
        self._dirty: set[str] = set()
        self._latest = now  # the latest `now` any call passed in
        self._snapshot = self._publish()

    @property
    def published(self) -> Snapshot:
        """Return the snapshot published last, as it is (safe to read from any thread)."""
        return self._snapshot

    @property
    def snapshot(self) -> Snapshot:
        """Publish as of the latest time the monitor was told of, and return the snapshot."""
        return self.publish(self._latest)

    def needs_confirmation(self, slug: str) -> bool:
        """Tell whether provider `slug` should be probed again soon to confirm a change."""
        if self.network.offline():
            return False  # nothing to confirm: its failures are not counted
        return needs_confirmation(self._tracks[slug].health, self._rules)

    def record(
        self, result: ProbeResult, now: float, *, offline_before: bool = False
    ) -> Transition | None:
        """Count a probe result, step the state machine and publish; return a state change.

        While the exporter is offline (now, or when the probe began: `offline_before`), a
        failure of the kind a lost network causes is counted in the probe totals only: it is no
        check of the provider and changes no state; a provider not checked for two intervals
        becomes `unknown` (exporter_offline). The next check judges it from where it stood.
        """
        track = self._tracks[result.slug]
        self._dirty.add(result.slug)
        self._latest = max(self._latest, now)
        was_offline = self.network.offline()
        self.network.probed(result.slug, result.outcome, now)
        inferred = self.network.offline() and not was_offline and not self.network.measured
        if inferred:
            self._blind_the_failing(now)  # inferred just now: their failures were ours
        if (offline_before or self.network.offline()) and result.outcome in NETWORK_OUTCOMES:
            track.ignore(result)
            if inferred:
                track.judge_from(now)
            return self._blind(track, now, at_once=inferred)
        if track.before_blind is not None:  # seen again: judged from where it stood
            track.health = replace(track.before_blind, since=now)
            track.before_blind = None
        judged = track.count(result, now)
        evidence = self._evidence(track, now)
        old = track.health
        new = step(old, judged, result.outcome.value, evidence, self._rules, now)
        if starts_afresh(old) and new.state is not old.state:
            track.judge_from(now)
        return self._move(track, new, now)

    def _move(self, track: ProviderTrack, new: Health, now: float) -> Transition | None:
        """Set the provider's own health; return a change of its state as shown (its own,
        or worse when its inference-probed models are down)."""
        track.health = new
        models = [model.health.state for model in track.inference.values()]
        old, shown = track.shown, overlay_inference(new, models, track.shown, now)
        track.shown = shown
        if shown.state is old.state:
            return None
        track.state_changes += 1
        return Transition(track.target.slug, old.state, shown.state, shown.reason, now)

    def record_lag(self, lag: float) -> None:
        """Count how late a probe started against its schedule."""
        self._lag[bisect.bisect_left(LAG_BUCKETS, lag)] += 1
        self._lag_sum += lag

    def set_in_flight(self, count: int) -> None:
        self._in_flight = count

    def set_backoff(self, slug: str, seconds: float) -> None:
        """Note that provider `slug` is being left alone for `seconds` (Retry-After)."""
        self._tracks[slug].backoff = seconds

    def refresh(self, now: float) -> Snapshot:
        """Rebuild every view as of `now` and publish."""
        self._dirty.update(self._tracks)
        return self.publish(now)
