"""The JSON status API: every provider's health as read from the latest snapshot."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from exporter.judgement.scoring import STATES
from exporter.judgement.snapshot import AVAILABILITY_WINDOWS, ModelView, ProviderView, Snapshot
from exporter.probing.official import INDICATORS, OfficialView, disagreement
from exporter.serving.openapi import API_PREFIX, openapi_document

JSON = dict[str, Any]


def iso_time(at: float | None) -> str | None:
    """Return unix time `at` as an ISO-8601 UTC string (`2025-01-31T12:00:00Z`), or None."""
    if at is None:
        return None
    moment = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    return moment.replace("+00:00", "Z")


def provider_json(view: ProviderView, official: OfficialView | None = None) -> JSON:
    """Return one provider as the API shows it: None (null) wherever there is no data."""
    score = view.score
    return {
        "slug": view.slug,
        "configured": view.configured,
        "state": view.state.value,
        "since": iso_time(view.since),
        "reason": view.reason,
        "state_changes": view.state_changes,
        "score": None
        if score is None
        else {
            "value": score.value,
            "components": {
                "availability": score.availability,
                "error_rate": score.error_rate,
                "latency": score.latency,
                "breaker": score.breaker,
            },
        },
        "availability": {window: view.availability.get(window) for window in AVAILABILITY_WINDOWS},
        "error_rate_5m": view.error_rate,
        "latency_seconds": {"p50": view.latency_p50, "p95": view.latency_p95},
        "last_probe": _last_probe(view),
        "last_failure": None
        if view.last_failure is None
        else {"outcome": view.last_failure.value, "at": iso_time(view.last_failure_at)},
        "breaker": view.breaker,
        "gateway": _gateway(view),
        "rate_limit_backoff_seconds": view.backoff,
        "models_listed": view.models_listed,
        "models": [
            {"model": model, "uptime_24h": uptime} for model, uptime in view.model_uptime.items()
        ],
        "last_hour": [
            {"minute": iso_time(start), "availability": availability, "latency_seconds": latency}
            for start, availability, latency in view.minutes
        ],
        "inference": [model_json(model) for model in view.inference.values()],
        "official": official_json(view, official),
    }


def model_json(view: ModelView) -> JSON:
    """Return one inference-probed model as the API shows it."""
    return {
        "model": view.model,
        "state": view.state.value,
        "since": iso_time(view.since),
        "reason": view.reason,
        "availability": {window: view.availability.get(window) for window in AVAILABILITY_WINDOWS},
        "ttft_seconds": {"p50": view.ttft_p50, "p95": view.ttft_p95},
        "tokens_per_second": view.tokens_per_second_p50,
        "tokens": dict(view.tokens),
        "budget_skipped": view.skipped,
        "rate_limit_backoff_seconds": view.backoff,
        "last_probe": None
        if view.last_outcome is None
        else {
            "outcome": view.last_outcome.value,
            "at": iso_time(view.last_probe_at),
            "http_status": view.last_status,
            "ttft_seconds": view.last_ttft,
            "tokens_per_second": view.last_tokens_per_second,
            "max_gap_seconds": view.last_max_gap,
        },
    }


def official_json(view: ProviderView, official: OfficialView | None) -> JSON | None:
    """Return what the provider's own status page says, beside our state; None without a page."""
    if official is None:
        return None
    word = official.word
    newest = word.newest if word is not None else None
    return {
        "page": official.page,
        "up": official.up,
        "last_success": iso_time(official.last_success),
        "error": official.error,
        "indicator": word.indicator if word else None,
        "description": word.description if word else None,
        "components": [{"name": n, "status": s} for n, s in word.components] if word else [],
        "affected": list(word.affected) if word else [],
        "incidents": {impact: word.count(impact) for impact in INDICATORS} if word else None,
        "newest_incident": None
        if newest is None
        else {
            "title": newest.title,
            "impact": newest.impact,
            "url": newest.url,
            "started": iso_time(newest.started),
        },
        "disagreement": disagreement(view.state, word),
    }


def _gateway(view: ProviderView) -> JSON | None:
    """Return what the backend recorded for the provider (Redis), or None when nothing was read."""
    traffic = view.traffic
    if traffic is None:
        return None
    return {
        "requests_last_hour": traffic.requests,
        "failed_requests_last_hour": traffic.failures,
        "latency_seconds": {
            "p50": traffic.latency.get(0.5),
            "p95": traffic.latency.get(0.95),
            "p99": traffic.latency.get(0.99),
        },
    }


def _last_probe(view: ProviderView) -> JSON | None:
    if view.last_outcome is None:
        return None
    return {
        "outcome": view.last_outcome.value,
        "at": iso_time(view.last_probe_at),
        "http_status": view.last_status,
    }


def providers_json(snapshot: Snapshot, now: float) -> JSON:
    """Return the list document: every provider, worst state first, then by slug."""
    counts = snapshot.count_states()
    return {
        "generated_at": iso_time(now),
        "ready": snapshot.ready,
        "vantage": snapshot.vantage,
        "network": {"offline": snapshot.offline, "up": snapshot.network_up},
        "inference_budget_remaining_tokens": snapshot.stats.budget_remaining,
        "states": {state.value: counts[state] for state in STATES},
        "providers": [
            provider_json(view, snapshot.official.get(view.slug)) for view in ordered(snapshot)
        ],
    }


# Worst first: what needs attention is at the top of the list and of the page.
SEVERITY = {"down": 0, "degraded": 1, "unknown": 2, "healthy": 3, "unconfigured": 4}


def ordered(snapshot: Snapshot) -> list[ProviderView]:
    """Return the providers sorted by severity of their state, then by slug."""
    return sorted(snapshot.providers.values(), key=lambda v: (SEVERITY[v.state.value], v.slug))


def add_api_routes(
    app: web.Application, get_snapshot: Callable[[], Snapshot], clock: Callable[[], float]
) -> None:
    """Register `/api/v1/providers`, `/api/v1/providers/{slug}` and `/api/v1/openapi.json`."""
    document = openapi_document()

    async def providers(_request: web.Request) -> web.Response:
        return _json(providers_json(get_snapshot(), clock()))

    async def provider(request: web.Request) -> web.Response:
        slug = request.match_info["slug"]
        snapshot = get_snapshot()
        view = snapshot.providers.get(slug)
        if view is None:
            return _json({"error": "unknown provider", "provider": slug}, status=404)
        return _json(provider_json(view, snapshot.official.get(slug)))

    async def openapi(_request: web.Request) -> web.Response:
        return _json(document)

    app.router.add_get(f"{API_PREFIX}/providers", providers)
    app.router.add_get(f"{API_PREFIX}/providers/{{slug}}", provider)
    app.router.add_get(f"{API_PREFIX}/openapi.json", openapi)


def _json(body: JSON, status: int = 200) -> web.Response:
    # The answer changes after every probe and may be behind a token: never cache it.
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})
