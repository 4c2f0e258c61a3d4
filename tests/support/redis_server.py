"""A real redis-server on a free loopback port, started and stopped by tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.upstream import free_port


class RedisServer:
    """One redis-server process; `stop()` and `start()` keep the same port (data is not kept)."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError("redis-server is not installed: run `make test` (it installs it)")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-test-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=5)

    def keys_dump(self) -> dict[str, object]:
        """Return every key with its type and value (for read-only checks)."""
        client = self.client()
        dump: dict[str, object] = {}
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            if kind == "string":
                dump[key] = client.get(key)
            elif kind == "hash":
                dump[key] = client.hgetall(key)
            elif kind == "zset":
                dump[key] = client.zrange(key, 0, -1, withscores=True)
            else:
                dump[key] = kind
        return dump


def data_dir(server: RedisServer) -> Path:
    return Path(server.dir)
