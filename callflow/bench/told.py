"""``callflow bench told``: the waits callers are told, scored through the live queue's code.

Each scenario runs :func:`callflow.sim.center.simulate_center`: the Router, one
:class:`~callflow.queue.caller.QueueCaller` per caller, the announcement rules and the
wait wording exactly as callers get them over ARI. The live predictor (callflow's default)
drives what is said; app_queue's is asked at the same moments what it would have said, fed
the same events.

Per predictor and scenario: ``spoken`` is the figure as said (rounded: "about 3 minutes"
counts as 180 s, "less than a minute" as 60 s), ``announced`` the unrounded figure behind
it. Each figure a caller heard (at join and at every re-announcement) is scored against the
wait that followed it, for callers who were then answered: ``rrase`` (RMS error over the
mean wait), ``bias`` (mean of told - waited; positive is pessimistic) and ``p_over`` (share
of figures the caller outwaited).

Grid: small to mid teams (2, 3, 5, 10, 20 agents) at load 0.9 and 1.05, exponential
patience 60 s, 180 s or none (load 1.05 without abandonment has no steady state), and, at 5
agents and load 0.95, a 30 s wrap-up, 20 % priority callers, and ``round_seconds: 30``.
Every predictor starts from the same configured 300 s handle time (not the truth).
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from callflow.queue.estimate import AppQueuePredictor, ConservativePredictor
from callflow.sim.center import CenterResult, CenterScenario, simulate_center

DEFAULT_HANDLE_TIME = 300.0
FULL_CALLERS = 2_000
QUICK_CALLERS = 300


def build_grid(quick: bool = False, callers: int | None = None) -> list[CenterScenario]:
    """The scenarios, each measuring ``callers`` callers who were told a wait."""
    measured = callers or (QUICK_CALLERS if quick else FULL_CALLERS)
    teams = (3, 10) if quick else (2, 3, 5, 10, 20)
    scenarios = []
    for agents in teams:
        for load in (0.9, 1.05):
            for patience in (60.0, 180.0, None):
                if patience is None and load >= 1.0:
                    continue
                label = "none" if patience is None else f"{patience:.0f}"
                scenarios.append(
                    CenterScenario(
                        f"s{agents} rho{load} pat{label}",
                        agents,
                        load,
                        mean_patience=patience,
                        measured_callers=measured,
                    )
                )
    base = CenterScenario("s5 rho0.95 pat180", 5, 0.95, mean_patience=180.0)
    base = replace(base, measured_callers=measured)
    scenarios += [
        replace(base, name="s5 rho0.95 pat180 wrapup30", wrapup=30.0),
        replace(base, name="s5 rho0.95 pat180 priority20%", priority_share=0.2),
        replace(base, name="s5 rho0.95 pat180 round30", round_seconds=30),
    ]
    return scenarios


@dataclass(frozen=True)
class Row:
    """One predictor in one scenario."""

    scenario: str
    predictor: str
    told: int
    spoken_rrase: float
    spoken_bias: float
    spoken_p_over: float
    announced_rrase: float
    announced_p_over: float
    measured: int
    abandoned: int

    def to_json(self) -> str:
        """One JSON object (NaN as null)."""
        data = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in self.__dict__.items()
        }
        return json.dumps({"bench": "told", **data})


def run_scenario(scenario: CenterScenario, seed: int) -> CenterResult:
    """One scenario, with callflow's default driving and app_queue's as a shadow."""
    return simulate_center(
        scenario,
        ConservativePredictor(default_handle_time=DEFAULT_HANDLE_TIME),
        [AppQueuePredictor()],
        seed=seed + zlib.crc32(scenario.name.encode()),
    )


def rows_of(result: CenterResult) -> list[Row]:
    """The table rows of one run."""
    return [
        Row(
            result.scenario.name,
            spoken.name,
            spoken.told,
            spoken.rrase,
            spoken.bias,
            spoken.p_over,
            announced.rrase,
            announced.p_over,
            result.measured,
            result.measured_abandoned,
        )
        for spoken, announced in zip(result.spoken, result.announced, strict=True)
    ]


def run_grid(scenarios: list[CenterScenario], seed: int, jobs: int) -> Iterator[list[Row]]:
    """Rows per scenario, in grid order (in parallel over ``jobs`` processes)."""
    if jobs <= 1:
        for scenario in scenarios:
            yield rows_of(run_scenario(scenario, seed))
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for result in pool.map(run_scenario, scenarios, [seed] * len(scenarios)):
            yield rows_of(result)


def _f(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


def format_table(rows: list[Row]) -> list[str]:
    """The table, one line per predictor and scenario."""
    head = (
        f"{'scenario':<32} {'predictor':<10} {'told':>6} {'spoken rrase':>12} "
        f"{'bias s':>7} {'p_over':>6} {'announced rrase':>15} {'p_over':>6}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.scenario:<32} {r.predictor:<10} {r.told:>6} {_f(r.spoken_rrase):>12} "
            f"{_f(r.spoken_bias, 0):>7} {_f(r.spoken_p_over):>6} "
            f"{_f(r.announced_rrase):>15} {_f(r.announced_p_over):>6}"
        )
    return lines


def run_told_bench(
    *,
    as_json: bool,
    quick: bool,
    seed: int,
    jobs: int | None = None,
    callers: int | None = None,
    only: str | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """Run the grid and write the table (or JSON lines); return the exit code."""
    scenarios = [s for s in build_grid(quick, callers) if not only or only in s.name]
    rows: list[Row] = []
    for scenario_rows in run_grid(scenarios, seed, jobs or os.cpu_count() or 1):
        rows += scenario_rows
        if as_json:
            for row in scenario_rows:
                write(row.to_json())
    if not as_json:
        for line in format_table(rows):
            write(line)
    return 0


__all__ = ["Row", "build_grid", "format_table", "rows_of", "run_scenario", "run_told_bench"]
