"""alertmanager/entrypoint.sh renders a valid config for every receiver choice, and a real
Alertmanager applies the ProviderDown inhibition."""

from __future__ import annotations

import json
import stat
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.prometheus.support import render_alertmanager, run, tool
from tests.support.upstream import free_port

SLACK_CANARY = "https://hooks.slack.com/services/T000/B000/canary5d2a"
RECEIVERS = {
    "none": {},
    "slack": {"ALERTMANAGER_SLACK_WEBHOOK_URL": SLACK_CANARY, "ALERTMANAGER_SLACK_CHANNEL": "#ops"},
    "webhook": {"ALERTMANAGER_WEBHOOK_URL": "https://hooks.example.invalid/am?key=a&b=1"},
    "both": {
        "ALERTMANAGER_SLACK_WEBHOOK_URL": SLACK_CANARY,
        "ALERTMANAGER_WEBHOOK_URL": "https://hooks.example.invalid/am",
    },
}


@pytest.mark.parametrize("choice", RECEIVERS)
def test_rendered_config_passes_amtool(tmp_path: Path, choice: str) -> None:
    """`amtool check-config` accepts the rendered config with each receiver choice."""
    rendered = render_alertmanager(tmp_path, **RECEIVERS[choice])
    assert rendered.returncode == 0, rendered.stderr
    result = run(tool("amtool"), "check-config", str(tmp_path / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_receiver_integrations_follow_the_variables(tmp_path: Path) -> None:
    """Slack and webhook integrations appear exactly when their variables are set."""
    rendered = render_alertmanager(tmp_path, **RECEIVERS["both"])
    assert rendered.returncode == 0, rendered.stderr
    (receiver,) = rendered.config("alertmanager.yml")["receivers"]
    assert receiver["name"] == "default"
    assert receiver["webhook_configs"][0]["url"] == "https://hooks.example.invalid/am"
    assert receiver["webhook_configs"][0]["send_resolved"] is True
    assert receiver["slack_configs"][0]["send_resolved"] is True


def test_no_receiver_variable_warns(tmp_path: Path) -> None:
    """Without a receiver variable the config has no integration and the log says so."""
    rendered = render_alertmanager(tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.config("alertmanager.yml")["receivers"] == [{"name": "default"}]
    assert "only visible in the Alertmanager UI" in rendered.stderr


def test_slack_url_lives_only_in_a_private_file(tmp_path: Path) -> None:
    """The Slack webhook URL (a secret) is only in a mode-600 file read via api_url_file."""
    rendered = render_alertmanager(tmp_path, **RECEIVERS["slack"])
    assert rendered.returncode == 0, rendered.stderr
    assert SLACK_CANARY not in rendered.stderr
    holders = sorted(p.name for p in tmp_path.iterdir() if SLACK_CANARY in p.read_text())
    assert holders == ["slack_webhook_url"]
    (receiver,) = rendered.config("alertmanager.yml")["receivers"]
    url_file = Path(receiver["slack_configs"][0]["api_url_file"])
    assert url_file.read_text() == SLACK_CANARY
    assert stat.S_IMODE(url_file.stat().st_mode) == 0o600
    assert receiver["slack_configs"][0]["channel"] == "#ops"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ALERTMANAGER_WEBHOOK_URL", "hooks.example.invalid/am"),
        ("ALERTMANAGER_WEBHOOK_URL", 'https://x.invalid/"break'),
        ("ALERTMANAGER_SLACK_WEBHOOK_URL", "https://hooks.slack.com/a b"),
    ],
)
def test_bad_urls_stop_the_start(tmp_path: Path, variable: str, value: str) -> None:
    """A URL without http(s) or with characters that could break the YAML exits 2 naming the
    variable."""
    rendered = render_alertmanager(tmp_path, **{variable: value})
    assert rendered.returncode == 2
    assert variable in rendered.stderr
    assert not (tmp_path / "alertmanager.yml").exists()


def _api(port: int, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[int]:
    """A real Alertmanager on a free loopback port, running the rendered config."""
    rendered = render_alertmanager(tmp_path / "config")
    assert rendered.returncode == 0, rendered.stderr
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("w")
    proc = subprocess.Popen(
        [
            tool("prometheus-alertmanager"),
            f"--config.file={tmp_path / 'config' / 'alertmanager.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    output = (tmp_path / "alertmanager.log").read_text()
                    raise AssertionError(f"alertmanager did not start:\n{output}") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_provider_down_inhibits_degraded_for_the_same_provider(alertmanager: int) -> None:
    """With ProviderDown firing for openai, openai's ProviderDegraded, HealthScoreLow and
    ModelInferenceDown are inhibited, while groq's ProviderDegraded and ModelInferenceDown are
    still active."""

    def alert(name: str, provider: str) -> dict[str, Any]:
        labels = {"alertname": name, "provider": provider, "environment": "local"}
        return {"labels": {**labels, "severity": "warning"}}

    _api(
        alertmanager,
        "/api/v2/alerts",
        [
            {"labels": {**alert("ProviderDown", "openai")["labels"], "severity": "critical"}},
            alert("ProviderDegraded", "openai"),
            alert("ProviderHealthScoreLow", "openai"),
            alert("ProviderDegraded", "groq"),
            alert("ModelInferenceDown", "openai"),
            alert("ModelInferenceDown", "groq"),
        ],
    )
    deadline = time.monotonic() + 10
    while True:
        alerts = _api(alertmanager, "/api/v2/alerts")
        states = {
            (a["labels"]["alertname"], a["labels"]["provider"]): a["status"]["state"]
            for a in alerts
        }
        if len(states) == 6 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert states == {
        ("ProviderDown", "openai"): "active",
        ("ProviderDegraded", "openai"): "suppressed",
        ("ProviderHealthScoreLow", "openai"): "suppressed",
        ("ProviderDegraded", "groq"): "active",
        ("ModelInferenceDown", "openai"): "suppressed",
        ("ModelInferenceDown", "groq"): "active",
    }
