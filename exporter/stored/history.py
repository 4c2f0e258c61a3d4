"""Window history kept in Redis under the exporter's own prefix, so restarts lose nothing."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis

log = structlog.get_logger("exporter.stored.history")

VERSION = 1
TTL_SECONDS = 25 * 3600  # a day of history plus margin; nothing grows without bound
MAX_COUNT = 2**31 - 1  # a slot count beyond this is corrupt (and would not fit a 32-bit ring)

# {"v": 1, "rings": {window: [[slot_start, [counts...]], ...]}, "models": {model: [[start, [c]]]}}
Record = dict[str, Any]


def encode(record: Record) -> str:
    return json.dumps({"v": VERSION, **record}, separators=(",", ":"))


def decode(raw: str) -> Record | None:
    """Return a record, or None when `raw` is not one this version wrote."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("v") != VERSION:
        return None
    rings = data.get("rings")
    models = data.get("models", {})
    if not isinstance(rings, dict) or not isinstance(models, dict):
        return None
    return {
        "rings": {name: _slots(slots) for name, slots in rings.items() if isinstance(name, str)},
        "models": {name: _slots(slots) for name, slots in models.items() if isinstance(name, str)},
    }


def _slots(raw: object) -> list[tuple[float, list[int]]]:
    """Keep only well-formed [start, [non-negative ints]] pairs."""
    if not isinstance(raw, list):
        return []
    slots = []
    for item in raw:
        if not (isinstance(item, list) and len(item) == 2):
            continue
        start, counts = item
        if not isinstance(start, int | float) or not isinstance(counts, list):
            continue
        if all(_is_count(c) for c in counts):
            slots.append((float(start), counts))
    return slots


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_COUNT


class HistoryStore:
    """Save and load per-provider window records under `{prefix}history:{slug}` (the prefix
    of the vantage: see `replicas.scope`)."""

    def __init__(self, client: Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    def key(self, slug: str) -> str:
        return f"{self._prefix}history:{slug}"

    async def load(self, slugs: Iterable[str]) -> tuple[dict[str, Record], int]:
        """Return the stored records and how many stored values could not be read."""
        slugs = list(slugs)
        raws = await self._client.mget([self.key(slug) for slug in slugs]) if slugs else []
        records: dict[str, Record] = {}
        bad = 0
        for slug, raw in zip(slugs, raws, strict=True):
            if raw is None:
                continue
            record = decode(raw if isinstance(raw, str) else raw.decode(errors="replace"))
            if record is None:
                bad += 1
            else:
                records[slug] = record
        return records, bad

    @property
    def position_key(self) -> str:
        return f"{self._prefix}history_position"

    async def save(self, records: Mapping[str, Record], position: Position | None = None) -> None:
        """Write every record with a TTL, and which shared results they include, at once."""
        pipe = self._client.pipeline(transaction=position is not None)
        for slug, record in records.items():
            pipe.set(self.key(slug), encode(record), ex=TTL_SECONDS)
        if position is not None:
            pipe.set(self.position_key, position.encode(), ex=TTL_SECONDS)
        await pipe.execute()

    async def load_position(self) -> Position | None:
        """Return which shared results the stored records include, if that is known."""
        raw = await self._client.get(self.position_key)
        text = raw if isinstance(raw, str) or raw is None else raw.decode(errors="replace")
        return Position.decode(text) if text is not None else None


@dataclass(frozen=True, slots=True)
class Position:
    """Which shared results saved windows include: every entry up to `entry` (the saver's
    read position), and the saver's own results judged up to `saved_at` (it counts its own
    at once, before reading them back)."""

    entry: str  # a stream id
    replica: str
    saved_at: float

    def encode(self) -> str:
        return f"{self.entry} {self.replica} {self.saved_at!r}"

    @classmethod
    def decode(cls, text: str) -> Position | None:
        parts = text.split(" ")
        if len(parts) != 3 or not _is_stream_id(parts[0]):
            return None
        try:
            saved_at = float(parts[2])
        except ValueError:
            return None
        return cls(parts[0], parts[1], saved_at) if math.isfinite(saved_at) else None


def _is_stream_id(text: str) -> bool:
    ms, dash, seq = text.partition("-")
    return bool(dash) and ms.isdigit() and seq.isdigit()
