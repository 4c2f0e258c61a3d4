"""Runs every inference-probed model's probes on schedule, within the daily token budget."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

import structlog

from exporter.judgement.monitor import Monitor, Transition
from exporter.logs import exception_site
from exporter.outcomes import Outcome
from exporter.probing.budget import TokenBudget
from exporter.probing.connectivity import NETWORK_OUTCOMES, ConnectivityCheck
from exporter.probing.inference import InferenceProber, InferenceResult
from exporter.running.scheduler import (
    JITTER,
    MAX_BACKOFF,
    MAX_CONFIRM_SPACING,
    MAX_TICK,
    sleep_until,
)
from exporter.targets import Target

log = structlog.get_logger("exporter.probing.inference")

Pair = tuple[Target, str]
OnResult = Callable[[InferenceResult | None, str, str, list[Transition]], None]


class InferenceScheduler:
    """One task per probed model; a probe that would cross the budget is never sent."""

    def __init__(
        self,
        pairs: Sequence[Pair],
        prober: InferenceProber,
        monitor: Monitor,
        budget: TokenBudget,
        *,
        interval: float,
        now: Callable[[], float],
        on_result: OnResult | None = None,
    ) -> None:
        self._pairs = [(target, model) for target, model in pairs if target.configured]
        self._prober = prober
        self._monitor = monitor
        self._budget = budget
        self._interval = interval
        self._tick = min(interval / 5, MAX_TICK)
        self._now = now
        self._on_result = on_result
        self.connectivity: ConnectivityCheck | None = None  # set with connectivity targets
        self.owns: Callable[[str], bool] = lambda _slug: True  # as Scheduler.owns
        self.share: Callable[[InferenceResult], None] | None = None  # as Scheduler.share
        self._crash_sites: dict[tuple[str, str], set[str]] = {}

    async def run(self) -> None:
        """Probe every configured pair until cancelled."""
        async with asyncio.TaskGroup() as group:
            for target, model in self._pairs:
                group.create_task(self._loop(target, model), name=f"inference:{target.slug}")

    async def _loop(self, target: Target, model: str) -> None:
        loop = asyncio.get_running_loop()
        regular = loop.time() + random.uniform(0, min(self._interval, 2.0))
        due = regular
        while True:
            await sleep_until(loop, due, self._tick)
            if not self.owns(target.slug):  # its provider is another replica's
                regular = max(regular + self._interval, loop.time())
                due = regular
                continue
            try:
                result = await self._probe_once(target, model)
            except Exception as exc:  # a bug must not stop the other pairs' probes
                self._crashed(target, model, exc)
                result = None
            finished = loop.time()
            if finished >= regular:  # this probe took the regular slot: move to the next one
                regular = max(regular + self._interval, finished)
            try:
                due = self._next_due(target, model, result, regular, finished)
            except Exception as exc:
                self._crashed(target, model, exc)
                due = regular

    async def _probe_once(self, target: Target, model: str) -> InferenceResult | None:
        pair = (target.slug, model)
        reserved = self._budget.reserve(pair, self._now())
        if reserved is None:
            changes = self._monitor.skip_inference(target.slug, model, self._now())
            self._report(None, target.slug, model, changes)
            return None
        offline_before = self._monitor.network.offline()
        result: InferenceResult | None = None
        try:
            result = await self._prober.probe(target, model)
        finally:  # cancelled mid-probe: the whole reservation counts as spent
            self._budget.settle(pair, reserved, result, self._now())
        if self.connectivity is not None and result.outcome in NETWORK_OUTCOMES:
            loop = asyncio.get_running_loop()
            await self.connectivity.check_now(after=loop.time())  # is it us?
        changes = self._monitor.record_inference(result, self._now(), offline_before=offline_before)
        if self.share is not None:
            self.share(result)
        self._report(result, target.slug, model, changes)
        self._crash_sites.pop(pair, None)
        return result

    def _report(
        self, result: InferenceResult | None, slug: str, model: str, changes: list[Transition]
    ) -> None:
        if self._on_result is not None:
            self._on_result(result, slug, model, changes)

    def _next_due(
        self,
        target: Target,
        model: str,
        result: InferenceResult | None,
        regular: float,
        now: float,
    ) -> float:
        backoff = 0.0
        if result is not None and result.outcome is Outcome.HTTP_429 and result.retry_after:
            backoff = min(result.retry_after, MAX_BACKOFF)
        self._monitor.set_model_backoff(target.slug, model, backoff)
        if backoff > self._interval:
            return now + backoff
        if result is not None and self._monitor.model_needs_confirmation(target.slug, model):
            return now + min(self._interval / 3, MAX_CONFIRM_SPACING)
        return regular + random.uniform(0, JITTER * self._interval)

    def _crashed(self, target: Target, model: str, exc: Exception) -> None:
        """Log a bug around a probe once per place it is raised."""
        site = exception_site(exc)
        sites = self._crash_sites.setdefault((target.slug, model), set())
        if site not in sites:
            sites.add(site)
            log.error("inference_probe_crashed", provider=target.slug, model=model, error=site)
