"""Access to the port: bearer token, read-only endpoints, request limits, slow clients."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

import exporter.serving.web
from exporter.service import CLIENT_IDLE_SECONDS
from exporter.serving.web import make_app
from tests.support import upstream as fake
from tests.support.process import ExporterProcess
from tests.support.upstream import FakeUpstream

TOKEN = "metrics-token-0123456789abcdef"
KEY = "canary-access-test-0123456789"


def served_paths() -> list[str]:
    """Return one concrete path per route the web app serves (a dynamic segment filled in)."""
    app = make_app(lambda: None, CollectorRegistry(), TOKEN)  # type: ignore[arg-type,return-value]
    paths = set()
    for resource in app.router.resources():
        paths.add(resource.canonical.replace("{slug}", "openai"))
    assert {"/metrics", "/healthz", "/readyz"} <= paths
    return sorted(paths)


@pytest.fixture
async def guarded(upstream: FakeUpstream) -> AsyncIterator[ExporterProcess]:
    """The exporter with METRICS_AUTH_TOKEN set, probing one healthy provider."""
    upstream.set("ok", fake.ok())
    env = {
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": upstream.base_url("ok"),
        "METRICS_AUTH_TOKEN": TOKEN,
        "PROBE_INTERVAL_SECONDS": "1",
    }
    async with ExporterProcess(env) as process:
        yield process


async def test_token_guards_every_endpoint_but_healthz(guarded: ExporterProcess) -> None:
    """With METRICS_AUTH_TOKEN set, every endpoint but /healthz answers 401 to a bad or no token."""
    bad = [
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcd"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ]
    good = {"Authorization": f"Bearer {TOKEN}"}
    for path in served_paths():
        if path == "/healthz":
            assert (await guarded.get(path))[0] == 200
            continue
        for headers in bad:
            code, response_headers, _ = await guarded.get(path, headers=headers)
            assert code == 401, (path, headers)
            assert response_headers["WWW-Authenticate"].startswith("Bearer")
        code, _, _ = await guarded.get(path, headers=good)
        assert code in (200, 503), path  # /readyz may still wait for the first round
    code, _, body = await guarded.get("/metrics", headers=good)
    assert b"gatewayz_provider_status" in body


async def test_no_endpoint_changes_state(guarded: ExporterProcess) -> None:
    """Every served path refuses POST, PUT, PATCH and DELETE with 405, token or not."""
    assert guarded._session is not None
    for path in served_paths():
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            async with guarded._session.request(
                method,
                f"{guarded.url}{path}",
                headers={"Authorization": f"Bearer {TOKEN}"},
                data=b"{}",
            ) as response:
                assert response.status == 405, (method, path)


async def test_oversized_requests_are_refused(guarded: ExporterProcess) -> None:
    """A 10 kB header, 200 headers or a 1 MB body are refused quietly; the server keeps serving."""
    good = {"Authorization": f"Bearer {TOKEN}"}
    code, _, _ = await guarded.get("/metrics", headers={**good, "X-Big": "a" * 10_000})
    assert code == 400
    many = {f"X-H{i}": "1" for i in range(200)}
    code, _, _ = await guarded.get("/metrics", headers={**good, **many})
    assert code == 400
    assert guarded._session is not None
    async with guarded._session.post(
        f"{guarded.url}/metrics", headers=good, data=b"x" * 1_000_000
    ) as response:
        assert response.status in (405, 413)
    assert (await guarded.get("/metrics", headers=good))[0] == 200
    # A bad request is the client's problem: no traceback, and none of its bytes, in the logs.
    output = "\n".join(guarded.logs())
    assert "Traceback" not in output
    assert "aaaaaaaa" not in output


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> float:
    """Return how long until the server closed the connection; fail after `seconds`."""
    started = time.monotonic()
    async with asyncio.timeout(seconds):
        while await reader.read(1024):
            pass
    return time.monotonic() - started


@pytest.mark.slow
async def test_slow_clients_are_cut_off(guarded: ExporterProcess) -> None:
    """An idle connection and one trickling headers at 1 byte/s are closed; scrapes keep working."""
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", guarded.port)
    request = f"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n".encode()

    async def trickle() -> None:
        for index in range(len(request)):
            if slow_writer.is_closing():
                return
            slow_writer.write(request[index : index + 1])
            try:
                await slow_writer.drain()
            except ConnectionError:
                return
            await asyncio.sleep(1.0)

    trickler = asyncio.ensure_future(trickle())
    try:
        waits = await asyncio.gather(
            _closed_within(idle_reader, CLIENT_IDLE_SECONDS + 3),
            _closed_within(slow_reader, CLIENT_IDLE_SECONDS + 3),
            _scrape_meanwhile(guarded, CLIENT_IDLE_SECONDS),
        )
    finally:
        trickler.cancel()
        for writer in (idle_writer, slow_writer):
            writer.close()
    idle, slow, scrapes = waits
    print(
        f"idle closed after {idle:.1f}s, trickling after {slow:.1f}s, {scrapes} scrapes meanwhile"
    )
    assert idle <= CLIENT_IDLE_SECONDS + 2
    assert slow <= CLIENT_IDLE_SECONDS + 2


async def _scrape_meanwhile(process: ExporterProcess, seconds: float) -> int:
    served = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        code, _, _ = await process.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert code == 200
        served += 1
        await asyncio.sleep(0.5)
    return served


def test_token_comparison_is_constant_time() -> None:
    """The token check uses hmac.compare_digest and never compares the token with ==."""
    source = inspect.getsource(exporter.serving.web._bearer_auth)
    assert source.count("hmac.compare_digest(") >= 1
    assert "== expected" not in source
    assert "expected ==" not in source
