"""Time as a dependency, so tests move it instead of sleeping."""

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall clock: token times are wall-clock times)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (cache ages, intervals)."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
