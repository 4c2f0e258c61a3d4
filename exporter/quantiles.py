"""Quantiles of sorted samples: shared by the windows and the backend's latency readings."""

from __future__ import annotations

import math
from collections.abc import Sequence


def quantile(samples: Sequence[float], q: float) -> float | None:
    """Return the `q` quantile of sorted `samples` by linear interpolation (None when empty)."""
    if not samples:
        return None
    rank = q * (len(samples) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(samples) - 1)
    return samples[low] + (samples[high] - samples[low]) * (rank - low)
