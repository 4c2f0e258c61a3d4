"""Simulated status pages, shaped like Statuspage's /api/v2/summary.json: the demo's, and the
tests' (they script the same documents)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

INCIDENT_DELAY = 20.0  # seconds after the outage begins that its page declares it
RESOLVE_DELAY = 30.0  # seconds after the outage ends that its page resolves it
COMPONENTS = ("API", "Chat completions", "Fine-tuning")
WORDS = {"none": "All Systems Operational", "minor": "Minor Service Outage"}


def iso(at: float) -> str:
    """Return unix time `at` as Statuspage writes times."""
    moment = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    return moment.replace("+00:00", "Z")


def summary(
    indicator: str,
    components: Mapping[str, str],
    incidents: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Return a summary document: `components` maps each component's name to its status."""
    return {
        "page": {"id": "demo", "name": "Demo", "url": "http://localhost", "updated_at": iso(0)},
        "status": {"indicator": indicator, "description": WORDS.get(indicator, "Service Outage")},
        "components": [
            {
                "id": f"c{index}",
                "name": name,
                "status": status,
                "created_at": iso(0),
                "updated_at": iso(0),
                "position": index,
                "description": None,
                "showcase": True,
                "start_date": None,
                "group_id": None,
                "page_id": "demo",
                "group": False,
                "only_show_if_degraded": False,
            }
            for index, (name, status) in enumerate(components.items(), start=1)
        ],
        "incidents": list(incidents),
        "scheduled_maintenances": [],
    }


def incident(
    title: str, impact: str, created: float, components: Sequence[str] = ()
) -> dict[str, Any]:
    """Return one unresolved incident, declared at unix time `created`."""
    return {
        "id": f"i{int(created * 1000)}",
        "name": title,
        "status": "investigating",
        "created_at": iso(created),
        "updated_at": iso(created),
        "started_at": iso(created),
        "monitoring_at": None,
        "resolved_at": None,
        "impact": impact,
        "shortlink": "https://stspg.io/demo",
        "page_id": "demo",
        "incident_updates": [],
        "components": [{"name": name} for name in components],
    }


def page_response(request: web.Request, document: Mapping[str, Any]) -> web.Response:
    """Answer with `document`, or 304 when the client already holds it (If-None-Match)."""
    body = json.dumps(document).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(body=body, content_type="application/json", headers={"ETag": etag})


def operational() -> dict[str, Any]:
    return summary("none", dict.fromkeys(COMPONENTS, "operational"))


class DemoStatusPages:
    """One page per simulated provider that has one."""

    PAGES = ("healthy", "slow", "outage")

    def __init__(self, elapsed: Callable[[], float], cycle: float, down: float) -> None:
        self._elapsed = elapsed
        self._cycle = cycle
        self._down = down
        self._started = datetime.now(UTC).timestamp() - elapsed()

    def add_routes(self, app: web.Application) -> None:
        for name in self.PAGES:
            app.router.add_get(f"/{name}/status/api/v2/summary.json", self._handler(name))

    def _handler(self, name: str) -> Callable[[web.Request], Any]:
        async def page(request: web.Request) -> web.Response:
            return page_response(request, self.document(name))

        return page

    def document(self, name: str) -> dict[str, Any]:
        if name == "healthy":  # an incident on a part the probes do not touch: they disagree
            statuses = dict.fromkeys(COMPONENTS, "operational") | {
                "Fine-tuning": "degraded_performance"
            }
            delayed = incident("Fine-tuning jobs delayed", "minor", self._started, ["Fine-tuning"])
            return summary("minor", statuses, [delayed])
        if name == "outage":
            return self._outage()
        return operational()

    def _outage(self) -> dict[str, Any]:
        """Declared 20 s after the outage begins, resolved 30 s after it ends."""
        elapsed = self._elapsed()
        down_from = elapsed - elapsed % self._cycle + self._cycle - self._down
        if down_from > elapsed:  # the previous cycle's outage may not be resolved yet
            down_from -= self._cycle
        since = elapsed - down_from
        if down_from < 0 or not INCIDENT_DELAY <= since < self._down + RESOLVE_DELAY:
            return operational()
        declared = self._started + down_from + INCIDENT_DELAY
        outage = incident("Elevated error rates on the API", "major", declared, ["API"])
        statuses = dict.fromkeys(COMPONENTS, "operational") | {"API": "major_outage"}
        return summary("major", statuses, [outage])
