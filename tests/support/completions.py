"""A fake provider's streaming completions endpoint, scripted per model, in each dialect.

Serve it with `FakeUpstream.set_post(name, Completions(...))`. Tokens leave on an absolute
schedule (request received + ttft + i / tokens_per_second), so what the exporter measures can be
compared with what was scripted; every token sent and every input token reported is tallied in
`spent`, as a provider would bill it.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web

from tests.support.upstream import reset_connection

INPUT_TOKENS = 12  # what the fake reports for the exporter's prompt


@dataclass(frozen=True)
class Script:
    """How one model answers."""

    ttft: float = 0.05  # seconds from the request to the first token
    tokens_per_second: float = 200.0
    tokens: int | None = None  # output tokens (default: the request's maximum)
    status: int | None = None  # answer this status instead of a stream
    headers: dict[str, str] = field(default_factory=dict)  # with `status`
    body: bytes = b'{"error": {"message": "scripted failure"}}'  # with `status`
    stall_after: int | None = None  # send this many tokens, then nothing, ever
    cut_after: int | None = None  # send this many tokens, then reset the connection
    malformed: bool = False  # send a chunk that is not JSON after the first token
    no_end: bool = False  # end the body without the dialect's final event
    empty: bool = False  # a proper stream with no output at all
    reject_max_tokens: bool = False  # 400 unless the request uses max_completion_tokens
    usage: bool = True  # report token counts (when the request asks, for OpenAI)


class Completions:
    """POST handler for one fake provider; `dialect` is openai, anthropic or vertex."""

    def __init__(self, dialect: str = "openai", default: Script | None = None) -> None:
        self.dialect = dialect
        self.default = default or Script()
        self.scripts: dict[str, Script] = {}
        self.bodies: list[dict[str, Any]] = []  # every request body received
        self.spent = 0  # input tokens reported + output tokens sent

    def script(self, model: str, **changes: Any) -> None:
        self.scripts[model] = replace(self.scripts.get(model, self.default), **changes)

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        begin = time.monotonic()
        body = await request.json()
        self.bodies.append(body)
        model = self._model(request, body)
        script = self.scripts.get(model, self.default)
        if script.status is not None:
            return web.Response(status=script.status, body=script.body, headers=script.headers)
        if script.reject_max_tokens and "max_tokens" in body:
            message = "Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead."
            return web.json_response({"error": {"message": message}}, status=400)
        limit = _max_tokens(body)
        count = 0 if script.empty else min(script.tokens or limit, limit)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.spent += INPUT_TOKENS
        await response.write(self._start(model))
        for i in range(count):
            if i == script.stall_after:
                await asyncio.sleep(3600)
            if i == script.cut_after:
                reset_connection(request)
                return response
            due = begin + script.ttft + i / script.tokens_per_second
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await response.write(self._token(f"t{i} "))
            self.spent += 1
            if script.malformed:
                await response.write(b"data: {not json\n\n")
        if not script.no_end:
            usage = script.usage and self._wants_usage(body)
            await response.write(self._end(count, usage))
        await response.write_eof()
        return response

    def _model(self, request: web.Request, body: dict[str, Any]) -> str:
        if self.dialect == "vertex":
            return request.path.rsplit("/models/", 1)[-1].split(":", 1)[0]
        return str(body.get("model"))

    def _wants_usage(self, body: dict[str, Any]) -> bool:
        if self.dialect != "openai":
            return True
        options = body.get("stream_options") or {}
        return bool(options.get("include_usage"))

    def _start(self, model: str) -> bytes:
        if self.dialect == "anthropic":
            message = {"id": "msg_1", "model": model, "usage": {"input_tokens": INPUT_TOKENS}}
            return _event("message_start", {"type": "message_start", "message": message})
        if self.dialect == "openai":
            return _data({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        return b""

    def _token(self, text: str) -> bytes:
        if self.dialect == "anthropic":
            delta = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": text}}
            return _event("content_block_delta", delta)
        if self.dialect == "vertex":
            return _data({"candidates": [{"content": {"parts": [{"text": text}]}}]})
        return _data({"choices": [{"index": 0, "delta": {"content": text}}]})

    def _end(self, count: int, usage: bool) -> bytes:
        if self.dialect == "anthropic":
            end = {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}}
            if usage:
                end["usage"] = {"output_tokens": count}
            stop = _event("message_stop", {"type": "message_stop"})
            return _event("message_delta", end) + stop
        if self.dialect == "vertex":
            last: dict[str, Any] = {"candidates": [{"finishReason": "MAX_TOKENS"}]}
            if usage:
                last["usageMetadata"] = {
                    "promptTokenCount": INPUT_TOKENS,
                    "candidatesTokenCount": count,
                }
            return _data(last)
        chunks = _data({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        if usage:
            counts = {"prompt_tokens": INPUT_TOKENS, "completion_tokens": count}
            chunks += _data({"choices": [], "usage": counts})
        return chunks + b"data: [DONE]\n\n"


def _max_tokens(body: dict[str, Any]) -> int:
    config = body.get("generationConfig") or {}
    value = body.get("max_tokens") or body.get("max_completion_tokens")
    return int(value or config.get("maxOutputTokens") or 16)


def _data(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\n".encode() + _data(payload)
