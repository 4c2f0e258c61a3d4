"""Replicas of one vantage share the providers through Redis: heartbeats, leases, ownership.

Each replica adds itself to a sorted set `{scope}replicas` with its lease's expiry (Redis
server time, so replicas' clocks need not agree) every third of a lease; members whose lease
ran out are dropped by the same script. A provider is owned by the live replica that scores
highest for it under rendezvous hashing: when a replica joins, leaves or dies, only the
providers it gains or held move. A replica that has not reached Redis for a whole lease owns
every provider (it probes alone, as without Redis) until a heartbeat succeeds again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis

log = structlog.get_logger("exporter.stored.replicas")

# KEYS[1]: the replica set; ARGV: replica id, lease in ms. Returns the live replicas.
HEARTBEAT = """
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
redis.call('PEXPIRE', KEYS[1], 10 * tonumber(ARGV[2]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


def scope(prefix: str, vantage: str) -> str:
    """Return the key prefix of one vantage's data (the default vantage keeps the bare prefix,
    where round 1 stored its history)."""
    return prefix if vantage == "default" else f"{prefix}{vantage}:"


def replica_id() -> str:
    """Return a name for this process that no other replica shares, even after a restart."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def owner(slug: str, replicas: Iterable[str]) -> str:
    """Return the replica that owns `slug` among `replicas` (rendezvous hashing)."""
    return max(replicas, key=lambda replica: _weight(replica, slug))


def _weight(replica: str, slug: str) -> bytes:
    return hashlib.blake2b(f"{replica}\0{slug}".encode(), digest_size=8).digest()


@dataclass(frozen=True, slots=True)
class ReplicaStats:
    """What a replica knows of its peers, as exported."""

    replicas: int  # live replicas seen, this one included (1 without Redis)
    owned: int  # providers this replica probes
    ownership_changes: int  # providers it gained or lost since start
    shared_lag: float | None = None  # how late the last result from a peer arrived here
    unreadable: int = 0  # shared results that could not be read


class Membership:
    """This replica's heartbeat and its share of the providers."""

    def __init__(
        self,
        client: Redis,
        key: str,
        slugs: Iterable[str],
        *,
        lease: float,
        me: str | None = None,
        blind: Callable[[], bool] = lambda: False,
    ) -> None:
        self._client = client
        self._key = key
        self._slugs = tuple(slugs)
        self.lease = lease
        self.me = me or replica_id()
        self._blind = blind  # this replica cannot see the providers now (its network is gone)
        self._heartbeat = client.register_script(HEARTBEAT)
        self._live: tuple[str, ...] = (self.me,)
        self._reached: float | None = None  # monotonic time of the last successful heartbeat
        self._owned = frozenset(self._slugs)  # alone until Redis says otherwise
        self.changes = 0
        self._failing = False

    @property
    def shared(self) -> bool:
        """Tell whether this replica shares the providers (Redis answered within a lease)."""
        return self._reached is not None and time.monotonic() - self._reached < self.lease

    def owns(self, slug: str) -> bool:
        """Tell whether this replica probes `slug` now (every provider, once Redis has been
        silent for a lease)."""
        return slug in self._owned or not self.shared

    @property
    def stats(self) -> ReplicaStats:
        """Return the live replicas, the share and its changes, as of the last heartbeat."""
        live = len(self._live) if self.shared else 1
        return ReplicaStats(live, len(self._owned), self.changes)

    async def beat(self) -> bool:
        """Renew the lease once and recompute the share; return whether Redis answered.

        A replica that cannot reach the providers leaves instead: its peers take its share
        over, and it probes alone (its failures count for nothing) until it sees again."""
        if self._blind():
            if self._reached is not None:
                log.warning("replica_left_blind")
                await self.leave()
            self._reached = None
            self._settle()
            return False
        try:
            async with asyncio.timeout(self.lease / 3):
                live = await self._heartbeat(
                    keys=[self._key], args=[self.me, int(self.lease * 1000)]
                )
        except Exception as exc:  # Redis away: keep the share until the lease runs out
            if not self._failing:
                self._failing = True
                log.warning("replica_heartbeat_failed", error=exc.__class__.__name__)
            self._settle()
            return False
        if self._failing:
            self._failing = False
            log.info("replica_heartbeat_restored")
        self._reached = time.monotonic()
        self._live = tuple(sorted({str(member) for member in live} | {self.me}))
        self._settle()
        return True

    async def run(self) -> None:
        """Heartbeat every third of a lease until cancelled; leave the set on the way out."""
        try:
            while True:
                await self.beat()
                await asyncio.sleep(self.lease / 3)
        finally:
            await self.leave()

    async def leave(self) -> None:
        """Give the share back at once (a clean stop), rather than after a lease."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await self._client.zrem(self._key, self.me)

    def _settle(self) -> None:
        """Recompute the share from the live replicas (all of it when alone)."""
        if self.shared:
            owned = frozenset(s for s in self._slugs if owner(s, self._live) == self.me)
        else:
            owned = frozenset(self._slugs)
        if owned == self._owned:
            return
        gained, lost = owned - self._owned, self._owned - owned
        self.changes += len(gained) + len(lost)
        self._owned = owned
        log.info(
            "replica_share_changed",
            replicas=len(self._live) if self.shared else 1,
            owned=len(owned),
            gained=sorted(gained),
            lost=sorted(lost),
        )
