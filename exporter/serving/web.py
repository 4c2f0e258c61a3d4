"""The HTTP server: /metrics, /healthz, /readyz (and the status API and page)."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, generate_latest

from exporter.judgement.snapshot import Snapshot
from exporter.serving.api import add_api_routes
from exporter.serving.exposition import TextRenderer
from exporter.serving.openapi import API_PREFIX
from exporter.serving.status_page import add_page_route, unauthorized_page

OPEN_PATHS = frozenset({"/healthz"})
MAX_REQUEST_BYTES = 16 * 1024


def make_app(
    get_snapshot: Callable[[], Snapshot],
    registry: CollectorRegistry,
    token: str | None = None,
    text: TextRenderer | None = None,
) -> web.Application:
    """Return the exporter's web application.

    `registry` renders OpenMetrics (and the text format when no fast `text` renderer is given).
    """
    middlewares: list[Middleware] = [_bearer_auth(token)] if token else []
    app = web.Application(middlewares=middlewares, client_max_size=MAX_REQUEST_BYTES)
    renderer = MetricsRenderer(registry, text)
    app.on_cleanup.append(renderer.aclose)

    async def metrics(request: web.Request) -> web.Response:
        get_snapshot()  # publish the current snapshot here, on the loop; the render thread reads it
        body, content_type = await renderer.render(request.headers.get("Accept", ""))
        response = web.Response(body=body, headers={"Content-Type": content_type})
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
    add_api_routes(app, get_snapshot, time.time)
    add_page_route(app, get_snapshot, time.time)
    return app


class MetricsRenderer:
    """Render the registry on one worker thread; concurrent scrapes share the render in flight.

    Rendering is CPU-bound (tens of ms for 50 providers). On the event loop, 20 scrapers at once
    starved the probes (lag up to 5 s); on one worker thread the loop keeps its share of the GIL,
    and a scrape that arrives while a render of the same format is running waits for that render
    instead of queueing another: at most one render per format at a time, whatever the load.
    """

    def __init__(self, registry: CollectorRegistry, text: TextRenderer | None = None) -> None:
        self._registry = registry
        self._text = text
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-metrics")
        self._in_flight: dict[str, asyncio.Future[bytes]] = {}

    async def render(self, accept: str) -> tuple[bytes, str]:
        """Return the exposition for an `Accept` header, and its content type."""
        encoder, content_type = choose_encoder(accept)
        future = self._in_flight.get(content_type)
        if future is None:
            loop = asyncio.get_running_loop()
            if self._text is not None and encoder is generate_latest:  # the text format
                future = loop.run_in_executor(self._pool, self._text.render)
            else:
                future = loop.run_in_executor(self._pool, encoder, self._registry)
            self._in_flight[content_type] = future
            future.add_done_callback(lambda _: self._in_flight.pop(content_type, None))
        # shield: a scraper that goes away must not cancel the render others wait for
        return await asyncio.shield(future), content_type

    async def aclose(self, _app: web.Application | None = None) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _token_in_query(request: web.Request) -> bytes | None:
    """Return the `?token=` of a GET of the status page or API (a person's browser cannot send a
    header); None elsewhere, so /metrics still needs the Authorization header."""
    if request.method not in ("GET", "HEAD"):
        return None
    if request.path != "/" and not request.path.startswith(f"{API_PREFIX}/"):
        return None
    token = request.query.get("token")
    return token.encode("utf-8", "surrogateescape") if token is not None else None


def _bearer_auth(token: str) -> Middleware:
    expected = f"Bearer {token}".encode()
    expected_query = token.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        # surrogateescape: a header that is not valid UTF-8 is a wrong token, not a 500
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        in_query = _token_in_query(request)
        if in_query is not None and hmac.compare_digest(in_query, expected_query):
            return await handler(request)
        if not hmac.compare_digest(given, expected):
            if request.path == "/":  # a person at a browser: say how to get in
                return unauthorized_page()
            return web.json_response(
                {"error": "unauthorized"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="provider-exporter"'},
            )
        return await handler(request)

    return middleware
