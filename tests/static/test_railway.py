"""Railway config-as-code: one file per service, known keys, a Dockerfile, a health check."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from static_support import KEYS_DIR, REPO, load_yaml

RAILWAY_DIR = REPO / "deploy" / "railway"
GUIDE = REPO / "docs" / "deployment.md"
# Service -> the Root Directory its Dockerfile lives in.
SERVICES = {
    "provider-exporter": "",
    "prometheus": "prometheus",
    "alertmanager": "alertmanager",
    "grafana": "grafana",
    "loki": "loki",
    "tempo": "tempo",
}


def railway_config(service: str) -> dict[str, Any]:
    """Parse one service's railway TOML file."""
    with (RAILWAY_DIR / f"{service}.toml").open("rb") as handle:
        return tomllib.load(handle)


def dotted(config: dict[str, Any]) -> set[str]:
    """Return `section.key` for every key of a railway config."""
    return {f"{section}.{key}" for section, body in config.items() for key in body}


def test_there_is_one_railway_file_per_service() -> None:
    """deploy/railway holds exactly one config file for each deployed service."""
    assert {p.stem for p in RAILWAY_DIR.glob("*.toml")} == set(SERVICES)


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_railway_file_uses_only_documented_keys(service: str) -> None:
    """Every key is one Railway's config-as-code reference documents."""
    allowed = set(load_yaml(KEYS_DIR / "railway.yml")["keys"])
    assert dotted(railway_config(service)) <= allowed


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_railway_builds_an_existing_dockerfile(service: str) -> None:
    """The service is built from a Dockerfile that exists under its Root Directory."""
    build = railway_config(service)["build"]
    assert build["builder"] in load_yaml(KEYS_DIR / "railway.yml")["builders"]
    dockerfile = REPO / SERVICES[service] / build["dockerfilePath"]
    assert dockerfile.is_file(), f"{dockerfile.relative_to(REPO)} does not exist"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_railway_has_a_health_check_and_restart_policy(service: str) -> None:
    """The deploy section names a health-check path and a restart policy Railway knows."""
    deploy = railway_config(service)["deploy"]
    assert deploy["healthcheckPath"].startswith("/")
    assert deploy["restartPolicyType"] in load_yaml(KEYS_DIR / "railway.yml")["restart_policies"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_deployment_guide_names_each_services_config_file(service: str) -> None:
    """docs/deployment.md tells where each service's railway file is, so it gets wired up."""
    assert f"deploy/railway/{service}.toml" in GUIDE.read_text(encoding="utf-8")


def test_deployment_guide_uses_reference_variables_for_shared_values() -> None:
    """Shared values are Railway reference variables, not copied hostnames or URLs."""
    guide = GUIDE.read_text(encoding="utf-8")
    assert "${{Redis.REDIS_URL}}" in guide
    assert "RAILWAY_PRIVATE_DOMAIN}}" in guide
