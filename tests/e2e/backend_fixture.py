"""A stand-in for the backend's /metrics: every catalog family, over TLS, behind a bearer token."""

from __future__ import annotations

import datetime
import hmac
import ipaddress
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import product
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.prometheus.support import REPO

CATALOG = REPO / "grafana" / "catalog" / "backend_metrics.yml"

# One or two plausible values per label the catalog names. `provider` and `model` match the
# providers the exporter probes in the stack, so provider dashboards join both sources.
LABEL_VALUES: dict[str, tuple[str, ...]] = {
    "app_name": ("gatewayz",),
    "method": ("GET", "POST"),
    "path": ("/v1/chat/completions",),
    "status_code": ("200", "404", "500"),
    "endpoint": ("/v1/chat/completions",),
    "provider": ("openai", "groq"),
    "model": ("model-a",),
    "status": ("success", "error"),
    "state": ("closed", "open", "half_open"),
    "from_state": ("closed",),
    "to_state": ("open",),
    "operation": ("select", "insert"),
    "cache": ("models",),
    "plan": ("pro",),
}
BUCKETS = (0.1, 0.5, 1.0, 5.0)


def catalog_families() -> dict[str, dict[str, Any]]:
    """Return the backend metric families of grafana/catalog/backend_metrics.yml."""
    loaded = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    return dict(loaded["families"])


def _labels(pairs: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs.items()) + "}" if pairs else ""


def _label_sets(names: list[str]) -> list[dict[str, str]]:
    missing = [n for n in names if n not in LABEL_VALUES]
    assert not missing, f"the backend fixture has no values for labels {missing}"
    return [
        dict(zip(names, combo, strict=True)) for combo in product(*(LABEL_VALUES[n] for n in names))
    ]


def _family_text(name: str, kind: str, labels: list[str], elapsed: float) -> list[str]:
    """Render one family; counters and histograms grow with `elapsed` so rates are non-zero."""
    lines = [f"# TYPE {name} {kind}"]
    for index, pairs in enumerate(_label_sets(labels)):
        grow = (index + 1) * (10 + elapsed)  # requests so far: a steady rate per series
        if kind == "counter":
            lines.append(f"{name}{_labels(pairs)} {grow:.3f}")
        elif kind == "gauge":
            value = 1.0 if pairs.get("state") == "closed" else 0.0 if "state" in pairs else grow
            lines.append(f"{name}{_labels(pairs)} {value:.3f}")
        else:  # histogram: observations spread over the buckets, about 0.4 s each
            for bound, share in zip(BUCKETS, (0.2, 0.6, 0.9, 1.0), strict=True):
                lines.append(
                    f"{name}_bucket{_labels({**pairs, 'le': str(bound)})} {grow * share:.3f}"
                )
            lines.append(f"{name}_bucket{_labels({**pairs, 'le': '+Inf'})} {grow:.3f}")
            lines.append(f"{name}_sum{_labels(pairs)} {grow * 0.4:.3f}")
            lines.append(f"{name}_count{_labels(pairs)} {grow:.3f}")
    return lines


def render_metrics(elapsed: float) -> bytes:
    """Render every catalog family with exactly its catalog labels, in the text format."""
    lines: list[str] = []
    for name, spec in catalog_families().items():
        lines += _family_text(name, str(spec["type"]), list(spec["labels"]), elapsed)
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a server certificate for 127.0.0.1 that it signed."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_certificates(directory: Path) -> Certificates:
    """Generate a CA and a 127.0.0.1 server certificate (valid for one day) into `directory`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "e2e test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


class BackendMetrics:
    """An HTTPS server answering GET /metrics with the catalog families, 401 without the token."""

    def __init__(self, certificates: Certificates, token: str) -> None:
        self.token = token
        self.started = time.monotonic()
        self.authorized = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates.cert_file, certificates.key_file)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> BackendMetrics:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _count(self, authorized: bool) -> None:
        with self._lock:
            if authorized:
                self.authorized += 1
            else:
                self.refused += 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                sent = self.headers.get("Authorization", "")
                authorized = hmac.compare_digest(sent, f"Bearer {fixture.token}")
                fixture._count(authorized)
                if self.path != "/metrics" or not authorized:
                    self.send_response(404 if authorized else 401)
                    self.end_headers()
                    return
                body = render_metrics(time.monotonic() - fixture.started)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                return

        return Handler
