"""Is it us or them: whether the exporter itself can reach the network.

Measured by TCP connects to `CONNECTIVITY_CHECK_TARGETS` (hosts that always answer while our own
network works), or, without targets, inferred: every watched provider (at least 3) failing with a
network-class outcome within one interval. While offline, such failures say nothing about the
providers, so the monitor does not count them against anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence

from exporter.outcomes import Outcome
from exporter.settings import parse_host_port

# Outcomes that mean "we could not reach anything": the ones a lost network produces.
NETWORK_OUTCOMES = frozenset({Outcome.CONNECT_ERROR, Outcome.DNS_ERROR, Outcome.TIMEOUT})
MIN_PROVIDERS_TO_INFER = 3
FRESH_SECONDS = 1.0  # a check this recent answers a "check now" without connecting again


class Network:
    """The exporter's own view of its network; pure bookkeeping, `now` passed in."""

    def __init__(self, measured: bool, providers: Iterable[str], window: float) -> None:
        self.measured = measured  # connectivity targets are configured
        self.up: bool | None = None  # the last check's answer (None: no targets, or not yet)
        self._providers = frozenset(providers)
        self._window = window  # "within one interval" (plus the probe timeout)
        self._last: dict[str, tuple[float, bool]] = {}  # slug -> (when, network-class failure)
        self._inferred = False

    def checked(self, up: bool) -> None:
        """Take the result of a connectivity check."""
        self.up = up

    def probed(self, slug: str, outcome: Outcome, now: float) -> None:
        """Note a provider's probe outcome (for the inference without targets)."""
        failed = outcome in NETWORK_OUTCOMES
        self._last[slug] = (now, failed)
        if not failed:
            self._inferred = False  # someone answered (or failed otherwise): the network works
        elif not self.measured and len(self._providers) >= MIN_PROVIDERS_TO_INFER:
            self._inferred = self._inferred or self._all_failed(now)

    def offline(self) -> bool:
        """Tell whether the exporter is offline now."""
        if self.measured:
            return self.up is False
        return self._inferred

    def _all_failed(self, now: float) -> bool:
        """Every provider heard from within the window (3 at least) failed for want of a network;
        providers not probed meanwhile (in a Retry-After back-off, say) are not waited for."""
        recent = [failed for when, failed in self._last.values() if now - when <= self._window]
        return len(recent) >= MIN_PROVIDERS_TO_INFER and all(recent)


def parse_targets(items: Iterable[str]) -> list[tuple[str, int]]:
    """Return (host, port) pairs of validated `host:port` items."""
    return [parse_host_port(item) for item in items]


class ConnectivityCheck:
    """TCP-connects to every target each interval, and at once when asked; up while any connects."""

    def __init__(
        self,
        targets: Sequence[tuple[str, int]],
        *,
        interval: float,
        timeout: float,
        on_result: Callable[[bool], None],
    ) -> None:
        self._targets = targets
        self._interval = interval
        self._timeout = timeout
        self._on_result = on_result
        self._checked_since = -float("inf")  # when the last finished check started
        self._running: asyncio.Future[bool] | None = None
        self._running_since = -float("inf")
        self._last = True  # the last check's answer

    async def run(self) -> None:
        """Check every interval until cancelled (failed probes also ask, with `check_now`)."""
        while True:
            await self.check_now(after=asyncio.get_running_loop().time())
            await asyncio.sleep(self._interval)

    async def check_now(self, after: float | None = None) -> bool:
        """Return whether the network is up, checking unless a check that started at or after
        loop time `after` (default: a second ago) answers already; concurrent callers share one.

        A failed probe passes the time it ended: only a check begun since says whether the
        network is there, before that failure counts.
        """
        loop = asyncio.get_running_loop()
        after = loop.time() - FRESH_SECONDS if after is None else after
        while True:
            running = self._running
            if running is None and self._checked_since >= after:
                return self._last
            if running is None:
                self._running_since = loop.time()
                running = self._running = asyncio.ensure_future(self._check())
                running.add_done_callback(self._done)
            if self._running_since >= after:
                return await asyncio.shield(running)
            await asyncio.shield(running)  # begun too early to answer: wait, then check anew

    def _done(self, future: asyncio.Future[bool]) -> None:
        self._checked_since, self._running = self._running_since, None

    async def _check(self) -> bool:
        results = await asyncio.gather(*(self._connect(h, p) for h, p in self._targets))
        self._last = any(results)
        self._on_result(self._last)
        return self._last

    async def _connect(self, host: str, port: int) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                _, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError, ValueError):  # ValueError: a name that cannot be encoded
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
