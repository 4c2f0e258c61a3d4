"""Start the real exporter as a subprocess on a free loopback port, and read its /metrics."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.upstream import free_port

# STATUS_PAGES off: catalog providers pointed at a fake upstream would otherwise read their
# real status pages (tests talk to loopback only); tests of status pages turn it on.
BASE_ENV = {
    "PATH": os.environ.get("PATH", ""),
    "HOME": os.environ.get("HOME", "/tmp"),
    "STATUS_PAGES": "off",
}


LOG_TAIL = 30  # lines of the exporter's log a failed wait shows


@dataclass
class Samples:
    """Parsed samples of one scrape: name -> list of (labels, value)."""

    by_name: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    def get(self, name: str, **labels: str) -> float | None:
        """Return the value of the one sample matching `labels`, or None when absent."""
        matches = [v for lbl, v in self.by_name.get(name, []) if _match(lbl, labels)]
        assert len(matches) <= 1, f"{name}{labels} matches {len(matches)} samples"
        return matches[0] if matches else None

    def all(self, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
        return [(lbl, v) for lbl, v in self.by_name.get(name, []) if _match(lbl, labels)]


def _match(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def parse_metrics(text: str) -> Samples:
    samples = Samples()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.by_name.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


class ExporterProcess:
    """`python -m exporter` with the given environment, stopped with SIGTERM on exit."""

    def __init__(self, env: Mapping[str, str], args: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        self.env = {
            **BASE_ENV,
            "PORT": str(self.port),
            "LISTEN_ADDRESSES": "127.0.0.1",
            **env,
        }
        self.args = args
        self.proc: asyncio.subprocess.Process | None = None
        self.output = b""
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> ExporterProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "exporter",
            *self.args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.ensure_future(self._drain())
        self._session = aiohttp.ClientSession()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                break
            try:
                async with self._session.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return self
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        await self.stop()
        raise AssertionError(f"exporter did not start:\n{self.output.decode(errors='replace')}")

    async def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(65536):
            self.output += chunk

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> int | None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        await self._reader
        return self.proc.returncode

    async def get(self, path: str, **kwargs: object) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        async with self._session.get(f"{self.url}{path}", **kwargs) as response:  # type: ignore[arg-type]
            return response.status, dict(response.headers), await response.read()

    async def metrics(self) -> Samples:
        code, _, body = await self.get("/metrics")
        assert code == 200, body
        return parse_metrics(body.decode())

    async def wait_for(
        self, predicate: object, timeout: float, interval: float = 0.05
    ) -> tuple[float, Samples]:
        """Poll /metrics until `predicate(samples)` is true; return (seconds waited, samples)."""
        assert callable(predicate)
        start = time.monotonic()
        while True:
            samples = await self.metrics()
            if predicate(samples):
                return time.monotonic() - start, samples
            if time.monotonic() - start > timeout:
                tail = "\n".join(self.logs()[-LOG_TAIL:])
                raise AssertionError(f"condition not met within {timeout}s; exporter log:\n{tail}")
            await asyncio.sleep(interval)

    def logs(self) -> list[str]:
        return self.output.decode(errors="replace").splitlines()
