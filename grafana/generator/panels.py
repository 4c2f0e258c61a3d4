"""Panel and PromQL helpers shared by every dashboard: one place for units, colours and mappings,
and one helper per panel shape the dashboards repeat (ratios, latencies, per-provider states, rows
of stats), so that a dashboard function reads as the list of what it shows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from exporter.outcomes import LIST_OUTCOMES, Outcome, Verdict, verdict
from grafana.generator.model import (
    EXPORTER,
    GRID_WIDTH,
    RULES,
    Annotation,
    Dashboard,
    Items,
    Json,
    Panel,
    Row,
    Target,
    Variable,
)

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
def label_values(label: str, series: str, feed: str = EXPORTER) -> Variable:
    """Return the variable `$<label>` offering the values `label` takes in `series`."""
    return Variable(label, label.capitalize(), f"label_values({series}, {label})", feeds=(feed,))


VANTAGES = label_values("vantage", 'provider_availability{environment=~"$environment"}')


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


def right_axis(name: str, unit: str) -> Json:
    """Return a time series override that draws the series `name` on a right axis in `unit`."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [
            {"id": "unit", "value": unit},
            {"id": "custom.axisPlacement", "value": "right"},
        ],
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


@dataclass(frozen=True)
class About:
    """Which dashboard it is: its Grafana folder, uid, title and tags."""

    folder: str
    uid: str
    title: str
    tags: tuple[str, ...]

    def dashboard(
        self, description: str, variables: tuple[Variable, ...], *items: Row | Panel, **kw: Any
    ) -> Dashboard:
        """Return the dashboard that shows `items`, described and filtered by `variables`."""
        return Dashboard(
            self.uid, self.title, self.folder, description, items, variables, self.tags, **kw
        )


# The shapes the dashboards repeat: a helper each, so a dashboard function lists what it shows.

RATE_WINDOW = "$__rate_interval"
P50_95_99 = (0.5, 0.95, 0.99)
ALERT_FROM_ONE: tuple[tuple[str, float | None], ...] = (("green", None), ("red", 1))
UP_FROM_ONE: tuple[tuple[str, float | None], ...] = (("red", None), ("green", 1))
ERROR_RATIO_THRESHOLDS: tuple[tuple[str, float | None], ...] = (
    ("green", None),
    ("orange", 0.01),
    ("red", 0.05),
)


def fed_by(feed: str) -> Callable[..., Target]:
    """Return a Target maker whose queries read `feed` (the backend, redis_exporter, Loki …)."""
    return partial(Target, feeds=(feed,))


def legend_of(label: str) -> str:
    """Return the legend that names a series by one label's value."""
    return f"{{{{{label}}}}}"


def rate(series: str, window: str = RATE_WINDOW) -> str:
    """Return the per-second rate of a counter's series (`name{matchers}`)."""
    return f"rate({series}[{window}])"


def sum_by(label: str, expr: str) -> str:
    """Return `expr` summed into one series per value of `label`."""
    return f"sum by ({label}) ({expr})"


def ratio(panel: Callable[..., Panel], title: str, *targets: Target, **kw: Any) -> Panel:
    """Return a panel (stat, timeseries, bargauge) of a 0–1 ratio shown as a percentage."""
    return panel(title, *targets, unit="percentunit", min=0, max=1, **kw)


def score(panel: Callable[..., Panel], title: str, *targets: Target, **kw: Any) -> Panel:
    """Return a ratio panel of health scores, coloured at the alert's thresholds."""
    return ratio(panel, title, *targets, thresholds=SCORE_THRESHOLDS, **kw)


def error_ratio(panel: Callable[..., Panel], title: str, *targets: Target, **kw: Any) -> Panel:
    """Return a ratio panel of an error share: orange from 1 %, red from 5 %."""
    return ratio(panel, title, *targets, thresholds=ERROR_RATIO_THRESHOLDS, **kw)


def alarm_stat(title: str, target: Target, **kw: Any) -> Panel:
    """Return a stat of a count that should be 0 (alerts firing, breakers open): red from 1."""
    return stat(title, target, thresholds=ALERT_FROM_ONE, **kw)


def up_stat(title: str, target: Target, **kw: Any) -> Panel:
    """Return a stat of a 1/0 up gauge: green Up, red Down."""
    return stat(title, target, mappings=up_mappings(), thresholds=UP_FROM_ONE, **kw)


def rate_by(
    title: str, label: str, series: str, make: Callable[..., Target] = Target, **kw: Any
) -> Panel:
    """Return a time series of a counter's rate, one line per value of `label`."""
    return timeseries(title, make(sum_by(label, rate(series)), legend_of(label)), **kw)


def percentiles(
    bucket: str,
    selector: str,
    by: str,
    *qs: float,
    legend: str = "",
    make: Callable[..., Target] = Target,
    window: str = RATE_WINDOW,
) -> tuple[Target, ...]:
    """Return one target per quantile of a histogram, each named `<legend> p<nn>`."""
    return tuple(
        make(quantile(q, bucket, selector, by, window), f"{legend} p{int(q * 100)}".lstrip())
        for q in qs
    )


def latency(
    title: str,
    bucket: str,
    selector: str,
    by: str,
    *qs: float,
    legend: str = "",
    make: Callable[..., Target] = Target,
    unit: str = "s",
    **kw: Any,
) -> Panel:
    """Return a time series of a histogram's quantiles `qs`, each named `<legend> p<nn>`."""
    targets = percentiles(bucket, selector, by, *qs, legend=legend, make=make)
    return timeseries(title, *targets, unit=unit, **kw)


def p95_by(
    title: str,
    label: str,
    bucket: str,
    selector: str,
    make: Callable[..., Target] = Target,
    unit: str = "s",
    **kw: Any,
) -> Panel:
    """Return a time series of a histogram's p95, one line per value of `label`."""
    target = make(quantile(0.95, bucket, selector, label), legend_of(label))
    return timeseries(title, target, unit=unit, **kw)


@dataclass(frozen=True)
class OneHot:
    """A one-hot state gauge (1 for the current value of `label`, 0 for the others)."""

    metric: str
    label: str
    values: tuple[str, ...]
    colours: tuple[str, ...]

    def expr(self, selector: str, by: str = BY_PROVIDER) -> str:
        """Return the state's code per provider (or per `by` group); see code_expr."""
        return code_expr(self.metric, self.label, self.values, selector, by)

    @property
    def mappings(self) -> tuple[Json, ...]:
        """Return the mappings that show the code as the state's name and colour."""
        return code_mappings(self.values, self.colours)


HEALTH = "gatewayz_provider_health_score"
PROVIDER_STATUS = OneHot("gatewayz_provider_status", "status", PROVIDER_STATES, STATE_COLOURS)
BREAKER = OneHot("gatewayz_circuit_breaker_state", "state", BREAKER_STATES, BREAKER_COLOURS)


def provider_state(
    title: str,
    state: OneHot,
    selector: str,
    legend: str,
    *,
    panel: Callable[..., Panel] = state_timeline,
    by: str = BY_PROVIDER,
    **kw: Any,
) -> Panel:
    """Return a state timeline (or the `panel` kind given, e.g. stat) of a state per provider
    (or per `by` group), each code shown as the state's name and colour."""
    return panel(title, Target(state.expr(selector, by), legend), mappings=state.mappings, **kw)


def provider_gauge(
    metric: str, selector: str = ENV_PROVIDER, legend: str = PROVIDER_LEGEND
) -> Target:
    """Return a target of a provider gauge, once per provider and vantage (see gauge)."""
    return Target(gauge(f"{metric}{{{selector}}}"), legend)


def even_row(title: str, *panels: Panel) -> Items:
    """Return a row header and its panels (a row of stats, of bar gauges), sharing the grid's
    width evenly."""
    width = GRID_WIDTH // len(panels)
    return (Row(title), *(replace(panel, width=width) for panel in panels))


def total_in_range(series: str) -> str:
    """Return how much a counter's series grew over the dashboard's time range, summed."""
    return f"sum(increase({series}[$__range]))"


def hit_ratio(hits: str, misses: str) -> str:
    """Return the share of hits among hits and misses (two rates)."""
    return f"{hits} / ({hits} + {misses})"


def availability(window: str, selector: str = ENV_PROVIDER) -> str:
    """Return the exporter's availability ratio over one of its windows (5m, 1h, 24h)."""
    return gauge(f'gatewayz_provider_availability_ratio{{{selector}, window="{window}"}}')


def rule_windows(record: str, selector: str, legend: str) -> tuple[Target, ...]:
    """Return a recording rule's 1h and 1d series (`<record>1h`, `<record>1d`), named by window."""
    return tuple(
        Target(f"{record}{window}{{{selector}}}", f"{legend} {window}", feeds=(RULES,))
        for window in ("1h", "1d")
    )


STACKED = {"stacking": {"group": "A", "mode": "normal"}}
STACKED_BARS = {**STACKED, "drawStyle": "bars"}


def environments(job: str, feed: str = EXPORTER) -> Variable:
    """Return the environment variable of a dashboard on one job's series (`job` a matcher)."""
    return label_values("environment", f"up{{{job}}}", feed)


ENVIRONMENT = label_values("environment", "gatewayz_provider_status")
PROVIDERS = label_values("provider", 'gatewayz_provider_status{environment=~"$environment"}')


def probe_latency(q: float, selector: str) -> str:
    """Return a quantile of the list probes' latency, per provider and vantage."""
    return quantile(q, "provider_response_time_seconds_bucket", selector, "provider, vantage")
