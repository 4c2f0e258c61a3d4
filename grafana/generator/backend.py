"""The seed's GatewayZ dashboards rebuilt on metrics that are really exported.

Seed panel counts and what changed (the seed's panels queried names nothing exported, showed 0-1
values as 0-100, and filtered on the renamed job ``gatewayz_api``):

- FastAPI (17 -> 16): its "requests per second" stat and "request rate" graph showed the same
  series; merged into one time series.
- Model Health (13 -> 13): rebuilt on model_inference_*, tokens, credits; model uptime now comes
  from the exporter (gatewayz_model_uptime_24h, 0-1). Since then: the exporter's inference probes
  (grafana/generator/inference.py) beside the gateway's own traffic.
- GatewayZ Application Health (28 -> 18): fed by this exporter. The seed drew each provider metric
  twice (0-100 "percent" and 0-1) and had panels on metrics that will never exist
  (``count(...) as closed`` style queries, histogram_quantile over gauges); one panel per
  signal remains.
- GatewayZ Backend Metrics (7 -> 8): the seed's combined "users" stat is split into API keys and
  subscriptions because they have different units of meaning.
"""

from __future__ import annotations

from typing import Any

from grafana.generator.inference import inference_items
from grafana.generator.model import (
    BACKEND,
    Dashboard,
    Items,
    Panel,
    Row,
    Target,
)
from grafana.generator.panels import (
    BREAKER,
    ENV,
    ENV_PROVIDER,
    ENVIRONMENT,
    HEALTH,
    P50_95_99,
    PROVIDER_LEGEND,
    PROVIDERS,
    VANTAGES,
    About,
    alarm_stat,
    availability,
    bargauge,
    environments,
    error_ratio,
    even_row,
    fed_by,
    gauge,
    hit_ratio,
    instant,
    label_values,
    latency,
    p95_by,
    probe_latency,
    provider_gauge,
    provider_state,
    providers_in_state,
    quantile,
    rate,
    rate_by,
    ratio,
    score,
    stat,
    sum_by,
    table,
    timeseries,
    total_in_range,
)

FOLDER = "GatewayZ"
JOBS = 'job=~"gatewayz_production|gatewayz_staging"'
B = f"{JOBS}, {ENV}"  # every backend selector
BP = f'{B}, provider=~"$provider"'
BACKEND_TAGS = ("gatewayz", "backend")
HEALTH_TAGS = ("gatewayz", "providers")
DURATIONS = "fastapi_requests_duration_seconds_bucket"
TTFC = "time_to_first_chunk_seconds_bucket"
INFERENCE_DURATIONS = "model_inference_duration_seconds_bucket"
DB_DURATIONS = "database_query_duration_seconds_bucket"
INFERENCE_ERRORS = rate(f'model_inference_requests_total{{{BP}, status="error"}}')

_backend = fed_by(BACKEND)


def _share(rate: str, status_match: str) -> str:
    """Return the share of a request rate whose status code matches."""
    part = rate.replace("}[", f", status_code{status_match}}}[")
    return f"sum({part}) / sum({rate})"


def _top(title: str, k: int, expr: str, **kw: Any) -> Panel:
    """Return a table of the `k` largest series of a backend expression."""
    target = instant(f"topk({k}, {expr})", feeds=(BACKEND,))
    return table(title, target, width=8, height=8, **kw)


def _job_p95(title: str, bucket: str, unit: str = "s") -> Panel:
    """Return a time series of a backend histogram's p95 over every request."""
    return latency(title, bucket, B, "job", 0.95, make=_backend, unit=unit)


def _provider_p95(title: str, bucket: str, selector: str, **kw: Any) -> Panel:
    """Return a time series of a backend histogram's p95, one line per provider."""
    return p95_by(title, "provider", bucket, selector, make=_backend, **kw)


def _redis_view(series: str) -> str:
    """Return a series the exporter reads from the backend's Redis, once per provider (every
    replica and vantage reads the same keys)."""
    return f"max by (environment, provider) ({series})"


BACKEND_ENV = environments(JOBS, BACKEND)
BACKEND_PROVIDER = label_values("provider", f"model_inference_requests_total{{{B}}}", BACKEND)


def fastapi() -> Dashboard:
    """Build the FastAPI dashboard: the backend's HTTP traffic, latency, sizes and streaming."""
    about = About(FOLDER, "fastapi", "FastAPI", BACKEND_TAGS)
    requests = f"fastapi_requests_total{{{B}}}"
    return about.dashboard(
        "The GatewayZ backend's HTTP layer.",
        (BACKEND_ENV,),
        *_http_traffic(requests),
        rate_by("Request rate by status code", "status_code", requests, _backend, unit="reqps"),
        rate_by("Request rate by method", "method", requests, _backend, unit="reqps"),
        _top("Top paths by request rate", 10, f"sum by (path) ({rate(requests)})", unit="reqps"),
        Row("Latency"),
        latency("Request latency p50 / p95 / p99", DURATIONS, B, "job", *P50_95_99, make=_backend),
        _top("Slowest paths (p95)", 10, quantile(0.95, DURATIONS, B, "path"), unit="s"),
        _job_p95("Time to first byte p95", "backend_ttfb_seconds_bucket"),
        Row("Sizes and streaming"),
        _job_p95("Request size p95", "fastapi_request_size_bytes_bucket", "bytes"),
        _job_p95("Response size p95", "fastapi_response_size_bytes_bucket", "bytes"),
        _job_p95("Streaming duration p95", "streaming_duration_seconds_bucket"),
        _provider_p95("Time to first chunk p95 by provider", TTFC, B, width=24),
    )


def _http_traffic(requests: str) -> Items:
    """Return the Traffic row's stats: volume, success and error shares, load, mean latency."""
    durations = "fastapi_requests_duration_seconds"
    mean_latency = (
        f"sum({rate(f'{durations}_sum{{{B}}}')}) / sum({rate(f'{durations}_count{{{B}}}')})"
    )
    return even_row(
        "Traffic",
        stat("Requests (range)", _backend(total_in_range(requests))),
        ratio(
            stat,
            "Success ratio",
            _backend(_share(rate(requests), '!~"5.."')),
            thresholds=(("red", None), ("orange", 0.95), ("green", 0.99)),
        ),
        stat("In progress", _backend(f"sum(fastapi_requests_in_progress{{{B}}})")),
        stat("Mean latency", _backend(mean_latency), unit="s"),
        error_ratio(stat, "5xx ratio", _backend(_share(rate(requests), '=~"5.."'))),
        ratio(stat, "4xx ratio", _backend(_share(rate(requests), '=~"4.."'))),
    )


def model_health() -> Dashboard:
    """Build the Model Health dashboard: inference volume, errors, latency, tokens and credits."""
    about = About(FOLDER, "model-health", "Model Health", ("gatewayz", "models"))
    requests = f"model_inference_requests_total{{{BP}}}"
    by_provider = f"sum by (provider) ({INFERENCE_ERRORS}) / sum by (provider) ({rate(requests)})"
    in_range = f"increase({requests}[$__range])"
    return about.dashboard(
        "Inference through the gateway, by provider and model, and the exporter's inference "
        "probes of the INFERENCE_PROBES models.",
        (BACKEND_ENV, BACKEND_PROVIDER, VANTAGES),
        *_inference_totals(requests),
        Row("Traffic and errors"),
        rate_by("Inference rate by provider", "provider", requests, _backend, unit="reqps"),
        rate_by("Inference rate by status", "status", requests, _backend, unit="reqps"),
        ratio(timeseries, "Error ratio by provider", _backend(by_provider, "{{provider}}")),
        Row("Latency"),
        _provider_p95("Inference duration p95 by provider", INFERENCE_DURATIONS, BP, width=12),
        _provider_p95("Time to first chunk p95 by provider", TTFC, BP, width=12),
        Row("Usage"),
        *(
            rate_by(f"{name} per second by provider", "provider", f"{metric}{{{BP}}}", _backend)
            for name, metric in (("Tokens", "tokens_used_total"), ("Credits", "credits_used_total"))
        ),
        _top("Top models by requests", 15, sum_by("provider, model", in_range)),
        table(
            "Model uptime (24h, exporter)",
            instant(gauge(f"gatewayz_model_uptime_24h{{{ENV_PROVIDER}}}")),
            unit="percentunit",
            description="Share of the last 24 h of checks in which the model was listed "
            "(its inference checks, for an inference-probed model).",
        ),
        *inference_items(ENV_PROVIDER, "{{provider}} {{model}} {{vantage}}"),
    )


def _inference_totals(requests: str) -> Items:
    """Return the Totals row: inference requests, their error share, tokens and credits."""
    error_share = f"sum({INFERENCE_ERRORS}) / sum({rate(requests)})"
    return even_row(
        "Totals",
        stat("Inference requests (range)", _backend(total_in_range(requests))),
        error_ratio(stat, "Inference error ratio", _backend(error_share)),
        stat("Tokens (range)", _backend(total_in_range(f"tokens_used_total{{{BP}}}"))),
        stat("Credits (range)", _backend(total_in_range(f"credits_used_total{{{BP}}}"))),
    )


def application_health() -> Dashboard:
    """Build GatewayZ Application Health, now fed by the provider exporter and the backend."""
    about = About(FOLDER, "gatewayz-application-health", "GatewayZ Application Health", HEALTH_TAGS)
    return about.dashboard(
        "Provider health (from the exporter) beside the backend's breaker counters.",
        (ENVIRONMENT, PROVIDERS, VANTAGES),
        *_summary(),
        *_by_provider(),
        *_over_time(),
        *_breaker_counters(),
    )


def _summary() -> Items:
    """Return the Summary row: mean score, providers per state, open breakers, gateway traffic."""
    open_breakers = f'gatewayz_circuit_breaker_state{{{ENV_PROVIDER}, state="open"}}'
    return even_row(
        "Summary",
        score(stat, "Mean health score", Target(f"avg({gauge(f'{HEALTH}{{{ENV_PROVIDER}}}')})")),
        *(
            stat(
                f"Providers {state}",
                Target(providers_in_state(ENV_PROVIDER, state), "{{vantage}}"),
                thresholds=colour,
            )
            for state, colour in (
                ("healthy", (("green", None),)),
                ("degraded", (("green", None), ("yellow", 1))),
                ("down", (("green", None), ("red", 1))),
            )
        ),
        alarm_stat(
            "Breakers open", Target(f"count({_redis_view(open_breakers)} == 1) or vector(0)")
        ),
        stat(
            "Gateway requests (last hour)",
            Target(f"sum({_redis_view(f'gatewayz_gateway_requests_last_hour{{{ENV_PROVIDER}}}')})"),
        ),
    )


def _by_provider() -> Items:
    """Return the By provider row: score, availability, errors and latency as bars."""
    return even_row(
        "By provider",
        score(bargauge, "Health score", provider_gauge(HEALTH)),
        ratio(bargauge, "Availability (1h)", Target(availability("1h"), PROVIDER_LEGEND)),
        ratio(
            bargauge,
            "Error rate (5m)",
            provider_gauge("provider_error_rate"),
            thresholds=(("green", None), ("orange", 0.05), ("red", 0.2)),
        ),
        bargauge(
            "Probe latency p95",
            Target(probe_latency(0.95, ENV_PROVIDER), PROVIDER_LEGEND),
            unit="s",
        ),
    )


def _over_time() -> Items:
    """Return the Over time row: score, availability, the gateway's own figures, breakers."""
    return (
        Row("Over time"),
        score(timeseries, "Health score", provider_gauge(HEALTH), width=12),
        ratio(
            timeseries, "Availability (5m)", Target(availability("5m"), PROVIDER_LEGEND), width=12
        ),
        timeseries(
            "Gateway latency p95 (backend Redis)",
            Target(
                _redis_view(f'gatewayz_gateway_latency_seconds{{{ENV_PROVIDER}, quantile="0.95"}}'),
                "{{provider}}",
            ),
            unit="s",
            width=12,
        ),
        timeseries(
            "Gateway failed requests (last hour)",
            Target(
                _redis_view(f"gatewayz_gateway_failed_requests_last_hour{{{ENV_PROVIDER}}}"),
                "{{provider}}",
            ),
            width=12,
            description="The backend under-records failures; probes are the primary signal.",
        ),
        provider_state(
            "Circuit breakers (backend Redis)",
            BREAKER,
            ENV_PROVIDER,
            "{{provider}}",
            by="environment, provider",
        ),
    )


def _breaker_counters() -> Items:
    """Return the backend's own breaker counters: transitions, rejections, failures/successes."""
    return (
        Row("Backend breaker counters"),
        rate_by(
            "Breaker transitions",
            "provider",
            f"circuit_breaker_state_transitions_total{{{BP}}}",
            _backend,
            unit="ops",
            width=8,
        ),
        rate_by(
            "Rejected by open breakers",
            "provider",
            f"circuit_breaker_rejected_requests_total{{{BP}}}",
            _backend,
            unit="reqps",
            width=8,
        ),
        timeseries(
            "Breaker failures vs successes",
            *(
                _backend(f"sum({rate(f'circuit_breaker_{kind}_total{{{BP}}}')})", kind)
                for kind in ("failures", "successes")
            ),
            unit="ops",
            width=8,
        ),
    )


def backend_metrics() -> Dashboard:
    """Build GatewayZ Backend Metrics: HTTP, database, cache and account gauges."""
    about = About(FOLDER, "gatewayz-backend", "GatewayZ Backend Metrics", BACKEND_TAGS)
    hits, misses = (f"sum({rate(f'cache_{kind}_total{{{B}}}')})" for kind in ("hits", "misses"))
    queries = f"database_queries_total{{{B}}}"
    sizes = sum_by("cache", f"cache_size_bytes{{{B}}}")
    http = f"sum({rate(f'fastapi_requests_total{{{B}}}')})"
    return about.dashboard(
        "The backend's database, cache and account metrics.",
        (BACKEND_ENV,),
        *even_row(
            "Accounts",
            *(
                stat(title, _backend(f"sum({metric}{{{B}}})"))
                for title, metric in (
                    ("Active API keys", "active_api_keys"),
                    ("Subscriptions", "subscription_count"),
                    ("Active trials", "trial_active"),
                )
            ),
        ),
        Row("Database and cache"),
        rate_by(
            "Database queries by operation", "operation", queries, _backend, unit="ops", width=12
        ),
        p95_by(
            "Database query p95 by operation", "operation", DB_DURATIONS, B, make=_backend, width=12
        ),
        ratio(
            timeseries, "Cache hit ratio", _backend(hit_ratio(hits, misses), "hit ratio"), width=8
        ),
        timeseries("Cache size", _backend(sizes, "{{cache}}"), unit="bytes", width=8),
        timeseries("HTTP request rate", _backend(http, "requests"), unit="reqps", width=8),
    )
