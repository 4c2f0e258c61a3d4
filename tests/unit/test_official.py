"""Reading a Statuspage summary.json: what the provider claims, narrowed to what we watch, and
every kind of bad page refused with a fixed reason."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.judgement.scoring import State
from exporter.probing.official import (
    MAX_NAME_CHARS,
    BadPageError,
    OfficialView,
    OfficialWord,
    disagreement,
    parse_summary,
)
from exporter.targets import summary_url
from tests.support.status_pages import incident, summary

NOW = time.time()


def parse(document: object, watch: frozenset[str] = frozenset(), cap: int = 20) -> OfficialWord:
    return parse_summary(json.dumps(document).encode(), watch=watch, cap=cap)


def test_reads_indicator_components_and_unresolved_incidents() -> None:
    """The page's indicator, each component's status, and its unresolved incidents by impact,
    newest first; resolved ones are not counted."""
    resolved = incident("Old", "critical", NOW - 9000) | {"status": "resolved"}
    document = summary(
        "major",
        {"API": "partial_outage", "Playground": "operational"},
        [incident("First", "minor", NOW - 600), incident("Second", "major", NOW - 60), resolved],
    )
    word = parse(document)
    assert word.indicator == "major"
    assert word.description == "Service Outage"
    assert word.components == (("API", "partial_outage"), ("Playground", "operational"))
    assert word.affected == ("API",)
    assert [i.title for i in word.incidents] == ["Second", "First"]
    assert (word.count("minor"), word.count("major"), word.count("critical")) == (1, 1, 0)
    assert word.declared_at == pytest.approx(NOW - 60, abs=0.01)
    assert word.newest.url == "https://stspg.io/demo"


def test_watched_components_narrow_the_page_and_its_indicator() -> None:
    """With {SLUG}_STATUS_COMPONENTS only the named components (or a named group's children)
    count, and the indicator is theirs: ChatGPT's outage is not the API's."""
    document = summary("critical", {"ChatGPT": "major_outage", "API": "degraded_performance"})
    chatgpt = incident("ChatGPT down", "critical", NOW, ["ChatGPT"])
    anywhere = incident("Unspecified", "minor", NOW - 5)
    document["incidents"] = [chatgpt, anywhere]
    word = parse(document, watch=frozenset({"api"}))
    assert word.components == (("API", "degraded_performance"),)
    assert word.indicator == "minor"  # worst of API's status and the incidents that may touch it
    assert [i.title for i in word.incidents] == ["Unspecified"]
    grouped = summary("none", {"Chat": "partial_outage", "Images": "operational"})
    grouped["components"].append({"id": "g1", "name": "API group", "group": True, "status": "x"})
    grouped["components"][0]["group_id"] = "g1"
    assert parse(grouped, watch=frozenset({"api group"})).components == (
        ("Chat", "partial_outage"),
    )


def test_component_names_are_cleaned_capped_and_counted_once() -> None:
    """Control and format characters go, spaces collapse, names are capped; at most `cap`
    components are kept; unknown statuses are no claim."""
    document = summary(
        "none",
        {
            "Bad\x00name\u200b\n here": "operational",
            "x" * 500: "operational",
            "Unknown status": "on_fire",
            **{f"c{i}": "operational" for i in range(30)},
        },
    )
    word = parse(document, cap=5)
    names = [name for name, _ in word.components]
    assert names[0] == "Bad name here"
    assert names[1] == "x" * MAX_NAME_CHARS
    assert "Unknown status" not in names and len(names) == 5


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<!doctype html><html>Status</html>", "not_json"),
        (b'{"status": {"indicator": "none"', "not_json"),
        (b"[" * 100_000, "not_json"),
        (b"[]", "bad_shape"),
        (b'{"components": []}', "bad_shape"),
        (b'{"status": {"indicator": "apocalyptic"}}', "unknown_indicator"),
        (b'{"status": {"indicator": "none"}, "components": {}}', "bad_shape"),
        (
            json.dumps(summary("none", {f"c{i}": "operational" for i in range(5000)})).encode(),
            "too_many_components",
        ),
    ],
    ids=["html", "cut", "deep", "array", "no-status", "unknown-indicator", "dict", "5000"],
)
def test_bad_pages_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(BadPageError) as caught:
        parse_summary(body, watch=frozenset(), cap=20)
    assert caught.value.reason == reason


def test_the_cap_keeps_affected_components_and_same_names_are_told_apart() -> None:
    """Past the cap the failing component is still there; `API` in two groups is two
    components; `null` lists are empty."""
    many = summary("minor", {f"c{i}": "operational" for i in range(30)} | {"Late": "major_outage"})
    word = parse(many, cap=5)
    assert word.components[0] == ("Late", "major_outage") and len(word.components) == 5
    assert word.affected == ("Late",)
    grouped = summary("none", {})
    grouped["components"] = [
        {"id": "us", "name": "US", "group": True, "status": "operational"},
        {"id": "eu", "name": "EU", "group": True, "status": "operational"},
        {"id": "a", "name": "API", "group_id": "us", "status": "operational"},
        {"id": "b", "name": "API", "group_id": "eu", "status": "major_outage"},
    ]
    assert parse(grouped).components == (("EU / API", "major_outage"), ("API", "operational"))
    nulls = {"status": {"indicator": "none"}, "components": None, "incidents": None}
    assert parse(nulls).components == () and parse(nulls).incidents == ()


def test_newest_incident_is_the_declaration() -> None:
    """An old incident left open elsewhere does not stand for today's: the newest is used."""
    old, new = incident("Old", "minor", NOW - 86_400), incident("New", "major", NOW - 30)
    word = parse(summary("major", {"API": "major_outage"}, [old, new]))
    assert word.declared_at == pytest.approx(NOW - 30, abs=0.01)


def test_watching_components_the_page_does_not_have_is_an_error() -> None:
    with pytest.raises(BadPageError, match="components_not_found"):
        parse(summary("none", {"API": "operational"}), watch=frozenset({"chat"}))


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=30,
    )
)
def test_any_json_is_read_or_refused_never_a_crash(document: object) -> None:
    """Whatever JSON a page serves, the reader returns a word or raises BadPageError."""
    base = {"status": {"indicator": "none"}}
    entry = {"id": document, "group_id": document, "group": True, "name": document}
    odd = {"status": document, "impact": document, "name": "x", "components": document}
    for candidate in (
        document,
        base | {"components": document},
        base | {"incidents": document},
        base | {"components": [entry, entry | {"group": False, "status": "operational"}]},
        base | {"incidents": [odd]},
    ):
        with contextlib.suppress(BadPageError):
            parse(candidate)


def test_disagreement_both_ways_and_agreement() -> None:
    none = parse(summary("none", {"API": "operational"}))
    major = parse(summary("major", {"API": "major_outage"}))
    assert disagreement(State.DOWN, none) == "down_they_say_operational"
    assert disagreement(State.HEALTHY, major) == "incident_we_see_healthy"
    assert disagreement(State.DOWN, major) is None
    assert disagreement(State.HEALTHY, none) is None
    assert disagreement(State.DOWN, None) is None  # unread: no claim to compare


def test_a_page_is_given_as_its_home_or_its_json() -> None:
    assert summary_url("https://status.x.com/") == "https://status.x.com/api/v2/summary.json"
    assert summary_url("https://s.io/api/v2/summary.json") == "https://s.io/api/v2/summary.json"
    assert OfficialView("https://s.io/api/v2/summary.json").page == "https://s.io"
