"""Loki and Tempo configs: only keys their pinned versions accept, none of the crash-loop keys."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from static_support import (
    LOKI_CONFIG,
    LOKI_KEYS,
    REPO,
    TEMPO_CONFIG,
    TEMPO_KEYS,
    docker_instructions,
    endpoint_port,
    flatten_keys,
    key_allowed,
    load_yaml,
)

# Keys that crash-looped or silently broke the stack this project replaces
# (shared/reference/stack-lessons.md). Kept here, not in the allowed lists, so that widening a
# list can never let them back in.
LOKI_FORBIDDEN = {
    "compactor.shared_store": "removed in Loki 3.0: the process refuses to start",
    "compactor.shared_store_key_prefix": "removed in Loki 3.0",
    "storage_config.boltdb_shipper.shared_store": "removed in Loki 3.0",
}
TEMPO_FORBIDDEN_PATTERNS = {
    r"metrics_generator\.processor\.[a-z_]+\.enabled": "not a field: processors are enabled "
    "through overrides",
    r"querier\.frontend_worker\.frontend_address": "must stay unset in single-binary mode; "
    "pointing it at the HTTP port gave 'http2: frame too large'",
    r"metrics_generator_enabled": "Tempo 1.x key, rejected by 2.x",
}


def allowed_keys(path: Path) -> set[str]:
    """Read the allowed-key list kept beside the tests."""
    data = load_yaml(path)
    assert data["sources"], f"{path.name} must name the documentation it came from"
    return set(data["keys"])


@pytest.mark.parametrize(
    ("config", "keys_file"),
    [(LOKI_CONFIG, LOKI_KEYS), (TEMPO_CONFIG, TEMPO_KEYS)],
    ids=["loki", "tempo"],
)
def test_every_key_is_in_the_pinned_versions_reference(config: Path, keys_file: Path) -> None:
    """Every key in the config appears in the pinned version's configuration reference list."""
    allowed = allowed_keys(keys_file)
    unknown = sorted(k for k in set(flatten_keys(load_yaml(config))) if not key_allowed(k, allowed))
    assert unknown == [], f"{config.name}: keys not in {keys_file.name}: {unknown}"


@pytest.mark.parametrize(
    ("dockerfile", "keys_file", "image"),
    [
        (REPO / "loki" / "Dockerfile", LOKI_KEYS, "grafana/loki"),
        (REPO / "tempo" / "Dockerfile", TEMPO_KEYS, "grafana/tempo"),
    ],
    ids=["loki", "tempo"],
)
def test_image_tag_is_the_version_the_key_list_was_checked_for(
    dockerfile: Path, keys_file: Path, image: str
) -> None:
    """The Dockerfile's image tag equals the version the allowed-key list was checked against."""
    froms = [args for word, args in docker_instructions(dockerfile) if word == "FROM"]
    assert froms == [f"{image}:{load_yaml(keys_file)['version']}"]


def test_loki_has_no_key_removed_in_3x() -> None:
    """loki.yml contains none of the keys Loki 3.x removed (the old crash loop)."""
    keys = set(flatten_keys(load_yaml(LOKI_CONFIG)))
    present = {k: why for k, why in LOKI_FORBIDDEN.items() if k in keys}
    assert present == {}


def test_loki_retention_is_30_days_through_the_compactor() -> None:
    """Retention is 720 h, enforced by a compactor every 10 min with a delete-request store."""
    config = load_yaml(LOKI_CONFIG)
    compactor = config["compactor"]
    assert config["limits_config"]["retention_period"] == "720h"
    assert compactor["retention_enabled"] is True
    assert compactor["compaction_interval"] == "10m"
    # Retention without delete_request_store makes Loki 3.x refuse to start.
    assert compactor["delete_request_store"] == "filesystem"


def test_loki_ingestion_limits_and_tsdb_v13_on_filesystem() -> None:
    """Ingestion is 10 MB/s with a 20 MB burst and the index is TSDB v13 on the filesystem."""
    config = load_yaml(LOKI_CONFIG)
    assert config["limits_config"]["ingestion_rate_mb"] == 10
    assert config["limits_config"]["ingestion_burst_size_mb"] == 20
    periods = config["schema_config"]["configs"]
    assert [(p["store"], p["schema"], p["object_store"]) for p in periods] == [
        ("tsdb", "v13", "filesystem")
    ]
    assert "filesystem" in config["common"]["storage"]


def test_tempo_has_none_of_the_old_stacks_broken_keys() -> None:
    """tempo.yml has no processor `enabled:` field, no frontend_address and no 1.x keys."""
    keys = set(flatten_keys(load_yaml(TEMPO_CONFIG)))
    present = {
        key: why
        for key in keys
        for pattern, why in TEMPO_FORBIDDEN_PATTERNS.items()
        if re.fullmatch(pattern, key)
    }
    assert present == {}


def test_tempo_enables_both_processors_through_overrides() -> None:
    """Service graphs and span metrics are switched on in overrides.defaults, the 2.x way."""
    config = load_yaml(TEMPO_CONFIG)
    processors = config["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert sorted(processors) == ["service-graphs", "span-metrics"]


def test_tempo_generated_metrics_are_remote_written_to_prometheus() -> None:
    """The metrics generator remote-writes, with exemplars, to Prometheus' write endpoint."""
    remote_write = load_yaml(TEMPO_CONFIG)["metrics_generator"]["storage"]["remote_write"]
    assert remote_write == [
        {"url": "http://prometheus:9090/api/v1/write", "send_exemplars": True},
    ]


def test_prometheus_accepts_the_remote_write_tempo_sends() -> None:
    """Prometheus is started with its remote-write receiver on, or Tempo's metrics are lost."""
    sources = [p for p in (REPO / "prometheus").rglob("*") if p.is_file()]
    flagged = [p for p in sources if "--web.enable-remote-write-receiver" in p.read_text("utf-8")]
    assert flagged, "no file under prometheus/ passes --web.enable-remote-write-receiver"


def test_tempo_receivers_listen_on_all_interfaces() -> None:
    """OTLP gRPC and HTTP receivers bind 0.0.0.0:4317 and 0.0.0.0:4318, not localhost."""
    protocols = load_yaml(TEMPO_CONFIG)["distributor"]["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    assert endpoint_port(protocols["http"]["endpoint"]) == 4318


def test_tempo_states_its_retention_and_uses_local_storage() -> None:
    """Traces are kept on local storage for a stated retention (7 days), in 5-minute blocks."""
    config = load_yaml(TEMPO_CONFIG)
    assert config["compactor"]["compaction"]["block_retention"] == "168h"
    assert config["ingester"]["max_block_duration"] == "5m"
    assert config["storage"]["trace"]["backend"] == "local"


def exec_form(args: str) -> list[Any]:
    """Parse a JSON exec-form instruction argument, failing on the shell form."""
    try:
        parsed = json.loads(args)
    except json.JSONDecodeError as error:
        raise AssertionError(f"not exec form: {args}") from error
    assert isinstance(parsed, list)
    return parsed


@pytest.mark.parametrize(
    ("folder", "config_name", "config_dir"),
    [("loki", "loki.yml", "/etc/loki"), ("tempo", "tempo.yml", "/etc/tempo")],
)
def test_dockerfile_runs_the_image_entrypoint_with_the_copied_config(
    folder: str, config_name: str, config_dir: str
) -> None:
    """The Dockerfile keeps the image's ENTRYPOINT and its CMD is only flags naming the config."""
    instructions = docker_instructions(REPO / folder / "Dockerfile")
    words = [word for word, _ in instructions]
    assert "ENTRYPOINT" not in words, "the image's own ENTRYPOINT must stay"
    copies = [args for word, args in instructions if word == "COPY"]
    assert copies == [f"{config_name} {config_dir}/{config_name}"]
    cmds = [exec_form(args) for word, args in instructions if word == "CMD"]
    # A stray first argument (the old Tempo bug) would make the binary ignore the config file.
    assert len(cmds) == 1
    assert cmds[0][0] == f"-config.file={config_dir}/{config_name}"
    assert all(arg.startswith("-") for arg in cmds[0]), "only flags after the entrypoint"


def test_tempo_expands_the_variables_its_config_uses() -> None:
    """A `${VAR}` in tempo.yml only works when the image passes -config.expand-env=true."""
    uses_variables = "${" in TEMPO_CONFIG.read_text(encoding="utf-8")
    dockerfile = (REPO / "tempo" / "Dockerfile").read_text(encoding="utf-8")
    assert uses_variables
    assert "-config.expand-env=true" in dockerfile
