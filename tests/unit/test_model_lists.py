"""Tests of model-list parsing: formats, truncated prefixes and bodies that must be rejected."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.catalog import ListFormat
from exporter.probing.model_lists import MAX_DEPTH, BadBodyError, parse_model_list

W = frozenset({"m1", "gemini-2.0"})


def parse(body: bytes, fmt: ListFormat = ListFormat.OPENAI, complete: bool = True, cap: int = 10):
    return parse_model_list(body, fmt=fmt, complete=complete, watch=W, cap=cap)


@pytest.mark.parametrize(
    ("fmt", "body", "ids"),
    [
        (ListFormat.OPENAI, {"object": "list", "data": [{"id": "m1"}, {"id": "m2"}]}, ["m1", "m2"]),
        (ListFormat.ARRAY, [{"model_name": "m1"}, {"id": "m3"}], ["m1", "m3"]),
        (
            ListFormat.VERTEX,
            {"publisherModels": [{"name": "publishers/google/models/gemini-2.0"}]},
            ["gemini-2.0"],
        ),
        (ListFormat.OPENAI, {"data": []}, []),
    ],
)
def test_formats(fmt: ListFormat, body: object, ids: list[str]) -> None:
    """Each provider format yields its model ids."""
    result = parse(json.dumps(body).encode(), fmt)
    assert list(result.sample) == ids and result.count == len(ids) and result.complete


def test_watched_models_are_reported() -> None:
    """The result says which watched models were listed."""
    result = parse(json.dumps({"data": [{"id": "m1"}, {"id": "x"}]}).encode())
    assert result.watched_seen == {"m1"}


def test_cap_bounds_the_sample() -> None:
    """Thousands of models are counted, but only `cap` ids are kept."""
    body = json.dumps({"data": [{"id": f"m{i}"} for i in range(5000)]}).encode()
    result = parse(body, cap=10)
    assert result.count == 5000 and len(result.sample) == 10 and result.watched_seen == {"m1"}


def test_truncated_prefix_is_read() -> None:
    """A body cut at the read limit yields the models in the bytes read."""
    full = json.dumps({"data": [{"id": f"m{i}", "x": "y" * 50} for i in range(100)]}).encode()
    result = parse(full[:1000], complete=False)
    assert 5 < result.count < 100 and not result.complete and result.sample[0] == "m0"


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"data": [{"id": "m1"}',
        b'{"data": [{"id": "\xff\xfe"}]}',
        b'{"models": []}',
        b'{"data": null}',
        b'{"data": [null, null]}',
        b'{"data": [{"id": null}]}',
        b"null",
        b'"just a string"',
        b"",
    ],
)
def test_bad_bodies(body: bytes) -> None:
    """Invalid JSON, invalid UTF-8, wrong shapes and nulls are rejected as bad bodies."""
    with pytest.raises(BadBodyError):
        parse(body)


@pytest.mark.parametrize("body", [b'{"data": [{"id": "a"} xx', b"<html>", b'{"other": [1, 2'])
def test_bad_truncated_bodies(body: bytes) -> None:
    """A cut body must still be a valid prefix of the expected shape."""
    with pytest.raises(BadBodyError):
        parse(body, complete=False)


def test_prefix_cut_inside_a_character_is_fine() -> None:
    """A read limit that falls inside a multi-byte UTF-8 character does not make a bad body."""
    full = json.dumps({"data": [{"id": f"modèle-{i}-€"} for i in range(50)]}, ensure_ascii=False)
    body = full.encode()
    for cut in range(200, 260):
        assert parse(body[:cut], complete=False).sample[0] == "modèle-0-€"


@pytest.mark.parametrize("complete", [True, False])
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 1_000_000,  # a megabyte of nesting: once exhausted memory (cut) or recursion (whole)
        b'{"data": [' + b'{"a": ' * 100_000,
        b'{"data": [{"id": "m1"}, ' + b"[" * (MAX_DEPTH + 1),
    ],
    ids=["arrays", "maps", "after-a-model"],
)
def test_nesting_deeper_than_any_list_is_a_bad_body(body: bytes, complete: bool) -> None:
    """A body nested deeper than MAX_DEPTH is refused as a bad body, cut or whole."""
    with pytest.raises(BadBodyError):
        parse(body, complete=complete)


def test_nesting_up_to_the_limit_is_walked() -> None:
    """Deep but legal structure beside the list (metadata of each item) does not hide the ids."""
    deep = {"a": [[[[{"b": [[["c"]]]}]]]]}
    body = json.dumps({"data": [{"id": "m1", "meta": deep}, {"meta": deep, "id": "m2"}]}).encode()
    for complete, cut in ((True, len(body)), (False, len(body) - 2)):
        assert parse(body[:cut], complete=complete).sample == ("m1", "m2")


def test_whole_bodies_are_bounded_by_the_parser_cut_ones_by_max_depth() -> None:
    """A whole body is parsed by Python's JSON parser: valid nesting past its recursion limit is a
    bad body, 40 levels are fine. A cut body is walked with our stack: past MAX_DEPTH is bad."""
    deep = b'{"data": [{"id": "m1"}, ' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    with pytest.raises(BadBodyError, match="nested too deeply"):
        parse(deep)
    forty = json.dumps({"data": [{"id": "m1", "meta": json.loads("[" * 40 + "]" * 40)}]})
    assert parse(forty.encode()).sample == ("m1",)
    with pytest.raises(BadBodyError, match="nested too deeply"):
        parse(forty.encode()[:-2], complete=False)


def test_lone_surrogate_ids_never_reach_a_label() -> None:
    """A JSON escape of half a character ("\\ud800") cannot become a label: a whole body drops
    that id; the C parser of cut bodies reads it as "?". The other ids are kept either way."""
    body = b'{"data": [{"id": "\\ud800"}, {"id": "ok\\u00e9"}, {"id": "\\ud83d\\ude00"}]}'
    assert parse(body).sample == ("ok\u00e9", "\U0001f600")
    assert parse(body[:-2], complete=False).sample == ("?", "ok\u00e9", "\U0001f600")


@pytest.mark.parametrize(
    "items",
    [
        [{"model_name": "m1", "id": "x1"}, {"id": "m3"}],
        [{"id": "x1", "model_name": "m1"}, {"id": "m3"}],
        [{"model_name": None, "id": "m1"}, {"id": "x", "id ": "y", "model_name": "m3"}],
    ],
)
def test_preferred_id_key_wins_in_a_prefix_as_in_a_whole_body(items: list[object]) -> None:
    """LiteLLM items carry `model_name` and `id`: `model_name` names the model, cut or whole,
    whatever the order of the keys."""
    body = json.dumps(items).encode()
    assert parse(body, ListFormat.ARRAY).sample == ("m1", "m3")
    assert parse(body[:-1], ListFormat.ARRAY, complete=False).sample == ("m1", "m3")


LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
KEYS = st.sampled_from(["id", "model_name", "data", "name", "x"]) | st.text(max_size=4)
# no surrogates: the two parsers spell a lone one differently (see above)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
DOC = st.recursive(
    LEAF | TEXT,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(doc=st.one_of(DOC, st.fixed_dictionaries({"data": st.lists(DOC, max_size=5)})))
def test_prefix_reader_agrees_with_the_whole_body_reader(doc: object) -> None:
    """Whatever the document, reading it as a prefix gives the ids a whole read gives."""
    body = json.dumps(doc).encode()
    for fmt in (ListFormat.OPENAI, ListFormat.ARRAY):
        try:
            whole = parse(body, fmt, cap=100)
        except BadBodyError:
            continue
        assert parse(body, fmt, complete=False, cap=100).sample == whole.sample
