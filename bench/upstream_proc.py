"""`python -m bench.upstream_proc`: a loopback upstream in its own process (its CPU not counted).

Answers every GET with a small OpenAI-style model list and every POST (chat/completions) with an
OpenAI-style stream of tokens (`tests.support.completions`, as many as the request's max_tokens,
the first after TTFT seconds, then TOKENS_PER_SECOND); prints its port, then serves until killed.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web

from tests.support.completions import Completions, Script
from tests.support.upstream import models_body

MODELS = tuple(f"model-{index}" for index in range(20))
BODY = models_body(MODELS)
TTFT = 0.05  # seconds
TOKENS_PER_SECOND = 200.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _ok(_request: web.Request) -> web.StreamResponse:
    return web.Response(body=BODY, content_type="application/json")


def _streams() -> Handler:
    completions = Completions("openai", Script(ttft=TTFT, tokens_per_second=TOKENS_PER_SECOND))

    async def stream(request: web.Request) -> web.StreamResponse:
        try:
            return await completions(request)
        except ConnectionResetError:  # the exporter stopped mid-stream: a run ended, no error
            return web.Response()  # aiohttp gives up on it quietly (the connection is gone)

    return stream


async def serve() -> None:
    """Serve until SIGTERM."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", _ok)
    app.router.add_post("/{tail:.*}", _streams())
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    print(runner.addresses[0][1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve())
    sys.exit(0)
