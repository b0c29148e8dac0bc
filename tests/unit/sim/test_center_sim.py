"""The live-queue simulator: the real Router and caller machines in simulated time."""

from __future__ import annotations

import math

from callflow.bench.told import build_grid, format_table, rows_of
from callflow.queue.estimate import AppQueuePredictor, ConservativePredictor
from callflow.sim.center import CenterScenario, simulate_center


def test_every_caller_is_answered_or_abandons_or_is_still_there() -> None:
    """Calls are conserved: arrivals are answered, abandoned, or still in the queue."""
    result = simulate_center(
        CenterScenario("t", 3, 0.95, mean_patience=90.0, warmup=600.0, measured_callers=200),
        ConservativePredictor(),
        seed=2,
    )
    assert result.arrivals >= result.answered + result.abandoned
    assert result.arrivals - result.answered - result.abandoned < 40
    assert result.measured == 200
    assert result.abandoned > 0 and result.measured_abandoned <= result.abandoned


def test_told_figures_are_scored_for_the_live_and_the_shadow_predictor() -> None:
    """Each measured caller's figures are scored for both predictors; shares are shares."""
    result = simulate_center(
        CenterScenario("t", 5, 0.95, warmup=600.0, measured_callers=300),
        ConservativePredictor(),
        [AppQueuePredictor()],
        seed=3,
    )
    live, shadow = result.spoken
    assert (live.name, shadow.name) == ("default", "app_queue")
    assert live.told >= 300  # at join, and re-announced to those who waited longer
    assert 0.0 <= live.p_over <= 1.0 and math.isfinite(live.rrase)
    assert result.announcements >= live.told


def test_the_same_seed_gives_the_same_run() -> None:
    """A run is reproducible from its seed."""
    scenario = CenterScenario("t", 2, 0.9, mean_patience=60.0, warmup=300.0, measured_callers=50)
    first = simulate_center(scenario, ConservativePredictor(), seed=9)
    again = simulate_center(scenario, ConservativePredictor(), seed=9)
    assert (first.arrivals, first.spoken[0].sum_error) == (
        again.arrivals,
        again.spoken[0].sum_error,
    )


def test_round_seconds_reaches_the_figures_told() -> None:
    """The queue's round_seconds changes what callers are told (the live machine words it),
    not the unrounded figure behind it."""
    told = []
    for step in (0, 30):
        scenario = CenterScenario(
            "t", 3, 0.95, round_seconds=step, warmup=300.0, measured_callers=100
        )
        told.append(simulate_center(scenario, ConservativePredictor(), seed=4))
    plain, rounded = told
    assert plain.announced[0].sum_error == rounded.announced[0].sum_error
    assert plain.spoken[0].sum_error != rounded.spoken[0].sum_error


def test_priority_callers_are_served_first() -> None:
    """With priority callers mixed in, the router serves them ahead: the simulation runs the
    router's order, not a line of its own."""
    plain = simulate_center(
        CenterScenario("t", 3, 1.0, mean_patience=120.0, warmup=300.0, measured_callers=300),
        ConservativePredictor(),
        seed=6,
    )
    mixed = simulate_center(
        CenterScenario(
            "t", 3, 1.0, mean_patience=120.0, priority_share=0.3, warmup=300.0, measured_callers=300
        ),
        ConservativePredictor(),
        seed=6,
    )
    # Overtaking makes the figures told to the others wrong more often.
    assert mixed.spoken[0].p_over >= plain.spoken[0].p_over


def test_the_told_bench_grid_and_table() -> None:
    """The quick grid covers small teams and the wrap-up, priority and rounding variants, and
    its table has a line per predictor and scenario."""
    grid = build_grid(quick=True, callers=30)
    names = [s.name for s in grid]
    assert any("wrapup30" in n for n in names) and any("priority" in n for n in names)
    scenario = next(s for s in grid if s.name.startswith("s3 rho0.9 pat60"))
    result = simulate_center(
        scenario, ConservativePredictor(default_handle_time=300.0), [AppQueuePredictor()], seed=1
    )
    lines = format_table(rows_of(result))
    assert len(lines) == 3 and "default" in lines[1] and "app_queue" in lines[2]
