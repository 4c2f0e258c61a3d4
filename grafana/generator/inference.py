"""The inference-probe panels (INFERENCE_PROBES pairs), shared by Model Health and Provider Detail.

Inference probes run every INFERENCE_PROBE_INTERVAL_SECONDS (300 s by default), far apart for
Grafana's ``$__rate_interval`` (1 minute at a 6-hour range holds no probe most of the time):
rates and quantiles read a fixed 1-hour window (a dozen probes), and availability comes from the
recording rules, whose shortest window is 1 hour for the same reason.

Series stay apart per vantage (`BY`): states are the `max` over a vantage's replicas (they share
them), counters and histograms are summed over the replicas (each counts only its own probes).
"""

from __future__ import annotations

from exporter.outcomes import OUTCOMES
from grafana.generator.model import RULES, Items, Panel, Row, Target
from grafana.generator.panels import (
    ENV,
    PROVIDER_STATES,
    STATE_COLOURS,
    OneHot,
    column_mappings,
    column_unit,
    instant,
    outcome_help,
    outcome_panel,
    percentiles,
    provider_state,
    quantile,
    ratio,
    rule_windows,
    stat,
    table,
    timeseries,
)

WINDOW = "1h"
BY = "environment, provider, model, vantage"
TTFT = "gatewayz_inference_ttft_seconds_bucket"
TPS = "gatewayz_inference_output_tokens_per_second_bucket"
MODEL_STATUS = OneHot("gatewayz_model_status", "status", PROVIDER_STATES, STATE_COLOURS)
AVAILABILITY = "model:inference_availability:ratio_rate"  # + 1h or 1d: the recording rules
ONLY_PROBED = "Only the INFERENCE_PROBES pairs have these series."


def _availability(selector: str, window: str) -> str:
    return f"{AVAILABILITY}{window}{{{selector}}}"


def _per_hour(counter: str, selector: str, label: str = "") -> str:
    by = f"{BY}, {label}" if label else BY
    return f"sum by ({by}) (increase({counter}{{{selector}}}[{WINDOW}]))"


def inference_items(selector: str, legend: str) -> Items:
    """Return the "Inference probes" row: state, speed, availability, outcomes and tokens of
    the inference-probed models `selector` picks, each series named by `legend`."""
    return (
        Row("Inference probes"),
        _models_now(selector),
        provider_state(
            "Inference state by model",
            MODEL_STATUS,
            selector,
            legend,
            by=BY,
            description=f"gatewayz_model_status of each inference-probed model. {ONLY_PROBED}",
        ),
        *_speed(selector, legend),
        ratio(
            timeseries,
            "Model availability from inference checks (recording rules, 1h and 1d)",
            *rule_windows(AVAILABILITY, selector, legend),
            width=12,
            description="Share of conclusive inference checks that succeeded (429 and 401/403 "
            "are not checks). No data for a window without checks, e.g. while the daily token "
            "budget stops the probes.",
        ),
        outcome_panel(
            "Inference probe outcomes (per hour)",
            Target(
                _per_hour("gatewayz_inference_probes_total", selector, "outcome") + " > 0",
                f"{legend} {{{{outcome}}}}",
            ),
            unit="short",
            description=outcome_help(
                "gatewayz_inference_probes_total", OUTCOMES, "inference_internal_error"
            ),
            width=12,
            custom={"stacking": {"group": "A", "mode": "normal"}, "drawStyle": "bars"},
        ),
        *_tokens(selector, legend),
    )


def _models_now(selector: str) -> Panel:
    """Return the table of every inference-probed model's current state and figures."""
    return table(
        "Inference-probed models now",
        instant(MODEL_STATUS.expr(selector, BY), "State"),
        instant(_availability(selector, "1h"), "Availability 1h", feeds=(RULES,)),
        instant(_availability(selector, "1d"), "Availability 1d", feeds=(RULES,)),
        instant(quantile(0.5, TTFT, selector, BY, WINDOW), "TTFT p50 1h"),
        instant(quantile(0.95, TTFT, selector, BY, WINDOW), "TTFT p95 1h"),
        instant(quantile(0.5, TPS, selector, BY, WINDOW), "Tokens/s p50 1h"),
        description="One row per inference-probed model. Empty cells mean no data (never 0 or "
        f"100 %). {ONLY_PROBED}",
        height=6,
        overrides=(
            column_mappings("Value #A", MODEL_STATUS.mappings),
            column_unit("Value #[BC]", "percentunit"),
            column_unit("Value #[DE]", "s"),
        ),
    )


def _speed(selector: str, legend: str) -> tuple[Panel, ...]:
    """Return time to first token and output speed, each beside the exporter's threshold."""
    return (
        timeseries(
            "Time to first token p50 / p95 (1h)",
            *percentiles(TTFT, selector, BY, 0.5, 0.95, legend=legend, window=WINDOW),
            Target(f"max(gatewayz_inference_ttft_slow_seconds{{{ENV}}})", "slow threshold"),
            unit="s",
            width=12,
            description="ModelInferenceSlow compares the p95 over 2h and over 30m with the "
            "threshold (INFERENCE_TTFT_SLOW_SECONDS); a model is degraded when the median of "
            "its last 3 probes is over it.",
        ),
        timeseries(
            "Output tokens per second p50 (1h)",
            *percentiles(TPS, selector, BY, 0.5, legend=legend, window=WINDOW),
            Target(f"max(gatewayz_inference_min_tokens_per_second{{{ENV}}})", "minimum"),
            width=12,
            description="Output tokens per second after the first token. A model is degraded "
            "when the median of its last 3 probes is under INFERENCE_MIN_TOKENS_PER_SECOND.",
        ),
    )


def _tokens(selector: str, legend: str) -> tuple[Panel, ...]:
    """Return what the probes spend: tokens, budget left and probes the budget held back."""
    tokens = f"gatewayz_inference_tokens_total{{{selector}}}"
    return (
        timeseries(
            "Inference probe tokens (per hour)",
            Target(
                _per_hour("gatewayz_inference_tokens_total", selector, "direction"),
                f"{legend} {{{{direction}}}}",
            ),
            width=10,
            custom={"stacking": {"group": "A", "mode": "normal"}},
        ),
        timeseries(
            "Probes skipped for the token budget (per hour)",
            Target(_per_hour("gatewayz_inference_budget_skipped_total", selector), legend),
            width=6,
            description="Probes not sent because they could have crossed "
            "INFERENCE_BUDGET_TOKENS_PER_DAY: no data, not a failure.",
        ),
        stat(
            "Probe token budget left today",
            Target(f"gatewayz_inference_budget_remaining_tokens{{{ENV}}}", "{{instance}}"),
            thresholds=(("red", None), ("green", 1)),
            description="Per exporter instance; resets at 00:00 UTC.",
            height=8,
        ),
        stat("Probe tokens (range)", Target(f"sum(increase({tokens}[$__range]))"), height=8),
    )
