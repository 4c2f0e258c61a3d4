"""`provider-exporter demo`: the real exporter against simulated providers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time

from aiohttp import web
from pydantic import SecretStr

from exporter.catalog import ProviderSpec
from exporter.demo_pages import DemoStatusPages
from exporter.service import serve
from exporter.settings import Settings, load_settings
from exporter.targets import StatusPage, Target

DEMO_KEY = SecretStr("demo-key-not-a-secret")
OUTAGE_CYCLE = 180.0  # seconds: up for two minutes, then down for one
OUTAGE_DOWN = 60.0
MODELS = ("demo-model-a", "demo-model-b", "demo-model-c")
RETIRED_MODEL = "demo-model-retired"
WATCHED = (
    "demo-healthy:demo-model-a",
    "demo-healthy:demo-model-retired",
    "demo-outage:demo-model-a",
)
# Simulated completions cost nothing: inference probes are on in the demo. demo-model-b answers
# its first token slowly; demo-listonly lists its models while every completion fails.
INFERENCE = (
    "demo-healthy:demo-model-a",
    "demo-healthy:demo-model-b",
    "demo-listonly:demo-model-a",
)
SLOW_FIRST_TOKEN = 6.0  # seconds: over INFERENCE_TTFT_SLOW_SECONDS' default of 5


class DemoUpstream:
    """Simulated providers, one route each, with behaviour that changes over time."""

    def __init__(self) -> None:
        self._start = time.monotonic()
        self._random = random.Random(7)  # the demo tells the same story every time

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def app(self) -> web.Application:
        app = web.Application()
        routes = {
            "healthy": self.healthy,
            "slow": self.slow,
            "flaky": self.flaky,
            "ratelimited": self.ratelimited,
            "outage": self.outage,
            "keyrefused": self.keyrefused,
            "listonly": self.healthy,
        }
        for name, handler in routes.items():
            app.router.add_get(f"/{name}/models", handler)
        app.router.add_post("/healthy/chat/completions", self.completion)
        app.router.add_post("/listonly/chat/completions", self.broken_completion)
        DemoStatusPages(self.elapsed, OUTAGE_CYCLE, OUTAGE_DOWN).add_routes(app)
        return app

    def _models(self, with_retired: bool = False) -> web.Response:
        names = [*MODELS, RETIRED_MODEL] if with_retired else list(MODELS)
        return web.json_response({"object": "list", "data": [{"id": n} for n in names]})

    async def healthy(self, _request: web.Request) -> web.Response:
        await asyncio.sleep(self._random.uniform(0.02, 0.12))
        # The retired model is listed for the first five minutes of every ten.
        return self._models(with_retired=self.elapsed() % 600 < 300)

    async def slow(self, _request: web.Request) -> web.Response:
        await asyncio.sleep(self._random.uniform(4.5, 6.0))
        return self._models()

    async def flaky(self, _request: web.Request) -> web.Response:
        await asyncio.sleep(self._random.uniform(0.05, 0.3))
        if self._random.random() < 0.15:
            return web.json_response({"error": "upstream overloaded"}, status=503)
        return self._models()

    async def ratelimited(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"error": "rate limited"}, status=429, headers={"Retry-After": "20"}
        )

    async def outage(self, _request: web.Request) -> web.Response:
        if self.elapsed() % OUTAGE_CYCLE >= OUTAGE_CYCLE - OUTAGE_DOWN:
            return web.json_response({"error": "service unavailable"}, status=503)
        await asyncio.sleep(self._random.uniform(0.05, 0.2))
        return self._models()

    async def completion(self, request: web.Request) -> web.StreamResponse:
        """Stream a short OpenAI-style completion: demo-model-b is slow to its first token."""
        body = await request.json()
        tokens = min(int(body.get("max_tokens") or body.get("max_completion_tokens") or 8), 64)
        slow = body.get("model") == "demo-model-b"
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await asyncio.sleep(SLOW_FIRST_TOKEN if slow else self._random.uniform(0.2, 0.4))
        for i in range(tokens):
            await response.write(
                _chunk({"choices": [{"index": 0, "delta": {"content": f"ok{i}"}}]})
            )
            await asyncio.sleep(0.02 if slow else 0.01)
        await response.write(
            _chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        )
        usage = {"prompt_tokens": 12, "completion_tokens": tokens}
        await response.write(_chunk({"choices": [], "usage": usage}) + b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def broken_completion(self, _request: web.Request) -> web.Response:
        return web.json_response({"error": "inference backend unavailable"}, status=500)

    async def keyrefused(self, _request: web.Request) -> web.Response:
        return web.json_response({"error": "invalid api key"}, status=401)


def _chunk(payload: dict[str, object]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def demo_targets(base: str, pages: bool = True) -> tuple[Target, ...]:
    """Return one target per simulated provider, plus one with no key at all; three have a
    status page unless `pages` is off (STATUS_PAGES)."""
    targets = [
        Target(
            ProviderSpec(f"demo-{name}", f"{base}/{name}"),
            f"{base}/{name}/models",
            DEMO_KEY,
            StatusPage(f"{base}/{name}/status/api/v2/summary.json")
            if pages and name in DemoStatusPages.PAGES
            else None,
        )
        for name in ("healthy", "slow", "flaky", "ratelimited", "outage", "keyrefused", "listonly")
    ]
    nokey = ProviderSpec("demo-nokey", f"{base}/nokey")
    targets.append(Target(nokey, f"{base}/nokey/models", None))
    return tuple(targets)


def demo_settings() -> Settings:
    """Return the settings from the environment, with demo-friendly defaults where unset."""
    settings = load_settings()
    update: dict[str, object] = {"models": WATCHED, "providers": None}
    if "INFERENCE_PROBES" not in os.environ:
        update["inference_probes"] = INFERENCE
    if "INFERENCE_PROBE_INTERVAL_SECONDS" not in os.environ:
        update["inference_probe_interval_seconds"] = 10.0
    if "INFERENCE_BUDGET_TOKENS_PER_DAY" not in os.environ:  # the simulated tokens are free
        update["inference_budget_tokens_per_day"] = 100_000_000
    if "PROBE_INTERVAL_SECONDS" not in os.environ:
        update["probe_interval_seconds"] = 5.0
    if "STATUS_PAGE_POLL_SECONDS" not in os.environ:
        update["status_page_poll_seconds"] = 5.0
    return settings.model_copy(update=update)


async def _run(settings: Settings) -> None:
    runner = web.AppRunner(DemoUpstream().app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    if "CONNECTIVITY_CHECK_TARGETS" not in os.environ:  # a loopback listener: never public
        settings = settings.model_copy(
            update={"connectivity_check_targets": (f"127.0.0.1:{port}",)}
        )
    try:
        await serve(settings, demo_targets(f"http://127.0.0.1:{port}", settings.status_pages))
    finally:
        await runner.cleanup()


def run_demo() -> int:
    """Run the demo until interrupted; return the exit status."""
    settings = demo_settings()
    print(
        f"provider-exporter demo: simulated providers on loopback; "
        f"open http://localhost:{settings.port}/ (metrics at /metrics)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(settings))
    return 0
