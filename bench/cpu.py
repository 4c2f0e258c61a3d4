"""CPU per probe: the exporter, blackbox_exporter and a bare aiohttp loop on one upstream."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.live import providers_file
from bench.procstat import cpu_seconds
from tests.support.process import ExporterProcess
from tests.support.upstream import free_port

BLACKBOX = "prometheus-blackbox-exporter"
BLACKBOX_CONFIG = """\
modules:
  http_models:
    prober: http
    timeout: 5s
    http:
      method: GET
      preferred_ip_protocol: ip4
"""


@dataclass(frozen=True, slots=True)
class Load:
    """`providers` loops, each probing every `interval` seconds; measured for `seconds`."""

    providers: int
    interval: float
    warm: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.providers / self.interval


@dataclass(frozen=True, slots=True)
class Cost:
    """Probes completed and CPU seconds spent on them within the measured window."""

    probes: int
    cpu: float

    @property
    def per_probe(self) -> float:
        return self.cpu / self.probes if self.probes else float("nan")


class Child:
    """A bench module (`python -m module *args`) in its own process that prints its port first;
    entering it returns its base URL."""

    def __init__(self, module: str, *args: str) -> None:
        self.argv = ("-m", module, *args)

    async def __aenter__(self) -> str:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, *self.argv, stdout=asyncio.subprocess.PIPE
        )
        assert self.proc.stdout is not None
        port = int(await asyncio.wait_for(self.proc.stdout.readline(), 20))
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.proc.terminate()
        await self.proc.wait()


def upstream_process() -> Child:
    """`bench.upstream_proc` in its own process."""
    return Child("bench.upstream_proc")


async def exporter_cost(base: str, load: Load, workdir: Path) -> Cost:
    """Run the exporter with `load.providers` keyless providers on `base`; measure it."""
    config = workdir / "cpu-providers.json"
    providers_file(config, {f"cpu-{i}": f"{base}/cpu-{i}" for i in range(load.providers)})
    env = {
        "PROVIDERS_FILE": str(config),
        "PROBE_INTERVAL_SECONDS": str(load.interval),
        "PROBE_CONCURRENCY": str(load.providers),
        "LOG_LEVEL": "WARNING",
    }
    async with ExporterProcess(env) as exporter:
        assert exporter.proc is not None
        pid = exporter.proc.pid
        await asyncio.sleep(load.warm)
        before, cpu = await _probes(exporter), cpu_seconds(pid)
        await asyncio.sleep(load.seconds)
        cpu = cpu_seconds(pid) - cpu  # read before the scrape below, which is not a probe
        after = await _probes(exporter)
    return Cost(int(after - before), cpu)


async def _probes(exporter: ExporterProcess) -> float:
    samples = await exporter.metrics()
    return sum(value for _, value in samples.all("gatewayz_provider_probes_total"))


async def blackbox_cost(base: str, load: Load, workdir: Path) -> Cost:
    """Run blackbox_exporter, scraped by `load.providers` loops at the same rate; measure it."""
    binary = shutil.which(BLACKBOX)
    if binary is None:
        raise RuntimeError(f"{BLACKBOX} is not installed (scripts/system-deps.sh installs it)")
    config = workdir / "blackbox.yml"
    config.write_text(BLACKBOX_CONFIG, encoding="utf-8")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        binary,
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    done = [0]
    try:
        async with aiohttp.ClientSession() as session:
            probe = f"http://127.0.0.1:{port}/probe"
            await _wait_ready(session, f"http://127.0.0.1:{port}/")
            loops = [
                asyncio.create_task(
                    _scrape(session, probe, f"{base}/bb-{i}/models", load.interval, done)
                )
                for i in range(load.providers)
            ]
            await asyncio.sleep(load.warm)
            probes, cpu = done[0], cpu_seconds(proc.pid)
            await asyncio.sleep(load.seconds)
            cost = Cost(done[0] - probes, cpu_seconds(proc.pid) - cpu)
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
    finally:
        proc.terminate()
        await proc.wait()
    return cost


async def _wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with session.get(url) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError("blackbox_exporter did not start")


async def _scrape(
    session: aiohttp.ClientSession, probe: str, target: str, interval: float, done: list[int]
) -> None:
    loop = asyncio.get_running_loop()
    due = loop.time()
    params = {"module": "http_models", "target": target}
    while True:
        async with session.get(probe, params=params) as response:
            text = await response.text()
        if "\nprobe_success 1" not in text:
            raise RuntimeError(f"blackbox probe of {target} failed:\n{text[:2000]}")
        done[0] += 1
        due += interval
        await asyncio.sleep(max(0.0, due - loop.time()))


async def floor_cost(base: str, load: Load) -> Cost:
    """Run `bench.floor` in its own process at the same rate; it measures itself."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.floor",
        f"{base}/floor/models",
        str(load.providers),
        str(load.interval),
        str(load.warm),
        str(load.seconds),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    figures = json.loads(out)
    return Cost(int(figures["probes"]), float(figures["cpu_seconds"]))


async def run_cpu(load: Load, workdir: Path) -> dict[str, Cost]:
    """Measure all three, one after the other, against one upstream process."""
    async with upstream_process() as base:
        return {
            "exporter": await exporter_cost(base, load, workdir),
            "blackbox": await blackbox_cost(base, load, workdir),
            "floor": await floor_cost(base, load),
        }
