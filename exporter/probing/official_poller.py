"""Polls each provider's public status page on its own schedule, off the probe path: its own
HTTP session, one loop per page, so a slow or hanging page delays nothing but itself."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from aiohttp.resolver import ThreadedResolver

from exporter.probing.official import BadPageError, OfficialView, OfficialWord, parse_summary
from exporter.probing.probes import READ_CHUNK, USER_AGENT
from exporter.targets import StatusPage

log = structlog.get_logger("exporter.status_pages")
SPREAD_SECONDS = 10.0  # first polls are spread over at most this (or one interval when shorter)


DNS_THREADS = 2  # a status-page host whose DNS hangs holds these, never the probes' threads


class _PageDnsLoop:
    """The running loop as aiohttp's ThreadedResolver sees it, except that name lookups run on
    the status pages' own threads: a lookup stuck past its timeout keeps a thread busy, and that
    thread must not be one the probes resolve their hosts on (the loop's default executor)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: ThreadPoolExecutor) -> None:
        self._loop = loop
        self._pool = pool

    async def getaddrinfo(
        self, host: str, port: int, *, type: int = 0, family: int = 0, flags: int = 0
    ) -> list[Any]:
        lookup = functools.partial(socket.getaddrinfo, host, port, family, type, 0, flags)
        return await self._loop.run_in_executor(self._pool, lookup)

    async def getnameinfo(self, address: Any, flags: int) -> tuple[str, str]:
        return await self._loop.run_in_executor(self._pool, socket.getnameinfo, address, flags)


@contextlib.asynccontextmanager
async def page_session() -> AsyncIterator[aiohttp.ClientSession]:
    """Yield the status pages' own HTTP session: its own connections and DNS threads."""
    pool = ThreadPoolExecutor(DNS_THREADS, thread_name_prefix="status-page-dns")
    dns = _PageDnsLoop(asyncio.get_running_loop(), pool)
    resolver = ThreadedResolver(dns)  # type: ignore[arg-type]
    connector = aiohttp.TCPConnector(limit=32, ttl_dns_cache=300, resolver=resolver)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=None)
        ) as session:
            yield session
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@dataclass(slots=True)
class _Page:
    """What the poller keeps between polls of one page."""

    slug: str
    page: StatusPage
    view: OfficialView
    etag: str | None = None
    modified: str | None = None


class StatusPagePoller:
    """Read every page each interval; a bad page is counted, logged once and shown as down."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        pages: Mapping[str, StatusPage],
        *,
        interval: float,
        timeout: float,
        max_body_bytes: int,
        max_components: int,
        now: Callable[[], float],
        publish: Callable[[str, OfficialView], None],
    ) -> None:
        self._session = session
        self._pages = {
            slug: _Page(slug, page, OfficialView(page.url)) for slug, page in pages.items()
        }
        self._interval = interval
        self._timeout = timeout
        self._max_body = max_body_bytes
        self._cap = max_components
        self._now = now
        self._publish = publish
        for state in self._pages.values():
            publish(state.slug, state.view)

    async def run(self) -> None:
        """Poll every page until cancelled, their first polls spread out a little."""
        spacing = min(self._interval, SPREAD_SECONDS) / max(1, len(self._pages))
        async with asyncio.TaskGroup() as group:
            for index, slug in enumerate(self._pages):
                group.create_task(self._loop(slug, index * spacing))

    async def _loop(self, slug: str, delay: float) -> None:
        await asyncio.sleep(delay)
        while True:
            started = time.monotonic()
            await self.poll(slug)
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))

    async def poll(self, slug: str) -> OfficialView:
        """Poll one page once, publish and return what it says."""
        state = self._pages[slug]
        try:
            async with asyncio.timeout(self._timeout):
                word = await self._fetch(state)
        except BadPageError as exc:
            self._failed(state, exc.reason)
        except TimeoutError:
            self._failed(state, "timeout")
        except (aiohttp.ClientError, OSError):
            self._failed(state, "connect_error")
        except Exception as exc:  # whatever it is, it is this page's problem only
            self._failed(state, "internal_error", type(exc).__name__)
        else:
            self._succeeded(state, word)
        self._publish(slug, state.view)
        return state.view

    async def _fetch(self, state: _Page) -> OfficialWord:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if state.view.word is not None and state.etag:
            headers["If-None-Match"] = state.etag
        if state.view.word is not None and state.modified:
            headers["If-Modified-Since"] = state.modified
        # Never follow a redirect, as for probes: a page that moved must be configured anew.
        async with self._session.get(
            state.page.url, headers=headers, allow_redirects=False
        ) as response:
            if response.status == 304 and state.view.word is not None:
                return state.view.word
            if response.status != 200:
                raise BadPageError("redirect" if 300 <= response.status < 400 else "http_status")
            body = await self._read(response)
            word = parse_summary(body, watch=state.page.components, cap=self._cap)
            state.etag = response.headers.get("ETag")
            state.modified = response.headers.get("Last-Modified")
            return word

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        body = bytearray()
        while chunk := await response.content.read(READ_CHUNK):
            body.extend(chunk)
            if len(body) > self._max_body:
                response.close()  # drop the connection rather than drain a huge body
                raise BadPageError("too_large")
        return bytes(body)

    def _succeeded(self, state: _Page, word: OfficialWord) -> None:
        if state.view.error is not None:
            log.info("status_page_readable", provider=state.slug)
        state.view = OfficialView(state.page.url, True, word, self._now(), None, state.view.errors)

    def _failed(self, state: _Page, reason: str, error: str | None = None) -> None:
        if state.view.error is None:  # once per failure streak, not once per poll
            fields = {"error": error} if error else {}
            log.warning("status_page_unreadable", provider=state.slug, reason=reason, **fields)
        errors = Counter(state.view.errors)
        errors[reason] += 1
        state.etag = state.modified = None  # unread: what it said before is not what it says now
        state.view = OfficialView(
            state.page.url, False, None, state.view.last_success, reason, dict(errors)
        )
