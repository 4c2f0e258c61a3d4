"""Replicas: Redis commands and CPU per probe with 3 exporter replicas sharing one Redis, against 1.

Each configuration gets its own redis-server and fake upstream; the replicas are real exporter
processes. After they settle (every replica sees all of them, the shares add up to every
provider once), one window is measured: requests at the upstream, Redis' command counters,
CPU of every exporter process and of redis-server, RSS of each replica.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.procstat import cpu_seconds, rss_bytes
from bench.report import Row, Table
from tests.reliability.faults import providers_file
from tests.support import upstream as fake
from tests.support.process import ExporterProcess, Samples
from tests.support.redis_server import RedisServer
from tests.support.upstream import FakeUpstream

SINGLE, SHARED = 1, 3
ROWS = (
    f"{SINGLE} replica (REDIS_URL set)",
    f"{SHARED} replicas sharing one Redis",
    f"{SHARED} replicas ÷ {SINGLE} replica",
)
SETTLE_TIMEOUT = 30.0
MB = 1_048_576
# INFO calls of the bench itself inside a window: the first one's (the second one's reply does
# not count itself yet). The exporter never sends INFO.
OWN_INFO_CALLS = 1
HEARTBEAT_COMMANDS = 5  # TIME, ZADD, ZREMRANGEBYSCORE, PEXPIRE, ZRANGE (`exporter.stored.replicas`)


@dataclass(frozen=True, slots=True)
class ReplicaLoad:
    """`providers` keyless providers probed every `interval`; measured for `seconds` after the
    replicas settled and `warm` seconds more."""

    providers: int
    interval: float
    lease: float
    warm: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Run:
    """What one configuration did within its measured window."""

    replicas: int
    window: float  # seconds, wall clock
    settled: float  # seconds from the last replica's start until they settled
    per_provider: tuple[int, ...]  # requests each provider received at the upstream
    commands: Mapping[str, int]  # Redis commands executed, by name (the bench's INFO removed)
    processed: int  # Redis' total_commands_processed over the window (the bench's INFO removed)
    cpu: float  # utime + stime of every exporter process
    cpus: tuple[float, ...]  # of each replica
    owned: tuple[int, ...]  # providers each replica probed (its share) at the end
    redis_cpu: float  # of redis-server
    rss: tuple[int, ...]  # of each replica at the end

    @property
    def probes(self) -> int:
        return sum(self.per_provider)

    @property
    def probes_per_second(self) -> float:
        return self.probes / self.window

    @property
    def total_commands(self) -> int:
        return sum(self.commands.values())

    @property
    def commands_per_second(self) -> float:
        return self.total_commands / self.window

    @property
    def commands_per_probe(self) -> float:
        return self.total_commands / self.probes if self.probes else math.nan

    @property
    def cpu_per_probe(self) -> float:
        return self.cpu / self.probes if self.probes else math.nan

    @property
    def redis_cpu_per_probe(self) -> float:
        return self.redis_cpu / self.probes if self.probes else math.nan

    @property
    def mean_rss(self) -> float:
        return statistics.fmean(self.rss)


def _env(
    load: ReplicaLoad, upstream: FakeUpstream, redis: RedisServer, workdir: Path
) -> dict[str, str]:
    slugs = [f"replica-{i:02d}" for i in range(load.providers)]
    urls = {slug: upstream.base_url(slug) for slug in slugs}
    return {
        "PROVIDERS_FILE": str(providers_file(workdir / "replica-providers.json", urls)),
        "PROBE_INTERVAL_SECONDS": str(load.interval),
        "PROBE_TIMEOUT_SECONDS": "2",
        "REDIS_URL": redis.url,
        "REPLICA_LEASE_SECONDS": str(load.lease),
        "LOG_LEVEL": "WARNING",
    }


async def _scrape(replicas: list[ExporterProcess]) -> list[Samples]:
    return list(await asyncio.gather(*(r.metrics() for r in replicas)))


async def _settle(replicas: list[ExporterProcess], providers: int) -> tuple[float, list[Samples]]:
    """Wait until every replica sees all of them and the shares add up to every provider once;
    return how long it took and the replicas' scrapes."""
    start = time.monotonic()
    seen: list[float | None] = []
    owned = 0
    while time.monotonic() - start < SETTLE_TIMEOUT:
        scrapes = await _scrape(replicas)
        seen = [s.get("provider_exporter_replicas") for s in scrapes]
        shares = [int(s.get("provider_exporter_owned_providers") or 0) for s in scrapes]
        owned = sum(shares)
        if all(n == len(replicas) for n in seen) and owned == providers:
            return time.monotonic() - start, scrapes
        await asyncio.sleep(0.2)
    raise RuntimeError(f"replicas did not settle: saw {seen}, owned {owned} of {providers}")


def _changes(scrapes: list[Samples]) -> float:
    """Return the ownership changes the replicas counted so far."""
    return sum(s.get("provider_exporter_ownership_changes_total") or 0 for s in scrapes)


def _calls(info: Mapping[str, Any]) -> dict[str, int]:
    """Return the calls of every command from an `INFO commandstats` reply."""
    return {
        key.removeprefix("cmdstat_"): int(value["calls"])
        for key, value in info.items()
        if key.startswith("cmdstat_")
    }


async def _info(client: Redis) -> dict[str, Any]:
    reply: dict[str, Any] = await client.execute_command("INFO", "stats", "commandstats")
    return reply


def _requests(upstream: FakeUpstream, start: float, end: float) -> dict[str, int]:
    return {
        slug: sum(1 for at, _ in seen if start <= at < end)
        for slug, seen in upstream.requests.items()
    }


async def measure(load: ReplicaLoad, count: int, workdir: Path) -> Run:
    """Run `count` replicas on a fresh redis-server and fake upstream; measure one window."""
    upstream = await FakeUpstream().start()
    redis = RedisServer().start()
    client = Redis(port=redis.port, decode_responses=True)
    try:
        for i in range(load.providers):
            upstream.set(f"replica-{i:02d}", fake.ok())
        env = _env(load, upstream, redis, workdir)
        async with AsyncExitStack() as stack:
            replicas = [await stack.enter_async_context(ExporterProcess(env)) for _ in range(count)]
            pids = [r.proc.pid for r in replicas if r.proc is not None]
            assert redis.proc is not None
            settled, _ = await _settle(replicas, load.providers)
            await asyncio.sleep(load.warm)
            changes = _changes(await _scrape(replicas))
            await _info(client)  # the connection's own setup commands fall before the window
            cpus, redis_cpu = [cpu_seconds(p) for p in pids], cpu_seconds(redis.proc.pid)
            before, start = await _info(client), time.monotonic()
            await asyncio.sleep(load.seconds)
            after, end = await _info(client), time.monotonic()
            cpus = [cpu_seconds(p) - was for p, was in zip(pids, cpus, strict=True)]  # unscraped
            redis_cpu = cpu_seconds(redis.proc.pid) - redis_cpu
            rss = tuple(rss_bytes(p) for p in pids)
            _, scrapes = await _settle(replicas, load.providers)  # still settled at the end
            if _changes(scrapes) != changes:
                raise RuntimeError("a provider changed owner during the measured window")
    finally:
        await client.aclose()
        redis.close()
        await upstream.stop()
    old, new = _calls(before), _calls(after)
    commands = {name: calls - old.get(name, 0) for name, calls in new.items()}
    commands["info"] = commands.get("info", 0) - OWN_INFO_CALLS
    processed = int(after["total_commands_processed"]) - int(before["total_commands_processed"])
    counts = _requests(upstream, start, end)
    return Run(
        replicas=count,
        window=end - start,
        settled=settled,
        per_provider=tuple(counts.get(f"replica-{i:02d}", 0) for i in range(load.providers)),
        commands={name: calls for name, calls in commands.items() if calls},
        processed=processed - OWN_INFO_CALLS,
        cpu=sum(cpus),
        cpus=tuple(cpus),
        owned=tuple(int(s.get("provider_exporter_owned_providers") or 0) for s in scrapes),
        redis_cpu=redis_cpu,
        rss=rss,
    )


async def run_replicas(load: ReplicaLoad, workdir: Path) -> tuple[Run, Run]:
    """Measure one replica, then three sharing one Redis."""
    return await measure(load, SINGLE, workdir), await measure(load, SHARED, workdir)


def _ms(value: float) -> str:
    return "n/a (too few ticks)" if math.isnan(value) or not value else f"{value * 1000:.3f} ms"


def _times(ours: float, theirs: float) -> str:
    if not theirs or math.isnan(theirs) or math.isnan(ours):
        return "n/a (too few ticks)"
    return f"{ours / theirs:.2f}×"


def _sent(run: Run) -> float:
    """Return the commands per probe that clients sent (not run inside the heartbeat script)."""
    inside = HEARTBEAT_COMMANDS * run.commands.get("evalsha", 0)
    return (run.total_commands - inside) / run.probes if run.probes else math.nan


def _breakdown(run: Run) -> str:
    """Return the commands per probe by name, most frequent first."""
    ordered = sorted(run.commands.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{name} {calls / run.probes:.3f} ({calls})" for name, calls in ordered)


def replicas_table(load: ReplicaLoad, runs: tuple[Run, Run], note: str = "") -> Table:
    """Return the report's "Replicas" section."""
    columns = (
        "probes",
        "probes/s",
        "probes per provider",
        "Redis commands/s",
        "Redis commands per probe",
        "exporter CPU seconds",
        "exporter CPU per probe",
        "redis-server CPU per probe",
        "RSS per replica",
    )
    table = Table("Replicas", columns)
    for name, run in zip(ROWS, runs, strict=False):
        table.rows.append(
            Row(
                name,
                (
                    str(run.probes),
                    f"{run.probes_per_second:.2f}",
                    f"{min(run.per_provider)}–{max(run.per_provider)}",
                    f"{run.commands_per_second:.1f}",
                    f"{run.commands_per_probe:.2f}",
                    f"{run.cpu:.2f}",
                    _ms(run.cpu_per_probe),
                    _ms(run.redis_cpu_per_probe),
                    f"{run.mean_rss / MB:.1f} MB",
                ),
            )
        )
    one, three = runs
    rate = three.probes_per_second / one.probes_per_second if one.probes else math.nan
    table.rows.append(
        Row(
            ROWS[2],
            (
                "—",
                f"{rate:.2f}×",
                "—",
                _times(three.commands_per_second, one.commands_per_second),
                _times(three.commands_per_probe, one.commands_per_probe),
                "—",
                _times(three.cpu_per_probe, one.cpu_per_probe),
                _times(three.redis_cpu_per_probe, one.redis_cpu_per_probe),
                _times(three.mean_rss, one.mean_rss),
            ),
            "probes/s 0.9–1.1× (each provider probed by one replica, not 3×)",
            0.9 <= rate <= 1.1,
        )
    )
    table.notes += [
        f"{load.providers} keyless providers (PROVIDERS_FILE, `auth: none`) on a loopback fake "
        "upstream (`tests.support.upstream.FakeUpstream`, every answer a 200 model list) that "
        "counts the requests each provider gets; real exporter processes (`python -m exporter`, "
        f"LOG_LEVEL=WARNING) at PROBE_INTERVAL_SECONDS={load.interval:g}, "
        f"REPLICA_LEASE_SECONDS={load.lease:g}, HISTORY_FLUSH_INTERVAL_SECONDS and "
        "REDIS_POLL_INTERVAL_SECONDS at their defaults (60 s, 15 s), all with the REDIS_URL of "
        "one redis-server; a fresh redis-server and upstream per configuration. Measured for "
        f"{load.seconds:g} s, {load.warm:g} s after every replica's `provider_exporter_replicas` "
        "equalled the number started and their `provider_exporter_owned_providers` added up to "
        f"{load.providers} (which took {one.settled:.1f} s with 1 replica, {three.settled:.1f} s "
        "with 3 after the last one answered); no share moved during the window (3 replicas' "
        f"shares: {' / '.join(str(n) for n in three.owned)} providers, CPU "
        f"{' / '.join(f'{c:.2f}' for c in three.cpus)} s).",
        "Probes = requests counted at the fake upstream. Redis commands = the delta of "
        "`INFO commandstats` over the window, less the bench's own INFO: every command "
        "redis-server executed, the 5 the heartbeat script runs inside each EVALSHA included "
        f"(`total_commands_processed` counts the same: {one.processed} and {three.processed}). "
        "CPU = utime + stime from /proc/<pid>/stat, summed over the replicas (exporter) or of "
        "redis-server; RSS = VmRSS of each replica at the end of the window, averaged.",
        f"Redis commands per probe by name (and in the window), 1 replica: {_breakdown(one)}; "
        f"3 replicas: "
        f"{_breakdown(three)}. Without the commands run inside the heartbeat script: "
        f"{_sent(one):.2f} and {_sent(three):.2f} per probe.",
        "What the numbers mean: 3 replicas send the same probes as 1 (each provider is probed "
        "by the one replica that owns it), so the providers see no more traffic; the replicas "
        "trade CPU for availability. Every replica still takes in every result from the stream "
        "(its peers' through XREAD) so that its windows, states and /metrics are the same as "
        "theirs: the exporter CPU per probe, summed over the replicas, grows with their number "
        f"({_times(three.cpu_per_probe, one.cpu_per_probe)} with 3 here: only the owner sends "
        "the request and reads the answer), and each replica "
        "holds every provider's windows, so its RSS is a lone exporter's and the total N×. "
        "Redis commands per probe are the owner's XADD (pipelined, with one EXPIRE of the "
        "stream per batch) and one XREAD per replica per batch of new results (a lone replica "
        "reads its own back and skips them), plus, whatever the probe count, each replica's "
        f"heartbeat every {load.lease / 3:g} s (one EVALSHA running TIME, ZADD, "
        "ZREMRANGEBYSCORE, PEXPIRE and ZRANGE), its backend poll every 15 s (a pipeline of "
        "a GET and two HGETALLs per spelling of each provider and two GETs, then a SCAN of "
        "`latency:*`; this Redis holds none of the backend's keys) and its history flush every "
        "60 s (a SET per provider).",
    ]
    if note:
        table.notes.append(note)
    return table
