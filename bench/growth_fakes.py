"""`python -m bench.growth_fakes PROVIDERS PAIRS PAGES`: the growth run's loopback fakes, in a
process of their own (their CPU is not the exporter's, and they never delay the bench's scrapes).

One `tests.support.upstream.FakeUpstream` serves `/growth-{i}/models` (a 2-model list) for each
of PROVIDERS providers, `/growth-{i}/chat/completions` (`tests.support.completions`, OpenAI
streams) for the first PAIRS, and `/page-growth-{i}/api/v2/summary.json` (an all-operational
`tests.support.status_pages.ScriptedPage`, ETag/304) for the first PAGES; prints its port, then
serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from aiohttp import web

from tests.support import upstream as fake
from tests.support.completions import Completions, Script
from tests.support.status_pages import ScriptedPage, operational

MODELS = ("model-0", "model-1")
TTFT = 0.05  # seconds
TOKENS_PER_SECOND = 200.0


def slug(index: int) -> str:
    return f"growth-{index}"


def page_name(index: int) -> str:
    return f"page-{slug(index)}"


def _streams() -> fake.Behaviour:
    completions = Completions("openai", Script(ttft=TTFT, tokens_per_second=TOKENS_PER_SECOND))

    async def stream(request: web.Request) -> web.StreamResponse:
        completions.bodies.clear()  # nothing reads them here: do not keep every request
        try:
            return await completions(request)
        except ConnectionResetError:  # the exporter stopped mid-stream: a run ended, no error
            return web.Response()

    return stream


async def serve(providers: int, pairs: int, pages: int) -> None:
    """Serve the fakes until SIGTERM."""
    upstream = fake.FakeUpstream()
    models, streams, page = fake.ok(MODELS), _streams(), ScriptedPage(operational())
    for index in range(providers):
        upstream.set(slug(index), models)
        if index < pairs:
            upstream.set_post(slug(index), streams)
        if index < pages:
            upstream.set(page_name(index), page)
    await upstream.start()
    print(upstream.port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    while not stop.is_set():  # the fake records every request: forget them as they come
        upstream.requests.clear()
        upstream.seen.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5.0)
    await upstream.stop()


if __name__ == "__main__":
    counts = [int(arg) for arg in sys.argv[1:4]]
    asyncio.run(serve(counts[0], counts[1], counts[2]))
    sys.exit(0)
