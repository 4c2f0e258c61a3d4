"""Fault-injecting upstreams for the reliability suite, served from a background thread.

The fake upstream runs on its own event loop in a thread, so it serves the same way whether the
test drives a subprocess exporter synchronously or an in-process scheduler on the test's loop.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.support import upstream as fake
from tests.support.process import BASE_ENV, Samples, parse_metrics
from tests.support.upstream import Behaviour, FakeUpstream, free_port


def slowloris(byte_interval: float = 1.0) -> Behaviour:
    """Send a whole valid response one byte every `byte_interval` seconds, status line first."""
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 31\r\n\r\n"
        b'{"data": [{"id": "model-a"}]}\r\n'
    )

    async def handler(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        assert transport is not None
        for index in range(len(response)):
            if transport.is_closing():
                break
            transport.write(response[index : index + 1])
            await asyncio.sleep(byte_interval)
        transport.close()  # the raw bytes were the answer; aiohttp's own one goes nowhere
        return web.Response()

    return handler


def redirect_loop() -> Behaviour:
    """Redirect every request to itself."""

    async def handler(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(location=str(request.rel_url))

    return handler


def echo_headers(code: int) -> Behaviour:
    """Answer `code` with every request header (the credential included) in the body and headers.

    A trap for the secrets test: an upstream that reflects the key must not make it leak.
    """

    async def handler(request: web.Request) -> web.StreamResponse:
        reflected = dict(request.headers)
        return web.Response(
            status=code,
            body=json.dumps({"error": {"message": f"bad key {reflected}"}}).encode(),
            headers={"X-Echo": str(reflected.get("Authorization", ""))[:200]},
            content_type="application/json",
        )

    return handler


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a fresh self-signed certificate for 127.0.0.1 and its key; return (cert, key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "untrusted.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def rsa_private_key_pem() -> str:
    """Return a fresh RSA private key in PEM (for a canary service-account JSON)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class ThreadedUpstream:
    """A FakeUpstream on 127.0.0.1, plus a TLS site and an IPv6-only site, in its own thread."""

    def __init__(self, cert_dir: Path | None = None) -> None:
        self.fake = FakeUpstream()
        self.port = 0
        self.tls_port = 0
        self.ipv6_port = 0
        self._cert_dir = cert_dir
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> ThreadedUpstream:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(30)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/{name}/{tail:.*}", self.fake._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.fake.port = self.port
        self.ipv6_port = free_port()
        await web.TCPSite(self._runner, "::1", self.ipv6_port).start()
        if self._cert_dir is not None:
            cert, key = self_signed_certificate(self._cert_dir)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            self.tls_port = free_port()
            await web.TCPSite(self._runner, "127.0.0.1", self.tls_port, ssl_context=context).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Hanging handlers outlive the runner's short shutdown: end them before the loop closes.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def set(self, name: str, behaviour: Behaviour) -> None:
        self.fake.set(name, behaviour)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def tls_url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.tls_port}/{name}"

    def ipv6_url(self, name: str) -> str:
        return f"http://[::1]:{self.ipv6_port}/{name}"

    def arrivals(self, name: str) -> list[float]:
        """Return the monotonic times at which requests for `name` arrived."""
        return [at for at, _ in list(self.fake.requests[name])]


# The faults every exporter-level test drives: route -> (behaviour factory, expected outcome).
# Routes served over TLS / IPv6 / nowhere are marked by their scheme below.
def fault_behaviours(many_models: Sequence[str]) -> dict[str, Behaviour]:
    """Return the scripted behaviour of every fault route (served by the plain site)."""
    return {
        "hang": fake.hang(),
        "endless": fake.endless_body(0.05),
        "slowloris": slowloris(1.0),
        "reset": fake.reset_mid_body(),
        "huge": fake.huge(50_000_000),
        "utf8": fake.raw(b'{"data": [{"id": "\xff\xfe"}]}'),
        "json": fake.raw(b'{"data": [{"id": "model-a"},'),
        "shape": fake.raw(b'{"models": {"id": "model-a"}}'),
        "nulls": fake.raw(b'{"object": null, "data": [null, {"id": null, "owned_by": null}]}'),
        "redirect": redirect_loop(),
        "tls": fake.ok(),
        "ipv6": fake.ok(("model-a",)),
        "ratelimit": fake.status(429, {"Retry-After": "4"}),
        "many": fake.ok(many_models),
        "error500": fake.status(500),
        "neighbour": fake.ok(("model-a", "model-b")),
    }


def providers_file(path: Path, urls: Mapping[str, str]) -> Path:
    """Write a PROVIDERS_FILE with one `auth: none` provider per slug, probing `urls[slug]`."""
    entries = [{"slug": slug, "base_url": url, "auth": "none"} for slug, url in urls.items()]
    path.write_text(json.dumps({"providers": entries}, indent=2), encoding="utf-8")
    return path


def rss_bytes(pid: int) -> int:
    """Return the resident set size of process `pid`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def open_fds(pid: int | str = "self") -> int:
    """Return the number of open file descriptors of process `pid`."""
    return len(os.listdir(f"/proc/{pid}/fd"))


class SyncExporter:
    """The real exporter as a subprocess, driven synchronously (for module-scoped fixtures)."""

    def __init__(self, env: Mapping[str, str], args: Sequence[str] = ()) -> None:
        self.port = free_port()
        self.env = {**BASE_ENV, "PORT": str(self.port), "LISTEN_ADDRESSES": "127.0.0.1", **env}
        self.args = tuple(args)
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = b""
        self.exit_seconds: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> SyncExporter:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if self.get("/healthz")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"exporter did not start:\n{self.text()}")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := self.proc.stdout.read1(65536):
            self.output += chunk

    def stop(self) -> int | None:
        """SIGTERM the exporter, wait (timing how long it takes) and return its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            started = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.exit_seconds = time.monotonic() - started
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode

    def get(
        self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 5
    ) -> tuple[int, dict[str, str], bytes]:
        """GET `path`; return (status, headers, body) for any status."""
        request = urllib.request.Request(f"{self.url}{path}", headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def metrics(self) -> Samples:
        code, _, body = self.get("/metrics")
        assert code == 200, body
        return parse_metrics(body.decode())

    def metrics_text(self, headers: Mapping[str, str] | None = None) -> str:
        code, _, body = self.get("/metrics", headers=headers)
        assert code == 200, body
        return body.decode()

    def text(self) -> str:
        return self.output.decode(errors="replace")
