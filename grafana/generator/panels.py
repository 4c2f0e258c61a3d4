"""Panel and PromQL helpers shared by every dashboard: one place for units, colours and mappings."""

from __future__ import annotations

from typing import Any

from exporter.outcomes import LIST_OUTCOMES, Outcome, Verdict, verdict
from grafana.generator.model import Annotation, Json, Panel, Target, Variable

# The alert rules' thresholds (prometheus/rules/alerts.yml); a test checks they still agree.
HEALTH_SCORE_LOW = 0.5  # ProviderHealthScoreLow fires below this score
HEALTH_SCORE_GOOD = 0.8  # display only: green from here up

PROVIDER_STATES = ("healthy", "degraded", "down", "unknown", "unconfigured")
STATE_COLOURS = ("green", "yellow", "red", "text", "blue")
BREAKER_STATES = ("closed", "half_open", "open")
BREAKER_COLOURS = ("green", "yellow", "red")
OFFICIAL_COLOURS = ("green", "yellow", "orange", "red")  # none, minor, major, critical
OFFICIAL_HELP = (
    "What the provider's own status page says (gatewayz_provider_official_indicator): their "
    "claim, shown beside our state and never part of it. No data while the page is unknown or "
    "unreadable (provider_exporter_status_page_up 0)."
)


def outcome_help(family: str, outcomes: tuple[Outcome, ...], log_event: str) -> str:
    """Explain every outcome a probe can end in, from the exporter's own table: the outcome
    panels' legend."""
    return (
        f"One series per outcome of {family}. Against availability: "
        + ", ".join(o.value for o in outcomes if verdict(o) is Verdict.DOWN)
        + ". Not an outage: "
        + ", ".join(o.value for o in outcomes if verdict(o) not in (Verdict.UP, Verdict.DOWN))
        + ". internal_error means the probe itself failed (a bug of ours): see the "
        f"{log_event} log line."
    )


# A model-list probe never streams, so it never ends in stream_error or empty_completion.
OUTCOME_HELP = outcome_help("gatewayz_provider_probes_total", LIST_OUTCOMES, "probe_internal_error")
OUTCOME_OVERRIDES: tuple[Json, ...] = tuple(
    {
        "matcher": {"id": "byRegexp", "options": f".*{outcome.value}$"},
        "properties": [{"id": "color", "value": {"fixedColor": colour, "mode": "fixed"}}],
    }
    for outcome, colour in ((Outcome.INTERNAL_ERROR, "purple"), (Outcome.OK, "green"))
)


def outcome_panel(title: str, target: Target, **kw: Any) -> Panel:
    """Return a stacked time series of probe outcomes, each one explained and `internal_error`
    in its own colour."""
    kw.setdefault("unit", "ops")
    kw.setdefault("description", OUTCOME_HELP)
    return timeseries(title, target, overrides=OUTCOME_OVERRIDES, **kw)


ENV = 'environment=~"$environment"'
VANTAGE = 'vantage=~"$vantage"'
ENV_PROVIDER = f'environment=~"$environment", provider=~"$provider", {VANTAGE}'
# Provider series are kept apart per vantage (where they were probed from), never per replica.
BY_PROVIDER = "environment, provider, vantage"
PROVIDER_LEGEND = "{{provider}} {{vantage}}"

# Every dashboard that shows provider or model series filters them by vantage. Its All value is
# `.*`, which also matches series without the label (an exporter older than VANTAGE).
VANTAGES = Variable(
    "vantage",
    "Vantage",
    'label_values(provider_availability{environment=~"$environment"}, vantage)',
)


def gauge(series: str) -> str:
    """Return a gauge's series (`name{matchers}`) once per provider and vantage, however many
    replicas export it.

    Replicas of one vantage share their probes' results and so export the same value: `max`
    over `instance` and `job` folds them into one series, and with one replica it is the series
    itself. Counters are summed instead (each replica counts only the probes it sent).
    """
    return f"max without (instance, job) ({series})"


SCORE_THRESHOLDS: tuple[tuple[str, float | None], ...] = (
    ("red", None),
    ("orange", HEALTH_SCORE_LOW),
    ("green", HEALTH_SCORE_GOOD),
)


def code_expr(
    metric: str,
    label: str,
    values: tuple[str, ...],
    selector: str,
    by: str = BY_PROVIDER,
) -> str:
    """Encode a one-hot state gauge as one series per provider (or per `by` group) whose value
    is the state's code.

    The exporter writes 1 for the current state and 0 for the others, so the weighted sum is the
    code (1-based) of the current state; with no series there is no sample, never a made-up state.
    Each state is the `max` over the replicas of a vantage (they export the same states), so N
    replicas give the code once, not N times over.
    """
    parts = [
        f'{i} * max by ({by}) ({metric}{{{selector}, {label}="{value}"}})'
        for i, value in enumerate(values, start=1)
    ]
    return "\n+ ".join(parts)


def code_mappings(values: tuple[str, ...], colours: tuple[str, ...]) -> tuple[Json, ...]:
    """Return value mappings that show a state code as its name and colour."""
    options = {
        str(i): {"color": colour, "index": i - 1, "text": value}
        for i, (value, colour) in enumerate(zip(values, colours, strict=True), start=1)
    }
    return ({"type": "value", "options": options},)


def column_mappings(name: str, mappings: tuple[Json, ...]) -> Json:
    """Return a table override that shows one column's codes through mappings, coloured."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [
            {"id": "mappings", "value": list(mappings)},
            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
        ],
    }


def column_unit(pattern: str, unit: str) -> Json:
    """Return a table override that gives the columns matching `pattern` a unit."""
    return {
        "matcher": {"id": "byRegexp", "options": f"^{pattern}.*"},
        "properties": [{"id": "unit", "value": unit}],
    }


def up_mappings() -> tuple[Json, ...]:
    """Return value mappings for a 1/0 up gauge."""
    options = {
        "0": {"color": "red", "index": 0, "text": "Down"},
        "1": {"color": "green", "index": 1, "text": "Up"},
    }
    return ({"type": "value", "options": options},)


def offline_mappings() -> tuple[Json, ...]:
    """Return value mappings for provider_exporter_offline (1: the exporter cannot see)."""
    options = {
        "0": {"color": "green", "index": 0, "text": "Online"},
        "1": {"color": "red", "index": 1, "text": "Offline: not judging"},
    }
    return ({"type": "value", "options": options},)


def quantile(
    q: float, bucket: str, selector: str, by: str, window: str = "$__rate_interval"
) -> str:
    """Return a histogram_quantile over a rate of a histogram's buckets."""
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({bucket}{{{selector}}}[{window}])))"


def timeseries(title: str, *targets: Target, unit: str = "short", **kw: Any) -> Panel:
    """Return a time series panel."""
    custom = {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "spanNulls": False}
    custom.update(kw.pop("custom", {}))
    options = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return Panel("timeseries", title, targets, unit=unit, custom=custom, options=options, **kw)


def stat(title: str, *targets: Target, unit: str = "short", **kw: Any) -> Panel:
    """Return a stat panel showing the last value."""
    options = {
        "colorMode": "background",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": "auto",
    }
    kw.setdefault("width", 4)
    kw.setdefault("height", 4)
    return Panel("stat", title, targets, unit=unit, options=options, **kw)


def bargauge(title: str, *targets: Target, unit: str = "short", **kw: Any) -> Panel:
    """Return a horizontal bar gauge, one bar per series."""
    options = {
        "displayMode": "gradient",
        "orientation": "horizontal",
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "showUnfilled": True,
    }
    return Panel("bargauge", title, targets, unit=unit, options=options, **kw)


def state_timeline(title: str, *targets: Target, mappings: tuple[Json, ...], **kw: Any) -> Panel:
    """Return a state timeline whose values are state codes shown through mappings."""
    options = {
        "alignValue": "center",
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "mergeValues": True,
        "rowHeight": 0.8,
        "showValue": "auto",
    }
    kw.setdefault("width", 24)
    return Panel("state-timeline", title, targets, options=options, mappings=mappings, **kw)


def table(title: str, *targets: Target, unit: str = "short", **kw: Any) -> Panel:
    """Return a table of instant values; several targets are merged on their common labels."""
    options = {"cellHeight": "sm", "footer": {"show": False}, "showHeader": True}
    transformations: list[Json] = [{"id": "merge", "options": {}}]
    transformations.append(
        {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}}
    )
    kw.setdefault("width", 24)
    return Panel(
        "table",
        title,
        targets,
        unit=unit,
        options=options,
        transformations=tuple(transformations),
        **kw,
    )


def heatmap(title: str, *targets: Target, unit: str = "s", **kw: Any) -> Panel:
    """Return a heatmap of pre-bucketed histogram data."""
    options = {
        "calculate": False,
        "cellGap": 1,
        "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
        "yAxis": {"axisPlacement": "left", "unit": unit},
        "tooltip": {"mode": "single", "yHistogram": True},
        "legend": {"show": True},
    }
    return Panel("heatmap", title, targets, unit=unit, options=options, **kw)


def logs(title: str, *targets: Target, **kw: Any) -> Panel:
    """Return a logs panel."""
    options = {
        "dedupStrategy": "none",
        "enableLogDetails": True,
        "prettifyLogMessage": False,
        "showTime": True,
        "sortOrder": "Descending",
        "wrapLogMessage": True,
    }
    kw.setdefault("width", 24)
    kw.setdefault("height", 12)
    return Panel("logs", title, targets, options=options, **kw)


def instant(expr: str, legend: str = "", **kw: Any) -> Target:
    """Return an instant table-format target (for tables and stats of current values)."""
    return Target(expr, legend, instant=True, fmt="table", **kw)


# The backend's breakers, as every replica and vantage reads them from its Redis: one per provider.
BREAKER_MAPPINGS_SOURCE = (
    code_expr(
        "gatewayz_circuit_breaker_state",
        "state",
        BREAKER_STATES,
        ENV_PROVIDER,
        "environment, provider",
    ),
    code_mappings(BREAKER_STATES, BREAKER_COLOURS),
)


def providers_in_state(selector: str, state: str = "") -> str:
    """Return how many providers are in each state (or in `state`), per vantage: counted from
    the providers' own state gauges, once per vantage whatever its number of replicas."""
    status = f', status="{state}"' if state else ""
    return f"sum by (vantage, status) ({gauge(f'gatewayz_provider_status{{{selector}{status}}}')})"


def official_annotation(selector: str) -> Annotation:
    """Return the annotation marking the time a provider's own page reports a problem."""
    return Annotation(
        "Their status page",
        "max by (environment, provider, indicator) (gatewayz_provider_official_indicator"
        f'{{{selector}, indicator!="none"}}) == 1',
        "{{provider}}: their page says {{indicator}}",
    )
