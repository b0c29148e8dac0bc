"""The live queue's clock: wall time that never steps within one life of the process."""

from __future__ import annotations

import time

import pytest

from callflow.call import clock as clock_module
from callflow.call.clock import SteadyWallClock


def test_it_reads_wall_time_and_ignores_a_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """It starts at the wall clock; when the wall clock is then stepped back an hour, its
    durations keep running forward with the monotonic clock."""
    clock = SteadyWallClock()
    assert abs(clock() - time.time()) < 1.0
    before = clock()
    real = time.time
    monkeypatch.setattr(clock_module.time, "time", lambda: real() - 3600.0)
    after = clock()
    assert 0.0 <= after - before < 1.0
