"""The status API of a real running exporter: probed results, no secrets, and a schemathesis run."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests.api.support import wait_for_states
from tests.support import upstream as fake
from tests.support.process import ExporterProcess
from tests.support.upstream import FakeUpstream

KEY = "canary-status-api-0123456789"
TOKEN = "status-api-token-0123456789"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


async def test_api_reports_what_the_probes_found(upstream: FakeUpstream) -> None:
    """Up, failing and keyless providers show in the API as healthy, down and unconfigured."""
    upstream.set("ok", fake.ok(("gpt-4o",)))
    upstream.set("broken", fake.status(503))
    env = {
        "PROVIDERS": "openai,groq,fireworks",
        "PROBE_INTERVAL_SECONDS": "0.5",
        "MODELS": "openai:gpt-4o",
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": upstream.base_url("ok"),
        "GROQ_API_KEY": KEY,
        "GROQ_BASE_URL": upstream.base_url("broken"),
    }
    async with ExporterProcess(env) as exporter:
        found = await wait_for_states(
            exporter, {"openai": "healthy", "groq": "down", "fireworks": "unconfigured"}, 20
        )
        _, _, page = await exporter.get("/")
        _, _, one = await exporter.get("/api/v1/providers/groq")
    openai, groq, fireworks = found["openai"], found["groq"], found["fireworks"]
    assert openai["availability"] == {"5m": 1.0, "1h": 1.0, "24h": 1.0}
    assert openai["models"] == [{"model": "gpt-4o", "uptime_24h": 1.0}]
    assert openai["last_probe"]["http_status"] == 200  # type: ignore[index]
    assert groq["availability"]["5m"] == 0.0  # type: ignore[index]
    assert groq["last_failure"]["outcome"] == "http_5xx"  # type: ignore[index]
    assert json.loads(one)["state"] == "down"
    assert fireworks["score"] is None and fireworks["last_probe"] is None
    for body in (page, json.dumps(found).encode()):
        assert KEY.encode() not in body
    assert b'data-provider="groq" data-state="down"' in page


async def run_schemathesis(url: str, cwd: Path, *extra: str) -> None:
    """Run schemathesis' CLI with every check against the served document; fail on any issue."""
    assert SCHEMATHESIS.exists(), f"{SCHEMATHESIS} missing: pip install -e '.[test]'"
    proc = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{url}/api/v1/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        "25",
        "--seed",
        "1",
        "--request-timeout",
        "5",
        "--no-color",
        *extra,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = output.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "No issues found" in text, text


@pytest.mark.slow
async def test_schemathesis_finds_no_issue(tmp_path: Path) -> None:
    """Schemathesis, with all its checks, finds the running demo exporter true to its OpenAPI."""
    async with ExporterProcess({"PROBE_INTERVAL_SECONDS": "1"}, args=("demo",)) as exporter:
        await run_schemathesis(exporter.url, tmp_path)


@pytest.mark.slow
async def test_schemathesis_finds_no_issue_behind_a_token(tmp_path: Path) -> None:
    """With METRICS_AUTH_TOKEN set, schemathesis given the token finds no issue either."""
    env = {"PROBE_INTERVAL_SECONDS": "1", "METRICS_AUTH_TOKEN": TOKEN}
    async with ExporterProcess(env, args=("demo",)) as exporter:
        code, _, _ = await exporter.get("/api/v1/providers")
        assert code == 401
        await run_schemathesis(exporter.url, tmp_path, "-H", f"Authorization: Bearer {TOKEN}")
