"""The three dashboards this project adds: Provider Health, Provider Detail, Provider Exporter."""

from __future__ import annotations

from exporter.probing.official import INDICATORS
from grafana.generator.inference import inference_items
from grafana.generator.model import (
    BACKEND,
    PROMETHEUS,
    RULES,
    Dashboard,
    Json,
    Panel,
    Row,
    Target,
    Variable,
)
from grafana.generator.panels import (
    BREAKER_COLOURS,
    BREAKER_STATES,
    BY_PROVIDER,
    ENV,
    ENV_PROVIDER,
    OFFICIAL_COLOURS,
    OFFICIAL_HELP,
    PROVIDER_LEGEND,
    PROVIDER_STATES,
    SCORE_THRESHOLDS,
    STATE_COLOURS,
    VANTAGE,
    VANTAGES,
    code_expr,
    code_mappings,
    column_mappings,
    column_unit,
    gauge,
    heatmap,
    instant,
    official_annotation,
    offline_mappings,
    outcome_panel,
    providers_in_state,
    quantile,
    stat,
    state_timeline,
    table,
    timeseries,
    up_mappings,
)

FOLDER = "Providers"

ENVIRONMENT = Variable(
    "environment", "Environment", "label_values(gatewayz_provider_status, environment)"
)
PROVIDERS = Variable(
    "provider",
    "Provider",
    'label_values(gatewayz_provider_status{environment=~"$environment"}, provider)',
)
ONE_PROVIDER = Variable(
    "provider",
    "Provider",
    'label_values(gatewayz_provider_status{environment=~"$environment"}, provider)',
    multi=False,
    include_all=False,
)

STATE = code_expr("gatewayz_provider_status", "status", PROVIDER_STATES, ENV_PROVIDER)
BREAKER = code_expr("gatewayz_circuit_breaker_state", "state", BREAKER_STATES, ENV_PROVIDER)
STATE_MAPPINGS = code_mappings(PROVIDER_STATES, STATE_COLOURS)
BREAKER_MAPPINGS = code_mappings(BREAKER_STATES, BREAKER_COLOURS)
OFFICIAL = code_expr("gatewayz_provider_official_indicator", "indicator", INDICATORS, ENV_PROVIDER)
OFFICIAL_MAPPINGS = code_mappings(INDICATORS, OFFICIAL_COLOURS)
LATENCY = "provider_response_time_seconds_bucket"


def _window(window: str) -> str:
    return gauge(f'gatewayz_provider_availability_ratio{{{ENV_PROVIDER}, window="{window}"}}')


def provider_health() -> Dashboard:
    """Build the at-a-glance dashboard: every provider's state, score, availability and latency."""
    glance = table(
        "Providers at a glance",
        instant(STATE, "State"),
        instant(gauge(f"gatewayz_provider_health_score{{{ENV_PROVIDER}}}"), "Score"),
        instant(_window("5m"), "Availability 5m"),
        instant(_window("1h"), "Availability 1h"),
        instant(_window("24h"), "Availability 24h"),
        instant(gauge(f"provider_error_rate{{{ENV_PROVIDER}}}"), "Error rate 5m"),
        instant(quantile(0.5, LATENCY, ENV_PROVIDER, BY_PROVIDER), "p50"),
        instant(quantile(0.95, LATENCY, ENV_PROVIDER, BY_PROVIDER), "p95"),
        instant(BREAKER, "Breaker"),
        instant(OFFICIAL, "Their page"),
        description="One row per provider and vantage. Empty cells mean no data (never 0 or "
        "100 %). Their page: the provider's own status page indicator, beside our state.",
        height=10,
        overrides=_glance_overrides(),
    )
    return Dashboard(
        uid="provider-health",
        title="Provider Health",
        folder=FOLDER,
        description="Health of every upstream AI provider as the exporter's probes see it.",
        tags=("gatewayz", "providers"),
        variables=(ENVIRONMENT, PROVIDERS, VANTAGES),
        annotations=(official_annotation(ENV_PROVIDER),),
        items=(
            Row("At a glance"),
            stat(
                "Providers by state",
                Target(providers_in_state(ENV_PROVIDER), "{{status}} {{vantage}}"),
                description="Providers per state, counted once per vantage (not once per "
                "replica: replicas of a vantage share their states).",
                width=12,
            ),
            stat(
                "Provider alerts firing",
                Target(
                    'count(ALERTS{alertstate="firing", alertname=~"Provider.*"}) or vector(0)',
                    "firing",
                    feeds=(PROMETHEUS,),
                ),
                thresholds=(("green", None), ("red", 1)),
                description="Prometheus alerts named Provider* in the firing state.",
                width=12,
            ),
            glance,
            Row("State and score"),
            state_timeline(
                "Provider state", Target(STATE, PROVIDER_LEGEND), mappings=STATE_MAPPINGS
            ),
            state_timeline(
                "Their status page (official indicator)",
                Target(OFFICIAL, PROVIDER_LEGEND),
                mappings=OFFICIAL_MAPPINGS,
                description=OFFICIAL_HELP,
            ),
            timeseries(
                "Health score",
                Target(gauge(f"gatewayz_provider_health_score{{{ENV_PROVIDER}}}"), PROVIDER_LEGEND),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=SCORE_THRESHOLDS,
                custom={"thresholdsStyle": {"mode": "line"}},
            ),
            timeseries(
                "Availability (exporter windows)",
                Target(
                    gauge(f"gatewayz_provider_availability_ratio{{{ENV_PROVIDER}}}"),
                    "{{provider}} {{vantage}} {{window}}",
                ),
                unit="percentunit",
                min=0,
                max=1,
            ),
            timeseries(
                "Error rate (5m)",
                Target(gauge(f"provider_error_rate{{{ENV_PROVIDER}}}"), PROVIDER_LEGEND),
                unit="percentunit",
                min=0,
                max=1,
            ),
            timeseries(
                "Availability from checks (recording rules, 1h and 1d)",
                Target(
                    f"provider:availability:ratio_rate1h{{{ENV_PROVIDER}}}",
                    "{{provider}} {{vantage}} 1h",
                    feeds=(RULES,),
                ),
                Target(
                    f"provider:availability:ratio_rate1d{{{ENV_PROVIDER}}}",
                    "{{provider}} {{vantage}} 1d",
                    feeds=(RULES,),
                ),
                unit="percentunit",
                min=0,
                max=1,
                width=24,
            ),
            Row("Latency and failures"),
            timeseries(
                "Probe latency p50 / p95",
                Target(
                    quantile(0.5, LATENCY, ENV_PROVIDER, "provider, vantage"),
                    f"{PROVIDER_LEGEND} p50",
                ),
                Target(
                    quantile(0.95, LATENCY, ENV_PROVIDER, "provider, vantage"),
                    f"{PROVIDER_LEGEND} p95",
                ),
                unit="s",
                width=12,
            ),
            outcome_panel(
                "Failure reasons by outcome",
                Target(
                    "sum by (provider, vantage, outcome) (rate(gatewayz_provider_probes_total"
                    f'{{{ENV_PROVIDER}, outcome!="ok"}}[$__rate_interval]))',
                    f"{PROVIDER_LEGEND} {{{{outcome}}}}",
                ),
                width=12,
                custom={"stacking": {"group": "A", "mode": "normal"}, "drawStyle": "bars"},
            ),
            state_timeline(
                "Circuit breaker (backend Redis)",
                Target(BREAKER, PROVIDER_LEGEND),
                mappings=BREAKER_MAPPINGS,
                description="Breaker state from the backend's Redis; no row while the key is gone.",
            ),
            Row("Models"),
            table(
                "Model uptime (24h)",
                instant(gauge(f"gatewayz_model_uptime_24h{{{ENV_PROVIDER}}}"), "Uptime 24h"),
                unit="percentunit",
                width=16,
                height=10,
            ),
            timeseries(
                "Models listed",
                Target(
                    gauge(f"gatewayz_provider_models_listed{{{ENV_PROVIDER}}}"), PROVIDER_LEGEND
                ),
                width=8,
                height=10,
            ),
        ),
    )


def _glance_overrides() -> tuple[Json, ...]:
    return (
        column_mappings("Value #A", STATE_MAPPINGS),
        column_mappings("Value #I", BREAKER_MAPPINGS),
        column_mappings("Value #J", OFFICIAL_MAPPINGS),
        column_unit("Value #[B-F]", "percentunit"),
        column_unit("Value #[GH]", "s"),
    )


def provider_detail() -> Dashboard:
    """Build the one-provider dashboard: score components, outcomes, latency, state, traffic."""
    one = 'environment=~"$environment", provider="$provider"'  # the backend's series: no vantage
    sel = f"{one}, {VANTAGE}"
    return Dashboard(
        uid="provider-detail",
        title="Provider Detail",
        folder=FOLDER,
        description="One provider in depth: why its score is what it is.",
        tags=("gatewayz", "providers"),
        variables=(ENVIRONMENT, ONE_PROVIDER, VANTAGES),
        annotations=(official_annotation(sel),),
        items=(
            Row("Now"),
            stat(
                "State",
                Target(STATE.replace(ENV_PROVIDER, sel), "{{vantage}}"),
                mappings=STATE_MAPPINGS,
            ),
            stat(
                "Their status page",
                Target(OFFICIAL.replace(ENV_PROVIDER, sel), "{{vantage}}"),
                mappings=OFFICIAL_MAPPINGS,
                description=OFFICIAL_HELP,
            ),
            stat(
                "Health score",
                Target(gauge(f"gatewayz_provider_health_score{{{sel}}}"), "{{vantage}}"),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=SCORE_THRESHOLDS,
            ),
            stat(
                "In this state since",
                Target(
                    gauge(f"gatewayz_provider_state_since_timestamp_seconds{{{sel}}}") + " * 1000",
                    "{{vantage}}",
                ),
                unit="dateTimeFromNow",
            ),
            stat(
                "Since last probe",
                Target(
                    "time() - " + gauge(f"gatewayz_provider_last_probe_timestamp_seconds{{{sel}}}"),
                    "{{vantage}}",
                ),
                unit="s",
            ),
            stat(
                "Rate-limit backoff",
                Target(
                    gauge(f"gatewayz_provider_rate_limit_backoff_seconds{{{sel}}}"), "{{vantage}}"
                ),
                unit="s",
            ),
            stat(
                "State changes (range)",
                # Every replica sees every change (shared states): the max, not the sum.
                Target(
                    "max by (vantage) (increase(gatewayz_provider_state_changes_total"
                    f"{{{sel}}}[$__range]))",
                    "{{vantage}}",
                ),
            ),
            Row("Score"),
            timeseries(
                "Score and its components",
                Target(gauge(f"gatewayz_provider_health_score{{{sel}}}"), "score {{vantage}}"),
                Target(
                    gauge(f"gatewayz_provider_health_score_component{{{sel}}}"),
                    "{{component}} {{vantage}}",
                ),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=SCORE_THRESHOLDS,
                width=12,
            ),
            outcome_panel(
                "Probe outcomes",
                Target(
                    "sum by (vantage, outcome) (rate(gatewayz_provider_probes_total"
                    f"{{{sel}}}[$__rate_interval]))",
                    "{{vantage}} {{outcome}}",
                ),
                width=12,
                custom={"stacking": {"group": "A", "mode": "normal"}},
            ),
            state_timeline(
                "State timeline",
                Target(STATE.replace(ENV_PROVIDER, sel), "state {{vantage}}"),
                mappings=STATE_MAPPINGS,
                height=4,
            ),
            state_timeline(
                "Circuit breaker (backend Redis)",
                Target(BREAKER.replace(ENV_PROVIDER, sel), "breaker {{vantage}}"),
                mappings=BREAKER_MAPPINGS,
                height=4,
            ),
            state_timeline(
                "Their status page (official indicator)",
                Target(OFFICIAL.replace(ENV_PROVIDER, sel), "their page {{vantage}}"),
                mappings=OFFICIAL_MAPPINGS,
                description=OFFICIAL_HELP,
                height=4,
            ),
            table(
                "Their components (watched)",
                instant(
                    gauge(f"gatewayz_provider_official_component_status{{{sel}}}") + " == 1",
                    "status",
                ),
                description="The watched components of the provider's page and the status it "
                "gives each ({SLUG}_STATUS_COMPONENTS narrows them).",
                height=6,
            ),
            Row("Latency"),
            heatmap(
                "Probe latency heatmap",
                Target(
                    f"sum by (le) (increase({LATENCY}{{{sel}}}[$__rate_interval]))",
                    "{{le}}",
                    fmt="heatmap",
                ),
                width=12,
            ),
            timeseries(
                "Phases of the last probe",
                Target(
                    gauge(f"gatewayz_provider_probe_phase_seconds{{{sel}}}"),
                    "{{phase}} {{vantage}}",
                ),
                unit="s",
                width=12,
                custom={"stacking": {"group": "A", "mode": "normal"}, "drawStyle": "bars"},
            ),
            Row("Gateway traffic vs probes"),
            timeseries(
                "Requests in the last hour: gateway vs probes",
                # The backend's Redis, read alike by every replica and vantage: one line each.
                Target(f"max(gatewayz_gateway_requests_last_hour{{{sel}}})", "gateway requests"),
                Target(
                    f"max(gatewayz_gateway_failed_requests_last_hour{{{sel}}})", "gateway failed"
                ),
                Target(
                    f"sum by (vantage) (increase(gatewayz_provider_checks_total{{{sel}}}[1h]))",
                    "probe checks {{vantage}}",
                ),
                width=12,
            ),
            timeseries(
                "Latency: gateway quantiles vs probe p95",
                Target(
                    f"max by (quantile) (gatewayz_gateway_latency_seconds{{{sel}}})",
                    "gateway p{{quantile}}",
                ),
                Target(quantile(0.95, LATENCY, sel, "provider, vantage"), "probe p95 {{vantage}}"),
                unit="s",
                width=12,
            ),
            timeseries(
                "Error ratio: gateway vs probes (recording rules, 5m)",
                Target(f"provider:gateway_error:ratio_rate5m{{{one}}}", "gateway", feeds=(RULES,)),
                Target(
                    f"provider:error:ratio_rate5m{{{sel}}}", "probes {{vantage}}", feeds=(RULES,)
                ),
                unit="percentunit",
                min=0,
                max=1,
                width=12,
            ),
            timeseries(
                "Backend inference requests by status",
                Target(
                    "sum by (status) (rate(model_inference_requests_total"
                    f"{{{one}}}[$__rate_interval]))",
                    "{{status}}",
                    feeds=(BACKEND,),
                ),
                unit="reqps",
                width=12,
            ),
            *inference_items(sel, "{{model}} {{vantage}}"),
            Row("Alerts"),
            table(
                "Alerts firing for this provider",
                instant(
                    f'ALERTS{{alertstate="firing", provider="$provider", {ENV}}}',
                    feeds=(PROMETHEUS,),
                    may_be_empty="an alert list is empty while nothing fires",
                ),
                height=6,
            ),
        ),
    )


def provider_exporter() -> Dashboard:
    """Build the exporter's own health dashboard."""
    job = f'job="provider_exporter", {ENV}'
    return Dashboard(
        uid="provider-exporter",
        title="Provider Exporter",
        folder=FOLDER,
        description="The exporter itself: up, on schedule, reading Redis, cheap to scrape.",
        tags=("gatewayz", "exporter"),
        variables=(
            Variable(
                "environment",
                "Environment",
                'label_values(up{job="provider_exporter"}, environment)',
            ),
        ),
        items=(
            Row("Status"),
            stat(
                "Exporter up",
                Target(f"up{{{job}}}", "{{instance}}"),
                mappings=up_mappings(),
                thresholds=(("red", None), ("green", 1)),
            ),
            stat(
                "Redis source up",
                Target(f"provider_exporter_redis_up{{{job}}}"),
                mappings=up_mappings(),
                thresholds=(("red", None), ("green", 1)),
            ),
            stat(
                "Own network",
                Target(f"provider_exporter_offline{{{job}}}", "{{instance}}"),
                mappings=offline_mappings(),
                thresholds=(("green", None), ("red", 1)),
                description="1 while the exporter cannot reach the network (its connectivity "
                "targets fail, or every provider failed to connect at once): provider failures "
                "of that kind are not counted; see ProviderExporterOffline.",
            ),
            stat("Probes in flight", Target(f"provider_exporter_probes_in_flight{{{job}}}")),
            stat(
                "Since last Redis success",
                Target(f"time() - provider_exporter_redis_last_success_timestamp_seconds{{{job}}}"),
                unit="s",
            ),
            table("Build", instant(f"provider_exporter_build_info{{{job}}}"), width=4, height=4),
            Row("Probing"),
            timeseries(
                "Probe lag p50 / p95 / p99",
                *(
                    Target(
                        quantile(q, "provider_exporter_probe_lag_seconds_bucket", job, "job"),
                        f"p{int(q * 100)}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ),
                unit="s",
            ),
            outcome_panel(
                "Probe rate by outcome",
                Target(
                    "sum by (outcome) (rate(gatewayz_provider_probes_total"
                    f"{{{job}}}[$__rate_interval]))",
                    "{{outcome}}",
                ),
                custom={"stacking": {"group": "A", "mode": "normal"}},
            ),
            timeseries(
                "Providers by state",
                Target(f"sum by (state) (provider_exporter_providers{{{job}}})", "{{state}}"),
            ),
            Row("Replicas"),
            *_replica_panels(job),
            Row("Redis source"),
            timeseries(
                "Redis poll duration",
                Target(f"provider_exporter_redis_poll_duration_seconds{{{job}}}", "poll"),
                unit="s",
            ),
            timeseries(
                "Redis keys read per poll",
                Target(f"provider_exporter_redis_keys_read{{{job}}}", "keys"),
            ),
            timeseries(
                "Redis parse errors by key pattern",
                Target(
                    "sum by (pattern) (rate(provider_exporter_redis_parse_errors_total"
                    f"{{{job}}}[$__rate_interval]))",
                    "{{pattern}}",
                    may_be_empty="the counter has no series until a value fails to parse",
                ),
                unit="ops",
            ),
            Row("Scrape and process"),
            timeseries(
                "Scrape duration", Target(f"scrape_duration_seconds{{{job}}}", "scrape"), unit="s"
            ),
            timeseries("Samples per scrape", Target(f"scrape_samples_scraped{{{job}}}", "samples")),
            timeseries(
                "Memory and CPU",
                Target(f"process_resident_memory_bytes{{{job}}}", "resident memory"),
                Target(f"rate(process_cpu_seconds_total{{{job}}}[$__rate_interval])", "CPU cores"),
                unit="bytes",
                overrides=(
                    {
                        "matcher": {"id": "byName", "options": "CPU cores"},
                        "properties": [
                            {"id": "unit", "value": "short"},
                            {"id": "custom.axisPlacement", "value": "right"},
                        ],
                    },
                ),
            ),
        ),
    )


# The replicas' self-metrics (REDIS_URL set): what each replica sees of the others, per instance.
REPLICA_PANELS = (
    (
        "Replicas seen",
        "provider_exporter_replicas",
        "Live replicas of this vantage each replica sees through Redis, itself included (1 "
        "without REDIS_URL, or while Redis has been away for a lease). Replicas that disagree "
        "here do not share their probing yet.",
    ),
    (
        "Providers owned",
        "provider_exporter_owned_providers",
        "Providers each replica probes itself; the others' results reach it through Redis.",
    ),
    (
        "Ownership changes",
        "increase(provider_exporter_ownership_changes_total",
        "Providers a replica gained or lost: a replica joined, left or died.",
    ),
    (
        "Shared results lag",
        "provider_exporter_shared_results_lag_seconds",
        "How long after its probe ended the last result from another replica was taken in.",
    ),
)


def _replica_panels(job: str) -> tuple[Panel, ...]:
    """Return one time series per replica self-metric, one line per instance."""
    panels = []
    for title, series, description in REPLICA_PANELS:
        expr = f"{series}{{{job}}}"
        if series.startswith("increase("):
            expr += "[$__rate_interval])"
        unit = "s" if series.endswith("_seconds") else "short"
        target = Target(expr, "{{instance}}")
        panels.append(timeseries(title, target, unit=unit, description=description, width=6))
    return tuple(panels)
