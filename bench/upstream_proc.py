"""`python -m bench.upstream_proc`: a loopback upstream in its own process (its CPU not counted).

Answers every GET with a small OpenAI-style model list; prints its port, then serves until killed.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web

from tests.support.upstream import models_body

BODY = models_body([f"model-{index}" for index in range(20)])


async def _ok(_request: web.Request) -> web.StreamResponse:
    return web.Response(body=BODY, content_type="application/json")


async def serve() -> None:
    """Serve until SIGTERM."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", _ok)
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
