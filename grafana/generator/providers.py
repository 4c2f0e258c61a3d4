"""The three dashboards this project adds: Provider Health, Provider Detail, Provider Exporter."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from exporter.probing.official import INDICATORS
from grafana.generator.inference import inference_items
from grafana.generator.model import (
    BACKEND,
    PROMETHEUS,
    RULES,
    Dashboard,
    Items,
    Panel,
    Row,
    Target,
)
from grafana.generator.panels import (
    ALERT_FROM_ONE,
    BREAKER,
    BY_PROVIDER,
    ENV,
    ENV_PROVIDER,
    ENVIRONMENT,
    HEALTH,
    OFFICIAL_COLOURS,
    OFFICIAL_HELP,
    P50_95_99,
    PROVIDER_LEGEND,
    PROVIDER_STATUS,
    PROVIDERS,
    STACKED,
    STACKED_BARS,
    VANTAGE,
    VANTAGES,
    About,
    OneHot,
    alarm_stat,
    availability,
    column_mappings,
    column_unit,
    environments,
    even_row,
    fed_by,
    gauge,
    heatmap,
    instant,
    latency,
    official_annotation,
    offline_mappings,
    outcome_panel,
    percentiles,
    probe_latency,
    provider_gauge,
    provider_state,
    providers_in_state,
    rate,
    rate_by,
    ratio,
    right_axis,
    rule_windows,
    score,
    stat,
    sum_by,
    table,
    timeseries,
    up_stat,
)

FOLDER = "Providers"
TAGS = ("gatewayz", "providers")

ONE_PROVIDER = replace(PROVIDERS, multi=False, include_all=False)
OFFICIAL = OneHot("gatewayz_provider_official_indicator", "indicator", INDICATORS, OFFICIAL_COLOURS)
LATENCY = "provider_response_time_seconds_bucket"
BY_VANTAGE = "{{vantage}}"
GLANCE_WINDOWS = ("5m", "1h", "24h")
# The glance table's columns: A state, B-F ratios, G-H seconds, I breaker, J their page.
GLANCE_OVERRIDES = (
    column_mappings("Value #A", PROVIDER_STATUS.mappings),
    column_mappings("Value #I", BREAKER.mappings),
    column_mappings("Value #J", OFFICIAL.mappings),
    column_unit("Value #[B-F]", "percentunit"),
    column_unit("Value #[GH]", "s"),
)


def _probe_outcomes(title: str, by: str, selector: str, legend: str, **kw: Any) -> Panel:
    """Return the stacked rate of list probes per outcome, summed `by` the labels given."""
    expr = sum_by(by, rate(f"gatewayz_provider_probes_total{{{selector}}}"))
    return outcome_panel(title, Target(expr, legend), **kw)


def provider_health() -> Dashboard:
    """Build the at-a-glance dashboard: every provider's state, score, availability and latency."""
    about = About(FOLDER, "provider-health", "Provider Health", TAGS)
    return about.dashboard(
        "Health of every upstream AI provider as the exporter's probes see it.",
        (ENVIRONMENT, PROVIDERS, VANTAGES),
        *_at_a_glance(),
        *_state_and_score(),
        *_latency_and_failures(),
        *_models(),
        annotations=(official_annotation(ENV_PROVIDER),),
    )


def _at_a_glance() -> Items:
    """Return the At a glance row: providers per state, alerts firing, the glance table."""
    firing = 'count(ALERTS{alertstate="firing", alertname=~"Provider.*"}) or vector(0)'
    return (
        Row("At a glance"),
        stat(
            "Providers by state",
            Target(providers_in_state(ENV_PROVIDER), "{{status}} {{vantage}}"),
            description="Providers per state, counted once per vantage (not once per "
            "replica: replicas of a vantage share their states).",
            width=12,
        ),
        alarm_stat(
            "Provider alerts firing",
            Target(firing, "firing", feeds=(PROMETHEUS,)),
            description="Prometheus alerts named Provider* in the firing state.",
            width=12,
        ),
        table(
            "Providers at a glance",
            instant(PROVIDER_STATUS.expr(ENV_PROVIDER), "State"),
            instant(gauge(f"{HEALTH}{{{ENV_PROVIDER}}}"), "Score"),
            *(instant(availability(window), f"Availability {window}") for window in GLANCE_WINDOWS),
            instant(gauge(f"provider_error_rate{{{ENV_PROVIDER}}}"), "Error rate 5m"),
            *percentiles(LATENCY, ENV_PROVIDER, BY_PROVIDER, 0.5, 0.95, make=instant),
            instant(BREAKER.expr(ENV_PROVIDER), "Breaker"),
            instant(OFFICIAL.expr(ENV_PROVIDER), "Their page"),
            description="One row per provider and vantage. Empty cells mean no data (never 0 or "
            "100 %). Their page: the provider's own status page indicator, beside our state.",
            height=10,
            overrides=GLANCE_OVERRIDES,
        ),
    )


def _state_and_score() -> Items:
    """Return the State and score row: state, their page, score, availability, error rate."""
    windows = f"{PROVIDER_LEGEND} {{{{window}}}}"
    return (
        Row("State and score"),
        provider_state("Provider state", PROVIDER_STATUS, ENV_PROVIDER, PROVIDER_LEGEND),
        provider_state(
            "Their status page (official indicator)",
            OFFICIAL,
            ENV_PROVIDER,
            PROVIDER_LEGEND,
            description=OFFICIAL_HELP,
        ),
        score(
            timeseries,
            "Health score",
            provider_gauge(HEALTH),
            custom={"thresholdsStyle": {"mode": "line"}},
        ),
        ratio(
            timeseries,
            "Availability (exporter windows)",
            provider_gauge("gatewayz_provider_availability_ratio", legend=windows),
        ),
        ratio(timeseries, "Error rate (5m)", provider_gauge("provider_error_rate")),
        ratio(
            timeseries,
            "Availability from checks (recording rules, 1h and 1d)",
            *rule_windows("provider:availability:ratio_rate", ENV_PROVIDER, PROVIDER_LEGEND),
            width=24,
        ),
    )


def _latency_and_failures() -> Items:
    """Return the Latency and failures row: probe latency, failure outcomes, the breaker."""
    failed = f'{ENV_PROVIDER}, outcome!="ok"'
    return (
        Row("Latency and failures"),
        latency(
            "Probe latency p50 / p95",
            LATENCY,
            ENV_PROVIDER,
            "provider, vantage",
            0.5,
            0.95,
            legend=PROVIDER_LEGEND,
            width=12,
        ),
        _probe_outcomes(
            "Failure reasons by outcome",
            "provider, vantage, outcome",
            failed,
            f"{PROVIDER_LEGEND} {{{{outcome}}}}",
            width=12,
            custom=STACKED_BARS,
        ),
        provider_state(
            "Circuit breaker (backend Redis)",
            BREAKER,
            ENV_PROVIDER,
            PROVIDER_LEGEND,
            description="Breaker state from the backend's Redis; no row while the key is gone.",
        ),
    )


def _models() -> Items:
    """Return the Models row: each model's uptime and how many models each provider lists."""
    return (
        Row("Models"),
        table(
            "Model uptime (24h)",
            instant(gauge(f"gatewayz_model_uptime_24h{{{ENV_PROVIDER}}}"), "Uptime 24h"),
            unit="percentunit",
            width=16,
            height=10,
        ),
        timeseries("Models listed", provider_gauge("gatewayz_provider_models_listed"), height=10),
    )


def provider_detail() -> Dashboard:
    """Build the one-provider dashboard: score components, outcomes, latency, state, traffic."""
    one = 'environment=~"$environment", provider="$provider"'  # the backend's series: no vantage
    sel = f"{one}, {VANTAGE}"
    about = About(FOLDER, "provider-detail", "Provider Detail", TAGS)
    return about.dashboard(
        "One provider in depth: why its score is what it is.",
        (ENVIRONMENT, ONE_PROVIDER, VANTAGES),
        *_now(sel),
        *_score(sel),
        *_probe_latency(sel),
        *_gateway_vs_probes(one, sel),
        *inference_items(sel, "{{model}} {{vantage}}"),
        *_alerts(),
        annotations=(official_annotation(sel),),
    )


def _now(sel: str) -> Items:
    """Return the Now row: state, their page, score, time in state, probe age, backoff."""
    since = gauge(f"gatewayz_provider_state_since_timestamp_seconds{{{sel}}}") + " * 1000"
    last_probe = "time() - " + gauge(f"gatewayz_provider_last_probe_timestamp_seconds{{{sel}}}")
    # Every replica sees every change (shared states): the max, not the sum.
    changes = (
        f"max by (vantage) (increase(gatewayz_provider_state_changes_total{{{sel}}}[$__range]))"
    )
    return (
        Row("Now"),
        provider_state("State", PROVIDER_STATUS, sel, BY_VANTAGE, panel=stat),
        provider_state(
            "Their status page", OFFICIAL, sel, BY_VANTAGE, panel=stat, description=OFFICIAL_HELP
        ),
        score(stat, "Health score", provider_gauge(HEALTH, sel, BY_VANTAGE)),
        stat("In this state since", Target(since, BY_VANTAGE), unit="dateTimeFromNow"),
        stat("Since last probe", Target(last_probe, BY_VANTAGE), unit="s"),
        stat(
            "Rate-limit backoff",
            provider_gauge("gatewayz_provider_rate_limit_backoff_seconds", sel, BY_VANTAGE),
            unit="s",
        ),
        stat("State changes (range)", Target(changes, BY_VANTAGE)),
    )


def _score(sel: str) -> Items:
    """Return the Score row: score and components, outcomes, the three state timelines, the
    watched components of their page."""
    components = gauge(f"gatewayz_provider_official_component_status{{{sel}}}") + " == 1"
    return (
        Row("Score"),
        score(
            timeseries,
            "Score and its components",
            provider_gauge(HEALTH, sel, "score {{vantage}}"),
            provider_gauge(
                "gatewayz_provider_health_score_component", sel, "{{component}} {{vantage}}"
            ),
            width=12,
        ),
        _probe_outcomes(
            "Probe outcomes",
            "vantage, outcome",
            sel,
            "{{vantage}} {{outcome}}",
            width=12,
            custom=STACKED,
        ),
        provider_state("State timeline", PROVIDER_STATUS, sel, "state {{vantage}}", height=4),
        provider_state(
            "Circuit breaker (backend Redis)", BREAKER, sel, "breaker {{vantage}}", height=4
        ),
        provider_state(
            "Their status page (official indicator)",
            OFFICIAL,
            sel,
            "their page {{vantage}}",
            description=OFFICIAL_HELP,
            height=4,
        ),
        table(
            "Their components (watched)",
            instant(components, "status"),
            description="The watched components of the provider's page and the status it "
            "gives each ({SLUG}_STATUS_COMPONENTS narrows them).",
            height=6,
        ),
    )


def _probe_latency(sel: str) -> Items:
    """Return the Latency row: the probes' latency heatmap and the last probe's phases."""
    buckets = f"sum by (le) (increase({LATENCY}{{{sel}}}[$__rate_interval]))"
    phases = provider_gauge("gatewayz_provider_probe_phase_seconds", sel, "{{phase}} {{vantage}}")
    return (
        Row("Latency"),
        heatmap("Probe latency heatmap", Target(buckets, "{{le}}", fmt="heatmap"), width=12),
        timeseries("Phases of the last probe", phases, unit="s", width=12, custom=STACKED_BARS),
    )


def _gateway_vs_probes(one: str, sel: str) -> Items:
    """Return what the gateway saw beside what the probes saw: requests, latency, errors, and
    the backend's inference requests."""
    checks = f"sum by (vantage) (increase(gatewayz_provider_checks_total{{{sel}}}[1h]))"
    return (
        Row("Gateway traffic vs probes"),
        timeseries(
            "Requests in the last hour: gateway vs probes",
            # The backend's Redis, read alike by every replica and vantage: one line each.
            Target(f"max(gatewayz_gateway_requests_last_hour{{{sel}}})", "gateway requests"),
            Target(f"max(gatewayz_gateway_failed_requests_last_hour{{{sel}}})", "gateway failed"),
            Target(checks, "probe checks {{vantage}}"),
            width=12,
        ),
        timeseries(
            "Latency: gateway quantiles vs probe p95",
            Target(
                f"max by (quantile) (gatewayz_gateway_latency_seconds{{{sel}}})",
                "gateway p{{quantile}}",
            ),
            Target(probe_latency(0.95, sel), "probe p95 {{vantage}}"),
            unit="s",
            width=12,
        ),
        ratio(
            timeseries,
            "Error ratio: gateway vs probes (recording rules, 5m)",
            Target(f"provider:gateway_error:ratio_rate5m{{{one}}}", "gateway", feeds=(RULES,)),
            Target(f"provider:error:ratio_rate5m{{{sel}}}", "probes {{vantage}}", feeds=(RULES,)),
            width=12,
        ),
        rate_by(
            "Backend inference requests by status",
            "status",
            f"model_inference_requests_total{{{one}}}",
            fed_by(BACKEND),
            unit="reqps",
            width=12,
        ),
    )


def _alerts() -> Items:
    """Return the Alerts row: the alerts firing for this provider."""
    return (
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
    )


def provider_exporter() -> Dashboard:
    """Build the exporter's own health dashboard."""
    job = f'job="provider_exporter", {ENV}'
    about = About(FOLDER, "provider-exporter", "Provider Exporter", ("gatewayz", "exporter"))
    return about.dashboard(
        "The exporter itself: up, on schedule, reading Redis, cheap to scrape.",
        (environments('job="provider_exporter"'),),
        *_exporter_status(job),
        Row("Probing"),
        latency(
            "Probe lag p50 / p95 / p99",
            "provider_exporter_probe_lag_seconds_bucket",
            job,
            "job",
            *P50_95_99,
        ),
        _probe_outcomes("Probe rate by outcome", "outcome", job, "{{outcome}}", custom=STACKED),
        timeseries(
            "Providers by state",
            Target(f"sum by (state) (provider_exporter_providers{{{job}}})", "{{state}}"),
        ),
        Row("Replicas"),
        *_replica_panels(job),
        *_redis_source(job),
        *_scrape_and_process(job),
    )


def _exporter_status(job: str) -> Items:
    """Return the Status row: up, Redis source up, own network, load, Redis age, build."""
    return even_row(
        "Status",
        up_stat("Exporter up", Target(f"up{{{job}}}", "{{instance}}")),
        up_stat("Redis source up", Target(f"provider_exporter_redis_up{{{job}}}")),
        stat(
            "Own network",
            Target(f"provider_exporter_offline{{{job}}}", "{{instance}}"),
            mappings=offline_mappings(),
            thresholds=ALERT_FROM_ONE,
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
        table("Build", instant(f"provider_exporter_build_info{{{job}}}"), height=4),
    )


def _redis_source(job: str) -> Items:
    """Return the Redis source row: poll duration, keys read, parse errors."""
    return (
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
        rate_by(
            "Redis parse errors by key pattern",
            "pattern",
            f"provider_exporter_redis_parse_errors_total{{{job}}}",
            partial(Target, may_be_empty="the counter has no series until a value fails to parse"),
            unit="ops",
        ),
    )


def _scrape_and_process(job: str) -> Items:
    """Return the Scrape and process row: scrape cost, samples, memory and CPU."""
    return (
        Row("Scrape and process"),
        timeseries(
            "Scrape duration", Target(f"scrape_duration_seconds{{{job}}}", "scrape"), unit="s"
        ),
        timeseries("Samples per scrape", Target(f"scrape_samples_scraped{{{job}}}", "samples")),
        timeseries(
            "Memory and CPU",
            Target(f"process_resident_memory_bytes{{{job}}}", "resident memory"),
            Target(rate(f"process_cpu_seconds_total{{{job}}}"), "CPU cores"),
            unit="bytes",
            overrides=(right_axis("CPU cores", "short"),),
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


REPLICA_EMPTY = {  # series absent by design with one replica
    "provider_exporter_shared_results_lag_seconds": "no series until a peer's result arrives",
}


def _replica_panels(job: str) -> tuple[Panel, ...]:
    """Return one time series per replica self-metric, one line per instance."""
    panels = []
    for title, series, description in REPLICA_PANELS:
        expr = f"{series}{{{job}}}"
        if series.startswith("increase("):
            expr += "[$__rate_interval])"
        unit = "s" if series.endswith("_seconds") else "short"
        target = Target(expr, "{{instance}}", may_be_empty=REPLICA_EMPTY.get(series, ""))
        panels.append(timeseries(title, target, unit=unit, description=description, width=6))
    return tuple(panels)
