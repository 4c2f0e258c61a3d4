"""The HTTP server: /metrics, /healthz, /readyz (and the status API and page)."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from exporter.snapshot import Snapshot

OPEN_PATHS = frozenset({"/healthz"})
MAX_REQUEST_BYTES = 16 * 1024


def make_app(
    get_snapshot: Callable[[], Snapshot],
    registry: CollectorRegistry,
    token: str | None = None,
) -> web.Application:
    """Return the exporter's web application."""
    middlewares: list[Middleware] = [_bearer_auth(token)] if token else []
    app = web.Application(middlewares=middlewares, client_max_size=MAX_REQUEST_BYTES)

    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        response = web.Response(body=encoder(registry), headers={"Content-Type": content_type})
        response.enable_compression()  # gzip/deflate only when the client asks for it
        return response

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_request: web.Request) -> web.Response:
        ready = get_snapshot().ready
        return web.json_response(
            {"status": "ready" if ready else "waiting for the first probe round"},
            status=200 if ready else 503,
        )

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


def _bearer_auth(token: str) -> Middleware:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response(
                {"error": "unauthorized"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="provider-exporter"'},
            )
        return await handler(request)

    return middleware
