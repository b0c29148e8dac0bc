"""The live dialer bench's pure parts: the scripted leads follow the scenario, the simulator
is given the same scenario, and the live figures are worked out as the simulated ones."""

from __future__ import annotations

from collections import Counter

import pytest

from callflow.bench.dialer_live import LiveFigures, LiveScenario, draw_leads, predict
from callflow.callback.number import DEFAULT_RULES, normalise


def test_the_scripted_leads_follow_the_scenarios_shares_and_times() -> None:
    """Shares of people, machines, busy and no answer as drawn; rings within their ranges;
    a person's talk includes AMD's lag; every number dialable and unique; one seed, one list."""
    scenario = LiveScenario()
    leads = draw_leads(scenario, 4000, seed=7)
    assert leads == draw_leads(scenario, 4000, seed=7)
    assert len(leads) == 4000
    kinds = Counter(b.kind for b in leads.values())
    assert kinds["person"] / 4000 == pytest.approx(0.25, abs=0.03)
    assert kinds["machine"] / 4000 == pytest.approx(0.35, abs=0.03)
    assert kinds["busy"] / 4000 == pytest.approx(0.10, abs=0.02)
    assert kinds["no-answer"] / 4000 == pytest.approx(0.30, abs=0.03)
    people = [b for b in leads.values() if b.kind == "person"]
    assert all(1 <= b.ring <= 6 and b.talk >= 3 for b in people)
    mean_talk = sum(b.talk for b in people) / len(people)
    assert mean_talk == pytest.approx(scenario.talk_mean + 2.0, rel=0.1)
    assert {b.ring for b in leads.values() if b.kind == "no-answer"} == {10}
    assert all(normalise(n, DEFAULT_RULES) for n in leads)


def test_the_simulator_is_given_the_same_scenario() -> None:
    """Team, length, shares, rings, talk and wrap-up carry over to the simulated day."""
    scenario = LiveScenario(agents=4, minutes=2.0, talk_mean=20.0, wrapup=5.0)
    day = scenario.simulated()
    assert (day.agents, day.hours, day.person, day.machine, day.busy) == (
        4,
        2 / 60,
        0.25,
        0.35,
        0.1,
    )
    assert (day.ring, day.no_answer_timeout, day.talk_mean, day.wrapup) == (
        (1.0, 6.0), 10.0, 20.0, (5.0, 5.0)
    )  # fmt: skip
    row = predict(scenario, "progressive", seeds=3)
    assert row.seeds == 3 and 0.0 < row.talk_share < row.occupancy < 1.0


def test_live_figures_are_shares_of_logged_in_time() -> None:
    """Three agents for 100 s: 120 s on calls and 30 s of wrap-up are 40 % and 50 %; 30
    attempts are 360 an agent hour."""
    figures = LiveFigures("progressive", 3, 100.0, 120.0, 30.0, 30, 5, 1, 0.1, 1 / 6)
    row = figures.row()
    assert (row.talk_share, row.occupancy) == pytest.approx((0.4, 0.5))
    assert row.attempts_per_agent_hour == pytest.approx(360.0)
    assert (row.abandon_worst_24h, row.abandon_30d, row.over_cap) == (0.1, 1 / 6, 1)
