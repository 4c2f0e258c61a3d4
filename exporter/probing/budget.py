"""The daily token budget of inference probes: a probe that could cross it is never sent."""

from __future__ import annotations

from collections.abc import Hashable

from exporter.outcomes import Outcome
from exporter.probing.dialects import MAX_REMEMBERED_INPUT, PROMPT_TOKENS
from exporter.probing.inference import InferenceResult

DAY = 86_400.0


class TokenBudget:
    """Tokens (input + output, every pair together) per UTC day.

    A probe reserves the most it could cost before it is sent: the prompt's bound (or what its
    provider last reported for it, if more) plus INFERENCE_MAX_OUTPUT_TOKENS. When it is done the
    reservation becomes what it did cost: the provider's own counts when it reported them, the
    whole reservation when a completion began but its counts never came, nothing when no
    completion began. Spending therefore never passes the budget, as long as no provider
    bills more than it reports.
    """

    def __init__(self, per_day: int, max_output: int, now: float) -> None:
        self.per_day = per_day
        self._max_output = max_output
        self._day = _day(now)
        self._spent = 0
        self._held = 0  # reserved by probes in flight
        self._input: dict[Hashable, int] = {}  # pair -> input tokens its provider reported last

    def estimate(self, pair: Hashable) -> int:
        """Return the most a probe of `pair` may cost."""
        return max(PROMPT_TOKENS, self._input.get(pair, 0)) + self._max_output

    def reserve(self, pair: Hashable, now: float) -> int | None:
        """Reserve a probe of `pair`; return the reservation, or None when it could cross."""
        self._roll(now)
        cost = self.estimate(pair)
        if self._spent + self._held + cost > self.per_day:
            return None
        self._held += cost
        return cost

    def settle(
        self, pair: Hashable, reserved: int, result: InferenceResult | None, now: float
    ) -> int:
        """Replace a reservation with what the probe cost (all of it without a result)."""
        self._held -= reserved
        if result is not None and result.input_tokens is not None:
            # one absurd report must not price the pair out of every later day
            self._input[pair] = min(result.input_tokens, MAX_REMEMBERED_INPUT)
        cost = _cost(result, reserved)
        self._roll(now)  # a probe that ran over midnight is charged to the new day
        self._spent += cost
        return cost

    def remaining(self, now: float) -> int:
        """Return the tokens left today."""
        self._roll(now)
        return max(0, self.per_day - self._spent - self._held)

    def _roll(self, now: float) -> None:
        today = _day(now)
        if today > self._day:
            self._day, self._spent = today, 0


def _day(now: float) -> int:
    return int(now // DAY)


def _cost(result: InferenceResult | None, reserved: int) -> int:
    """What a probe cost: the provider's counts; the reservation when unknown but maybe billed."""
    if result is None:
        return reserved
    if result.streamed and result.reported and result.input_tokens is not None:
        return result.input_tokens + (result.output_tokens or 0)
    if result.streamed or result.outcome is Outcome.TIMEOUT:  # sent: it may have been billed
        return reserved
    return 0  # refused (4xx, 5xx) or never connected
