"""Every PromQL query of every dashboard returns data from the real sources in the e2e stack.

The stack (tests/e2e/stack.py) is a real Prometheus run by prometheus/entrypoint.sh with the
project's rules; in temporary copies only the scrape/evaluation and rule-group intervals are 1 s,
the `prometheus` job's target is its loopback port and the backend jobs trust a test CA. Loki and
Tempo have no binaries here: their queries are counted, not run (tests/grafana checks them).
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pytest

from grafana.generator import Query, build_dashboards, iter_queries, substitute_variables
from grafana.generator.model import (
    BACKEND,
    EXPORTER,
    LOKI,
    PROMETHEUS,
    REDIS,
    RULES,
    TEMPO,
    TEMPO_METRICS,
)
from tests.e2e.stack import ENVIRONMENT, Stack
from tests.prometheus.support import REPO

AVAILABLE = frozenset({EXPORTER, BACKEND, REDIS, PROMETHEUS, RULES})
NOT_HERE = {
    LOKI: "Loki has no binary here (LogQL checked statically in tests/grafana)",
    TEMPO: "Tempo has no binary here (TraceQL checked statically in tests/grafana)",
    TEMPO_METRICS: "span metrics come from Tempo's metrics generator (no binary here)",
}
# Values that exist in the stack: its environment (exporter and production backend job agree,
# as in a production Prometheus) and a provider that the exporter probes and the backend reports.
VARIABLES = {"environment": ENVIRONMENT, "env": ENVIRONMENT, "provider": "openai"}
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.*),\s*(?P<label>\w+)\)$", re.DOTALL)
POLL_SECONDS = 60  # rate windows and histograms need two samples; alerts need an evaluation
ARTIFACT = REPO / "artifacts" / "dashboards-live.json"

QUERIES = list(iter_queries())
RUNNABLE = [q for q in QUERIES if set(q.feeds) <= AVAILABLE]
EXCLUDED = [q for q in QUERIES if set(q.feeds) & set(NOT_HERE)]


def _id(query: Query) -> str:
    return f"{query.dashboard_uid}#{query.panel_id} {query.panel_title}: {query.expr[:80]}"


def promql_for(query: Query) -> tuple[str, str]:
    """Return (PromQL to run, label that must be set) for a panel target or a variable query.

    Grafana's `label_values(selector, label)` becomes `count by (label) (selector)`: each series
    of the result is one value Grafana would offer.
    """
    expr = substitute_variables(query.expr, VARIABLES).strip()
    match = LABEL_VALUES.match(expr)
    if match is None:
        return expr, ""
    label = match["label"]
    return f"count by ({label}) ({match['selector']})", label


@dataclass
class Outcome:
    """What one query returned on its last run."""

    series: int = 0
    error: str = ""


def _run(stack: Stack, query: Query) -> Outcome:
    expr, label = promql_for(query)
    try:
        result: list[dict[str, Any]] = stack.prometheus.query(expr)
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        error.close()
        return Outcome(error=f"HTTP {error.code}: {detail}")
    if label:
        result = [r for r in result if r["metric"].get(label)]
    return Outcome(series=len(result))


def run_until_data(stack: Stack) -> dict[Query, Outcome]:
    """Run every runnable query, re-running the empty ones until they have data or time is up."""
    outcomes = {q: _run(stack, q) for q in RUNNABLE}
    deadline = time.monotonic() + POLL_SECONDS
    while time.monotonic() < deadline:
        # An empty result is final for a query allowed to be empty (an alert list while
        # nothing fires): waiting for it would only burn the budget.
        waiting = [
            q for q, o in outcomes.items() if not o.series and not o.error and not q.may_be_empty
        ]
        if not waiting:
            break
        time.sleep(1)
        outcomes.update({q: _run(stack, q) for q in waiting})
    return outcomes


def summarise(outcomes: dict[Query, Outcome]) -> dict[str, Any]:
    """Per dashboard: panels, PromQL panels proven live, panels not runnable here and why."""
    by_panel: defaultdict[tuple[str, int], list[Query]] = defaultdict(list)
    for query in QUERIES:
        by_panel[(query.dashboard_uid, query.panel_id)].append(query)
    summary: dict[str, Any] = {}
    for dashboard in build_dashboards():
        live, empty_by_design, not_here = 0, [], {}
        for panel_id, panel in dashboard.panels():
            targets = by_panel[(dashboard.uid, panel_id)]
            reasons = {NOT_HERE[f] for q in targets for f in q.feeds if f in NOT_HERE}
            if reasons:
                not_here[f"#{panel_id} {panel.title}"] = sorted(reasons)
            elif all(outcomes[q].series for q in targets):
                live += 1
            else:
                empty_by_design.append(f"#{panel_id} {panel.title}")
        variables = by_panel[(dashboard.uid, 0)]
        annotations = by_panel[(dashboard.uid, -1)]
        summary[dashboard.uid] = {
            "panels": len(dashboard.panels()),
            "promql_panels_proven_live": live,
            "panels_empty_by_design": empty_by_design,
            "panels_not_runnable_here": not_here,
            "variables": len(variables),
            "variables_proven_live": sum(
                1 for q in variables if q in outcomes and outcomes[q].series
            ),
            "annotations": len(annotations),
            "annotations_proven_live": sum(
                1 for q in annotations if q in outcomes and outcomes[q].series
            ),
        }
    return summary


def test_every_query_is_either_run_or_excluded_for_a_named_reason() -> None:
    """The queries not run are exactly those reading Loki, Tempo or Tempo's span metrics."""
    runnable, excluded = set(RUNNABLE), set(EXCLUDED)
    assert runnable.isdisjoint(excluded)
    assert runnable | excluded == set(QUERIES)
    reading_loki_or_tempo = {
        q
        for q in QUERIES
        if {LOKI, TEMPO, TEMPO_METRICS} & set(q.feeds) or q.datasource != "prometheus"
    }
    assert excluded == reading_loki_or_tempo
    assert len(runnable) > 150  # the dashboards' PromQL is really being exercised


@pytest.mark.slow
def test_every_promql_query_returns_series(stack: Stack) -> None:
    """Every runnable dashboard query succeeds and returns at least one series (queries marked
    may_be_empty must succeed and may be empty); the per-dashboard summary is written."""
    outcomes = run_until_data(stack)
    summary = summarise(outcomes)
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(summary, indent=2) + "\n")
    print("\n" + json.dumps(summary, indent=2))
    errors = {_id(q): o.error for q, o in outcomes.items() if o.error}
    empty = {_id(q) for q, o in outcomes.items() if not o.series and not q.may_be_empty}
    assert errors == {}
    assert empty == set()
    for uid, figures in summary.items():
        assert figures["variables_proven_live"] == sum(
            1 for q in RUNNABLE if q.dashboard_uid == uid and q.panel_id == 0
        ), uid
