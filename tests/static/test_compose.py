"""The local compose file: valid per the Compose spec, pinned, healthy, local-only."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from static_support import (
    COMPOSE_FILE,
    compose_services,
    env_values,
    load_yaml,
    url_host_port,
)

SCHEMA = Path(__file__).resolve().parent / "schemas" / "compose-spec.json"
# An image reference pinned to an exact release (x.y.z, optional suffix) or to a digest.
PINNED_IMAGE = re.compile(r"^[\w./-]+(:v?\d+\.\d+\.\d+[\w.-]*|@sha256:[0-9a-f]{64})$")
EXPECTED_SERVICES = {
    "provider-exporter",
    "prometheus",
    "alertmanager",
    "grafana",
    "loki",
    "tempo",
    "redis",
    "redis-exporter",
}
# Hosts of the production stack that a local compose must never reach.
PRODUCTION_MARKERS = ("gatewayz.ai", "railway.app", "railway.internal", "up.railway")


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    """deploy/docker-compose.yml validates against the Compose Specification JSON schema."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft201909Validator(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(load_yaml(COMPOSE_FILE))
    ]
    assert errors == []


def test_schema_rejects_a_misspelt_service_key() -> None:
    """The vendored schema really checks services: a misspelt key is an error."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = {"services": {"x": {"image": "redis:7.4.2", "helthcheck": {}}}}
    assert not jsonschema.Draft201909Validator(schema).is_valid(broken)


def test_compose_runs_the_whole_stack() -> None:
    """Compose defines exactly the stack: exporter, Prometheus, Alertmanager, Grafana, Loki, Tempo,
    Redis and redis_exporter."""
    assert set(compose_services()) == EXPECTED_SERVICES


@pytest.mark.parametrize("name", sorted(EXPECTED_SERVICES))
def test_service_has_a_pinned_image_or_an_existing_dockerfile(name: str) -> None:
    """Each service either names an image pinned to an exact version or builds a Dockerfile that
    exists."""
    service = compose_services()[name]
    if "build" not in service:
        assert PINNED_IMAGE.match(service["image"]), f"{name}: {service['image']} is not pinned"
        return
    build = service["build"]
    build = {"context": build} if isinstance(build, str) else build
    dockerfile = COMPOSE_FILE.parent / build["context"] / build.get("dockerfile", "Dockerfile")
    assert dockerfile.resolve().is_file(), f"{name}: {dockerfile.resolve()} does not exist"
    assert "image" not in service, f"{name}: builds locally, so it must not name an image tag"


@pytest.mark.parametrize("name", sorted(EXPECTED_SERVICES))
def test_service_health_check_can_fail(name: str) -> None:
    """Each service has a health check that exits non-zero when the service is unhealthy."""
    check = compose_services()[name].get("healthcheck")
    assert check, f"{name} has no healthcheck"
    assert not check.get("disable", False)
    test = check["test"]
    assert isinstance(test, list), f"{name}: write the test as a list starting CMD or CMD-SHELL"
    assert test[0] in ("CMD", "CMD-SHELL"), f"{name}: {test[0]} runs no check"
    command = " ".join(test)
    # The old stack's check could never fail: `... || exit 0`.
    assert not re.search(r"\|\|\s*(exit\s+0|true|:)\b", command), f"{name}: {command}"


@pytest.mark.parametrize("name", sorted(EXPECTED_SERVICES))
def test_service_data_lives_in_named_volumes(name: str) -> None:
    """Every volume a service mounts is a named volume declared at the top level."""
    declared = set(load_yaml(COMPOSE_FILE).get("volumes") or {})
    for mount in compose_services()[name].get("volumes", []):
        source = mount["source"] if isinstance(mount, dict) else str(mount).split(":", 1)[0]
        assert source in declared, f"{name}: {source} is not a declared named volume"


def test_nothing_points_at_production() -> None:
    """No service's environment or command names a production host; URLs name compose
    services."""
    services = compose_services()
    for name, service in services.items():
        text = json.dumps([service.get("environment"), service.get("command")])
        for marker in PRODUCTION_MARKERS:
            assert marker not in text, f"{name} points at {marker}"
        for key, value in env_values(service).items():
            if "://" in value:
                host, _ = url_host_port(value)
                assert host in services, f"{name}.{key}={value} is not a local service"


def test_redis_exporter_reads_the_local_redis() -> None:
    """redis_exporter is pointed at the compose Redis, never a remote one."""
    env = env_values(compose_services()["redis-exporter"])
    assert env["REDIS_ADDR"] == "redis://redis:6379"


def test_exporter_runs_in_demo_mode_wired_to_redis_loki_and_tempo() -> None:
    """The exporter starts in demo mode (no keys needed) and sends to local Redis, Loki, Tempo."""
    service = compose_services()["provider-exporter"]
    assert service["command"] == ["demo"]
    env = env_values(service)
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["LOKI_URL"] == "http://loki:3100"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo:4318"


def test_published_ports_bind_loopback_only() -> None:
    """Every published port is bound to 127.0.0.1, so the local stack is not exposed."""
    for name, service in compose_services().items():
        for entry in service.get("ports", []):
            assert str(entry).startswith("127.0.0.1:"), f"{name}: {entry}"
