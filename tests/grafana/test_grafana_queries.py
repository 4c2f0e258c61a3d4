"""Every dashboard query parses and names only series a real source exports."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml
from conftest import RealPrometheus
from grafana_support import (
    GRAFANA,
    catalog_families,
    metric_names,
    recording_rule_names,
    series_names,
)

from grafana.generator import Query, iter_queries, substitute_variables
from grafana.generator.model import (
    BACKEND,
    EXPORTER,
    PROMETHEUS,
    REDIS,
    RULES,
    TEMPO_METRICS,
)

PROMQL = [q for q in iter_queries() if q.datasource == "prometheus"]
LOGQL = [q for q in iter_queries() if q.datasource == "loki"]
TRACEQL = [q for q in iter_queries() if q.datasource == "tempo"]
# Series Prometheus itself attaches to every scrape target (present for every scraped feed).
PER_TARGET = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
              "scrape_samples_post_metric_relabeling", "scrape_series_added"}  # fmt: skip


def _id(query: Query) -> str:
    return f"{query.dashboard_uid}#{query.panel_id}:{query.panel_title}"


def _exporter_names() -> set[str]:
    from exporter.serving.collector import family_names  # the exporter's real families

    return set(family_names())


@pytest.fixture(scope="module")
def catalogs(real_prometheus: RealPrometheus) -> dict[str, set[str]]:
    """Names each feed can serve, from real sources (collector, catalogs, live processes, rules)."""
    live = set(real_prometheus.names)
    redis = {n for n in live if n.startswith("redis_")}
    prometheus_own = live - redis - PER_TARGET
    return {
        EXPORTER: _exporter_names() | PER_TARGET,
        BACKEND: series_names(catalog_families(GRAFANA / "catalog" / "backend_metrics.yml"))
        | PER_TARGET,
        REDIS: redis | PER_TARGET,
        PROMETHEUS: prometheus_own | PER_TARGET,
        RULES: recording_rule_names(),
        TEMPO_METRICS: series_names(catalog_families(GRAFANA / "catalog" / "tempo_metrics.yml")),
    }


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (provider) (rate(x_total{a="b(c)"}[5m]))', {"x_total"}),
        ("histogram_quantile(0.95, sum by (le) (rate(h_bucket[1m])))", {"h_bucket"}),
        ("a / on (job) group_left (instance) b offset 5m", {"a", "b"}),
        ("count(ALERTS{alertstate='firing'}) or vector(0)", {"ALERTS"}),
        ("provider:error:ratio_rate5m > 1e-3", {"provider:error:ratio_rate5m"}),
        ('label_values(up{job="x"}, environment)', {"up"}),
        ("time() - last_seen_seconds * 1000", {"last_seen_seconds"}),
    ],
)
def test_metric_name_extraction(expr: str, names: set[str]) -> None:
    """The name extractor finds selected metrics and skips labels, functions and keywords."""
    assert metric_names(expr) == names


def test_recording_rules_define_what_the_dashboards_read() -> None:
    """The recording rules the dashboards use exist in prometheus/rules/*.yml."""
    used = set().union(*(metric_names(q.expr) for q in PROMQL if RULES in q.feeds))
    assert used, "no dashboard reads a recording rule"
    assert used <= recording_rule_names()


@pytest.mark.parametrize("query", PROMQL, ids=_id)
def test_promql_parses_in_a_real_prometheus(query: Query, real_prometheus: RealPrometheus) -> None:
    """Prometheus accepts the query once Grafana variables are replaced (no bad_data error)."""
    expr = substitute_variables(query.expr)
    if expr.startswith("label_values("):  # a variable: Grafana turns it into a series lookup
        expr = expr.removeprefix("label_values(").rsplit(",", 1)[0]
    url = f"{real_prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        body = json.load(error)
    assert body["status"] == "success", f"{body.get('errorType')}: {body.get('error')}\n{expr}"


@pytest.mark.parametrize("query", PROMQL, ids=_id)
def test_promql_names_only_series_its_sources_export(
    query: Query, catalogs: dict[str, set[str]]
) -> None:
    """Every metric a query selects is exported by one of the sources the query says feed it."""
    names = metric_names(query.expr)
    assert names, f"no metric found in {query.expr!r}"
    known = set().union(*(catalogs[feed] for feed in query.feeds))
    assert names <= known, f"not exported by {query.feeds}: {sorted(names - known)}"


def test_histogram_quantile_only_reads_histogram_buckets() -> None:
    """histogram_quantile is applied to `_bucket` series only, never to gauges."""
    for query in PROMQL:
        for inner in re.findall(r"histogram_quantile\([^,]+,(.*)", query.expr):
            assert all(n.endswith("_bucket") for n in metric_names(inner)), _id(query)


def test_no_query_filters_on_a_job_prometheus_does_not_scrape() -> None:
    """Every job a query names is a scrape job of prometheus/prometheus.yml."""
    config = yaml.safe_load(
        (GRAFANA.parent / "prometheus" / "prometheus.yml").read_text().replace("@@", "")
    )
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    for query in PROMQL:
        for value in re.findall(r'job=~?"([^"]+)"', query.expr):
            assert set(value.split("|")) <= jobs, _id(query)


_LOG_LABELS = yaml.safe_load((GRAFANA / "catalog" / "log_labels.yml").read_text())["apps"]
_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:\\.|[^"\\])*)"\s*')
_LOGQL_FUNCS = {"sum", "count_over_time", "rate", "topk", "bytes_over_time", "by", "without"}


def _balanced(text: str) -> bool:
    depth = {"(": 0, "{": 0, "[": 0}
    closing = {")": "(", "}": "{", "]": "["}
    for char in re.sub(r'"(?:\\.|[^"\\])*"', '""', text):
        if char in depth:
            depth[char] += 1
        elif char in closing:
            depth[closing[char]] -= 1
            if depth[closing[char]] < 0:
                return False
    return not any(depth.values())


@pytest.mark.parametrize("query", LOGQL, ids=_id)
def test_logql_uses_only_labels_the_stack_ships(query: Query) -> None:
    """LogQL is balanced, its stream selectors name a shipped app and only that app's labels."""
    expr = query.expr
    if expr.startswith("label_values("):
        label = expr.removeprefix("label_values(").removesuffix(")")
        assert all(label in spec["labels"] for spec in _LOG_LABELS.values())
        return
    assert _balanced(expr), expr
    selectors = re.findall(r"\{([^{}]*)\}", re.sub(r'"(?:\\.|[^"\\])*"', _keep_braces, expr))
    assert selectors, expr
    for selector in selectors:
        matchers = dict((m[0], m[2]) for m in _MATCHER.findall(selector))
        assert ",".join(f"{k}" for k in matchers), selector
        assert matchers.get("app") in _LOG_LABELS, f"unknown app in {selector}"
        allowed = set(_LOG_LABELS[matchers["app"]]["labels"])
        assert set(matchers) <= allowed, (
            f"{set(matchers) - allowed} not pushed by {matchers['app']}"
        )
    words = set(re.findall(r"\b([a-z_]+)\s*\(", expr))
    assert words <= _LOGQL_FUNCS, words


def _keep_braces(match: re.Match[str]) -> str:
    return match.group().replace("{", "").replace("}", "")


_TRACEQL_ATTRS = {"resource.service.name", "status", "duration", "name", "kind"}


@pytest.mark.parametrize("query", TRACEQL, ids=_id)
def test_traceql_is_balanced_and_uses_known_attributes(query: Query) -> None:
    """TraceQL queries are balanced and filter on attributes Tempo and the services provide."""
    if query.expr == "serviceMap":
        return
    assert _balanced(query.expr), query.expr
    attrs = set(re.findall(r"([a-z_][\w.]*)\s*(?:=~|!=|=|>|<)", query.expr))
    assert attrs, query.expr
    assert attrs <= _TRACEQL_ATTRS, attrs - _TRACEQL_ATTRS
