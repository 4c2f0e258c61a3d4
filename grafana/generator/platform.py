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

from typing import Any

from grafana.generator.model import (
    LOKI,
    PROMETHEUS,
    REDIS,
    TEMPO,
    TEMPO_METRICS,
    Dashboard,
    Items,
    Panel,
    Row,
    Target,
    Variable,
)
from grafana.generator.panels import (
    ENV,
    STACKED_BARS,
    About,
    alarm_stat,
    environments,
    even_row,
    fed_by,
    hit_ratio,
    instant,
    label_values,
    logs,
    p95_by,
    rate,
    rate_by,
    ratio,
    stat,
    sum_by,
    table,
    timeseries,
    up_mappings,
    up_stat,
)

FOLDER = "Platform"
R = f'job="redis_exporter", {ENV}'
P = f'job="prometheus", {ENV}'

_redis = fed_by(REDIS)
_prom = fed_by(PROMETHEUS)
_loki = fed_by(LOKI)
_tempo_metrics = fed_by(TEMPO_METRICS)


def _per_second(series: str) -> str:
    """Return the rate of one of redis_exporter's counters (`redis_<name>_total`)."""
    return rate(f"redis_{series}_total{{{R}}}")


def _redis_counters(title: str, unit: str, *counters: tuple[str, str], **kw: Any) -> Panel:
    """Return a time series of redis_exporter counters' rates, each (legend, counter name)."""
    targets = (_redis(_per_second(counter), legend) for legend, counter in counters)
    return timeseries(title, *targets, unit=unit, **kw)


def _prom_series(title: str, metric: str, legend: str, **kw: Any) -> Panel:
    """Return a time series of one of Prometheus' own series."""
    return timeseries(title, _prom(f"{metric}{{{P}}}", legend), **kw)


def redis_services() -> Dashboard:
    """Build Redis Services on redis_exporter's metrics."""
    about = About(FOLDER, "redis-services", "Redis Services", ("redis",))
    hits, misses = _per_second("keyspace_hits"), _per_second("keyspace_misses")
    top = f"topk(10, {sum_by('cmd', rate(f'redis_commands_total{{{R}}}'))})"
    scrape = f"redis_exporter_last_scrape_duration_seconds{{{R}}}"
    return about.dashboard(
        "The Redis the backend and the exporter share, as redis_exporter reports it.",
        (environments('job="redis_exporter"', REDIS),),
        *_redis_status(),
        Row("Load"),
        _redis_counters("Commands per second", "ops", ("commands", "commands_processed")),
        ratio(timeseries, "Keyspace hit ratio", _redis(hit_ratio(hits, misses), "hit ratio")),
        timeseries("Top commands by calls", _redis(top, "{{cmd}}"), unit="ops"),
        Row("Memory and keys"),
        timeseries(
            "Memory used",
            _redis(f"redis_memory_used_bytes{{{R}}}", "used"),
            _redis(f"redis_memory_max_bytes{{{R}}}", "max (0 = unlimited)"),
            unit="bytes",
        ),
        timeseries("Keys by database", _redis(sum_by("db", f"redis_db_keys{{{R}}}"), "{{db}}")),
        _redis_counters(
            "Expired and evicted keys",
            "ops",
            ("expired", "expired_keys"),
            ("evicted", "evicted_keys"),
        ),
        _redis_counters(
            "Network I/O", "Bps", ("in", "net_input_bytes"), ("out", "net_output_bytes"), width=12
        ),
        timeseries("redis_exporter scrape duration", _redis(scrape, "scrape"), unit="s", width=12),
    )


def _redis_status() -> Items:
    """Return the Status row: Redis up, its uptime and clients, the exporter's poll of it."""
    return even_row(
        "Status",
        up_stat("Redis up", _redis(f"redis_up{{{R}}}")),
        stat("Uptime", _redis(f"redis_uptime_in_seconds{{{R}}}"), unit="s"),
        stat("Connected clients", _redis(f"redis_connected_clients{{{R}}}")),
        up_stat(
            "Exporter's Redis poll up",
            Target(f"provider_exporter_redis_up{{{ENV}}}"),
            description="Whether the provider exporter's last read of the backend keys worked.",
        ),
    )


def loki_logs() -> Dashboard:
    """Build Loki Logs on the stream labels the exporter and the backend push."""
    about = About(FOLDER, "loki-logs", "Loki Logs", ("logs",))
    exp = '{app="provider-exporter", env=~"$env"}'
    exp_err = '{app="provider-exporter", env=~"$env", level="error"}'
    back = '{app="gatewayz", env=~"$env"}'
    warnings = '{app="provider-exporter", env=~"$env", level="warning"}'
    return about.dashboard(
        "Logs of the provider exporter and the GatewayZ backend.",
        (Variable("env", "Environment", "label_values(env)", kind="loki", feeds=(LOKI,)),),
        Row("Volume"),
        timeseries(
            "Exporter log lines by level",
            _loki(f"sum by (level) (count_over_time({exp} [$__auto]))", "{{level}}"),
            custom=STACKED_BARS,
        ),
        timeseries(
            "Exporter errors by provider",
            _loki(f"sum by (provider) (count_over_time({exp_err} [$__auto]))", "{{provider}}"),
        ),
        timeseries("Backend log lines", _loki(f"sum(count_over_time({back} [$__auto]))", "lines")),
        _lines_in_range("Exporter errors (range)", exp_err),
        _lines_in_range("Backend error lines (range)", f'{back} |~ "(?i)error"'),
        table(
            "Exporter warnings by provider (range)",
            instant(f"sum by (provider) (count_over_time({warnings} [$__range]))", feeds=(LOKI,)),
            width=8,
            height=4,
        ),
        Row("Lines"),
        logs("Exporter logs", _loki(exp)),
        logs("Exporter errors", _loki(exp_err), height=8),
        logs("Backend errors", _loki(f'{back} |~ "(?i)(error|exception|traceback)"')),
        time_from="now-1h",
    )


def _lines_in_range(title: str, query: str) -> Panel:
    """Return a stat of how many log lines a LogQL query matched in the range: red from one."""
    target = _loki(f"sum(count_over_time({query} [$__range]))")
    return alarm_stat(title, target, width=8)


def prometheus() -> Dashboard:
    """Build the Prometheus dashboard on Prometheus' own metrics."""
    about = About(FOLDER, "prometheus", "Prometheus", ("prometheus",))
    appended = rate(f"prometheus_tsdb_head_samples_appended_total{{{P}}}")
    query_p99 = f'prometheus_engine_query_duration_seconds{{{P}, quantile="0.99"}}'
    return about.dashboard(
        "Prometheus itself: targets, ingestion, queries, rules, storage.",
        (environments('job="prometheus"', PROMETHEUS),),
        *_scrape_targets(),
        Row("TSDB"),
        _prom_series("Head series", "prometheus_tsdb_head_series", "series"),
        timeseries("Samples appended per second", _prom(appended, "samples"), unit="ops"),
        _prom_series(
            "Storage blocks size", "prometheus_tsdb_storage_blocks_bytes", "blocks", unit="bytes"
        ),
        Row("Queries and rules"),
        rate_by(
            "HTTP requests by handler",
            "handler",
            f"prometheus_http_requests_total{{{P}}}",
            _prom,
            unit="reqps",
        ),
        timeseries("Query duration p99 by slice", _prom(query_p99, "{{slice}}"), unit="s"),
        timeseries(
            "Rule group evaluation duration",
            _prom(f"prometheus_rule_group_last_duration_seconds{{{P}}}", "{{rule_group}}"),
            _prom(
                f"sum({rate(f'prometheus_rule_evaluation_failures_total{{{P}}}')})", "failures/s"
            ),
            unit="s",
        ),
        _prom_series(
            "Resident memory", "process_resident_memory_bytes", "prometheus", unit="bytes", width=24
        ),
    )


def _scrape_targets() -> Items:
    """Return the Targets row: every target's up, scrape durations and samples per job."""
    return (
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
            _prom(sum_by("job", f"scrape_samples_scraped{{{ENV}}}"), "{{job}}"),
        ),
    )


def tempo_tracing() -> Dashboard:
    """Build Tempo Distributed Tracing: trace search, service map and span metrics."""
    about = About(FOLDER, "tempo-tracing", "Tempo Distributed Tracing", ("traces",))
    svc = 'service=~"$service"'
    return about.dashboard(
        "Traces of the exporter and the backend; span metrics from Tempo.",
        (label_values("service", "traces_spanmetrics_calls_total", TEMPO_METRICS),),
        Row("Search"),
        _traces("Recent traces", '{ resource.service.name =~ "$service" }'),
        _traces("Error traces", '{ resource.service.name =~ "$service" && status = error }'),
        _traces("Slow traces (> 2s)", '{ resource.service.name =~ "$service" && duration > 2s }'),
        Row("Service map and span metrics"),
        Panel(
            "nodeGraph", "Service map", (Target("serviceMap", feeds=(TEMPO,)),), width=24, height=12
        ),
        rate_by(
            "Span rate by service",
            "service",
            f"traces_spanmetrics_calls_total{{{svc}}}",
            _tempo_metrics,
            unit="ops",
            width=8,
        ),
        p95_by(
            "Span latency p95 by service",
            "service",
            "traces_spanmetrics_latency_bucket",
            svc,
            make=_tempo_metrics,
            width=8,
        ),
        timeseries(
            "Service graph requests and failures",
            *(
                _tempo_metrics(
                    sum_by("client, server", rate(f"traces_service_graph_request{kind}_total")),
                    f"{{{{client}}}} → {{{{server}}}}{legend}",
                )
                for kind, legend in (("", ""), ("_failed", " failed"))
            ),
            unit="reqps",
            width=8,
        ),
        time_from="now-1h",
    )


def _traces(title: str, traceql: str) -> Panel:
    return table(title, Target(traceql, feeds=(TEMPO,)), width=8, height=10)
