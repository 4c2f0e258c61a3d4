"""Probe results shared between the replicas of one vantage, through a Redis stream.

The replica that owns a provider judges each of its probes itself, then appends the result and
the state it left the provider in to `{scope}results` (trimmed by length). Every other replica
reads the stream and takes them in (`Monitor.apply_shared`): windows, states and scores move
the same everywhere, while counters count only the probes each replica sent. A replica that
cannot write keeps its own judgement; one that cannot read catches up from where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import Any, cast

import structlog
from redis.asyncio import Redis

from exporter.judgement.monitor import Monitor
from exporter.judgement.scoring import Health, State
from exporter.outcomes import Outcome
from exporter.probing.inference import InferenceResult
from exporter.probing.model_lists import ModelList
from exporter.probing.probes import ProbeResult
from exporter.stored.history import Position

log = structlog.get_logger("exporter.shared")

BLOCK_SECONDS = 1.0  # a read waits this long for new results before it asks again
READ_COUNT = 1000  # results taken per read at most
QUEUE_LIMIT = 10_000  # results waiting to be written at most (Redis away: the oldest go)
KEY_TTL_SECONDS = 25 * 3600  # as the history: nothing outlives its use
RENEW_SECONDS = 60.0  # the TTL is renewed with a write at most this often
MAX_BACKOFF = 3600.0  # as the schedulers: a Retry-After longer than an hour is not honoured
RETRY = 1.0  # seconds before a failed read is tried again
SAMPLE_SHARED = 20  # model ids of a list's sample that travel with a result (entries stay small)
Entry = dict[str, str]
Reply = list[tuple[str, list[tuple[str, Entry]]]] | None  # XREAD's, decoded


def stream_length(targets: int) -> int:
    """Return how many results the stream keeps: ten minutes of 1 s probes of every target,
    and never fewer than 1 000 (a replica restarted within that catches up exactly)."""
    return max(1000, 600 * targets)


def backoff_of(result: ProbeResult | InferenceResult) -> float:
    """Return how long a peer is leaving a provider alone after this result (Retry-After)."""
    if result.outcome is Outcome.HTTP_429 and result.retry_after:
        return min(result.retry_after, MAX_BACKOFF)
    return 0.0


def _health(health: Health, judged_since: float) -> dict[str, Any]:
    since = judged_since if math.isfinite(judged_since) else None
    return {
        "state": health.state.value,
        "since": health.since,
        "reason": health.reason,
        "failures": health.failures,
        "answers": health.answers,
        "judged_since": since,
    }


def encode(
    me: str, result: ProbeResult | InferenceResult, health: Health, since: float, ignored: bool
) -> Entry:
    """Return the stream entry of one judged probe."""
    data = asdict(result)
    data["outcome"] = result.outcome.value
    if isinstance(result, ProbeResult) and result.models is not None:
        sample = list(result.models.sample[:SAMPLE_SHARED])  # the full list stays with its owner
        seen = sorted(result.models.watched_seen)
        data["models"] = {**data["models"], "sample": sample, "watched_seen": seen}
    return {
        "replica": me,
        "kind": "inference" if isinstance(result, InferenceResult) else "list",
        "ignored": "1" if ignored else "0",
        "result": json.dumps(data, separators=(",", ":")),
        "health": json.dumps(_health(health, since), separators=(",", ":")),
    }


def decode(entry: Entry) -> tuple[ProbeResult | InferenceResult, Health, float, bool]:
    """Return a stream entry's result, health, error-ratio start and blindness.

    Raises ValueError, KeyError or TypeError on an entry this version did not write."""
    data = json.loads(entry["result"])
    state = json.loads(entry["health"])
    data["outcome"] = Outcome(data["outcome"])
    result: ProbeResult | InferenceResult
    if entry["kind"] == "inference":
        result = InferenceResult(**_known(InferenceResult, data))
    elif entry["kind"] == "list":
        models = data.get("models")
        if models is not None:
            data["models"] = ModelList(
                count=int(models["count"]),
                sample=tuple(models["sample"]),
                watched_seen=frozenset(models["watched_seen"]),
                complete=bool(models["complete"]),
            )
        result = ProbeResult(**_known(ProbeResult, data))
    else:
        raise ValueError(f"unknown kind {entry['kind']!r}")
    if not isinstance(result.slug, str) or not isinstance(result.started, int | float):
        raise TypeError("not a result")
    health = Health(
        State(state["state"]),
        float(state["since"]),
        str(state["reason"]),
        int(state["failures"]),
        int(state["answers"]),
    )
    since = state["judged_since"]
    judged_since = -math.inf if since is None else float(since)
    return result, health, judged_since, entry["ignored"] == "1"


def _known(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    """Keep the fields this version knows: a newer replica may send more."""
    names = {f.name for f in fields(kind)}
    return {key: value for key, value in data.items() if key in names}


class SharedResults:
    """Write this replica's judged probes to the stream and take in its peers'."""

    def __init__(
        self,
        client: Redis,
        key: str,
        me: str,
        monitor: Monitor,
        *,
        length: int,
        now: Callable[[], float],
        block: float = BLOCK_SECONDS,
    ) -> None:
        self._client = client
        self._key = key
        self._me = me
        self._monitor = monitor
        self._length = length
        self._now = now
        self._block = block  # shorter than the client's socket timeout, or every read fails
        self._queue: asyncio.Queue[Entry] = asyncio.Queue(QUEUE_LIMIT)
        self.position: str | None = None  # the last entry read; None: from the next one
        self._skip: Position | None = None  # what restored windows include of the stream
        self._renewed = -math.inf  # when the stream's TTL was last renewed (monotonic)
        self.lag: float | None = None
        self.unreadable = 0
        self._failing = {"read": False, "write": False}

    def share(self, result: ProbeResult | InferenceResult, *, enabled: bool = True) -> None:
        """Queue a probe this replica just judged, for its peers (only while sharing)."""
        if not enabled:
            return
        model = result.model if isinstance(result, InferenceResult) else ""
        health, since, ignored = self._monitor.shared_state(result.slug, model)
        entry = encode(self._me, result, health, since, ignored)
        if self._queue.full():
            self._queue.get_nowait()  # Redis away this long: the oldest result is stale
        self._queue.put_nowait(entry)

    async def write(self) -> None:
        """Write queued results until cancelled, all that wait in one round trip."""
        while True:
            entries = [await self._queue.get()]
            while not self._queue.empty():
                entries.append(self._queue.get_nowait())
            pipe = self._client.pipeline(transaction=False)
            for entry in entries:
                pipe.xadd(self._key, entry, maxlen=self._length, approximate=True)  # type: ignore[arg-type]
            renew = time.monotonic() - self._renewed >= RENEW_SECONDS
            if renew:
                pipe.expire(self._key, KEY_TTL_SECONDS)
            try:
                await pipe.execute()
            except Exception as exc:  # peers miss these; this replica has judged them already
                self._trouble("write", exc)
            else:
                self._fine("write")
                if renew:
                    self._renewed = time.monotonic()

    async def read(self) -> None:
        """Take in peers' results until cancelled, resuming after a failure where it stopped."""
        while True:
            try:
                if self.position is None:
                    self.position = await self._last_id()
                async with asyncio.timeout(self._block + 5.0):
                    raw = await self._client.xread(
                        {self._key: self.position}, count=READ_COUNT, block=int(self._block * 1000)
                    )
            except Exception as exc:
                self._trouble("read", exc)
                await asyncio.sleep(RETRY)
                continue
            self._fine("read")
            for _key, entries in cast(Reply, raw) or ():
                for entry_id, entry in entries:
                    self.position = entry_id
                    self.take(entry)

    def checkpoint(self, now: float) -> Position | None:
        """Return which shared results this replica's windows include as of `now`."""
        return Position(self.position, self._me, now) if self.position is not None else None

    def resume(self, position: Position) -> None:
        """Read on from where restored windows stop (set before the first read)."""
        self.position, self._skip = position.entry, position

    def take(self, entry: Entry) -> None:
        """Apply one peer's entry (this replica's own were applied when judged); one that
        cannot be read or applied is counted, logged once, and skipped."""
        if entry.get("replica") == self._me:
            return
        try:
            self._apply(entry)
        except Exception as exc:  # another version's entry, garbage, or a bug of ours
            self.unreadable += 1
            if self.unreadable == 1:  # once, not once per entry
                log.warning("shared_result_unreadable", key=self._key, error=exc.__class__.__name__)

    def _apply(self, entry: Entry) -> None:
        result, health, since, ignored = decode(entry)
        now = self._now()
        recorded = result.started + result.duration
        skip = self._skip
        if skip is not None and entry["replica"] == skip.replica and recorded <= skip.saved_at:
            return  # in the restored windows already
        self.lag = max(0.0, now - recorded)
        with contextlib.suppress(KeyError):  # a provider or model this replica does not watch
            if isinstance(result, InferenceResult):
                self._monitor.apply_shared_inference(result, health, since, ignored, recorded)
                self._monitor.set_model_backoff(result.slug, result.model, backoff_of(result))
            else:
                self._monitor.apply_shared(result, health, since, ignored, recorded)
                self._monitor.set_backoff(result.slug, backoff_of(result))

    async def _last_id(self) -> str:
        """Return the id of the newest entry, so that reading starts after it."""
        newest = await self._client.xrevrange(self._key, count=1)
        return str(newest[0][0]) if newest else "0-0"

    def _trouble(self, what: str, exc: BaseException) -> None:
        if not self._failing[what]:
            self._failing[what] = True
            log.warning(f"shared_results_{what}_failed", error=exc.__class__.__name__)

    def _fine(self, what: str) -> None:
        if self._failing[what]:
            self._failing[what] = False
            log.info(f"shared_results_{what}_restored")
