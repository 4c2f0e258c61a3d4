"""The three dashboards this project adds: Provider Health, Provider Detail, Provider Exporter."""

from __future__ import annotations

from exporter.official import INDICATORS
from grafana.generator.inference import inference_items
from grafana.generator.model import (
    BACKEND,
    PROMETHEUS,
    RULES,
    Dashboard,
    Json,
    Row,
    Target,
    Variable,
)
from grafana.generator.panels import (
    BREAKER_COLOURS,
    BREAKER_STATES,
    ENV,
    ENV_PROVIDER,
    OFFICIAL_COLOURS,
    OFFICIAL_HELP,
    PROVIDER_STATES,
    SCORE_THRESHOLDS,
    STATE_COLOURS,
    code_expr,
    code_mappings,
    column_mappings,
    column_unit,
    heatmap,
    instant,
    official_annotation,
    offline_mappings,
    outcome_panel,
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
    return f'gatewayz_provider_availability_ratio{{{ENV_PROVIDER}, window="{window}"}}'


def provider_health() -> Dashboard:
    """Build the at-a-glance dashboard: every provider's state, score, availability and latency."""
    glance = table(
        "Providers at a glance",
        instant(STATE, "State"),
        instant(f"gatewayz_provider_health_score{{{ENV_PROVIDER}}}", "Score"),
        instant(_window("5m"), "Availability 5m"),
        instant(_window("1h"), "Availability 1h"),
        instant(_window("24h"), "Availability 24h"),
        instant(f"provider_error_rate{{{ENV_PROVIDER}}}", "Error rate 5m"),
        instant(quantile(0.5, LATENCY, ENV_PROVIDER, "environment, provider"), "p50"),
        instant(quantile(0.95, LATENCY, ENV_PROVIDER, "environment, provider"), "p95"),
        instant(BREAKER, "Breaker"),
        instant(OFFICIAL, "Their page"),
        description="One row per provider. Empty cells mean no data (never 0 or 100 %). "
        "Their page: the provider's own status page indicator, beside our state.",
        height=10,
        overrides=_glance_overrides(),
    )
    return Dashboard(
        uid="provider-health",
        title="Provider Health",
        folder=FOLDER,
        description="Health of every upstream AI provider as the exporter's probes see it.",
        tags=("gatewayz", "providers"),
        variables=(ENVIRONMENT, PROVIDERS),
        annotations=(official_annotation(ENV_PROVIDER),),
        items=(
            Row("At a glance"),
            stat(
                "Providers by state",
                Target(f"sum by (state) (provider_exporter_providers{{{ENV}}})", "{{state}}"),
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
                "Provider state", Target(STATE, "{{provider}}"), mappings=STATE_MAPPINGS
            ),
            state_timeline(
                "Their status page (official indicator)",
                Target(OFFICIAL, "{{provider}}"),
                mappings=OFFICIAL_MAPPINGS,
                description=OFFICIAL_HELP,
            ),
            timeseries(
                "Health score",
                Target(f"gatewayz_provider_health_score{{{ENV_PROVIDER}}}", "{{provider}}"),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=SCORE_THRESHOLDS,
                custom={"thresholdsStyle": {"mode": "line"}},
            ),
            timeseries(
                "Availability (exporter windows)",
                Target(
                    f"gatewayz_provider_availability_ratio{{{ENV_PROVIDER}}}",
                    "{{provider}} {{window}}",
                ),
                unit="percentunit",
                min=0,
                max=1,
            ),
            timeseries(
                "Error rate (5m)",
                Target(f"provider_error_rate{{{ENV_PROVIDER}}}", "{{provider}}"),
                unit="percentunit",
                min=0,
                max=1,
            ),
            timeseries(
                "Availability from checks (recording rules, 1h and 1d)",
                Target(
                    f"provider:availability:ratio_rate1h{{{ENV_PROVIDER}}}",
                    "{{provider}} 1h",
                    feeds=(RULES,),
                ),
                Target(
                    f"provider:availability:ratio_rate1d{{{ENV_PROVIDER}}}",
                    "{{provider}} 1d",
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
                Target(quantile(0.5, LATENCY, ENV_PROVIDER, "provider"), "{{provider}} p50"),
                Target(quantile(0.95, LATENCY, ENV_PROVIDER, "provider"), "{{provider}} p95"),
                unit="s",
                width=12,
            ),
            outcome_panel(
                "Failure reasons by outcome",
                Target(
                    "sum by (provider, outcome) (rate(gatewayz_provider_probes_total"
                    f'{{{ENV_PROVIDER}, outcome!="ok"}}[$__rate_interval]))',
                    "{{provider}} {{outcome}}",
                ),
                width=12,
                custom={"stacking": {"group": "A", "mode": "normal"}, "drawStyle": "bars"},
            ),
            state_timeline(
                "Circuit breaker (backend Redis)",
                Target(BREAKER, "{{provider}}"),
                mappings=BREAKER_MAPPINGS,
                description="Breaker state from the backend's Redis; no row while the key is gone.",
            ),
            Row("Models"),
            table(
                "Model uptime (24h)",
                instant(f"gatewayz_model_uptime_24h{{{ENV_PROVIDER}}}", "Uptime 24h"),
                unit="percentunit",
                width=16,
                height=10,
            ),
            timeseries(
                "Models listed",
                Target(f"gatewayz_provider_models_listed{{{ENV_PROVIDER}}}", "{{provider}}"),
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
    sel = 'environment=~"$environment", provider="$provider"'
    return Dashboard(
        uid="provider-detail",
        title="Provider Detail",
        folder=FOLDER,
        description="One provider in depth: why its score is what it is.",
        tags=("gatewayz", "providers"),
        variables=(ENVIRONMENT, ONE_PROVIDER),
        annotations=(official_annotation(sel),),
        items=(
            Row("Now"),
            stat("State", Target(STATE.replace(ENV_PROVIDER, sel)), mappings=STATE_MAPPINGS),
            stat(
                "Their status page",
                Target(OFFICIAL.replace(ENV_PROVIDER, sel)),
                mappings=OFFICIAL_MAPPINGS,
                description=OFFICIAL_HELP,
            ),
            stat(
                "Health score",
                Target(f"gatewayz_provider_health_score{{{sel}}}"),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=SCORE_THRESHOLDS,
            ),
            stat(
                "In this state since",
                Target(f"gatewayz_provider_state_since_timestamp_seconds{{{sel}}} * 1000"),
                unit="dateTimeFromNow",
            ),
            stat(
                "Since last probe",
                Target(f"time() - gatewayz_provider_last_probe_timestamp_seconds{{{sel}}}"),
                unit="s",
            ),
            stat(
                "Rate-limit backoff",
                Target(f"gatewayz_provider_rate_limit_backoff_seconds{{{sel}}}"),
                unit="s",
            ),
            stat(
                "State changes (range)",
                Target(f"increase(gatewayz_provider_state_changes_total{{{sel}}}[$__range])"),
            ),
            Row("Score"),
            timeseries(
                "Score and its components",
                Target(f"gatewayz_provider_health_score{{{sel}}}", "score"),
                Target(f"gatewayz_provider_health_score_component{{{sel}}}", "{{component}}"),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=SCORE_THRESHOLDS,
                width=12,
            ),
            outcome_panel(
                "Probe outcomes",
                Target(
                    "sum by (outcome) (rate(gatewayz_provider_probes_total"
                    f"{{{sel}}}[$__rate_interval]))",
                    "{{outcome}}",
                ),
                width=12,
                custom={"stacking": {"group": "A", "mode": "normal"}},
            ),
            state_timeline(
                "State timeline",
                Target(STATE.replace(ENV_PROVIDER, sel), "state"),
                mappings=STATE_MAPPINGS,
                height=4,
            ),
            state_timeline(
                "Circuit breaker (backend Redis)",
                Target(BREAKER.replace(ENV_PROVIDER, sel), "breaker"),
                mappings=BREAKER_MAPPINGS,
                height=4,
            ),
            state_timeline(
                "Their status page (official indicator)",
                Target(OFFICIAL.replace(ENV_PROVIDER, sel), "their page"),
                mappings=OFFICIAL_MAPPINGS,
                description=OFFICIAL_HELP,
                height=4,
            ),
            table(
                "Their components (watched)",
                instant(
                    f"gatewayz_provider_official_component_status{{{sel}}} == 1",
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
                Target(f"gatewayz_provider_probe_phase_seconds{{{sel}}}", "{{phase}}"),
                unit="s",
                width=12,
                custom={"stacking": {"group": "A", "mode": "normal"}, "drawStyle": "bars"},
            ),
            Row("Gateway traffic vs probes"),
            timeseries(
                "Requests in the last hour: gateway vs probes",
                Target(f"gatewayz_gateway_requests_last_hour{{{sel}}}", "gateway requests"),
                Target(f"gatewayz_gateway_failed_requests_last_hour{{{sel}}}", "gateway failed"),
                Target(
                    f"sum(increase(gatewayz_provider_checks_total{{{sel}}}[1h]))", "probe checks"
                ),
                width=12,
            ),
            timeseries(
                "Latency: gateway quantiles vs probe p95",
                Target(f"gatewayz_gateway_latency_seconds{{{sel}}}", "gateway p{{quantile}}"),
                Target(quantile(0.95, LATENCY, sel, "provider"), "probe p95"),
                unit="s",
                width=12,
            ),
            timeseries(
                "Error ratio: gateway vs probes (recording rules, 5m)",
                Target(f"provider:gateway_error:ratio_rate5m{{{sel}}}", "gateway", feeds=(RULES,)),
                Target(f"provider:error:ratio_rate5m{{{sel}}}", "probes", feeds=(RULES,)),
                unit="percentunit",
                min=0,
                max=1,
                width=12,
            ),
            timeseries(
                "Backend inference requests by status",
                Target(
                    "sum by (status) (rate(model_inference_requests_total"
                    f"{{{sel}}}[$__rate_interval]))",
                    "{{status}}",
                    feeds=(BACKEND,),
                ),
                unit="reqps",
                width=12,
            ),
            *inference_items(sel, "{{model}}"),
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
