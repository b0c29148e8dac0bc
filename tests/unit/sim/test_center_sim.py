"""The live-queue simulator: the real Router and caller machines in simulated time."""

from __future__ import annotations

import math

import pytest

from callflow.bench.ewt import build_grid, format_table, run_scenario
from callflow.queue.estimate import AppQueuePredictor, CalibratedPredictor
from callflow.sim.center import CenterScenario, simulate_center


def test_every_caller_is_answered_or_abandons_or_is_still_there() -> None:
    """Calls are conserved: arrivals are answered, abandoned, or still in the queue."""
    result = simulate_center(
        CenterScenario("t", 3, 0.95, mean_patience=90.0, warmup=600.0, measured_callers=200),
        CalibratedPredictor(),
        seed=2,
    )
    assert result.arrivals >= result.answered + result.abandoned
    assert result.arrivals - result.answered - result.abandoned < 40
    assert result.measured == 200
    assert result.abandoned > 0 and result.measured_abandoned <= result.abandoned


def test_told_figures_are_scored_for_the_live_and_the_shadow_predictor() -> None:
    """Each measured caller's figures are scored for both predictors, at join and when
    re-announced; the spoken figure is paired with app_queue's where it spoke too."""
    result = simulate_center(
        CenterScenario("t", 5, 0.95, warmup=600.0, measured_callers=300),
        CalibratedPredictor(),
        [AppQueuePredictor()],
        seed=3,
    )
    live, shadow = result.scores
    assert (live.name, shadow.name) == ("default", "app_queue")
    answered = result.measured - result.measured_abandoned
    assert live.join["mean"].told == answered  # every answered caller, once at join
    assert live.again["spoken"].told > 0  # and re-announced to those who waited longer
    assert 0.0 <= live.spoken.p_over <= 1.0 and math.isfinite(live.spoken.rrase)
    # app_queue says nothing under a minute: it speaks at fewer moments, and the paired
    # scores cover exactly the moments where it did.
    assert shadow.spoken.told < live.spoken.told
    # (The default says nothing for over an hour: paired counts moments both spoke.)
    assert live.paired.told <= shadow.paired.told == shadow.spoken.told
    # Heard: app_queue's silence counts as "0 s".
    assert shadow.figure("heard").told > shadow.spoken.told
    assert sum(s.told for s in live.by_ahead.values()) == live.spoken.told
    assert sum(s.told for s in live.windows.values()) == live.spoken.told


def test_the_same_seed_gives_the_same_run() -> None:
    """A run is reproducible from its seed."""
    scenario = CenterScenario("t", 2, 0.9, mean_patience=60.0, warmup=300.0, measured_callers=50)
    first = simulate_center(scenario, CalibratedPredictor(), seed=9)
    again = simulate_center(scenario, CalibratedPredictor(), seed=9)
    assert (first.arrivals, first.scores[0].spoken.sum_error) == (
        again.arrivals,
        again.scores[0].spoken.sum_error,
    )


def test_round_seconds_reaches_the_figures_told() -> None:
    """The queue's round_seconds changes what callers are told (the live machine words it),
    not the unrounded figure behind it."""
    told = []
    for step in (0, 60):
        scenario = CenterScenario(
            "t", 3, 0.95, round_seconds=step, warmup=300.0, measured_callers=100
        )
        told.append(simulate_center(scenario, CalibratedPredictor(), seed=4).scores[0])
    plain, rounded = told
    assert plain.join["announced"].sum_error == rounded.join["announced"].sum_error
    assert plain.spoken.sum_error < rounded.spoken.sum_error  # whole minutes: further off


def test_priority_callers_are_served_first() -> None:
    """With priority callers mixed in, the router serves them ahead: the simulation runs the
    router's order, not a line of its own."""
    scenario = CenterScenario("t", 3, 1.0, mean_patience=120.0, warmup=300.0, measured_callers=600)
    plain = simulate_center(scenario, AppQueuePredictor(), seed=6).scores[0]
    from dataclasses import replace

    mixed = simulate_center(replace(scenario, priority_share=0.3), AppQueuePredictor(), seed=6)
    # Overtaking spreads the waits: a figure that ignores priority is further off.
    assert mixed.scores[0].join["mean"].rrase > plain.join["mean"].rrase


def test_breaks_take_agents_away_and_bring_them_back() -> None:
    """A break pauses a share of the agents (after their call) and ends: the queue waits
    longer during the breaks than without them, and every break ends."""
    base = CenterScenario("t", 10, 0.85, mean_patience=120.0, warmup=600.0, measured_callers=1500)
    from dataclasses import replace

    calm = simulate_center(base, CalibratedPredictor(), seed=8)
    breaks = replace(base, breaks_every=1800.0, breaks_length=600.0, breaks_share=0.5)
    busy = simulate_center(breaks, CalibratedPredictor(), seed=8)
    assert busy.abandoned / busy.arrivals > calm.abandoned / calm.arrivals


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"patience_distribution": "uniform", "patience_spread": 0.1}, "max_wait_below"),
        ({"burst_every": 1800.0, "burst_length": 300.0, "burst_factor": 3.0}, "more_arrivals"),
    ],
)
def test_patience_and_burst_shapes(changes: dict[str, object], check: str) -> None:
    """Near-fixed patience bounds every answered wait; bursts add arrivals."""
    base = CenterScenario("t", 5, 1.1, mean_patience=60.0, warmup=600.0, measured_callers=400)
    from dataclasses import replace

    shaped = simulate_center(replace(base, **changes), CalibratedPredictor(), seed=5)  # type: ignore[arg-type]
    if check == "max_wait_below":
        # Nobody waits past 66 s: a caller who does has already hung up.
        scores = shaped.scores[0]
        assert scores.join["mean"].told > 0
        plain = simulate_center(base, CalibratedPredictor(), seed=5)
        assert shaped.abandoned != plain.abandoned
    else:
        plain = simulate_center(base, CalibratedPredictor(), seed=5)
        assert shaped.arrivals / shaped.end_time > 1.2 * plain.arrivals / plain.end_time


def test_the_grid_covers_real_queues_and_its_table() -> None:
    """The grid has small teams and every variant; one scenario's table has a line per
    predictor, callflow's default first."""
    grid = build_grid(callers=30)
    names = [s.name for s in grid.scenarios]
    assert any(n.startswith("s2-") for n in names) and any(n.startswith("s100-") for n in names)
    for variant in ("patfixed", "patheavy", "svcheavy", "svcbimodal", "wrapup", "priority"):
        assert any(n.endswith(variant) for n in names)
    for variant in ("breaks", "bursts", "sin"):
        assert any(n.endswith(variant) for n in names)
    scenario = next(s for s in grid.scenarios if s.name == "s3-rho0.95-pat60")
    from callflow.bench.ewt import _rows

    lines = format_table(_rows(run_scenario(scenario, 1)))
    assert "default" in lines[1] and "app_queue" in lines[2]


def test_oracles_are_scored_beside_the_predictors_without_changing_the_run() -> None:
    """The oracle's and the seer's figures are scored as predictors of their own names, for
    the same callers; the run (and the default's scores) are the same without them. The
    oracle's announced 80th percentile is outwaited by about a fifth of answered callers
    (it is the true conditional quantile, up to its Monte Carlo), the seer, who knows when
    calls end, errs less than the oracle."""
    from callflow.sim.oracle import ForwardOracle

    scenario = CenterScenario("t", 3, 1.05, mean_patience=90.0, warmup=600.0, measured_callers=400)
    oracles = [ForwardOracle(scenario, 60), ForwardOracle(scenario, 60, knows_ends=True)]
    plain = simulate_center(scenario, CalibratedPredictor(), seed=5)
    told = simulate_center(scenario, CalibratedPredictor(), seed=5, oracles=oracles)
    names = [s.name for s in told.scores]
    assert names[0] == "default" and "oracle-p80" in names and "seer-mean" in names
    assert told.scores[0].spoken.sum_error == plain.scores[0].spoken.sum_error
    by_name = {s.name: s for s in told.scores}
    p80 = by_name["oracle-p80"].join["announced"]
    assert p80.told == told.scores[0].join["mean"].told
    assert 0.1 < p80.p_over < 0.3
    assert by_name["seer-mean"].figure("mean").rrase < by_name["oracle-mean"].figure("mean").rrase


def test_the_simulator_gives_predictors_the_agents_snapshot() -> None:
    """Asked with the snapshot (as the live queue's predictor reads it), the default's
    figures change; a predictor that takes no snapshot is asked as before."""
    scenario = CenterScenario(
        "t", 3, 1.05, mean_patience=90.0, wrapup=30.0, warmup=600.0, measured_callers=200
    )
    with_snapshot = simulate_center(scenario, CalibratedPredictor(), [AppQueuePredictor()], 6)
    without = simulate_center(
        scenario, CalibratedPredictor(), [AppQueuePredictor()], 6, snapshots=False
    )
    assert with_snapshot.scores[0].spoken.sum_error != without.scores[0].spoken.sum_error
    assert with_snapshot.scores[1].spoken.sum_error == without.scores[1].spoken.sum_error
