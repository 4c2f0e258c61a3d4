"""Generate the Grafana dashboards from code, and list every query they run.

Run ``python -m grafana.generator`` from the repository root to rewrite
``grafana/dashboards/<folder>/<uid>.json``; ``--check`` exits 1 when the committed JSON differs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from grafana.generator import backend, platform, providers
from grafana.generator.model import GRAFANA_DIR, Dashboard

DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"

BUILDERS: tuple[Callable[[], Dashboard], ...] = (
    providers.provider_health,
    providers.provider_detail,
    providers.provider_exporter,
    backend.fastapi,
    backend.model_health,
    backend.application_health,
    backend.backend_metrics,
    platform.redis_services,
    platform.loki_logs,
    platform.prometheus,
    platform.tempo_tracing,
)

# Values a test substitutes for Grafana's variables before sending an expression to Prometheus.
DEFAULT_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__auto": "30s",
    "__range": "1h",
    "environment": ".*",
    "env": ".*",
    "provider": "openai",
    "service": ".*",
    "vantage": ".*",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


@dataclass(frozen=True)
class Query:
    """One query of one dashboard: a panel target, a variable's query (``panel_id`` 0) or an
    annotation's (``panel_id`` -1)."""

    dashboard_uid: str
    panel_id: int
    panel_title: str
    datasource: str
    expr: str
    feeds: tuple[str, ...]
    may_be_empty: str = ""


def build_dashboards() -> list[Dashboard]:
    """Build every dashboard model, in a fixed order."""
    return [build() for build in BUILDERS]


def dashboard_path(dashboard: Dashboard) -> Path:
    """Return where a dashboard's JSON lives: one sub-folder per Grafana folder."""
    return DASHBOARDS_DIR / dashboard.folder / f"{dashboard.uid}.json"


def render_json(dashboard: Dashboard) -> str:
    """Render a dashboard as deterministic JSON text (sorted keys, trailing newline)."""
    return json.dumps(dashboard.render(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_dashboards() -> list[Path]:
    """Write every dashboard's JSON and remove stale generated files; return the paths written."""
    written = []
    for dashboard in build_dashboards():
        path = dashboard_path(dashboard)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_json(dashboard), encoding="utf-8")
        written.append(path)
    for stale in set(DASHBOARDS_DIR.rglob("*.json")) - set(written):
        stale.unlink()
    return written


def iter_queries() -> Iterator[Query]:
    """Yield every (dashboard, panel, expression) the dashboards run, variables included."""
    for dashboard in build_dashboards():
        for variable in dashboard.variables:
            yield Query(
                dashboard.uid, 0, f"${variable.name}", variable.kind, variable.query, variable.feeds
            )
        for annotation in dashboard.annotations:
            yield Query(
                dashboard.uid,
                -1,
                f"annotation {annotation.name}",
                "prometheus",
                annotation.expr,
                annotation.feeds,
            )
        for panel_id, panel in dashboard.panels():
            for target in panel.targets:
                yield Query(
                    dashboard.uid,
                    panel_id,
                    panel.title,
                    target.kind,
                    target.expr,
                    target.feeds,
                    target.may_be_empty,
                )


def substitute_variables(expr: str, values: dict[str, str] | None = None) -> str:
    """Replace Grafana variables (``$x``, ``${x}``, ``[[x]]``) with concrete values.

    Raises KeyError for a variable with no value, so an unknown variable cannot slip through.
    """
    table = DEFAULT_VARIABLES | (values or {})

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        return table[name]

    return _VARIABLE.sub(replace, expr)
