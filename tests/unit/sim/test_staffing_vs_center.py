"""The staffing model against the simulated center: callflow's own Router and caller
machines (callflow.sim.center), fed the M/M/n+M traffic Erlang A assumes, lose the share of
callers the model says they will."""

from __future__ import annotations

from callflow.queue.estimate import ConservativePredictor
from callflow.queue.staffing import Traffic, erlang_a
from callflow.sim.center import CenterScenario, simulate_center


def test_the_live_queue_policy_abandons_what_erlang_a_predicts() -> None:
    """10 agents at a load of 10 erlangs (Erlang C has no answer there), 3-minute calls and
    callers who wait 2 minutes on average, both exponential: Erlang A says 13.75 % hang up;
    the simulated center (about 20,000 callers) within 1.5 points of it."""
    scenario = CenterScenario(
        "support",
        agents=10,
        load=1.0,
        mean_handle_time=180.0,
        handle_time_distribution="exponential",
        mean_patience=120.0,
        patience_distribution="exponential",
        warmup=3600.0,
        measured_callers=10_000,
    )
    result = simulate_center(scenario, ConservativePredictor(), seed=3)
    model = erlang_a(10, Traffic(scenario.arrival_rate, 180.0, 120.0), 20.0)
    seen = result.abandoned / (result.answered + result.abandoned)
    assert result.answered + result.abandoned > 15_000
    assert abs(seen - model.abandons) < 0.015, (seen, model.abandons)
