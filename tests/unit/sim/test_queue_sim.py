"""Tests for the call-queue simulator: determinism, conservation, scoring and M/M/s theory."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from callflow.queue.estimate import (
    AppQueuePredictor,
    CallerAbandoned,
    CallerAnswered,
    CallerJoined,
    ConservativePredictor,
    Estimate,
    QueueEvent,
    QueueLengthPredictor,
    ServiceCompleted,
)
from callflow.sim.queue import PredictorScore, QueueScenario, simulate


class RecordingPredictor:
    """Counts the events it sees and always predicts one minute."""

    name = "recorder"

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.asked = 0

    def observe(self, event: QueueEvent) -> None:
        self.seen[type(event).__name__] += 1

    def estimate(
        self, ahead: int, agents_serving: int, now: float, elapsed: float = 0.0
    ) -> Estimate:
        self.asked += 1
        return Estimate(60.0, 60.0)


def _scenario(**overrides: object) -> QueueScenario:
    settings: dict[str, object] = {
        "name": "test",
        "agents": 5,
        "load": 1.1,
        "mean_patience": 120.0,
        "warmup": 1800.0,
        "measured_callers": 1500,
    }
    settings.update(overrides)
    return QueueScenario(**settings)  # type: ignore[arg-type]


def test_same_seed_gives_identical_runs() -> None:
    """Two runs with one seed produce the same counts and scores; another seed does not."""

    def run(seed: int) -> tuple[object, ...]:
        result = simulate(_scenario(), [AppQueuePredictor(), ConservativePredictor()], seed)
        scores = tuple((s.rrase, s.p_over, s.answered) for s in result.scores)
        return (result.arrivals, result.completed, result.abandoned, result.end_time, scores)

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_callers_are_conserved_when_the_run_is_cut_short() -> None:
    """At a time limit every arrival is completed, abandoned, waiting or being served."""
    result = simulate(_scenario(time_limit=20_000.0), [RecordingPredictor()], seed=1)
    assert result.end_time == 20_000.0
    assert result.waiting + result.in_service > 0
    assert result.arrivals == (
        result.completed + result.abandoned + result.waiting + result.in_service
    )


def test_a_finished_run_drains_the_queue() -> None:
    """Once arrivals stop, everyone is answered or abandons, and every measured caller resolves."""
    result = simulate(_scenario(), [RecordingPredictor()], seed=2)
    assert (result.waiting, result.in_service, result.measured_unresolved) == (0, 0, 0)
    assert result.arrivals == result.completed + result.abandoned
    assert result.measured == 1500
    assert result.scores[0].answered + result.measured_abandoned == result.measured


def test_predictors_see_every_queue_event_and_are_asked_only_for_queued_callers() -> None:
    """The simulator drives the predictor object with each join, answer, abandon and completion."""
    recorder = RecordingPredictor()
    result = simulate(_scenario(), [recorder], seed=3)
    assert recorder.seen[CallerJoined.__name__] == result.arrivals
    assert recorder.seen[CallerAnswered.__name__] == result.completed
    assert recorder.seen[CallerAbandoned.__name__] == result.abandoned
    assert recorder.seen[ServiceCompleted.__name__] == result.completed
    assert recorder.asked == result.measured


def test_callers_who_reach_a_free_agent_are_not_scored() -> None:
    """At a trivially light load nobody queues, so nothing is measured and rrase is undefined."""
    light = _scenario(agents=50, load=0.05, max_arrivals=3000)
    result = simulate(light, [RecordingPredictor()], seed=4)
    assert result.arrivals == 3000
    assert result.measured == 0
    assert math.isnan(result.scores[0].rrase)


def test_swinging_arrivals_keep_their_mean_rate() -> None:
    """Thinned sinusoidal arrivals average the configured rate over whole cycles."""
    swing = _scenario(
        agents=50, load=0.5, mean_patience=None, arrival_swing=0.3, time_limit=20 * 7200.0
    )
    result = simulate(swing, [], seed=5)
    expected = swing.arrival_rate * swing.time_limit
    assert result.arrivals == pytest.approx(expected, rel=0.02)


def test_score_arithmetic() -> None:
    """rrase is RMS error over mean wait; p_over counts waits strictly above the announcement."""
    score = PredictorScore("x")
    score.record(predicted_mean=10.0, announced=20.0, actual_wait=20.0)
    score.record(predicted_mean=40.0, announced=30.0, actual_wait=40.0)
    assert score.rrase == pytest.approx(math.sqrt(50.0) / 30.0)
    assert score.p_over == 0.5


def test_ql_error_in_mms_is_near_the_theoretical_floor() -> None:
    """In M/M/s, QL's relative RMS error is close to 1/sqrt(E[n+1]) (Ibrahim & Whitt)."""
    mms = _scenario(
        agents=5,
        load=0.9,
        mean_patience=None,
        handle_time_distribution="exponential",
        measured_callers=8000,
    )
    result = simulate(mms, [QueueLengthPredictor(default_handle_time=180.0)], seed=6)
    counts = result.ahead_counts
    theory = 1.0 / math.sqrt(sum((n + 1) * c for n, c in counts.items()) / sum(counts.values()))
    assert result.scores[0].rrase == pytest.approx(theory, rel=0.1)
