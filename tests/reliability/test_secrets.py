"""Secrets: canary values in every secret variable never show up in anything the exporter writes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from exporter.catalog import BUILTIN, AuthStyle
from tests.reliability.faults import (
    SyncExporter,
    ThreadedUpstream,
    echo_headers,
    fault_behaviours,
    rsa_private_key_pem,
)
from tests.reliability.test_access import served_paths
from tests.support.process import BASE_ENV
from tests.support.upstream import refused_url

TOKEN = "canary-metrics-token-7f3a9c"
REDIS_PASSWORD = "canary-redis-password-51d2"


def canary(slug: str) -> str:
    return f"canary-key-{slug}-0123456789"


def secret_environment(
    upstream: ThreadedUpstream, tmp_path: Path
) -> tuple[dict[str, str], list[str]]:
    """Return an environment with a canary in every secret variable, each provider at a fault."""
    routes = [*sorted(fault_behaviours(["m"])), "echo401", "echo500"]
    env = {
        "METRICS_AUTH_TOKEN": TOKEN,
        "REDIS_URL": f"redis://default:{REDIS_PASSWORD}@127.0.0.1:{refused_url().split(':')[2]}",
        "LOG_LEVEL": "DEBUG",
        "PROBE_INTERVAL_SECONDS": "0.5",
        "PROBE_TIMEOUT_SECONDS": "1",
    }
    canaries = [TOKEN, REDIS_PASSWORD]
    keyed = [spec for spec in BUILTIN if spec.auth is not AuthStyle.GOOGLE]
    for index, spec in enumerate(keyed):
        route = routes[index % len(routes)]
        env[spec.key_env] = canary(spec.slug)
        env[f"{spec.env_prefix}_BASE_URL"] = (
            upstream.tls_url(route) if route == "tls" else upstream.url(route)
        )
        canaries.append(canary(spec.slug))
    private_key = rsa_private_key_pem()
    env["GOOGLE_VERTEX_CREDENTIALS_JSON"] = json.dumps(
        {
            "type": "service_account",
            "client_email": "canary@canary.iam.gserviceaccount.com",
            "private_key": private_key,
            "token_uri": upstream.url("echo401") + "/token",
            "project_id": "canary-project",
        }
    )
    env["GOOGLE_VERTEX_BASE_URL"] = upstream.url("neighbour")
    # The key's body lines: any one of them in the output would be a leak.
    canaries += [line for line in private_key.splitlines() if "PRIVATE KEY" not in line]
    return env, canaries


def test_no_secret_leaks_anywhere(tmp_path: Path) -> None:
    """Under every fault, no canary appears in logs, metrics, API bodies or check-config output."""
    with ThreadedUpstream(cert_dir=tmp_path) as upstream:
        for route, behaviour in fault_behaviours(["m"]).items():
            upstream.set(route, behaviour)
        upstream.set("echo401", echo_headers(401))
        upstream.set("echo500", echo_headers(500))
        env, canaries = secret_environment(upstream, tmp_path)
        bodies = []
        with SyncExporter(env) as exporter:
            time.sleep(6)
            good = {"Authorization": f"Bearer {TOKEN}"}
            for path in served_paths():
                code, headers, body = exporter.get(path, headers=good)
                assert code in (200, 503), (path, code)
                bodies.append(f"{path} {headers} {body.decode(errors='replace')}")
            metrics = exporter.metrics_text(good)
        output = exporter.text()
        check = subprocess.run(
            [sys.executable, "-m", "exporter", "check-config"],
            env={**BASE_ENV, **env},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert upstream.fake.count("echo401") >= 1  # the reflecting upstream really saw a key
    assert check.returncode == 0, check.stderr
    assert "probe_failed" in output  # the faults really happened, at DEBUG level
    everything = {"logs": output, "metrics": metrics, "check-config": check.stdout + check.stderr}
    everything |= {f"endpoint {i}": body for i, body in enumerate(bodies)}
    for where, text in everything.items():
        leaked = [value for value in canaries if value in text]
        assert not leaked, f"{where} leaks {leaked}"
