"""Detection figures from state transitions: time to see each fault, recovery, false downs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.faults import LABELS, OUTAGES, SEEN_AS, Kind, Phase

Transition = tuple[float, str]  # (seconds from scenario start, new state)


@dataclass(slots=True)
class Tally:
    """Detection times of every repetition, per fault, plus false `down` reports."""

    seen: dict[Kind, list[float | None]] = field(default_factory=dict)
    back_up: list[float | None] = field(default_factory=list)
    healthy_again: list[float | None] = field(default_factory=list)
    false_downs: int = 0
    random_hours: float = 0.0  # provider-hours spent under random failures

    def add(self, transitions: Sequence[Transition], phases: Sequence[Phase]) -> None:
        """Add one repetition's transitions under the fault schedule `phases`."""
        ordered = sorted(transitions)
        for phase in phases:
            if phase.kind is Kind.RANDOM:
                self.random_hours += (phase.end - phase.start) / 3600
                self.false_downs += sum(
                    1 for at, state in ordered if phase.start <= at < phase.end and state == "down"
                )
                continue
            if phase.kind in LABELS:
                first = _first(ordered, phase.start, SEEN_AS[phase.kind])
                self.seen.setdefault(phase.kind, []).append(first)
            if phase.kind in OUTAGES:
                self._recovery(ordered, phase)

    def _recovery(self, ordered: Sequence[Transition], phase: Phase) -> None:
        # Only an outage that was reported down can be recovered from.
        down = _first(ordered, phase.start, frozenset({"down"}), until=phase.end)
        if down is None:
            return
        self.back_up.append(_first(ordered, phase.end, frozenset({"healthy", "degraded"})))
        self.healthy_again.append(_first(ordered, phase.end, frozenset({"healthy"})))


def _first(
    ordered: Sequence[Transition], start: float, states: frozenset[str], until: float | None = None
) -> float | None:
    """Return seconds from `start` to the first transition into `states` (None: never)."""
    for at, state in ordered:
        if at < start:
            continue
        if until is not None and at >= until:
            return None
        if state in states:
            return at - start
    return None
