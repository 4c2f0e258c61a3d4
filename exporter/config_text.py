"""Raw configuration text: values and files checked before anything else reads them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from exporter.errors import ConfigError

MAX_CONFIG_FILE_BYTES = 4 * 1_048_576


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Return what makes `value` unfit for a header, a label, a URL or a page; None if nothing.

    The OS hands Python bytes that are not UTF-8 as lone surrogates ("surrogateescape"): such a
    value would fail later, on every request that renders it, so it is refused at start.
    """
    if value.isascii() and value.isprintable():
        return None  # the common case, decided in one pass
    for char in value:
        if "\ud800" <= char <= "\udfff":
            return "contains bytes that are not UTF-8"
        if multiline and char in "\n\r\t":
            continue
        if not char.isprintable() and char != " ":
            hint = "; a pasted line break?" if char in "\r\n" else ""
            return f"contains a control character ({char!r}{hint})"
    return None


def check_text(name: str, value: str, *, multiline: bool = False) -> None:
    """Raise ConfigError naming `name` when `value` cannot travel in a header, label or page."""
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        raise ConfigError([f"{name}: {problem}"])


def read_config_file(name: str, path: Path | str) -> str:
    """Return the UTF-8 text of the regular file at `path`, named by variable `name` in errors.

    Never blocks: a FIFO, a device or a socket is refused before it is opened for reading, and
    the file is opened non-blocking and checked again (it could have been swapped in between).
    """
    shown = str(path) if str(path).isprintable() else repr(str(path))
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError([f"{name}: {shown} is not a regular file"])
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError([f"{name}: {shown} does not exist"]) from None
    except PermissionError:
        raise ConfigError([f"{name}: cannot read {shown} (permission denied)"]) from None
    except OSError as exc:
        raise ConfigError([f"{name}: cannot read {shown} ({exc.strerror or 'error'})"]) from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ConfigError([f"{name}: {shown} is not a regular file"])
        try:
            data = handle.read(MAX_CONFIG_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError([f"{name}: cannot read {shown} ({exc.strerror})"]) from None
    if len(data) > MAX_CONFIG_FILE_BYTES:
        raise ConfigError([f"{name}: {shown} is larger than {MAX_CONFIG_FILE_BYTES} bytes"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{name}: {shown} is not UTF-8 (byte {exc.start})"]) from None
