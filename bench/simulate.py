"""Detection in simulated time: the exporter's Monitor, and blackbox_exporter + `for: 1m`."""

from __future__ import annotations

import random
from collections.abc import Sequence

from bench.detection import Transition
from bench.faults import Answer, Kind, Phase, Profile, answer, phase_at
from exporter.catalog import AuthStyle, ProviderSpec
from exporter.judgement.monitor import Monitor
from exporter.judgement.scoring import Rules
from exporter.probing.probes import ProbeResult
from exporter.running.scheduler import JITTER, MAX_CONFIRM_SPACING
from exporter.targets import Target

EPOCH = 1_700_000_000.0  # simulated unix time of the scenario start
ALERT_FOR = 60.0  # the blackbox alert rules' `for: 1m`
BLACKBOX_SCRAPE_OFFSET = 0.5  # blackbox_exporter leaves this much of the scrape timeout unused


def _answer_at(phases: Sequence[Phase], t: float, profile: Profile, rng: random.Random) -> Answer:
    phase = phase_at(tuple(phases), t)
    if phase is None:
        return answer(Kind.HEALTHY, 0.0, profile, rng)
    return answer(phase.kind, t - phase.start, profile, rng)


def simulate_exporter(
    phases: Sequence[Phase], profile: Profile, horizon: float, seed: int
) -> list[Transition]:
    """Run the exporter's Monitor over the scenario with the scheduler's timing; return changes.

    Mirrors `Scheduler._loop`: a random first slot, regular slots `interval` apart plus up to
    10 % jitter, and confirmation probes `min(interval / 3, 2 s)` after a probe that needs one.
    """
    timing = random.Random(seed)
    faults = random.Random(seed + 1_000_003)
    target = Target(
        spec=ProviderSpec(slug="sim", base_url="http://127.0.0.1/v1", auth=AuthStyle.NONE),
        url="http://127.0.0.1/v1/models",
        credential=None,
    )
    rules = Rules(latency_slow=profile.latency_slow, latency_target=profile.latency_slow / 4)
    monitor = Monitor([target], rules, {}, EPOCH, interval=profile.interval)
    confirm = min(profile.interval / 3, MAX_CONFIRM_SPACING)
    # The scheduler starts within 2 s of launch; the launch itself is unrelated to the faults,
    # so the first slot is uniform over a whole interval relative to the scenario.
    regular = timing.uniform(0, profile.interval)
    due = regular
    transitions: list[Transition] = []
    while due < horizon:
        got = _answer_at(phases, due, profile, faults)
        finished = due + got.duration
        result = ProbeResult(
            slug="sim",
            outcome=got.outcome,
            started=EPOCH + due,
            duration=got.duration,
            status=got.status,
        )
        change = monitor.record(result, EPOCH + finished)
        if change is not None:
            transitions.append((finished, change.new.value))
        if finished >= regular:
            regular = max(regular + profile.interval, finished)
        if monitor.needs_confirmation("sim"):
            due = finished + confirm
        else:
            due = regular + timing.uniform(0, JITTER * profile.interval)
    return transitions


def simulate_blackbox(
    phases: Sequence[Phase], profile: Profile, horizon: float, seed: int
) -> list[Transition]:
    """Model blackbox_exporter scraped every interval, with two alert rules held `for: 1m`.

    `probe_success == 0` for 1m reports down; `probe_duration_seconds > LATENCY_SLOW` for 1m
    reports degraded. Rules are evaluated every interval (evaluation_interval = scrape_interval);
    a sample can be used once its scrape has finished. The probe times out at the scrape timeout
    (at most the interval) minus blackbox_exporter's 0.5 s offset.
    """
    rng = random.Random(seed)
    faults = random.Random(seed + 1_000_003)
    interval = profile.interval
    timeout = max(0.1, min(profile.timeout, interval) - BLACKBOX_SCRAPE_OFFSET)
    scrape_at = rng.uniform(0, interval)
    evaluate_at = rng.uniform(0, interval)
    latest: tuple[bool, float] | None = None  # (success, duration) of the newest usable sample
    pending: tuple[float | None, float | None] = (None, None)  # since when each rule held
    state = "healthy"
    transitions: list[Transition] = []
    queue: list[tuple[float, bool, float]] = []  # (usable at, success, duration)
    while evaluate_at < horizon:
        while scrape_at <= evaluate_at:
            got = _answer_at(phases, scrape_at, profile, faults)
            success = got.success and got.duration < timeout
            duration = min(got.duration, timeout)
            queue.append((scrape_at + duration, success, duration))
            scrape_at += interval
        while queue and queue[0][0] <= evaluate_at:
            _, success, duration = queue.pop(0)
            latest = (success, duration)
        pending, new_state = _evaluate(latest, pending, evaluate_at, profile)
        if new_state != state:
            transitions.append((evaluate_at, new_state))
            state = new_state
        evaluate_at += interval
    return transitions


def _evaluate(
    latest: tuple[bool, float] | None,
    pending: tuple[float | None, float | None],
    now: float,
    profile: Profile,
) -> tuple[tuple[float | None, float | None], str]:
    if latest is None:
        return (None, None), "healthy"
    success, duration = latest
    down_since, slow_since = pending
    down_since = (now if down_since is None else down_since) if not success else None
    slow = success and duration > profile.latency_slow
    slow_since = (now if slow_since is None else slow_since) if slow else None
    if down_since is not None and now - down_since >= ALERT_FOR:
        return (down_since, slow_since), "down"
    if slow_since is not None and now - slow_since >= ALERT_FOR:
        return (down_since, slow_since), "degraded"
    return (down_since, slow_since), "healthy"
