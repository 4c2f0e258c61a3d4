"""Structured logging: JSON lines on stdout by default, with secrets scrubbed as a last guard."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog
from aiohttp.http_exceptions import HttpProcessingError

REDACTED = "[redacted]"


class SecretScrubber:
    """A structlog processor that replaces any known secret value found in an event."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Short values would match ordinary words; real keys are long.
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def __call__(
        self, _logger: object, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if not self._secrets:
            return event
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = self.scrub(value)
        return event

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


class DropBadRequests(logging.Filter):
    """Drop aiohttp's traceback for a malformed or oversized request: it already answered 400, and
    the report quotes the request's bytes (a header line, possibly a credential)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, HttpProcessingError)


def configure_logging(
    level: str, fmt: str, secrets: Iterable[str] = (), extra: Iterable[Any] = ()
) -> None:
    """Configure structlog (and the stdlib loggers of libraries) once for the process."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = logging.getLevelNamesMapping()[level]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            SecretScrubber(secrets),
            *extra,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the stdlib: keep them quiet and on stderr, never with request data.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, force=True)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, DropBadRequests) for f in server.filters):
        server.addFilter(DropBadRequests())


def exception_site(exc: BaseException) -> str:
    """Return `Type at file.py:line` for where `exc` was raised: enough to find a bug, with none
    of the message (it may quote upstream bytes) and no traceback in the log."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # a TaskGroup's: the first
        exc = exc.exceptions[0]
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    if frame is None:
        return type(exc).__name__
    filename = frame.tb_frame.f_code.co_filename.rsplit("/", 1)[-1]
    return f"{type(exc).__name__} at {filename}:{frame.tb_lineno}"
