"""Table-driven tests of the state machine and the health score, with explicit `now`."""

from __future__ import annotations

import pytest

from exporter.judgement.scoring import (
    Evidence,
    Health,
    Rules,
    State,
    initial_health,
    latency_score,
    needs_confirmation,
    score,
    step,
)
from exporter.outcomes import Verdict

RULES = Rules()
QUIET = Evidence()
U, D, L, R, N = Verdict.UP, Verdict.DOWN, Verdict.LIMITED, Verdict.REJECTED, Verdict.INCONCLUSIVE


def run(
    verdicts: list[Verdict], start: State = State.UNKNOWN, evidence: Evidence = QUIET
) -> list[State]:
    health = Health(start, 0.0)
    states = []
    for t, v in enumerate(verdicts, start=1):
        health = step(health, v, v.value, evidence, RULES, float(t))
        states.append(health.state)
    return states


@pytest.mark.parametrize(
    ("verdicts", "start", "expected_last"),
    [
        ([U], State.UNKNOWN, State.HEALTHY),
        ([D], State.UNKNOWN, State.UNKNOWN),
        ([D, D, D, D], State.UNKNOWN, State.DOWN),
        ([D, D, D], State.HEALTHY, State.HEALTHY),
        ([D, D, D, D], State.HEALTHY, State.DOWN),
        ([D, D, D, U, D, D, D], State.HEALTHY, State.HEALTHY),
        ([U], State.DOWN, State.DOWN),
        ([U, U], State.DOWN, State.HEALTHY),
        ([U, D, U], State.DOWN, State.DOWN),
        ([R], State.HEALTHY, State.UNCONFIGURED),
        ([R, U], State.HEALTHY, State.HEALTHY),
        ([L], State.UNKNOWN, State.DEGRADED),
        ([L, U], State.HEALTHY, State.HEALTHY),
        ([N], State.HEALTHY, State.DEGRADED),
        ([L, L], State.DOWN, State.DEGRADED),
    ],
)
def test_transitions(verdicts: list[Verdict], start: State, expected_last: State) -> None:
    """A sequence of probe verdicts ends in the state the documented rules give."""
    assert run(verdicts, start)[-1] is expected_last


def test_single_blip_never_reads_as_down() -> None:
    """Isolated failures between successes never make a healthy provider down."""
    states = run([U, D, U, D, D, U, D, D, D, U] * 10, State.HEALTHY)
    assert State.DOWN not in states


def test_since_changes_only_on_transition() -> None:
    """`since` keeps the time the state began while the state holds."""
    health = initial_health(True, 0.0)
    health = step(health, U, "ok", QUIET, RULES, 5.0)
    health = step(health, U, "ok", QUIET, RULES, 10.0)
    assert (health.state, health.since) == (State.HEALTHY, 5.0)


@pytest.mark.parametrize(
    ("evidence", "start", "expected"),
    [
        (Evidence(error_ratio=0.2), State.HEALTHY, State.DEGRADED),
        (Evidence(error_ratio=0.05), State.HEALTHY, State.HEALTHY),
        # hysteresis: staying degraded until the ratio falls below 80 % of the entry threshold
        (Evidence(error_ratio=0.09), State.DEGRADED, State.DEGRADED),
        (Evidence(error_ratio=0.07), State.DEGRADED, State.HEALTHY),
        (Evidence(latency_recent=8.0), State.HEALTHY, State.DEGRADED),
        (Evidence(latency_recent=3.5), State.HEALTHY, State.HEALTHY),
        (Evidence(latency_recent=3.5), State.DEGRADED, State.DEGRADED),
        (Evidence(latency_recent=3.0), State.DEGRADED, State.HEALTHY),
        (Evidence(breaker_open=True), State.HEALTHY, State.DEGRADED),
    ],
)
def test_degraded_with_hysteresis(evidence: Evidence, start: State, expected: State) -> None:
    """Slow, partly failing or breaker-open providers are degraded, and leave it with margin."""
    assert run([U], start, evidence)[-1] is expected


def test_slow_provider_is_degraded_not_down() -> None:
    """A provider answering in 8 s (under a 10 s timeout) is degraded, never down."""
    states = run([U] * 20, State.UNKNOWN, Evidence(latency_recent=8.0))
    assert set(states) == {State.DEGRADED}


def test_unconfigured_without_key() -> None:
    """A provider with no key starts unconfigured, not unknown."""
    assert initial_health(False, 0.0).state is State.UNCONFIGURED


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        (Health(State.HEALTHY, 0, failures=1), True),
        (Health(State.HEALTHY, 0, failures=0), False),
        (Health(State.DOWN, 0, failures=5), False),
        (Health(State.DOWN, 0, answers=1), True),
        (Health(State.UNKNOWN, 0, failures=2), True),
    ],
)
def test_needs_confirmation(health: Health, expected: bool) -> None:
    """Early probes are asked for only while a change is unconfirmed."""
    assert needs_confirmation(health, RULES) is expected


@pytest.mark.parametrize(
    ("p95", "expected"),
    [(None, None), (0.2, 1.0), (1.0, 1.0), (2.5, 0.5), (4.0, 0.0), (9.0, 0.0)],
)
def test_latency_score(p95: float | None, expected: float | None) -> None:
    """Latency scores 1 at the target, 0 at the slow threshold, linearly between."""
    assert latency_score(p95, RULES) == expected


def test_score_default_formula() -> None:
    """The score is 0.4·availability + 0.3·(1 − error rate) + 0.3·latency score."""
    result = score(0.9, 0.2, 2.5, RULES)
    assert result is not None
    assert result.value == pytest.approx(0.4 * 0.9 + 0.3 * 0.8 + 0.3 * 0.5)
    assert (result.availability, result.error_rate, result.latency) == (0.9, 0.2, 0.5)


def test_score_leaves_out_missing_components() -> None:
    """A component without data is left out and the others re-weighted; no data means no score."""
    result = score(1.0, 0.0, None, RULES)
    assert result is not None and result.value == pytest.approx(1.0)
    assert score(None, None, None, RULES) is None


def test_score_breaker_factor() -> None:
    """An open breaker halves the score."""
    result = score(1.0, 0.0, 0.5, RULES, breaker_factor=0.5)
    assert result is not None and result.value == pytest.approx(0.5)


def test_custom_weights() -> None:
    """Weights from the settings change the score."""
    rules = Rules(weight_availability=1.0, weight_error_rate=0.0, weight_latency=0.0)
    result = score(0.25, 0.9, 9.0, rules)
    assert result is not None and result.value == pytest.approx(0.25)


def test_gateway_without_recorded_failures_says_nothing() -> None:
    """The backend's zero failures (it records only successes) is no error rate at all."""
    from exporter.stored.redis_source import Traffic

    assert Traffic(requests=10.0, failures=0.0).failure_ratio is None
    assert Traffic(requests=10.0, failures=2.0).failure_ratio == 0.2
