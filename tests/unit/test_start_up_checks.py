"""The start-up checks one by one: text values, configuration files, listening, loop supervision."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
from pathlib import Path

import pytest
import structlog

from exporter.config_text import MAX_CONFIG_FILE_BYTES, read_config_file, text_problem
from exporter.errors import ConfigError
from exporter.running.supervisor import run_until, supervise
from exporter.serving.listening import check_listen, listen_error


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("sk-live-abc", None),
        ("tab\tünïcode ✓ with spaces", "contains a control character ('\\t')"),
        ("key\r\n", "contains a control character ('\\r'; a pasted line break?)"),
        ("a\x00b", "contains a control character ('\\x00')"),
        ("\x1b[31m", "contains a control character ('\\x1b')"),
        ("zero\u200bwidth", "contains a control character ('\\u200b')"),
        ("caf\udce9", "contains bytes that are not UTF-8"),  # how the OS hands over byte 0xE9
    ],
)
def test_text_problems(value: str, problem: str | None) -> None:
    """What cannot travel in a header, a label, a URL or a page is named; the rest passes."""
    assert text_problem(value) == problem


def test_multiline_text_allows_line_breaks_only() -> None:
    """Pretty-printed JSON credentials may hold line breaks and tabs, not other controls."""
    assert text_problem('{\n\t"a": 1\r\n}', multiline=True) is None
    assert text_problem('{"a": "\x07"}', multiline=True) is not None


def _problem(path: Path | str) -> str:
    with pytest.raises(ConfigError) as caught:
        read_config_file("SOME_FILE", path)
    (line,) = caught.value.lines
    return line


def test_config_file_kinds(tmp_path: Path) -> None:
    """Missing, directory, FIFO, device, too large and non-UTF-8 are one line each; FIFO and
    device are never opened for reading (that would block, or never end)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big"
    big.write_bytes(b"x" * (MAX_CONFIG_FILE_BYTES + 1))
    latin = tmp_path / "latin"
    latin.write_bytes(b"ok\ncaf\xe9\n")
    assert _problem(tmp_path / "nope") == f"SOME_FILE: {tmp_path / 'nope'} does not exist"
    assert _problem(tmp_path) == f"SOME_FILE: {tmp_path} is not a regular file"
    assert _problem(fifo) == f"SOME_FILE: {fifo} is not a regular file"
    assert _problem("/dev/zero") == "SOME_FILE: /dev/zero is not a regular file"
    assert _problem(big).endswith(f"is larger than {MAX_CONFIG_FILE_BYTES} bytes")
    assert _problem(latin) == f"SOME_FILE: {latin} is not UTF-8 (byte 6)"
    good = tmp_path / "good"
    good.write_text("providers: []\n", encoding="utf-8")
    assert read_config_file("SOME_FILE", good) == "providers: []\n"


def test_unprintable_path_is_quoted(tmp_path: Path) -> None:
    """A path with a line break in it is shown quoted, so the error stays one line."""
    line = _problem(tmp_path / "a\nb")
    assert "\n" not in line and "'" in line


def test_listen_check_names_the_variable() -> None:
    """A port taken on every address names PORT; addresses that cannot be bound name
    LISTEN_ADDRESSES; one free address is enough."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            check_listen(port, ["127.0.0.1"])
        assert caught.value.lines == [
            f"PORT: {port} is already in use on every address (127.0.0.1)"
        ]
    with pytest.raises(ConfigError) as caught:
        check_listen(port, ["192.0.2.1", "256.1.1.1"])
    (line,) = caught.value.lines
    assert line.startswith("LISTEN_ADDRESSES: cannot listen on any of 192.0.2.1, 256.1.1.1 (")
    check_listen(port, ["192.0.2.1", "127.0.0.1"])
    with pytest.raises(ConfigError) as caught:
        check_listen(port, ["a..b", "192.0.2.1", "192.0.2.1"])
    assert caught.value.lines == [
        "LISTEN_ADDRESSES: cannot listen on any of a..b, 192.0.2.1 "
        "(cannot assign requested address; not a valid host name)"
    ]


def test_privileged_port_names_port() -> None:
    """Every address refusing for want of privilege names PORT, not the addresses."""
    refused = [PermissionError(errno.EACCES, "Permission denied")] * 2
    line = listen_error(80, ["::", "0.0.0.0"], refused).lines[0]
    assert line == "PORT: 80 needs privileges to listen on (permission denied)"


async def test_supervisor_restarts_a_loop_that_ends_or_fails() -> None:
    """A loop that returns or raises is logged once per stop and started again after a growing
    backoff; it never ends the supervisor."""
    runs: list[None] = []

    async def flaky() -> None:
        runs.append(None)
        if len(runs) % 2:
            raise KeyError("boom")

    with structlog.testing.capture_logs() as logs:
        task = asyncio.ensure_future(supervise("flaky", flaky, first=0.01, longest=0.04))
        while len(runs) < 5:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    events = [(e["event"], e.get("error", "")) for e in logs][:4]
    assert [event for event, _ in events] == ["loop_failed", "loop_ended"] * 2
    assert events[0][1].startswith("KeyError at test_start_up_checks.py:")
    assert [e["restart_in_seconds"] for e in logs][:4] == [0.01, 0.02, 0.04, 0.04]


async def test_shutdown_goes_on_without_a_loop_that_ignores_its_cancellation() -> None:
    """Once stopped, loops that end when cancelled are waited for; one that swallows its
    cancellation (as a library below a loop once did) is named in one line and left behind, so
    the final history save still runs instead of waiting for the platform's SIGKILL."""
    stop = asyncio.Event()
    ended: list[str] = []

    async def polite() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            ended.append("polite")

    async def stubborn() -> None:
        while not released.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(60)

    released = asyncio.Event()

    with structlog.testing.capture_logs() as logs:
        running = asyncio.ensure_future(
            run_until({"polite": polite, "stubborn": stubborn}, stop, grace=0.2)
        )
        await asyncio.sleep(0.05)
        assert not running.done()  # nothing ends before it is asked to
        stop.set()
        async with asyncio.timeout(5):  # fails here, rather than hanging, if it waits forever
            await running
    assert ended == ["polite"]
    assert [(e["event"], e["loop"]) for e in logs] == [("loop_not_stopped", "stubborn")]
    released.set()  # let the stubborn loop end with this test (its next cancel)
    for task in asyncio.all_tasks() - {asyncio.current_task()}:
        task.cancel()
