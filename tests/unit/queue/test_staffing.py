"""Staffing (callflow.queue.staffing): Erlang C against its textbook sum, Erlang A against
exact special cases and a simulation of the queue it models, and the agents needed."""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

import pytest

from callflow.queue.staffing import (
    Traffic,
    agents_needed,
    erlang_a,
    erlang_c,
    erlang_c_wait,
    plan,
)

# The classic worked example: 100 calls in 30 minutes, 3 minutes each (10 erlangs), 20 s.
EXAMPLE = Traffic(100 / 1800, 180.0)


def erlang_c_by_its_sum(agents: int, load: float) -> float:
    """The textbook form: ``(A^N/N! N/(N-A)) / (sum_{k<N} A^k/k! + A^N/N! N/(N-A))``."""
    top = load**agents / math.factorial(agents) * agents / (agents - load)
    return top / (sum(load**k / math.factorial(k) for k in range(agents)) + top)


def test_erlang_c_matches_its_textbook_sum_and_the_worked_example() -> None:
    """Probability of waiting, SL and ASA for 11-14 agents on 10 erlangs: the recursion
    agrees with the sum, and the figures are the ones the example is known for (13 agents
    answer 79.6 % within 20 s, 14 agents 88.8 %)."""
    for agents in range(11, 30):
        assert erlang_c_wait(agents, 10.0) == pytest.approx(erlang_c_by_its_sum(agents, 10.0))
    rows = [erlang_c(n, EXAMPLE, 20.0) for n in (11, 12, 13, 14)]
    assert [round(r.waits, 3) for r in rows] == [0.682, 0.449, 0.285, 0.174]
    assert [round(r.service_level, 3) for r in rows] == [0.390, 0.640, 0.796, 0.888]
    assert [round(r.asa, 1) for r in rows] == [122.8, 40.4, 17.1, 7.8]
    assert [round(r.occupancy, 3) for r in rows] == [0.909, 0.833, 0.769, 0.714]
    assert agents_needed(EXAMPLE, 20.0, 0.8, patient=True) == 14


def test_erlang_c_has_no_answer_at_or_past_the_load() -> None:
    at_load = erlang_c(10, EXAMPLE, 20.0)
    assert not at_load.stable and at_load.service_level == 0.0 and math.isinf(at_load.asa)
    assert at_load.to_dict()["asa"] is None  # JSON has no infinity


def test_erlang_a_when_patience_equals_handle_time_is_the_infinite_server_queue() -> None:
    """With theta = mu every caller in the system leaves at the same rate, served or not:
    the number in the system is Poisson(A), so the share who wait is P(Poisson(A) >= n)."""
    traffic = Traffic(EXAMPLE.arrival_rate, 180.0, patience=180.0)
    for agents in (5, 10, 13):
        below = sum(math.exp(-10.0) * 10.0**k / math.factorial(k) for k in range(agents))
        assert erlang_a(agents, traffic, 20.0).waits == pytest.approx(1.0 - below, rel=1e-9)


def test_erlang_a_tends_to_erlang_c_as_callers_grow_patient() -> None:
    for agents in (11, 13, 16):
        c = erlang_c(agents, EXAMPLE, 20.0)
        a = erlang_a(agents, Traffic(EXAMPLE.arrival_rate, 180.0, patience=1e9), 20.0)
        assert a.waits == pytest.approx(c.waits, abs=1e-4)
        assert a.service_level == pytest.approx(c.service_level, abs=1e-4)
        assert a.asa == pytest.approx(c.asa, rel=1e-3)
        assert a.abandons < 1e-5


@dataclass
class Simulated:
    waits: float
    abandons: float
    service_level: float
    asa: float


def simulate(agents: int, traffic: Traffic, within: float, short: float, calls: int) -> Simulated:
    """An independent M/M/n+M simulation, first come first served: a caller starts when
    the earliest agent is free for them, and hangs up instead if that is past their
    patience (a caller who hangs up takes no agent)."""
    draw = random.Random(20261207)
    assert traffic.patience is not None
    free_at = [0.0] * agents
    now = 0.0
    warm = calls // 20
    waited = abandoned = within_t = short_abandons = 0
    answered_waits: list[float] = []
    for index in range(calls + warm):
        now += draw.expovariate(traffic.arrival_rate)
        patience = draw.expovariate(1.0 / traffic.patience)
        start = max(now, free_at[0])
        counted = index >= warm
        if start - now > patience:
            if counted:
                waited += 1
                abandoned += 1
                short_abandons += patience <= short
            continue
        heapq.heapreplace(free_at, start + draw.expovariate(1.0 / traffic.handle_time))
        if counted:
            waited += start > now
            within_t += start - now <= within
            answered_waits.append(start - now)
    return Simulated(
        waits=waited / calls,
        abandons=abandoned / calls,
        service_level=within_t / (calls - short_abandons),
        asa=sum(answered_waits) / len(answered_waits),
    )


@pytest.mark.parametrize(
    ("agents", "per_hour", "handle", "patience"),
    [
        (12, 200, 180.0, 120.0),  # the example, a little busier, impatient callers
        (3, 60, 150.0, 300.0),  # a small team near its load
        (8, 240, 180.0, 60.0),  # overloaded (12 erlangs on 8 agents): Erlang C has no answer
    ],
)
def test_erlang_a_agrees_with_a_simulation_of_its_queue(
    agents: int, per_hour: float, handle: float, patience: float
) -> None:
    traffic = Traffic(per_hour / 3600, handle, patience)
    model = erlang_a(agents, traffic, 20.0, short=5.0)
    seen = simulate(agents, traffic, 20.0, 5.0, calls=200_000)
    assert model.waits == pytest.approx(seen.waits, abs=0.01)
    assert model.abandons == pytest.approx(seen.abandons, abs=0.01)
    assert model.service_level == pytest.approx(seen.service_level, abs=0.01)
    assert model.asa == pytest.approx(seen.asa, rel=0.05, abs=0.5)


def test_agents_needed_is_the_fewest_that_reach_the_goal() -> None:
    traffic = Traffic(EXAMPLE.arrival_rate, 180.0, patience=120.0)
    needed = agents_needed(traffic, 20.0, 0.8, short=5.0)
    assert erlang_a(needed, traffic, 20.0, 5.0).service_level >= 0.8
    assert erlang_a(needed - 1, traffic, 20.0, 5.0).service_level < 0.8
    # Callers who give up shorten the line: fewer agents than Erlang C says.
    assert needed < agents_needed(EXAMPLE, 20.0, 0.8, patient=True)
    capped = agents_needed(traffic, 20.0, 0.8, short=5.0, max_abandons=0.01)
    assert (
        erlang_a(capped, traffic, 20.0, 5.0).abandons
        <= 0.01
        < erlang_a(capped - 1, traffic, 20.0, 5.0).abandons
    )
    assert agents_needed(Traffic(0.0, 180.0), 20.0, 0.8) == 0


def test_a_large_center_is_worked_out() -> None:
    """6,000 erlangs, callers who wait 10 minutes on average: a few thousand states, done."""
    traffic = Traffic(20.0, 300.0, patience=600.0)
    needed = agents_needed(traffic, 20.0, 0.8, short=5.0)
    assert 5_800 < needed < 6_100
    assert erlang_a(needed, traffic, 20.0, 5.0).service_level >= 0.8


def test_a_plan_shows_the_numbers_around_both_answers() -> None:
    """Close answers (12 and 14 agents): one range, 10 to 16. An overloaded giant (83,333
    erlangs, callers who wait a minute): Erlang A needs 61,400, Erlang C 83,356; the plan
    shows five numbers around each, not the 22,000 between."""
    close = plan("q", Traffic(200 / 3600, 180.0, 120.0), within=20.0, goal=0.8, short=5.0)
    assert (close.needed, close.needed_c) == (12, 14)
    assert [r.agents for r in close.rows] == list(range(10, 17))
    assert [r.agents for r in close.rows_c] == list(range(10, 17))
    assert all(r.model == "erlang-c" for r in close.rows_c)
    giant = plan("q", Traffic(1e6 / 3600, 300.0, 60.0), within=20.0, goal=0.8, short=5.0)
    assert (giant.needed, giant.needed_c) == (61_400, 83_356)
    assert [r.agents for r in giant.rows] == [*range(61_398, 61_403), *range(83_354, 83_359)]
    # Past the load, callers who give up leave a quarter of the calls unanswered.
    assert giant.rows[2].abandons == pytest.approx(1 - 61_400 / 83_333.33, abs=0.01)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Traffic(-1.0, 180.0),
        lambda: Traffic(1.0, 0.0),
        lambda: Traffic(1.0, 180.0, patience=0.0),
        lambda: erlang_a(-1, EXAMPLE, 20.0),
        lambda: erlang_a(3, EXAMPLE, -1.0),
        lambda: agents_needed(EXAMPLE, 20.0, 1.0),
        lambda: agents_needed(EXAMPLE, 20.0, 0.8, max_abandons=1.0),
    ],
)
def test_impossible_inputs_are_refused(make: object) -> None:
    with pytest.raises(ValueError):
        make()  # type: ignore[operator]
