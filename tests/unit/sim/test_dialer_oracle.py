"""The oracle pacing (a bound, sim only): where it may be reached from, what truth the
simulator keeps for it, its exact abandon count, and that knowing more pays."""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

import callflow
from callflow.dialer.pacing import PacingState, Predictive
from callflow.sim.dialer import DialerResult, DialerScenario, SimTruth, simulate_day
from callflow.sim.dialer_oracle import OraclePacing, Sees, _abandons_with

PACKAGE = Path(callflow.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_live_dialer_path_reaches_the_oracle_or_the_truth() -> None:
    """Nothing under callflow/dialer/ (pacing, the live runner, its CLI) imports the
    simulator, so no live campaign can build the oracle or a SimTruth; the oracle itself
    reads only pure dialer modules and the simulator."""
    dialer_files = sorted((PACKAGE / "dialer").rglob("*.py"))
    assert dialer_files
    for path in dialer_files:
        reached = {m for m in _imports(path) if m.startswith("callflow.sim")}
        assert not reached, f"{path} imports {reached}"
    oracle_imports = {
        m for m in _imports(PACKAGE / "sim" / "dialer_oracle.py") if m.startswith("callflow")
    }
    assert oracle_imports == {
        "callflow.dialer.pacing",
        "callflow.dialer.window",
        "callflow.sim.dialer",
    }


class _Checked(OraclePacing):
    """The oracle, checking at each tick that the truth agrees with the state."""

    ticks = 0

    def lines_to_dial(self, state: PacingState) -> int:
        busy = state.count("talking") + state.count("wrapup")
        assert len(self.truth.busy_until) == busy
        assert all(t > state.now for t in self.truth.busy_until.values())
        waiting = sum(1 for c in state.calls if c.stage == "waiting")
        needs = self.truth.needs_agent_at
        assert waiting <= len(needs) <= len(state.calls)
        assert sum(1 for t in needs.values() if t <= state.now) == waiting
        self.ticks += 1
        return super().lines_to_dial(state)


@pytest.mark.parametrize("sees", ["agents", "calls"])
def test_the_truth_the_simulator_keeps_matches_its_state(sees: Sees) -> None:
    """Every talking or wrapping-up agent has a future free time, and only they; the calls
    that will need an agent include every person waiting and are calls in flight."""
    scenario = DialerScenario("t", 5, hours=0.5)
    truth = SimTruth()
    oracle = _Checked(truth, 0.05, scenario, sees=sees)
    result = simulate_day(scenario, oracle, seed=4, truth=truth)
    assert oracle.ticks == 1801  # every second of the half hour, both ends included
    assert result.live > 0 and result.talk > 0.0


def test_an_oracle_needs_a_sane_allowance() -> None:
    with pytest.raises(ValueError, match="allowance"):
        OraclePacing(SimTruth(), 0.0, DialerScenario("t", 5))
    with pytest.raises(ValueError, match="sees"):
        OraclePacing(SimTruth(), 0.1, DialerScenario("t", 5), sees="everything")  # type: ignore[arg-type]


def _first_come_first_served(free: list[float], people: list[float], grace: float) -> int:
    """The simulator's rule, played out: each person, in answer order, takes the earliest
    free agent not taken if it is free by their answer + ``grace``; else abandons."""
    pool = sorted(free)
    taken = [False] * len(pool)
    abandons = 0
    for at in sorted(people):
        for j, f in enumerate(pool):
            if not taken[j]:
                if f <= at + grace:
                    taken[j] = True
                else:
                    abandons += 1
                break
        else:
            abandons += 1
    return abandons


def test_the_calls_oracle_counts_abandons_exactly() -> None:
    """With every agent's free time and every person's answer known, the abandons with m
    more people answering at a delay point are what first-come first-served gives."""
    rng = random.Random(7)
    scenario = DialerScenario("t", 8)
    for _ in range(300):
        now = 1000.0
        truth = SimTruth()
        idle = rng.randint(0, 3)
        truth.busy_until = {i: now + rng.uniform(0.1, 30.0) for i in range(rng.randint(0, 8))}
        truth.needs_agent_at = {c: now + rng.uniform(-1.0, 25.0) for c in range(rng.randint(0, 10))}
        oracle = OraclePacing(truth, 0.1, scenario, sees="calls")
        busy = sorted(truth.busy_until.values())
        displaced = oracle._displacement(now, busy, idle, oracle.delays)
        free = [now] * idle + busy
        people = list(truth.needs_agent_at.values())
        for u, (before, own, after, _) in zip(oracle.delays, displaced, strict=True):
            for m in range(3):
                expected = _first_come_first_served(free, people + [now + u] * m, oracle.grace)
                assert _abandons_with(m, before, own, after) == expected


def test_knowing_the_calls_in_flight_beats_predictive_at_no_more_abandons() -> None:
    """On the same small campaign days, the oracle that knows every agent's free time and
    every call in flight, held to a low allowance, abandons no more people than the
    predictive policy and keeps its agents talking at least as much."""
    scenario = DialerScenario("t", 5, hours=2.0)
    seeds = range(1, 4)
    ours = [simulate_day(scenario, Predictive(), seed) for seed in seeds]
    bound = []
    for seed in seeds:
        truth = SimTruth()
        oracle = OraclePacing(truth, 0.005, scenario, sees="calls")
        bound.append(simulate_day(scenario, oracle, seed, truth=truth))

    def talk_share(days: list[DialerResult]) -> float:
        return sum(d.talk for d in days) / sum(d.logged_in for d in days)

    assert sum(d.abandoned for d in bound) <= sum(d.abandoned for d in ours)
    assert talk_share(bound) >= talk_share(ours)
