"""``simulate_day(..., history=...)``: the day's earlier calls are in the windows the policy
sees from its first decision, not in the day's own counts."""

from __future__ import annotations

import pytest

from callflow.dialer.pacing import PacingState, Progressive
from callflow.dialer.window import WindowFigures
from callflow.sim.dialer import DialerScenario, history_times, simulate_day


class Watching(Progressive):
    """Progressive pacing that keeps the windows of each decision."""

    def __init__(self) -> None:
        self.seen: list[tuple[WindowFigures, ...]] = []

    def lines_to_dial(self, state: PacingState) -> int:
        self.seen.append(tuple(state.windows))
        return super().lines_to_dial(state)


def test_the_history_is_in_the_policys_first_windows() -> None:
    """400 live calls, 8 abandoned: the first decision sees both windows at 2 %."""
    policy = Watching()
    scenario = DialerScenario("t", 3, hours=0.05, amd_false_positive=0.0)
    result = simulate_day(scenario, policy, seed=1, history=(400, 8))
    first = {w.kind: (w.live, w.abandoned) for w in policy.seen[0]}
    assert first == {"us-30d": (400.0, 8.0), "uk-24h": (400.0, 8.0)}
    assert result.window("uk-24h").live == 400 + result.live
    assert result.abandoned == 0  # progressive's own day


def test_no_history_is_a_fresh_day_as_before() -> None:
    scenario = DialerScenario("t", 3, hours=0.05, amd_false_positive=0.0)
    plain = simulate_day(scenario, Progressive(), seed=2)
    again = simulate_day(scenario, Progressive(), seed=2, history=(0, 0))
    assert (plain.attempts, plain.talk, plain.windows) == (
        again.attempts,
        again.talk,
        again.windows,
    )
    assert plain.window("us-30d").live == plain.live


def test_history_times_spread_the_calls_over_the_morning() -> None:
    """From midnight to the start, in order; the abandons spread among them."""
    times = history_times((10, 2), 9 * 3600.0)
    assert len(times) == 10 and sum(lost for _, lost in times) == 2
    at = [t for t, _ in times]
    assert at == sorted(at) and at[0] > 0.0 and at[-1] < 9 * 3600.0
    assert [i for i, (_, lost) in enumerate(times) if lost] == [2, 7]
    assert history_times((0, 0), 100.0) == []


@pytest.mark.parametrize("bad", [(5, 6), (-1, 0), (3, -1)])
def test_a_bad_history_is_refused(bad: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="abandons"):
        simulate_day(DialerScenario("t", 1, hours=0.01), Progressive(), 1, history=bad)
