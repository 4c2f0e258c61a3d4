"""The status page in headless Chromium (Debian's), driven by Playwright, from a running demo."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.api.support import wait_for_states
from tests.support.process import ExporterProcess

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TOKEN = "status-page-browser-token-0123"
# The demo's providers whose state does not depend on timing (flaky and outage wander).
SETTLED = {
    "demo-healthy": "healthy",
    "demo-slow": "degraded",
    "demo-ratelimited": "degraded",
    "demo-keyrefused": "unconfigured",
    "demo-listonly": "down",  # its model list answers; every completion fails
    "demo-nokey": "unconfigured",
}
DEMO = (*SETTLED, "demo-flaky", "demo-outage")

pytestmark = pytest.mark.slow


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, launched by Playwright (no browser download)."""
    assert CHROMIUM.exists(), "Chromium missing: run scripts/system-deps.sh (Debian `chromium`)"
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def shown_states(page: Page) -> dict[str, str]:
    """Return provider -> the state text on its card's badge, as rendered."""
    cards = page.locator("article.card")
    states = {}
    for i in range(await cards.count()):
        card = cards.nth(i)
        slug = await card.get_attribute("data-provider")
        assert slug is not None
        states[slug] = (await card.locator("[data-role=state]").inner_text()).strip()
    return states


async def api_states(exporter: ExporterProcess, query: str = "") -> dict[str, str]:
    code, _, body = await exporter.get(f"/api/v1/providers{query}")
    assert code == 200, body
    return {p["slug"]: p["state"] for p in json.loads(body)["providers"]}


async def wait_for_official(
    exporter: ExporterProcess, slug: str, disagreement: str, timeout: float = 30
) -> None:
    """Wait until the API shows `slug`'s status page read, with the given disagreement."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        code, _, body = await exporter.get(f"/api/v1/providers/{slug}")
        official = json.loads(body)["official"] if code == 200 else None
        if official and official["disagreement"] == disagreement:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{slug}: official disagreement {disagreement} not seen in {timeout}s")


async def load_consistent(page: Page, exporter: ExporterProcess, query: str = "") -> dict[str, str]:
    """Load the page between two identical API answers (the demo moves); return its states."""
    for _ in range(5):
        before = await api_states(exporter, query)
        response = await page.goto(f"{exporter.url}/{query}")
        assert response is not None and response.status == 200
        after = await api_states(exporter, query)
        if before == after:
            shown = await shown_states(page)
            assert shown == before
            return shown
    raise AssertionError("the demo's states kept changing while the page loaded")


async def test_page_shows_every_demo_provider_with_its_state(browser: Browser) -> None:
    """Without JavaScript, every demo provider is on the page with the state the API reports."""
    env = {"PROBE_INTERVAL_SECONDS": "1", "STATUS_PAGES": "on"}
    async with ExporterProcess(env, args=("demo",)) as exporter:
        await wait_for_states(exporter, SETTLED, timeout=60)
        await wait_for_official(exporter, "demo-healthy", "incident_we_see_healthy")
        context = await browser.new_context(
            java_script_enabled=False, viewport={"width": 1280, "height": 900}
        )
        page = await context.new_page()
        shown = await load_consistent(page, exporter)
        assert set(shown) == set(DEMO)
        for slug, state in SETTLED.items():
            assert shown[slug] == state
        assert await page.title() == "Provider status"
        assert await page.locator(".legend dt").count() == 5
        # their word beside ours: the demo's healthy provider has an incident on its own page
        healthy = page.locator("#provider-demo-healthy")
        note = healthy.locator("[data-disagreement=incident_we_see_healthy]")
        assert await note.is_visible()
        assert "Their status page reports minor issues" in await note.inner_text()
        assert await healthy.locator("[data-role=official]").inner_text() == "minor issues"
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "status-page.png", full_page=True)
        await context.close()
    assert (ARTIFACTS / "status-page.png").stat().st_size > 10_000


async def test_page_fits_a_phone(browser: Browser) -> None:
    """On a 390 px wide phone screen, cards stack in one column and nothing scrolls sideways."""
    async with ExporterProcess({"PROBE_INTERVAL_SECONDS": "1"}, args=("demo",)) as exporter:
        await wait_for_states(exporter, {"demo-healthy": "healthy"}, timeout=30)
        context = await browser.new_context(
            viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
        )
        page = await context.new_page()
        await page.goto(f"{exporter.url}/")
        width = await page.evaluate("document.documentElement.scrollWidth")
        boxes = [await card.bounding_box() for card in await page.locator("article.card").all()]
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / "status-page-phone.png")
        await context.close()
    assert width <= 390
    assert len(boxes) == len(DEMO)
    assert len({round(box["x"]) for box in boxes if box is not None}) == 1


async def test_page_behind_a_token_keeps_refreshing(browser: Browser) -> None:
    """With METRICS_AUTH_TOKEN, `/?token=` shows the page, and its self-refresh still gets in."""
    env = {"PROBE_INTERVAL_SECONDS": "1", "METRICS_AUTH_TOKEN": TOKEN}
    async with ExporterProcess(env, args=("demo",)) as exporter:
        context = await browser.new_context(java_script_enabled=False)
        page = await context.new_page()
        denied = await page.goto(f"{exporter.url}/")
        assert denied is not None and denied.status == 401
        assert "Token needed" in await page.content()
        query = f"?token={TOKEN}"
        await load_consistent(page, exporter, query)
        # The page's meta refresh (every 15 s) reloads the same URL, token included.
        # Wait for the navigation itself (committed and loaded), not just its response, so the
        # cards counted below are the refreshed document's.
        async with page.expect_navigation(timeout=25_000) as refreshed:
            pass
        response = await refreshed.value
        assert response is not None
        assert response.status == 200 and response.url.endswith(f"/{query}")
        assert await page.locator("article.card").count() == len(DEMO)
        async with page.expect_navigation() as followed:
            await page.get_by_role("link", name="JSON").click()
        link = await followed.value
        assert link is not None and link.status == 200
        assert set(json.loads(await link.body())) >= {"providers", "states"}
        await context.close()
