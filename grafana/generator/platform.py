"""The seed's platform dashboards rebuilt: Redis, Loki logs, Prometheus and Tempo.

Seed panel counts and what changed:

- Redis Services (11 -> 12): the seed charted API request counters under a Redis title; every panel
  now reads redis_exporter's own families (job ``redis_exporter``), plus the exporter's view of the
  same Redis (its poll succeeding) because that is what the provider dashboards depend on.
- Loki Logs (9 -> 9): queries use only the stream labels the stack ships
  (``grafana/catalog/log_labels.yml``): the exporter's app/env/level/provider and the backend's
  app/env; level filtering of backend logs is a line filter because it pushes no level label.
- Prometheus (10 -> 10): Prometheus' own families only; names exist in both 2.42 and 3.2.
- Tempo Distributed Tracing (6 -> 7): the seed's single span-metrics graph is split into rate and
  latency; panels fed by Tempo's metrics generator are marked with the ``tempo_metrics`` feed.
"""

from __future__ import annotations

from grafana.generator.model import (
    LOKI,
    PROMETHEUS,
    REDIS,
    TEMPO,
    TEMPO_METRICS,
    Dashboard,
    Panel,
    Row,
    Target,
    Variable,
)
from grafana.generator.panels import ENV, instant, logs, stat, table, timeseries, up_mappings

FOLDER = "Platform"
R = f'job="redis_exporter", {ENV}'
P = f'job="prometheus", {ENV}'


def _redis(expr: str, legend: str = "") -> Target:
    return Target(expr, legend, feeds=(REDIS,))


def _prom(expr: str, legend: str = "") -> Target:
    return Target(expr, legend, feeds=(PROMETHEUS,))


def _env_var(job: str, feed: str) -> Variable:
    return Variable(
        "environment", "Environment", f'label_values(up{{job="{job}"}}, environment)', feeds=(feed,)
    )


def redis_services() -> Dashboard:
    """Build Redis Services on redis_exporter's metrics."""
    irate = "[$__rate_interval]"
    return Dashboard(
        uid="redis-services",
        title="Redis Services",
        folder=FOLDER,
        description="The Redis the backend and the exporter share, as redis_exporter reports it.",
        tags=("redis",),
        variables=(_env_var("redis_exporter", REDIS),),
        items=(
            Row("Status"),
            stat(
                "Redis up",
                _redis(f"redis_up{{{R}}}"),
                mappings=up_mappings(),
                thresholds=(("red", None), ("green", 1)),
                width=6,
            ),
            stat("Uptime", _redis(f"redis_uptime_in_seconds{{{R}}}"), unit="s", width=6),
            stat("Connected clients", _redis(f"redis_connected_clients{{{R}}}"), width=6),
            stat(
                "Exporter's Redis poll up",
                Target(f"provider_exporter_redis_up{{{ENV}}}"),
                mappings=up_mappings(),
                thresholds=(("red", None), ("green", 1)),
                width=6,
                description="Whether the provider exporter's last read of the backend keys worked.",
            ),
            Row("Load"),
            timeseries(
                "Commands per second",
                _redis(f"rate(redis_commands_processed_total{{{R}}}{irate})", "commands"),
                unit="ops",
            ),
            timeseries(
                "Keyspace hit ratio",
                _redis(
                    f"rate(redis_keyspace_hits_total{{{R}}}{irate}) / "
                    f"(rate(redis_keyspace_hits_total{{{R}}}{irate}) + "
                    f"rate(redis_keyspace_misses_total{{{R}}}{irate}))",
                    "hit ratio",
                ),
                unit="percentunit",
                min=0,
                max=1,
            ),
            timeseries(
                "Top commands by calls",
                _redis(
                    f"topk(10, sum by (cmd) (rate(redis_commands_total{{{R}}}{irate})))", "{{cmd}}"
                ),
                unit="ops",
            ),
            Row("Memory and keys"),
            timeseries(
                "Memory used",
                _redis(f"redis_memory_used_bytes{{{R}}}", "used"),
                _redis(f"redis_memory_max_bytes{{{R}}}", "max (0 = unlimited)"),
                unit="bytes",
            ),
            timeseries("Keys by database", _redis(f"sum by (db) (redis_db_keys{{{R}}})", "{{db}}")),
            timeseries(
                "Expired and evicted keys",
                _redis(f"rate(redis_expired_keys_total{{{R}}}{irate})", "expired"),
                _redis(f"rate(redis_evicted_keys_total{{{R}}}{irate})", "evicted"),
                unit="ops",
            ),
            timeseries(
                "Network I/O",
                _redis(f"rate(redis_net_input_bytes_total{{{R}}}{irate})", "in"),
                _redis(f"rate(redis_net_output_bytes_total{{{R}}}{irate})", "out"),
                unit="Bps",
                width=12,
            ),
            timeseries(
                "redis_exporter scrape duration",
                _redis(f"redis_exporter_last_scrape_duration_seconds{{{R}}}", "scrape"),
                unit="s",
                width=12,
            ),
        ),
    )


def _loki(expr: str, legend: str = "") -> Target:
    return Target(expr, legend, feeds=(LOKI,))


def loki_logs() -> Dashboard:
    """Build Loki Logs on the stream labels the exporter and the backend push."""
    exp = '{app="provider-exporter", env=~"$env"}'
    exp_err = '{app="provider-exporter", env=~"$env", level="error"}'
    back = '{app="gatewayz", env=~"$env"}'
    return Dashboard(
        uid="loki-logs",
        title="Loki Logs",
        folder=FOLDER,
        description="Logs of the provider exporter and the GatewayZ backend.",
        tags=("logs",),
        time_from="now-1h",
        variables=(
            Variable("env", "Environment", "label_values(env)", kind="loki", feeds=(LOKI,)),
        ),
        items=(
            Row("Volume"),
            timeseries(
                "Exporter log lines by level",
                _loki(f"sum by (level) (count_over_time({exp} [$__auto]))", "{{level}}"),
                custom={"drawStyle": "bars", "stacking": {"group": "A", "mode": "normal"}},
            ),
            timeseries(
                "Exporter errors by provider",
                _loki(f"sum by (provider) (count_over_time({exp_err} [$__auto]))", "{{provider}}"),
            ),
            timeseries(
                "Backend log lines", _loki(f"sum(count_over_time({back} [$__auto]))", "lines")
            ),
            stat(
                "Exporter errors (range)",
                _loki(f"sum(count_over_time({exp_err} [$__range]))"),
                thresholds=(("green", None), ("red", 1)),
                width=8,
            ),
            stat(
                "Backend error lines (range)",
                _loki(f'sum(count_over_time({back} |~ "(?i)error" [$__range]))'),
                thresholds=(("green", None), ("red", 1)),
                width=8,
            ),
            table(
                "Exporter warnings by provider (range)",
                Target(
                    'sum by (provider) (count_over_time({app="provider-exporter", env=~"$env", '
                    'level="warning"} [$__range]))',
                    feeds=(LOKI,),
                    instant=True,
                    fmt="table",
                ),
                width=8,
                height=4,
            ),
            Row("Lines"),
            logs("Exporter logs", _loki(exp)),
            logs("Exporter errors", _loki(exp_err), height=8),
            logs("Backend errors", _loki(f'{back} |~ "(?i)(error|exception|traceback)"')),
        ),
    )


def prometheus() -> Dashboard:
    """Build the Prometheus dashboard on Prometheus' own metrics."""
    return Dashboard(
        uid="prometheus",
        title="Prometheus",
        folder=FOLDER,
        description="Prometheus itself: targets, ingestion, queries, rules, storage.",
        tags=("prometheus",),
        variables=(_env_var("prometheus", PROMETHEUS),),
        items=(
            Row("Targets"),
            table(
                "Targets up",
                instant(f"up{{{ENV}}}", feeds=(PROMETHEUS,)),
                width=12,
                mappings=up_mappings(),
            ),
            timeseries(
                "Scrape duration by job",
                _prom(f"max by (job) (scrape_duration_seconds{{{ENV}}})", "{{job}}"),
                unit="s",
                width=12,
            ),
            timeseries(
                "Samples scraped by job",
                _prom(f"sum by (job) (scrape_samples_scraped{{{ENV}}})", "{{job}}"),
            ),
            Row("TSDB"),
            timeseries("Head series", _prom(f"prometheus_tsdb_head_series{{{P}}}", "series")),
            timeseries(
                "Samples appended per second",
                _prom(
                    f"rate(prometheus_tsdb_head_samples_appended_total{{{P}}}[$__rate_interval])",
                    "samples",
                ),
                unit="ops",
            ),
            timeseries(
                "Storage blocks size",
                _prom(f"prometheus_tsdb_storage_blocks_bytes{{{P}}}", "blocks"),
                unit="bytes",
            ),
            Row("Queries and rules"),
            timeseries(
                "HTTP requests by handler",
                _prom(
                    "sum by (handler) (rate(prometheus_http_requests_total"
                    f"{{{P}}}[$__rate_interval]))",
                    "{{handler}}",
                ),
                unit="reqps",
            ),
            timeseries(
                "Query duration p99 by slice",
                _prom(
                    f'prometheus_engine_query_duration_seconds{{{P}, quantile="0.99"}}', "{{slice}}"
                ),
                unit="s",
            ),
            timeseries(
                "Rule group evaluation duration",
                _prom(f"prometheus_rule_group_last_duration_seconds{{{P}}}", "{{rule_group}}"),
                _prom(
                    f"sum(rate(prometheus_rule_evaluation_failures_total{{{P}}}[$__rate_interval]))",
                    "failures/s",
                ),
                unit="s",
            ),
            timeseries(
                "Resident memory",
                _prom(f"process_resident_memory_bytes{{{P}}}", "prometheus"),
                unit="bytes",
                width=24,
            ),
        ),
    )


def tempo_tracing() -> Dashboard:
    """Build Tempo Distributed Tracing: trace search, service map and span metrics."""
    svc = 'service=~"$service"'
    return Dashboard(
        uid="tempo-tracing",
        title="Tempo Distributed Tracing",
        folder=FOLDER,
        description="Traces of the exporter and the backend; span metrics from Tempo.",
        tags=("traces",),
        time_from="now-1h",
        variables=(
            Variable(
                "service",
                "Service",
                "label_values(traces_spanmetrics_calls_total, service)",
                feeds=(TEMPO_METRICS,),
            ),
        ),
        items=(
            Row("Search"),
            _traces("Recent traces", '{ resource.service.name =~ "$service" }'),
            _traces("Error traces", '{ resource.service.name =~ "$service" && status = error }'),
            _traces(
                "Slow traces (> 2s)", '{ resource.service.name =~ "$service" && duration > 2s }'
            ),
            Row("Service map and span metrics"),
            Panel(
                "nodeGraph",
                "Service map",
                (Target("serviceMap", feeds=(TEMPO,)),),
                width=24,
                height=12,
            ),
            timeseries(
                "Span rate by service",
                Target(
                    "sum by (service) (rate(traces_spanmetrics_calls_total"
                    f"{{{svc}}}[$__rate_interval]))",
                    "{{service}}",
                    feeds=(TEMPO_METRICS,),
                ),
                unit="ops",
                width=8,
            ),
            timeseries(
                "Span latency p95 by service",
                Target(
                    "histogram_quantile(0.95, sum by (service, le) (rate("
                    f"traces_spanmetrics_latency_bucket{{{svc}}}[$__rate_interval])))",
                    "{{service}}",
                    feeds=(TEMPO_METRICS,),
                ),
                unit="s",
                width=8,
            ),
            timeseries(
                "Service graph requests and failures",
                Target(
                    "sum by (client, server) (rate(traces_service_graph_request_total"
                    "[$__rate_interval]))",
                    "{{client}} → {{server}}",
                    feeds=(TEMPO_METRICS,),
                ),
                Target(
                    "sum by (client, server) (rate(traces_service_graph_request_failed_total"
                    "[$__rate_interval]))",
                    "{{client}} → {{server}} failed",
                    feeds=(TEMPO_METRICS,),
                ),
                unit="reqps",
                width=8,
            ),
        ),
    )


def _traces(title: str, traceql: str) -> Panel:
    return table(title, Target(traceql, feeds=(TEMPO,)), width=8, height=10)
