"""The JSON status API against the real app serving a hand-built snapshot: shape, nulls, 404s."""

from __future__ import annotations

from typing import Any

import jsonschema

from tests.api.support import serve


async def get_json(path: str) -> tuple[int, str, Any]:
    async with serve() as client:
        response = await client.get(path)
        return response.status, response.content_type, await response.json()


def validator(document: dict[str, Any], component: str) -> jsonschema.Draft202012Validator:
    """Return a validator of `component` that resolves the document's own `$ref`s."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


async def test_list_and_item_follow_the_openapi_document() -> None:
    """Both endpoints' bodies validate against the schemas of the served OpenAPI document."""
    _, _, document = await get_json("/api/v1/openapi.json")
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {"/api/v1/providers", "/api/v1/providers/{slug}"}
    status, content_type, body = await get_json("/api/v1/providers")
    assert (status, content_type) == (200, "application/json")
    validator(document, "ProviderList").validate(body)
    for slug in ("openai", "groq", "fireworks"):
        _, _, one = await get_json(f"/api/v1/providers/{slug}")
        validator(document, "Provider").validate(one)


async def test_list_is_worst_first_with_state_counts() -> None:
    """The list puts down providers first and unconfigured last, and counts every state."""
    _, _, body = await get_json("/api/v1/providers")
    assert [p["slug"] for p in body["providers"]] == ["groq", "openai", "fireworks"]
    assert body["states"] == {
        "healthy": 1,
        "degraded": 0,
        "down": 1,
        "unknown": 0,
        "unconfigured": 1,
    }
    assert body["ready"] is True


async def test_healthy_provider_shows_every_number() -> None:
    """A probed provider shows score, components, windows, latency, last probe, models, breaker."""
    _, _, openai = await get_json("/api/v1/providers/openai")
    assert openai["state"] == "healthy"
    assert openai["since"] == "2025-06-15T14:56:40Z"
    assert openai["score"] == {
        "value": 0.97,
        "components": {"availability": 0.9996, "error_rate": 0.0, "latency": 0.9, "breaker": 1.0},
    }
    assert openai["availability"] == {"5m": 1.0, "1h": 0.9996, "24h": 0.5}
    assert openai["error_rate_5m"] == 0.0  # zero is zero, not "no data"
    assert openai["latency_seconds"] == {"p50": 0.2, "p95": 0.4}
    assert openai["last_probe"] == {
        "outcome": "ok",
        "at": "2025-06-15T15:06:35Z",
        "http_status": 200,
    }
    assert openai["last_failure"] == {"outcome": "http_5xx", "at": "2025-06-15T14:16:40Z"}
    assert openai["breaker"] == "closed"
    assert openai["models_listed"] == 120
    assert openai["models"] == [
        {"model": "gpt-4o", "uptime_24h": 1.0},
        {"model": "gpt-5", "uptime_24h": 0.0},
        {"model": "o3", "uptime_24h": None},
        {"model": "<img src=x>", "uptime_24h": None},
    ]
    assert len(openai["last_hour"]) == 60
    assert openai["last_hour"][0] == {
        "minute": "2025-06-15T14:07:00Z",
        "availability": None,
        "latency_seconds": None,
    }
    assert openai["last_hour"][-1] == {
        "minute": "2025-06-15T15:06:00Z",
        "availability": 1.0,
        "latency_seconds": 0.2,
    }


async def test_no_data_is_null() -> None:
    """A provider without a key has null score, windows, rates, latency, probe and failure."""
    _, _, fireworks = await get_json("/api/v1/providers/fireworks")
    assert fireworks["state"] == "unconfigured"
    assert fireworks["configured"] is False
    assert fireworks["reason"] == "no API key configured"
    assert fireworks["score"] is None
    assert fireworks["availability"] == {"5m": None, "1h": None, "24h": None}
    assert fireworks["error_rate_5m"] is None
    assert fireworks["latency_seconds"] == {"p50": None, "p95": None}
    assert fireworks["last_probe"] is None
    assert fireworks["last_failure"] is None
    assert fireworks["breaker"] is None
    assert fireworks["models_listed"] is None
    assert fireworks["models"] == []
    assert {m["availability"] for m in fireworks["last_hour"]} == {None}


async def test_down_provider_keeps_missing_components_null() -> None:
    """A down provider shows availability 0 and a null latency component, not a made-up one."""
    _, _, groq = await get_json("/api/v1/providers/groq")
    assert groq["state"] == "down"
    assert groq["reason"] == "http_5xx"
    assert groq["availability"]["5m"] == 0.0
    assert groq["error_rate_5m"] == 1.0
    assert groq["score"]["components"]["latency"] is None
    assert groq["last_probe"]["http_status"] == 503


async def test_one_provider_is_its_list_entry() -> None:
    """`/providers/{slug}` returns exactly the object the list holds for that slug."""
    _, _, listing = await get_json("/api/v1/providers")
    for entry in listing["providers"]:
        _, _, one = await get_json(f"/api/v1/providers/{entry['slug']}")
        assert one == entry


async def test_unknown_provider_is_a_json_404() -> None:
    """An unknown slug answers 404 with a JSON error naming it."""
    status, content_type, body = await get_json("/api/v1/providers/no-such-provider")
    assert (status, content_type) == (404, "application/json")
    assert body == {"error": "unknown provider", "provider": "no-such-provider"}


async def test_api_is_never_cached() -> None:
    """API answers tell caches not to store them (they change after every probe)."""
    async with serve() as client:
        response = await client.get("/api/v1/providers")
        assert response.headers["Cache-Control"] == "no-store"
