"""End to end: the real exporter process probing a fake upstream, read through /metrics."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import upstream as fake
from tests.support.process import BASE_ENV, ExporterProcess, Samples
from tests.support.upstream import FakeUpstream

KEY = "canary-0123456789abcdef"
STATES = ("healthy", "degraded", "down", "unknown", "unconfigured")


def env_for(upstream: FakeUpstream, routes: dict[str, str], **extra: str) -> dict[str, str]:
    """Point built-in providers at routes of the fake upstream, each with a key."""
    env = dict(extra)
    for slug, route in routes.items():
        prefix = slug.upper().replace("-", "_")
        env[f"{prefix}_API_KEY"] = KEY
        env[f"{prefix}_BASE_URL"] = upstream.base_url(route)
    return env


def state_of(samples: Samples, provider: str) -> str | None:
    current = [
        s
        for s in STATES
        if samples.get("gatewayz_provider_status", provider=provider, status=s) == 1
    ]
    return current[0] if current else None


async def test_metrics_contract(upstream: FakeUpstream) -> None:
    """Each provider's series follow the contract, with no sample where there is no data."""
    upstream.set("ok", fake.ok(("gpt-4o", "gpt-4o-mini")))
    upstream.set("limited", fake.status(429, {"Retry-After": "1"}))
    upstream.set("refused", fake.status(401))
    env = env_for(
        upstream,
        {"openai": "ok", "anthropic": "limited", "together": "refused"},
        PROVIDERS="openai,anthropic,together,fireworks",
        PROBE_INTERVAL_SECONDS="0.5",
        MODELS="openai:gpt-4o,openai:gpt-5",
    )
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(
            lambda s: (
                s.get("gatewayz_provider_probes_total", provider="openai", outcome="ok") >= 2
                and state_of(s, "together") == "unconfigured"
                and state_of(s, "anthropic") == "degraded"
            ),
            timeout=15,
        )
        code, _, _ = await exporter.get("/readyz")
        assert code == 200
    # healthy provider: every series present
    assert m.get("provider_availability", provider="openai") == 1
    assert m.get("provider_error_rate", provider="openai") == 0
    assert m.get("gatewayz_provider_availability_ratio", provider="openai", window="24h") == 1
    assert 0.9 < m.get("gatewayz_provider_health_score", provider="openai") <= 1
    assert m.get("gatewayz_model_uptime_24h", provider="openai", model="gpt-4o") == 1
    assert m.get("gatewayz_model_uptime_24h", provider="openai", model="gpt-5") == 0
    assert m.get("provider_response_time_seconds_count", provider="openai") >= 2
    assert m.get("gatewayz_provider_models_listed", provider="openai") == 2
    assert {
        lbl["status"] for lbl, v in m.all("gatewayz_provider_status", provider="openai")
    } == set(STATES)
    # rate limited: degraded and up, but no availability data (a 429 is not a check)
    assert m.get("provider_availability", provider="anthropic") == 1
    assert m.get("gatewayz_provider_availability_ratio", provider="anthropic", window="5m") is None
    assert m.get("provider_error_rate", provider="anthropic") is None
    # key refused: unconfigured, no availability, no score
    assert m.get("provider_availability", provider="together") is None
    assert m.get("gatewayz_provider_health_score", provider="together") is None
    # no key at all: unconfigured, never probed
    assert state_of(m, "fireworks") == "unconfigured"
    assert m.get("gatewayz_provider_probes_total", provider="fireworks", outcome="ok") is None
    assert upstream.count("refused") >= 1
    assert m.all("provider_exporter_build_info")[0][1] == 1
    assert m.get("provider_exporter_providers", state="unconfigured") == 2
    assert KEY not in "\n".join(exporter.logs())


async def test_exposition_formats(upstream: FakeUpstream) -> None:
    """/metrics speaks text and OpenMetrics, and gzips when asked."""
    upstream.set("ok", fake.ok())
    async with ExporterProcess(env_for(upstream, {"openai": "ok"})) as exporter:
        code, headers, body = await exporter.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
        assert code == 200
        assert headers["Content-Type"].startswith("application/openmetrics-text")
        assert body.rstrip().endswith(b"# EOF")
        code, headers, body = await exporter.get(
            "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
        )
        assert headers["Content-Encoding"] == "gzip"
        assert b"gatewayz_provider_status" in gzip.decompress(body)
        code, _, body = await exporter.get("/healthz")
        assert code == 200


async def test_outage_seen_within_two_intervals(upstream: FakeUpstream) -> None:
    """503s make availability 0 within 2 intervals + 2 s, and 1 again as fast after recovery."""
    upstream.set("p", fake.ok())
    env = env_for(upstream, {"groq": "p"}, PROBE_INTERVAL_SECONDS="1")
    async with ExporterProcess(env) as exporter:
        await exporter.wait_for(lambda s: s.get("provider_availability", provider="groq") == 1, 10)
        await asyncio.sleep(1.5)
        upstream.set("p", fake.status(503))
        down, m = await exporter.wait_for(
            lambda s: s.get("provider_availability", provider="groq") == 0, 4.0
        )
        assert state_of(m, "groq") == "down"
        upstream.set("p", fake.ok())
        up, _ = await exporter.wait_for(
            lambda s: s.get("provider_availability", provider="groq") == 1, 4.0
        )
    print(f"503 outage seen after {down:.2f}s, recovery after {up:.2f}s")
    events = [json.loads(line) for line in exporter.logs() if "provider_state_changed" in line]
    into_down, out_of_down = events[-2:]
    assert (into_down["to"], into_down["reason"]) == ("down", "http_5xx")
    # right after an outage the 5-minute error ratio may still say "degraded"
    assert (out_of_down["from"], out_of_down["to"] in ("healthy", "degraded")) == ("down", True)


async def test_refused_connections_seen_within_two_intervals() -> None:
    """A provider whose port starts refusing connections is down within 2 intervals + 2 s."""
    server = await FakeUpstream().start()
    port = server.port
    server.set("p", fake.ok())
    env = {
        "GROQ_API_KEY": KEY,
        "GROQ_BASE_URL": server.base_url("p"),
        "PROBE_INTERVAL_SECONDS": "1",
    }
    try:
        async with ExporterProcess(env) as exporter:
            await exporter.wait_for(
                lambda s: s.get("provider_availability", provider="groq") == 1, 10
            )
            await server.stop()
            down, m = await exporter.wait_for(
                lambda s: s.get("provider_availability", provider="groq") == 0, 4.0
            )
            assert (
                m.get("gatewayz_provider_probes_total", provider="groq", outcome="connect_error")
                >= 1
            )
            server = FakeUpstream()
            server.port = port
            await _restart_on(server, port)
            server.set("p", fake.ok())
            up, _ = await exporter.wait_for(
                lambda s: s.get("provider_availability", provider="groq") == 1, 4.0
            )
        print(f"refused outage seen after {down:.2f}s, recovery after {up:.2f}s")
    finally:
        await server.stop()


async def _restart_on(server: FakeUpstream, port: int) -> None:
    from aiohttp import web

    app = web.Application()
    app.router.add_get("/{name}/{tail:.*}", server._handle)
    server._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await server._runner.setup()
    await web.TCPSite(server._runner, "127.0.0.1", port, reuse_address=True).start()


@pytest.mark.slow
async def test_slow_provider_is_degraded_not_down(upstream: FakeUpstream) -> None:
    """A provider answering in 8 s against a 10 s timeout is degraded, not down."""
    upstream.set("slow", fake.ok(delay=8.0))
    env = env_for(
        upstream, {"cerebras": "slow"}, PROBE_INTERVAL_SECONDS="2", PROBE_TIMEOUT_SECONDS="10"
    )
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(lambda s: state_of(s, "cerebras") == "degraded", 15)
    assert m.get("provider_availability", provider="cerebras") == 1
    assert m.get("gatewayz_provider_probes_total", provider="cerebras", outcome="ok") >= 1
    assert (
        m.get("gatewayz_provider_health_score_component", provider="cerebras", component="latency")
        == 0
    )


@pytest.mark.slow
async def test_random_failures_never_read_as_down(upstream: FakeUpstream) -> None:
    """Under 5 % random, independent 503s over 300+ probes the provider is never down."""
    upstream.set("flaky", fake.flaky(0.05, seed=20261129))
    env = env_for(upstream, {"xai": "flaky"}, PROBE_INTERVAL_SECONDS="0.05")
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(
            lambda s: (
                sum(v for _, v in s.all("gatewayz_provider_probes_total", provider="xai")) >= 320
            ),
            timeout=90,
            interval=0.5,
        )
    failures = m.get("gatewayz_provider_probes_total", provider="xai", outcome="http_5xx")
    total = sum(v for _, v in m.all("gatewayz_provider_probes_total", provider="xai"))
    print(f"{total:.0f} probes, {failures:.0f} failures")
    assert failures >= 5  # the faults really happened
    changes = [json.loads(line) for line in exporter.logs() if "provider_state_changed" in line]
    assert "down" not in {e["to"] for e in changes}


async def test_hanging_provider_delays_no_one(upstream: FakeUpstream) -> None:
    """A hanging provider never delays the others: probe lag stays under 1 s."""
    upstream.set("hang", fake.hang())
    upstream.set("ok", fake.ok())
    routes = {"openai": "hang", "groq": "ok", "together": "ok", "deepseek": "ok"}
    env = env_for(upstream, routes, PROBE_INTERVAL_SECONDS="0.5", PROBE_TIMEOUT_SECONDS="3")
    async with ExporterProcess(env) as exporter:
        await asyncio.sleep(8)
        m = await exporter.metrics()
    for slug in ("groq", "together", "deepseek"):
        assert m.get("gatewayz_provider_probes_total", provider=slug, outcome="ok") >= 12
    assert m.get("gatewayz_provider_probes_total", provider="openai", outcome="timeout") >= 2
    lag_total = m.get("provider_exporter_probe_lag_seconds_count")
    under_one = m.get("provider_exporter_probe_lag_seconds_bucket", le="1.0")
    assert lag_total > 40
    assert under_one == lag_total


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", *args],
        env={**BASE_ENV, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_bad_configuration_exits_2() -> None:
    """A bad value stops start-up with exit 2 and one readable line per problem, no traceback."""
    result = run_cli(env={"PORT": "http", "PROBE_TIMEOUT_SECONDS": "-3", "OPENAI_API_KEY": KEY})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("configuration error: PORT: ")
    assert lines[1].startswith("configuration error: PROBE_TIMEOUT_SECONDS: ")
    assert "Traceback" not in result.stderr


def test_check_config_masks_keys() -> None:
    """check-config prints the resolved providers without any key."""
    proxy = "http://user:proxy-secret-123@127.0.0.1:9/v1"
    env = {"OPENAI_API_KEY": KEY, "PROVIDERS": "openai,groq", "OPENAI_BASE_URL": proxy}
    result = run_cli("check-config", env=env)
    assert result.returncode == 0
    assert "proxy-secret-123" not in result.stdout
    assert "http://***@127.0.0.1:9/v1/models" in result.stdout
    assert "openai" in result.stdout
    assert "groq" in result.stdout
    assert "unconfigured" in result.stdout
    assert KEY not in result.stdout + result.stderr


async def test_each_provider_is_probed_at_its_own_interval(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """GROQ_PROBE_INTERVAL_SECONDS=0.25 and a PROVIDERS_FILE entry's probe_interval_seconds of
    2 beside the global 1 s: each provider's requests at the upstream follow its own interval,
    and /metrics says which interval each has."""
    path = tmp_path / "providers.yaml"
    path.write_text(
        "providers:\n  - slug: my-llm\n"
        f"    base_url: {upstream.base_url('mine')}\n"
        "    probe_interval_seconds: 2\n"
    )
    for route in ("fast", "global", "mine"):
        upstream.set(route, fake.ok())
    env = env_for(
        upstream,
        {"groq": "fast", "openai": "global"},
        PROVIDERS="groq,openai,my-llm",
        PROVIDERS_FILE=str(path),
        MY_LLM_API_KEY=KEY,
        PROBE_INTERVAL_SECONDS="1",
        GROQ_PROBE_INTERVAL_SECONDS="0.25",
    )
    async with ExporterProcess(env) as exporter:
        await exporter.wait_for(lambda m: m.get("provider_exporter_ready") == 1, timeout=10)
        before = {route: upstream.count(route) for route in ("fast", "global", "mine")}
        await asyncio.sleep(8)
        counts = {route: upstream.count(route) - before[route] for route in before}
        samples = await exporter.metrics()
    print(f"requests in 8 s: {counts}")
    assert 24 <= counts["fast"] <= 36  # 32 at 0.25 s (jitter adds up to 10 % per interval)
    assert 6 <= counts["global"] <= 9  # 8 at 1 s
    assert 3 <= counts["mine"] <= 5  # 4 at 2 s
    intervals = {
        slug: samples.get("gatewayz_provider_probe_interval_seconds", provider=slug)
        for slug in ("groq", "openai", "my-llm")
    }
    assert intervals == {"groq": 0.25, "openai": 1.0, "my-llm": 2.0}
