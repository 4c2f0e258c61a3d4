"""Tests of the time-bucketed windows: sliding, expiry, no-data, restore and model uptime."""

from __future__ import annotations

import pytest

from exporter.judgement.windows import ProviderWindows, Ring, UptimeRing
from exporter.outcomes import Outcome

T0 = 1_700_000_000.0


def test_ring_expires_old_slots() -> None:
    """Counts leave the window once they are older than its span."""
    ring = Ring(width=10, slots=3, columns=1)
    ring.add(T0, 0)
    ring.add(T0 + 10, 0)
    assert ring.totals(T0 + 10)[0] == 2
    assert ring.totals(T0 + 30)[0] == 1
    assert ring.totals(T0 + 1000)[0] == 0


def test_ring_ignores_time_going_backwards() -> None:
    """A timestamp earlier than the newest slot is counted in the newest slot, never lost."""
    ring = Ring(width=10, slots=3, columns=1)
    ring.add(T0 + 100, 0)
    ring.add(T0, 0)
    assert ring.totals(T0 + 100)[0] == 2


def test_ring_load_restores_slots() -> None:
    """Slots loaded from storage count again; ones too old for the window are dropped."""
    ring = Ring(width=10, slots=3, columns=2)
    ring.load(T0, [3, 1])
    ring.load(T0 - 100, [50, 50])
    assert list(ring.totals(T0)) == [3, 1]


def test_availability_none_without_checks() -> None:
    """A window with no conclusive checks has no availability (not 0, not 1)."""
    windows = ProviderWindows()
    windows.record(T0, Outcome.HTTP_429, 0.1)
    counts = windows.counts("5m", T0)
    assert counts.availability is None and counts.error_ratio is None and counts.total == 1


@pytest.mark.parametrize(
    ("outcomes", "availability"),
    [
        ([Outcome.OK] * 3 + [Outcome.HTTP_5XX], 0.75),
        ([Outcome.OK, Outcome.HTTP_AUTH, Outcome.HTTP_4XX], 1.0),
        ([Outcome.TIMEOUT, Outcome.BAD_BODY], 0.0),
    ],
)
def test_availability_counts_only_conclusive(outcomes: list[Outcome], availability: float) -> None:
    """429, auth and other 4xx outcomes count neither for nor against availability."""
    windows = ProviderWindows()
    for i, outcome in enumerate(outcomes):
        windows.record(T0 + i, outcome, 0.1)
    assert windows.counts("1h", T0 + 10).availability == availability


def test_windows_slide_independently() -> None:
    """An old failure leaves the 5 m window but stays in the 1 h and 24 h windows."""
    windows = ProviderWindows()
    windows.record(T0, Outcome.HTTP_5XX, 0.1)
    windows.record(T0 + 600, Outcome.OK, 0.1)
    now = T0 + 600
    assert windows.counts("5m", now).availability == 1.0
    assert windows.counts("1h", now).availability == 0.5
    assert windows.counts("24h", now).availability == 0.5


def test_latency_quantiles_use_recent_successes() -> None:
    """Quantiles come from successful probes of the last 5 minutes only."""
    windows = ProviderWindows()
    windows.record(T0, Outcome.OK, 9.0)
    for i in range(1, 11):
        windows.record(T0 + 400 + i, Outcome.OK, float(i))
    windows.record(T0 + 411, Outcome.HTTP_5XX, 50.0)
    p50, p95 = windows.latency_quantiles(T0 + 412, (0.5, 0.95))
    assert p50 == pytest.approx(5.5)
    assert p95 == pytest.approx(9.55)


def test_model_uptime() -> None:
    """Model uptime is the share of checks in which the model was listed; None with no checks."""
    ring = UptimeRing()
    assert ring.uptime(T0) is None
    for i, listed in enumerate([True, True, False, True]):
        ring.record(T0 + i, listed)
    assert ring.uptime(T0 + 10) == 0.75
    assert ring.uptime(T0 + 2 * 86400) is None


def test_memory_is_bounded() -> None:
    """A day of probes at 1 s keeps a fixed number of slots, not one object per probe."""
    windows = ProviderWindows()
    for i in range(86_400 // 5):
        windows.record(T0 + i * 5, Outcome.OK, 0.1)
    assert sum(1 for _ in windows.rings["24h"].slots(T0 + 86_400)) <= 288
    assert windows.counts("24h", T0 + 86_400).up <= 86_400 // 5
