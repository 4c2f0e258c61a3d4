"""Inference probes end to end: the real exporter streaming completions from a scripted fake
provider on loopback, in each dialect, read through /metrics and the JSON API."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.integration.test_service import KEY, env_for, run_cli
from tests.integration.test_vertex import TokenServer, service_account, token_server  # noqa: F401
from tests.support import upstream as fake
from tests.support.completions import INPUT_TOKENS, Completions
from tests.support.process import ExporterProcess, Samples
from tests.support.upstream import FakeUpstream

STATES = ("healthy", "degraded", "down", "unknown", "unconfigured")


def model_state(samples: Samples, provider: str, model: str) -> str | None:
    current = [
        s
        for s in STATES
        if samples.get("gatewayz_model_status", provider=provider, model=model, status=s) == 1
    ]
    return current[0] if current else None


def probes(samples: Samples, model: str, outcome: str, provider: str = "openai") -> float:
    value = samples.get(
        "gatewayz_inference_probes_total", provider=provider, model=model, outcome=outcome
    )
    return value or 0.0


def mean(samples: Samples, family: str, model: str, provider: str = "openai") -> float | None:
    total = samples.get(f"{family}_sum", provider=provider, model=model)
    count = samples.get(f"{family}_count", provider=provider, model=model)
    return total / count if total is not None and count else None


def inference_env(upstream: FakeUpstream, pairs: str, **extra: str) -> dict[str, str]:
    settings = {
        "PROVIDERS": "openai",
        "INFERENCE_PROBES": pairs,
        "PROBE_INTERVAL_SECONDS": "1",
        "INFERENCE_PROBE_INTERVAL_SECONDS": "2",
        **extra,
    }
    return env_for(upstream, {"openai": "openai"}, **settings)


@pytest.fixture
def completions(upstream: FakeUpstream) -> Completions:
    upstream.set("openai", fake.ok(("fast", "slow")))
    served = Completions("openai")
    upstream.set_post("openai", served)
    return served


async def test_time_to_first_token_and_speed_as_scripted(
    upstream: FakeUpstream, completions: Completions
) -> None:
    """TTFT 0.5 s and 3 s, 200 and 20 tokens/s at the fake: exported within 10 %."""
    completions.script("fast", ttft=0.5, tokens_per_second=200.0)
    completions.script("slow", ttft=3.0, tokens_per_second=20.0)
    env = inference_env(upstream, "openai:fast,openai:slow", INFERENCE_MAX_OUTPUT_TOKENS="40")
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(
            lambda s: probes(s, "fast", "ok") >= 3 and probes(s, "slow", "ok") >= 3, timeout=40
        )
        speed = "gatewayz_inference_output_tokens_per_second"
        print(
            "ttft",
            mean(m, "gatewayz_inference_ttft_seconds", "fast"),
            mean(m, "gatewayz_inference_ttft_seconds", "slow"),
            "tps",
            mean(m, speed, "fast"),
            mean(m, speed, "slow"),
        )
        assert mean(m, "gatewayz_inference_ttft_seconds", "fast") == pytest.approx(0.5, rel=0.1)
        assert mean(m, "gatewayz_inference_ttft_seconds", "slow") == pytest.approx(3.0, rel=0.1)
        assert mean(m, speed, "fast") == pytest.approx(200.0, rel=0.1)
        assert mean(m, speed, "slow") == pytest.approx(20.0, rel=0.1)
        assert model_state(m, "openai", "fast") == "healthy"
        assert m.get("gatewayz_inference_tokens_total", model="fast", direction="output") == (
            40 * probes(m, "fast", "ok")
        )
        assert m.get("gatewayz_model_availability_ratio", model="fast", window="5m") == 1.0
        assert m.get("gatewayz_model_uptime_24h", provider="openai", model="fast") == 1.0
        code, _, body = await exporter.get("/api/v1/providers/openai")
        assert code == 200
        models = {entry["model"]: entry for entry in json.loads(body)["inference"]}
        assert models["slow"]["state"] == "healthy"
        assert models["slow"]["ttft_seconds"]["p50"] == pytest.approx(3.0, rel=0.1)
        assert models["fast"]["tokens_per_second"] == pytest.approx(200.0, rel=0.1)
    request = completions.bodies[0]
    assert request["stream"] is True and request["max_tokens"] == 40
    assert request["stream_options"] == {"include_usage": True}
    assert "Reply" in request["messages"][0]["content"]


async def test_failing_completions_take_the_provider_down_and_back(
    upstream: FakeUpstream, completions: Completions
) -> None:
    """/models answers while every probed model's completions fail with 500: the provider is
    down within 2 x INFERENCE_PROBE_INTERVAL_SECONDS + 2 s, and up again as fast on recovery."""
    env = inference_env(upstream, "openai:fast,openai:slow")
    bound = 2 * 2 + 2
    async with ExporterProcess(env) as exporter:
        await exporter.wait_for(
            lambda s: (
                s.get("provider_availability", provider="openai") == 1
                and probes(s, "fast", "ok")
                and probes(s, "slow", "ok")
            ),
            20,
        )
        completions.default = completions.default.__class__(status=500)
        completions.scripts.clear()
        went_down, m = await exporter.wait_for(
            lambda s: s.get("provider_availability", provider="openai") == 0, timeout=bound + 5
        )
        assert went_down <= bound, f"down after {went_down:.1f} s"
        assert m.get("gatewayz_provider_state_reason", provider="openai", reason="inference_down")
        assert model_state(m, "openai", "fast") == "down"
        assert probes(m, "fast", "http_5xx") >= 1
        assert m.get("gatewayz_provider_probes_total", provider="openai", outcome="ok") >= 1
        completions.default = completions.default.__class__()
        came_back, m = await exporter.wait_for(
            lambda s: s.get("provider_availability", provider="openai") == 1, timeout=bound + 5
        )
        assert came_back <= bound, f"up after {came_back:.1f} s"
        print(f"down after {went_down:.2f} s, up after {came_back:.2f} s (bound {bound} s)")


async def test_some_models_down_is_degraded(
    upstream: FakeUpstream, completions: Completions
) -> None:
    completions.script("slow", status=503)
    env = inference_env(upstream, "openai:fast,openai:slow")
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(
            lambda s: model_state(s, "openai", "slow") == "down", timeout=25
        )
        await asyncio.sleep(0.5)
        m = await exporter.metrics()
        assert m.get("gatewayz_provider_status", provider="openai", status="degraded") == 1
        reason = "inference_partly_down"
        assert m.get("gatewayz_provider_state_reason", provider="openai", reason=reason) == 1
        assert model_state(m, "openai", "fast") == "healthy"


async def test_stalled_stream_times_out_and_delays_no_one(
    upstream: FakeUpstream, completions: Completions
) -> None:
    """A stream that stalls after its first chunk ends as `timeout` within
    PROBE_TIMEOUT_SECONDS + 1 s, while the other model's probes keep their schedule."""
    completions.script("slow", stall_after=1)
    env = inference_env(upstream, "openai:fast,openai:slow", PROBE_TIMEOUT_SECONDS="2")
    async with ExporterProcess(env) as exporter:
        await exporter.wait_for(lambda s: probes(s, "fast", "ok") >= 1, timeout=15)
        sent = len(completions.bodies)
        start = time.monotonic()
        while len(completions.bodies) == sent or completions.bodies[-1]["model"] != "slow":
            assert time.monotonic() - start < 10, "the stalled model was not probed"
            await asyncio.sleep(0.02)
        asked = time.monotonic()

        def ended(samples: Samples) -> float:
            return probes(samples, "slow", "timeout") + probes(samples, "slow", "stream_error")

        before = ended(await exporter.metrics())
        _, m = await exporter.wait_for(lambda s: ended(s) > before, timeout=10)
        elapsed = time.monotonic() - asked
        print(f"stalled stream ended after {elapsed:.2f} s")
        assert elapsed <= 2 + 1, f"the stalled stream ended after {elapsed:.2f} s"
        fast_before = probes(m, "fast", "ok")
        await asyncio.sleep(6)  # three of its intervals, while "slow" stalls again
        m = await exporter.metrics()
        assert probes(m, "fast", "ok") - fast_before >= 2
        assert model_state(m, "openai", "fast") == "healthy"


@pytest.mark.parametrize(
    ("script", "outcome"),
    [
        ({"cut_after": 2}, "stream_error"),
        ({"malformed": True}, "stream_error"),
        ({"no_end": True}, "stream_error"),
        ({"empty": True}, "empty_completion"),
        ({"status": 500}, "http_5xx"),
    ],
    ids=["cut", "malformed", "no-final-event", "empty", "500"],
)
async def test_broken_streams_are_failures(
    upstream: FakeUpstream, completions: Completions, script: dict[str, object], outcome: str
) -> None:
    completions.script("fast", **script)
    env = inference_env(upstream, "openai:fast")
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(lambda s: probes(s, "fast", outcome) >= 1, timeout=15)
        assert probes(m, "fast", "ok") == 0
        assert m.get("gatewayz_inference_checks_total", model="fast", result="down") >= 1


async def test_quirks_and_limits_are_not_outages(
    upstream: FakeUpstream, completions: Completions
) -> None:
    """A reasoning model refusing max_tokens is asked again with max_completion_tokens (and
    remembered); a 429 with Retry-After is rate limiting: degraded, never down, left alone."""
    completions.script("fast", reject_max_tokens=True)
    completions.script("slow", status=429, headers={"Retry-After": "30"})
    env = inference_env(upstream, "openai:fast,openai:slow")
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(
            lambda s: probes(s, "fast", "ok") >= 2 and probes(s, "slow", "http_429") >= 1,
            timeout=20,
        )
        assert probes(m, "fast", "http_4xx") == 0
        assert model_state(m, "openai", "fast") == "healthy"
        assert model_state(m, "openai", "slow") == "degraded"
        await asyncio.sleep(4)  # two intervals: the Retry-After of 30 s is honoured
        m = await exporter.metrics()
        assert probes(m, "slow", "http_429") == 1
        assert model_state(m, "openai", "slow") == "degraded"
        assert m.get("provider_availability", provider="openai") == 1
    fast = [b for b in completions.bodies if b["model"] == "fast"]
    assert "max_tokens" in fast[0] and "max_completion_tokens" in fast[1]
    assert all("max_completion_tokens" in b and "max_tokens" not in b for b in fast[1:])
    # the refused request and its retry, then one request per probe
    assert len(fast) == probes(m, "fast", "ok") + 1


async def test_budget_is_never_crossed(upstream: FakeUpstream, completions: Completions) -> None:
    """A 400-token day at a 0.2 s interval: probes stop before the budget, the skipped ones
    are counted, and the tokens the fake provider served never pass 400."""
    env = inference_env(
        upstream,
        "openai:fast,openai:slow",
        INFERENCE_PROBE_INTERVAL_SECONDS="0.2",
        INFERENCE_BUDGET_TOKENS_PER_DAY="400",
    )
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(
            lambda s: (
                (s.get("gatewayz_inference_budget_skipped_total", model="fast") or 0) >= 5
                and (s.get("gatewayz_inference_budget_skipped_total", model="slow") or 0) >= 5
            ),
            timeout=20,
        )
        await asyncio.sleep(3)
        m = await exporter.metrics()
        sent = len(completions.bodies)
        # 40 tokens reserved per probe (32 prompt bound + 8), 20 charged as reported: probes
        # go on while a reservation fits, 19 of them (380 tokens), then none
        print(f"budget: {sent} probes sent, {completions.spent} tokens served")
        assert completions.spent <= 400
        assert sent == 19
        assert completions.spent == sent * (INPUT_TOKENS + 8)
        remaining = m.get("gatewayz_inference_budget_remaining_tokens")
        assert remaining is not None and 0 <= remaining < 40
        assert remaining == 400 - completions.spent
        spent = sum(v for _, v in m.all("gatewayz_inference_tokens_total"))
        assert spent == completions.spent
        # no new data is no failure
        assert m.get("gatewayz_inference_checks_total", model="fast", result="down") == 0
        assert model_state(m, "openai", "fast") in ("healthy", "unknown")


async def test_nothing_but_the_model_list_without_inference_probes(
    upstream: FakeUpstream, completions: Completions
) -> None:
    """With INFERENCE_PROBES unset no completion is ever requested and no inference series
    appears."""
    env = env_for(upstream, {"openai": "openai"}, PROVIDERS="openai", PROBE_INTERVAL_SECONDS="0.3")
    async with ExporterProcess(env) as exporter:
        await exporter.wait_for(
            lambda s: (
                (s.get("gatewayz_provider_probes_total", provider="openai", outcome="ok") or 0) >= 5
            ),
            timeout=15,
        )
        m = await exporter.metrics()
    assert set(upstream.seen["openai"]) == {("GET", "/openai/models")}
    assert completions.bodies == []
    assert not [name for name in m.by_name if "inference" in name or "model_status" in name]


async def test_anthropic_dialect(upstream: FakeUpstream) -> None:
    upstream.set("anthropic", fake.ok(("claude-x",)))
    served = Completions("anthropic")
    served.script("claude-x", ttft=0.3, tokens_per_second=100.0)
    upstream.set_post("anthropic", served)
    env = env_for(
        upstream,
        {"anthropic": "anthropic"},
        PROVIDERS="anthropic",
        INFERENCE_PROBES="anthropic:claude-x",
        INFERENCE_PROBE_INTERVAL_SECONDS="1",
        INFERENCE_MAX_OUTPUT_TOKENS="20",
    )
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(
            lambda s: probes(s, "claude-x", "ok", "anthropic") >= 2, timeout=15
        )
    ttft = mean(m, "gatewayz_inference_ttft_seconds", "claude-x", "anthropic")
    assert ttft == pytest.approx(0.3, rel=0.1)
    tokens = m.get("gatewayz_inference_tokens_total", provider="anthropic", direction="input")
    assert tokens == INPUT_TOKENS * probes(m, "claude-x", "ok", "anthropic")
    posts = [
        h
        for (_, h), (method, _) in zip(
            upstream.requests["anthropic"], upstream.seen["anthropic"], strict=True
        )
        if method == "POST"
    ]
    assert posts[0]["x-api-key"] == KEY and "Authorization" not in posts[0]
    assert posts[0]["anthropic-version"] == "2023-06-01"
    assert ("POST", "/anthropic/messages") in upstream.seen["anthropic"]
    assert served.bodies[0]["max_tokens"] == 20 and served.bodies[0]["stream"] is True


async def test_vertex_dialect(
    upstream: FakeUpstream,
    token_server: TokenServer,  # noqa: F811
) -> None:
    body = json.dumps({"publisherModels": [{"name": "publishers/google/models/gemini-x"}]})
    upstream.set("vertex", fake.raw(body.encode()))
    served = Completions("vertex")
    served.script("gemini-x", ttft=0.4, tokens_per_second=50.0)
    upstream.set_post("vertex", served)
    env = {
        "PROVIDERS": "google-vertex",
        "GOOGLE_VERTEX_CREDENTIALS_JSON": service_account(token_server.url),
        "GOOGLE_VERTEX_BASE_URL": upstream.base_url("vertex") + "/v1",
        "INFERENCE_PROBES": "google-vertex:gemini-x",
        "INFERENCE_PROBE_INTERVAL_SECONDS": "1",
        "INFERENCE_MAX_OUTPUT_TOKENS": "16",
    }
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(
            lambda s: probes(s, "gemini-x", "ok", "google-vertex") >= 2, timeout=20
        )
    ttft = mean(m, "gatewayz_inference_ttft_seconds", "gemini-x", "google-vertex")
    assert ttft == pytest.approx(0.4, rel=0.1)
    speed = mean(m, "gatewayz_inference_output_tokens_per_second", "gemini-x", "google-vertex")
    assert speed == pytest.approx(50.0, rel=0.1)
    path = "/vertex/v1/projects/test-project/locations/us-central1/publishers/google/models/"
    assert ("POST", path + "gemini-x:streamGenerateContent") in upstream.seen["vertex"]
    assert served.bodies[0]["generationConfig"]["maxOutputTokens"] == 16


def test_check_config_prints_pairs_and_worst_case() -> None:
    env = {
        "OPENAI_API_KEY": KEY,
        "PROVIDERS": "openai",
        "INFERENCE_PROBES": "openai:gpt-4o-mini,openai:o4-mini",
    }
    result = run_cli("check-config", env=env)
    assert result.returncode == 0, result.stderr
    assert "openai:gpt-4o-mini" in result.stdout and "openai:o4-mini" in result.stdout
    # 2 pairs x 288 probes/day x (32 + 8) tokens
    assert "worst case 23,040 tokens/day" in result.stdout


def test_inference_pair_of_unwatched_provider_is_a_config_error() -> None:
    env = {"OPENAI_API_KEY": KEY, "PROVIDERS": "openai", "INFERENCE_PROBES": "groq:llama"}
    result = run_cli("check-config", env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "configuration error: INFERENCE_PROBES: groq:llama names a provider that is not watched"
    )


async def test_refused_key_keeps_the_models_series(
    upstream: FakeUpstream, completions: Completions
) -> None:
    """A 403 on completions makes the model `unconfigured` (our key, not their outage); its
    counters stay on /metrics, so increase() over them keeps working."""
    completions.script("fast", status=403)
    env = inference_env(upstream, "openai:fast")
    async with ExporterProcess(env) as exporter:
        _, m = await exporter.wait_for(
            lambda s: (
                probes(s, "fast", "http_auth") >= 1
                and s.get("provider_availability", provider="openai") is not None
            ),
            timeout=15,
        )
    assert model_state(m, "openai", "fast") == "unconfigured"
    assert m.get("gatewayz_inference_checks_total", model="fast", result="down") == 0
    assert m.get("gatewayz_inference_tokens_total", model="fast", direction="output") == 0
    assert m.get("gatewayz_inference_budget_skipped_total", model="fast") == 0
    assert m.get("provider_availability", provider="openai") == 1


async def test_pairs_of_providers_without_a_key_send_nothing_and_log_no_error(
    upstream: FakeUpstream, completions: Completions
) -> None:
    """A pair whose provider has no key is `unconfigured`: no request, no restart loop."""
    env = env_for(
        upstream,
        {"groq": "openai"},
        PROVIDERS="openai,groq",
        INFERENCE_PROBES="openai:fast",
        PROBE_INTERVAL_SECONDS="0.5",
    )
    async with ExporterProcess(env) as exporter:
        await asyncio.sleep(3)
        m = await exporter.metrics()
    assert completions.bodies == []
    assert model_state(m, "openai", "fast") == "unconfigured"
    assert b"loop_ended" not in exporter.output and b'"level": "error"' not in exporter.output
