"""The server-rendered status page against the real app serving a hand-built snapshot."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.api.support import serve


class Cards(HTMLParser):
    """Collect each provider card's slug, state and text from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: dict[str, dict[str, str]] = {}
        self._current: str | None = None
        self._depth = 0
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if tag == "article" and found.get("data-provider"):
            slug = found["data-provider"] or ""
            self._current = slug
            self.cards[slug] = {"state": found.get("data-state") or "", "text": ""}
        if self._current is not None and tag == "article":
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._current is not None and tag == "article":
            self._depth -= 1
            if self._depth == 0:
                self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.cards[self._current]["text"] += data


async def page() -> tuple[str, dict[str, str]]:
    async with serve() as client:
        response = await client.get("/")
        assert response.status == 200
        return await response.text(), dict(response.headers)


async def test_every_provider_has_a_card_with_its_state() -> None:
    """Each provider in the snapshot appears once, worst first, coloured by its state."""
    html, headers = await page()
    parser = Cards()
    parser.feed(html)
    assert list(parser.cards) == ["groq", "openai", "fireworks"]
    assert {slug: c["state"] for slug, c in parser.cards.items()} == {
        "groq": "down",
        "openai": "healthy",
        "fireworks": "unconfigured",
    }
    assert 'class="card down"' in html
    assert headers["Content-Type"] == "text/html; charset=utf-8"


async def test_page_is_self_contained_and_refreshes_itself() -> None:
    """The page has no script and no external resource, and reloads itself via meta refresh."""
    html, headers = await page()
    parser = Cards()
    parser.feed(html)
    assert "script" not in parser.tags
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert '<meta http-equiv="refresh" content="15">' in html
    assert 'name="viewport"' in html
    assert "default-src 'none'" in headers["Content-Security-Policy"]


async def test_card_shows_numbers_and_failure_reason() -> None:
    """A card shows score, truncated availability, p95, the last failure in words and models."""
    html, _ = await page()
    parser = Cards()
    parser.feed(html)
    openai = parser.cards["openai"]["text"]
    assert "0.97" in openai
    assert "99.9 %" in openai  # 0.9996 truncated, never rounded up to 100 %
    assert "400 ms" in openai
    assert "server error (5xx)" in openai
    assert "gpt-5: 0.0 %" in openai
    groq = parser.cards["groq"]["text"]
    assert "server error (503)" in groq
    assert "0.0 %" in groq


async def test_no_data_is_a_dash_not_a_number() -> None:
    """A provider without data shows dashes and 'never', no percentage and no score."""
    html, _ = await page()
    parser = Cards()
    parser.feed(html)
    fireworks = parser.cards["fireworks"]["text"]
    assert "%" not in fireworks
    assert fireworks.count("—") == 5
    assert "never" in fireworks
    assert "no API key configured" in fireworks


async def test_sparkline_is_inline_svg_of_the_hour() -> None:
    """Each card carries an inline SVG with one bar per minute of the last hour."""
    html, _ = await page()
    groq = html[html.index('id="provider-groq"') : html.index('id="provider-openai"')]
    assert groq.count("<svg") == 1
    assert groq.count("<rect") == 60
    assert groq.count('class="bad"') == 10 and groq.count('class="gap"') == 50


async def test_model_names_are_escaped() -> None:
    """Text from configuration (model names) is HTML-escaped, never markup."""
    html, _ = await page()
    assert "<img src=x>" not in html
    assert "&lt;img src=x&gt;" in html


async def test_legend_explains_every_state() -> None:
    """The page explains what each of the five states means."""
    html, _ = await page()
    legend = html[html.index('class="legend"') :]
    for state in ("healthy", "degraded", "down", "unknown", "unconfigured"):
        assert f'class="pill {state}">{state}<' in legend
