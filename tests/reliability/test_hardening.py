"""Hardening, end to end with the real process: it ends only when asked, every start-up problem is
one line naming the variable (exit 2, no traceback), and no body leaves a provider unjudged."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.reliability.faults import SyncExporter, ThreadedUpstream, providers_file
from tests.support import upstream as fake
from tests.support.backend import Backend
from tests.support.process import BASE_ENV, Samples
from tests.support.redis_server import RedisServer
from tests.support.upstream import free_port

Env = dict[str, str | bytes]
Case = Callable[[Path, contextlib.ExitStack], tuple[Env, str]]
ALIVE_SECONDS = 10  # the bar; the note reports a 60 s run measured by hand


def _busy_port(_tmp: Path, stack: contextlib.ExitStack) -> tuple[Env, str]:
    sock = stack.enter_context(socket.socket())
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return {"PORT": str(sock.getsockname()[1])}, "PORT: "


def _unbindable(_tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    # 192.0.2.1 is TEST-NET-1 (never local), repeated; 256.1.1.1 is not an address; "a..b" is a
    # name the resolver refuses to encode (a ValueError, not an OSError)
    return {"LISTEN_ADDRESSES": "192.0.2.1,192.0.2.1,256.1.1.1,a..b"}, "LISTEN_ADDRESSES: "


def _key_with_line_break(_tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    return {"OPENAI_API_KEY": "sk-first-half\r\nsk-second-half"}, "OPENAI_API_KEY: "


def _token_with_escape(_tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    return {"METRICS_AUTH_TOKEN": "token\x1b[31mred"}, "METRICS_AUTH_TOKEN: "


def _model_not_utf8(_tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    return {"OPENAI_API_KEY": "sk-test-0123456789", "MODELS": b"openai:caf\xe9"}, "MODELS: "


def _model_with_line_break(_tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    return {"OPENAI_API_KEY": "sk-test-0123456789", "MODELS": "openai:new\nline"}, "MODELS: "


def _url_not_utf8(_tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    env: Env = {"OPENAI_API_KEY": "sk-test-0123456789", "OPENAI_BASE_URL": b"http://h\xff/v1"}
    return env, "OPENAI_BASE_URL: "


def _file_missing(tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    return {"PROVIDERS_FILE": str(tmp / "absent.yaml")}, "PROVIDERS_FILE: "


def _file_is_directory(tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    return {"PROVIDERS_FILE": str(tmp)}, "PROVIDERS_FILE: "


def _file_would_block(tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    fifo = tmp / "providers.fifo"
    os.mkfifo(fifo)  # nobody writes to it: reading it would wait for ever
    return {"PROVIDERS_FILE": str(fifo)}, "PROVIDERS_FILE: "


def _file_is_device(_tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    return {"PROVIDERS_FILE": "/dev/zero"}, "PROVIDERS_FILE: "  # endless, if it were read


def _file_unreadable(tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    path = tmp / "providers.yaml"
    path.write_text("providers: []\n", encoding="utf-8")
    path.chmod(0)
    return {"PROVIDERS_FILE": str(path)}, "PROVIDERS_FILE: "


def _file_not_utf8(tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    path = tmp / "providers.yaml"
    path.write_bytes(b"providers:\n  - slug: caf\xe9\n")
    return {"PROVIDERS_FILE": str(path)}, "PROVIDERS_FILE: "


def _file_header_line_break(tmp: Path, _stack: contextlib.ExitStack) -> tuple[Env, str]:
    path = tmp / "providers.json"
    entry = {"slug": "x", "base_url": "http://127.0.0.1:1/v1", "auth": "none"}
    entry["headers"] = {"X-Org": "one\r\nX-Injected: two"}
    path.write_text(json.dumps({"providers": [entry]}), encoding="utf-8")
    return {"PROVIDERS_FILE": str(path)}, "PROVIDERS_FILE "


CASES: dict[str, Case] = {
    "port in use on every address": _busy_port,
    "no address can be bound": _unbindable,
    "key with a pasted line break": _key_with_line_break,
    "token with a control character": _token_with_escape,
    "model id that is not UTF-8": _model_not_utf8,
    "model id with a line break": _model_with_line_break,
    "base URL that is not UTF-8": _url_not_utf8,
    "providers file missing": _file_missing,
    "providers file is a directory": _file_is_directory,
    "providers file is a FIFO": _file_would_block,
    "providers file is a device": _file_is_device,
    "providers file unreadable": _file_unreadable,
    "providers file not UTF-8": _file_not_utf8,
    "header value with a line break": _file_header_line_break,
}


def _command(command: str) -> list[str]:
    """`python -m exporter COMMAND`, without root's power to read any file (so 0-mode is 0-mode)."""
    argv = [sys.executable, "-m", "exporter", command]
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")  # util-linux: on every Debian system
    assert setpriv is not None, "setpriv is needed to drop root's file-reading capabilities"
    drop = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={drop}", f"--bounding-set={drop}", *argv]


@pytest.mark.parametrize("command", ["run", "check-config"])
@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_start_up_problem_is_one_line_naming_the_variable(
    case: Case, command: str, tmp_path: Path
) -> None:
    """Each start-up problem: exit 2, and the whole output is one line naming the variable."""
    with contextlib.ExitStack() as stack:
        values, prefix = case(tmp_path, stack)
        env: Mapping[str, str | bytes] = {
            **BASE_ENV,
            "PORT": str(free_port()),
            "LISTEN_ADDRESSES": "127.0.0.1",
            **values,
        }
        result = subprocess.run(
            _command(command), env=env, capture_output=True, timeout=30, check=False
        )
    output = (result.stdout + result.stderr).decode(errors="replace")
    assert result.returncode == 2, output
    assert "Traceback" not in output
    assert output.count("\n") == 1 and output.endswith("\n"), output
    assert output.startswith(f"configuration error: {prefix}"), output


def _status(samples: Samples, slug: str) -> str | None:
    """Return the provider's current state (the one `gatewayz_provider_status` series at 1)."""
    current = [
        lbl["status"] for lbl, v in samples.all("gatewayz_provider_status", provider=slug) if v == 1
    ]
    assert len(current) <= 1, current
    return current[0] if current else None


def _assert_serving(exporter: SyncExporter) -> dict[str, object]:
    """`/`, `/metrics` and the JSON API answer 200 with bodies that parse; return the JSON."""
    code, _, page = exporter.get("/")
    assert code == 200
    assert "</html>" in page.decode()
    assert exporter.metrics().get("provider_exporter_build_info") is not None
    code, _, body = exporter.get("/api/v1/providers")
    assert code == 200
    document = json.loads(body)
    assert isinstance(document, dict)
    return document


def test_nothing_to_probe_keeps_serving(redis_server: RedisServer) -> None:
    """No key set, and Redis only: both stay up, serve every endpoint, say how to add a provider,
    warn once; the Redis-only one exports the backend's breaker states."""
    backend = Backend(redis_server.client())
    backend.breaker("openai", "open", failures=7)
    backend.breaker("groq", "closed")
    with SyncExporter({}) as bare, SyncExporter({"REDIS_URL": redis_server.url}) as passive:
        time.sleep(ALIVE_SECONDS)
        for exporter in (bare, passive):
            assert exporter.proc is not None and exporter.proc.poll() is None, exporter.text()
            document = _assert_serving(exporter)
            assert document["providers"] == []
            _, _, page = exporter.get("/")
            assert "No provider is configured" in page.decode()
            assert "OPENAI_API_KEY" in page.decode()
        metrics = passive.metrics()
        bare_metrics = bare.metrics()
    assert metrics.get("provider_exporter_redis_up") == 1
    assert metrics.get("gatewayz_circuit_breaker_state", provider="openai", state="open") == 1
    assert metrics.get("gatewayz_circuit_breaker_state", provider="openai", state="closed") == 0
    assert metrics.get("gatewayz_circuit_breaker_state", provider="groq", state="closed") == 1
    assert bare_metrics.all("gatewayz_circuit_breaker_state") == []
    for exporter in (bare, passive):
        lines = exporter.text().splitlines()
        warnings = [line for line in lines if "no_providers_configured" in line]
        assert len(warnings) == 1, lines
        assert json.loads(warnings[0])["level"] == "warning"
        assert not [line for line in lines if re.search(r"Traceback|loop_ended|loop_failed", line)]
    assert bare.stop() == 0 and passive.stop() == 0  # SIGTERM: a clean exit, when asked


DEEP = 200_000  # far deeper than any parser recurses


def test_bodies_no_parser_takes_leave_no_provider_unjudged(tmp_path: Path) -> None:
    """Bodies nested past any recursion limit, cut or whole, are `bad_body`: counted, the provider
    goes down (not `unknown`), nothing crashes; lone-surrogate ids are dropped, the rest kept."""
    with ThreadedUpstream() as upstream:
        upstream.set("deep-cut", fake.raw(b'{"data": ' + b"[" * 4 * DEEP))  # over the read limit
        upstream.set("deep-whole", fake.raw(b"[" * (DEEP // 2) + b"]" * (DEEP // 2)))
        upstream.set("deep-map", fake.raw(b'{"data": [' + b'{"a":' * 100_000))
        upstream.set("surrogate", fake.raw(b'{"data": [{"id": "\\ud800x"}, {"id": "kept"}]}'))
        urls = {route: upstream.url(route) for route in upstream.fake.behaviours}
        env = {
            "PROVIDERS_FILE": str(providers_file(tmp_path / "providers.json", urls)),
            "PROBE_INTERVAL_SECONDS": "0.2",
            "PROBE_TIMEOUT_SECONDS": "2",
            "PROBE_MAX_BODY_BYTES": str(DEEP * 2),
        }
        with SyncExporter(env) as exporter:
            deadline = time.monotonic() + 30
            while True:
                samples = exporter.metrics()
                if all(_status(samples, s) == "down" for s in ("deep-cut", "deep-whole")) and (
                    _status(samples, "deep-map") == "down"
                ):
                    break
                assert time.monotonic() < deadline, {s: _status(samples, s) for s in urls}
                time.sleep(0.2)
            document = _assert_serving(exporter)
            output = exporter.text()
    for slug in ("deep-cut", "deep-whole", "deep-map"):
        assert samples.get("gatewayz_provider_probes_total", provider=slug, outcome="bad_body") >= 3
        internal = samples.get(
            "gatewayz_provider_probes_total", provider=slug, outcome="internal_error"
        )
        assert internal == 0  # the outcome is exported, and a hostile body is not our bug
    assert _status(samples, "surrogate") == "healthy"
    assert samples.get("gatewayz_provider_models_listed", provider="surrogate") == 1
    listed = {p["slug"]: p for p in document["providers"]}  # type: ignore[index, union-attr]
    assert listed["deep-cut"]["state"] == "down"
    for needle in ("Traceback", "probe_crashed", "probe_internal_error", "loop_failed"):
        assert needle not in output
