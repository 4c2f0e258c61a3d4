"""Wall-clock time derived from the monotonic clock, so a clock jump cannot corrupt windows."""

import time


class Clock:
    """Unix time anchored once at start and advanced by the monotonic clock."""

    def __init__(self) -> None:
        self._wall = time.time()
        self._mono = time.monotonic()

    def now(self) -> float:
        """Return the current unix time, immune to wall-clock steps after start."""
        return self._wall + (time.monotonic() - self._mono)
