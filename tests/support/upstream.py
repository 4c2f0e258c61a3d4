"""A scripted fake upstream: an aiohttp app on a loopback port whose answers a test chooses."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


def models_body(models: Sequence[str]) -> bytes:
    return json.dumps({"object": "list", "data": [{"id": m} for m in models]}).encode()


def ok(models: Sequence[str] = ("model-a", "model-b"), delay: float = 0.0) -> Behaviour:
    """Answer 200 with an OpenAI-style model list, after `delay` seconds."""
    body = models_body(models)

    async def handler(_request: web.Request) -> web.StreamResponse:
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=body, content_type="application/json")

    return handler


def status(code: int, headers: dict[str, str] | None = None, body: bytes = b"{}") -> Behaviour:
    """Answer with HTTP `code`."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, body=body, headers=headers or {})

    return handler


def raw(body: bytes, content_type: str = "application/json") -> Behaviour:
    """Answer 200 with exactly `body`."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type=content_type)

    return handler


def hang() -> Behaviour:
    """Accept the request and never answer."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    return handler


def endless_body(chunk_interval: float = 0.0, chunk: bytes = b"x") -> Behaviour:
    """Send headers, then a body that never ends (one chunk every `chunk_interval` seconds)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"data": [')
        while True:
            await response.write(chunk)
            await asyncio.sleep(chunk_interval)

    return handler


def huge(size: int) -> Behaviour:
    """Stream a valid model list of about `size` bytes (like featherless' ~50 MB list)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"object": "list", "data": [')
        sent, index = 0, 0
        block = []
        while sent < size:
            item = f'{{"id": "org/model-{index}", "description": "{"d" * 200}"}},'.encode()
            block.append(item)
            sent += len(item)
            index += 1
            if len(block) == 200:
                try:
                    await response.write(b"".join(block))
                except (ConnectionResetError, RuntimeError):
                    return response  # the prober stopped reading: that is the point
                block = []
        await response.write(b"".join(block) + b'{"id": "last"}]}')
        await response.write_eof()
        return response

    return handler


def reset_mid_body() -> Behaviour:
    """Send headers and part of the body, then reset the connection."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 10_000
        await response.prepare(request)
        await response.write(b'{"data": [{"id": "a"},')
        reset_connection(request)
        return response

    return handler


def reset_connection(request: web.Request) -> None:
    """Reset the request's connection (RST instead of FIN)."""
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    transport.close()


def flaky(failure_ratio: float, seed: int, models: Sequence[str] = ("model-a",)) -> Behaviour:
    """Answer 503 with probability `failure_ratio`, independently per request (seeded)."""
    rng = random.Random(seed)
    good = ok(models)
    bad = status(503)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await (bad if rng.random() < failure_ratio else good)(request)

    return handler


class FakeUpstream:
    """Serves `/{name}/...` with the behaviour a test set for `name`; records every request."""

    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.posts: dict[str, Behaviour] = {}  # name -> what answers its POSTs (completions)
        self.seen: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)  # method, path
        self.requests: defaultdict[str, list[tuple[float, dict[str, str]]]] = defaultdict(list)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def set(self, name: str, behaviour: Behaviour) -> None:
        self.behaviours[name] = behaviour

    def set_post(self, name: str, behaviour: Behaviour) -> None:
        self.posts[name] = behaviour

    def base_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def count(self, name: str) -> int:
        return len(self.requests[name])

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests[name].append((time.monotonic(), dict(request.headers)))
        self.seen[name].append((request.method, request.path))
        chosen = self.posts if request.method == "POST" else self.behaviours
        behaviour = chosen.get(name)
        if behaviour is None:
            return web.Response(status=404)
        return await behaviour(request)

    async def start(self) -> FakeUpstream:
        app = web.Application()
        app.router.add_get("/{name}/{tail:.*}", self._handle)
        app.router.add_post("/{name}/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def refused_url() -> str:
    """Return a loopback URL on which nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def flaky_runs(failure_ratio: float, seed: int, longest_run: int) -> Behaviour:
    """Like `flaky`, but never more than `longest_run` 503s in a row (intermittent, not down)."""
    rng = random.Random(seed)
    good, bad = ok(), status(503)
    run = 0

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal run
        failing = run < longest_run and rng.random() < failure_ratio
        run = run + 1 if failing else 0
        return await (bad if failing else good)(request)

    return handler


class Switchable:
    """A loopback listener on a fixed port that can be taken away (connections then refused)
    and brought back; with a behaviour it serves HTTP, without it only accepts and closes."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour
        self.port = free_port()
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> Switchable:
        if self.behaviour is None:
            self._server = await asyncio.start_server(_hang_up, "127.0.0.1", self.port)
            return self
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.behaviour)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def _hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()
