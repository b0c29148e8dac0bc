"""A wall clock that never steps: what the live queue measures its durations with.

The queue's times are wall-clock seconds, because a join time outlives the process (a
caller put back in line after a restart keeps it). But a duration taken between two
``time.time()`` readings goes negative, or gains an hour, when the system clock is stepped
(NTP after a suspend, an operator, a leap smear gone wrong), and one absurd handle time
would skew every wait told for dozens of calls. :class:`SteadyWallClock` reads wall time
once, then advances with the monotonic clock: within one life of the process no duration
can jump; a step is only seen at the next start.
"""

from __future__ import annotations

import time


class SteadyWallClock:
    """Wall-clock seconds (epoch) that advance with ``time.monotonic()``."""

    def __init__(self) -> None:
        self._offset = time.time() - time.monotonic()

    def __call__(self) -> float:
        return self._offset + time.monotonic()


__all__ = ["SteadyWallClock"]
