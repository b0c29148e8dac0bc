"""The live-queue simulator drives predictors as the live queue does: events, scoring, theory."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from callflow.queue.estimate import (
    CallerAbandoned,
    CallerAnswered,
    CallerJoined,
    Estimate,
    QueueEvent,
    QueueLengthPredictor,
    ServiceCompleted,
)
from callflow.sim.center import CenterScenario, Score, simulate_center


class RecordingPredictor:
    """Counts the events it sees and always predicts one minute."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def observe(self, event: QueueEvent) -> None:
        self.seen[type(event).__name__] += 1

    def estimate(
        self,
        ahead: int,
        agents_serving: int,
        now: float,
        elapsed: float = 0.0,
        *,
        caller: int | None = None,
        priority: int = 0,
    ) -> Estimate:
        return Estimate(60.0, 60.0)


def _scenario(**overrides: object) -> CenterScenario:
    settings: dict[str, object] = {
        "name": "test",
        "agents": 5,
        "load": 1.1,
        "mean_patience": 120.0,
        "warmup": 1800.0,
        "measured_callers": 800,
    }
    settings.update(overrides)
    return CenterScenario(**settings)  # type: ignore[arg-type]


def test_predictors_see_every_queue_event_the_live_queue_feeds() -> None:
    """Every join, answer, abandon and completion reaches the predictor, as in the live
    queue (the caller machine feeds it), and the shadows see the same as the live one."""
    live, shadow = RecordingPredictor(), RecordingPredictor()
    result = simulate_center(_scenario(), live, [shadow], seed=3)
    assert live.seen == shadow.seen
    assert live.seen[CallerJoined.__name__] == result.arrivals
    assert live.seen[CallerAnswered.__name__] == result.answered
    assert live.seen[CallerAbandoned.__name__] == result.abandoned
    assert live.seen[ServiceCompleted.__name__] <= result.answered


def test_callers_who_reach_a_free_agent_are_not_scored() -> None:
    """At a trivially light load nobody queues, so nothing is measured and rrase is undefined."""
    light = _scenario(agents=50, load=0.05, max_arrivals=3000)
    result = simulate_center(light, RecordingPredictor(), seed=4)
    assert result.arrivals == 3000
    assert result.measured == 0
    assert math.isnan(result.scores[0].join["mean"].rrase)


def test_swinging_arrivals_keep_their_mean_rate() -> None:
    """Thinned sinusoidal arrivals average the configured rate over whole cycles."""
    swing = _scenario(agents=20, load=0.5, mean_patience=None, arrival_swing=0.3, max_arrivals=4000)
    result = simulate_center(swing, RecordingPredictor(), seed=5)
    expected = swing.arrival_rate * result.end_time
    assert result.arrivals == pytest.approx(expected, rel=0.05)


def test_score_arithmetic() -> None:
    """rrase is RMS error over mean wait; p_over counts waits strictly above the announcement."""
    score = Score("x")
    score.record(10.0, 20.0, 20.0)
    score.record(40.0, 30.0, 40.0)
    assert score.rrase == pytest.approx(math.sqrt(50.0) / 30.0)
    assert score.p_over == 0.5


def test_ql_error_in_mms_is_near_the_theoretical_floor() -> None:
    """In M/M/s served in order, QL's relative RMS error is close to 1/sqrt(E[n+1]) (Ibrahim &
    Whitt): the router's order and the machines add nothing to the waits."""
    mms = _scenario(
        agents=5,
        load=0.9,
        mean_patience=None,
        handle_time_distribution="exponential",
        measured_callers=6000,
    )
    result = simulate_center(mms, QueueLengthPredictor(default_handle_time=180.0), seed=6)
    counts = result.ahead_counts
    theory = 1.0 / math.sqrt(sum((n + 1) * c for n, c in counts.items()) / sum(counts.values()))
    assert result.scores[0].join["mean"].rrase == pytest.approx(theory, rel=0.1)
