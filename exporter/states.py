"""The states a provider (or an inference-probed model) can be in: the vocabulary every part
shares, as `outcomes` is that of probes."""

from enum import StrEnum


class State(StrEnum):
    """A provider's state, as exported in `gatewayz_provider_status`."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"
    UNKNOWN = "unknown"  # no conclusive data yet
    UNCONFIGURED = "unconfigured"  # no key, or the key is refused: our problem, not theirs


STATES: tuple[State, ...] = tuple(State)
