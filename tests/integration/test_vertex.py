"""Google Vertex: an OAuth2 token minted from a service account at a local fake token server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from exporter.outcomes import Outcome
from exporter.probing.probes import Prober
from exporter.service import make_session
from exporter.settings import load_settings
from exporter.targets import resolve_targets
from tests.support import upstream as fake
from tests.support.upstream import FakeUpstream


class TokenServer:
    """A fake OAuth2 token endpoint that counts grants and can refuse them."""

    def __init__(self) -> None:
        self.grants = 0
        self.refuse = False
        self.url = ""

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        if self.refuse:
            return web.json_response({"error": "invalid_grant"}, status=400)
        self.grants += 1
        return web.json_response(
            {"access_token": f"token-{self.grants}", "expires_in": 3600, "token_type": "Bearer"}
        )


@pytest.fixture
async def token_server() -> AsyncIterator[TokenServer]:
    server = TokenServer()
    app = web.Application()
    app.router.add_post("/token", server.token)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/token"
    yield server
    await runner.cleanup()


def service_account(token_uri: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "test-project",
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": "prober@test-project.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
        }
    )


async def probe_vertex(
    upstream: FakeUpstream, token_server: TokenServer, times: int
) -> list[Outcome]:
    env = {
        "GOOGLE_VERTEX_CREDENTIALS_JSON": service_account(token_server.url),
        "GOOGLE_VERTEX_BASE_URL": upstream.base_url("vertex") + "/v1",
    }
    (target,) = resolve_targets(load_settings(), env)
    async with make_session(load_settings()) as session:
        prober = Prober(session, timeout=5, max_body_bytes=65536, model_cap=10, watch={})
        return [(await prober.probe(target)).outcome for _ in range(times)]


async def test_token_minted_cached_and_sent(
    upstream: FakeUpstream, token_server: TokenServer
) -> None:
    """The probe carries a minted access token, minted once and reused while valid."""
    body = json.dumps({"publisherModels": [{"name": "publishers/google/models/gemini"}]})
    upstream.set("vertex", fake.raw(body.encode()))
    outcomes = await probe_vertex(upstream, token_server, times=3)
    assert outcomes == [Outcome.OK] * 3
    assert token_server.grants == 1
    headers = [h for _, h in upstream.requests["vertex"]]
    assert {h["Authorization"] for h in headers} == {"Bearer token-1"}
    assert headers[0]["x-goog-user-project"] == "test-project"
    assert upstream.requests["vertex"]  # the probe path is /v1/publishers/google/models


async def test_refused_account_is_unconfigured_not_down(
    upstream: FakeUpstream, token_server: TokenServer
) -> None:
    """A token server refusing the account gives an auth outcome, never an outage."""
    token_server.refuse = True
    upstream.set("vertex", fake.ok())
    assert await probe_vertex(upstream, token_server, times=1) == [Outcome.HTTP_AUTH]
    assert upstream.count("vertex") == 0
