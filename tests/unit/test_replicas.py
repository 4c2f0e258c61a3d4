"""Replicas' pure parts: who owns a provider, the shared-result codec, and how a peer's probe
moves a replica's windows and state but not its counters."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from pydantic import SecretStr

from exporter.catalog import ProviderSpec
from exporter.judgement.monitor import Monitor
from exporter.judgement.scoring import Health, Rules, State
from exporter.outcomes import Outcome
from exporter.probing.inference import InferenceResult
from exporter.probing.model_lists import ModelList
from exporter.probing.probes import ProbeResult
from exporter.running.shared_results import SharedResults, backoff_of, decode, encode
from exporter.stored.history import Position
from exporter.stored.replicas import owner, scope
from exporter.targets import Target

T0 = 1_800_000_000.0
SLUGS = [f"p{i:03d}" for i in range(300)]


def target(slug: str) -> Target:
    spec = ProviderSpec(slug, "http://127.0.0.1:9/v1")
    return Target(spec, spec.probe_url(), SecretStr("k"))


def test_every_provider_has_one_owner_and_shares_are_even() -> None:
    replicas = ["a", "b", "c"]
    shares = Counter(owner(slug, replicas) for slug in SLUGS)
    assert set(shares) == set(replicas)
    assert all(80 <= n <= 120 for n in shares.values()), shares  # 100 each, give or take
    assert owner("p001", ["c", "a", "b"]) == owner("p001", replicas)  # order does not matter


def test_only_the_providers_of_a_replica_that_leaves_or_joins_move() -> None:
    before = {slug: owner(slug, ["a", "b", "c"]) for slug in SLUGS}
    after = {slug: owner(slug, ["a", "b"]) for slug in SLUGS}
    moved = {slug for slug in SLUGS if before[slug] != after[slug]}
    assert moved == {slug for slug in SLUGS if before[slug] == "c"}
    joined = {slug: owner(slug, ["a", "b", "c", "d"]) for slug in SLUGS}
    assert all(joined[s] in (before[s], "d") for s in SLUGS)


def test_each_vantage_keeps_its_own_keys() -> None:
    assert scope("provider_exporter:", "default") == "provider_exporter:"
    assert scope("provider_exporter:", "eu-west") == "provider_exporter:eu-west:"


def test_a_list_probe_and_its_state_survive_the_stream() -> None:
    listed = ModelList(2, ("m1", "m2"), frozenset({"m1"}), False)
    result = ProbeResult("p", Outcome.OK, T0, 0.2, 200, {"connect": 0.01}, listed, None, "", "ab")
    health = Health(State.DEGRADED, T0 - 5, "slow", 0, 3)
    entry = encode("me", result, health, T0 - 60, False)
    assert all(isinstance(value, str) for value in entry.values())  # a stream field is text
    assert decode(entry) == (result, health, T0 - 60, False)
    never = encode("me", result, health, -math.inf, True)
    assert decode(never)[2:] == (-math.inf, True)


def test_an_inference_probe_survives_the_stream() -> None:
    result = InferenceResult("p", "m", Outcome.HTTP_429, T0, 0.1, 429, retry_after=30.0)
    health = Health(State.HEALTHY, T0, "ok")
    assert decode(encode("me", result, health, T0, False)) == (result, health, T0, False)
    assert backoff_of(result) == 30.0


@pytest.mark.parametrize(
    "entry",
    [
        {},
        {"kind": "list", "result": "not json", "health": "{}", "ignored": "0"},
        {"kind": "list", "result": '{"slug": "p"}', "health": "{}", "ignored": "0"},
        {"kind": "other", "result": "{}", "health": "{}", "ignored": "0"},
        {"kind": "list", "result": "[]", "health": "[]", "ignored": "0"},
    ],
)
def test_an_entry_this_version_did_not_write_is_refused(entry: dict[str, str]) -> None:
    with pytest.raises((ValueError, KeyError, TypeError, AttributeError)):
        decode(entry)


def test_a_peers_probe_moves_windows_and_state_but_not_counters() -> None:
    mon = Monitor([target("p")], Rules(), {}, T0)
    result = ProbeResult("p", Outcome.HTTP_5XX, T0 + 1, 0.1, 503)
    down = Health(State.DOWN, T0 + 1, "http_5xx", 4, 0)
    transition = mon.apply_shared(result, down, -math.inf, False, T0 + 1)
    assert transition is not None and transition.new is State.DOWN
    view = mon.publish(T0 + 2).providers["p"]
    assert view.state is State.DOWN and view.available == 0
    assert view.availability["5m"] == 0.0  # the window counted it
    assert view.checks_down == 0 and sum(view.probes.values()) == 0  # the counters did not
    assert view.last_outcome is Outcome.HTTP_5XX


def test_garbage_in_the_stream_is_counted_once_and_skipped() -> None:
    mon = Monitor([target("p")], Rules(), {}, T0)
    shared = SharedResults(None, "k", "me", mon, length=10, now=lambda: T0)  # type: ignore[arg-type]
    shared.take({"replica": "peer", "kind": "list", "result": "{", "health": "{}"})
    shared.take({"replica": "peer", "kind": "list"})
    ok = ProbeResult("p", Outcome.OK, T0 - 1, 0.5, 200)
    shared.take(encode("peer", ok, Health(State.HEALTHY, T0, ""), T0, False))
    assert shared.lag == pytest.approx(0.5)  # judged at T0 - 0.5, taken in at T0
    shared.take(encode("me", ok, Health(State.DOWN, T0, ""), T0, False))  # its own: skipped
    unknown = ProbeResult("elsewhere", Outcome.OK, T0, 0.1, 200)
    shared.take(encode("peer", unknown, Health(State.HEALTHY, T0, ""), T0, False))
    assert shared.unreadable == 2
    assert mon.publish(T0).providers["p"].state is State.HEALTHY


def test_an_entry_from_a_newer_version_with_more_fields_is_read() -> None:
    result = ProbeResult("p", Outcome.OK, T0, 0.2, 200)
    entry = encode("peer", result, Health(State.HEALTHY, T0, ""), T0, False)
    entry["result"] = entry["result"][:-1] + ',"new_field":1}'
    assert decode(entry)[0] == result


def test_a_long_model_list_travels_as_a_short_sample() -> None:
    names = tuple(f"m{i}" for i in range(500))
    listed = ModelList(500, names, frozenset({"m1"}), True)
    entry = encode(
        "me",
        ProbeResult("p", Outcome.OK, T0, 0.2, 200, models=listed),
        Health(State.HEALTHY, T0, ""),
        T0,
        False,
    )
    models = decode(entry)[0].models  # type: ignore[union-attr]
    assert models is not None and models.count == 500 and models.watched_seen == {"m1"}
    assert len(models.sample) == 20 and len(entry["result"]) < 1000


def test_the_position_saved_with_the_history_reads_back() -> None:
    position = Position("1796641026123-4", "host-1-abc", T0 + 0.25)
    assert Position.decode(position.encode()) == position
    for garbage in ("", "1-0", "x-1 r 1.0", "1-0 r nan", "1-0 r soon", "1-0 r 1 extra"):
        assert Position.decode(garbage) is None


def test_restored_windows_own_results_are_not_counted_twice() -> None:
    mon = Monitor([target("p")], Rules(), {}, T0)
    shared = SharedResults(None, "k", "me", mon, length=10, now=lambda: T0 + 10)  # type: ignore[arg-type]
    shared.resume(Position("5-0", "old-me", T0 + 5))
    healthy = Health(State.HEALTHY, T0, "ok")
    before = ProbeResult("p", Outcome.HTTP_5XX, T0 + 3, 0.1, 503)  # saved with the history
    after = ProbeResult("p", Outcome.HTTP_5XX, T0 + 6, 0.1, 503)  # judged after the save
    shared.take(encode("old-me", before, healthy, -math.inf, False))
    assert mon.publish(T0 + 10).providers["p"].availability["5m"] is None  # skipped
    shared.take(encode("old-me", after, healthy, -math.inf, False))
    assert mon.publish(T0 + 11).providers["p"].availability["5m"] == 0.0  # taken in
    assert shared.position == "5-0"


def test_a_new_replica_stands_where_its_peers_left_a_provider_until_it_sees_a_probe() -> None:
    mon = Monitor([target("p")], Rules(), {}, T0)
    mon.adopt_state("p", "", Health(State.DOWN, T0 - 30, "http_5xx", 4, 0), T0 - 60, T0)
    assert mon.publish(T0).providers["p"].state is State.DOWN  # not `unknown`
    ok = ProbeResult("p", Outcome.OK, T0 + 1, 0.1, 200)
    mon.apply_shared(ok, Health(State.HEALTHY, T0 + 1, "ok"), T0 + 1, False, T0 + 1)
    mon.adopt_state("p", "", Health(State.DOWN, T0, "http_5xx", 4, 0), T0, T0 + 2)  # stale
    assert mon.publish(T0 + 2).providers["p"].state is State.HEALTHY
