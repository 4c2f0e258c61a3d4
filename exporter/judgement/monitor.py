"""The one owner of mutable provider state: turns probe results into immutable snapshots."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from exporter.judgement.model_tracks import ModelTrack
from exporter.judgement.scoring import (
    Evidence,
    Health,
    Rules,
    State,
    combined_error_rate,
    initial_health,
    needs_confirmation,
    overlay_inference,
    rejudge_breaker,
    score,
    step,
)
from exporter.judgement.snapshot import (
    AVAILABILITY_WINDOWS,
    LAG_BUCKETS,
    LATENCY_BUCKETS,
    Exemplar,
    ExporterStats,
    Histogram,
    ProviderView,
    Snapshot,
)
from exporter.judgement.windows import ProviderWindows, Ring, RingCopy, UptimeRing
from exporter.outcomes import LIST_OUTCOMES, Verdict, verdict
from exporter.probing.budget import TokenBudget
from exporter.probing.connectivity import NETWORK_OUTCOMES, Network
from exporter.probing.inference import InferenceResult
from exporter.probing.official import OfficialView
from exporter.probing.probes import ProbeResult
from exporter.stored.history import Record
from exporter.stored.redis_source import RedisView, Traffic
from exporter.stored.replicas import ReplicaStats
from exporter.targets import Target

VIEW_MAX_AGE = 1.0  # seconds a view may serve before windows have slid enough to rebuild it
GATEWAY_WINDOW = 3600.0  # the backend's request counters cover the last hour
MIN_FAILED_CHECKS = 2  # one blip is never "partly failing" (as one never reads as `down`)
OFFLINE = "exporter_offline"  # the reason of a provider we cannot see: the blindness is ours
BUDGET = "budget_exhausted"  # the reason of a model the token budget keeps from being probed
# Breaker state -> factor applied to the health score (an open breaker means the gateway is
# refusing traffic to the provider right now).
BREAKER_FACTORS = {"closed": 1.0, "half_open": 0.75, "open": 0.5}


@dataclass(frozen=True, slots=True)
class Transition:
    """A provider changed state."""

    slug: str
    old: State
    new: State
    reason: str
    at: float
    model: str = ""  # set when it is one of the provider's inference-probed models


class _Track:
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


def _starts_afresh(health: Health) -> bool:
    """Tell whether leaving this state starts the error ratio afresh (leaving `down` does)."""
    return health.state is State.DOWN


def _hour_copy(windows: ProviderWindows, now: float) -> RingCopy:
    ring = windows.rings["1h"]
    ring.totals(now)  # slide to `now` first
    return ring.copy()


def _rings(track: _Track) -> dict[str, Ring]:
    """Return a provider's rings by stored name; an inference-probed model's are
    `inference:{window}:{model}` (older versions skip names they do not know)."""
    rings = dict(track.windows.rings)
    for model, probed in track.inference.items():
        rings.update({f"inference:{w}:{model}": ring for w, ring in probed.rings.items()})
    return rings


def _dump(ring: Ring, now: float) -> list[list[Any]]:
    return [[start, list(counts)] for start, counts in ring.slots(now) if any(counts)]


class Monitor:
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
            t.slug: _Track(t, models.get(t.slug, ()), probed.get(t.slug, ()), now) for t in targets
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

    def publish(self, now: float) -> Snapshot:
        """Rebuild the views that changed or aged, publish and return a new snapshot.

        Views are built when read, not after every probe: a probe only counts. A view is rebuilt
        when its provider was probed since, or when it is older than `VIEW_MAX_AGE` (windows slide).
        """
        self._latest = max(self._latest, now)
        for slug, track in self._tracks.items():
            if slug in self._dirty or now - self._built[slug] >= VIEW_MAX_AGE:
                self._views[slug] = self._view(track, now)
                self._built[slug] = now
        self._dirty.clear()
        self._snapshot = self._publish()
        return self._snapshot

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
        if _starts_afresh(old) and new.state is not old.state:
            track.judge_from(now)
        return self._move(track, new, now)

    def _blind(self, track: _Track, now: float, *, at_once: bool = False) -> Transition | None:
        """Make a provider we have not been able to check for two intervals `unknown`."""
        health = track.health
        if health.state is State.UNCONFIGURED or track.before_blind is not None:
            return None
        # offline this long without a check (two of its intervals): `unknown`
        blind_after = 2 * (track.target.interval or self._interval)
        if not at_once and now - track.counted_at <= blind_after:
            return None
        track.before_blind = health
        if health.state is State.UNKNOWN:  # nothing was known: only say why nothing is
            return self._move(track, replace(health, reason=OFFLINE), now)
        return self._move(track, Health(State.UNKNOWN, now, OFFLINE), now)

    def _blind_the_failing(self, now: float) -> None:
        """Offline inferred: providers whose last probe failed for want of a network were not
        seen failing; they are `unknown` at once (their state changes queue for the log)."""
        for track in self._tracks.values():
            last = track.last
            if last is not None and last.outcome in NETWORK_OUTCOMES:
                track.judge_from(now)  # the failures that led here were ours: not "failing"
                transition = self._blind(track, now, at_once=True)
                if transition is not None:
                    self._side_transitions.append(transition)

    def take_transitions(self) -> list[Transition]:
        """Return (and forget) state changes made to providers other than the one probed."""
        taken, self._side_transitions = self._side_transitions, []
        return taken

    def _move(self, track: _Track, new: Health, now: float) -> Transition | None:
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

    def set_network(self, up: bool, now: float) -> list[Transition]:
        """Take a connectivity check's answer; return the providers it made `unknown`."""
        self.network.checked(up)
        self._latest = max(self._latest, now)
        if not self.network.offline():
            return []
        moved = [self._blind(track, now) for track in self._tracks.values()]
        self._dirty.update(self._tracks)
        return [transition for transition in moved if transition is not None]

    def record_lag(self, lag: float) -> None:
        """Count how late a probe started against its schedule."""
        self._lag[bisect.bisect_left(LAG_BUCKETS, lag)] += 1
        self._lag_sum += lag

    def set_in_flight(self, count: int) -> None:
        self._in_flight = count

    def set_backoff(self, slug: str, seconds: float) -> None:
        """Note that provider `slug` is being left alone for `seconds` (Retry-After)."""
        self._tracks[slug].backoff = seconds

    def set_redis(self, view: RedisView, now: float) -> list[Transition]:
        """Take a new reading of the backend's Redis; return the state changes it caused.

        A failed reading leaves the Redis series out but changes no state: decisions keep using
        what Redis said last (a breaker we cannot read is not a closed breaker).
        """
        self._redis = view
        self._dirty.update(self._tracks)  # Redis shows in every view
        if not view.up:
            return []
        self._known = view
        transitions = []
        for slug, track in self._tracks.items():
            rejudged = rejudge_breaker(track.health, view.breakers.get(slug) == "open", now)
            if rejudged is not track.health:
                transition = self._move(track, rejudged, now)
                if transition is not None:
                    transitions.append(transition)
        return transitions

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
        evidence = model.evidence(now, afresh=_starts_afresh(old))  # an outage that is over
        new = step(old, judged, result.outcome.value, evidence, self._model_rules, now)
        if _starts_afresh(old) and new.state is not old.state:
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
        self, track: _Track, model: ModelTrack, new: Health, now: float
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

    def shared_state(self, slug: str, model: str = "") -> tuple[Health, float, bool]:
        """Return what a peer needs to stand where this replica stands after its probe of
        `slug` (or of one of its models): the health, when its error ratio counts from, and
        whether the probe was one the exporter's own blindness explains."""
        track = self._tracks[slug]
        if model:
            probed = track.inference[model]
            return probed.health, probed.judged_since, probed.ignored
        return track.health, track.judged_since, track.ignored

    def apply_shared(
        self, result: ProbeResult, health: Health, judged_since: float, ignored: bool, now: float
    ) -> Transition | None:
        """Take a probe another replica of this vantage sent, and the state it left the
        provider in: windows and state move as if it were ours, counters do not."""
        track = self._tracks.get(result.slug)
        if track is None or not track.target.configured:
            return None
        self._dirty.add(result.slug)
        self._latest = max(self._latest, now)
        if ignored:
            track.last, track.ignored = result, True
            return None
        track.before_blind = None
        track.count(result, now, local=False)
        if judged_since != track.judged_since:
            track.judge_from(judged_since)
        return self._move(track, health, now)

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

    def set_official(self, slug: str, view: OfficialView) -> None:
        """Take a new reading of a provider's status page: it shows beside its state, and
        changes neither its state nor its score."""
        self._official[slug] = view
        self._snapshot = self._publish()

    def history_records(self, now: float) -> dict[str, Record]:
        """Return every provider's window slots, for storage."""
        records = {}
        for slug, track in self._tracks.items():
            rings = {name: _dump(ring, now) for name, ring in _rings(track).items()}
            models = {model: _dump(up.ring, now) for model, up in track.uptime.items()}
            records[slug] = {"rings": rings, "models": models}
        return records

    def restore_history(self, records: Mapping[str, Record], now: float) -> None:
        """Add stored window slots back (after a restart); slots too old are dropped."""
        for slug, record in records.items():
            track = self._tracks.get(slug)
            if track is None:
                continue
            targets = _rings(track)
            targets.update({f"model:{m}": up.ring for m, up in track.uptime.items()})
            stored = {**record["rings"], **{f"model:{m}": v for m, v in record["models"].items()}}
            for name, slots in stored.items():
                ring = targets.get(name)
                if ring is None:
                    continue
                for start, counts in slots:
                    ring.load(start, counts)
        self.refresh(now)

    def refresh(self, now: float) -> Snapshot:
        """Rebuild every view as of `now` and publish."""
        self._dirty.update(self._tracks)
        return self.publish(now)

    def _evidence(self, track: _Track, now: float) -> Evidence:
        """What `degraded` is judged on: the recent past only, since the provider last recovered
        (the gateway's hourly counters only when that recovery is over an hour old)."""
        since = now if _starts_afresh(track.health) else track.judged_since
        probes = track.windows.error_ratio_since(since, now, MIN_FAILED_CHECKS)
        _, traffic = self._passive(track.target.slug)
        recovered_long_ago = now - since >= GATEWAY_WINDOW
        gateway = traffic.failure_ratio if traffic is not None and recovered_long_ago else None
        return Evidence(
            error_ratio=combined_error_rate(probes, gateway),
            latency_recent=track.windows.recent_latency(now),
            breaker_open=self._passive(track.target.slug)[0] == "open",
        )

    def _passive(self, slug: str) -> tuple[str | None, Traffic | None]:
        """Return the provider's breaker state and gateway traffic, as Redis last told us."""
        if self._known is None:
            return None, None
        return self._known.breakers.get(slug), self._known.traffic.get(slug)

    def _error_rate(self, track: _Track, now: float) -> float | None:
        _, traffic = self._passive(track.target.slug)
        gateway = traffic.failure_ratio if traffic is not None else None
        return combined_error_rate(track.windows.counts("5m", now).error_ratio, gateway)

    def _view(self, track: _Track, now: float) -> ProviderView:
        windows = track.windows
        availability = {w: windows.counts(w, now).availability for w in AVAILABILITY_WINDOWS}
        error_rate = self._error_rate(track, now)
        p50, p95 = windows.latency_quantiles(now, (0.5, 0.95))
        breaker, traffic = self._passive(track.target.slug)
        health = track.shown
        last, failure = track.last, track.last_failure
        configured = health.state is not State.UNCONFIGURED
        return ProviderView(
            slug=track.target.slug,
            configured=track.target.configured,
            state=health.state,
            since=health.since,
            reason=health.reason,
            state_changes=track.state_changes,
            score=score(
                availability["1h"], error_rate, p95, self._rules, BREAKER_FACTORS.get(breaker or "")
            )
            if configured
            else None,
            availability=availability,
            error_rate=error_rate,
            latency_p50=p50,
            latency_p95=p95,
            probes=dict(track.probes),
            checks_up=track.up,
            checks_down=track.down,
            response_time=Histogram(
                tuple(track.rt_buckets),
                track.rt_sum,
                sum(track.rt_buckets),
                tuple(track.rt_exemplars),
            ),
            last_outcome=last.outcome if last else None,
            last_probe_at=last.started + last.duration if last else None,
            last_status=last.status if last else None,
            last_failure=failure.outcome if failure else None,
            last_failure_at=failure.started if failure else None,
            phases=dict(last.phases) if last else {},
            models_listed=track.models_listed,
            models_sample=track.models_sample,
            model_uptime={m: ring.uptime(now) for m, ring in track.uptime.items()},
            backoff=track.backoff,
            interval=track.target.interval or self._interval,
            hour=_hour_copy(windows, now),
            breaker=breaker,
            traffic=traffic,
            inference={m: model.view(now) for m, model in track.inference.items()},
        )

    def _publish(self) -> Snapshot:
        lag = Histogram(tuple(self._lag), self._lag_sum, sum(self._lag))
        ready = all(
            track.last is not None or not track.target.configured for track in self._tracks.values()
        )
        budget, rules = self.budget, self._model_rules
        stats = ExporterStats(
            probe_lag=lag,
            in_flight=self._in_flight,
            budget_remaining=budget.remaining(self._latest) if budget else None,
            ttft_slow=rules.latency_slow if budget else None,
            min_tokens_per_second=(rules.min_throughput or 0.0) if budget else None,
        )
        return Snapshot(
            providers=dict(self._views),
            stats=stats,
            ready=ready,
            redis=self._redis,
            official=dict(self._official),
            offline=self.network.offline(),
            network_up=self.network.up if self.network.measured else None,
            vantage=self._vantage,
            replicas=self.replica_stats() if self.replica_stats is not None else None,
        )
