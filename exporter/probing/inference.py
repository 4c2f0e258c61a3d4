"""One inference probe of one model: a tiny streamed completion, timed and classified."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass

import aiohttp
import structlog

from exporter.errors import TokenError
from exporter.logs import exception_site
from exporter.outcomes import Outcome
from exporter.probing import dialects
from exporter.probing.dialects import BadStreamError, Event, Quirks, SseParser
from exporter.probing.probes import Partial, Prober, classify_error, classify_status
from exporter.targets import Target

log = structlog.get_logger("exporter.probing.inference")

ERROR_BODY_BYTES = 16_384  # of a 400, read to learn what the provider refused


@dataclass(frozen=True, slots=True)
class InferenceResult:
    """What one inference probe found. Carries no upstream text: it is logged and exported."""

    slug: str
    model: str
    outcome: Outcome
    started: float  # wall-clock unix seconds
    duration: float  # seconds
    status: int | None = None
    ttft: float | None = None  # request sent -> first output
    tokens_per_second: float | None = None  # output tokens per second after the first
    max_gap: float | None = None  # the longest wait between two chunks of the stream
    input_tokens: int | None = None  # as the provider reported them
    output_tokens: int | None = None  # reported, else the output chunks counted
    reported: bool = False  # the provider reported its token counts
    streamed: bool = False  # a completion began (the provider may bill it)
    retry_after: float | None = None
    detail: str = ""


class _Stream:
    """Timings and counts of one stream as it is read."""

    __slots__ = (
        "begin",
        "deltas",
        "done",
        "finished",
        "first",
        "gap",
        "input",
        "last",
        "output",
        "status",
    )

    def __init__(self, begin: float) -> None:
        self.begin = begin
        self.status: int | None = None  # of the response whose stream is read
        self.first: float | None = None  # when output first arrived
        self.last: float | None = None  # when the latest output arrived
        self.deltas = 0  # events that carried output
        self.gap: float | None = None
        self.input: int | None = None
        self.output: int | None = None
        self.finished = False
        self.done = False

    @property
    def began(self) -> bool:
        """Tell whether a completion began (a 2xx answer: the provider may bill it)."""
        return self.status is not None and 200 <= self.status < 300

    def take(self, event: Event, at: float) -> None:
        if event.text:
            self.first = self.first if self.first is not None else at
            self.last = at
            self.deltas += 1
        self.finished = self.finished or event.finished
        self.done = self.done or event.done
        self.input = event.input_tokens if event.input_tokens is not None else self.input
        self.output = event.output_tokens if event.output_tokens is not None else self.output

    def ttft(self) -> float | None:
        return None if self.first is None else self.first - self.begin

    def tokens_per_second(self) -> float | None:
        """Output tokens after the first chunk's, per second from the first chunk to the last."""
        if self.first is None or self.last is None or self.deltas < 2 or self.last <= self.first:
            return None
        tokens = self.output if self.output is not None else self.deltas
        return tokens * (self.deltas - 1) / self.deltas / (self.last - self.first)


class InferenceProber:
    """Send inference probes with the list prober's session and credentials; never raises."""

    def __init__(self, prober: Prober, *, max_tokens: int) -> None:
        self._prober = prober
        self._max_tokens = max_tokens
        self._quirks: dict[tuple[str, str], Quirks] = {}
        self._internal: dict[tuple[str, str], set[str]] = {}

    async def probe(self, target: Target, model: str) -> InferenceResult:
        """Ask `model` of `target` for a tiny streamed completion and classify what happened."""
        started = time.time()
        begin = time.perf_counter()
        stream = _Stream(begin)
        try:
            async with asyncio.timeout(self._prober.timeout):
                headers = await self._prober.headers(target)
                headers["Accept"] = "text/event-stream"
                partial = await self._complete(target, model, headers, stream)
        except TimeoutError:
            partial = Partial(Outcome.TIMEOUT, detail="no complete answer within the timeout")
        except TokenError as exc:
            outcome = Outcome.HTTP_AUTH if exc.rejected else Outcome.CONNECT_ERROR
            partial = Partial(outcome, detail=str(exc))
        except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
            if stream.began:  # the answer had begun: the stream broke, not the connection
                partial = Partial(Outcome.STREAM_ERROR, detail="the stream was cut")
            else:
                partial = Partial(*classify_error(exc))
        except Exception as exc:  # whatever it is, it becomes a failed probe
            partial = self._internal_error(target.slug, model, exc)
        else:
            self._internal.pop((target.slug, model), None)
        status = partial.status if partial.status is not None else stream.status
        return InferenceResult(
            slug=target.slug,
            model=model,
            outcome=partial.outcome,
            started=started,
            duration=time.perf_counter() - begin,
            status=status,
            ttft=stream.ttft(),
            tokens_per_second=stream.tokens_per_second(),
            max_gap=stream.gap,
            input_tokens=stream.input,
            output_tokens=stream.output if stream.output is not None else stream.deltas or None,
            reported=stream.output is not None,
            streamed=stream.began,
            retry_after=partial.retry_after,
            detail=partial.detail,
        )

    def _internal_error(self, slug: str, model: str, exc: Exception) -> Partial:
        site = exception_site(exc)
        sites = self._internal.setdefault((slug, model), set())
        if site not in sites:
            sites.add(site)
            log.warning("inference_internal_error", provider=slug, model=model, error=site)
        return Partial(Outcome.INTERNAL_ERROR, detail="the probe failed unexpectedly")

    async def _complete(
        self, target: Target, model: str, headers: dict[str, str], stream: _Stream
    ) -> Partial:
        """Send the request (again, changed, when a 400 names what the provider refuses)."""
        key = (target.slug, model)
        quirks = self._quirks.get(key, Quirks())
        while True:
            request = dialects.build_request(target, model, self._max_tokens, quirks)
            stream.begin = time.perf_counter()
            stamps: dict[str, float] = {}
            async with self._prober.session.post(
                request.url,
                json=request.body,
                headers={**headers, **request.headers},
                allow_redirects=False,  # as list probes: keys never travel to another host
                trace_request_ctx=stamps,
            ) as response:
                # time to first token counts from the request's sending, after any new connection
                stream.begin = max(stream.begin, stamps.get("connect_end", stream.begin))
                status = stream.status = response.status
                if 200 <= status < 300:
                    return await self._read(target, response, stream)
                if status != 400:
                    return classify_status(status, response.headers)
                text = await _read_text(response)
                better = dialects.adjust(target.spec.dialect, text, quirks)
                if better is None:
                    if dialects.limit_reached(text):
                        return Partial(Outcome.OK, status, detail="token limit: alive")
                    return classify_status(status, response.headers)
                quirks = self._quirks[key] = better

    async def _read(
        self, target: Target, response: aiohttp.ClientResponse, stream: _Stream
    ) -> Partial:
        dialect = target.spec.dialect
        parser = SseParser()
        limit = self._prober.max_body_bytes
        size = 0
        previous: float | None = None
        while True:
            chunk = await response.content.readany()
            at = time.perf_counter()
            events = parser.feed(chunk) if chunk else parser.close()
            if chunk and previous is not None:
                stream.gap = max(stream.gap or 0.0, at - previous)
            previous = at if chunk else previous
            size += len(chunk)
            try:
                for name, data in events:
                    stream.take(dialects.read_event(dialect, name, data), at)
            except BadStreamError as exc:
                response.close()
                return Partial(Outcome.STREAM_ERROR, response.status, detail=str(exc))
            if stream.done or not chunk:
                break
            if size > limit:
                response.close()  # drop the connection rather than read on
                return Partial(Outcome.STREAM_ERROR, response.status, detail="stream too long")
        if not (stream.done or stream.finished):
            return Partial(Outcome.STREAM_ERROR, response.status, detail="stream ended early")
        if stream.deltas == 0 and not stream.output:
            return Partial(Outcome.EMPTY_COMPLETION, response.status, detail="no output")
        return Partial(Outcome.OK, response.status)


async def _read_text(response: aiohttp.ClientResponse) -> str:
    """Return the start of an error body as text (it is searched, never shown or logged)."""
    body = bytearray()
    while len(body) < ERROR_BODY_BYTES:  # read() gives what is buffered: the text may be later
        chunk = await response.content.read(ERROR_BODY_BYTES - len(body))
        if not chunk:
            break
        body.extend(chunk)
    return body.decode("utf-8", errors="replace")
