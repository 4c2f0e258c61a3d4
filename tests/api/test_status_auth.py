"""METRICS_AUTH_TOKEN on the status page and API: header everywhere, `?token=` only for them."""

from __future__ import annotations

import pytest

from tests.api.support import TOKEN, serve

BEARER = {"Authorization": f"Bearer {TOKEN}"}
PROTECTED = ("/", "/api/v1/providers", "/api/v1/providers/openai", "/api/v1/openapi.json")


async def test_everything_is_open_without_a_token() -> None:
    """Without METRICS_AUTH_TOKEN the page and the API answer anyone."""
    async with serve() as client:
        for path in PROTECTED:
            response = await client.get(path)
            assert response.status == 200, path


@pytest.mark.parametrize("path", PROTECTED)
async def test_token_is_required(path: str) -> None:
    """With a token set, the page and API refuse a request without it or with a wrong one."""
    async with serve(TOKEN) as client:
        assert (await client.get(path)).status == 401
        assert (await client.get(path, params={"token": "wrong-token-0123456789"})).status == 401
        wrong = {"Authorization": "Bearer wrong-token-0123456789"}
        assert (await client.get(path, headers=wrong)).status == 401


@pytest.mark.parametrize("path", PROTECTED)
async def test_header_and_query_token_are_accepted(path: str) -> None:
    """The right token opens the page and API both as a bearer header and as `?token=`."""
    async with serve(TOKEN) as client:
        assert (await client.get(path, headers=BEARER)).status == 200
        assert (await client.get(path, params={"token": TOKEN})).status == 200


async def test_query_token_does_not_open_metrics() -> None:
    """`?token=` is for people at a browser: /metrics still needs the Authorization header."""
    async with serve(TOKEN) as client:
        assert (await client.get("/metrics", params={"token": TOKEN})).status == 401
        assert (await client.get("/metrics", headers=BEARER)).status == 200
        assert (await client.get("/healthz")).status == 200


async def test_browser_without_token_is_told_how_to_get_in() -> None:
    """A browser at / without the token gets an HTML 401 naming both ways to give it."""
    async with serve(TOKEN) as client:
        response = await client.get("/")
        body = await response.text()
    assert response.status == 401
    assert response.content_type == "text/html"
    assert "/?token=" in body and "Authorization: Bearer" in body
    assert TOKEN not in body


async def test_page_links_keep_the_query_token() -> None:
    """Opened with `?token=`, the page's links to the API carry it so they work too."""
    async with serve(TOKEN) as client:
        response = await client.get("/", params={"token": TOKEN})
        body = await response.text()
        assert f'href="/api/v1/providers?token={TOKEN}"' in body
        assert (await client.get(f"/api/v1/providers?token={TOKEN}")).status == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


async def test_page_opened_with_header_does_not_echo_a_token() -> None:
    """Opened with the header, the page's HTML contains no token at all."""
    async with serve(TOKEN) as client:
        body = await (await client.get("/", headers=BEARER)).text()
    assert TOKEN not in body
    assert 'href="/api/v1/providers"' in body
