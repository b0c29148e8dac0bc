"""The agents' snapshot: the forward runs of the default predictor, and building it from
the router as the live queue and the simulator do."""

from __future__ import annotations

import math
import random

import pytest

from callflow.queue.config import AgentConfig, QueueCenter, QueueConfig
from callflow.queue.estimate import (
    AgentView,
    CalibratedPredictor,
    CallerAnswered,
    HandleSamples,
    ServiceCompleted,
    forward_waits,
    weighted_mean_and_quantile,
)
from callflow.queue.routing import Router
from callflow.queue.snapshot import agent_snapshot, snapshot_source


def _samples(*values: float, min_samples: int = 1) -> HandleSamples:
    samples = HandleSamples(window=10, min_samples=min_samples)
    for value in values:
        samples.observe(value)
    return samples


def test_handle_samples_draw_what_is_left_of_a_call_that_has_lasted() -> None:
    """A call 50 s old ends as one of the recent calls that lasted longer: 60 or 300 s, so
    10 or 250 s are left; a fresh call is any recent one; the window slides."""
    samples = _samples(20.0, 40.0, 60.0, 300.0)
    rng = random.Random(1)
    assert {samples.left(50.0, rng, 999.0) for _ in range(200)} == {10.0, 250.0}
    assert {samples.fresh(rng, 999.0) for _ in range(200)} == {20.0, 40.0, 60.0, 300.0}
    for value in range(10):
        samples.observe(500.0 + value)
    assert len(samples) == 10 and min(samples.fresh(rng, 1.0) for _ in range(100)) >= 500.0


def test_handle_samples_fall_back_to_the_prior_without_history() -> None:
    """Below min_samples, and past the longest call seen, draws are exponential around the
    prior (mean near it), not a recent call's."""
    rng = random.Random(2)
    cold = _samples(10.0, min_samples=5)
    draws = [cold.fresh(rng, 200.0) for _ in range(4000)]
    assert sum(draws) / len(draws) == pytest.approx(200.0, rel=0.06)
    warm = _samples(10.0, 20.0)
    assert sum(warm.left(30.0, rng, 200.0) for _ in range(4000)) / 4000 == pytest.approx(
        200.0, rel=0.06
    )
    samples = _samples()
    samples.observe(-5.0)  # a clock step: dropped
    samples.observe(10.0**6)
    assert len(samples) == 0


def test_forward_runs_follow_the_agents_snapshot() -> None:
    """Every call lasts 100 s. One agent's wrap-up ends in 10 s, the other has just begun a
    call: the first caller waits 10 s, the second 100 s (the other agent), the third 110 s
    (the first agent again). Abandonment weighs each run by the caller's own patience."""
    handle = _samples(100.0)
    agents = (AgentView(free_in=10.0), AgentView(busy_for=0.0))
    waits = [[w for w, _ in forward_waits(n, agents, handle, 100.0, 0.0, runs=8)] for n in range(3)]
    assert waits == [[10.0] * 8, [100.0] * 8, [110.0] * 8]
    weighted = forward_waits(0, agents, handle, 100.0, 0.01, runs=4)
    assert weighted == [(10.0, pytest.approx(math.exp(-0.1)))] * 4
    assert forward_waits(0, (), handle, 100.0, 0.0) == []


def test_forward_runs_skip_callers_ahead_who_hang_up() -> None:
    """With a strong abandonment rate, callers ahead hang up before an agent is free: a
    caller 5th in line is answered sooner than without abandonment."""
    handle = _samples(100.0)
    agents = (AgentView(busy_for=0.0),)
    patient = forward_waits(4, agents, handle, 100.0, 0.0, runs=50)
    impatient = forward_waits(4, agents, handle, 100.0, 1 / 50, runs=50)
    assert {w for w, _ in patient} == {500.0}
    assert max(w for w, _ in impatient) < 500.0
    assert weighted_mean_and_quantile([(1.0, 1.0), (3.0, 3.0)], 0.5) == (2.5, 3.0)


def test_default_uses_the_snapshot_it_is_given_or_reads() -> None:
    """Given a snapshot (the one agent is free in 7 s), a new caller first in line is told
    about 7 s, not the handle time; a predictor built with a snapshot source reads it
    itself (as the live queue's does); without either it is the closed-form model."""
    given = CalibratedPredictor(default_handle_time=120.0)
    assert given.estimate(0, 1, 0.0, agents=(AgentView(free_in=7.0),)).mean == pytest.approx(7.0)
    reads = CalibratedPredictor(
        default_handle_time=120.0, snapshot=lambda now: (AgentView(free_in=7.0 - now),)
    )
    assert reads.estimate(0, 1, 2.0).announce == pytest.approx(5.0)
    plain = CalibratedPredictor(default_handle_time=120.0)
    assert plain.estimate(0, 1, 0.0).mean == pytest.approx(120.0)


def test_default_learns_from_its_forward_figures() -> None:
    """Figures from the snapshot are corrected by what followed, like the model's: callers
    told 30 s who each waited 60 s teach the figure up (about twice, the comparison being
    made one gap between completions further on)."""
    predictor = CalibratedPredictor(default_handle_time=120.0, min_samples=20)
    for _ in range(40):
        predictor.observe(ServiceCompleted(0.0, 120.0))
    agents = (AgentView(free_in=30.0),)
    first = predictor.estimate(0, 1, 0.0, agents=agents)
    for caller in range(30):
        start = 1000.0 * caller
        predictor.estimate(0, 1, start, caller=caller, agents=agents)
        predictor.observe(CallerAnswered(caller, start + 60.0, 60.0))
    learnt = predictor.estimate(0, 1, 10**6, agents=agents)
    assert first.mean == pytest.approx(30.0)
    assert learnt.mean == pytest.approx(60.0) and learnt.announce == pytest.approx(60.0)


def test_re_announced_figures_learn_apart_from_figures_at_join() -> None:
    """Callers who have already waited are a population of their own: what followed their
    re-announced figures does not move what a newcomer in the same place is told."""
    predictor = CalibratedPredictor(default_handle_time=120.0, min_samples=20)
    at_join = predictor.estimate(3, 2, 0.0).announce
    model = predictor.estimate(3, 2, 0.0).mean
    for caller in range(60):
        start = 1000.0 * caller
        predictor.estimate(3, 2, start, 90.0, caller=caller)
        predictor.observe(CallerAnswered(caller, start + 3 * model, 0.0))
    assert predictor.estimate(3, 2, 10**6).announce == pytest.approx(at_join)
    assert predictor.estimate(3, 2, 10**6, 90.0).announce == pytest.approx(3 * model)


def test_the_margin_counts_callers_not_samples() -> None:
    """40 samples from 4 callers (each told 10 times) get the margin of 4 callers: the
    announced ratio is higher than from 40 callers told once each."""

    def announced(callers: int) -> float:
        predictor = CalibratedPredictor(default_handle_time=120.0, min_samples=40)
        base = predictor.estimate(3, 2, 0.0).mean
        for i in range(40):
            caller, start = i % callers, 1000.0 * i
            predictor.estimate(3, 2, start, caller=caller)
            predictor.observe(CallerAnswered(caller, start + base * (i + 1) / 40, 0.0))
        return predictor.estimate(3, 2, 10**6).announce / base

    assert announced(4) > announced(40)


def test_snapshot_of_the_router() -> None:
    """The snapshot has one view per agent who serves the queue: a free one (free now), one
    in wrap-up (free when it ends), one on a call (busy since the answer); a paused agent
    and one with a pause pending are left out, as the estimate's agents serving are."""
    queue = QueueConfig("q", wrapup=30.0)
    names = ["free", "wrap", "talk", "paused", "leaving"]
    router = Router(
        QueueCenter.build([AgentConfig(n, f"SIP/{n}", queues=("q",)) for n in names], [queue])
    )
    for name in names:
        router.login(name, 0.0)
    for name, entry in (("wrap", "e1"), ("talk", "e2"), ("leaving", "e3")):
        router.agents[name].ring(10.0, entry, "q")
        router.agents[name].answered(12.0)
    router.call_ended("wrap", 50.0)
    router.pause("paused", 0.0)
    router.pause("leaving", 20.0)
    views = agent_snapshot(router, "q", 60.0)
    assert sorted(views, key=repr) == sorted(
        [AgentView(free_in=0.0), AgentView(free_in=20.0), AgentView(busy_for=48.0)], key=repr
    )
    assert snapshot_source(router, "q")(60.0) == views
