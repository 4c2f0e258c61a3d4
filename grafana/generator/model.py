"""A small typed builder for Grafana 11.5 dashboards: dataclasses rendered to plain dicts.

Why not grafana-foundation-sdk: the only release on PyPI (``1769699998!10.1.0``) carries types for
Grafana 10.1, not 11.x, and is marked alpha; this project pins Grafana 11.5.2. The few panel types
used here are rendered directly, with the fields Grafana 11.5 writes itself, so the JSON is stable
and every key is visible in review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

GRAFANA_DIR = Path(__file__).resolve().parent.parent
DATASOURCES_FILE = GRAFANA_DIR / "provisioning" / "datasources" / "datasources.yml"
SCHEMA_VERSION = 40  # what Grafana 11.5 writes when it saves a dashboard
GRID_WIDTH = 24

# Where a query's data comes from; the live test proves only feeds the end-to-end run has.
EXPORTER = "exporter"
BACKEND = "backend"
REDIS = "redis_exporter"
PROMETHEUS = "prometheus"
RULES = "recording_rules"
TEMPO_METRICS = "tempo_metrics"
LOKI = "loki"
TEMPO = "tempo"

Json = dict[str, Any]


@cache
def datasource_uids() -> dict[str, str]:
    """Return the provisioned datasource UID for each datasource type, read from the one file."""
    document = yaml.safe_load(DATASOURCES_FILE.read_text(encoding="utf-8"))
    return {entry["type"]: entry["uid"] for entry in document["datasources"]}


def datasource(kind: str) -> Json:
    """Return a datasource reference for a provisioned type (prometheus, loki, tempo)."""
    return {"type": kind, "uid": datasource_uids()[kind]}


@dataclass(frozen=True)
class Target:
    """One query of a panel.

    ``feeds`` names the sources whose series the expression reads. ``may_be_empty`` is set only
    where an empty result is the correct answer (an alert list while nothing fires); it says why.
    """

    expr: str
    legend: str = ""
    feeds: tuple[str, ...] = (EXPORTER,)
    instant: bool = False
    fmt: str = "time_series"
    may_be_empty: str = ""

    @property
    def kind(self) -> str:
        """Return the datasource type this target queries."""
        if LOKI in self.feeds:
            return "loki"
        if TEMPO in self.feeds:
            return "tempo"
        return "prometheus"

    def render(self, ref_id: str) -> Json:
        """Render the target as Grafana stores it."""
        body: Json = {"datasource": datasource(self.kind), "refId": ref_id}
        if self.kind == "tempo":
            if self.expr == "serviceMap":
                body["queryType"] = "serviceMap"
            else:
                body.update(queryType="traceql", query=self.expr, limit=20, tableType="traces")
            return body
        body.update(expr=self.expr, legendFormat=self.legend or "__auto")
        if self.kind == "loki":
            body["queryType"] = "range"
            return body
        body.update(
            editorMode="code",
            format=self.fmt,
            instant=self.instant,
            range=not self.instant,
        )
        return body


@dataclass(frozen=True)
class Panel:
    """A visualisation: type, title, targets and the field config that gives it units."""

    type: str
    title: str
    targets: tuple[Target, ...]
    description: str = ""
    unit: str = ""
    width: int = 8
    height: int = 8
    min: float | None = None
    max: float | None = None
    thresholds: tuple[tuple[str, float | None], ...] = (("green", None),)
    mappings: tuple[Json, ...] = ()
    options: Json = field(default_factory=dict)
    custom: Json = field(default_factory=dict)
    overrides: tuple[Json, ...] = ()
    transformations: tuple[Json, ...] = ()

    def render(self, panel_id: int, x: int, y: int) -> Json:
        """Render the panel at a grid position."""
        defaults: Json = {
            "custom": dict(self.custom),
            "mappings": list(self.mappings),
            "thresholds": {
                "mode": "absolute",
                "steps": [{"color": color, "value": value} for color, value in self.thresholds],
            },
        }
        if self.unit:
            defaults["unit"] = self.unit
        if self.min is not None:
            defaults["min"] = self.min
        if self.max is not None:
            defaults["max"] = self.max
        kinds = {target.kind for target in self.targets}
        panel_ds = datasource(kinds.pop()) if len(kinds) == 1 else datasource("prometheus")
        refs = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        return {
            "id": panel_id,
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "datasource": panel_ds,
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "fieldConfig": {"defaults": defaults, "overrides": list(self.overrides)},
            "options": dict(self.options),
            "targets": [t.render(refs[i]) for i, t in enumerate(self.targets)],
            "transformations": list(self.transformations),
        }


@dataclass(frozen=True)
class Row:
    """A row header; the panels after it belong to it."""

    title: str


Items = tuple[Row | Panel, ...]  # what a dashboard shows, in order: row headers and panels


@dataclass(frozen=True)
class Variable:
    """A query variable (``label_values(...)``) on Prometheus or Loki."""

    name: str
    label: str
    query: str
    kind: str = "prometheus"
    multi: bool = True
    include_all: bool = True
    feeds: tuple[str, ...] = (EXPORTER,)

    def render(self) -> Json:
        """Render the variable as Grafana stores it."""
        if self.kind == "loki":
            label = self.query.removeprefix("label_values(").removesuffix(")")
            query: Json = {
                "type": 1,  # LokiVariableQueryType.LabelValues
                "label": label,
                "refId": "LokiVariableQueryEditor-VariableQuery",
            }
        else:
            query = {
                "qryType": 1,
                "query": self.query,
                "refId": "PrometheusVariableQueryEditor-VariableQuery",
            }
        body: Json = {
            "name": self.name,
            "label": self.label,
            "type": "query",
            "datasource": datasource(self.kind),
            "definition": self.query,
            "query": query,
            "refresh": 2,
            "sort": 1,
            "multi": self.multi,
            "includeAll": self.include_all,
            "current": {},
            "options": [],
            "hide": 0,
            "regex": "",
        }
        if self.include_all:
            body["allValue"] = ".*"
        return body


@dataclass(frozen=True)
class Annotation:
    """A Prometheus query whose series mark time regions on every panel of a dashboard."""

    name: str
    expr: str
    title: str  # Grafana's titleFormat: {{label}} placeholders
    colour: str = "orange"
    feeds: tuple[str, ...] = (EXPORTER,)

    def render(self) -> Json:
        return {
            "datasource": datasource("prometheus"),
            "enable": True,
            "hide": False,
            "expr": self.expr,
            "iconColor": self.colour,
            "name": self.name,
            "step": "60s",
            "titleFormat": self.title,
            "tagKeys": "provider",
            "useValueForTime": False,
        }


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: identity, folder, variables and an ordered list of rows and panels."""

    uid: str
    title: str
    folder: str
    description: str
    items: Items
    variables: tuple[Variable, ...] = ()
    tags: tuple[str, ...] = ()
    time_from: str = "now-6h"
    refresh: str = "30s"
    annotations: tuple[Annotation, ...] = ()

    def panels(self) -> list[tuple[int, Panel]]:
        """Return the (id, panel) pairs in render order; rows take ids too."""
        numbered: list[tuple[int, Panel]] = []
        for panel_id, item in enumerate(self.items, start=1):
            if isinstance(item, Panel):
                numbered.append((panel_id, item))
        return numbered

    def render(self) -> Json:
        """Render the dashboard; ids and positions follow the item order, so output is stable."""
        rendered: list[Json] = []
        x = y = row_height = 0
        for panel_id, item in enumerate(self.items, start=1):
            if isinstance(item, Row):
                y += row_height if x else 0
                x = row_height = 0
                rendered.append(_row(panel_id, item.title, y))
                y += 1
                continue
            if x + item.width > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            rendered.append(item.render(panel_id, x, y))
            x += item.width
            row_height = max(row_height, item.height)
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "editable": False,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "timezone": "utc",
            "timepicker": {},
            "links": [],
            "annotations": {
                "list": [_builtin_annotation(), *(a.render() for a in self.annotations)]
            },
            "templating": {"list": [v.render() for v in self.variables]},
            "panels": rendered,
        }


def _row(panel_id: int, title: str, y: int) -> Json:
    return {
        "id": panel_id,
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
        "panels": [],
    }


def _builtin_annotation() -> Json:
    return {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }
