"""Providers' status pages, read by the real exporter process from scripted Statuspage-shaped
pages on loopback: their word on /metrics, in the API and on the page, beside (never inside)
our state; conditional requests; and every kind of bad or hanging page stopping nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.api.support import providers, wait_for_states
from tests.api.test_api_contract import validator
from tests.support import upstream as fake
from tests.support.process import ExporterProcess, Samples
from tests.support.status_pages import SUMMARY_PATH, ScriptedPage, incident, operational, summary
from tests.support.upstream import FakeUpstream

KEY = "status-pages-test-key-0123"


@asynccontextmanager
async def exporter_with_pages(
    behaviours: Mapping[str, fake.Behaviour],
    pages: Mapping[str, fake.Behaviour],
    **extra: str,
) -> AsyncIterator[tuple[ExporterProcess, FakeUpstream, FakeUpstream]]:
    """Run the exporter probing `behaviours` (slug -> model-list answer) with the status pages
    `pages` (slug -> summary.json answer), every page read each second."""
    upstream = await FakeUpstream().start()
    page_host = await FakeUpstream().start()
    env = {
        "PROVIDERS": ",".join(behaviours),
        "PROBE_INTERVAL_SECONDS": "0.5",
        "PROBE_TIMEOUT_SECONDS": "2",
        "STATUS_PAGES": "on",
        "STATUS_PAGE_POLL_SECONDS": "1",
        **extra,
    }
    for slug, behaviour in behaviours.items():
        upstream.set(slug, behaviour)
        prefix = slug.upper().replace("-", "_")
        env[f"{prefix}_API_KEY"] = KEY
        env[f"{prefix}_BASE_URL"] = upstream.base_url(slug)
        env[f"{prefix}_STATUS_PAGE_URL"] = "none"  # only the pages a test scripts
    for slug, page in pages.items():
        page_host.set(slug, page)
        env[f"{slug.upper().replace('-', '_')}_STATUS_PAGE_URL"] = (
            f"{page_host.base_url(slug)}/{SUMMARY_PATH}"
        )
    try:
        async with ExporterProcess(env) as exporter:
            yield exporter, upstream, page_host
    finally:
        await upstream.stop()
        await page_host.stop()


def indicator(samples: Samples, slug: str) -> str | None:
    """Return the official indicator exported for `slug`, or None when none is."""
    rows = samples.all("gatewayz_provider_official_indicator", provider=slug)
    current = [labels["indicator"] for labels, value in rows if value == 1]
    assert len(current) <= 1 and (not rows or len(rows) == 4), rows
    return current[0] if current else None


async def official(exporter: ExporterProcess, slug: str) -> dict[str, Any]:
    return (await providers(exporter))[slug]["official"]  # type: ignore[return-value]


async def test_indicator_change_shows_on_metrics_and_api_within_a_poll() -> None:
    """A page turning from operational to a major incident shows on /metrics and in the JSON
    API within one poll interval (1 s) plus a second; printed: the measured delay."""
    page = ScriptedPage(operational())
    async with exporter_with_pages({"openai": fake.ok()}, {"openai": page}) as (exporter, _, _):
        await exporter.wait_for(lambda m: indicator(m, "openai") == "none", timeout=10)
        page.set(
            summary("major", {"API": "major_outage"}, [incident("Errors", "major", time.time())])
        )
        changed = time.monotonic()
        waited, samples = await exporter.wait_for(
            lambda m: indicator(m, "openai") == "major", timeout=10
        )
        seen = await official(exporter, "openai")
        api_delay = time.monotonic() - changed
        print(f"indicator change seen on /metrics after {waited:.2f}s, in the API {api_delay:.2f}s")
        assert seen["indicator"] == "major" and seen["affected"] == ["API"]
        assert (
            samples.get("gatewayz_provider_official_incidents", provider="openai", impact="major")
            == 1
        )
        assert (
            samples.get(
                "gatewayz_provider_official_component_status",
                provider="openai",
                component="API",
                status="major_outage",
            )
            == 1
        )
        # the bound of the issue (one interval + 1 s), with room for a loaded machine
        assert waited < 2 * (1 + 1)


async def test_a_steady_page_is_transferred_once() -> None:
    """After the first poll every answer is 304 (ETag): no body crosses the wire until the page
    changes, and then the new page is read."""
    page = ScriptedPage(operational())
    async with exporter_with_pages({"groq": fake.ok()}, {"groq": page}) as (exporter, _, _):
        await exporter.wait_for(lambda m: indicator(m, "groq") == "none", timeout=10)
        while page.requests < 6:
            await asyncio.sleep(0.2)
        assert (page.bodies, page.not_modified) == (1, page.requests - 1)
        assert (await official(exporter, "groq"))["up"] is True
        page.set(summary("minor", {"API": "degraded_performance"}))
        await exporter.wait_for(lambda m: indicator(m, "groq") == "minor", timeout=10)
        assert page.bodies == 2


async def test_a_hanging_page_delays_no_probe_and_no_scrape() -> None:
    """A page that never answers times out on its own: probes stay on schedule, scrapes answer,
    and the page shows as down with reason timeout."""
    behaviours = {"openai": fake.ok(), "groq": fake.ok()}
    async with exporter_with_pages(behaviours, {"openai": fake.hang()}) as (exporter, _, _):
        _, samples = await exporter.wait_for(
            lambda m: (
                m.get(
                    "provider_exporter_status_page_errors_total",
                    provider="openai",
                    reason="timeout",
                )
                == 3
            ),
            timeout=20,
        )
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session:
            for _ in range(10):  # a scrape never waits for the page
                async with session.get(f"{exporter.url}/metrics") as response:
                    assert response.status == 200
        total = samples.get("provider_exporter_probe_lag_seconds_count")
        prompt = samples.get("provider_exporter_probe_lag_seconds_bucket", le="0.1")
        lowest = samples.get("provider_exporter_probe_lag_seconds_bucket", le="0.005")
        print(f"probe lag: {lowest}/{total} in the lowest bucket (5 ms), {prompt} within 100 ms")
        assert total is not None and total >= 20
        assert prompt == total  # a wait on the page would cost the 2 s timeout
        assert samples.get("provider_exporter_status_page_up", provider="openai") == 0
        assert indicator(samples, "openai") is None  # unread: no claim
        await wait_for_states(exporter, {"openai": "healthy", "groq": "healthy"}, timeout=10)


BAD_PAGES: dict[str, tuple[fake.Behaviour, str]] = {
    "openai": (fake.raw(b"<!doctype html><title>Status</title>", "text/html"), "not_json"),
    "groq": (fake.status(404, body=b"not found"), "http_status"),
    "together": (fake.huge(50 * 1024 * 1024), "too_large"),
    "fireworks": (fake.raw(b'{"status": {"indicator": "none"}, "components": [{'), "not_json"),
    "cerebras": (fake.raw(b'{"status": {"indicator": "apocalyptic"}}'), "unknown_indicator"),
    "xai": (
        fake.raw(
            json.dumps(summary("none", {f"c{i}": "operational" for i in range(2500)})).encode()
        ),
        "too_many_components",
    ),
    "deepseek": (fake.status(302, headers={"Location": "https://elsewhere.test/"}), "redirect"),
}


async def test_bad_pages_are_counted_logged_once_and_stop_nothing() -> None:
    """HTML, 404, 50 MB, cut JSON, an unknown indicator, 2500 components (within the body
    limit), a redirect: each page is `status_page_up 0` with its reason counted and one log
    line; probes, the other pages and the process carry on."""
    behaviours = {slug: fake.ok() for slug in (*BAD_PAGES, "moonshot")}
    pages = {slug: behaviour for slug, (behaviour, _) in BAD_PAGES.items()}
    pages["moonshot"] = ScriptedPage(operational())
    async with exporter_with_pages(behaviours, pages) as (exporter, _, _):

        def all_failed_twice(m: Samples) -> bool:
            return all(
                (m.get("provider_exporter_status_page_errors_total", provider=s, reason=r) or 0)
                >= 2
                for s, (_, r) in BAD_PAGES.items()
            )

        _, samples = await exporter.wait_for(all_failed_twice, timeout=30)
        for slug in BAD_PAGES:
            assert samples.get("provider_exporter_status_page_up", provider=slug) == 0, slug
            assert indicator(samples, slug) is None, slug
        assert samples.get("provider_exporter_status_page_up", provider="moonshot") == 1
        assert indicator(samples, "moonshot") == "none"
        await wait_for_states(exporter, dict.fromkeys(behaviours, "healthy"), timeout=10)
        found = await providers(exporter)
    log = exporter.output.decode()
    assert exporter.proc is not None and exporter.proc.returncode == 0
    assert "Traceback" not in log
    for slug, (_, reason) in BAD_PAGES.items():
        assert found[slug]["official"]["error"] == reason  # type: ignore[index]
        lines = [
            json.loads(line)
            for line in log.splitlines()
            if "status_page_unreadable" in line and f'"{slug}"' in line
        ]
        assert [(e["provider"], e["reason"]) for e in lines] == [(slug, reason)]


async def test_their_word_is_shown_beside_ours_and_never_changes_it() -> None:
    """Down for us while their page says operational, and healthy for us while they declare a
    major incident: both flagged in the API (valid per the OpenAPI document) and on the page
    (escaped); neither state nor score moves with their word."""
    title = "<script>alert('x')</script> API errors"
    major = summary("major", {"API": "major_outage"}, [incident(title, "major", time.time())])
    behaviours = {"openai": fake.status(500), "groq": fake.ok(), "together": fake.ok()}
    pages = {
        "openai": ScriptedPage(operational()),
        "groq": ScriptedPage(major),
        "together": ScriptedPage(operational()),
    }
    async with exporter_with_pages(behaviours, pages) as (exporter, _, _):
        states = {"openai": "down", "groq": "healthy", "together": "healthy"}
        await wait_for_states(exporter, states, timeout=20)
        await exporter.wait_for(lambda m: indicator(m, "groq") == "major", timeout=10)
        found = await wait_for_states(exporter, states, timeout=5)
        assert found["openai"]["official"]["disagreement"] == "down_they_say_operational"  # type: ignore[index]
        groq = found["groq"]
        assert groq["official"]["disagreement"] == "incident_we_see_healthy"  # type: ignore[index]
        assert groq["official"]["newest_incident"]["title"] == title  # type: ignore[index]
        assert groq["reason"] == "ok"
        assert groq["score"] == found["together"]["score"]  # their incident costs nothing
        assert found["together"]["official"]["disagreement"] is None  # type: ignore[index]
        _, _, document = await exporter.get("/api/v1/openapi.json")
        _, _, body = await exporter.get("/api/v1/providers")
        validator(json.loads(document), "ProviderList").validate(json.loads(body))
        _, _, html = await exporter.get("/")
    page = html.decode()
    assert 'data-disagreement="down_they_say_operational"' in page
    assert 'data-disagreement="incident_we_see_healthy"' in page
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
