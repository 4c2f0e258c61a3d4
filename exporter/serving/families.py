"""Every metric family the exporter serves, and the samples a snapshot gives each of them.

One description feeds both renderers: the prometheus_client Collector (`collector.py`) and the
fast text exposition (`exposition.py`), so the two can never disagree.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from exporter import __version__
from exporter.judgement.scoring import STATES
from exporter.judgement.snapshot import (
    AVAILABILITY_WINDOWS,
    LAG_BUCKETS,
    LATENCY_BUCKETS,
    TPS_BUCKETS,
    TTFT_BUCKETS,
    Histogram,
    ModelView,
    ProviderView,
    Snapshot,
)
from exporter.outcomes import LIST_OUTCOMES, OUTCOMES
from exporter.probing.official import COMPONENT_STATUSES, INDICATORS, OfficialView
from exporter.stored.redis_source import BACKEND_STATUSES, BREAKER_STATES, RedisView, Traffic
from exporter.stored.replicas import ReplicaStats

Kind = Literal["gauge", "counter", "histogram"]
SCORE_COMPONENTS = ("availability", "error_rate", "latency", "breaker")
# Served by prometheus_client's ProcessCollector (Linux only).
PROCESS_FAMILIES = (
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
)


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: a counter's name is given without `_total`, as prometheus_client wants."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()

    @property
    def vantaged(self) -> bool:
        """Tell whether its series also carry `vantage`: every series about a provider does
        (the emitters leave it out; the sinks add the snapshot's)."""
        return "provider" in self.labels

    @property
    def exposed_labels(self) -> tuple[str, ...]:
        return (*self.labels, "vantage") if self.vantaged else self.labels


def _p(*extra: str) -> tuple[str, ...]:
    return ("provider", *extra)


FAMILIES: tuple[Family, ...] = (
    Family("provider_availability", "gauge", "1 while healthy or degraded, 0 while down.", _p()),
    Family("provider_error_rate", "gauge", "Share of conclusive checks that failed, 5 m.", _p()),
    Family("provider_response_time_seconds", "histogram", "Probe round-trip time.", _p()),
    Family("gatewayz_provider_health_score", "gauge", "Health score, 0-1.", _p()),
    Family(
        "gatewayz_provider_health_score_component",
        "gauge",
        "Inputs of the health score, 0-1.",
        _p("component"),
    ),
    Family("gatewayz_provider_status", "gauge", "1 for the current state.", _p("status")),
    Family(
        "gatewayz_provider_state_reason",
        "gauge",
        "1, labelled with why the provider is in its current state (slow, failing, "
        "exporter_offline, an outcome ...).",
        _p("reason"),
    ),
    Family(
        "gatewayz_provider_state_since_timestamp_seconds",
        "gauge",
        "Unix time the current state began.",
        _p(),
    ),
    Family("gatewayz_provider_state_changes", "counter", "State transitions since start.", _p()),
    Family("gatewayz_provider_probes", "counter", "Probes by outcome.", _p("outcome")),
    Family(
        "gatewayz_provider_checks",
        "counter",
        "Conclusive checks: up, or down (counts against availability).",
        _p("result"),
    ),
    Family(
        "gatewayz_provider_availability_ratio",
        "gauge",
        "Share of conclusive checks that succeeded over a window.",
        _p("window"),
    ),
    Family(
        "gatewayz_provider_last_probe_timestamp_seconds",
        "gauge",
        "Unix time the last probe finished.",
        _p(),
    ),
    Family(
        "gatewayz_provider_probe_phase_seconds", "gauge", "Phases of the last probe.", _p("phase")
    ),
    Family("gatewayz_provider_models_listed", "gauge", "Models in the last model list.", _p()),
    Family(
        "gatewayz_provider_rate_limit_backoff_seconds",
        "gauge",
        "Retry-After being honoured now; 0 when not backing off.",
        _p(),
    ),
    Family(
        "gatewayz_provider_probe_interval_seconds",
        "gauge",
        "Seconds between two regular probes of the provider.",
        _p(),
    ),
    Family(
        "gatewayz_model_uptime_24h",
        "gauge",
        "Share of the last 24 h's checks in which the model was up: its inference checks when "
        "it is inference-probed, else the provider's that it was up and listed the model.",
        _p("model"),
    ),
    Family(
        "gatewayz_model_status",
        "gauge",
        "1 for the current state of an inference-probed model.",
        _p("model", "status"),
    ),
    Family(
        "gatewayz_model_availability_ratio",
        "gauge",
        "Share of an inference-probed model's conclusive checks that succeeded over a window.",
        _p("model", "window"),
    ),
    Family(
        "gatewayz_inference_probes",
        "counter",
        "Inference probes (streamed completions) by outcome.",
        _p("model", "outcome"),
    ),
    Family(
        "gatewayz_inference_checks",
        "counter",
        "Conclusive inference checks: up, or down (counts against the model's availability).",
        _p("model", "result"),
    ),
    Family(
        "gatewayz_inference_ttft_seconds",
        "histogram",
        "Time to first token: request sent to the first output of a completion.",
        _p("model"),
    ),
    Family(
        "gatewayz_inference_output_tokens_per_second",
        "histogram",
        "Output tokens per second of a completion, after its first token.",
        _p("model"),
    ),
    Family(
        "gatewayz_inference_tokens",
        "counter",
        "Tokens inference probes used, as the provider reported them (else output chunks).",
        _p("model", "direction"),
    ),
    Family(
        "gatewayz_inference_budget_skipped",
        "counter",
        "Inference probes not sent because they could cross the daily token budget.",
        _p("model"),
    ),
    Family(
        "gatewayz_circuit_breaker_state",
        "gauge",
        "1 for the backend's breaker state in Redis, 0 for the other two.",
        _p("state"),
    ),
    Family(
        "gatewayz_gateway_requests_last_hour",
        "gauge",
        "Requests the backend recorded over the last hour.",
        _p(),
    ),
    Family(
        "gatewayz_gateway_failed_requests_last_hour",
        "gauge",
        "Failures the backend recorded over the last hour (under-recorded today).",
        _p(),
    ),
    Family(
        "gatewayz_gateway_latency_seconds",
        "gauge",
        "Quantiles of the backend's latency samples from the last hour.",
        _p("quantile"),
    ),
    Family(
        "gatewayz_backend_provider_status",
        "gauge",
        "1 for the status the backend's own monitor reports (health:providers).",
        _p("status"),
    ),
    Family(
        "gatewayz_backend_models",
        "gauge",
        "Models the backend's own monitor reports healthy or unhealthy (health:models).",
        _p("status"),
    ),
    Family(
        "gatewayz_provider_official_indicator",
        "gauge",
        "1 for the indicator the provider's own status page shows now (none, minor, major, "
        "critical); absent while the page is unknown or unread.",
        _p("indicator"),
    ),
    Family(
        "gatewayz_provider_official_component_status",
        "gauge",
        "1 for the status the provider's page gives a watched component, 0 for the others.",
        _p("component", "status"),
    ),
    Family(
        "gatewayz_provider_official_incidents",
        "gauge",
        "Unresolved incidents on the provider's status page, by impact.",
        _p("impact"),
    ),
    Family(
        "gatewayz_provider_official_incident_started_timestamp_seconds",
        "gauge",
        "Unix time the newest unresolved incident on the provider's page was declared.",
        _p(),
    ),
    Family(
        "provider_exporter_status_page_up",
        "gauge",
        "1 when the last poll read the provider's status page, 0 when it failed.",
        _p(),
    ),
    Family(
        "provider_exporter_status_page_last_success_timestamp_seconds",
        "gauge",
        "Unix time the provider's status page was last read.",
        _p(),
    ),
    Family(
        "provider_exporter_status_page_errors",
        "counter",
        "Failed polls of the provider's status page, by reason.",
        _p("reason"),
    ),
    Family(
        "provider_exporter_build_info", "gauge", "Build information.", ("version", "python_version")
    ),
    Family(
        "provider_exporter_probe_lag_seconds",
        "histogram",
        "How late probes start against schedule.",
    ),
    Family("provider_exporter_providers", "gauge", "Providers per state.", ("state",)),
    Family("provider_exporter_probes_in_flight", "gauge", "Probes running now."),
    Family(
        "gatewayz_inference_budget_remaining_tokens",
        "gauge",
        "Tokens inference probes may still use today (UTC), INFERENCE_BUDGET_TOKENS_PER_DAY on.",
    ),
    Family(
        "gatewayz_inference_ttft_slow_seconds",
        "gauge",
        "Time to first token above which a model is degraded (INFERENCE_TTFT_SLOW_SECONDS).",
    ),
    Family(
        "gatewayz_inference_min_tokens_per_second",
        "gauge",
        "Output tokens per second below which a model is degraded (0: not judged).",
    ),
    Family("provider_exporter_ready", "gauge", "1 once every provider has been probed once."),
    Family(
        "provider_exporter_replicas",
        "gauge",
        "Live replicas of this vantage seen through Redis, this one included (1 without Redis).",
    ),
    Family("provider_exporter_owned_providers", "gauge", "Providers this replica probes."),
    Family(
        "provider_exporter_ownership_changes",
        "counter",
        "Providers this replica gained or lost to another replica.",
    ),
    Family(
        "provider_exporter_shared_results_lag_seconds",
        "gauge",
        "How long after its probe the last result from another replica was taken in.",
    ),
    Family(
        "provider_exporter_network_up",
        "gauge",
        "1 while a connectivity check target connects, 0 when none does (only with targets).",
    ),
    Family(
        "provider_exporter_offline",
        "gauge",
        "1 while the exporter cannot reach the network (measured or inferred), else 0.",
    ),
    Family("provider_exporter_redis_up", "gauge", "1 when the last Redis poll succeeded."),
    Family(
        "provider_exporter_redis_poll_duration_seconds", "gauge", "Duration of the last Redis poll."
    ),
    Family(
        "provider_exporter_redis_last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful Redis poll.",
    ),
    Family("provider_exporter_redis_keys_read", "gauge", "Keys read by the last Redis poll."),
    Family(
        "provider_exporter_redis_parse_errors",
        "counter",
        "Redis values that could not be parsed, by key pattern.",
        ("pattern",),
    ),
)


def family_names() -> list[str]:
    """Return the name of every metric family the exporter can serve (as seen in PromQL)."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
    names = list(PROCESS_FAMILIES)
    for family in FAMILIES:
        names.extend(family.name + suffix for suffix in suffixes.get(family.kind, [""]))
    return names


Row = tuple[tuple[str, ...], float]  # label values, sample value


class Sink(Protocol):
    """Where samples go: prometheus_client Metric objects, or exposition text."""

    def sample(self, family: str, labels: tuple[str, ...], value: float) -> None: ...

    def samples(self, family: str, rows: Iterable[Row]) -> None: ...

    def histogram(
        self, family: str, labels: tuple[str, ...], histogram: Histogram, bounds: Sequence[float]
    ) -> None: ...


def emit_provider(sink: Sink, view: ProviderView) -> None:
    """Emit one provider's samples; what is not known is left out, never made up."""
    slug = (view.slug,)
    sink.samples(
        "gatewayz_provider_status",
        (((view.slug, state), 1 if state is view.state else 0) for state in STATES),
    )
    sink.sample("gatewayz_provider_state_reason", (view.slug, view.reason), 1)
    sink.sample("gatewayz_provider_state_since_timestamp_seconds", slug, view.since)
    sink.sample("gatewayz_provider_state_changes", slug, view.state_changes)
    for model in view.inference.values():  # its probed models' states, even without a key
        sink.samples(
            "gatewayz_model_status",
            (((view.slug, model.model, s), 1 if s is model.state else 0) for s in STATES),
        )
    if not view.configured:
        return  # never probed: every other series would be made up
    if view.available is not None:
        sink.sample("provider_availability", slug, view.available)
    if view.error_rate is not None:
        sink.sample("provider_error_rate", slug, view.error_rate)
    sink.histogram("provider_response_time_seconds", slug, view.response_time, LATENCY_BUCKETS)
    _emit_score(sink, view)
    sink.samples(
        "gatewayz_provider_probes",
        (((view.slug, outcome), view.probes[outcome]) for outcome in LIST_OUTCOMES),
    )
    sink.sample("gatewayz_provider_checks", (view.slug, "up"), view.checks_up)
    sink.sample("gatewayz_provider_checks", (view.slug, "down"), view.checks_down)
    for window in AVAILABILITY_WINDOWS:
        ratio = view.availability[window]
        if ratio is not None:
            sink.sample("gatewayz_provider_availability_ratio", (view.slug, window), ratio)
    if view.last_probe_at is not None:
        sink.sample("gatewayz_provider_last_probe_timestamp_seconds", slug, view.last_probe_at)
    for phase, seconds in view.phases.items():
        sink.sample("gatewayz_provider_probe_phase_seconds", (view.slug, phase), seconds)
    if view.models_listed is not None:
        sink.sample("gatewayz_provider_models_listed", slug, view.models_listed)
    sink.sample("gatewayz_provider_rate_limit_backoff_seconds", slug, view.backoff)
    if view.interval is not None:
        sink.sample("gatewayz_provider_probe_interval_seconds", slug, view.interval)
    # an inference-probed model's uptime is that of its completions, not of its listing
    uptime = {**view.model_uptime, **{m: v.availability["24h"] for m, v in view.inference.items()}}
    sink.samples(
        "gatewayz_model_uptime_24h",
        (((view.slug, model), up) for model, up in uptime.items() if up is not None),
    )
    for model in view.inference.values():
        _emit_model(sink, view.slug, model)


def _emit_model(sink: Sink, slug: str, view: ModelView) -> None:
    """Emit one inference-probed model's samples; what is not known is left out."""
    pair = (slug, view.model)
    for window in AVAILABILITY_WINDOWS:
        ratio = view.availability[window]
        if ratio is not None:
            sink.sample("gatewayz_model_availability_ratio", (*pair, window), ratio)
    sink.samples(
        "gatewayz_inference_probes",
        (((*pair, outcome), view.probes[outcome]) for outcome in OUTCOMES),
    )
    sink.sample("gatewayz_inference_checks", (*pair, "up"), view.checks_up)
    sink.sample("gatewayz_inference_checks", (*pair, "down"), view.checks_down)
    sink.histogram("gatewayz_inference_ttft_seconds", pair, view.ttft, TTFT_BUCKETS)
    sink.histogram(
        "gatewayz_inference_output_tokens_per_second", pair, view.tokens_per_second, TPS_BUCKETS
    )
    for direction, tokens in view.tokens.items():
        sink.sample("gatewayz_inference_tokens", (*pair, direction), tokens)
    sink.sample("gatewayz_inference_budget_skipped", pair, view.skipped)


def _emit_score(sink: Sink, view: ProviderView) -> None:
    if view.score is None:
        return
    sink.sample("gatewayz_provider_health_score", (view.slug,), view.score.value)
    for name in SCORE_COMPONENTS:
        value = getattr(view.score, name)
        if value is not None:
            sink.sample("gatewayz_provider_health_score_component", (view.slug, name), value)


def emit_exporter(sink: Sink, snapshot: Snapshot) -> None:
    """Emit the exporter's own samples, and the Redis source's when it is configured."""
    sink.sample("provider_exporter_build_info", (__version__, platform.python_version()), 1)
    sink.histogram("provider_exporter_probe_lag_seconds", (), snapshot.stats.probe_lag, LAG_BUCKETS)
    for state, count in snapshot.count_states().items():
        sink.sample("provider_exporter_providers", (state,), count)
    sink.sample("provider_exporter_probes_in_flight", (), snapshot.stats.in_flight)
    stats = snapshot.stats
    if stats.budget_remaining is not None:  # inference probes are configured
        sink.sample("gatewayz_inference_budget_remaining_tokens", (), stats.budget_remaining)
    if stats.ttft_slow is not None:
        sink.sample("gatewayz_inference_ttft_slow_seconds", (), stats.ttft_slow)
    if stats.min_tokens_per_second is not None:
        sink.sample("gatewayz_inference_min_tokens_per_second", (), stats.min_tokens_per_second)
    sink.sample("provider_exporter_ready", (), 1 if snapshot.ready else 0)
    if snapshot.network_up is not None:
        sink.sample("provider_exporter_network_up", (), 1 if snapshot.network_up else 0)
    sink.sample("provider_exporter_offline", (), 1 if snapshot.offline else 0)
    if snapshot.replicas is not None:
        _emit_replicas(sink, snapshot.replicas)
    if snapshot.redis is not None:
        _emit_redis(sink, snapshot.redis)
    for slug, official in snapshot.official.items():
        _emit_official(sink, slug, official)


def _emit_replicas(sink: Sink, stats: ReplicaStats) -> None:
    sink.sample("provider_exporter_replicas", (), stats.replicas)
    sink.sample("provider_exporter_owned_providers", (), stats.owned)
    sink.sample("provider_exporter_ownership_changes", (), stats.ownership_changes)
    if stats.shared_lag is not None:
        sink.sample("provider_exporter_shared_results_lag_seconds", (), stats.shared_lag)
    if stats.unreadable:
        sink.sample("provider_exporter_redis_parse_errors", ("shared_results",), stats.unreadable)


def _emit_official(sink: Sink, slug: str, view: OfficialView) -> None:
    """Emit what a provider's status page says; nothing of its word while it is unread."""
    if view.up is not None:
        sink.sample("provider_exporter_status_page_up", (slug,), 1 if view.up else 0)
    if view.last_success is not None:
        sink.sample(
            "provider_exporter_status_page_last_success_timestamp_seconds",
            (slug,),
            view.last_success,
        )
    for reason, count in view.errors.items():
        sink.sample("provider_exporter_status_page_errors", (slug, reason), count)
    word = view.word
    if word is None:
        return
    sink.samples(
        "gatewayz_provider_official_indicator",
        (((slug, level), 1 if level == word.indicator else 0) for level in INDICATORS),
    )
    for name, status in word.components:
        sink.samples(
            "gatewayz_provider_official_component_status",
            (((slug, name, option), 1 if option == status else 0) for option in COMPONENT_STATUSES),
        )
    sink.samples(
        "gatewayz_provider_official_incidents",
        (((slug, impact), word.count(impact)) for impact in INDICATORS),
    )
    if word.declared_at is not None:
        sink.sample(
            "gatewayz_provider_official_incident_started_timestamp_seconds",
            (slug,),
            word.declared_at,
        )


def _emit_redis(sink: Sink, view: RedisView) -> None:
    """Emit the backend's Redis; what could not be read is left out, never zeroed."""
    sink.sample("provider_exporter_redis_up", (), 1 if view.up else 0)
    if view.poll_duration is not None:
        sink.sample("provider_exporter_redis_poll_duration_seconds", (), view.poll_duration)
    if view.last_success is not None:
        sink.sample("provider_exporter_redis_last_success_timestamp_seconds", (), view.last_success)
    if view.up:
        sink.sample("provider_exporter_redis_keys_read", (), view.keys_read)
    for pattern, count in view.parse_errors.items():
        sink.sample("provider_exporter_redis_parse_errors", (pattern,), count)
    for slug, state in view.breakers.items():
        for candidate in BREAKER_STATES:
            current = 1 if candidate == state else 0
            sink.sample("gatewayz_circuit_breaker_state", (slug, candidate), current)
    for slug, traffic in view.traffic.items():
        _emit_traffic(sink, slug, traffic)
    for slug, status in view.backend_status.items():
        for candidate in BACKEND_STATUSES:
            current = 1 if candidate == status else 0
            sink.sample("gatewayz_backend_provider_status", (slug, candidate), current)
    for slug, counts in view.backend_models.items():
        for status, count in counts.items():
            sink.sample("gatewayz_backend_models", (slug, status), count)


def _emit_traffic(sink: Sink, slug: str, traffic: Traffic) -> None:
    if traffic.requests is not None:
        sink.sample("gatewayz_gateway_requests_last_hour", (slug,), traffic.requests)
    if traffic.failures is not None:
        sink.sample("gatewayz_gateway_failed_requests_last_hour", (slug,), traffic.failures)
    for q, seconds in traffic.latency.items():
        sink.sample("gatewayz_gateway_latency_seconds", (slug, repr(q)), seconds)
