"""Ports agree across loki.yml, tempo.yml, the compose file, Grafana datasources and Prometheus."""

from __future__ import annotations

import re

from static_support import (
    LOKI_CONFIG,
    REPO,
    TEMPO_CONFIG,
    compose_services,
    container_ports,
    endpoint_port,
    env_values,
    load_yaml,
    url_host_port,
)

# The stack's fixed ports (README and docs/deployment.md).
PORTS = {
    "grafana": {3000},
    "prometheus": {9090},
    "alertmanager": {9093},
    "loki": {3100},
    "tempo": {3200, 4317, 4318},
    "redis-exporter": {9121},
    "provider-exporter": {8001},
}
DATASOURCES = REPO / "grafana" / "provisioning" / "datasources"
PROMETHEUS_TEMPLATE = REPO / "prometheus" / "prometheus.yml"
PROMETHEUS_ENTRYPOINT = REPO / "prometheus" / "entrypoint.sh"
# Datasource type -> the compose service and port Grafana must reach it on.
DATASOURCE_TARGETS = {
    "prometheus": ("prometheus", 9090),
    "loki": ("loki", 3100),
    "tempo": ("tempo", 3200),
}


def test_compose_publishes_each_services_fixed_ports() -> None:
    """Each compose service publishes exactly its documented container ports."""
    services = compose_services()
    published = {name: container_ports(services[name]) for name in PORTS}
    assert published == PORTS


def test_loki_listens_where_compose_and_the_exporter_expect() -> None:
    """Loki's HTTP port is the one compose publishes and the exporter's LOKI_URL uses."""
    port = load_yaml(LOKI_CONFIG)["server"]["http_listen_port"]
    assert port in container_ports(compose_services()["loki"])
    assert url_host_port(env_values(compose_services()["provider-exporter"])["LOKI_URL"]) == (
        "loki",
        port,
    )


def test_tempo_listens_where_compose_and_the_exporter_expect() -> None:
    """Tempo's HTTP and OTLP ports are published, and the exporter sends OTLP HTTP to 4318."""
    config = load_yaml(TEMPO_CONFIG)
    protocols = config["distributor"]["receivers"]["otlp"]["protocols"]
    ports = {
        config["server"]["http_listen_port"],
        endpoint_port(protocols["grpc"]["endpoint"]),
        endpoint_port(protocols["http"]["endpoint"]),
    }
    assert ports == container_ports(compose_services()["tempo"])
    endpoint = env_values(compose_services()["provider-exporter"])["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert url_host_port(endpoint) == ("tempo", endpoint_port(protocols["http"]["endpoint"]))


def test_tempo_remote_writes_to_the_prometheus_service_port() -> None:
    """Tempo's remote_write URL names the compose Prometheus on its published port."""
    url = load_yaml(TEMPO_CONFIG)["metrics_generator"]["storage"]["remote_write"][0]["url"]
    host, port = url_host_port(url)
    assert host in compose_services()
    assert port in container_ports(compose_services()[host])


def test_grafana_datasources_reach_the_right_service_ports() -> None:
    """Each provisioned datasource URL (literal or $VAR from compose) hits the right port."""
    files = sorted(DATASOURCES.glob("*.y*ml"))
    assert files, f"no datasource file under {DATASOURCES.relative_to(REPO)}"
    grafana_env = env_values(compose_services()["grafana"])
    seen = set()
    for path in files:
        for source in load_yaml(path).get("datasources", []):
            if source["type"] not in DATASOURCE_TARGETS:
                continue
            url = source["url"]
            variable = re.fullmatch(r"\$\{?(\w+)\}?", url)
            if variable:
                assert variable.group(1) in grafana_env, f"compose grafana lacks {url}"
                url = grafana_env[variable.group(1)]
            assert url_host_port(url) == DATASOURCE_TARGETS[source["type"]], source["name"]
            seen.add(source["type"])
    assert seen == set(DATASOURCE_TARGETS)


def test_prometheus_scrapes_the_compose_services_on_their_ports() -> None:
    """Prometheus' scrape and alerting targets (from compose env or entrypoint defaults) use the
    services' ports."""
    assert PROMETHEUS_TEMPLATE.is_file(), "prometheus/prometheus.yml is missing"
    assert "localhost:9090" in PROMETHEUS_TEMPLATE.read_text(encoding="utf-8")
    defaults = dict(
        re.findall(r'"\$\{(\w+_TARGET):-([^}]*)\}"', PROMETHEUS_ENTRYPOINT.read_text("utf-8"))
    )
    env = env_values(compose_services()["prometheus"])
    expected = {
        "PROVIDER_EXPORTER_TARGET": ("provider-exporter", 8001),
        "REDIS_EXPORTER_TARGET": ("redis-exporter", 9121),
        "ALERTMANAGER_TARGET": ("alertmanager", 9093),
    }
    for variable, (host, port) in expected.items():
        for target in (env[variable], defaults[variable]):
            assert url_host_port(f"http://{target}") == (host, port), f"{variable}={target}"
