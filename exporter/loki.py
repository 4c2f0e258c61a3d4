"""Ship state changes and probe failures to Loki's push API, never at the cost of probing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import aiohttp
import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = structlog.get_logger("exporter.loki")

SHIPPED_EVENTS = frozenset({"provider_state_changed", "probe_failed", "redis_unavailable"})
LABELS = ("level", "provider")  # plus app and env; everything else stays in the line
QUEUE_SIZE = 1000
BATCH_SIZE = 100
BATCH_WAIT = 1.0  # seconds a batch may wait to fill
PUSH_TIMEOUT = 5.0

Entry = tuple[dict[str, str], str, str]  # labels, unix nanoseconds, line


class LokiShipper:
    """A structlog processor feeding a bounded queue, and the task that pushes it in batches.

    When the queue is full (Loki away or slow) new entries are dropped and counted: the queue
    never grows and logging never waits.
    """

    def __init__(self, url: str, app: str, env: str, queue_size: int = QUEUE_SIZE) -> None:
        self._url = url.rstrip("/") + "/loki/api/v1/push"
        self._static = {"app": app, "env": env}
        self._queue: asyncio.Queue[Entry] = asyncio.Queue(queue_size)
        self.pushed = 0
        self.dropped = {"queue_full": 0, "push_failed": 0}
        self._failing = False

    def __call__(
        self, _logger: object, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Queue a copy of a shipped event; hand the event on unchanged."""
        if event.get("event") in SHIPPED_EVENTS:
            labels = dict(self._static)
            labels.update({k: str(event[k]) for k in LABELS if event.get(k) is not None})
            line = json.dumps(event, default=str, separators=(",", ":"))
            try:
                self._queue.put_nowait((labels, str(time.time_ns()), line))
            except asyncio.QueueFull:
                self.dropped["queue_full"] += 1
        return event

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Push batches until cancelled."""
        while True:
            batch = [await self._queue.get()]
            deadline = asyncio.get_running_loop().time() + BATCH_WAIT
            while len(batch) < BATCH_SIZE:
                remaining = deadline - asyncio.get_running_loop().time()
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), max(remaining, 0)))
                except TimeoutError:
                    break
            await self._push(session, batch)

    async def _push(self, session: aiohttp.ClientSession, batch: list[Entry]) -> None:
        streams: dict[tuple[tuple[str, str], ...], list[list[str]]] = {}
        for labels, stamp, line in batch:
            streams.setdefault(tuple(sorted(labels.items())), []).append([stamp, line])
        body = {"streams": [{"stream": dict(k), "values": v} for k, v in streams.items()]}
        try:
            async with session.post(
                self._url, json=body, timeout=aiohttp.ClientTimeout(total=PUSH_TIMEOUT)
            ) as response:
                ok = response.status < 300
        except (aiohttp.ClientError, OSError, TimeoutError):
            ok = False
        if ok:
            self.pushed += len(batch)
        else:
            self.dropped["push_failed"] += len(batch)
        if ok == self._failing:  # log the change, not every failed push
            self._failing = not ok
            log.warning("loki_push_failing") if not ok else log.info("loki_push_recovered")

    async def flush(self, session: aiohttp.ClientSession) -> None:
        """Push what is still queued, once, on the way out."""
        batch: list[Entry] = []
        while not self._queue.empty() and len(batch) < BATCH_SIZE * 10:
            batch.append(self._queue.get_nowait())
        if batch:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._push(session, batch)

    @property
    def queued(self) -> int:
        return self._queue.qsize()


class LokiCollector(Collector):
    """The shipper's own counters, read at scrape time from memory."""

    def __init__(self, shipper: LokiShipper) -> None:
        self._shipper = shipper

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        pushed = CounterMetricFamily(
            "provider_exporter_loki_entries_pushed", "Log entries Loki accepted."
        )
        pushed.add_metric([], self._shipper.pushed)
        dropped = CounterMetricFamily(
            "provider_exporter_loki_entries_dropped",
            "Log entries dropped because Loki was away or slow.",
            labels=["reason"],
        )
        for reason, count in self._shipper.dropped.items():
            dropped.add_metric([reason], count)
        queued = GaugeMetricFamily("provider_exporter_loki_queue_entries", "Entries waiting.")
        queued.add_metric([], self._shipper.queued)
        yield from (pushed, dropped, queued)
