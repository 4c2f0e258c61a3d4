"""The status page's lines about a provider's own status page: their word, beside ours."""

from __future__ import annotations

from html import escape

from exporter.judgement.scoring import State
from exporter.probing.official import OfficialView, disagreement

INDICATOR_TEXT = {
    "none": "operational",
    "minor": "minor issues",
    "major": "major outage",
    "critical": "critical outage",
}
DISAGREEMENT_TEXT = {
    "down_they_say_operational": "We see it down; their status page says operational.",
    "incident_we_see_healthy": "Their status page reports {word}; we see it healthy.",
}


def official_row(official: OfficialView | None) -> tuple[str, str] | None:
    """Return the card's "their page" row (name, HTML), or None without a status page."""
    if official is None:
        return None
    link = f'<a href="{escape(official.page)}" rel="noopener noreferrer">'
    word = official.word
    if word is None:
        why = "not read yet" if official.up is None else f"unreadable ({official.error})"
        return "their page", f'{link}<span class="none">{escape(why)}</span></a>'
    parts = [f'{link}<b data-role="official">{INDICATOR_TEXT[word.indicator]}</b></a>']
    if word.affected:
        parts.append("affected: " + escape(", ".join(word.affected)))
    incident = word.newest
    if incident is not None:
        title = escape(incident.title)
        if incident.url is not None:
            title = f'<a href="{escape(incident.url)}" rel="noopener noreferrer">{title}</a>'
        parts.append(f"incident: {title} ({escape(incident.impact)})")
    return "their page", " · ".join(parts)


def disagreement_note(state: State, official: OfficialView | None) -> str:
    """Return a warning paragraph when our state and their word disagree, else ""."""
    word = official.word if official is not None else None
    kind = disagreement(state, word)
    if kind is None or word is None:
        return ""
    text = DISAGREEMENT_TEXT[kind].format(word=INDICATOR_TEXT[word.indicator])
    return f'<p class="disagree" role="note" data-disagreement="{kind}">⚠ {escape(text)}</p>'
