"""The prober against a real fake upstream on loopback: every outcome, phases and bounds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest
import structlog
from pydantic import SecretStr

from exporter.catalog import AuthStyle, ListFormat, ProviderSpec
from exporter.judgement.monitor import Monitor
from exporter.judgement.scoring import Rules, State
from exporter.outcomes import Outcome
from exporter.probing.probes import Prober, ProbeResult, parse_retry_after
from exporter.running.scheduler import Scheduler
from exporter.service import make_session
from exporter.settings import Settings
from exporter.targets import Target
from tests.support import upstream as fake
from tests.support.upstream import FakeUpstream, refused_url

KEY = SecretStr("sk-test-key-1234567890")


@pytest.fixture
async def prober() -> AsyncIterator[Prober]:
    """A prober with a 1 s timeout and a 64 KiB body limit over a real session."""
    async with make_session(Settings()) as session:
        yield Prober(
            session, timeout=1.0, max_body_bytes=65_536, model_cap=100,
            watch={"p": frozenset({"model-a"})},
        )  # fmt: skip


def target(
    url: str, auth: AuthStyle = AuthStyle.BEARER, fmt: ListFormat = ListFormat.OPENAI
) -> Target:
    spec = ProviderSpec("p", url, auth=auth, list_format=fmt, headers={"x-extra": "1"})
    return Target(spec, spec.probe_url(), KEY)


async def probe_route(
    prober: Prober, upstream: FakeUpstream, behaviour: fake.Behaviour
) -> ProbeResult:
    upstream.set("r", behaviour)
    return await prober.probe(target(upstream.base_url("r")))


@pytest.mark.parametrize(
    ("behaviour", "outcome"),
    [
        (fake.ok(), Outcome.OK),
        (fake.status(503), Outcome.HTTP_5XX),
        (fake.status(500), Outcome.HTTP_5XX),
        (fake.status(429, {"Retry-After": "7"}), Outcome.HTTP_429),
        (fake.status(401), Outcome.HTTP_AUTH),
        (fake.status(403), Outcome.HTTP_AUTH),
        (fake.status(404), Outcome.HTTP_4XX),
        (fake.raw(b"<html>oops</html>", "text/html"), Outcome.BAD_BODY),
        (fake.raw(b'{"data": [{"id": "\xff"}]}'), Outcome.BAD_BODY),
        (fake.raw(b'{"unexpected": true}'), Outcome.BAD_BODY),
        (fake.raw(b'{"data": [null, {"id": null}]}'), Outcome.BAD_BODY),
        (fake.hang(), Outcome.TIMEOUT),
        (fake.ok(delay=2.0), Outcome.TIMEOUT),
        (fake.endless_body(0.01), Outcome.TIMEOUT),
        (fake.reset_mid_body(), Outcome.CONNECT_ERROR),
    ],
)
async def test_outcomes(
    prober: Prober, upstream: FakeUpstream, behaviour: fake.Behaviour, outcome: Outcome
) -> None:
    """Each upstream behaviour is classified into its documented outcome."""
    result = await probe_route(prober, upstream, behaviour)
    assert result.outcome is outcome, result


async def test_connection_refused(prober: Prober) -> None:
    """A port with nothing listening is a connect error, not a timeout."""
    result = await prober.probe(target(refused_url()))
    assert result.outcome is Outcome.CONNECT_ERROR
    assert result.duration < 1.0


async def test_dns_failure(prober: Prober) -> None:
    """A host name that does not resolve is a DNS error."""
    result = await prober.probe(target("http://no-such-host.invalid/v1"))
    assert result.outcome is Outcome.DNS_ERROR


async def test_ok_reports_models_and_phases(prober: Prober, upstream: FakeUpstream) -> None:
    """A good answer lists its models, the watched ones seen, and the request phases."""
    result = await probe_route(prober, upstream, fake.ok(("model-a", "model-z")))
    assert result.models is not None
    assert result.models.sample == ("model-a", "model-z")
    assert result.models.watched_seen == {"model-a"}
    assert result.status == 200
    assert {"connect", "first_byte", "transfer"} <= set(result.phases)
    assert all(value >= 0 for value in result.phases.values())


async def test_huge_body_read_is_bounded(prober: Prober, upstream: FakeUpstream) -> None:
    """A 50 MB model list is read only up to the limit, quickly, and still counts as ok."""
    upstream.set("huge", fake.huge(50_000_000))
    started = time.monotonic()
    result = await prober.probe(target(upstream.base_url("huge")))
    assert result.outcome is Outcome.OK
    assert result.models is not None
    assert not result.models.complete
    assert 0 < result.models.count < 1000  # ~64 KiB of ~250-byte items
    assert time.monotonic() - started < 1.0


async def test_auth_headers(prober: Prober, upstream: FakeUpstream) -> None:
    """Bearer and x-api-key styles send the key the way each provider wants it."""
    upstream.set("a", fake.ok())
    await prober.probe(target(upstream.base_url("a")))
    await prober.probe(target(upstream.base_url("a"), auth=AuthStyle.X_API_KEY))
    (_, bearer), (_, xkey) = upstream.requests["a"]
    assert bearer["Authorization"] == f"Bearer {KEY.get_secret_value()}"
    assert "x-api-key" not in bearer
    assert xkey["x-api-key"] == KEY.get_secret_value()
    assert "Authorization" not in xkey
    assert xkey["x-extra"] == "1"


async def test_retry_after_is_reported(prober: Prober, upstream: FakeUpstream) -> None:
    """A 429's Retry-After is carried in the result."""
    result = await probe_route(prober, upstream, fake.status(429, {"Retry-After": "30"}))
    assert result.retry_after == 30.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("soon", None),
        (None, None),
        ("²", None),  # a digit to str.isdigit, not to float()
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is read in seconds or as an HTTP date."""
    now = 1445412480.0  # 10 s before the date above
    assert parse_retry_after(value, now) == expected


async def test_slow_probe_does_not_block_others(prober: Prober, upstream: FakeUpstream) -> None:
    """Probes run concurrently: a hanging provider does not delay a healthy one."""
    upstream.set("hang", fake.hang())
    upstream.set("fast", fake.ok())
    hanging = asyncio.ensure_future(prober.probe(target(upstream.base_url("hang"))))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    result = await prober.probe(target(upstream.base_url("fast")))
    assert result.outcome is Outcome.OK
    assert time.monotonic() - started < 0.5
    assert (await hanging).outcome is Outcome.TIMEOUT


async def test_array_format(prober: Prober, upstream: FakeUpstream) -> None:
    """DeepInfra-style top-level arrays are read."""
    upstream.set("d", fake.raw(json.dumps([{"model_name": "model-a"}]).encode()))
    result = await prober.probe(target(upstream.base_url("d"), fmt=ListFormat.ARRAY))
    assert result.outcome is Outcome.OK
    assert result.models is not None
    assert result.models.watched_seen == {"model-a"}


async def test_redirects_are_never_followed(prober: Prober, upstream: FakeUpstream) -> None:
    """A redirect is a redirect_error, and the key never travels to where it points."""
    upstream.set("other", fake.ok())
    target_url = upstream.base_url("other") + "/models"
    result = await probe_route(prober, upstream, fake.status(302, {"Location": target_url}))
    assert result.outcome is Outcome.REDIRECT_ERROR
    assert upstream.count("other") == 0


async def test_a_probe_that_raises_is_an_internal_error_judged_down(
    prober: Prober, upstream: FakeUpstream
) -> None:
    """An exception from inside the probe (here aiohttp refusing a header our own code built: the
    start-up checks keep such a value out) is a failed probe, `internal_error`, logged once per
    site and not once per interval; it counts toward `down` like any other failure."""
    upstream.set("r", fake.ok())
    spec = ProviderSpec("p", upstream.base_url("r"), headers={"x-extra": "one\r\nX-Injected: 1"})
    broken = Target(spec, spec.probe_url(), KEY)
    rules = Rules.from_settings(Settings())
    monitor = Monitor([broken], rules, {}, time.time())
    with structlog.testing.capture_logs() as logs:
        results = [await prober.probe(broken) for _ in range(rules.down_after + 1)]
    for result in results:
        assert result.outcome is Outcome.INTERNAL_ERROR
        monitor.record(result, time.time())
    assert upstream.count("r") == 0  # refused before it left the process
    assert [e["event"] for e in logs] == ["probe_internal_error"]
    assert logs[0]["error"].startswith("ValueError at ")
    view = monitor.publish(time.time()).providers["p"]
    assert view.state is State.DOWN
    assert view.probes[Outcome.INTERNAL_ERROR] == rules.down_after + 1
    assert (await prober.probe(target(upstream.base_url("r")))).outcome is Outcome.OK


async def test_a_bug_after_the_probe_is_logged_once_and_probing_goes_on(
    prober: Prober, upstream: FakeUpstream
) -> None:
    """Bugs of ours around every probe (here the span maker and the result logger) are logged
    once per place as `probe_crashed`, and every probe is still recorded and judged."""
    upstream.set("r", fake.ok())
    ok_target = target(upstream.base_url("r"))
    monitor = Monitor([ok_target], Rules.from_settings(Settings()), {}, time.time())

    def broken_logger(_result: ProbeResult, _transition: object) -> None:
        raise ZeroDivisionError

    scheduler = Scheduler(
        [ok_target], prober, monitor, interval=0.05, concurrency=1, now=time.time,
        on_result=broken_logger,
    )  # fmt: skip
    scheduler.trace = lambda _result: str(1 / 0)
    with structlog.testing.capture_logs() as logs:
        task = asyncio.ensure_future(scheduler.run())
        # one probe at a time: once the sixth request arrives, five probes were recorded
        while upstream.count("r") < 6:
            await asyncio.sleep(0.02)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    view = monitor.publish(time.time()).providers["p"]
    assert view.probes[Outcome.OK] >= 5
    assert view.state is State.HEALTHY
    crashes = [e for e in logs if e["event"] == "probe_crashed"]
    assert [e["error"].split(":")[0] for e in crashes] == [
        "ZeroDivisionError at test_probes.py"
    ] * 2
    assert crashes[0]["error"] != crashes[1]["error"]  # two places, each logged once
