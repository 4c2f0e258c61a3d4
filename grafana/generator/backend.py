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

from grafana.generator.inference import inference_items
from grafana.generator.model import BACKEND, EXPORTER, Dashboard, Row, Target, Variable
from grafana.generator.panels import (
    BREAKER_MAPPINGS_SOURCE,
    ENV,
    ENV_PROVIDER,
    PROVIDER_LEGEND,
    SCORE_THRESHOLDS,
    VANTAGES,
    bargauge,
    gauge,
    instant,
    providers_in_state,
    quantile,
    stat,
    state_timeline,
    table,
    timeseries,
)

FOLDER = "GatewayZ"
JOBS = 'job=~"gatewayz_production|gatewayz_staging"'
B = f"{JOBS}, {ENV}"  # every backend selector
BP = f'{B}, provider=~"$provider"'


def _backend(expr: str, legend: str = "", **kw: object) -> Target:
    return Target(expr, legend, feeds=(BACKEND,), **kw)  # type: ignore[arg-type]


def _share(rate: str, status_match: str) -> str:
    """Return the share of a request rate whose status code matches."""
    part = rate.replace("}[", f", status_code{status_match}}}[")
    return f"sum({part}) / sum({rate})"


BACKEND_ENV = Variable(
    "environment", "Environment", f"label_values(up{{{JOBS}}}, environment)", feeds=(BACKEND,)
)
BACKEND_PROVIDER = Variable(
    "provider",
    "Provider",
    f"label_values(model_inference_requests_total{{{B}}}, provider)",
    feeds=(BACKEND,),
)


def fastapi() -> Dashboard:
    """Build the FastAPI dashboard: the backend's HTTP traffic, latency, sizes and streaming."""
    rate = f"rate(fastapi_requests_total{{{B}}}[$__rate_interval])"
    return Dashboard(
        uid="fastapi",
        title="FastAPI",
        folder=FOLDER,
        description="The GatewayZ backend's HTTP layer.",
        tags=("gatewayz", "backend"),
        variables=(BACKEND_ENV,),
        items=(
            Row("Traffic"),
            stat(
                "Requests (range)",
                _backend(f"sum(increase(fastapi_requests_total{{{B}}}[$__range]))"),
            ),
            stat(
                "Success ratio",
                _backend(_share(rate, '!~"5.."')),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=(("red", None), ("orange", 0.95), ("green", 0.99)),
            ),
            stat("In progress", _backend(f"sum(fastapi_requests_in_progress{{{B}}})")),
            stat(
                "Mean latency",
                _backend(
                    f"sum(rate(fastapi_requests_duration_seconds_sum{{{B}}}[$__rate_interval]))"
                    f" / sum(rate(fastapi_requests_duration_seconds_count"
                    f"{{{B}}}[$__rate_interval]))"
                ),
                unit="s",
            ),
            stat(
                "5xx ratio",
                _backend(_share(rate, '=~"5.."')),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=(("green", None), ("orange", 0.01), ("red", 0.05)),
            ),
            stat(
                "4xx ratio",
                _backend(_share(rate, '=~"4.."')),
                unit="percentunit",
                min=0,
                max=1,
            ),
            timeseries(
                "Request rate by status code",
                _backend(f"sum by (status_code) ({rate})", "{{status_code}}"),
                unit="reqps",
            ),
            timeseries(
                "Request rate by method",
                _backend(f"sum by (method) ({rate})", "{{method}}"),
                unit="reqps",
            ),
            table(
                "Top paths by request rate",
                instant(f"topk(10, sum by (path) ({rate}))", feeds=(BACKEND,)),
                unit="reqps",
                width=8,
                height=8,
            ),
            Row("Latency"),
            timeseries(
                "Request latency p50 / p95 / p99",
                *(
                    _backend(
                        quantile(q, "fastapi_requests_duration_seconds_bucket", B, "job"),
                        f"p{int(q * 100)}",
                    )
                    for q in (0.5, 0.95, 0.99)
                ),
                unit="s",
            ),
            table(
                "Slowest paths (p95)",
                instant(
                    "topk(10, "
                    + quantile(0.95, "fastapi_requests_duration_seconds_bucket", B, "path")
                    + ")",
                    feeds=(BACKEND,),
                ),
                unit="s",
                width=8,
                height=8,
            ),
            timeseries(
                "Time to first byte p95",
                _backend(quantile(0.95, "backend_ttfb_seconds_bucket", B, "job"), "p95"),
                unit="s",
            ),
            Row("Sizes and streaming"),
            timeseries(
                "Request size p95",
                _backend(quantile(0.95, "fastapi_request_size_bytes_bucket", B, "job"), "p95"),
                unit="bytes",
            ),
            timeseries(
                "Response size p95",
                _backend(quantile(0.95, "fastapi_response_size_bytes_bucket", B, "job"), "p95"),
                unit="bytes",
            ),
            timeseries(
                "Streaming duration p95",
                _backend(quantile(0.95, "streaming_duration_seconds_bucket", B, "job"), "p95"),
                unit="s",
            ),
            timeseries(
                "Time to first chunk p95 by provider",
                _backend(
                    quantile(0.95, "time_to_first_chunk_seconds_bucket", B, "provider"),
                    "{{provider}}",
                ),
                unit="s",
                width=24,
            ),
        ),
    )


def model_health() -> Dashboard:
    """Build the Model Health dashboard: inference volume, errors, latency, tokens and credits."""
    req = f"rate(model_inference_requests_total{{{BP}}}[$__rate_interval])"
    err = f'rate(model_inference_requests_total{{{BP}, status="error"}}[$__rate_interval])'
    return Dashboard(
        uid="model-health",
        title="Model Health",
        folder=FOLDER,
        description="Inference through the gateway, by provider and model, and the exporter's "
        "inference probes of the INFERENCE_PROBES models.",
        tags=("gatewayz", "models"),
        variables=(BACKEND_ENV, BACKEND_PROVIDER, VANTAGES),
        items=(
            Row("Totals"),
            stat(
                "Inference requests (range)",
                _backend(f"sum(increase(model_inference_requests_total{{{BP}}}[$__range]))"),
                width=6,
            ),
            stat(
                "Inference error ratio",
                _backend(f"sum({err}) / sum({req})"),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=(("green", None), ("orange", 0.01), ("red", 0.05)),
                width=6,
            ),
            stat(
                "Tokens (range)",
                _backend(f"sum(increase(tokens_used_total{{{BP}}}[$__range]))"),
                width=6,
            ),
            stat(
                "Credits (range)",
                _backend(f"sum(increase(credits_used_total{{{BP}}}[$__range]))"),
                width=6,
            ),
            Row("Traffic and errors"),
            timeseries(
                "Inference rate by provider",
                _backend(f"sum by (provider) ({req})", "{{provider}}"),
                unit="reqps",
            ),
            timeseries(
                "Inference rate by status",
                _backend(f"sum by (status) ({req})", "{{status}}"),
                unit="reqps",
            ),
            timeseries(
                "Error ratio by provider",
                _backend(f"sum by (provider) ({err}) / sum by (provider) ({req})", "{{provider}}"),
                unit="percentunit",
                min=0,
                max=1,
            ),
            Row("Latency"),
            timeseries(
                "Inference duration p95 by provider",
                _backend(
                    quantile(0.95, "model_inference_duration_seconds_bucket", BP, "provider"),
                    "{{provider}}",
                ),
                unit="s",
                width=12,
            ),
            timeseries(
                "Time to first chunk p95 by provider",
                _backend(
                    quantile(0.95, "time_to_first_chunk_seconds_bucket", BP, "provider"),
                    "{{provider}}",
                ),
                unit="s",
                width=12,
            ),
            Row("Usage"),
            timeseries(
                "Tokens per second by provider",
                _backend(
                    f"sum by (provider) (rate(tokens_used_total{{{BP}}}[$__rate_interval]))",
                    "{{provider}}",
                ),
            ),
            timeseries(
                "Credits per second by provider",
                _backend(
                    f"sum by (provider) (rate(credits_used_total{{{BP}}}[$__rate_interval]))",
                    "{{provider}}",
                ),
            ),
            table(
                "Top models by requests",
                instant(
                    "topk(15, sum by (provider, model) (increase(model_inference_requests_total"
                    f"{{{BP}}}[$__range])))",
                    feeds=(BACKEND,),
                ),
                width=8,
                height=8,
            ),
            table(
                "Model uptime (24h, exporter)",
                instant(gauge(f"gatewayz_model_uptime_24h{{{ENV_PROVIDER}}}"), feeds=(EXPORTER,)),
                unit="percentunit",
                description="Share of the last 24 h of checks in which the model was listed "
                "(its inference checks, for an inference-probed model).",
            ),
            *inference_items(ENV_PROVIDER, "{{provider}} {{model}} {{vantage}}"),
        ),
    )


def application_health() -> Dashboard:
    """Build GatewayZ Application Health, now fed by the provider exporter and the backend."""
    return Dashboard(
        uid="gatewayz-application-health",
        title="GatewayZ Application Health",
        folder=FOLDER,
        description="Provider health (from the exporter) beside the backend's breaker counters.",
        tags=("gatewayz", "providers"),
        variables=(
            Variable(
                "environment", "Environment", "label_values(gatewayz_provider_status, environment)"
            ),
            Variable(
                "provider",
                "Provider",
                'label_values(gatewayz_provider_status{environment=~"$environment"}, provider)',
            ),
            VANTAGES,
        ),
        items=(
            Row("Summary"),
            stat(
                "Mean health score",
                Target(f"avg({gauge(f'gatewayz_provider_health_score{{{ENV_PROVIDER}}}')})"),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=SCORE_THRESHOLDS,
            ),
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
            stat(
                "Breakers open",
                Target(
                    "count(max by (environment, provider) (gatewayz_circuit_breaker_state"
                    f'{{{ENV_PROVIDER}, state="open"}}) == 1) or vector(0)'
                ),
                thresholds=(("green", None), ("red", 1)),
            ),
            stat(
                "Gateway requests (last hour)",
                Target(
                    "sum(max by (environment, provider) (gatewayz_gateway_requests_last_hour"
                    f"{{{ENV_PROVIDER}}}))"
                ),
            ),
            Row("By provider"),
            bargauge(
                "Health score",
                Target(gauge(f"gatewayz_provider_health_score{{{ENV_PROVIDER}}}"), PROVIDER_LEGEND),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=SCORE_THRESHOLDS,
                width=6,
            ),
            bargauge(
                "Availability (1h)",
                Target(
                    gauge(f'gatewayz_provider_availability_ratio{{{ENV_PROVIDER}, window="1h"}}'),
                    PROVIDER_LEGEND,
                ),
                unit="percentunit",
                min=0,
                max=1,
                width=6,
            ),
            bargauge(
                "Error rate (5m)",
                Target(gauge(f"provider_error_rate{{{ENV_PROVIDER}}}"), PROVIDER_LEGEND),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=(("green", None), ("orange", 0.05), ("red", 0.2)),
                width=6,
            ),
            bargauge(
                "Probe latency p95",
                Target(
                    quantile(
                        0.95,
                        "provider_response_time_seconds_bucket",
                        ENV_PROVIDER,
                        "provider, vantage",
                    ),
                    PROVIDER_LEGEND,
                ),
                unit="s",
                width=6,
            ),
            Row("Over time"),
            timeseries(
                "Health score",
                Target(gauge(f"gatewayz_provider_health_score{{{ENV_PROVIDER}}}"), PROVIDER_LEGEND),
                unit="percentunit",
                min=0,
                max=1,
                thresholds=SCORE_THRESHOLDS,
                width=12,
            ),
            timeseries(
                "Availability (5m)",
                Target(
                    gauge(f'gatewayz_provider_availability_ratio{{{ENV_PROVIDER}, window="5m"}}'),
                    PROVIDER_LEGEND,
                ),
                unit="percentunit",
                min=0,
                max=1,
                width=12,
            ),
            timeseries(
                "Gateway latency p95 (backend Redis)",
                Target(
                    "max by (environment, provider) (gatewayz_gateway_latency_seconds"
                    f'{{{ENV_PROVIDER}, quantile="0.95"}})',
                    "{{provider}}",
                ),
                unit="s",
                width=12,
            ),
            timeseries(
                "Gateway failed requests (last hour)",
                Target(
                    "max by (environment, provider) (gatewayz_gateway_failed_requests_last_hour"
                    f"{{{ENV_PROVIDER}}})",
                    "{{provider}}",
                ),
                width=12,
                description="The backend under-records failures; probes are the primary signal.",
            ),
            state_timeline(
                "Circuit breakers (backend Redis)",
                Target(BREAKER_MAPPINGS_SOURCE[0], "{{provider}}"),
                mappings=BREAKER_MAPPINGS_SOURCE[1],
            ),
            Row("Backend breaker counters"),
            timeseries(
                "Breaker transitions",
                _backend(
                    "sum by (provider) (rate(circuit_breaker_state_transitions_total"
                    f"{{{BP}}}[$__rate_interval]))",
                    "{{provider}}",
                ),
                unit="ops",
                width=8,
            ),
            timeseries(
                "Rejected by open breakers",
                _backend(
                    "sum by (provider) (rate(circuit_breaker_rejected_requests_total"
                    f"{{{BP}}}[$__rate_interval]))",
                    "{{provider}}",
                ),
                unit="reqps",
                width=8,
            ),
            timeseries(
                "Breaker failures vs successes",
                _backend(
                    f"sum(rate(circuit_breaker_failures_total{{{BP}}}[$__rate_interval]))",
                    "failures",
                ),
                _backend(
                    f"sum(rate(circuit_breaker_successes_total{{{BP}}}[$__rate_interval]))",
                    "successes",
                ),
                unit="ops",
                width=8,
            ),
        ),
    )


def backend_metrics() -> Dashboard:
    """Build GatewayZ Backend Metrics: HTTP, database, cache and account gauges."""
    return Dashboard(
        uid="gatewayz-backend",
        title="GatewayZ Backend Metrics",
        folder=FOLDER,
        description="The backend's database, cache and account metrics.",
        tags=("gatewayz", "backend"),
        variables=(BACKEND_ENV,),
        items=(
            Row("Accounts"),
            stat("Active API keys", _backend(f"sum(active_api_keys{{{B}}})"), width=8),
            stat("Subscriptions", _backend(f"sum(subscription_count{{{B}}})"), width=8),
            stat("Active trials", _backend(f"sum(trial_active{{{B}}})"), width=8),
            Row("Database and cache"),
            timeseries(
                "Database queries by operation",
                _backend(
                    f"sum by (operation) (rate(database_queries_total{{{B}}}[$__rate_interval]))",
                    "{{operation}}",
                ),
                unit="ops",
                width=12,
            ),
            timeseries(
                "Database query p95 by operation",
                _backend(
                    quantile(0.95, "database_query_duration_seconds_bucket", B, "operation"),
                    "{{operation}}",
                ),
                unit="s",
                width=12,
            ),
            timeseries(
                "Cache hit ratio",
                _backend(
                    f"sum(rate(cache_hits_total{{{B}}}[$__rate_interval])) / "
                    f"(sum(rate(cache_hits_total{{{B}}}[$__rate_interval])) + "
                    f"sum(rate(cache_misses_total{{{B}}}[$__rate_interval])))",
                    "hit ratio",
                ),
                unit="percentunit",
                min=0,
                max=1,
                width=8,
            ),
            timeseries(
                "Cache size",
                _backend(f"sum by (cache) (cache_size_bytes{{{B}}})", "{{cache}}"),
                unit="bytes",
                width=8,
            ),
            timeseries(
                "HTTP request rate",
                _backend(f"sum(rate(fastapi_requests_total{{{B}}}[$__rate_interval]))", "requests"),
                unit="reqps",
                width=8,
            ),
        ),
    )
