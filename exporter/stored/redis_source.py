"""Passive signals from the GatewayZ backend's Redis: breakers, traffic counters, latencies.

Strictly read-only on the backend's keys: GET, HGETALL, ZRANGEBYSCORE and SCAN, pipelined.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from redis.asyncio import Redis

from exporter.catalog import ALIASES, normalise_slug
from exporter.quantiles import quantile

log = structlog.get_logger("exporter.redis")

BREAKER_STATES = ("closed", "open", "half_open")
QUANTILES = (0.5, 0.95, 0.99)
LATENCY_HORIZON = 3600.0  # the backend trims samples older than an hour only on its next write
SCAN_COUNT = 1000
PIPELINE_BATCH = 500
BACKEND_STATUSES = ("online", "degraded", "offline")
# Key patterns whose values are parsed (the label of provider_exporter_redis_parse_errors_total).
PATTERNS = (
    "circuit_breaker:{provider}:state",
    "metrics:{provider}:{hour}",
    "latency:{provider}:{model}",
    "health:providers",
    "health:models",
)


@dataclass(frozen=True, slots=True)
class Traffic:
    """What the backend recorded for one provider."""

    requests: float | None = None  # over the last hour
    failures: float | None = None  # over the last hour (under-recorded by today's backend)
    latency: Mapping[float, float] = field(default_factory=dict)  # quantile -> seconds

    @property
    def failure_ratio(self) -> float | None:
        """Return failures / requests, or None without traffic or without recorded failures.

        The backend records only successes today: a ratio of 0 from it would be made up.
        """
        if not self.requests or not self.failures:
            return None
        return min(1.0, self.failures / self.requests)


@dataclass(frozen=True, slots=True)
class RedisView:
    """One poll's worth of the backend's Redis, immutable."""

    up: bool
    poll_duration: float | None = None
    last_success: float | None = None
    keys_read: int = 0
    parse_errors: Mapping[str, int] = field(default_factory=dict)  # cumulative, by key pattern
    breakers: Mapping[str, str] = field(default_factory=dict)
    traffic: Mapping[str, Traffic] = field(default_factory=dict)
    backend_status: Mapping[str, str] = field(default_factory=dict)
    backend_models: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


def hour_keys(now: float) -> tuple[str, str]:
    """Return the backend's hour suffixes (`YYYY-MM-DD:HH`, UTC) for this hour and the previous."""
    this = datetime.fromtimestamp(now, UTC)
    previous = datetime.fromtimestamp(now - 3600, UTC)
    return this.strftime("%Y-%m-%d:%H"), previous.strftime("%Y-%m-%d:%H")


def spellings(slugs: Iterable[str]) -> dict[str, str]:
    """Return every spelling the backend may use for each slug, mapped to the hyphenated slug."""
    reverse: dict[str, list[str]] = {}
    for alias, slug in ALIASES.items():
        reverse.setdefault(slug, []).append(alias)
    spelled = {}
    for slug in slugs:
        for variant in (slug, slug.replace("-", "_"), *reverse.get(slug, [])):
            spelled[variant] = slug
    return spelled


class RedisSource:
    """Read the backend's keys for the known providers; count values that do not parse."""

    def __init__(self, client: Redis, slugs: Iterable[str], max_keys: int) -> None:
        self._client = client
        self._spellings = spellings(slugs)
        self._max_keys = max_keys
        self._decode = Decoder(self._spellings)

    @property
    def parse_errors(self) -> dict[str, int]:
        return self._decode.parse_errors

    async def poll(self, now: float) -> RedisView:
        """Read everything once. Raises redis errors and TimeoutError; never on bad values."""
        direct, found = await self._read_direct(now)
        latency_keys = await self._scan("latency:*")
        samples = await self._read_latencies(latency_keys, now)
        breakers, traffic, status = self._decode.direct(direct, now)
        models = self._decode.backend_models(direct.get("health:models"))
        for slug, values in samples.items():
            old = traffic.get(slug, Traffic())
            traffic[slug] = Traffic(old.requests, old.failures, _quantiles(values))
        return RedisView(
            up=True,
            keys_read=found + len(latency_keys),
            parse_errors=self._decode.parse_errors,
            breakers=breakers,
            traffic=traffic,
            backend_status=status,
            backend_models=models,
        )

    async def _read_direct(self, now: float) -> tuple[dict[str, Any], int]:
        this_hour, last_hour = hour_keys(now)
        keys: list[tuple[str, str]] = []
        pipe = self._client.pipeline(transaction=False)
        for variant in self._spellings:
            for key, command in (
                (f"circuit_breaker:{variant}:state", "get"),
                (f"metrics:{variant}:{this_hour}", "hgetall"),
                (f"metrics:{variant}:{last_hour}", "hgetall"),
            ):
                keys.append((key, command))
                getattr(pipe, command)(key)
        for key in ("health:providers", "health:models"):
            keys.append((key, "get"))
            pipe.get(key)
        replies = await pipe.execute(raise_on_error=False)
        direct = {}
        for (key, _), reply in zip(keys, replies, strict=True):
            if isinstance(reply, Exception):  # e.g. WRONGTYPE: someone else's key, not ours to read
                self._decode.bad(_pattern_of(key))
            elif reply:
                direct[key] = reply
        return direct, len(direct)

    async def _scan(self, pattern: str) -> list[str]:
        keys: list[str] = []
        cursor = 0
        while True:
            cursor, batch = await self._client.scan(cursor, match=pattern, count=SCAN_COUNT)
            keys.extend(str(key) for key in batch)
            if cursor == 0 or len(keys) >= self._max_keys:
                return keys[: self._max_keys]

    async def _read_latencies(self, keys: list[str], now: float) -> dict[str, list[float]]:
        samples: dict[str, list[float]] = {}
        for start in range(0, len(keys), PIPELINE_BATCH):
            batch = keys[start : start + PIPELINE_BATCH]
            pipe = self._client.pipeline(transaction=False)
            for key in batch:
                pipe.zrangebyscore(key, now - LATENCY_HORIZON, "+inf")
            replies = await pipe.execute(raise_on_error=False)
            for key, members in zip(batch, replies, strict=True):
                slug = self._decode.slug_of_latency_key(key)
                if slug is None:
                    continue
                if isinstance(members, Exception):  # a `latency:` key that is not a sorted set
                    self._decode.bad("latency:{provider}:{model}")
                    continue
                samples.setdefault(slug, []).extend(self._decode.latencies(members))
        return samples


class Decoder:
    """The decoders of each key pattern the backend writes; a value that does not parse is
    counted (and logged once per pattern), never raised."""

    def __init__(self, spellings: Mapping[str, str]) -> None:
        self._spellings = spellings  # every spelling of a known provider -> its slug
        self._errors: Counter[str] = Counter(dict.fromkeys(PATTERNS, 0))
        self._logged: set[str] = set()

    @property
    def parse_errors(self) -> dict[str, int]:
        return dict(self._errors)

    def slug_of_latency_key(self, key: str) -> str | None:
        _, _, rest = key.partition(":")
        provider, _, model = rest.partition(":")
        slug = self._spellings.get(provider) or self._spellings.get(normalise_slug(provider))
        if not model:
            self.bad("latency:{provider}:{model}")
        return slug if model else None

    def latencies(self, members: Iterable[str]) -> Iterable[float]:
        for member in members:
            try:
                millis = float(member)
            except (TypeError, ValueError):
                self.bad("latency:{provider}:{model}")
                continue
            if math.isfinite(millis) and millis >= 0:
                yield millis / 1000
            else:
                self.bad("latency:{provider}:{model}")

    def direct(
        self, direct: Mapping[str, Any], now: float
    ) -> tuple[dict[str, str], dict[str, Traffic], dict[str, str]]:
        this_hour, last_hour = hour_keys(now)
        elapsed = (now % 3600) / 3600  # share of the current hour already gone
        breakers: dict[str, str] = {}
        traffic: dict[str, Traffic] = {}
        for variant, slug in self._spellings.items():
            state = direct.get(f"circuit_breaker:{variant}:state")
            if state is not None:
                self.breaker(slug, state, breakers)
            current = self.counts(direct.get(f"metrics:{variant}:{this_hour}"))
            previous = self.counts(direct.get(f"metrics:{variant}:{last_hour}"))
            if current is None and previous is None:
                continue
            # Last hour ≈ this hour so far + the part of the previous hour still inside the hour.
            weight = 1 - elapsed
            (cur_req, cur_fail), (prev_req, prev_fail) = current or (0, 0), previous or (0, 0)
            traffic[slug] = Traffic(cur_req + weight * prev_req, cur_fail + weight * prev_fail)
        return breakers, traffic, self.backend_status(direct.get("health:providers"))

    def breaker(self, slug: str, raw: str, breakers: dict[str, str]) -> None:
        state = raw.strip().lower()
        if state in BREAKER_STATES:
            breakers[slug] = state
        else:
            self.bad("circuit_breaker:{provider}:state")

    def counts(self, fields: Mapping[str, str] | None) -> tuple[int, int] | None:
        if not fields:
            return None
        try:
            total = int(fields.get("total_requests", "0"))
            failed = int(fields.get("failed_requests", "0"))
        except ValueError:
            self.bad("metrics:{provider}:{hour}")
            return None
        if total < 0 or failed < 0:
            self.bad("metrics:{provider}:{hour}")
            return None
        return total, failed

    def backend_status(self, raw: str | None) -> dict[str, str]:
        """Return the backend monitor's own status per provider (health:providers)."""
        status = {}
        for slug, value in self.monitor_rows(raw, "health:providers", "providers"):
            if value in BACKEND_STATUSES:
                status[slug] = value
        return status

    def backend_models(self, raw: str | None) -> dict[str, dict[str, int]]:
        """Count the backend monitor's healthy and unhealthy models per provider (health:models)."""
        counts: dict[str, dict[str, int]] = {}
        for slug, value in self.monitor_rows(raw, "health:models", "models"):
            if value in ("healthy", "unhealthy"):
                counts.setdefault(slug, {"healthy": 0, "unhealthy": 0})[value] += 1
        return counts

    def monitor_rows(self, raw: str | None, key: str, field: str) -> list[tuple[str, str]]:
        """Return (slug, status) of the rows of a backend monitor key about known providers."""
        if raw is None:
            return []
        try:
            rows = json.loads(raw)[field]
            assert isinstance(rows, list)
        except (ValueError, KeyError, TypeError, AssertionError, RecursionError):
            self.bad(key)
            return []
        found = []
        for row in rows:
            slug = self._spellings.get(str(row.get("provider"))) if isinstance(row, dict) else None
            if slug is not None:
                found.append((slug, str(row.get("status"))))
        return found

    def bad(self, pattern: str) -> None:
        """Count a value that did not parse; log once per key pattern."""
        self._errors[pattern] += 1
        if pattern not in self._logged:
            self._logged.add(pattern)
            log.warning("redis_value_unparsable", pattern=pattern)


def _pattern_of(key: str) -> str:
    """Return the documented pattern a backend key belongs to."""
    if key.startswith("circuit_breaker:"):
        return "circuit_breaker:{provider}:state"
    if key.startswith("metrics:"):
        return "metrics:{provider}:{hour}"
    return key  # health:providers, health:models


def _quantiles(values: list[float]) -> dict[float, float]:
    ordered = sorted(values)
    result = {q: quantile(ordered, q) for q in QUANTILES}
    return {q: value for q, value in result.items() if value is not None}
