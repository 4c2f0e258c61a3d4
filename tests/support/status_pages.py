"""Scripted status pages for tests: Statuspage-shaped summary.json documents served by a
FakeUpstream (one provider per path), with ETag/304 and counts of what was sent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from exporter.demo_pages import incident, page_response, summary

__all__ = ["ScriptedPage", "incident", "summary"]

SUMMARY_PATH = "api/v2/summary.json"


class ScriptedPage:
    """A page whose document a test replaces; a matching If-None-Match gets 304 and no body."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self.requests = 0
        self.bodies = 0  # 200 answers, each with the whole document
        self.not_modified = 0

    def set(self, document: Mapping[str, Any]) -> None:
        self.document = document

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        response = page_response(request, self.document)
        if response.status == 304:
            self.not_modified += 1
        else:
            self.bodies += 1
        return response


def operational(*components: str) -> dict[str, Any]:
    """Return an all-operational summary of `components` (default one: API)."""
    return summary("none", dict.fromkeys(components or ("API",), "operational"))
