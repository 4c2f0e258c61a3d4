"""The connectivity check against real loopback listeners: up while any target connects, one
check shared by concurrent askers, and never an answer older than the failure that asks."""

from __future__ import annotations

import asyncio

from exporter.probing.connectivity import ConnectivityCheck
from tests.support.upstream import Switchable, refused_url


def refused_address() -> tuple[str, int]:
    port = int(refused_url().rsplit(":", 1)[1].split("/")[0])
    return "127.0.0.1", port


async def test_up_while_any_target_connects() -> None:
    """One listening target of two is enough; none listening is down; each check reports."""
    listener = await Switchable().start()
    reports: list[bool] = []
    check = ConnectivityCheck(
        [refused_address(), ("127.0.0.1", listener.port)],
        interval=60,
        timeout=1,
        on_result=reports.append,
    )
    try:
        assert await check.check_now() is True
        await listener.stop()
        assert await check.check_now(after=asyncio.get_running_loop().time()) is False
    finally:
        await listener.stop()
    assert reports == [True, False]


async def test_concurrent_askers_share_one_check_and_fresh_answers_are_reused() -> None:
    """Ten failures at once cause one check; asking again within a second reuses it, unless
    the asker started after that check did (its failure is newer than the answer)."""
    listener = await Switchable().start()
    reports: list[bool] = []
    check = ConnectivityCheck(
        [("127.0.0.1", listener.port)], interval=60, timeout=1, on_result=reports.append
    )
    try:
        answers = await asyncio.gather(*(check.check_now() for _ in range(10)))
        assert answers == [True] * 10 and len(reports) == 1
        assert await check.check_now() is True and len(reports) == 1  # fresh: reused
        await listener.stop()
        later = asyncio.get_running_loop().time()
        assert await check.check_now(after=later) is False and len(reports) == 2
    finally:
        await listener.stop()


async def test_run_checks_every_interval() -> None:
    """The loop checks at once, then every interval."""
    listener = await Switchable().start()
    reports: list[bool] = []
    check = ConnectivityCheck(
        [("127.0.0.1", listener.port)], interval=0.05, timeout=1, on_result=reports.append
    )
    task = asyncio.ensure_future(check.run())
    try:
        while len(reports) < 3:
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await listener.stop()
    assert reports[:3] == [True, True, True]
