"""promtool accepts the rendered config and every rule file, and the rule unit tests pass."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.prometheus.support import (
    CONTRACT_ALERTS,
    CONTRACT_MODEL_RECORDS,
    CONTRACT_RECORDS,
    PROMTOOL_TESTS_DIR,
    REPO,
    RULES_DIR,
    RUNBOOK,
    alert_rules,
    recording_rules,
    render_prometheus,
    run,
    tool,
)

RULE_FILES = [
    *sorted(RULES_DIR.glob("*.yml")),
    *sorted((PROMTOOL_TESTS_DIR / "fixtures").glob("*.yml")),
]
UNIT_TEST_FILES = sorted(PROMTOOL_TESTS_DIR.glob("*_test.yml"))


def _ids(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_rendered_config_passes_promtool_check_config(tmp_path: Path) -> None:
    """`promtool check config` accepts the config the entrypoint renders, rule files included."""
    rendered = render_prometheus(
        tmp_path,
        GATEWAYZ_PRODUCTION_TARGET="api.gatewayz.ai:443",
        GATEWAYZ_STAGING_TARGET="gatewayz-staging.up.railway.app:443",
        GATEWAYZ_METRICS_TOKEN="not-a-real-token",
    )
    assert rendered.returncode == 0, rendered.stderr
    result = run(tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # The rule files are found through the rendered rule_files glob, not skipped.
    assert result.stdout.count("rules found") == len(sorted(RULES_DIR.glob("*.yml")))


def test_default_render_passes_promtool_check_config(tmp_path: Path) -> None:
    """With no variables set (a local stack) the rendered config is still valid."""
    rendered = render_prometheus(tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    result = run(tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=_ids)
def test_rule_file_passes_promtool_check_rules(rule_file: Path) -> None:
    """`promtool check rules` (with its linter) accepts every rule file."""
    result = run(tool("promtool"), "check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("test_file", UNIT_TEST_FILES, ids=_ids)
def test_promtool_unit_tests_pass(test_file: Path) -> None:
    """Every `promtool test rules` file passes: alerts fire and stay silent when documented."""
    result = run(tool("promtool"), "test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _alert_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in UNIT_TEST_FILES:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in loaded["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


@pytest.mark.parametrize("alertname", CONTRACT_ALERTS)
def test_every_alert_has_a_firing_and_a_silent_unit_test(alertname: str) -> None:
    """Each contract alert has at least one unit-test case where it fires and one where it
    is silent."""
    cases = [case for case in _alert_cases() if case["alertname"] == alertname]
    assert any(case["exp_alerts"] for case in cases), f"{alertname}: no firing case"
    assert any(not case["exp_alerts"] for case in cases), f"{alertname}: no silent case"


def test_alert_names_are_exactly_the_contract() -> None:
    """alerts.yml defines the contract's alert names and no others."""
    assert {rule["alert"] for rule in alert_rules()} == set(CONTRACT_ALERTS)


def test_recording_rules_include_the_contract_names() -> None:
    """recording.yml records every series name the dashboards rely on."""
    recorded = {rule["record"] for rule in recording_rules()}
    assert set(CONTRACT_RECORDS) <= recorded
    assert set(CONTRACT_MODEL_RECORDS) <= recorded


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_carries_severity_summary_description_and_runbook(rule: dict[str, Any]) -> None:
    """Every alert has a severity, a summary, a description naming the provider (or exporter
    instance) and the current value, and a runbook anchor that exists in docs/runbook.md."""
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}  # info: issue 16
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    description = annotations["description"]
    assert "$value" in description
    assert "$labels.provider" in description or rule["alert"].startswith("ProviderExporter")
    runbook = annotations["runbook"]
    assert runbook.startswith("docs/runbook.md#")
    headings = {
        re.sub(r"[^a-z0-9-]", "", line.lstrip("#").strip().lower().replace(" ", "-"))
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    assert runbook.split("#", 1)[1] in headings
