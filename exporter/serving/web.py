"""The HTTP server: /metrics, /healthz, /readyz (and the status API and page)."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder, generate_latest

from exporter.judgement.snapshot import Snapshot
from exporter.serving.api import add_api_routes
from exporter.serving.exposition import TextRenderer
from exporter.serving.openapi import API_PREFIX
from exporter.serving.status_page import add_page_route, unauthorized_page

T = TypeVar("T")
OPEN_PATHS = frozenset({"/healthz"})
MAX_REQUEST_BYTES = 16 * 1024


def make_app(
    get_snapshot: Callable[[], Snapshot],
    registry: CollectorRegistry,
    token: str | None = None,
    text: TextRenderer | None = None,
    publish_in_steps: Callable[[], Generator[None, None, None]] | None = None,
) -> web.Application:
    """Return the exporter's web application.

    `registry` renders OpenMetrics (and the text format when no fast `text` renderer is given).
    `publish_in_steps` publishes the snapshot /metrics renders, in steps (default: at once, by
    `get_snapshot`).
    """
    middlewares: list[Middleware] = [_bearer_auth(token)] if token else []
    app = web.Application(middlewares=middlewares, client_max_size=MAX_REQUEST_BYTES)
    renderer = MetricsRenderer(registry, text, publish_in_steps or (lambda: _once(get_snapshot)))
    app.on_cleanup.append(renderer.aclose)

    async def metrics(request: web.Request) -> web.Response:
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
    """Render /metrics without holding the event loop; concurrent scrapes share the render in
    flight.

    Rendering is CPU-bound (tens of ms at 100 providers, a few hundred at 600). Done at once on
    the loop, 20 scrapers starved the probes (lag up to 5 s); on a worker thread the loop waited
    for the GIL behind it (probe lag up to 250 ms at 1 000 targets). The text format is now
    published and rendered on the loop in steps of a few ms, probes running between them;
    OpenMetrics (prometheus_client, rarely asked for) still renders on one worker thread after
    the publish. A scrape that arrives while a render of the same format is running waits for
    that render instead of starting another: at most one render per format at a time.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        text: TextRenderer | None,
        publish_in_steps: Callable[[], Generator[None, None, None]],
    ) -> None:
        self._registry = registry
        self._text = text
        self._publish_in_steps = publish_in_steps
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-metrics")
        self._in_flight: dict[str, asyncio.Task[bytes]] = {}

    async def render(self, accept: str) -> tuple[bytes, str]:
        """Return the exposition for an `Accept` header, and its content type."""
        encoder, content_type = choose_encoder(accept)
        task = self._in_flight.get(content_type)
        if task is None:
            task = asyncio.create_task(self._render(encoder))
            self._in_flight[content_type] = task
            task.add_done_callback(lambda _: self._in_flight.pop(content_type, None))
        # shield: a scraper that goes away must not cancel the render others wait for
        return await asyncio.shield(task), content_type

    async def _render(self, encoder: Callable[[CollectorRegistry], bytes]) -> bytes:
        await _in_steps(self._publish_in_steps())
        if self._text is not None and encoder is generate_latest:  # the text format
            return await _in_steps(self._text.render_in_steps())
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, encoder, self._registry)

    async def aclose(self, _app: web.Application | None = None) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def _in_steps(steps: Generator[None, None, T]) -> T:
    """Run `steps`, letting the event loop run other work between two of them; return what
    they return."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return cast(T, done.value)
        await asyncio.sleep(0)


def _once(get_snapshot: Callable[[], Snapshot]) -> Generator[None, None, None]:
    get_snapshot()
    yield from ()


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
