"""End to end: a real Prometheus (Debian 2.42) with the project's config and rules, scraping the
real exporter probing a fake upstream, the backend fixture (HTTPS + bearer) and redis_exporter.

Prometheus runs through prometheus/entrypoint.sh. Changed in temporary copies, for speed only:
scrape and evaluation intervals 1 s (were 15 s), rule-group intervals 1 s (were 1m/2m), the
`prometheus` job's own target moved to its loopback port, and the backend jobs trust the test's
throwaway CA (`tls_config.ca_file`). Rule expressions and `for:` durations are the real ones.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request

import pytest

from grafana.generator import iter_queries, substitute_variables
from tests.e2e.stack import (
    BREAKER_OPEN_PROVIDER,
    DOWN_PROVIDER,
    ENVIRONMENT,
    LEAD_TIME_PROVIDER,
    PROVIDERS,
    Stack,
    wait_until,
)
from tests.prometheus.support import CONTRACT_ALERTS, CONTRACT_RECORDS, REPO
from tests.support import upstream as fake
from tests.support.status_pages import incident, operational, summary

ARTIFACTS = REPO / "artifacts"
# Series the SLO alerts read besides the contract ratios.
SLO_RECORDS = ("provider:availability_slo:target", "provider:availability_slo:error_budget_ratio")


def _providers_with(stack: Stack, expr: str) -> set[str]:
    return {r["metric"].get("provider", "") for r in stack.prometheus.query(expr)}


@pytest.mark.slow
def test_every_job_is_scraped_and_the_backend_token_is_checked(stack: Stack) -> None:
    """Every job is up, the backend fixture saw only requests carrying the planted token, and
    the same endpoint refuses a request without it."""
    targets = stack.prometheus.api("/api/v1/targets")["activeTargets"]
    health = {(t["labels"]["job"], t["health"]) for t in targets}
    assert ("provider_exporter", "up") in health
    assert {job for job, state in health if state != "up"} == set()
    exporter = [t for t in targets if t["labels"]["job"] == "provider_exporter"]
    assert exporter[0]["labels"]["environment"] == ENVIRONMENT
    backend = [t for t in targets if t["labels"]["job"].startswith("gatewayz_")]
    assert {t["scrapeUrl"].split(":")[0] for t in backend} == {"https"}
    assert stack.backend.authorized >= 2
    assert stack.backend.refused == 0
    context = ssl.create_default_context(cafile=str(stack.ca_file))
    request = urllib.request.Request(f"https://{stack.backend.target}/metrics")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5, context=context)
    refused.value.close()
    assert refused.value.code == 401


@pytest.mark.slow
def test_every_contract_record_has_series_per_provider(stack: Stack) -> None:
    """Every contract recording rule, long windows included, has a series for each probed
    provider (gateway ratios for the providers the backend reports), with ratios in 0-1."""

    def missing() -> dict[str, set[str]]:
        gaps = {}
        for record in (*CONTRACT_RECORDS, *SLO_RECORDS):
            expected = (
                {"openai", "groq"}
                if record.startswith("provider:gateway_error")
                else set(PROVIDERS)
            )
            gaps[record] = expected - _providers_with(stack, record)
        return {name: gap for name, gap in gaps.items() if gap}

    started = time.monotonic()
    try:
        wait_until(lambda: not missing(), 45, "a series of every record for every provider")
    except AssertionError:
        raise AssertionError(f"records still missing series: {missing()}") from None
    print(f"\nevery record had its series {time.monotonic() - started:.1f}s into the test")
    for record in CONTRACT_RECORDS:
        for sample in stack.prometheus.query(record):
            assert 0 <= float(sample["value"][1]) <= 1, (record, sample)
            assert sample["metric"]["environment"] == ENVIRONMENT or record.startswith(
                "provider:gateway_error"
            )
    (openai,) = stack.prometheus.query('provider:availability:ratio_rate5m{provider="openai"}')
    assert float(openai["value"][1]) == 1
    (target,) = stack.prometheus.query('provider:availability_slo:target{provider="openai"}')
    assert float(target["value"][1]) == 0.995


@pytest.mark.slow
def test_every_rule_evaluates_without_error(stack: Stack) -> None:
    """/api/v1/rules lists every contract alert and each rule's last evaluation is healthy."""

    def evaluated() -> bool:
        return all(r["health"] != "unknown" for r in stack.prometheus.rules())

    wait_until(evaluated, 20, "a first evaluation of every rule group")
    rules = stack.prometheus.rules()
    assert {r["name"] for r in rules if r["type"] == "alerting"} == set(CONTRACT_ALERTS)
    failing = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert failing == {}


@pytest.mark.slow
def test_open_breaker_makes_its_alert_pending(stack: Stack) -> None:
    """The breaker written as open in Redis puts ProviderCircuitBreakerOpen in pending (for: 5m)
    for that provider only."""
    alerts = wait_until(
        lambda: stack.prometheus.alerts("ProviderCircuitBreakerOpen"),
        20,
        "ProviderCircuitBreakerOpen pending",
    )
    assert [(a["labels"]["provider"], a["state"]) for a in alerts] == [
        (BREAKER_OPEN_PROVIDER, "pending")
    ]
    assert alerts[0]["labels"]["severity"] == "warning"
    assert alerts[0]["labels"]["environment"] == ENVIRONMENT


def _alert_panel_queries() -> list[str]:
    """The dashboards' alert-list queries (allowed to be empty), for the provider taken down."""
    values = {"environment": ENVIRONMENT, "provider": DOWN_PROVIDER}
    return [
        substitute_variables(q.expr, values)
        for q in iter_queries()
        if q.may_be_empty and "ALERTS" in q.expr
    ]


def _down_state(stack: Stack) -> str | None:
    alerts = [
        a
        for a in stack.prometheus.alerts("ProviderDown")
        if a["labels"]["provider"] == DOWN_PROVIDER
    ]
    return alerts[0]["state"] if alerts else None


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_provider_down_goes_pending_then_firing_and_resolves(stack: Stack) -> None:
    """A provider answering 503 puts ProviderDown in pending, then firing after the real
    for: 1m, and the alert is gone soon after the provider recovers; the times are printed."""
    assert _down_state(stack) is None
    stack.set_upstream(DOWN_PROVIDER, fake.status(503))
    fault = time.monotonic()
    wait_until(lambda: _down_state(stack) is not None, 30, "ProviderDown pending")
    pending = time.monotonic() - fault
    wait_until(lambda: _down_state(stack) == "firing", 100, "ProviderDown firing")
    firing = time.monotonic() - fault
    (alert,) = [
        a
        for a in stack.prometheus.alerts("ProviderDown")
        if a["labels"]["provider"] == DOWN_PROVIDER
    ]
    others = {a["labels"]["provider"] for a in stack.prometheus.alerts("ProviderDown")}
    shown = {expr: stack.prometheus.query(expr) for expr in _alert_panel_queries()}
    stack.set_upstream(DOWN_PROVIDER, fake.ok(("model-a", "model-b")))
    recovery = time.monotonic()
    wait_until(lambda: _down_state(stack) is None, 30, "ProviderDown resolved")
    resolved = time.monotonic() - recovery
    times = {
        "alert": "ProviderDown",
        "probe_interval_seconds": 1,
        "scrape_and_evaluation_interval_seconds": 1,
        "fault_to_pending_seconds": round(pending, 1),
        "fault_to_firing_seconds": round(firing, 1),
        "recovery_to_resolved_seconds": round(resolved, 1),
    }
    print("\n" + json.dumps(times))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "e2e-alert-times.json").write_text(json.dumps(times, indent=2) + "\n")
    assert others == {DOWN_PROVIDER}
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["environment"] == ENVIRONMENT
    assert alert["annotations"]["runbook"] == "docs/runbook.md#providerdown"
    assert firing - pending >= 59  # the real `for: 1m`, not shortened
    # The dashboards' alert-list panels (empty while nothing fires) show it while it fires.
    assert shown and all(
        {r["metric"]["alertname"] for r in result} == {"ProviderDown"} for result in shown.values()
    ), shown
    assert firing < pending + 65


INCIDENT_DELAY = 20.0  # seconds between the provider failing and its page declaring it


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_lead_time_of_our_down_over_their_declaration(stack: Stack) -> None:
    """The provider fails; its page declares a major incident 20 s later. The lead-time record
    gives 20 s minus our own detection time (a second or two at a 1 s interval), within 3 s;
    ProviderOfficialIncident goes pending; the figures are printed."""
    slug = LEAD_TIME_PROVIDER
    down = f'gatewayz_provider_status{{provider="{slug}", status="down"}} == 1'
    record = f'provider:official_lead_time:seconds{{provider="{slug}"}}'
    stack.set_upstream(slug, fake.status(503))
    failed_at = time.time()
    try:
        wait_until(lambda: stack.prometheus.query(down), 30, f"{slug} down in Prometheus")
        time.sleep(max(0.0, failed_at + INCIDENT_DELAY - time.time()))
        declared = time.time()
        outage = incident("Elevated error rates", "major", declared, ["API"])
        stack.set_page(slug, summary("major", {"API": "major_outage"}, [outage]))
        (sample,) = wait_until(lambda: stack.prometheus.query(record), 30, "lead-time record")
        lead = float(sample["value"][1])
        pending = wait_until(
            lambda: [
                a
                for a in stack.prometheus.alerts("ProviderOfficialIncident")
                if a["labels"]["provider"] == slug
            ],
            30,
            "ProviderOfficialIncident pending",
        )
    finally:
        stack.set_upstream(slug, fake.ok(("model-a", "model-b")))
        stack.set_page(slug, operational())
    print(
        f"\nlead time {lead:.1f} s for an incident declared {INCIDENT_DELAY:.0f} s after the fault"
    )
    labels = {k: v for k, v in sample["metric"].items() if k != "__name__"}
    assert labels == {"environment": ENVIRONMENT, "provider": slug}
    assert abs(lead - INCIDENT_DELAY) <= 3
    assert pending[0]["state"] == "pending" and pending[0]["labels"]["severity"] == "warning"
    wait_until(
        lambda: (
            not stack.prometheus.query(down)
            and not [
                a
                for a in stack.prometheus.alerts("ProviderDown")
                if a["labels"]["provider"] == slug
            ]
        ),
        60,
        f"{slug} recovered and ProviderDown cleared",
    )
