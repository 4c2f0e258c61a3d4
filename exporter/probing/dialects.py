"""How each provider is asked for a tiny streamed completion, and how its stream reads.

Pure: builds requests and interprets server-sent events; the HTTP lives in `inference.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from exporter.catalog import Dialect
from exporter.targets import GoogleAccount, Target

# A fixed prompt with no user data: the cheapest question every chat model answers.
PROMPT = "Reply with the single word: ok"
# An upper bound of what the prompt costs as input tokens in any provider's count (chat
# templates add a few): the budget reserves this until a provider reports its own count.
PROMPT_TOKENS = 32
# "max_tokens or model output limit was reached", "token limit reached" … but never a rate limit
LIMIT_REACHED = re.compile(
    r"(?:max_tokens|output limit|token limit)[^.\n]{0,40}reached|(?:reached|exceeded)[^.\n]{0,20}"
    r"(?:max_tokens|token limit|output limit|maximum number of tokens)",
    re.IGNORECASE,
)
MAX_REMEMBERED_INPUT = 1024  # a provider reporting more for our prompt is believed up to here
REJECTED = ("unsupported", "not supported", "does not support", "only the default")


class BadStreamError(ValueError):
    """An event that is not what the provider's dialect sends (malformed, or an error event)."""


@dataclass(frozen=True, slots=True)
class Quirks:
    """What a pair's provider refused once and is never sent again (learned per pair)."""

    max_completion_tokens: bool = False  # reasoning models reject `max_tokens`
    no_temperature: bool = False  # some models accept only their default temperature
    no_stream_options: bool = False  # some OpenAI-compatible servers reject `stream_options`


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: Mapping[str, Any]
    headers: Mapping[str, str]


def build_request(target: Target, model: str, max_tokens: int, quirks: Quirks) -> Request:
    """Return the streamed-completion request of `model` in its provider's dialect."""
    base = target.api_base
    message = {"role": "user", "content": PROMPT}
    dialect = target.spec.dialect
    if dialect is Dialect.ANTHROPIC:
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": max_tokens,
            "messages": [message],
            "stream": True,
        }
        if not quirks.no_temperature:
            body["temperature"] = 0
        return Request(f"{base}/messages", body, {})
    if dialect is Dialect.VERTEX:
        config: dict[str, Any] = {"maxOutputTokens": max_tokens}
        if not quirks.no_temperature:
            config["temperature"] = 0
        body = {
            "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
            "generationConfig": config,
        }
        path = f"publishers/google/models/{quote(model, safe='')}:streamGenerateContent?alt=sse"
        credential = target.credential
        project = credential.project_id if isinstance(credential, GoogleAccount) else None
        if project and target.location:
            path = f"projects/{quote(project, safe='')}/locations/{target.location}/{path}"
        return Request(f"{base}/{path}", body, {})
    body = {"model": model, "messages": [message], "stream": True}
    body["max_completion_tokens" if quirks.max_completion_tokens else "max_tokens"] = max_tokens
    if not quirks.no_temperature:
        body["temperature"] = 0
    if not quirks.no_stream_options:
        body["stream_options"] = {"include_usage": True}  # the token counts, in the last chunk
    return Request(f"{base}/chat/completions", body, {})


def adjust(dialect: Dialect, error_text: str, quirks: Quirks) -> Quirks | None:
    """Return the request changed to avoid what a 400 refused, or None when nothing would help."""
    text = error_text.lower()
    openai = dialect is Dialect.OPENAI
    if openai and "max_completion_tokens" in text and not quirks.max_completion_tokens:
        return replace(quirks, max_completion_tokens=True)
    refused = "temperature" in text and any(phrase in text for phrase in REJECTED)
    if refused and not quirks.no_temperature:
        return replace(quirks, no_temperature=True)
    if dialect is Dialect.OPENAI and "stream_options" in text and not quirks.no_stream_options:
        return replace(quirks, no_stream_options=True)
    return None


def limit_reached(error_text: str) -> bool:
    """Tell whether a 400 says the output token limit was reached: the model is alive."""
    if "rate limit" in error_text.lower() or "quota" in error_text.lower():
        return False
    return LIMIT_REACHED.search(error_text) is not None


@dataclass(frozen=True, slots=True)
class Event:
    """What one server-sent event says."""

    text: str = ""  # output produced (answer or visible reasoning)
    finished: bool = False  # the model said it stopped (a finish or stop reason)
    done: bool = False  # the dialect's end-of-stream event
    input_tokens: int | None = None
    output_tokens: int | None = None


def read_event(dialect: Dialect, name: str, data: str) -> Event:
    """Interpret one event; raise BadStreamError for a malformed one or an error event."""
    if dialect is Dialect.OPENAI and data.strip() == "[DONE]":
        return Event(done=True)
    if not data.strip():  # an empty `data:` line (a keep-alive some servers send)
        return Event()
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):
        raise BadStreamError("an event is not JSON") from None
    if not isinstance(payload, dict):
        raise BadStreamError("an event is not a JSON object")
    if payload.get("error") or name == "error":
        raise BadStreamError("the stream reported an error")
    if dialect is Dialect.ANTHROPIC:
        return _anthropic(payload)
    if dialect is Dialect.VERTEX:
        return _vertex(payload)
    return _openai(payload)


def _openai(payload: dict[str, Any]) -> Event:
    text, finished = _collect(payload.get("choices"), _delta_texts, "finish_reason")
    usage = payload.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    return Event(
        "".join(text),
        finished=finished,
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")),
    )


def _anthropic(payload: dict[str, Any]) -> Event:
    kind = payload.get("type")
    if kind == "message_start":
        message = payload.get("message")
        usage = message.get("usage") if isinstance(message, dict) else None
        if isinstance(usage, dict):
            return Event(input_tokens=_count(usage.get("input_tokens")))
    elif kind == "content_block_delta":
        delta = payload.get("delta")
        if isinstance(delta, dict):
            text = delta.get("text", delta.get("thinking"))
            return Event(text if isinstance(text, str) else "")
    elif kind == "message_delta":
        usage = payload.get("usage")
        delta = payload.get("delta")
        stopped = isinstance(delta, dict) and delta.get("stop_reason") is not None
        output = _count(usage.get("output_tokens")) if isinstance(usage, dict) else None
        return Event(finished=stopped, output_tokens=output)
    elif kind == "message_stop":
        return Event(finished=True, done=True)
    return Event()  # ping, content_block_start/stop: nothing to count


def _vertex(payload: dict[str, Any]) -> Event:
    text, finished = _collect(payload.get("candidates"), _part_texts, "finishReason")
    usage = payload.get("usageMetadata")
    usage = usage if isinstance(usage, dict) else {}
    output = _count(usage.get("candidatesTokenCount"))
    thoughts = _count(usage.get("thoughtsTokenCount"))
    if thoughts is not None:
        output = (output or 0) + thoughts
    return Event(
        "".join(text),
        finished=finished,
        input_tokens=_count(usage.get("promptTokenCount")),
        output_tokens=output,
    )


def _collect(
    items: object, texts: Callable[[dict[str, Any]], Iterator[str]], finish: str
) -> tuple[list[str], bool]:
    """Return the text of a chunk's choices (or candidates) and whether one of them finished."""
    text: list[str] = []
    finished = False
    for item in _list(items):
        if isinstance(item, dict):
            text.extend(texts(item))
            finished = finished or item.get(finish) is not None
    return text, finished


def _delta_texts(choice: dict[str, Any]) -> Iterator[str]:
    delta = choice.get("delta")
    if isinstance(delta, dict):
        # some providers stream visible reasoning before the answer: tokens all the same
        for key in ("content", "reasoning_content", "reasoning"):
            if isinstance(delta.get(key), str):
                yield delta[key]


def _part_texts(candidate: dict[str, Any]) -> Iterator[str]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    for part in _list(parts):
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            yield part["text"]


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _count(value: object) -> int | None:
    """Return a token count, or None for anything that is not a plausible one."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    return None


class SseParser:
    """Splits a byte stream into server-sent events (name, data), as the spec reads them."""

    __slots__ = ("_buffer", "_data", "_name")

    def __init__(self) -> None:
        self._buffer = b""
        self._name = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """Return the events completed by `chunk`."""
        buffer = self._buffer + chunk
        events: list[tuple[str, str]] = []
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            self._line(buffer[start:end].rstrip(b"\r"), events)
            start = end + 1
        self._buffer = buffer[start:]
        return events

    def close(self) -> list[tuple[str, str]]:
        """Return an event left without its closing blank line when the stream ended."""
        events: list[tuple[str, str]] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r"), events)
            self._buffer = b""
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[tuple[str, str]]) -> None:
        if not line:
            if self._data:
                events.append((self._name, "\n".join(self._data)))
            self._name, self._data = "", []
            return
        if line.startswith(b":"):  # a comment (keep-alive)
            return
        field, _, value = line.partition(b":")
        text = value.removeprefix(b" ").decode("utf-8", errors="replace")
        if field == b"data":
            self._data.append(text)
        elif field == b"event":
            self._name = text
