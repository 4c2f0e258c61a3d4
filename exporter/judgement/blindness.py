"""Part of the Monitor: the exporter's own blindness, when its network is gone."""

from __future__ import annotations

from dataclasses import replace

from exporter.judgement.monitor_base import MonitorBase
from exporter.judgement.scoring import (
    Health,
    State,
)
from exporter.judgement.tracks import (
    ProviderTrack,
    Transition,
)
from exporter.probing.connectivity import NETWORK_OUTCOMES

OFFLINE = "exporter_offline"  # the reason of a provider we cannot see: the blindness is ours


class Blindness(MonitorBase):
    """The exporter's own blindness: providers it could not check become `unknown`, and failures
    its lost network explains change nothing."""

    def set_network(self, up: bool, now: float) -> list[Transition]:
        """Take a connectivity check's answer; return the providers it made `unknown`."""
        self.network.checked(up)
        self._latest = max(self._latest, now)
        if not self.network.offline():
            return []
        moved = [self._blind(track, now) for track in self._tracks.values()]
        self._dirty.update(self._tracks)
        return [transition for transition in moved if transition is not None]

    def _blind(
        self, track: ProviderTrack, now: float, *, at_once: bool = False
    ) -> Transition | None:
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
