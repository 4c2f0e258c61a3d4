"""The monitor's judgement over time, table-driven with explicit `now`: slowness on the last few
answers, "partly failing" only since the last recovery, and the exporter's own blindness."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from exporter.catalog import AuthStyle, ProviderSpec
from exporter.judgement.monitor import Monitor
from exporter.judgement.scoring import Rules, State
from exporter.outcomes import Outcome
from exporter.probing.connectivity import Network
from exporter.probing.probes import ProbeResult
from exporter.stored.redis_source import RedisView, Traffic
from exporter.targets import Target

OK, REFUSED, E503 = Outcome.OK, Outcome.CONNECT_ERROR, Outcome.HTTP_5XX
FAST, SLOW = 0.005, 8.0
INTERVAL = 1.0
STATUS = {OK: 200, E503: 503}


def target(slug: str) -> Target:
    spec = ProviderSpec(slug, f"http://127.0.0.1:1/{slug}", auth=AuthStyle.NONE)
    return Target(spec, spec.probe_url(), None)


def monitor(*slugs: str, measured: bool = False) -> Monitor:
    targets = [target(slug) for slug in slugs or ("p",)]
    network = Network(measured, [t.slug for t in targets], 2 * INTERVAL)
    return Monitor(targets, Rules(), {}, 0.0, interval=INTERVAL, network=network)


def feed(
    m: Monitor, steps: Iterable[tuple[Outcome, float]], start: float, slug: str = "p"
) -> list[tuple[float, State, str]]:
    """Record one probe a second from `start`; return (time, state, reason) after each."""
    seen = []
    for t, (outcome, latency) in enumerate(steps):
        now = start + t * INTERVAL
        status = STATUS.get(outcome)
        result = ProbeResult(slug, outcome, now - latency, latency, status=status)
        m.record(result, now)
        health = m.publish(now).providers[slug]
        seen.append((now, health.state, health.reason))
    return seen


def first(seen: Sequence[tuple[float, State, str]], state: State, after: float = 0.0) -> float:
    """Return when `state` was first shown at or after `after`."""
    return next(now for now, shown, _ in seen if shown is state and now >= after)


@pytest.mark.parametrize(
    ("history", "step_to", "degraded_after", "then", "healthy_after"),
    [
        # a long fast history no longer outvotes new slow answers (the old 5-minute median did)
        (300, SLOW, 1.0, FAST, 1.0),
        (30, SLOW, 1.0, FAST, 1.0),
        (300, 3.9, None, FAST, None),  # under LATENCY_SLOW_SECONDS (4 s): never slow
    ],
)
def test_slow_is_judged_on_the_last_three_answers(
    history: int,
    step_to: float,
    degraded_after: float | None,
    then: float,
    healthy_after: float | None,
) -> None:
    """Median of the last 3 successful probes: degraded on the 2nd slow answer, healthy again
    on the 2nd fast one, however long the fast history before."""
    m = monitor()
    feed(m, [(OK, FAST)] * history, 0.0)
    step_at = float(history)
    seen = feed(m, [(OK, step_to)] * 5 + [(OK, then)] * 5, step_at)
    if degraded_after is None:
        assert all(state is State.HEALTHY for _, state, _ in seen)
        return
    degraded = first(seen, State.DEGRADED)
    assert degraded - step_at == degraded_after  # the second slow answer
    assert dict((now, reason) for now, _, reason in seen)[degraded] == "slow"
    assert first(seen, State.HEALTHY, after=degraded) - (step_at + 5) == healthy_after


def test_slow_leaves_with_hysteresis() -> None:
    """Entered at 4 s, left only under 0.8 × 4 s = 3.2 s: 3.5 s answers keep it degraded."""
    m = monitor()
    feed(m, [(OK, FAST)] * 10, 0.0)
    seen = feed(m, [(OK, 5.0)] * 3 + [(OK, 3.5)] * 5 + [(OK, 3.0)] * 3, 10.0)
    states = [state for _, state, _ in seen]
    assert states[1:8] == [State.DEGRADED] * 7
    assert states[-1] is State.HEALTHY


def test_an_outage_that_is_over_does_not_keep_a_provider_degraded() -> None:
    """20 refused probes (down), then answers: healthy as soon as it leaves down, not
    "partly failing" for the next 5 minutes; the outage stays in availability and the checks."""
    m = monitor()
    feed(m, [(OK, FAST)] * 60, 0.0)
    outage = feed(m, [(REFUSED, 0.0)] * 20, 60.0)
    assert outage[-1][1] is State.DOWN
    after = feed(m, [(OK, FAST)] * 60, 80.0)
    states = [state for _, state, _ in after]
    assert states[0] is State.DOWN  # UP_AFTER_SUCCESSES = 2
    assert states[1:] == [State.HEALTHY] * 59
    view = m.publish(140.0).providers["p"]
    assert view.checks_down == 20
    assert view.availability["5m"] == pytest.approx(120 / 140)
    assert view.error_rate == pytest.approx(20 / 140)  # the score's component still sees it


def test_intermittent_failures_degrade_and_leave_under_the_hysteresis_bound() -> None:
    """30 % 503s, never 4 in a row: degraded ("failing"), never down; once the failures stop and
    the 5-minute ratio falls under 0.8 × 10 %, healthy again."""
    m = monitor()
    fail, ok = (E503, 0.01), (OK, FAST)
    pattern = [fail, ok, ok, fail, ok, ok, ok, fail, ok, ok]  # 3 in 10
    seen = feed(m, pattern * 30, 0.0)  # 5 minutes
    states = [state for _, state, _ in seen]
    assert State.DOWN not in states
    assert first(seen, State.DEGRADED) <= 60
    assert seen[-1][1:] == (State.DEGRADED, "failing")
    calm = feed(m, [(OK, FAST)] * 300, 300.0)
    healthy = first(calm, State.HEALTHY)
    # healthy once under 8 % of the last 5 minutes' checks failed: after k answers,
    # 0.3 (300 - k) / 300 < 0.08, so k > 220
    assert 215 <= healthy - 300 <= 225
    assert State.DEGRADED not in [state for now, state, _ in calm if now > healthy]


def test_gateway_failures_count_only_an_hour_after_a_recovery() -> None:
    """The backend's counters cover an hour: within it they would replay the outage."""
    m = monitor()
    feed(m, [(OK, FAST)] * 10, 0.0)
    feed(m, [(REFUSED, 0.0)] * 5 + [(OK, FAST)] * 2, 10.0)  # down, and out again at t=16
    gateway = RedisView(up=True, traffic={"p": Traffic(requests=100, failures=50)})
    m.set_redis(gateway, 17.0)
    soon = feed(m, [(OK, FAST)] * 3, 17.0)
    assert [state for _, state, _ in soon] == [State.HEALTHY] * 3
    late = feed(m, [(OK, FAST)] * 2, 16.0 + 3600)
    assert late[-1][1:] == (State.DEGRADED, "failing")


def test_measured_offline_counts_nothing_and_shows_unknown_after_two_intervals() -> None:
    """Connectivity targets fail: refused probes count in the probe totals only, nobody goes
    down, and after 2 intervals without a check each provider is unknown (exporter_offline);
    when the network is back, the next answer judges it as usual."""
    m = monitor("a", "b", measured=True)
    for slug in ("a", "b"):
        feed(m, [(OK, FAST)] * 10, 0.0, slug)
    assert m.set_network(False, 10.0) == []
    blind = feed(m, [(REFUSED, 0.0)] * 10, 10.0, "a")
    view = m.publish(20.0).providers["a"]
    assert view.checks_down == 0 and view.probes[REFUSED] == 10
    assert State.DOWN not in [state for _, state, _ in blind]
    assert next((s, r) for now, s, r in blind if now >= 12.0) == (State.UNKNOWN, "exporter_offline")
    assert view.available is None  # provider_availability absent, not 0
    moved = m.set_network(False, 20.0)  # b was not probed at all: the check moves it
    assert [(t.slug, t.new, t.reason) for t in moved] == [("b", State.UNKNOWN, "exporter_offline")]
    # An answer is a check, even offline: judged from where it stood (healthy, one 503 in 11)
    other = feed(m, [(E503, 0.01)], 21.0, "a")
    assert m.publish(21.0).providers["a"].checks_down == 1 and other[0][1] is State.HEALTHY
    m.set_network(True, 22.0)
    back = feed(m, [(OK, FAST)], 22.0, "a")
    assert back[0][1:] == (State.HEALTHY, "ok")
    snapshot = m.publish(22.0)
    assert (snapshot.offline, snapshot.network_up) == (False, True)


@pytest.mark.parametrize(("providers", "inferred"), [(3, True), (2, False)])
def test_offline_is_inferred_only_from_three_providers_failing_together(
    providers: int, inferred: bool
) -> None:
    """Without targets: every watched provider (3 or more) failing to connect within one
    interval is our outage; with 2 it cannot be told from theirs, and they go down."""
    slugs = [f"p{i}" for i in range(providers)]
    m = monitor(*slugs)
    for slug in slugs:
        feed(m, [(OK, FAST)] * 5, 0.0, slug)
    for t in range(10):
        for slug in slugs:
            feed(m, [(REFUSED, 0.0)], 5.0 + t, slug)
    snapshot = m.publish(15.0)
    assert snapshot.offline is inferred
    assert snapshot.network_up is None
    states = {view.state for view in snapshot.providers.values()}
    assert states == ({State.UNKNOWN} if inferred else {State.DOWN})
    if inferred:
        feed(m, [(OK, FAST)], 16.0, "p0")  # one answer: the network works
        assert not m.publish(16.0).offline
        assert m.publish(16.0).providers["p0"].state is State.HEALTHY


def probe(m: Monitor, slug: str, outcome: Outcome, now: float) -> State:
    m.record(ProbeResult(slug, outcome, now, 0.01, status=STATUS.get(outcome)), now)
    return m.publish(now).providers[slug].state


def test_inferred_offline_with_confirmation_timing_blinds_at_once() -> None:
    """At 15 s, provider a's confirmation probes (2 s apart) reach `down` before the others' first
    failures arrive: when the third one fails the inference is made, and every one of them is
    `unknown` at once (the counted failures stay in a's checks: the documented cost of inferring);
    back online, two answers make a healthy, not "partly failing"."""
    network = Network(False, ["a", "b", "c"], 15.0 + 10.0)  # interval + timeout, as served
    m = Monitor([target(s) for s in "abc"], Rules(), {}, 0.0, interval=15.0, network=network)
    for slug, at in (("a", 0.0), ("b", 5.0), ("c", 10.0)):
        probe(m, slug, OK, at)
    for at in (15.0, 17.0, 19.0, 21.0):
        probe(m, "a", REFUSED, at)
    assert m.publish(21.0).providers["a"].state is State.DOWN
    probe(m, "b", REFUSED, 20.0)
    probe(m, "b", REFUSED, 22.0)
    probe(m, "c", REFUSED, 25.0)
    snapshot = m.publish(25.0)
    assert snapshot.offline
    assert {v.slug: (v.state, v.reason) for v in snapshot.providers.values()} == dict.fromkeys(
        "abc", (State.UNKNOWN, "exporter_offline")
    )
    changes = {(t.slug, t.new) for t in m.take_transitions()}
    assert changes == {("a", State.UNKNOWN), ("b", State.UNKNOWN)}  # c's is its own record's
    assert snapshot.providers["a"].checks_down == 4
    assert probe(m, "a", REFUSED, 27.0) is State.UNKNOWN  # ignored: still offline
    assert probe(m, "b", OK, 30.0) is State.HEALTHY  # an answer: the network is back
    assert not m.publish(30.0).offline
    assert probe(m, "a", OK, 31.0) is State.DOWN  # it stood at down: UP_AFTER_SUCCESSES = 2
    assert probe(m, "a", OK, 33.0) is State.HEALTHY


def test_a_provider_in_back_off_does_not_block_the_inference() -> None:
    """Providers not heard from within the window (a Retry-After back-off) are not waited for."""
    network = Network(False, ["a", "b", "c", "slow"], 2.0)
    m = Monitor([target(s) for s in ("a", "b", "c", "slow")], Rules(), {}, 0.0, network=network)
    probe(m, "slow", Outcome.HTTP_429, 0.0)
    for slug in "abc":
        probe(m, slug, REFUSED, 10.0)
    assert m.publish(10.0).offline


def test_old_slow_answers_say_nothing_about_now() -> None:
    """The last 3 successful probes count for slowness only within 5 minutes: a provider that
    only rate-limits since is not `slow` on answers from an hour ago."""
    m = monitor()
    feed(m, [(OK, SLOW)] * 3, 0.0)
    assert m.publish(2.0).providers["p"].reason == "slow"
    later = feed(m, [(Outcome.HTTP_429, 0.01)], 3600.0)
    assert later[0][1:] == (State.DEGRADED, "rate_limited")


def test_one_blip_after_a_recovery_is_not_partly_failing() -> None:
    """One failed check among the few since the provider left `down` is no share: it stays
    healthy; a second failure makes it degraded ("failing")."""
    m = monitor()
    feed(m, [(OK, FAST)] * 10 + [(REFUSED, 0.0)] * 4 + [(OK, FAST)] * 3, 0.0)
    assert m.publish(16.0).providers["p"].state is State.HEALTHY
    blip = feed(m, [(E503, 0.01), (OK, FAST), (OK, FAST)], 17.0)
    assert [state for _, state, _ in blip] == [State.HEALTHY] * 3
    second = feed(m, [(E503, 0.01)], 20.0)
    assert second[0][1:] == (State.DEGRADED, "failing")
