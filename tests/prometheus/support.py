"""Paths and helpers shared by the Prometheus and Alertmanager tests: render configs, run tools."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
PROMTOOL_TESTS_DIR = PROMETHEUS_DIR / "tests"
ALERTMANAGER_DIR = REPO / "alertmanager"
RUNBOOK = REPO / "docs" / "runbook.md"

# The alert names issue 4 fixes: a contract with the runbook and on-call.
CONTRACT_ALERTS = (
    "ProviderDown",
    "ProviderDegraded",
    "ProviderHealthScoreLow",
    "ProviderCircuitBreakerOpen",
    "ProviderAvailabilityBudgetBurnFast",
    "ProviderAvailabilityBudgetBurnSlow",
    "ProviderExporterDown",
    "ProviderExporterRedisDown",
    "ProviderExporterProbesStalled",
    "ProviderExporterOffline",  # issue 14
    "ProviderOutageUnacknowledged",  # issue 16
    "ProviderOfficialIncident",  # issue 16
    "ModelInferenceDown",  # inference probes
    "ModelInferenceSlow",  # inference probes
    "ProviderDownFromVantage",  # issue 15: one vantage disagrees with the quorum
)

# The recording-rule names the dashboards use.
CONTRACT_RECORDS = (
    *(
        f"provider:{kind}:ratio_rate{window}"
        for kind in ("availability", "error")
        for window in ("5m", "1h", "6h", "1d", "3d", "30d")
    ),
    "provider:gateway_error:ratio_rate5m",
    "provider:gateway_error:ratio_rate1h",
    "provider:availability:quorum",  # issue 15: the vantages' majority
)

# The inference-probed models' records the dashboards use. Apart from CONTRACT_RECORDS because
# they exist only for the pairs in INFERENCE_PROBES, not for every probed provider.
CONTRACT_MODEL_RECORDS = (
    "model:inference_availability:ratio_rate1h",
    "model:inference_availability:ratio_rate1d",
)

# The scrape job names the dashboards and rules select on.
CONTRACT_JOBS = (
    "prometheus",
    "provider_exporter",
    "provider_exporter_vantages",  # issue 15: other vantages' exporters
    "gatewayz_production",
    "gatewayz_staging",
    "redis_exporter",
)

# Only what a POSIX shell needs: the entrypoints must not depend on the caller's environment.
BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}


def tool(name: str) -> str:
    """Return the path of a Debian-installed tool, failing loudly when it is missing."""
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed: run `make system-deps` (Debian packages)")
    return path


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command to completion and return it (never raises on a non-zero exit)."""
    return subprocess.run(
        list(args), capture_output=True, text=True, check=False, timeout=120, env=env
    )


@dataclass(frozen=True)
class Rendered:
    """One run of an entrypoint in render-only mode."""

    returncode: int
    stderr: str
    out_dir: Path

    def config(self, name: str) -> dict[str, Any]:
        """Parse one rendered YAML file."""
        loaded = yaml.safe_load((self.out_dir / name).read_text(encoding="utf-8"))
        assert isinstance(loaded, dict)
        return loaded


def render_prometheus(out_dir: Path, **env: str) -> Rendered:
    """Run prometheus/entrypoint.sh with /bin/sh in render-only mode into `out_dir`."""
    full_env = {
        **BASE_ENV,
        "PROMETHEUS_CONFIG_TEMPLATE": str(PROMETHEUS_DIR / "prometheus.yml"),
        "PROMETHEUS_RENDER_DIR": str(out_dir),
        "PROMETHEUS_RULES_DIR": str(RULES_DIR),
        "PROMETHEUS_RENDER_ONLY": "1",
        **env,
    }
    result = run("/bin/sh", str(PROMETHEUS_DIR / "entrypoint.sh"), env=full_env)
    return Rendered(result.returncode, result.stderr, out_dir)


def render_alertmanager(out_dir: Path, **env: str) -> Rendered:
    """Run alertmanager/entrypoint.sh with /bin/sh in render-only mode into `out_dir`."""
    full_env = {
        **BASE_ENV,
        "ALERTMANAGER_CONFIG_TEMPLATE": str(ALERTMANAGER_DIR / "alertmanager.yml"),
        "ALERTMANAGER_RENDER_DIR": str(out_dir),
        "ALERTMANAGER_RENDER_ONLY": "1",
        **env,
    }
    result = run("/bin/sh", str(ALERTMANAGER_DIR / "entrypoint.sh"), env=full_env)
    return Rendered(result.returncode, result.stderr, out_dir)


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule in prometheus/rules/alerts.yml."""
    loaded = yaml.safe_load((RULES_DIR / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"] if "alert" in rule]


def recording_rules() -> list[dict[str, Any]]:
    """Every recording rule in prometheus/rules/recording.yml."""
    loaded = yaml.safe_load((RULES_DIR / "recording.yml").read_text(encoding="utf-8"))
    return [rule for group in loaded["groups"] for rule in group["rules"] if "record" in rule]
