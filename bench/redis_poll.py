"""Redis poll: one `RedisSource.poll` over 100 providers' backend keys among unrelated keys."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from bench.report import percentile
from exporter.settings import Settings
from exporter.stored.redis_source import RedisSource, hour_keys
from tests.support.upstream import free_port

MODELS_PER_PROVIDER = 5
SAMPLES_PER_MODEL = 50


@dataclass(frozen=True, slots=True)
class Poll:
    """Poll durations (seconds) and what one poll read."""

    p50: float
    worst: float
    keys_read: int
    polls: int
    cpu_p50: float  # this process' CPU time per poll (the client side: requests and parsing)


class RedisServer:
    """A throwaway redis-server on a free loopback port, without persistence."""

    async def __aenter__(self) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/system-deps.sh installs it)")
        self._dir = tempfile.TemporaryDirectory()
        port = free_port()
        self.proc = await asyncio.create_subprocess_exec(
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._dir.name,
            stdout=asyncio.subprocess.DEVNULL,
        )
        self.client = Redis(host="127.0.0.1", port=port, decode_responses=True)
        for _ in range(100):
            try:
                await self.client.ping()
                return self.client
            except OSError:
                await asyncio.sleep(0.05)
            except Exception:  # redis' ConnectionError while the server starts
                await asyncio.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        self.proc.terminate()
        await self.proc.wait()
        self._dir.cleanup()


async def fill(client: Redis, providers: int, unrelated: int, now: float) -> None:
    """Write the backend's keys for `providers` providers, and `unrelated` other keys."""
    this_hour, last_hour = hour_keys(now)
    pipe = client.pipeline(transaction=False)
    for i in range(unrelated):
        pipe.set(f"cache:response:{i:08d}", "x" * 32)
        if i % 5000 == 4999:
            await pipe.execute()
    for i in range(providers):
        slug = f"prov{i}"
        pipe.set(f"circuit_breaker:{slug}:state", "closed")
        for hour in (this_hour, last_hour):
            pipe.hset(
                f"metrics:{slug}:{hour}", mapping={"total_requests": 100, "failed_requests": 2}
            )
        for m in range(MODELS_PER_PROVIDER):
            scores = {str(100 + k): now - k * 30 for k in range(SAMPLES_PER_MODEL)}
            pipe.zadd(f"latency:{slug}:model-{m}", scores)
    rows = [{"provider": f"prov{i}", "status": "online"} for i in range(providers)]
    pipe.set("health:providers", json.dumps({"providers": rows}))
    await pipe.execute()


async def run_redis(providers: int, unrelated: int, polls: int) -> Poll:
    """Time `polls` polls of a Redis holding the backend's keys among `unrelated` others."""
    async with RedisServer() as client:
        now = time.time()
        await fill(client, providers, unrelated, now)
        source = RedisSource(
            client, [f"prov{i}" for i in range(providers)], Settings().redis_max_keys
        )
        durations, cpu = [], []
        keys = 0
        for _ in range(polls):
            start, start_cpu = time.perf_counter(), time.process_time()
            view = await source.poll(time.time())
            durations.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            keys = view.keys_read
    return Poll(percentile(durations, 0.5), max(durations), keys, polls, percentile(cpu, 0.5))
