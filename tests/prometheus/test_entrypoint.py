"""prometheus/entrypoint.sh renders targets and labels from the environment and keeps tokens out
of the config."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from tests.prometheus.support import CONTRACT_JOBS, RULES_DIR, render_prometheus, run, tool

CANARY = "canary-token-3f9c1e7a"


def _jobs(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job_name"]: job for job in config["scrape_configs"]}


def _targets(job: dict[str, Any]) -> list[str]:
    return [target for group in job["static_configs"] for target in group["targets"]]


def _environments(job: dict[str, Any]) -> set[str]:
    return {group["labels"]["environment"] for group in job["static_configs"]}


def test_defaults_point_at_local_compose_services(tmp_path: Path) -> None:
    """With no variables set, targets are the compose service names and no backend is scraped."""
    rendered = render_prometheus(tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    config = rendered.config("prometheus.yml")
    jobs = _jobs(config)
    assert set(jobs) == set(CONTRACT_JOBS)
    assert _targets(jobs["provider_exporter"]) == ["provider-exporter:8001"]
    assert _targets(jobs["redis_exporter"]) == ["redis-exporter:9121"]
    assert _targets(jobs["prometheus"]) == ["localhost:9090"]
    assert _targets(jobs["gatewayz_production"]) == []
    assert _targets(jobs["gatewayz_staging"]) == []
    assert _targets(jobs["provider_exporter_vantages"]) == []
    assert "dns_sd_configs" not in jobs["provider_exporter"]
    alertmanagers = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == ["alertmanager:9093"]
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["external_labels"] == {"environment": "local"}
    assert config["rule_files"] == [f"{RULES_DIR}/*.yml"]


def test_variables_set_targets_and_environment_labels(tmp_path: Path) -> None:
    """Every target comes from its variable and every job carries an environment label."""
    rendered = render_prometheus(
        tmp_path,
        ENVIRONMENT="production",
        PROVIDER_EXPORTER_TARGET="provider-exporter.railway.internal:8001",
        REDIS_EXPORTER_TARGET="redis-exporter.railway.internal:9121",
        ALERTMANAGER_TARGET="alertmanager.railway.internal:9093",
        GATEWAYZ_PRODUCTION_TARGET="api.gatewayz.ai:443",
        GATEWAYZ_STAGING_TARGET="gatewayz-staging.up.railway.app:443",
    )
    assert rendered.returncode == 0, rendered.stderr
    config = rendered.config("prometheus.yml")
    jobs = _jobs(config)
    assert _targets(jobs["provider_exporter"]) == ["provider-exporter.railway.internal:8001"]
    assert _targets(jobs["redis_exporter"]) == ["redis-exporter.railway.internal:9121"]
    assert _targets(jobs["gatewayz_production"]) == ["api.gatewayz.ai:443"]
    assert _targets(jobs["gatewayz_staging"]) == ["gatewayz-staging.up.railway.app:443"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager.railway.internal:9093"
    ]
    for name in ("prometheus", "provider_exporter", "redis_exporter"):
        assert _environments(jobs[name]) == {"production"}
    assert _environments(jobs["gatewayz_production"]) == {"production"}
    assert _environments(jobs["gatewayz_staging"]) == {"staging"}
    for name in ("gatewayz_production", "gatewayz_staging"):
        assert jobs[name]["scheme"] == "https"
        assert jobs[name]["authorization"]["type"] == "Bearer"


def test_token_lives_only_in_private_credentials_files(tmp_path: Path) -> None:
    """A planted token appears only in the mode-600 credentials files, never in the config or
    the log."""
    rendered = render_prometheus(
        tmp_path,
        GATEWAYZ_PRODUCTION_TARGET="api.gatewayz.ai:443",
        GATEWAYZ_METRICS_TOKEN=CANARY,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert CANARY not in rendered.stderr
    holders = sorted(p.name for p in tmp_path.iterdir() if CANARY in p.read_text())
    assert holders == ["gatewayz_production.token", "gatewayz_staging.token"]
    jobs = _jobs(rendered.config("prometheus.yml"))
    for name in ("gatewayz_production", "gatewayz_staging"):
        credentials = Path(jobs[name]["authorization"]["credentials_file"])
        assert credentials.read_text() == CANARY
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600


def test_staging_token_overrides_the_shared_one(tmp_path: Path) -> None:
    """GATEWAYZ_STAGING_METRICS_TOKEN, when set, is the staging job's token."""
    rendered = render_prometheus(
        tmp_path, GATEWAYZ_METRICS_TOKEN="prod-token", GATEWAYZ_STAGING_METRICS_TOKEN="stg-token"
    )
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "gatewayz_production.token").read_text() == "prod-token"
    assert (tmp_path / "gatewayz_staging.token").read_text() == "stg-token"


def test_unset_token_renders_empty_credentials(tmp_path: Path) -> None:
    """Without a token the credentials files exist and are empty, so the config stays valid."""
    rendered = render_prometheus(tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "gatewayz_production.token").read_text() == ""
    assert (tmp_path / "gatewayz_staging.token").read_text() == ""


def test_replicas_dns_discovers_every_replica_as_its_own_target(tmp_path: Path) -> None:
    """PROVIDER_EXPORTER_REPLICAS_DNS replaces the static exporter target with AAAA discovery
    on that name and port, and the discovered targets still get the environment label."""
    rendered = render_prometheus(
        tmp_path,
        ENVIRONMENT="production",
        PROVIDER_EXPORTER_REPLICAS_DNS="provider-exporter.railway.internal:8001",
    )
    assert rendered.returncode == 0, rendered.stderr
    job = _jobs(rendered.config("prometheus.yml"))["provider_exporter"]
    assert "static_configs" not in job
    assert job["dns_sd_configs"] == [
        {
            "names": ["provider-exporter.railway.internal"],
            "type": "AAAA",
            "port": 8001,
            "refresh_interval": "30s",
        }
    ]
    assert job["relabel_configs"] == [{"target_label": "environment", "replacement": "production"}]
    checked = run(tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_vantage_targets_are_scraped_over_https_with_a_private_token(tmp_path: Path) -> None:
    """PROVIDER_EXPORTER_VANTAGE_TARGETS lists the other vantages' exporters in their own job,
    over HTTPS with PROVIDER_EXPORTER_METRICS_TOKEN from a mode-600 file only, and adds no
    vantage target label (the exporters' own label is kept)."""
    rendered = render_prometheus(
        tmp_path,
        ENVIRONMENT="production",
        PROVIDER_EXPORTER_VANTAGE_TARGETS="exporter-eu.example.com:443,exporter-us.example.com:443",
        PROVIDER_EXPORTER_METRICS_TOKEN=CANARY,
    )
    assert rendered.returncode == 0, rendered.stderr
    assert CANARY not in rendered.stderr
    holders = sorted(p.name for p in tmp_path.iterdir() if CANARY in p.read_text())
    assert holders == ["provider_exporter_vantages.token"]
    job = _jobs(rendered.config("prometheus.yml"))["provider_exporter_vantages"]
    assert _targets(job) == ["exporter-eu.example.com:443", "exporter-us.example.com:443"]
    assert _environments(job) == {"production"}
    assert all(set(group["labels"]) == {"environment"} for group in job["static_configs"])
    assert job["scheme"] == "https"
    assert job["authorization"]["type"] == "Bearer"
    credentials = Path(job["authorization"]["credentials_file"])
    assert credentials.read_text() == CANARY
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    checked = run(tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("env", "variable", "message"),
    [
        ({"PROVIDER_EXPORTER_REPLICAS_DNS": "provider-exporter"}, "", "must be host:port"),
        ({"PROVIDER_EXPORTER_REPLICAS_DNS": "http://exporter:8001"}, "", "without a scheme"),
        ({"PROVIDER_EXPORTER_REPLICAS_DNS": "exporter:http"}, "", "numeric port"),
        ({"PROVIDER_EXPORTER_REPLICAS_DNS": "fd12::1:8001"}, "", "a DNS name"),
        ({"PROVIDER_EXPORTER_REPLICAS_DNS": 'x:1"]'}, "", "may only contain"),
        (
            {"PROVIDER_EXPORTER_REPLICAS_DNS": "exporter:8001", "PROVIDER_EXPORTER_TARGET": "e:1"},
            "PROVIDER_EXPORTER_TARGET",
            "not both",
        ),
        ({"PROVIDER_EXPORTER_VANTAGE_TARGETS": "eu:443,,us:443"}, "", "empty entry"),
        ({"PROVIDER_EXPORTER_VANTAGE_TARGETS": "eu:443,"}, "", "empty entry"),
        ({"PROVIDER_EXPORTER_VANTAGE_TARGETS": "eu:443,https://us:443"}, "", "without a scheme"),
        ({"PROVIDER_EXPORTER_VANTAGE_TARGETS": "eu.example.com"}, "", "must be host:port"),
        ({"PROVIDER_EXPORTER_VANTAGE_TARGETS": "eu:443 us:443"}, "", "may only contain"),
    ],
)
def test_bad_replica_and_vantage_values_stop_the_start(
    tmp_path: Path, env: dict[str, str], variable: str, message: str
) -> None:
    """A bad replica DNS name or vantage target list exits 2 with one line naming the variable,
    and writes no config."""
    rendered = render_prometheus(tmp_path, **env)
    assert rendered.returncode == 2
    assert (variable or next(iter(env))) in rendered.stderr
    assert message in rendered.stderr
    assert len(rendered.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "prometheus.yml").exists()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GATEWAYZ_PRODUCTION_TARGET", "https://api.gatewayz.ai:443", "without a scheme"),
        ("PROVIDER_EXPORTER_TARGET", "provider-exporter", "must be host:port"),
        ("REDIS_EXPORTER_TARGET", 'redis:9121"]', "may only contain"),
        ("ENVIRONMENT", "prod uction", "ENVIRONMENT may only contain"),
    ],
)
def test_bad_values_stop_the_start_with_a_readable_error(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    """A target with a scheme, without a port or with YAML-breaking characters exits 2 naming
    the variable, and writes no config."""
    rendered = render_prometheus(tmp_path, **{variable: value})
    assert rendered.returncode == 2
    assert variable in rendered.stderr
    assert message in rendered.stderr
    assert not (tmp_path / "prometheus.yml").exists()
