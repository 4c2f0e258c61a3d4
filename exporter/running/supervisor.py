"""Keeps the long-running loops alive: one that ends or fails is logged once and restarted;
on the way out each gets a bounded time to stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import structlog

from exporter.logs import exception_site

log = structlog.get_logger("exporter.running.supervisor")

FIRST_BACKOFF = 1.0  # seconds before the first restart; doubled on each one after
MAX_BACKOFF = 60.0  # and never longer; a loop that ran this long starts again from the first
STOP_GRACE = 3.0  # seconds the cancelled loops get to end before shutdown goes on without them

Loop = Callable[[], Awaitable[None]]  # a long-running task, restarted should it ever end


async def supervise(
    name: str,
    run: Loop,
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


async def run_until(
    work: Mapping[str, Loop], stop: asyncio.Event, grace: float = STOP_GRACE
) -> None:
    """Run every loop in `work`, each restarted should it stop, until `stop` is set.

    Then cancel them and wait at most `grace` seconds: a loop still running (a library below it
    swallowed the cancellation) is logged by name and left behind, so the final history save and
    the exit still happen before the platform's SIGKILL.
    """
    tasks = {name: asyncio.ensure_future(supervise(name, run)) for name, run in work.items()}
    try:
        await stop.wait()
    finally:
        for task in tasks.values():
            task.cancel()
        if tasks:
            _, running = await asyncio.wait(tasks.values(), timeout=grace)
            for name, task in tasks.items():
                if task in running:
                    log.error("loop_not_stopped", loop=name, grace_seconds=grace)
