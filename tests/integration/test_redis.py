"""The backend's Redis as a passive source, and history that survives restarts — real redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import pytest
import redis as redis_sync
from pydantic import SecretStr
from redis.asyncio import Redis

from exporter.catalog import ProviderSpec
from exporter.judgement.monitor import Monitor
from exporter.judgement.scoring import Rules
from exporter.outcomes import Outcome
from exporter.probing.model_lists import ModelList
from exporter.probing.probes import ProbeResult
from exporter.stored.history import HistoryStore
from exporter.stored.redis_source import RedisSource
from exporter.targets import Target
from tests.support import upstream as fake
from tests.support.backend import Backend, hour_key
from tests.support.completions import Completions
from tests.support.process import ExporterProcess, Samples
from tests.support.redis_server import RedisServer
from tests.support.upstream import FakeUpstream

KEY = "canary-redis-0123456789"


# The restart tests stall the provider, so that what the restarted exporter shows can only come
# from Redis: no probe concludes before its timeout, and the wait for the restore ends well
# before that (a CI run once did not see the restore within 2.5 s).
STALL_TIMEOUT = 30
RESTORE_WAIT = 20.0


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A fresh redis-server for this module, on a free port."""
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def backend(redis_server: RedisServer) -> Iterator[Backend]:
    """The backend's writers on an empty Redis."""
    if redis_server.proc is None:
        redis_server.start()
    client = redis_server.client()
    client.flushall()
    yield Backend(client)
    client.close()


def env(upstream: FakeUpstream, server: RedisServer, **extra: str) -> dict[str, str]:
    values = {
        "GROQ_API_KEY": KEY,
        "GROQ_BASE_URL": upstream.base_url("groq"),
        "TOGETHER_API_KEY": KEY,
        "TOGETHER_BASE_URL": upstream.base_url("together"),
        "REDIS_URL": server.url,
        "REDIS_POLL_INTERVAL_SECONDS": "1",
        "PROBE_INTERVAL_SECONDS": "1",
    }
    values.update(extra)
    return values


def state(samples: Samples, provider: str) -> str | None:
    for lbl, value in samples.all("gatewayz_provider_status", provider=provider):
        if value == 1:
            return lbl["status"]
    return None


async def test_open_breaker_exported_and_degrades(
    upstream: FakeUpstream, redis_server: RedisServer, backend: Backend
) -> None:
    """A breaker written as open shows state="open" 1 within one poll, and the provider degrades."""
    upstream.set("groq", fake.ok())
    upstream.set("together", fake.ok())
    backend.breaker("together", "closed")
    async with ExporterProcess(env(upstream, redis_server)) as exporter:
        await exporter.wait_for(lambda s: state(s, "groq") == "healthy", 10)
        backend.breaker("groq", "open", failures=5)
        waited, m = await exporter.wait_for(
            lambda s: (
                s.get("gatewayz_circuit_breaker_state", provider="groq", state="open") == 1
                and state(s, "groq") == "degraded"
            ),
            timeout=2.5,
        )
    print(f"open breaker seen after {waited:.2f}s")
    assert m.get("gatewayz_circuit_breaker_state", provider="groq", state="closed") == 0
    assert m.get("gatewayz_circuit_breaker_state", provider="groq", state="half_open") == 0
    assert m.get("gatewayz_circuit_breaker_state", provider="together", state="closed") == 1
    assert (
        m.get("gatewayz_provider_health_score_component", provider="groq", component="breaker")
        == 0.5
    )
    assert m.get("gatewayz_provider_health_score", provider="groq") <= 0.5
    assert m.get("provider_exporter_redis_up") == 1
    events = [json.loads(line) for line in exporter.logs() if "provider_state_changed" in line]
    groq = [e for e in events if e["provider"] == "groq"]  # other providers log their own changes
    assert {"to": "degraded", "reason": "breaker_open"}.items() <= groq[-1].items()


async def test_absent_breaker_has_no_series(
    upstream: FakeUpstream, redis_server: RedisServer, backend: Backend
) -> None:
    """No breaker key means no breaker series (absent is not closed)."""
    upstream.set("groq", fake.ok())
    upstream.set("together", fake.ok())
    async with ExporterProcess(env(upstream, redis_server)) as exporter:
        _, m = await exporter.wait_for(lambda s: s.get("provider_exporter_redis_up") == 1, 10)
    assert m.all("gatewayz_circuit_breaker_state") == []
    assert m.get("gatewayz_gateway_requests_last_hour", provider="groq") is None


async def test_gateway_traffic(
    upstream: FakeUpstream, redis_server: RedisServer, backend: Backend
) -> None:
    """Hourly counters and recent latency samples become per-provider traffic series."""
    upstream.set("groq", fake.ok())
    upstream.set("together", fake.ok())
    now = time.time()
    for latency in (100, 200, 300, 400, 500):
        backend.request("google_vertex", "gemini", latency)  # a backend spelling
        backend.request("groq", "llama", latency)
    backend.request("groq", "llama", 9000, at=now - 2 * 3600)  # stale: older than an hour
    backend.r.hincrby(f"metrics:groq:{hour_key(now)}", "failed_requests", 2)
    async with ExporterProcess(env(upstream, redis_server, PROVIDERS="groq,together")) as exporter:
        _, m = await exporter.wait_for(lambda s: s.get("provider_exporter_redis_up") == 1, 10)
        _, _, body = await exporter.get("/api/v1/providers/groq")
        _, _, quiet = await exporter.get("/api/v1/providers/together")
    gateway = json.loads(body)["gateway"]
    assert 5 <= gateway["requests_last_hour"] <= 6
    assert gateway["latency_seconds"]["p50"] == 0.3
    assert json.loads(quiet)["gateway"] is None  # nothing recorded: null, not zeros
    requests = m.get("gatewayz_gateway_requests_last_hour", provider="groq")
    assert 5 <= requests <= 6  # this hour's 5, plus the share of the previous hour still in range
    assert m.get("gatewayz_gateway_failed_requests_last_hour", provider="groq") >= 2
    assert m.get("gatewayz_gateway_latency_seconds", provider="groq", quantile="0.5") == 0.3
    assert m.get("gatewayz_gateway_latency_seconds", provider="groq", quantile="0.99") < 1
    assert m.get("provider_exporter_redis_keys_read") >= 3
    # gateway failures count in the error rate: 2 failures in 5 requests
    assert m.get("provider_error_rate", provider="groq") == pytest.approx(0.4, abs=0.05)


async def test_garbage_is_counted_logged_once_and_harmless(
    upstream: FakeUpstream, redis_server: RedisServer, backend: Backend
) -> None:
    """Values that do not parse are counted per pattern, logged once, and never stop anything."""
    upstream.set("groq", fake.ok())
    upstream.set("together", fake.ok())
    backend.r.set("circuit_breaker:groq:state", "banana")
    backend.r.hset(f"metrics:groq:{hour_key(time.time())}", mapping={"total_requests": "many"})
    backend.r.zadd("latency:groq:llama", {"fast": time.time(), "120": time.time()})
    backend.r.set("health:providers", "[" * 100_000)  # nested deeper than a parser recurses
    backend.r.hset("latency:groq:not-a-zset", mapping={"a": "1"})  # WRONGTYPE for ZRANGEBYSCORE
    redis_sync.Redis(port=redis_server.port).zadd("latency:groq:binary", {b"\xff\xfe": time.time()})
    backend.r.set("health:models", json.dumps({"models": "nope"}))
    async with ExporterProcess(env(upstream, redis_server)) as exporter:
        await asyncio.sleep(3.5)
        m = await exporter.metrics()
    assert m.get("provider_exporter_redis_up") == 1
    for pattern in (
        "circuit_breaker:{provider}:state",
        "metrics:{provider}:{hour}",
        "latency:{provider}:{model}",
        "health:providers",
        "health:models",
    ):
        assert m.get("provider_exporter_redis_parse_errors_total", pattern=pattern) >= 2, pattern
    assert m.get("gatewayz_gateway_latency_seconds", provider="groq", quantile="0.5") == 0.12
    assert m.all("gatewayz_circuit_breaker_state", provider="groq") == []
    assert state(m, "groq") == "healthy"
    warnings = [line for line in exporter.logs() if "redis_value_unparsable" in line]
    assert len(warnings) == 5  # once per pattern, not once per poll


async def test_redis_going_away_and_coming_back(
    upstream: FakeUpstream, redis_server: RedisServer, backend: Backend
) -> None:
    """Redis stopped for 30 s: every scrape works, no probe is missed, redis_up is 0 during it and
    1 again within two poll intervals after."""
    upstream.set("groq", fake.ok())
    upstream.set("together", fake.ok())
    backend.breaker("groq", "closed")
    async with ExporterProcess(env(upstream, redis_server)) as exporter:
        await exporter.wait_for(lambda s: s.get("provider_exporter_redis_up") == 1, 10)
        redis_server.stop()
        outage_start = time.monotonic()
        _, during = await exporter.wait_for(lambda s: s.get("provider_exporter_redis_up") == 0, 5)
        probes_before = during.get("gatewayz_provider_probes_total", provider="groq", outcome="ok")
        scrapes = 0
        while time.monotonic() - outage_start < 30:
            m = await exporter.metrics()  # raises on a failed scrape
            assert m.get("provider_exporter_redis_up") == 0
            assert m.all("gatewayz_circuit_breaker_state") == []  # not read, so left out
            scrapes += 1
            await asyncio.sleep(0.2)
        probes_during = m.get("gatewayz_provider_probes_total", provider="groq", outcome="ok")
        outage = time.monotonic() - outage_start
        assert probes_during - probes_before >= outage - 3  # one a second, none skipped
        lag_count = m.get("provider_exporter_probe_lag_seconds_count")
        assert m.get("provider_exporter_probe_lag_seconds_bucket", le="1.0") == lag_count
        redis_server.start()
        Backend(redis_server.client()).breaker("groq", "closed")
        back, m = await exporter.wait_for(lambda s: s.get("provider_exporter_redis_up") == 1, 2.0)
        code, _, _ = await exporter.get("/readyz")
    print(f"{scrapes} scrapes during the outage; redis_up back after {back:.2f}s")
    assert code == 200
    assert m.get("gatewayz_circuit_breaker_state", provider="groq", state="closed") == 1
    assert sum(1 for line in exporter.logs() if "redis_unavailable" in line) == 1


async def test_redis_absent_at_start(upstream: FakeUpstream) -> None:
    """With Redis unreachable from the start the exporter still probes, serves and is ready."""
    upstream.set("groq", fake.ok())
    upstream.set("together", fake.ok())
    values = env(upstream, RedisServer())  # never started: connections are refused
    async with ExporterProcess(values) as exporter:
        _, m = await exporter.wait_for(lambda s: s.get("provider_exporter_ready") == 1, 10)
        code, _, _ = await exporter.get("/readyz")
    assert code == 200
    assert m.get("provider_availability", provider="groq") == 1
    assert m.get("provider_exporter_redis_up") == 0


async def test_history_survives_restart(
    upstream: FakeUpstream, redis_server: RedisServer, backend: Backend
) -> None:
    """After a restart the 24 h availability and model uptime continue where they were."""
    upstream.set("groq", fake.flaky(0.3, seed=3, models=("llama",)))
    upstream.set("together", fake.ok())
    values = env(
        upstream,
        redis_server,
        PROBE_INTERVAL_SECONDS="0.1",
        PROBE_TIMEOUT_SECONDS=str(STALL_TIMEOUT),
        MODELS="groq:llama",
        HISTORY_FLUSH_INTERVAL_SECONDS="600",  # only the flush on SIGTERM
    )
    async with ExporterProcess(values) as first:
        await asyncio.sleep(6)
        upstream.set("groq", fake.hang())  # from here on no probe of groq concludes (timeout)
        await asyncio.sleep(0.5)
        before = await first.metrics()
    async with ExporterProcess(values) as second:
        _, after = await second.wait_for(
            lambda s: (
                s.get("gatewayz_provider_availability_ratio", provider="groq", window="24h")
                is not None
            ),
            timeout=RESTORE_WAIT,  # restored from Redis; no probe of groq concludes this soon
        )
    ratio_before = before.get("gatewayz_provider_availability_ratio", provider="groq", window="24h")
    ratio_after = after.get("gatewayz_provider_availability_ratio", provider="groq", window="24h")
    checks = sum(v for _, v in before.all("gatewayz_provider_checks_total", provider="groq"))
    print(f"24h ratio {ratio_before:.4f} before, {ratio_after:.4f} after; {checks:.0f} checks")
    assert checks > 20
    assert abs(ratio_after - ratio_before) <= 1 / checks  # ±1 probe
    uptime_before = before.get("gatewayz_model_uptime_24h", provider="groq", model="llama")
    uptime_after = after.get("gatewayz_model_uptime_24h", provider="groq", model="llama")
    assert abs(uptime_after - uptime_before) <= 1 / checks
    assert 0 < redis_server.client().ttl("provider_exporter:history:groq") <= 25 * 3600


async def test_an_hour_of_history_restored_exactly(
    redis_server: RedisServer, backend: Backend
) -> None:
    """An hour of simulated probes saved to Redis restores to the same ratios in a new monitor."""
    spec_target = _target("groq")
    t0 = 1_800_000_000.0
    first = Monitor([spec_target], Rules(), {"groq": ("llama",)}, t0)
    for i in range(240):  # an hour at 15 s
        outcome = Outcome.HTTP_5XX if i % 7 == 0 else Outcome.OK
        first.record(_result("groq", outcome, t0 + i * 15), t0 + i * 15)
    now = t0 + 3600
    client = Redis.from_url(redis_server.url, decode_responses=True)
    store = HistoryStore(client, "provider_exporter:")
    await store.save(first.history_records(now))
    second = Monitor([spec_target], Rules(), {"groq": ("llama",)}, now)
    records, bad = await store.load(["groq"])
    second.restore_history(records, now)
    await client.aclose()
    view_a = first.refresh(now).providers["groq"]
    view_b = second.snapshot.providers["groq"]
    assert bad == 0
    assert view_b.availability == view_a.availability
    assert view_b.model_uptime == view_a.model_uptime
    assert view_a.availability["24h"] == pytest.approx(1 - 35 / 240)


async def test_scan_over_100k_unrelated_keys(redis_server: RedisServer, backend: Backend) -> None:
    """A poll among 100 000 unrelated keys stays within the poll budget and reads only ours."""
    client = backend.r
    pipe = client.pipeline(transaction=False)
    for i in range(100_000):
        pipe.set(f"user:session:{i}", "x")
        if i % 10_000 == 9_999:
            pipe.execute()
    providers = [f"p{i}" for i in range(100)]
    for provider in providers:
        backend.breaker(provider, "closed")
        backend.request(provider, "m", 150)
    async_client = Redis.from_url(redis_server.url, decode_responses=True)
    source = RedisSource(async_client, providers, max_keys=20_000)
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        view = await asyncio.wait_for(source.poll(time.time()), 5.0)  # the default budget
        timings.append(time.perf_counter() - started)
    capped = await RedisSource(async_client, providers, max_keys=10).poll(time.time())
    await async_client.aclose()
    print(f"poll with 100k unrelated keys: median {sorted(timings)[2] * 1000:.0f} ms")
    assert len(view.breakers) == 100
    assert len(view.traffic) == 100
    assert view.traffic["p7"].latency[0.5] == 0.15
    assert capped.keys_read <= 100 * 3 + 10  # direct reads plus at most 10 scanned keys


async def test_backend_keys_are_never_written(
    upstream: FakeUpstream, redis_server: RedisServer, backend: Backend
) -> None:
    """The exporter only reads the backend's keys; it writes only under its own prefix."""
    upstream.set("groq", fake.ok())
    upstream.set("together", fake.ok())
    backend.breaker("groq", "open")
    backend.request("groq", "llama", 100)
    backend.health_providers([{"provider": "groq", "status": "online"}])
    before = redis_server.keys_dump()
    async with ExporterProcess(
        env(upstream, redis_server, HISTORY_FLUSH_INTERVAL_SECONDS="1")
    ) as exporter:
        await asyncio.sleep(3)
        m = await exporter.metrics()
    after = redis_server.keys_dump()
    ours = {k for k in after if k.startswith("provider_exporter:")}
    assert {k: v for k, v in after.items() if k not in ours} == before
    # the windows, the shared results and how far the windows include them; the replica set
    # is left on the way out (the replica's lease ends with it)
    assert ours == {
        "provider_exporter:history:groq",
        "provider_exporter:history:together",
        "provider_exporter:history_position",
        "provider_exporter:results",
    }
    assert m.get("gatewayz_backend_provider_status", provider="groq", status="online") == 1


def _target(slug: str) -> Target:
    spec = ProviderSpec(slug, "http://127.0.0.1:9/v1")
    return Target(spec, spec.probe_url(), SecretStr("k"))


def _result(slug: str, outcome: Outcome, at: float) -> ProbeResult:
    models = ModelList(1, ("llama",), frozenset({"llama"}), True) if outcome is Outcome.OK else None
    return ProbeResult(
        slug, outcome, at, 0.1, status=200 if outcome is Outcome.OK else 503, models=models
    )


async def test_history_is_restored_once(redis_server: RedisServer, backend: Backend) -> None:
    """However often the keeper is asked, stored slots are counted once, not once per restore."""
    from exporter.running.passive import HistoryKeeper

    t0 = 1_800_000_000.0
    first = Monitor([_target("groq")], Rules(), {}, t0)
    for i in range(10):
        first.record(_result("groq", Outcome.OK, t0 + i), t0 + i)
    client = Redis.from_url(redis_server.url, decode_responses=True)
    store = HistoryStore(client, "provider_exporter:")
    await store.save(first.history_records(t0 + 10))
    second = Monitor([_target("groq")], Rules(), {}, t0 + 10)
    keeper = HistoryKeeper(store, second, 600, lambda: t0 + 10)
    assert await keeper.restore(["groq"])
    loop_task = asyncio.ensure_future(keeper.run(["groq"]))  # what the service runs next
    await asyncio.sleep(0.3)
    loop_task.cancel()
    await asyncio.gather(loop_task, return_exceptions=True)
    await client.aclose()
    second.record(_result("groq", Outcome.HTTP_5XX, t0 + 11), t0 + 11)
    assert second.publish(t0 + 11).providers["groq"].availability["24h"] == pytest.approx(10 / 11)


class SwallowingRedis(Redis):
    """A real client whose blocking read loses a cancellation, as redis-py 8.2 once did."""

    async def xread(self, *args: object, **kwargs: object) -> object:
        try:
            return await super().xread(*args, **kwargs)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            return []


async def test_shared_results_reader_stops_when_the_client_swallows_its_cancel(
    redis_server: RedisServer,
) -> None:
    """The peers' stream reader is always inside a blocking XREAD, so a cancel the client loses
    would keep it (and the shutdown waiting for it) alive forever: it stops all the same."""
    from exporter.running.shared_results import SharedResults

    client = SwallowingRedis.from_url(redis_server.url, decode_responses=True, socket_timeout=5)
    monitor = Monitor([_target("groq")], Rules(), {}, time.time())
    shared = SharedResults(
        client, "provider_exporter:swallow", "me", monitor, length=10, now=time.time
    )
    reader = asyncio.ensure_future(shared.read())
    await asyncio.sleep(0.3)  # inside the blocking read now
    reader.cancel()
    await asyncio.wait([reader], timeout=5)
    stopped = reader.done()
    await client.aclose()  # a reader still running gets connection errors, then its next cancel
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    assert stopped, "the reader kept reading after its cancellation"


def test_unreadable_redis_changes_no_state() -> None:
    """A failed poll leaves the breaker series out but makes up no transition."""
    from exporter.stored.redis_source import RedisView

    t0 = 1_800_000_000.0
    monitor = Monitor([_target("groq")], Rules(), {}, t0)
    monitor.record(_result("groq", Outcome.OK, t0), t0)
    changes = monitor.set_redis(RedisView(up=True, breakers={"groq": "open"}), t0 + 1)
    assert [c.new.value for c in changes] == ["degraded"]
    assert monitor.set_redis(RedisView(up=False), t0 + 2) == []
    snapshot = monitor.publish(t0 + 2)
    assert snapshot.providers["groq"].state.value == "degraded"
    assert snapshot.redis is not None
    assert snapshot.redis.breakers == {}  # what we could not read is not exported


async def test_inference_history_survives_restart(
    upstream: FakeUpstream, redis_server: RedisServer, backend: Backend
) -> None:
    """An inference-probed model's availability windows (and so its 24 h uptime) are stored
    with the provider's history and continue after a restart."""
    upstream.set("groq", fake.ok(("llama",)))
    upstream.set("together", fake.ok())
    served = Completions("openai")
    upstream.set_post("groq", served)
    values = env(
        upstream,
        redis_server,
        INFERENCE_PROBES="groq:llama",
        INFERENCE_PROBE_INTERVAL_SECONDS="0.2",
        PROBE_TIMEOUT_SECONDS=str(STALL_TIMEOUT),
        HISTORY_FLUSH_INTERVAL_SECONDS="600",  # only the flush on SIGTERM
    )
    uptime = "gatewayz_model_uptime_24h"
    async with ExporterProcess(values) as first:
        await first.wait_for(
            lambda s: (
                (s.get("gatewayz_inference_checks_total", model="llama", result="up") or 0) >= 5
            ),
            timeout=15,
        )
        served.script("llama", status=503)
        await first.wait_for(
            lambda s: (
                (s.get("gatewayz_inference_checks_total", model="llama", result="down") or 0) >= 3
            ),
            timeout=15,
        )
        served.script("llama", status=None, stall_after=0)  # no probe concludes from here on
        await asyncio.sleep(0.5)
        before = await first.metrics()
    async with ExporterProcess(values) as second:
        _, after = await second.wait_for(
            lambda s: s.get(uptime, provider="groq", model="llama") is not None,
            timeout=RESTORE_WAIT,  # restored from Redis; no probe of llama concludes this soon
        )
    ratio_before = before.get(uptime, provider="groq", model="llama")
    assert ratio_before is not None and 0 < ratio_before < 1
    assert after.get(uptime, provider="groq", model="llama") == ratio_before
    window = {"provider": "groq", "model": "llama", "window": "24h"}
    assert after.get("gatewayz_model_availability_ratio", **window) == ratio_before
