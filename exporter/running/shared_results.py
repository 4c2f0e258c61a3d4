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
from dataclasses import KW_ONLY, asdict, dataclass, field, fields
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


@dataclass(eq=False)
class SharedResults:
    """Write this replica's judged probes to the stream and take in its peers'."""

    client: Redis
    key: str
    me: str  # this replica's id: its own entries are skipped when read back
    monitor: Monitor
    _: KW_ONLY
    length: int  # entries the stream keeps (approximately)
    now: Callable[[], float]
    block: float = BLOCK_SECONDS  # shorter than the client's socket timeout, or reads all fail
    position: str | None = field(default=None, init=False)  # the last entry read; None: next
    lag: float | None = field(default=None, init=False)
    unreadable: int = field(default=0, init=False)
    _skip: Position | None = field(default=None, init=False)  # what restored windows include
    _renewed: float = field(default=-math.inf, init=False)  # when the TTL was last renewed
    _failing: dict[str, bool] = field(
        default_factory=lambda: {"read": False, "write": False}, init=False
    )
    _queue: asyncio.Queue[Entry] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT), init=False
    )

    def share(self, result: ProbeResult | InferenceResult, *, enabled: bool = True) -> None:
        """Queue a probe this replica just judged, for its peers (only while sharing)."""
        if not enabled:
            return
        model = result.model if isinstance(result, InferenceResult) else ""
        health, since, ignored = self.monitor.shared_state(result.slug, model)
        entry = encode(self.me, result, health, since, ignored)
        if self._queue.full():
            self._queue.get_nowait()  # Redis away this long: the oldest result is stale
        self._queue.put_nowait(entry)

    async def write(self) -> None:
        """Write queued results until cancelled, all that wait in one round trip."""
        while True:
            entries = [await self._queue.get()]
            while not self._queue.empty():
                entries.append(self._queue.get_nowait())
            pipe = self.client.pipeline(transaction=False)
            for entry in entries:
                pipe.xadd(self.key, entry, maxlen=self.length, approximate=True)  # type: ignore[arg-type]
            renew = time.monotonic() - self._renewed >= RENEW_SECONDS
            if renew:
                pipe.expire(self.key, KEY_TTL_SECONDS)
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
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():
                # the Redis client can swallow a cancel that lands in a blocking read (seen with
                # redis-py 8.2): this loop is never idle, so stop here or shutdown waits forever
                raise asyncio.CancelledError
            try:
                if self.position is None:
                    self.position = await self._last_id()
                async with asyncio.timeout(self.block + 5.0):
                    raw = await self.client.xread(
                        {self.key: self.position}, count=READ_COUNT, block=int(self.block * 1000)
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

    async def adopt_states(self, entries: int, max_age: float) -> None:
        """Show, until they are probed again, the states the newest entries left each provider
        in (those judged within `max_age`): read once at start, before the stream itself."""
        now = self.now()
        newest = cast(list[tuple[str, Entry]], await self.client.xrevrange(self.key, count=entries))
        seen: set[tuple[str, str]] = set()
        for _entry_id, entry in newest:
            try:
                result, health, since, _ignored = decode(entry)
            except Exception:  # noqa: S112 - counted when the stream itself is read
                continue
            pair = (result.slug, result.model if isinstance(result, InferenceResult) else "")
            if pair in seen or now - (result.started + result.duration) > max_age:
                continue
            seen.add(pair)
            self.monitor.adopt_state(*pair, health, since, now)

    def checkpoint(self, now: float) -> Position | None:
        """Return which shared results this replica's windows include as of `now`."""
        return Position(self.position, self.me, now) if self.position is not None else None

    def resume(self, position: Position) -> None:
        """Read on from where restored windows stop (set before the first read)."""
        self.position, self._skip = position.entry, position

    def take(self, entry: Entry) -> None:
        """Apply one peer's entry (this replica's own were applied when judged); one that
        cannot be read or applied is counted, logged once, and skipped."""
        if entry.get("replica") == self.me:
            return
        try:
            self._apply(entry)
        except Exception as exc:  # another version's entry, garbage, or a bug of ours
            self.unreadable += 1
            if self.unreadable == 1:  # once, not once per entry
                log.warning("shared_result_unreadable", key=self.key, error=exc.__class__.__name__)

    def _apply(self, entry: Entry) -> None:
        result, health, since, ignored = decode(entry)
        now = self.now()
        recorded = result.started + result.duration
        skip = self._skip
        if skip is not None and entry["replica"] == skip.replica and recorded <= skip.saved_at:
            return  # in the restored windows already
        self.lag = max(0.0, now - recorded)
        with contextlib.suppress(KeyError):  # a provider or model this replica does not watch
            if isinstance(result, InferenceResult):
                self.monitor.apply_shared_inference(result, health, since, ignored, recorded)
                self.monitor.set_model_backoff(result.slug, result.model, backoff_of(result))
            else:
                self.monitor.apply_shared(result, health, since, ignored, recorded)
                self.monitor.set_backoff(result.slug, backoff_of(result))

    async def _last_id(self) -> str:
        """Return the id of the newest entry, so that reading starts after it."""
        newest = await self.client.xrevrange(self.key, count=1)
        return str(newest[0][0]) if newest else "0-0"

    def _trouble(self, what: str, exc: BaseException) -> None:
        if not self._failing[what]:
            self._failing[what] = True
            log.warning(f"shared_results_{what}_failed", error=exc.__class__.__name__)

    def _fine(self, what: str) -> None:
        if self._failing[what]:
            self._failing[what] = False
            log.info(f"shared_results_{what}_restored")
