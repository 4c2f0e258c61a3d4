"""Immutable views of every provider, built when read (a scrape, the API) from the monitor."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exporter.judgement.scoring import Score, State
from exporter.judgement.windows import RingCopy, minute_series
from exporter.outcomes import Outcome
from exporter.probing.official import OfficialView
from exporter.stored.redis_source import RedisView, Traffic
from exporter.stored.replicas import ReplicaStats

# Buckets of `provider_response_time_seconds` (upper bounds, seconds; +Inf implied).
LATENCY_BUCKETS: tuple[float, ...] = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
LAG_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
AVAILABILITY_WINDOWS: tuple[str, ...] = ("5m", "1h", "24h")
# Buckets of the inference histograms: time to first token (to 60 s) and output tokens/s.
TTFT_BUCKETS: tuple[float, ...] = (
    0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 30.0, 45.0, 60.0
)  # fmt: skip
TPS_BUCKETS: tuple[float, ...] = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 1000)


@dataclass(frozen=True, slots=True)
class Exemplar:
    """The latest observation in a bucket that carries a trace id."""

    trace_id: str
    value: float
    timestamp: float


@dataclass(frozen=True, slots=True)
class Histogram:
    """A cumulative histogram: per-bucket counts (not cumulated), sum and count."""

    buckets: tuple[int, ...]
    total: float
    count: int
    exemplars: tuple[Exemplar | None, ...] = ()


@dataclass(frozen=True, slots=True)
class ModelView:
    """One inference-probed model of a provider at one moment."""

    model: str
    state: State
    since: float
    reason: str
    probes: Mapping[Outcome, int]
    checks_up: int
    checks_down: int
    availability: Mapping[str, float | None]  # window -> ratio
    ttft: Histogram
    tokens_per_second: Histogram
    tokens: Mapping[str, int]  # direction (input, output) -> tokens
    ttft_p50: float | None = None  # over the last hour's probes
    ttft_p95: float | None = None
    tokens_per_second_p50: float | None = None
    skipped: int = 0  # probes the budget did not allow
    last_outcome: Outcome | None = None
    last_probe_at: float | None = None
    last_status: int | None = None
    last_ttft: float | None = None
    last_tokens_per_second: float | None = None
    last_max_gap: float | None = None
    backoff: float = 0.0


@dataclass(frozen=True, slots=True)
class ProviderView:
    """Everything known about one provider at one moment."""

    slug: str
    configured: bool
    state: State
    since: float
    reason: str
    state_changes: int
    score: Score | None
    availability: Mapping[str, float | None]  # window -> ratio
    error_rate: float | None  # 5 minutes
    latency_p50: float | None
    latency_p95: float | None
    probes: Mapping[Outcome, int]
    checks_up: int
    checks_down: int
    response_time: Histogram
    last_outcome: Outcome | None = None
    last_probe_at: float | None = None
    last_status: int | None = None
    last_failure: Outcome | None = None
    last_failure_at: float | None = None
    phases: Mapping[str, float] = field(default_factory=dict)
    models_listed: int | None = None
    models_sample: tuple[str, ...] = ()
    model_uptime: Mapping[str, float | None] = field(default_factory=dict)
    backoff: float = 0.0
    interval: float | None = None  # seconds between its regular probes
    hour: RingCopy | None = None  # the 1 h ring's per-minute slots, read only by the API/page
    breaker: str | None = None
    traffic: Traffic | None = None
    inference: Mapping[str, ModelView] = field(default_factory=dict)  # model -> its probes

    @property
    def minutes(self) -> list[tuple[int, float | None, float | None]]:
        """Return (minute start, availability, mean latency) for each minute of the last hour."""
        return minute_series(self.hour) if self.hour is not None else []

    @property
    def available(self) -> int | None:
        """Return `provider_availability`: 1 up, 0 down, None when unknown or unconfigured."""
        if self.state in (State.HEALTHY, State.DEGRADED):
            return 1
        if self.state is State.DOWN:
            return 0
        return None


@dataclass(frozen=True, slots=True)
class ExporterStats:
    """The exporter's own numbers."""

    probe_lag: Histogram
    in_flight: int = 0
    budget_remaining: int | None = None  # inference tokens left today; None without pairs
    ttft_slow: float | None = None  # INFERENCE_TTFT_SLOW_SECONDS, with pairs
    min_tokens_per_second: float | None = None  # INFERENCE_MIN_TOKENS_PER_SECOND, with pairs


@dataclass(frozen=True, slots=True)
class Snapshot:
    """All providers plus the exporter's own state; replaced, never mutated."""

    providers: Mapping[str, ProviderView]
    stats: ExporterStats
    ready: bool
    redis: RedisView | None = None  # None when REDIS_URL is not set
    official: Mapping[str, OfficialView] = field(default_factory=dict)  # slug -> status page
    offline: bool = False  # the exporter cannot reach the network (measured or inferred)
    network_up: bool | None = None  # the last connectivity check; None without targets
    vantage: str = "default"  # VANTAGE: where this deployment probes from
    replicas: ReplicaStats | None = None  # None in tests that build a Monitor bare

    def count_states(self) -> dict[State, int]:
        """Return how many providers are in each state."""
        counts = dict.fromkeys(State, 0)
        for view in self.providers.values():
            counts[view.state] += 1
        return counts
