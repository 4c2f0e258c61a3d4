"""Writes Redis keys exactly as the GatewayZ backend does (types, encodings, TTLs)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import redis


def hour_key(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d:%H")


class Backend:
    """The backend's writers, against a real Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    def breaker(self, provider: str, state: str, failures: int = 0) -> None:
        """Save a breaker the way the backend's circuit breaker does (every key, 3600 s TTL)."""
        pipe = self.r.pipeline()
        for suffix, value in (
            ("state", state),
            ("failure_count", str(failures)),
            ("success_count", "0"),
            ("consecutive_opens", "1" if state == "open" else "0"),
            ("opened_at", str(time.time()) if state == "open" else "0.0"),
        ):
            pipe.set(f"circuit_breaker:{provider}:{suffix}", value, ex=3600)
        # the older catalog breaker shares the prefix: JSON, no suffix
        pipe.set(
            f"circuit_breaker:{provider}",
            json.dumps({"failure_count": failures, "is_open": state == "open"}),
            ex=3600,
        )
        pipe.execute()

    def request(
        self, provider: str, model: str, latency_ms: int, at: float | None = None, ok: bool = True
    ) -> None:
        """Record one inference as the backend does: hourly hash and latency sorted set."""
        at = time.time() if at is None else at
        key = f"metrics:{provider}:{hour_key(at)}"
        pipe = self.r.pipeline()
        pipe.hincrby(key, "total_requests", 1)
        pipe.hincrby(key, "successful_requests" if ok else "failed_requests", 1)
        pipe.hincrby(key, "tokens_input", 10)
        pipe.hincrby(key, "tokens_output", 20)
        pipe.hincrbyfloat(key, "total_cost", 0.0001)
        pipe.expire(key, 7200)
        latency_key = f"latency:{provider}:{model}"
        pipe.zadd(latency_key, {str(latency_ms): at})
        pipe.expire(latency_key, 7200)
        pipe.execute()

    def health_providers(self, rows: list[dict[str, object]]) -> None:
        self.r.set("health:providers", json.dumps({"providers": rows}), ex=360)

    def health_models(self, rows: list[dict[str, object]]) -> None:
        self.r.set("health:models", json.dumps({"models": rows}), ex=360)
