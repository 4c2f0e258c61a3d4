"""Each provider's state machine and health score: pure functions of their inputs and `now`."""

from __future__ import annotations

from dataclasses import dataclass, replace

from exporter.outcomes import Verdict
from exporter.settings import Settings
from exporter.states import STATES, State

__all__ = ["STATES", "State"]  # the vocabulary, where the judgement is


ANSWERED = frozenset({Verdict.UP, Verdict.LIMITED, Verdict.INCONCLUSIVE})
# Leaving `degraded` needs the evidence to fall below this share of the entry threshold,
# so a provider hovering at a threshold does not flap.
HYSTERESIS = 0.8


@dataclass(frozen=True, slots=True)
class Rules:
    """Thresholds and weights of the state machine and score."""

    down_after: int = 4
    up_after: int = 2
    degraded_error_ratio: float = 0.1
    latency_target: float = 1.0
    latency_slow: float = 4.0
    weight_availability: float = 0.4
    weight_error_rate: float = 0.3
    weight_latency: float = 0.3
    min_throughput: float | None = None  # tokens per second, judged for inference-probed models

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        return cls(**{field: getattr(settings, name) for field, name in _SETTING_OF.items()})

    @classmethod
    def for_models(cls, settings: Settings) -> Rules:
        """Return the rules of an inference-probed model: `slow` is about its time to first
        token, and too few tokens per second is `slow_tokens`."""
        return replace(
            cls.from_settings(settings),
            latency_target=settings.inference_ttft_slow_seconds / 2,
            latency_slow=settings.inference_ttft_slow_seconds,
            min_throughput=settings.inference_min_tokens_per_second or None,
        )


# Rules field -> the Settings field it is read from (min_throughput is for models only)
_SETTING_OF = {
    "down_after": "down_after_failures",
    "up_after": "up_after_successes",
    "degraded_error_ratio": "degraded_error_ratio",
    "latency_target": "latency_target_seconds",
    "latency_slow": "latency_slow_seconds",
    "weight_availability": "health_weight_availability",
    "weight_error_rate": "health_weight_error_rate",
    "weight_latency": "health_weight_latency",
}


@dataclass(frozen=True, slots=True)
class Health:
    """Where a provider stands, and the counters its next transition depends on."""

    state: State
    since: float
    reason: str = ""
    failures: int = 0  # consecutive probes that count against availability
    answers: int = 0  # consecutive probes the provider answered (ok, 429, other 4xx)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the windows and passive sources say at the moment of a probe."""

    error_ratio: float | None = None  # failed share of the checks since the last recovery (5 m)
    latency_recent: float | None = None  # median of the last few successful probes
    throughput_recent: float | None = None  # median tokens per second of the last few (models)
    breaker_open: bool = False


def initial_health(configured: bool, now: float) -> Health:
    """Return the state of a provider nothing is known about yet."""
    if configured:
        return Health(State.UNKNOWN, now, "no probe yet")
    return Health(State.UNCONFIGURED, now, "no API key configured")


def step(
    prev: Health, verdict: Verdict, cause: str, evidence: Evidence, rules: Rules, now: float
) -> Health:
    """Return the health after one probe with `verdict` (`cause` names its outcome).

    Down needs `down_after` consecutive failures; leaving down needs `up_after` consecutive
    answers; degraded is entered and left with hysteresis.
    """
    if verdict is Verdict.REJECTED:
        return _move(prev, State.UNCONFIGURED, "API key refused (401/403)", now, 0, 0)
    if verdict is Verdict.DOWN:
        failures = prev.failures + 1
        if failures >= rules.down_after:
            return _move(prev, State.DOWN, cause, now, failures, 0)
        if prev.state in (State.HEALTHY, State.DEGRADED):
            state, reason = _judge(prev, verdict, evidence, rules)
            return _move(prev, state, reason, now, failures, 0)
        return replace(prev, failures=failures, answers=0)
    answers = prev.answers + 1
    if prev.state is State.DOWN and answers < rules.up_after:
        return replace(prev, failures=0, answers=answers)
    state, reason = _judge(prev, verdict, evidence, rules)
    return _move(prev, state, reason, now, 0, answers)


def rejudge_breaker(prev: Health, breaker_open: bool, now: float) -> Health:
    """Return the health after the circuit breaker changed, between probes.

    An open breaker makes an answering provider at least degraded; when it closes, a provider
    degraded for that reason alone is healthy again. Other states wait for the next probe.
    """
    if breaker_open and prev.state is State.HEALTHY:
        return _move(prev, State.DEGRADED, "breaker_open", now, prev.failures, prev.answers)
    if not breaker_open and prev.state is State.DEGRADED and prev.reason == "breaker_open":
        return _move(prev, State.HEALTHY, "ok", now, prev.failures, prev.answers)
    return prev


def combined_error_rate(probes: float | None, gateway: float | None) -> float | None:
    """Return the error rate from probes and gateway traffic together.

    The worse of the two: the backend under-records failures today, so its numbers may make a
    provider look worse, never better; with no gateway traffic the probes decide alone.
    """
    known = [value for value in (probes, gateway) if value is not None]
    return max(known) if known else None


def needs_confirmation(health: Health, rules: Rules) -> bool:
    """Tell whether the next probe should come early, to confirm a change quickly."""
    if 0 < health.failures < rules.down_after and health.state is not State.DOWN:
        return True
    return health.state is State.DOWN and 0 < health.answers < rules.up_after


def _judge(prev: Health, verdict: Verdict, evidence: Evidence, rules: Rules) -> tuple[State, str]:
    """Decide healthy or degraded for a provider that is answering."""
    relax = HYSTERESIS if prev.state is State.DEGRADED else 1.0
    reasons = []
    if verdict is Verdict.LIMITED:
        reasons.append("rate_limited")
    if verdict is Verdict.INCONCLUSIVE:
        reasons.append("probe_rejected")
    if evidence.breaker_open:
        reasons.append("breaker_open")
    error = evidence.error_ratio
    if error is not None and error >= rules.degraded_error_ratio * relax:
        reasons.append("failing")
    latency = evidence.latency_recent
    if latency is not None and latency >= rules.latency_slow * relax:
        reasons.append("slow")
    throughput = evidence.throughput_recent
    floor = rules.min_throughput
    if floor and throughput is not None and throughput < floor / relax:
        reasons.append("slow_tokens")
    if reasons:
        return State.DEGRADED, ",".join(reasons)
    return State.HEALTHY, "ok"


def overlay_inference(health: Health, models: list[State], shown: Health, now: float) -> Health:
    """Return the provider's state as shown: its own, unless its inference-probed models say
    worse. All of them `down` while its model list answers: `down`; some: `degraded`."""
    state, reason = health.state, health.reason
    down = sum(model is State.DOWN for model in models)
    if down and state in (State.HEALTHY, State.DEGRADED):
        if down == len(models):
            state, reason = State.DOWN, "inference_down"
        else:
            state = State.DEGRADED
            partly = "inference_partly_down"
            reason = partly if reason == "ok" else f"{reason},{partly}"
    since = shown.since if state is shown.state else now
    return replace(health, state=state, since=since, reason=reason)


def _move(
    prev: Health, state: State, reason: str, now: float, failures: int, answers: int
) -> Health:
    since = prev.since if state is prev.state else now
    return Health(state, since, reason, failures, answers)


@dataclass(frozen=True, slots=True)
class Score:
    """The health score and the components it was computed from (each 0-1 or None)."""

    value: float
    availability: float | None
    error_rate: float | None
    latency: float | None
    breaker: float | None


def latency_score(p95: float | None, rules: Rules) -> float | None:
    """Return 1 at or below the target latency, 0 at or above the slow threshold, linear between."""
    if p95 is None:
        return None
    span = rules.latency_slow - rules.latency_target
    return min(1.0, max(0.0, (rules.latency_slow - p95) / span))


def score(
    availability_1h: float | None,
    error_rate_5m: float | None,
    latency_p95: float | None,
    rules: Rules,
    breaker_factor: float | None = None,
) -> Score | None:
    """Return the weighted health score, or None when there is no data at all.

    score = (wa·availability + we·(1 − error_rate) + wl·latency_score) / (sum of the weights of
    the components that have data), times the circuit-breaker factor when one is known. The
    default weights 0.4/0.3/0.3 are the formula the stack's documentation asks for; a missing
    component is left out rather than guessed.
    """
    latency = latency_score(latency_p95, rules)
    terms = [
        (rules.weight_availability, availability_1h),
        (rules.weight_error_rate, None if error_rate_5m is None else 1.0 - error_rate_5m),
        (rules.weight_latency, latency),
    ]
    present = [(weight, value) for weight, value in terms if value is not None and weight > 0]
    total = sum(weight for weight, _ in present)
    if not present or total <= 0:
        return None
    value = sum(weight * component for weight, component in present) / total
    if breaker_factor is not None:
        value *= breaker_factor
    return Score(value, availability_1h, error_rate_5m, latency, breaker_factor)
