"""The OpenAPI 3.1 document of the status API, served at `/api/v1/openapi.json`."""

from __future__ import annotations

from typing import Any

from exporter import __version__
from exporter.catalog import SLUG_PATTERN
from exporter.judgement.scoring import STATES
from exporter.judgement.snapshot import AVAILABILITY_WINDOWS
from exporter.outcomes import OUTCOMES
from exporter.probing.official import COMPONENT_STATUSES, INDICATORS

API_PREFIX = "/api/v1"
JSON = dict[str, Any]

RATIO = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
SECONDS = {"type": ["number", "null"], "minimum": 0}
COUNT = {"type": ["number", "null"], "minimum": 0}  # estimates over a window: may be fractional
TIME = {"type": ["string", "null"], "format": "date-time"}
OUTCOME = {"type": "string", "enum": [o.value for o in OUTCOMES]}
REF = "#/components/schemas/"

DESCRIPTION = """\
What the exporter knows about each upstream provider, read from its latest snapshot (no request
reaches a provider). **No data is `null`, never 0 or 1.** Ratios are 0–1, durations are seconds,
times are ISO-8601 strings in UTC (`2025-01-31T12:00:00Z`).

When `METRICS_AUTH_TOKEN` is set, every path except `/healthz` needs the token, either as
`Authorization: Bearer <token>` or, for `GET /` and `GET /api/v1/...`, as the query parameter
`?token=<token>`. The query form puts the token in browser history, proxy and access logs: prefer
the header for anything but a person opening the status page."""


def _obj(properties: JSON, description: str = "") -> JSON:
    schema: JSON = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema


def _nullable(schema: JSON) -> JSON:
    return {"oneOf": [{"type": "null"}, schema]}


SCORE = _obj(
    {
        "value": {"type": "number", "minimum": 0, "maximum": 1},
        "components": _obj(
            {
                "availability": {**RATIO, "description": "availability over 1 h"},
                "error_rate": {**RATIO, "description": "error rate over 5 m (enters as 1 − it)"},
                "latency": {**RATIO, "description": "latency score from p95: 1 fast, 0 slow"},
                "breaker": {**RATIO, "description": "circuit-breaker factor, when known"},
            }
        ),
    },
    "weighted health score and its inputs; null when nothing is known",
)

TEXT = {"type": ["string", "null"]}
INDICATOR = {"type": ["string", "null"], "enum": [*INDICATORS, None]}
OFFICIAL = _obj(
    {
        "page": {"type": "string", "description": "the provider's status page"},
        "up": {
            "type": ["boolean", "null"],
            "description": "the last poll read the page; null before the first poll",
        },
        "last_success": {**TIME, "description": "when the page was last read"},
        "error": {**TEXT, "description": "why the last poll failed (timeout, not_json ...)"},
        "indicator": {**INDICATOR, "description": "their overall indicator; null while unread"},
        "description": {**TEXT, "description": "their own words for it"},
        "components": {
            "type": "array",
            "description": "the watched components ({SLUG}_STATUS_COMPONENTS; default all)",
            "items": _obj(
                {
                    "name": {"type": "string"},
                    "status": {"type": "string", "enum": list(COMPONENT_STATUSES)},
                }
            ),
        },
        "affected": {
            "type": "array",
            "items": {"type": "string"},
            "description": "watched components that are not operational",
        },
        "incidents": _nullable(
            _obj(
                {impact: {"type": "integer", "minimum": 0} for impact in INDICATORS},
                "unresolved incidents by impact",
            )
        ),
        "newest_incident": _nullable(
            _obj(
                {
                    "title": {"type": "string"},
                    "impact": {"type": "string", "enum": list(INDICATORS)},
                    "url": TEXT,
                    "started": TIME,
                }
            )
        ),
        "disagreement": {
            "type": ["string", "null"],
            "enum": ["down_they_say_operational", "incident_we_see_healthy", None],
            "description": "where our state and their word disagree; null when they agree",
        },
    },
    "what the provider's own status page says, beside our state (it never changes it)",
)

TOKENS = {"type": "integer", "minimum": 0}
MODEL = _obj(
    {
        "model": {"type": "string"},
        "state": {"type": "string", "enum": [s.value for s in STATES]},
        "since": {**TIME, "description": "when the current state began"},
        "reason": {"type": "string", "description": "why the model is in this state"},
        "availability": _obj(
            {window: RATIO for window in AVAILABILITY_WINDOWS},
            "up / (up + down) of its inference checks per window; null without checks",
        ),
        "ttft_seconds": _obj(
            {"p50": SECONDS, "p95": SECONDS}, "time to first token over the last hour's probes"
        ),
        "tokens_per_second": {**SECONDS, "description": "median output tokens/s, last hour"},
        "tokens": _obj({"input": TOKENS, "output": TOKENS}, "tokens its probes used"),
        "budget_skipped": {**TOKENS, "description": "probes the daily token budget stopped"},
        "rate_limit_backoff_seconds": {"type": "number", "minimum": 0},
        "last_probe": _nullable(
            _obj(
                {
                    "outcome": OUTCOME,
                    "at": TIME,
                    "http_status": {"type": ["integer", "null"], "minimum": 100, "maximum": 599},
                    "ttft_seconds": SECONDS,
                    "tokens_per_second": SECONDS,
                    "max_gap_seconds": {
                        **SECONDS,
                        "description": "the longest wait between two chunks of the stream",
                    },
                }
            )
        ),
    },
    "one inference-probed model (INFERENCE_PROBES): a tiny streamed completion per probe",
)

PROVIDER = _obj(
    {
        "slug": {"type": "string", "pattern": SLUG_PATTERN.pattern},
        "configured": {"type": "boolean", "description": "a credential is configured"},
        "state": {"type": "string", "enum": [s.value for s in STATES]},
        "since": {**TIME, "description": "when the current state began"},
        "reason": {"type": "string", "description": "why the provider is in this state"},
        "state_changes": {"type": "integer", "minimum": 0},
        "score": _nullable({"$ref": f"{REF}Score"}),
        "availability": _obj(
            {window: RATIO for window in AVAILABILITY_WINDOWS},
            "up / (up + down) per window; null for a window without conclusive checks",
        ),
        "error_rate_5m": RATIO,
        "latency_seconds": _obj(
            {"p50": SECONDS, "p95": SECONDS}, "quantiles of successful probes over 5 m"
        ),
        "last_probe": _nullable(
            _obj(
                {
                    "outcome": OUTCOME,
                    "at": TIME,
                    "http_status": {"type": ["integer", "null"], "minimum": 100, "maximum": 599},
                }
            )
        ),
        "last_failure": _nullable(_obj({"outcome": OUTCOME, "at": TIME})),
        "breaker": {
            "type": ["string", "null"],
            "enum": ["closed", "open", "half_open", None],
            "description": "the gateway's circuit breaker for this provider, when Redis is read",
        },
        "gateway": _nullable(
            _obj(
                {
                    "requests_last_hour": COUNT | {"description": "requests the backend saw"},
                    "failed_requests_last_hour": COUNT
                    | {"description": "failures the backend recorded (under-recorded today)"},
                    "latency_seconds": _obj({"p50": SECONDS, "p95": SECONDS, "p99": SECONDS}),
                },
                "gateway traffic from the backend's Redis; null when Redis is not read or holds"
                " nothing for this provider",
            )
        ),
        "rate_limit_backoff_seconds": {"type": "number", "minimum": 0},
        "models_listed": {"type": ["integer", "null"], "minimum": 0},
        "models": {
            "type": "array",
            "description": "watched models (`MODELS`) with their 24 h uptime",
            "items": _obj({"model": {"type": "string"}, "uptime_24h": RATIO}),
        },
        "last_hour": {
            "type": "array",
            "description": "one entry per minute of the last hour, oldest first",
            "items": _obj(
                {
                    "minute": {"type": "string", "format": "date-time"},
                    "availability": RATIO,
                    "latency_seconds": SECONDS,
                }
            ),
        },
        "inference": {
            "type": "array",
            "description": "its inference-probed models (`INFERENCE_PROBES`)",
            "items": {"$ref": f"{REF}InferenceModel"},
        },
        "official": _nullable({"$ref": f"{REF}Official"}),
    },
    "one provider's health",
)

PROVIDER_LIST = _obj(
    {
        "generated_at": {"type": "string", "format": "date-time"},
        "ready": {"type": "boolean", "description": "every configured provider was probed once"},
        "vantage": {
            "type": "string",
            "description": "VANTAGE: where this deployment probes from (every replica of it "
            "answers the same)",
        },
        "network": _obj(
            {
                "offline": {
                    "type": "boolean",
                    "description": "the exporter cannot reach the network (measured or inferred): "
                    "network-class failures are not counted against providers",
                },
                "up": {
                    "type": ["boolean", "null"],
                    "description": "the last connectivity check; null without targets",
                },
            },
            "the exporter's own network",
        ),
        "inference_budget_remaining_tokens": {
            "type": ["integer", "null"],
            "minimum": 0,
            "description": "tokens inference probes may still use today (UTC); null without "
            "INFERENCE_PROBES",
        },
        "states": _obj({s.value: {"type": "integer", "minimum": 0} for s in STATES}),
        "providers": {"type": "array", "items": {"$ref": f"{REF}Provider"}},
    },
    "every provider, worst state first",
)

ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "provider": {"type": "string"}},
    "required": ["error"],
}


def _response(description: str, schema: str) -> JSON:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"{REF}{schema}"}}},
    }


UNAUTHORIZED = _response("`METRICS_AUTH_TOKEN` is set and no valid token was given", "Error")


_PATHS: JSON = {
    f"{API_PREFIX}/providers": {
        "get": {
            "operationId": "listProviders",
            "summary": "Every provider's health",
            "responses": {
                "200": _response("every provider", "ProviderList"),
                "401": UNAUTHORIZED,
            },
        }
    },
    f"{API_PREFIX}/providers/{{slug}}": {
        "get": {
            "operationId": "getProvider",
            "summary": "One provider's health",
            "parameters": [
                {
                    "name": "slug",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": SLUG_PATTERN.pattern},
                }
            ],
            "responses": {
                "200": _response("the provider", "Provider"),
                "401": UNAUTHORIZED,
                "404": _response("no provider with this slug", "Error"),
            },
        }
    },
}


def openapi_document() -> JSON:
    """Return the OpenAPI document of the status API."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "provider-exporter status API",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "paths": _PATHS,
        "components": {
            "schemas": {
                "ProviderList": PROVIDER_LIST,
                "Provider": PROVIDER,
                "Score": SCORE,
                "InferenceModel": MODEL,
                "Official": OFFICIAL,
                "Error": ERROR,
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
        # `{}`: no token needed while METRICS_AUTH_TOKEN is unset.
        "security": [{}, {"bearer": []}, {"queryToken": []}],
    }
