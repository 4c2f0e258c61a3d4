"""Part of the Monitor: inference-probed models and how their states move their provider's."""

from __future__ import annotations

from exporter.judgement.model_tracks import ModelTrack
from exporter.judgement.monitor_base import MonitorBase
from exporter.judgement.scoring import (
    Health,
    State,
    needs_confirmation,
    step,
)
from exporter.judgement.tracks import (
    ProviderTrack,
    Transition,
    starts_afresh,
)
from exporter.probing.connectivity import NETWORK_OUTCOMES
from exporter.probing.inference import InferenceResult

BUDGET = "budget_exhausted"  # the reason of a model the token budget keeps from being probed


class ModelJudging(MonitorBase):
    """Inference-probed models: each one's state machine, and how a model's state moves its
    provider's."""

    def record_inference(
        self, result: InferenceResult, now: float, *, offline_before: bool = False
    ) -> list[Transition]:
        """Count an inference probe, step its model's state machine; return the state changes
        (the model's, and its provider's when the model's moved it).

        As for list probes, a failure the exporter's own lost network explains changes nothing.
        """
        track = self._tracks[result.slug]
        model = track.inference[result.model]
        self._dirty.add(result.slug)
        self._latest = max(self._latest, now)
        if (offline_before or self.network.offline()) and result.outcome in NETWORK_OUTCOMES:
            model.ignore(result)
            return []
        judged = model.count(result, now)
        old = model.health
        evidence = model.evidence(now, afresh=starts_afresh(old))  # an outage that is over
        new = step(old, judged, result.outcome.value, evidence, self._model_rules, now)
        if starts_afresh(old) and new.state is not old.state:
            model.judged_since = now
        return self._move_model(track, model, new, now)

    def skip_inference(self, slug: str, model_id: str, now: float) -> list[Transition]:
        """Count a probe the token budget did not allow: no data, no failure. A model left
        unchecked for two intervals is `unknown` (budget_exhausted) until it is probed again."""
        track = self._tracks[slug]
        model = track.inference[model_id]
        model.skipped += 1
        self._dirty.add(slug)
        self._latest = max(self._latest, now)
        health = model.health
        unchecked = now - model.counted_at > 2 * self._inference_interval
        if health.state in (State.UNKNOWN, State.UNCONFIGURED) or not unchecked:
            return []
        return self._move_model(track, model, Health(State.UNKNOWN, now, BUDGET), now)

    def _move_model(
        self, track: ProviderTrack, model: ModelTrack, new: Health, now: float
    ) -> list[Transition]:
        old, model.health = model.health, new
        if new.state is old.state:
            return []
        slug = track.target.slug
        changes = [Transition(slug, old.state, new.state, new.reason, now, model.model)]
        provider = self._move(track, track.health, now)
        return [*changes, provider] if provider is not None else changes

    def model_needs_confirmation(self, slug: str, model: str) -> bool:
        """Tell whether a model should be probed again soon to confirm a change."""
        if self.network.offline():
            return False
        return needs_confirmation(self._tracks[slug].inference[model].health, self._model_rules)

    def set_model_backoff(self, slug: str, model: str, seconds: float) -> None:
        """Note that a model is being left alone for `seconds` (Retry-After)."""
        self._tracks[slug].inference[model].backoff = seconds

    def apply_shared_inference(
        self,
        result: InferenceResult,
        health: Health,
        judged_since: float,
        ignored: bool,
        now: float,
    ) -> list[Transition]:
        """Take an inference probe another replica sent, as `apply_shared` does a list probe."""
        track = self._tracks.get(result.slug)
        model = track.inference.get(result.model) if track is not None else None
        if track is None or model is None or not track.target.configured:
            return []
        self._dirty.add(result.slug)
        self._latest = max(self._latest, now)
        if ignored:
            model.last, model.ignored = result, True
            return []
        model.count(result, now, local=False)
        model.judged_since = judged_since
        return self._move_model(track, model, health, now)
