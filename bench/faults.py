"""The fault scenario: which faults, when, and what a probe sees during each."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from exporter.outcomes import Outcome

RANDOM_FAILURE_RATIO = 0.05
SPIKE_FACTOR = 5.0


class Kind(StrEnum):
    """What the upstream does."""

    HEALTHY = "healthy"
    REFUSED = "refused"
    HTTP_5XX = "http_5xx"
    HANG = "hang"
    SLOW = "slow"
    FLAP = "flap"
    RANDOM = "random"


# Row label, and the states that count as "seen" for each fault (flapping is seen once the
# provider is reported degraded or down; random failures should never be reported down).
LABELS: dict[Kind, str] = {
    Kind.REFUSED: "hard down (connection refused) → down",
    Kind.HTTP_5XX: "5xx burst → down",
    Kind.HANG: "hang (no answer) → down",
    Kind.SLOW: f"latency spike ×{SPIKE_FACTOR:g} → degraded",
    Kind.FLAP: "flapping every 20 s → degraded or down",
}
SEEN_AS: dict[Kind, frozenset[str]] = {
    Kind.REFUSED: frozenset({"down"}),
    Kind.HTTP_5XX: frozenset({"down"}),
    Kind.HANG: frozenset({"down"}),
    Kind.SLOW: frozenset({"degraded", "down"}),
    Kind.FLAP: frozenset({"degraded", "down"}),
}
OUTAGES = (Kind.REFUSED, Kind.HTTP_5XX, Kind.HANG)


@dataclass(frozen=True, slots=True)
class Phase:
    """The upstream behaves as `kind` from `start` to `end` (seconds from the scenario start)."""

    kind: Kind
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Profile:
    """The probe settings a scenario runs with."""

    interval: float
    timeout: float
    base_latency: float  # seconds, of a healthy answer
    latency_slow: float  # the exporter's LATENCY_SLOW_SECONDS
    flap_period: float = 20.0  # seconds down, then as many up


@dataclass(frozen=True, slots=True)
class Answer:
    """What one probe started at some moment gets."""

    outcome: Outcome
    duration: float
    status: int | None

    @property
    def success(self) -> bool:
        return self.outcome is Outcome.OK


def answer(kind: Kind, since_start: float, profile: Profile, rng: random.Random) -> Answer:
    """Return what a probe sees `since_start` seconds into a phase of `kind`."""
    ok = Answer(Outcome.OK, profile.base_latency, 200)
    failed = Answer(Outcome.HTTP_5XX, 0.002, 503)
    if kind is Kind.REFUSED:
        return Answer(Outcome.CONNECT_ERROR, 0.001, None)
    if kind is Kind.HTTP_5XX:
        return failed
    if kind is Kind.HANG:
        return Answer(Outcome.TIMEOUT, profile.timeout, None)
    if kind is Kind.SLOW:
        slow = profile.base_latency * SPIKE_FACTOR
        if slow >= profile.timeout:
            return Answer(Outcome.TIMEOUT, profile.timeout, None)
        return Answer(Outcome.OK, slow, 200)
    if kind is Kind.FLAP:
        return failed if int(since_start // profile.flap_period) % 2 == 0 else ok
    if kind is Kind.RANDOM:
        return failed if rng.random() < RANDOM_FAILURE_RATIO else ok
    return ok


def phase_at(phases: tuple[Phase, ...], t: float) -> Phase | None:
    """Return the fault phase covering `t`, or None while the upstream is healthy."""
    for phase in phases:
        if phase.start <= t < phase.end:
            return phase
    return None


def day_scenario() -> tuple[Phase, ...]:
    """Return the simulated 24 h: each fault once, apart, then 12 h of 5 % random failures."""
    hour = 3600.0
    return (
        Phase(Kind.REFUSED, 2 * hour, 2 * hour + 600),
        Phase(Kind.HTTP_5XX, 4 * hour, 4 * hour + 180),
        Phase(Kind.HANG, 6 * hour, 6 * hour + 600),
        Phase(Kind.SLOW, 8 * hour, 8 * hour + 1800),
        Phase(Kind.FLAP, 10 * hour, 10 * hour + 1800),
        Phase(Kind.RANDOM, 12 * hour, 24 * hour),
    )
