"""`python -m bench.floor URL TASKS INTERVAL WARM SECONDS`: the floor, a bare aiohttp GET loop.

TASKS loops share one session, each GETting URL and reading the body every INTERVAL seconds.
After WARM seconds it measures its own CPU (utime + stime from /proc/self/stat) for SECONDS and
prints {"probes": n, "cpu_seconds": s} as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp

from bench.procstat import cpu_seconds


async def _loop(session: aiohttp.ClientSession, url: str, interval: float, done: list[int]) -> None:
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        async with session.get(url) as response:
            await response.read()
        done[0] += 1
        due += interval
        await asyncio.sleep(max(0.0, due - loop.time()))


async def measure(
    url: str, tasks: int, interval: float, warm: float, seconds: float
) -> dict[str, float]:
    """Run the loops; return probes and CPU seconds within the measured window."""
    done = [0]
    async with aiohttp.ClientSession() as session:
        loops = [asyncio.create_task(_loop(session, url, interval, done)) for _ in range(tasks)]
        await asyncio.sleep(warm)
        probes, cpu = done[0], cpu_seconds("self")
        await asyncio.sleep(seconds)
        result = {"probes": done[0] - probes, "cpu_seconds": cpu_seconds("self") - cpu}
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
    return result


if __name__ == "__main__":
    url, tasks, interval, warm, seconds = sys.argv[1:6]
    figures = asyncio.run(measure(url, int(tasks), float(interval), float(warm), float(seconds)))
    print(json.dumps(figures), flush=True)
