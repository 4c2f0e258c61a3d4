"""One cheap probe of one provider: a model-list GET, classified into an Outcome."""

from __future__ import annotations

import asyncio
import email.utils
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Protocol

import aiohttp
import structlog

from exporter import __version__
from exporter.catalog import AuthStyle
from exporter.errors import TokenError
from exporter.logs import exception_site
from exporter.outcomes import Outcome
from exporter.probing.model_lists import BadBodyError, ModelList, parse_model_list
from exporter.targets import GoogleAccount, Target

USER_AGENT = f"gatewayz-provider-exporter/{__version__}"

log = structlog.get_logger("exporter.probing.probes")


class TokenSource(Protocol):
    async def token(self) -> str: ...


READ_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe found. Carries no secret: it is logged and exported."""

    slug: str
    outcome: Outcome
    started: float  # wall-clock unix seconds
    duration: float  # seconds
    status: int | None = None
    phases: Mapping[str, float] = field(default_factory=dict)
    models: ModelList | None = None
    retry_after: float | None = None
    detail: str = ""  # a short, fixed description of the failure (never upstream text)
    trace_id: str | None = None  # the probe's span, when tracing is on


def make_trace_config() -> aiohttp.TraceConfig:
    """Return a TraceConfig that stamps the phases of each request into its trace context."""
    config = aiohttp.TraceConfig()

    def stamp(name: str) -> object:
        async def handler(
            _session: aiohttp.ClientSession, context: SimpleNamespace, _params: object
        ) -> None:
            stamps = context.trace_request_ctx
            if isinstance(stamps, dict):
                stamps.setdefault(name, time.perf_counter())

        return handler

    config.on_dns_resolvehost_start.append(stamp("dns_start"))  # type: ignore[arg-type]
    config.on_dns_resolvehost_end.append(stamp("dns_end"))  # type: ignore[arg-type]
    config.on_connection_create_start.append(stamp("connect_start"))  # type: ignore[arg-type]
    config.on_connection_create_end.append(stamp("connect_end"))  # type: ignore[arg-type]
    config.on_request_end.append(stamp("headers"))  # type: ignore[arg-type]
    return config


class Prober:
    """Probe providers over one shared session; never raises for an upstream failure."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout: float,
        max_body_bytes: int,
        model_cap: int,
        watch: Mapping[str, frozenset[str]],
    ) -> None:
        self.session = session
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self._model_cap = model_cap
        self._watch = watch
        self._tokens: dict[str, TokenSource] = {}
        self._internal: dict[str, set[str]] = {}  # slug -> where it failed since it last did not

    async def probe(self, target: Target) -> ProbeResult:
        """Probe `target` once and classify what happened."""
        started = time.time()
        begin = time.perf_counter()
        stamps: dict[str, float] = {"start": begin}
        try:
            async with asyncio.timeout(self.timeout):
                headers = await self.headers(target)
                result = await self._get(target, headers, stamps)
        except TimeoutError:
            result = Partial(Outcome.TIMEOUT, detail="no complete answer within the timeout")
        except TokenError as exc:
            outcome = Outcome.HTTP_AUTH if exc.rejected else Outcome.CONNECT_ERROR
            result = Partial(outcome, detail=str(exc))
        except aiohttp.ClientError as exc:
            result = Partial(*classify_error(exc))
        except (OSError, ssl.SSLError) as exc:
            result = Partial(*classify_error(exc))
        except Exception as exc:  # whatever it is, it becomes a failed probe
            result = self._internal_error(target.slug, exc)
        else:
            self._internal.pop(target.slug, None)
        end = time.perf_counter()
        return ProbeResult(
            slug=target.slug,
            outcome=result.outcome,
            started=started,
            duration=end - begin,
            status=result.status,
            phases=_phases(stamps, end if result.read_body else None),
            models=result.models,
            retry_after=result.retry_after,
            detail=result.detail,
        )

    def _internal_error(self, slug: str, exc: Exception) -> Partial:
        """Turn an unexpected exception into a failed probe; log where it came from once."""
        site = exception_site(exc)
        sites = self._internal.setdefault(slug, set())
        if site not in sites:
            sites.add(site)
            log.warning("probe_internal_error", provider=slug, error=site)
        return Partial(Outcome.INTERNAL_ERROR, detail="the probe failed unexpectedly")

    async def headers(self, target: Target) -> dict[str, str]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        headers.update(target.spec.headers)
        credential = target.credential
        if credential is None:
            return headers
        if isinstance(credential, GoogleAccount):
            headers["Authorization"] = f"Bearer {await self._google_token(target.slug, credential)}"
            if credential.project_id:
                headers["x-goog-user-project"] = credential.project_id
        elif target.spec.auth is AuthStyle.X_API_KEY:
            headers["x-api-key"] = credential.get_secret_value()
        else:
            headers["Authorization"] = f"Bearer {credential.get_secret_value()}"
        return headers

    async def _google_token(self, slug: str, account: GoogleAccount) -> str:
        source = self._tokens.get(slug)
        if source is None:
            # google-auth and requests cost ~30 MB of memory: loaded only when Vertex is watched
            from exporter.probing.vertex_auth import GoogleTokenSource

            source = self._tokens[slug] = GoogleTokenSource(account, self.timeout)
        return await source.token()

    async def _get(
        self, target: Target, headers: dict[str, str], stamps: dict[str, float]
    ) -> Partial:
        async with self.session.get(
            target.url,
            headers=headers,
            # Never follow a redirect: aiohttp would send custom key headers (x-api-key) on to
            # another host. A model list that redirects is itself a `redirect_error`.
            allow_redirects=False,
            trace_request_ctx=stamps,
        ) as response:
            status = response.status
            if 200 <= status < 300:
                return await self._read_list(target, response, stamps)
            return classify_status(status, response.headers)

    async def _read_list(
        self, target: Target, response: aiohttp.ClientResponse, stamps: dict[str, float]
    ) -> Partial:
        body = bytearray()
        complete = False
        while len(body) < self.max_body_bytes:
            chunk = await response.content.read(min(READ_CHUNK, self.max_body_bytes - len(body)))
            if not chunk:
                complete = True
                break
            body.extend(chunk)
        if not complete:
            complete = response.content.at_eof()
        if not complete:
            response.close()  # drop the connection rather than drain a huge body
        stamps["body_end"] = time.perf_counter()
        try:
            models = parse_model_list(
                bytes(body),
                fmt=target.spec.list_format,
                complete=complete,
                watch=self._watch.get(target.slug, frozenset()),
                cap=self._model_cap,
            )
        except BadBodyError as exc:
            return Partial(Outcome.BAD_BODY, response.status, detail=str(exc), read_body=True)
        return Partial(Outcome.OK, response.status, models=models, read_body=True)


@dataclass(frozen=True, slots=True)
class Partial:
    """A probe's classification before it is timed."""

    outcome: Outcome
    status: int | None = None
    detail: str = ""
    models: ModelList | None = None
    retry_after: float | None = None
    read_body: bool = False


def classify_status(status: int, headers: Mapping[str, str]) -> Partial:
    if status in (401, 403):
        return Partial(Outcome.HTTP_AUTH, status, detail="key missing or refused")
    if status == 429:
        retry = parse_retry_after(headers.get("Retry-After"), time.time())
        return Partial(Outcome.HTTP_429, status, detail="rate limited", retry_after=retry)
    if 500 <= status < 600:
        return Partial(Outcome.HTTP_5XX, status, detail="server error")
    if 400 <= status < 500:
        return Partial(Outcome.HTTP_4XX, status, detail="probe rejected")
    if 300 <= status < 400:
        return Partial(Outcome.REDIRECT_ERROR, status, detail="redirect (never followed)")
    return Partial(Outcome.BAD_BODY, status, detail="unexpected status")


def classify_error(exc: BaseException) -> tuple[Outcome, None, str]:
    if isinstance(exc, aiohttp.TooManyRedirects):
        return Outcome.REDIRECT_ERROR, None, "too many redirects"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return Outcome.TLS_ERROR, None, "TLS handshake failed"
    if isinstance(exc, ssl.SSLError):
        return Outcome.TLS_ERROR, None, "TLS error"
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or _is_dns(exc):
        return Outcome.DNS_ERROR, None, "host name did not resolve"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Outcome.CONNECT_ERROR, None, "connection refused or unreachable"
    if isinstance(exc, aiohttp.ClientPayloadError):  # reset or cut short while reading the body
        return Outcome.CONNECT_ERROR, None, "connection broke mid-body"
    if isinstance(exc, aiohttp.ClientResponseError):  # raise_for_status is off: the head is garbage
        return Outcome.BAD_BODY, None, "malformed HTTP response"
    if isinstance(exc, aiohttp.InvalidURL):
        return Outcome.CONNECT_ERROR, None, "invalid URL"
    return Outcome.CONNECT_ERROR, None, "connection failed mid-request"


def _is_dns(exc: BaseException) -> bool:
    cause = getattr(exc, "os_error", None) or exc.__cause__
    return isinstance(cause, socket.gaierror)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the delay a `Retry-After` header asks for, in seconds (None when absent or bad)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _phases(stamps: Mapping[str, float], body_end: float | None) -> dict[str, float]:
    """Turn trace stamps into phase durations; a phase that did not happen is left out."""
    phases: dict[str, float] = {}
    dns = _span(stamps, "dns_start", "dns_end")
    if dns is not None:
        phases["dns"] = dns
    connect = _span(stamps, "connect_start", "connect_end")
    if connect is not None:
        phases["connect"] = max(0.0, connect - (dns or 0.0))
    sent = stamps.get("connect_end", stamps["start"])
    if "headers" in stamps:
        phases["first_byte"] = max(0.0, stamps["headers"] - sent)
        if body_end is not None and "body_end" in stamps:
            phases["transfer"] = max(0.0, stamps["body_end"] - stamps["headers"])
    return phases


def _span(stamps: Mapping[str, float], start: str, end: str) -> float | None:
    if start in stamps and end in stamps:
        return max(0.0, stamps[end] - stamps[start])
    return None
