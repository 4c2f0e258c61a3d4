"""Static checks of Grafana provisioning and the generated dashboards."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import yaml
from grafana_support import DATASOURCES, GRAFANA, ROOT, dashboard_files, provisioned_uids

from grafana.generator import build_dashboards, dashboard_path, iter_queries, render_json
from grafana.generator.panels import HEALTH_SCORE_LOW

ANGULAR = {"graph", "singlestat", "table-old", "grafana-piechart-panel", "grafana-worldmap-panel"}
RATIO_WORDS = re.compile(r"\bratio\b|availability|error rate|health score|uptime \(24h", re.I)


def _dashboards() -> list[dict[str, object]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in dashboard_files()]


def _panels(dashboard: dict[str, object]) -> list[dict[str, object]]:
    return list(dashboard["panels"])  # type: ignore[call-overload]


def test_committed_dashboards_match_the_generator() -> None:
    """Regenerating the dashboards yields exactly the committed JSON files, no more, no fewer."""
    expected = {dashboard_path(d): render_json(d) for d in build_dashboards()}
    committed = {path: path.read_text(encoding="utf-8") for path in dashboard_files()}
    assert set(committed) == set(expected), "run `python -m grafana.generator`"
    drifted = [str(p) for p, text in expected.items() if committed[p] != text]
    assert drifted == [], "run `python -m grafana.generator`"


def test_generator_check_mode_passes_on_the_committed_tree() -> None:
    """`python -m grafana.generator --check` exits 0 when the committed JSON is current."""
    result = subprocess.run(
        [sys.executable, "-m", "grafana.generator", "--check"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_there_are_eleven_dashboards_with_unique_uids() -> None:
    """The 3 provider dashboards and the 8 rebuilt seed dashboards exist, each with its own UID."""
    uids = [d["uid"] for d in _dashboards()]
    assert len(uids) == 11
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("path", list(dashboard_files()), ids=lambda p: p.stem)
def test_panel_ids_are_unique_per_dashboard(path: object) -> None:
    """No two panels of a dashboard share an id (Grafana would confuse links and edits)."""
    ids = [p["id"] for p in _panels(json.loads(path.read_text()))]  # type: ignore[attr-defined]
    assert len(ids) == len(set(ids))


def test_every_panel_and_target_uses_a_provisioned_datasource_uid() -> None:
    """Every panel, target and variable datasource UID is one the provisioning file defines."""
    defined = set(provisioned_uids().values())
    used: set[str] = set()
    for dashboard in _dashboards():
        for panel in _panels(dashboard):
            if panel["type"] == "row":
                continue
            used.add(panel["datasource"]["uid"])  # type: ignore[index]
            used.update(t["datasource"]["uid"] for t in panel["targets"])  # type: ignore[attr-defined]
        used.update(v["datasource"]["uid"] for v in dashboard["templating"]["list"])  # type: ignore[index]
    assert used, "no datasource references found"
    assert used <= defined, f"undefined datasource UIDs: {sorted(used - defined)}"


def test_provisioning_defines_the_three_fixed_uids() -> None:
    """Prometheus, Loki and Tempo are provisioned under the UIDs the stack has always used."""
    assert provisioned_uids() == {
        "prometheus": "grafana_prometheus",
        "loki": "grafana_loki",
        "tempo": "grafana_tempo",
    }


def test_provisioning_uses_only_variable_forms_grafana_expands() -> None:
    """Every `$` in provisioning is `$VAR`, `${VAR}` or an escaped `$$`, never `${VAR:-default}`."""
    for path in (GRAFANA / "provisioning").rglob("*.yml"):
        text = path.read_text(encoding="utf-8").replace("$$", "")
        for match in re.finditer(r"\$(\{[^}]*\}|\w+)", text):
            assert re.fullmatch(r"\{[A-Z_][A-Z0-9_]*\}|[A-Z_][A-Z0-9_]*", match.group(1)), (
                f"{path.name}: {match.group()} is not expanded by Grafana"
            )
    urls = {e["type"]: e["url"] for e in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    assert urls == {
        "prometheus": "${PROMETHEUS_URL}",
        "loki": "${LOKI_URL}",
        "tempo": "${TEMPO_URL}",
    }


def test_datasources_link_exemplars_traces_logs_and_service_map() -> None:
    """Exemplars lead to Tempo, traces lead to Loki, and the service map reads Prometheus."""
    entries = {e["type"]: e for e in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    uids = provisioned_uids()
    prom, tempo, loki = entries["prometheus"], entries["tempo"], entries["loki"]
    assert prom["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == uids["tempo"]
    assert tempo["jsonData"]["tracesToLogsV2"]["datasourceUid"] == uids["loki"]
    assert tempo["jsonData"]["serviceMap"]["datasourceUid"] == uids["prometheus"]
    assert tempo["jsonData"]["nodeGraph"]["enabled"] is True
    assert loki["jsonData"]["derivedFields"][0]["datasourceUid"] == uids["tempo"]


def test_dashboard_provider_loads_folders_from_the_dashboards_tree() -> None:
    """The dashboards provider maps sub-folders to Grafana folders at the path the image uses."""
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
    (provider,) = doc["providers"]
    assert provider["options"]["foldersFromFilesStructure"] is True
    dockerfile = (GRAFANA / "Dockerfile").read_text()
    assert f"COPY dashboards/ {provider['options']['path']}/" in dockerfile
    assert {p.parent.name for p in dashboard_files()} == {"Providers", "GatewayZ", "Platform"}


def test_dockerfile_pins_grafana_11_5_and_copies_exactly_the_provisioning() -> None:
    """The image is Grafana 11.5.2 and copies the two provisioning files and the dashboards only."""
    lines = (GRAFANA / "Dockerfile").read_text().splitlines()
    assert "FROM grafana/grafana:11.5.2" in lines
    sources = sorted(line.split()[1] for line in lines if line.startswith("COPY"))
    assert sources == [
        "dashboards/",
        "provisioning/dashboards/dashboards.yml",
        "provisioning/datasources/datasources.yml",
    ]


def test_no_angular_or_deprecated_panel_types() -> None:
    """No dashboard uses Angular-era panel types that Grafana 11 no longer renders."""
    types = {p["type"] for d in _dashboards() for p in _panels(d)}
    assert types & ANGULAR == set()
    assert types <= {"row", "stat", "timeseries", "table", "state-timeline", "heatmap",
                     "bargauge", "logs", "nodeGraph"}  # fmt: skip


def test_ratio_panels_are_percentunit_and_bounded_0_to_1() -> None:
    """Panels of 0-1 ratios (score, availability, error rate, uptime) use percentunit, max 1."""
    checked = 0
    for dashboard in _dashboards():
        for panel in _panels(dashboard):
            if panel["type"] in {"row", "logs", "table"} or not RATIO_WORDS.search(
                str(panel["title"])
            ):
                continue
            defaults = panel["fieldConfig"]["defaults"]  # type: ignore[index]
            assert defaults.get("unit") == "percentunit", panel["title"]
            if panel["type"] != "stat" or "max" in defaults:
                assert defaults.get("max") == 1, panel["title"]
            checked += 1
    assert checked >= 15


def test_latency_panels_are_in_seconds() -> None:
    """Panels about latency, duration or lag show seconds, never milliseconds or plain numbers."""
    words = re.compile(r"latency|duration|lag|time to first", re.I)
    for dashboard in _dashboards():
        for panel in _panels(dashboard):
            if panel["type"] in {"row", "table"} or not words.search(str(panel["title"])):
                continue
            assert panel["fieldConfig"]["defaults"].get("unit") == "s", panel["title"]  # type: ignore[index]


def test_health_score_red_threshold_matches_the_alert_rule() -> None:
    """Score panels turn red below the same score at which ProviderHealthScoreLow fires."""
    rules = yaml.safe_load((ROOT / "prometheus" / "rules" / "alerts.yml").read_text())
    (expr,) = [
        r["expr"] for g in rules["groups"] for r in g["rules"]
        if r.get("alert") == "ProviderHealthScoreLow"
    ]  # fmt: skip
    threshold = float(re.search(r"<\s*([0-9.]+)", expr).group(1))  # type: ignore[union-attr]
    assert threshold == HEALTH_SCORE_LOW
    seen = 0
    for dashboard in _dashboards():
        for panel in _panels(dashboard):
            if "health score" not in str(panel["title"]).lower():
                continue
            steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]  # type: ignore[index]
            assert steps[0]["color"] == "red", panel["title"]
            assert steps[1]["value"] == threshold, panel["title"]
            seen += 1
    assert seen >= 4


def test_every_query_is_listed_for_the_live_test() -> None:
    """iter_queries yields every panel target, variable and query annotation of every dashboard,
    with a datasource and a feed."""
    queries = list(iter_queries())
    targets = sum(
        len(p["targets"]) for d in _dashboards() for p in _panels(d) if p["type"] != "row"
    )
    variables = sum(len(d["templating"]["list"]) for d in _dashboards())
    annotations = sum(1 for d in _dashboards() for a in d["annotations"]["list"] if "expr" in a)
    assert annotations >= 2  # their status page, on Provider Health and Provider Detail
    assert len(queries) == targets + variables + annotations
    assert all(q.expr and q.feeds and q.datasource in {"prometheus", "loki", "tempo"}
               for q in queries)  # fmt: skip
