"""Background loops around the Redis connection: the backend poller and the history keeper."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field, replace

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from exporter.judgement.monitor import Monitor, Transition
from exporter.running.shared_results import SharedResults
from exporter.settings import Settings
from exporter.stored.history import HistoryStore
from exporter.stored.redis_source import RedisSource, RedisView

log = structlog.get_logger("exporter.redis")

REDIS_ERRORS = (RedisError, OSError, TimeoutError)
FIRST_RETRY = 1.0  # seconds; doubled after every failed poll, up to the poll interval


def make_redis(settings: Settings) -> Redis | None:
    """Return the one Redis client of the process (a lazy connection pool), when configured."""
    if settings.redis_url is None:
        return None
    timeout = settings.redis_poll_budget_seconds
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        decode_responses=True,
        encoding_errors="replace",  # a value that is not UTF-8 is garbage to count, not a crash
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )


@dataclass(eq=False)
class RedisPoller:
    """Poll the backend's Redis on schedule; a Redis that is down, slow or holds garbage only
    shows as `provider_exporter_redis_up 0` and missing series, never as a stopped exporter."""

    source: RedisSource
    monitor: Monitor
    _: KW_ONLY
    interval: float
    budget: float  # seconds one poll may take
    now: Callable[[], float]
    on_transition: Callable[[Transition], None]
    _last_success: float | None = field(default=None, init=False)
    _failures: int = field(default=0, init=False)

    async def poll_once(self) -> RedisView:
        """Poll once, publish the result, and return it."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.budget):
                view = await self.source.poll(self.now())
        except Exception as exc:  # Redis away, slow, or a reply we cannot read: never fatal
            view = self._failed(exc, time.perf_counter() - started)
        else:
            duration = time.perf_counter() - started
            self._recovered()
            self._last_success = self.now()
            view = replace(view, poll_duration=duration, last_success=self._last_success)
        for transition in self.monitor.set_redis(view, self.now()):
            self.on_transition(transition)
        return view

    async def run(self) -> None:
        """Poll until cancelled, retrying sooner (1 s, 2 s, 4 s …) while Redis is away."""
        while True:
            started = time.monotonic()
            await self.poll_once()
            delay = self.interval
            if self._failures:
                delay = min(self.interval, FIRST_RETRY * 2 ** (self._failures - 1))
            await asyncio.sleep(max(0.0, delay - (time.monotonic() - started)))

    def _failed(self, exc: BaseException, duration: float) -> RedisView:
        self._failures += 1
        if self._failures == 1:  # once per outage, not once per retry
            log.warning("redis_unavailable", error=exc.__class__.__name__)
        return RedisView(
            up=False,
            poll_duration=duration,
            last_success=self._last_success,
            parse_errors=self.source.parse_errors,
        )

    def _recovered(self) -> None:
        if self._failures:
            log.info("redis_available", failed_polls=self._failures)
        self._failures = 0


@dataclass(eq=False)
class HistoryKeeper:
    """Restore window history once Redis is first reachable, then save it periodically."""

    store: HistoryStore
    monitor: Monitor
    interval: float
    now: Callable[[], float]
    restored: bool = field(default=False, init=False)
    shared: SharedResults | None = field(default=None, init=False)  # the stream the windows include

    async def restore(self, slugs: list[str]) -> bool:
        """Load stored history into the windows; return whether Redis answered."""
        if self.restored:
            return True  # restoring twice would count every stored slot twice
        try:
            records, bad = await self.store.load(slugs)
        except REDIS_ERRORS:
            return False
        except Exception as exc:  # garbage we did not foresee: start without history
            log.warning("history_unreadable", error=exc.__class__.__name__)
            records, bad = {}, 1
        self.monitor.restore_history(records, self.now())
        if self.shared is not None and self.shared.position is None:
            with contextlib.suppress(*REDIS_ERRORS):  # else: from the next shared result on
                position = await self.store.load_position()
                if position is not None:
                    self.shared.resume(position)
        self.restored = True
        log.info("history_restored", providers=len(records), unreadable=bad)
        return True

    async def save(self) -> bool:
        """Save every provider's windows; return whether it worked. Never before a restore."""
        if not self.restored:
            return False
        try:
            now = self.now()
            position = self.shared.checkpoint(now) if self.shared is not None else None
            await self.store.save(self.monitor.history_records(now), position)
        except Exception as exc:  # Redis away or refusing: try again next time
            log.warning("history_save_failed", error=exc.__class__.__name__)
            return False
        return True

    async def run(self, slugs: list[str]) -> None:
        """Restore (retrying until Redis answers), then save every interval until cancelled."""
        delay = FIRST_RETRY
        while not self.restored and not await self.restore(slugs):
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.interval)
        while True:
            await asyncio.sleep(self.interval)
            await self.save()
