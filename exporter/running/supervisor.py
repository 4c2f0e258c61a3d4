"""Keeps the long-running loops alive: one that ends or fails is logged once and restarted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from exporter.logs import exception_site

log = structlog.get_logger("exporter.running.supervisor")

FIRST_BACKOFF = 1.0  # seconds before the first restart; doubled on each one after
MAX_BACKOFF = 60.0  # and never longer; a loop that ran this long starts again from the first


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    first: float = FIRST_BACKOFF,
    longest: float = MAX_BACKOFF,
) -> None:
    """Run `run()` until cancelled, restarting it with exponential backoff when it stops.

    The process ends only when asked to: a loop that returns or raises is a bug, logged as one
    line naming the loop and where it failed, never a reason to exit (and never exit 0).
    """
    loop = asyncio.get_running_loop()
    backoff = first
    while True:
        started = loop.time()
        failure = None
        try:
            await run()
        except Exception as exc:
            failure = exception_site(exc)
        if loop.time() - started >= longest:
            backoff = first
        if failure is None:
            log.error("loop_ended", loop=name, restart_in_seconds=backoff)
        else:
            log.error("loop_failed", loop=name, error=failure, restart_in_seconds=backoff)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, longest)
