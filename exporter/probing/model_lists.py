"""Reading a provider's model list from a (possibly truncated) response body."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import ijson

from exporter.catalog import ListFormat
from exporter.settings import MAX_MODEL_ID_CHARS

MAX_DEPTH = 32  # no model list nests deeper; a body that does is refused, not walked
VERTEX_PREFIX = "publishers/google/models/"

# Where the list lives and which key of each item names a model, per format.
_CONTAINERS: dict[ListFormat, tuple[str, tuple[str, ...]]] = {
    ListFormat.OPENAI: ("data", ("id",)),
    ListFormat.ARRAY: ("", ("model_name", "id")),
    ListFormat.VERTEX: ("publisherModels", ("name",)),
}
_ITEM = object()  # the path step into an array's member


class BadBodyError(ValueError):
    """The body is not the model list the probe expects."""


@dataclass(frozen=True, slots=True)
class ModelList:
    """What a model-list body said, bounded in size."""

    count: int  # models counted (within the bytes read)
    sample: tuple[str, ...]  # the first `cap` model ids
    watched_seen: frozenset[str]  # watched models that were listed
    complete: bool  # False when the body was cut at the read limit


def parse_model_list(
    body: bytes, *, fmt: ListFormat, complete: bool, watch: frozenset[str], cap: int
) -> ModelList:
    """Return the models listed in `body`.

    A complete body must be valid JSON of the expected shape; a truncated one must be a valid
    prefix of it. Raises BadBodyError otherwise (invalid UTF-8, invalid JSON, wrong shape).
    """
    ids = _ids_complete(body, fmt) if complete else _ids_prefix(_whole_characters(body), fmt)
    count = 0
    sample: list[str] = []
    seen: set[str] = set()
    for model in ids:
        count += 1
        if len(sample) < cap:
            sample.append(model)
        if model in watch:
            seen.add(model)
    return ModelList(count, tuple(sample), frozenset(seen), complete)


def _whole_characters(prefix: bytes) -> bytes:
    """Drop a UTF-8 character cut in two at the end of a prefix (the read limit falls anywhere)."""
    for back in range(1, min(4, len(prefix)) + 1):
        byte = prefix[-back]
        if byte < 0x80:  # ASCII: nothing cut
            return prefix
        if byte >= 0xC0:  # the lead byte of the last character
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return prefix if back >= needed else prefix[:-back]
    return prefix


def _ids_complete(body: bytes, fmt: ListFormat) -> list[str]:
    try:
        document = json.loads(body)
    except ValueError as exc:  # includes UnicodeDecodeError
        raise BadBodyError("not valid JSON") from exc
    except RecursionError as exc:
        raise BadBodyError("nested too deeply") from exc
    container, keys = _CONTAINERS[fmt]
    if container:
        items = document.get(container) if isinstance(document, dict) else None
    else:
        items = document
    if not isinstance(items, list):
        raise BadBodyError(f"no list at {container or 'top level'!r}")
    ids = [model for item in items if (model := _item_id(item, keys, fmt)) is not None]
    if items and not ids:
        raise BadBodyError("list items carry no model ids")
    return _dedupe(ids)  # a model listed twice is one model


def _item_id(item: object, keys: tuple[str, ...], fmt: ListFormat) -> str | None:
    if not isinstance(item, dict):
        return None
    for key in keys:
        value = item.get(key)
        if isinstance(value, str):
            return _clean(value, fmt)
    return None


def _clean(value: str, fmt: ListFormat) -> str | None:
    if fmt is ListFormat.VERTEX:
        value = value.removeprefix(VERTEX_PREFIX)
    if not value or len(value) > MAX_MODEL_ID_CHARS or not _encodable(value):
        return None
    return value


def _encodable(value: str) -> bool:
    """False for a string holding a lone surrogate (a JSON "\\ud800" escape): no label holds it."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _ids_prefix(body: bytes, fmt: ListFormat) -> list[str]:
    """Collect model ids from a valid prefix of a long list (featherless lists ~50 MB).

    Walks parser events with its own path stack, at most MAX_DEPTH deep, so a hostile body
    (a megabyte of "[") costs one pass and no memory beyond the ids. Each item gives the id a
    whole body would: the first key of the format's preference present, the last spelling of it.
    """
    container, keys = _CONTAINERS[fmt]
    list_path: tuple[object, ...] = (container,) if container else ()
    depth = len(list_path) + 1  # the path length of an item of the list
    ids: list[str] = []
    found_list = False
    path: list[object] = []  # the step into each open container, below the document itself
    arrays: list[bool] = []  # per open container: is it an array?
    key: str = ""
    best: tuple[int, str] | None = None  # (preference, value) of the current item's id so far
    for event, value in _events(body):
        if event == "map_key":
            key = value
            continue
        if event in ("end_map", "end_array"):
            if event == "end_map" and len(path) == depth and best is not None:
                ids.append(best[1])  # an item of the list is complete
                best = None
            arrays.pop()
            if path:
                path.pop()
            continue
        step = (_ITEM if arrays[-1] else key) if arrays else None
        if event in ("start_map", "start_array"):
            if len(arrays) >= MAX_DEPTH:
                raise BadBodyError("nested too deeply")
            if step is not None:
                path.append(step)
            arrays.append(event == "start_array")
            found_list = found_list or (event == "start_array" and tuple(path) == list_path)
        elif event == "string" and len(path) == depth and step in keys:
            rank = keys.index(step)
            if tuple(path[:-1]) == list_path and (best is None or rank <= best[0]):
                best = (rank, value)
    if best is not None:
        ids.append(best[1])  # the item the cut fell in: its id was read whole
    if not found_list:
        raise BadBodyError(f"no list at {container or 'top level'!r} in the bytes read")
    return _dedupe(model for raw in ids if (model := _clean(raw, fmt)) is not None)


def _events(body: bytes) -> Iterator[tuple[str, Any]]:
    """Yield the parser events of `body`; running out of bytes ends them (we cut the body),
    anything else is a broken body."""
    try:
        yield from ijson.basic_parse(body)
    except ijson.IncompleteJSONError as exc:
        if "premature EOF" not in str(exc) and "Incomplete JSON" not in str(exc):
            raise BadBodyError("not valid JSON") from exc
    except ijson.JSONError as exc:
        raise BadBodyError("not valid JSON") from exc


def _dedupe(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))
