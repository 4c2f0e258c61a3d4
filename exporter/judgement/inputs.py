"""Part of the Monitor: what reaches it besides its own probes (peers, Redis, status pages,
stored history)."""

from __future__ import annotations

from collections.abc import Mapping

from exporter.judgement.monitor_base import MonitorBase
from exporter.judgement.scoring import (
    Health,
    rejudge_breaker,
)
from exporter.judgement.tracks import (
    Transition,
    dump_ring,
    stored_rings,
)
from exporter.probing.official import OfficialView
from exporter.probing.probes import ProbeResult
from exporter.stored.history import Record
from exporter.stored.redis_source import RedisView


class Inputs(MonitorBase):
    """What reaches the monitor besides its own probes: the peers' judged probes, readings of the
    backend's Redis, the providers' status pages, and stored window history."""

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

    def adopt_state(
        self, slug: str, model: str, health: Health, judged_since: float, now: float
    ) -> None:
        """Stand where a peer's recent probe left a provider (or model) this replica has not
        seen probed yet: a replica that just started shows the states its peers show."""
        track = self._tracks.get(slug)
        if track is None or not track.target.configured:
            return
        self._dirty.add(slug)
        if model:
            probed = track.inference.get(model)
            if probed is not None and probed.last is None:
                probed.judged_since = judged_since
                self._move_model(track, probed, health, now)
        elif track.last is None:
            track.judge_from(judged_since)
            self._move(track, health, now)

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

    def set_official(self, slug: str, view: OfficialView) -> None:
        """Take a new reading of a provider's status page: it shows beside its state, and
        changes neither its state nor its score."""
        self._official[slug] = view
        self._snapshot = self._publish()

    def history_records(self, now: float) -> dict[str, Record]:
        """Return every provider's window slots, for storage."""
        records = {}
        for slug, track in self._tracks.items():
            rings = {name: dump_ring(ring, now) for name, ring in stored_rings(track).items()}
            models = {model: dump_ring(up.ring, now) for model, up in track.uptime.items()}
            records[slug] = {"rings": rings, "models": models}
        return records

    def restore_history(self, records: Mapping[str, Record], now: float) -> None:
        """Add stored window slots back (after a restart); slots too old are dropped."""
        for slug, record in records.items():
            track = self._tracks.get(slug)
            if track is None:
                continue
            targets = stored_rings(track)
            targets.update({f"model:{m}": up.ring for m, up in track.uptime.items()})
            stored = {**record["rings"], **{f"model:{m}": v for m, v in record["models"].items()}}
            for name, slots in stored.items():
                ring = targets.get(name)
                if ring is None:
                    continue
                for start, counts in slots:
                    ring.load(start, counts)
        self.refresh(now)
