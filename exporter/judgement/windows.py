"""Time-bucketed counts of probe outcomes over 5 minutes, 1 hour and 24 hours."""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from exporter.outcomes import LIST_OUTCOMES, OUTCOME_INDEX, VERDICTS, Outcome, Verdict
from exporter.quantiles import quantile

# Columns of every slot: one count per outcome, then the latency sum (ms) and count.
LATENCY_SUM = len(LIST_OUTCOMES)
LATENCY_COUNT = LATENCY_SUM + 1
COLUMNS = LATENCY_COUNT + 1

# (name, slot width in seconds, number of slots): each window is covered to within one slot.
WINDOWS: tuple[tuple[str, int, int], ...] = (("5m", 10, 30), ("1h", 60, 60), ("24h", 300, 288))
RECENT_LATENCY_SECONDS = 300.0
RECENT_LATENCY_CAP = 600
RECENT_CHECKS_SECONDS = 300.0  # the error ratio behind `degraded` looks this far back at most
RECENT_CHECKS_CAP = 2400  # checks kept: 5 min at 1 s with every confirmation probe, and more
SLOW_SAMPLES = 3  # `slow` is judged on the median of this many last successful probes
UP_COLUMNS = tuple(OUTCOME_INDEX[o] for o in LIST_OUTCOMES if VERDICTS[o] is Verdict.UP)
DOWN_COLUMNS = tuple(OUTCOME_INDEX[o] for o in LIST_OUTCOMES if VERDICTS[o] is Verdict.DOWN)


class Ring:
    """Counts in fixed-width time slots; running totals make a window's sum O(columns).

    Position `p` of the ring always holds slot `head - ((head - p) mod slots)`: no slot numbers are
    stored, and positions the ring never reached are zeros, which count as nothing.
    """

    __slots__ = ("_columns", "_data", "_head", "_slots", "_totals", "width")

    def __init__(self, width: int, slots: int, columns: int, typecode: str = "q") -> None:
        self.width = width
        self._slots = slots
        self._columns = columns
        self._data = array(typecode, [0]) * (slots * columns)
        self._totals = array("q", [0]) * columns
        self._head = -1

    def add(self, now: float, column: int, amount: int = 1) -> None:
        """Add `amount` to `column` of the slot holding `now`."""
        offset = (self._advance(now) % self._slots) * self._columns
        self._data[offset + column] += amount
        self._totals[column] += amount

    def totals(self, now: float) -> Sequence[int]:
        """Return the per-column sums over the window ending at `now`."""
        self._advance(now)
        return self._totals

    def slots(self, now: float) -> Iterator[tuple[int, Sequence[int]]]:
        """Yield (slot start unix time, counts) for every slot in the window, oldest first."""
        self._advance(now)
        return _slots(self.copy())

    def copy(self) -> RingCopy:
        """Return an immutable copy of the slots, for reading later."""
        return RingCopy(
            self._head,
            self.width,
            self._slots,
            self._columns,
            self._data.tobytes(),
            self._data.typecode,
        )

    def load(self, slot_start: float, counts: Sequence[int]) -> None:
        """Add a slot's counts back (history restored from storage); old slots are ignored."""
        slot = int(slot_start // self.width)
        if slot > self._head:
            self._advance(slot * self.width)
        if slot <= self._head - self._slots:
            return
        offset = (slot % self._slots) * self._columns
        for column, amount in enumerate(counts[: self._columns]):
            self._data[offset + column] += amount
            self._totals[column] += amount

    def _advance(self, now: float) -> int:
        slot = int(now // self.width)
        if slot <= self._head:
            return self._head  # time did not move forward: count in the newest slot
        for fresh in range(max(self._head + 1, slot - self._slots + 1), slot + 1):
            self._clear((fresh % self._slots) * self._columns)
        self._head = slot
        return slot

    def _clear(self, offset: int) -> None:
        data, totals = self._data, self._totals
        for column in range(self._columns):
            amount = data[offset + column]
            if amount:
                totals[column] -= amount
                data[offset + column] = 0


@dataclass(frozen=True, slots=True)
class RingCopy:
    """A ring's slots at one moment: cheap to take (one memory copy), read only when needed."""

    head: int
    width: int
    slots: int
    columns: int
    data: bytes
    typecode: str


def _slots(copy: RingCopy) -> Iterator[tuple[int, Sequence[int]]]:
    if copy.head < 0:
        return
    data = array(copy.typecode)
    data.frombytes(copy.data)
    for slot in range(copy.head - copy.slots + 1, copy.head + 1):
        offset = (slot % copy.slots) * copy.columns
        yield slot * copy.width, data[offset : offset + copy.columns]


def minute_series(hour: RingCopy) -> list[tuple[int, float | None, float | None]]:
    """Return (minute start, availability, mean latency) per slot of a copy of the 1 h ring."""
    series = []
    for start, counts in _slots(hour):
        up = sum(counts[i] for i in UP_COLUMNS)
        down = sum(counts[i] for i in DOWN_COLUMNS)
        n = counts[LATENCY_COUNT]
        availability = up / (up + down) if up + down else None
        latency = counts[LATENCY_SUM] / n / 1000 if n else None
        series.append((start, availability, latency))
    return series


@dataclass(frozen=True, slots=True)
class WindowCounts:
    """Conclusive checks in one window."""

    up: int
    down: int
    total: int  # every probe, conclusive or not
    limited: int

    @property
    def availability(self) -> float | None:
        """Return up / (up + down), or None when there were no conclusive checks."""
        checks = self.up + self.down
        return self.up / checks if checks else None

    @property
    def error_ratio(self) -> float | None:
        """Return down / (up + down), or None when there were no conclusive checks."""
        checks = self.up + self.down
        return self.down / checks if checks else None


class RecentLatencies:
    """Latencies of successful probes over the last 5 minutes, kept sorted for quantiles."""

    __slots__ = ("_by_time", "_sorted")

    def __init__(self) -> None:
        self._by_time: deque[tuple[float, float]] = deque()
        self._sorted: list[float] = []

    def add(self, now: float, latency: float) -> None:
        self._expire(now)
        if len(self._by_time) >= RECENT_LATENCY_CAP:
            self._drop_oldest()
        self._by_time.append((now, latency))
        insort(self._sorted, latency)

    def quantiles(self, now: float, quantiles: Sequence[float]) -> list[float | None]:
        self._expire(now)
        return [quantile(self._sorted, q) for q in quantiles]

    def _expire(self, now: float) -> None:
        horizon = now - RECENT_LATENCY_SECONDS
        while self._by_time and self._by_time[0][0] < horizon:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        _, latency = self._by_time.popleft()
        del self._sorted[bisect_left(self._sorted, latency)]


class _Times:
    """Ascending unix times in a flat array of doubles (8 bytes each), oldest dropped by moving
    a start index; the array is compacted once half of it is dropped."""

    __slots__ = ("_start", "_times")

    def __init__(self) -> None:
        self._times = array("d")
        self._start = 0

    def append(self, at: float) -> None:
        if len(self._times) - self._start >= RECENT_CHECKS_CAP:
            self._start += 1
        self._times.append(at)

    def expire(self, horizon: float) -> None:
        """Drop the times before `horizon`."""
        times, start = self._times, self._start
        while start < len(times) and times[start] < horizon:
            start += 1
        if start > len(times) // 2:
            del times[:start]
            start = 0
        self._start = start

    def count_after(self, since: float) -> int:
        """Return how many times are later than `since`."""
        times = self._times
        return len(times) - max(self._start, bisect_right(times, since, self._start))


class RecentChecks:
    """The conclusive checks of the last 5 minutes, in order, for the error ratio since a moment
    (the provider's last recovery): an outage that is over must not read as "partly failing".

    Only times are kept (every check, and the failed ones), 8 bytes each, none older than
    5 minutes: at 1 s, 2.4 kB per provider.
    """

    __slots__ = ("_checks", "_failed")

    def __init__(self) -> None:
        self._checks = _Times()
        self._failed = _Times()

    def add(self, now: float, failed: bool) -> None:
        self._expire(now)
        self._checks.append(now)
        if failed:
            self._failed.append(now)

    def error_ratio(self, since: float, now: float, min_failed: int = 1) -> float | None:
        """Return failed / checks after `since`, within the last 5 minutes; None without checks
        or with fewer than `min_failed` failures (too few to call it a share)."""
        self._expire(now)
        checks = self._checks.count_after(since)
        failed = self._failed.count_after(since)
        return failed / checks if checks and failed >= min_failed else None

    def _expire(self, now: float) -> None:
        horizon = now - RECENT_CHECKS_SECONDS
        self._checks.expire(horizon)
        self._failed.expire(horizon)


class ProviderWindows:
    """One provider's outcome counts over every window, plus recent latencies for quantiles."""

    __slots__ = ("_checks", "_exact_since", "_last_ok", "_recent", "rings")

    def __init__(self) -> None:
        self.rings = {name: Ring(width, slots, COLUMNS) for name, width, slots in WINDOWS}
        self._recent = RecentLatencies()
        self._checks = RecentChecks()
        self._exact_since = -float("inf")  # checks are timed one by one from here, for 5 min
        self._last_ok: deque[tuple[float, float]] = deque(maxlen=SLOW_SAMPLES)  # (when, s)

    def record(self, now: float, outcome: Outcome, latency: float | None) -> None:
        """Count one probe at `now`; `latency` only when the probe got an HTTP response."""
        column = OUTCOME_INDEX[outcome]
        millis = round(latency * 1000) if latency is not None else 0
        for ring in self.rings.values():
            ring.add(now, column)
            if latency is not None:
                ring.add(now, LATENCY_SUM, millis)
                ring.add(now, LATENCY_COUNT)
        if latency is not None and outcome is Outcome.OK:
            self._recent.add(now, latency)  # quantiles describe correct answers only
            self._last_ok.append((now, latency))
        judged = VERDICTS[outcome]
        if judged in (Verdict.UP, Verdict.DOWN) and now - self._exact_since < RECENT_CHECKS_SECONDS:
            self._checks.add(now, judged is Verdict.DOWN)

    def counts(self, window: str, now: float) -> WindowCounts:
        """Return the counts over `window` (`5m`, `1h` or `24h`) ending at `now`."""
        totals = self.rings[window].totals(now)
        return WindowCounts(
            up=sum(totals[i] for i in UP_COLUMNS),
            down=sum(totals[i] for i in DOWN_COLUMNS),
            total=sum(totals[: len(LIST_OUTCOMES)]),
            limited=totals[OUTCOME_INDEX[Outcome.HTTP_429]],
        )

    def latency_quantiles(self, now: float, quantiles: Sequence[float]) -> list[float | None]:
        """Return quantiles of successful probes' latency over 5 minutes (None without any)."""
        return self._recent.quantiles(now, quantiles)

    def recent_latency(self, now: float) -> float | None:
        """Return the median latency of the last SLOW_SAMPLES successful probes of the last
        5 minutes (None without any: old answers say nothing about now)."""
        horizon = now - RECENT_LATENCY_SECONDS
        return quantile(sorted(s for at, s in self._last_ok if at >= horizon), 0.5)

    def count_from(self, since: float) -> None:
        """Keep each check's time from `since` on, for 5 minutes: the error ratio since a
        recovery must not include the outage. Older than that, the 5 m ring answers alone."""
        self._exact_since = since
        self._checks = RecentChecks()

    def error_ratio_since(self, since: float, now: float, min_failed: int = 1) -> float | None:
        """Return the share of failed checks since `since`, within the last 5 minutes (None
        without checks or with fewer than `min_failed` failures)."""
        if now - since < RECENT_CHECKS_SECONDS:
            return self._checks.error_ratio(since, now, min_failed)
        counts = self.counts("5m", now)  # `since` is older than the window: all of it counts
        checks = counts.up + counts.down
        return counts.down / checks if checks and counts.down >= min_failed else None


# Watched models are many (up to providers × MODELS): their 24 h rings use 15-minute slots and
# 32-bit counts, a tenth of the memory of a provider's 5-minute, 64-bit 24 h ring.
MODEL_SLOT_SECONDS = 900
MODEL_SLOTS = 96


class UptimeRing:
    """24 h of (checks, up-and-listed) counts for one watched model."""

    __slots__ = ("_ring",)

    def __init__(self) -> None:
        self._ring = Ring(MODEL_SLOT_SECONDS, MODEL_SLOTS, 2, typecode="i")

    @property
    def ring(self) -> Ring:
        return self._ring

    def record(self, now: float, listed: bool) -> None:
        """Count one conclusive check; `listed` when the provider was up and listed the model."""
        self._ring.add(now, 0)
        if listed:
            self._ring.add(now, 1)

    def uptime(self, now: float) -> float | None:
        """Return the share of checks in which the model was up, or None without checks."""
        checks, listed = self._ring.totals(now)
        return listed / checks if checks else None
