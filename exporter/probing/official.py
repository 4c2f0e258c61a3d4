"""The providers' own word: a Statuspage `summary.json` read into what it claims, and how that
claim compares with our state. Pure: no I/O (the poller in `official_poller.py` fetches).

Shown beside our verdict, never inside it: nothing here changes a provider's state or score.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exporter.states import State

INDICATORS = ("none", "minor", "major", "critical")
COMPONENT_STATUSES = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
)
# What a component's status says about the page's indicator, for a page narrowed to some
# components ({SLUG}_STATUS_COMPONENTS): the worst watched component wins.
STATUS_INDICATOR = {
    "operational": "none",
    "under_maintenance": "none",
    "degraded_performance": "minor",
    "partial_outage": "major",
    "major_outage": "critical",
}
RESOLVED = frozenset({"resolved", "postmortem", "completed"})
MAX_PAGE_COMPONENTS = 500  # more is not a status page someone reads: refused as a whole
MAX_NAME_CHARS = 64  # a component's label value
MAX_TITLE_CHARS = 200  # an incident's title, as shown


class BadPageError(Exception):
    """The page answered with something that is not a usable summary; `reason` is a fixed word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Incident:
    """One unresolved incident, as the page declares it."""

    title: str
    impact: str  # one of INDICATORS
    url: str | None  # the page's link to it (http/https only)
    started: float | None  # unix time the provider created it


@dataclass(frozen=True, slots=True)
class OfficialWord:
    """What one page says now, narrowed to the watched components."""

    indicator: str  # one of INDICATORS
    description: str  # the page's own words ("All Systems Operational")
    components: tuple[tuple[str, str], ...]  # (name, status), at most the configured cap
    incidents: tuple[Incident, ...]  # unresolved, newest first

    @property
    def affected(self) -> tuple[str, ...]:
        """Return the watched components that are not operational."""
        quiet = ("operational", "under_maintenance")
        return tuple(name for name, status in self.components if status not in quiet)

    @property
    def newest(self) -> Incident | None:
        return self.incidents[0] if self.incidents else None

    @property
    def declared_at(self) -> float | None:
        """Return when the newest unresolved incident was declared: during an outage, the one
        they opened for it (an older incident left open elsewhere must not stand for it)."""
        times = [incident.started for incident in self.incidents if incident.started is not None]
        return max(times) if times else None

    def count(self, impact: str) -> int:
        return sum(1 for incident in self.incidents if incident.impact == impact)


@dataclass(frozen=True, slots=True)
class OfficialView:
    """A provider's status page as the exporter last read it."""

    url: str
    up: bool | None = None  # None until the first poll ends
    word: OfficialWord | None = None  # None unless the last poll read the page
    last_success: float | None = None
    error: str | None = None  # the reason of the last failed poll, while failing
    errors: Mapping[str, int] = field(default_factory=dict)  # reason -> failed polls

    @property
    def page(self) -> str:
        """Return the human page: the summary URL without its API path."""
        return self.url.split("/api/v2/", 1)[0]


def disagreement(state: State, word: OfficialWord | None) -> str | None:
    """Return where our state and their word disagree, or None: `down_they_say_operational`
    (we see it down, their indicator is none) or `incident_we_see_healthy` (their indicator is
    not none, we see it healthy)."""
    if word is None:
        return None
    if state is State.DOWN and word.indicator == "none":
        return "down_they_say_operational"
    if state is State.HEALTHY and word.indicator != "none":
        return "incident_we_see_healthy"
    return None


def parse_summary(body: bytes, *, watch: frozenset[str], cap: int) -> OfficialWord:
    """Read a Statuspage summary.json; `watch` (casefolded names, empty for all) narrows it to
    some components or their groups. Raises BadPageError for anything that is not a summary."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # HTML, a cut body, "[[[[..."
        raise BadPageError("not_json") from None
    status = document.get("status") if isinstance(document, dict) else None
    if not isinstance(status, dict):
        raise BadPageError("bad_shape")
    indicator = status.get("indicator")
    if indicator not in INDICATORS:
        raise BadPageError("unknown_indicator")
    raw = _list(document, "components")
    if len(raw) > MAX_PAGE_COMPONENTS:
        raise BadPageError("too_many_components")
    found = _components(raw, watch)
    if watch and not found:
        raise BadPageError("components_not_found")  # {SLUG}_STATUS_COMPONENTS names none of them
    watched_names = {name.casefold() for name, _, _ in found}
    incidents = _incidents(_list(document, "incidents"), watched_names if watch else None)
    if watch:  # the page's indicator speaks for every component: derive it from ours
        levels = [STATUS_INDICATOR[state] for _, _, state in found]
        levels += [incident.impact for incident in incidents]
        indicator = max(levels, key=INDICATORS.index, default="none")
    # Affected components first: a cap must never hide the one that is failing.
    labelled = sorted(((label, state) for _, label, state in found), key=_quiet)
    description = clean(status.get("description"), MAX_TITLE_CHARS) or ""
    return OfficialWord(indicator, description, tuple(labelled[:cap]), incidents)


def _quiet(component: tuple[str, str]) -> bool:
    return component[1] in ("operational", "under_maintenance")


def _list(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key)
    if value is None:  # absent or null: the page lists none
        return []
    if not isinstance(value, list):
        raise BadPageError("bad_shape")
    return value


def _text(entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    return value if isinstance(value, str) else None


def _components(raw: list[Any], watch: frozenset[str]) -> list[tuple[str, str, str]]:
    """Return (name, label, status) of each watched component, in page order. The label is the
    name, or "group / name" when an earlier component already had that name."""
    entries = [entry for entry in raw if isinstance(entry, dict)]
    groups = {
        _text(entry, "id"): clean(entry.get("name"), MAX_NAME_CHARS) or ""
        for entry in entries
        if entry.get("group") is True
    }
    found: list[tuple[str, str, str]] = []
    labels: set[str] = set()
    for entry in entries:
        name = clean(entry.get("name"), MAX_NAME_CHARS)
        status = _text(entry, "status")
        if entry.get("group") is True or not name or status not in COMPONENT_STATUSES:
            continue  # a group only sums its children; an unknown status is no claim
        group = groups.get(_text(entry, "group_id"), "")
        if watch and not {name.casefold(), group.casefold()} & watch:
            continue
        label = name if name not in labels else clean(f"{group} / {name}", MAX_NAME_CHARS)
        if label is None or label in labels:
            continue  # the same component twice: the first speaks
        labels.add(label)
        found.append((name, label, status))
    return found


def _incidents(raw: list[Any], watched: set[str] | None) -> tuple[Incident, ...]:
    found = []
    for entry in raw:
        if not isinstance(entry, dict) or _text(entry, "status") in RESOLVED:
            continue
        impact = _text(entry, "impact")
        if impact not in INDICATORS:  # "maintenance", or a value we do not know
            continue
        if watched is not None and not _touches(entry, watched):
            continue
        link = entry.get("shortlink")
        url = link if isinstance(link, str) and link.startswith(("https://", "http://")) else None
        title = clean(entry.get("name"), MAX_TITLE_CHARS) or "(untitled)"
        found.append(Incident(title, impact, url, _timestamp(entry.get("created_at"))))
    found.sort(key=lambda incident: incident.started or 0.0, reverse=True)
    return tuple(found)


def _touches(entry: dict[str, Any], watched: set[str]) -> bool:
    """Tell whether an incident names a watched component (one that names none may be any)."""
    listed = entry.get("components")
    if not isinstance(listed, list) or not listed:
        return True
    names = {clean(c.get("name"), MAX_NAME_CHARS) for c in listed if isinstance(c, dict)}
    return any(name.casefold() in watched for name in names if name)


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def clean(value: object, limit: int) -> str | None:
    """Return page text fit for a label or a page: no control or format characters, spaces
    collapsed, at most `limit` characters; None when nothing is left."""
    if not isinstance(value, str):
        return None
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in value)
    text = " ".join(kept.split())[:limit].strip()
    return text or None
