"""The estimated-wait benchmark: simulate a grid of queues and score every wait predictor.

Every scenario runs through the live queue's own code (:mod:`callflow.sim.center`: the
Router, one QueueCaller per caller, the announcement rules and the wait wording), with
callflow's default predictor driving what callers are told and every other predictor asked
at the same moments, fed the same events. Per predictor: ``rrase`` and ``p_over`` of the
figures at join (the point estimate against the whole wait; the announced figure
outwaited), and ``told_rrase``/``told_p_over`` of every figure said to callers, rounded as
spoken, at join and re-announced, against the wait that followed it.

Grid (one line served in order of arrival, lognormal handle times with mean 180 s and CV 1,
fixed seeds):

- agents ``s`` in {5, 10, 20, 50, 100} x offered load ``rho`` in {0.85, 0.95, 1.05, 1.2}
  x exponential patience with mean 60 s, 180 s, or none;
- sinusoidal arrivals (rate +-30 % over a 2-hour cycle, same mean) for ``s`` in {10, 50},
  ``rho`` in {0.95, 1.05}, every patience;
- M/M/s sanity runs (exponential handle times, nobody abandons), where QL's relative
  error should sit near the Ibrahim & Whitt bound ``1/sqrt(E[n+1])`` (reported as the
  extra row ``QL-theory``, whose ``p_over`` is the exact Erlang share of callers who
  outwait the QL mean).

Skipped, honestly: ``rho >= 1`` with no abandonment has no steady state (the line grows
without bound), so those combinations are not run; the table lists them.

Each scenario measures a fixed number of callers who had to queue (see
:mod:`callflow.sim.center` for exactly who is scored), after a 3-hour warm-up. Every
predictor starts from the same *configured* defaults - 300 s handle time, no
abandonment - not the simulator's true parameters, and learns the rest online.
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

from callflow.queue.estimate import (
    AbandonmentAwarePredictor,
    AppQueuePredictor,
    ConservativePredictor,
    HeadOfLine,
    LastToEnterService,
    QueueLengthPredictor,
    WaitPredictor,
    regularized_gamma_upper,
)
from callflow.sim.center import CenterResult, CenterScenario, simulate_center

# Configured defaults the predictors start from (deliberately not the simulated truth).
DEFAULT_HANDLE_TIME = 300.0
DEFAULT_ABANDON_RATE = 0.0

AGENTS = (5, 10, 20, 50, 100)
LOADS = (0.85, 0.95, 1.05, 1.2)
PATIENCES: tuple[float | None, ...] = (60.0, 180.0, None)
FULL_CALLERS = 20_000
WARMUP = 3 * 3600.0
QUICK_CALLERS = 2_000
DEFAULT_PREDICTOR = "default"
BASELINE_PREDICTOR = "app_queue"
GOAL_RATIO = 0.80
GOAL_P_OVER = 0.20


def make_predictors() -> list[WaitPredictor]:
    """Fresh predictors for one run, all starting from the same configured defaults."""
    return [
        AppQueuePredictor(),
        LastToEnterService(),
        HeadOfLine(),
        QueueLengthPredictor(default_handle_time=DEFAULT_HANDLE_TIME),
        AbandonmentAwarePredictor(
            default_handle_time=DEFAULT_HANDLE_TIME, default_abandon_rate=DEFAULT_ABANDON_RATE
        ),
        AbandonmentAwarePredictor(
            percentile=0.8,
            default_handle_time=DEFAULT_HANDLE_TIME,
            default_abandon_rate=DEFAULT_ABANDON_RATE,
        ),
        ConservativePredictor(
            default_handle_time=DEFAULT_HANDLE_TIME, default_abandon_rate=DEFAULT_ABANDON_RATE
        ),
    ]


def scenario_name(
    agents: int, load: float, patience: float | None, swing: bool = False, mms: bool = False
) -> str:
    """A stable, readable scenario label, e.g. ``s10-rho0.95-pat60-sin``."""
    prefix = "mms-" if mms else ""
    pat = "none" if patience is None else f"{patience:g}"
    return f"{prefix}s{agents}-rho{load:.2f}-pat{pat}{'-sin' if swing else ''}"


@dataclass(frozen=True, slots=True)
class Grid:
    """The scenarios to run and the ones skipped (with why)."""

    scenarios: tuple[CenterScenario, ...]
    skipped: tuple[tuple[str, str], ...]


def build_grid(quick: bool = False, callers: int | None = None) -> Grid:
    """Build the full grid, or a small ``quick`` one, measuring ``callers`` each."""
    measured = callers if callers is not None else (QUICK_CALLERS if quick else FULL_CALLERS)
    agents: Sequence[int] = (10, 50) if quick else AGENTS
    loads: Sequence[float] = (0.95, 1.2) if quick else LOADS
    patiences: Sequence[float | None] = (60.0, None) if quick else PATIENCES
    swing_agents: Sequence[int] = (10,) if quick else (10, 50)
    swing_loads: Sequence[float] = (1.05,) if quick else (0.95, 1.05)
    mms: Sequence[tuple[int, float]] = ((10, 0.9),) if quick else ((10, 0.9), (50, 0.95))

    scenarios: list[CenterScenario] = []
    skipped: list[tuple[str, str]] = []
    unstable = "rho >= 1 with no abandonment: no steady state"

    def add(s: int, rho: float, patience: float | None, swing: bool) -> None:
        name = scenario_name(s, rho, patience, swing)
        if patience is None and rho >= 1.0:
            skipped.append((name, unstable))
            return
        scenarios.append(
            CenterScenario(
                name=name,
                agents=s,
                load=rho,
                mean_patience=patience,
                arrival_swing=0.3 if swing else 0.0,
                measured_callers=measured,
                warmup=WARMUP,
            )
        )

    for s in agents:
        for rho in loads:
            for patience in patiences:
                add(s, rho, patience, swing=False)
    for s in swing_agents:
        for rho in swing_loads:
            for patience in patiences:
                add(s, rho, patience, swing=True)
    for s, rho in mms:
        scenarios.append(
            CenterScenario(
                name=scenario_name(s, rho, None, mms=True),
                agents=s,
                load=rho,
                handle_time_distribution="exponential",
                measured_callers=measured,
                warmup=WARMUP,
            )
        )
    return Grid(tuple(scenarios), tuple(skipped))


@dataclass(frozen=True, slots=True)
class Row:
    """One (scenario, predictor) result: the JSON line, plus the ratio to app_queue."""

    scenario: str
    predictor: str
    rrase: float
    p_over: float
    n: int
    vs_app_queue: float
    told_rrase: float = math.nan
    told_p_over: float = math.nan
    told: int = 0

    def to_json(self) -> str:
        """The ``--json`` line; undefined metrics (no callers scored) become null."""
        return json.dumps(
            {
                "scenario": self.scenario,
                "predictor": self.predictor,
                "rrase": _finite_or_none(self.rrase),
                "p_over": _finite_or_none(self.p_over),
                "n": self.n,
                "told_rrase": _finite_or_none(self.told_rrase),
                "told_p_over": _finite_or_none(self.told_p_over),
                "told": self.told,
            }
        )


def _finite_or_none(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def scenario_seed(base_seed: int, name: str) -> int:
    """A seed per scenario that does not depend on which other scenarios run."""
    return zlib.crc32(f"{base_seed}:{name}".encode())


def run_scenario(scenario: CenterScenario, base_seed: int) -> CenterResult:
    """Simulate one scenario with fresh predictors; callflow's default drives what is said."""
    predictors = make_predictors()
    live = next(p for p in predictors if p.name == DEFAULT_PREDICTOR)
    shadows = [p for p in predictors if p is not live]
    return simulate_center(scenario, live, shadows, scenario_seed(base_seed, scenario.name))


def _rows(result: CenterResult) -> list[Row]:
    scores = result.joined
    baseline = next((s.rrase for s in scores if s.name == BASELINE_PREDICTOR), math.nan)
    order = {p.name: i for i, p in enumerate(make_predictors())}
    rows = sorted(
        (
            Row(
                result.scenario.name,
                s.name,
                s.rrase,
                s.p_over,
                s.told,
                s.rrase / baseline,
                told.rrase,
                told.p_over,
                told.told,
            )
            for s, told in zip(scores, result.spoken, strict=True)
        ),
        key=lambda row: order.get(row.predictor, len(order)),
    )
    if result.scenario.name.startswith("mms-"):
        rows.append(_ql_theory_row(result, baseline))
    return rows


def _ql_theory_row(result: CenterResult, baseline: float) -> Row:
    """QL's best-case error in M/M/s: W ~ Erlang(n+1, s*mu), so rrase = 1/sqrt(E[n+1])."""
    counts = result.ahead_counts
    total = sum(counts.values())
    if total == 0:
        return Row(result.scenario.name, "QL-theory", math.nan, math.nan, 0, math.nan)
    mean_positions = sum((n + 1) * c for n, c in counts.items()) / total
    bound = 1.0 / math.sqrt(mean_positions)
    p_over = sum(regularized_gamma_upper(n + 1.0, n + 1.0) * c for n, c in counts.items()) / total
    return Row(result.scenario.name, "QL-theory", bound, p_over, total, bound / baseline)


def run_grid(grid: Grid, base_seed: int, jobs: int) -> Iterator[list[Row]]:
    """Run every scenario (in ``jobs`` processes) and yield its rows in grid order."""
    scenarios = list(grid.scenarios)
    if jobs <= 1 or len(scenarios) <= 1:
        for scenario in scenarios:
            yield _rows(run_scenario(scenario, base_seed))
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        seeds = [base_seed] * len(scenarios)
        for result in pool.map(run_scenario, scenarios, seeds):
            yield _rows(result)


def format_table(rows: Iterable[Row]) -> list[str]:
    """Aligned text table: scenario, predictor, rrase, p_over, n, rrase / app_queue's, and
    the same for the figures callers were told (as spoken)."""
    header = (
        "scenario",
        "predictor",
        "rrase",
        "p_over",
        "n",
        "vs_app_queue",
        "told_rrase",
        "told_p_over",
        "told",
    )
    body = [
        (
            r.scenario,
            r.predictor,
            f"{r.rrase:.3f}",
            f"{r.p_over:.3f}",
            str(r.n),
            f"{r.vs_app_queue:.2f}",
            f"{r.told_rrase:.3f}",
            f"{r.told_p_over:.3f}",
            str(r.told),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    out = []
    for line in [header, *body]:
        cells = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def summarize_goals(rows: Sequence[Row]) -> list[str]:
    """Say, per goal, where the default predictor meets it and where it does not."""
    by_scenario: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_scenario.setdefault(row.scenario, {})[row.predictor] = row
    ratio_misses, over_misses, ratio_checked = [], [], 0
    for name, predictors in by_scenario.items():
        default = predictors.get(DEFAULT_PREDICTOR)
        if default is None:
            continue
        if "-patnone" not in name:
            ratio_checked += 1
            if not default.vs_app_queue <= GOAL_RATIO:
                ratio_misses.append(f"{name} ({default.vs_app_queue:.2f})")
        if not default.p_over <= GOAL_P_OVER:
            over_misses.append(f"{name} ({default.p_over:.3f})")
    lines = [
        f"goal: default rrase <= {GOAL_RATIO:.2f} x app_queue's in every scenario with "
        f"abandonment: {ratio_checked - len(ratio_misses)}/{ratio_checked} met"
        + (f"; missed: {', '.join(ratio_misses)}" if ratio_misses else ""),
        f"goal: default p_over <= {GOAL_P_OVER:.2f} in every scenario: "
        f"{len(by_scenario) - len(over_misses)}/{len(by_scenario)} met"
        + (f"; missed: {', '.join(over_misses)}" if over_misses else ""),
    ]
    for name, predictors in by_scenario.items():
        ql, theory = predictors.get("QL"), predictors.get("QL-theory")
        if ql is not None and theory is not None:
            lines.append(
                f"M/M/s sanity {name}: QL rrase {ql.rrase:.3f} vs 1/sqrt(E[n+1]) "
                f"{theory.rrase:.3f}; QL p_over {ql.p_over:.3f} vs Erlang {theory.p_over:.3f}"
            )
    return lines


def run_ewt_bench(
    *,
    as_json: bool,
    quick: bool,
    seed: int,
    jobs: int | None = None,
    only: str | None = None,
    callers: int | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """Run the benchmark and write the table (or JSON lines); return the exit code."""
    grid = build_grid(quick=quick, callers=callers)
    if only:
        grid = replace(
            grid,
            scenarios=tuple(s for s in grid.scenarios if only in s.name),
            skipped=tuple(s for s in grid.skipped if only in s[0]),
        )
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    rows: list[Row] = []
    for scenario_rows in run_grid(grid, seed, workers):
        rows.extend(scenario_rows)
        if as_json:
            for row in scenario_rows:
                write(row.to_json())
    if as_json:
        return 0
    for line in format_table(rows):
        write(line)
    write("")
    for name, why in grid.skipped:
        write(f"skipped {name}: {why}")
    for line in summarize_goals(rows):
        write(line)
    return 0


__all__ = [
    "Grid",
    "Row",
    "build_grid",
    "format_table",
    "make_predictors",
    "run_ewt_bench",
    "run_grid",
    "run_scenario",
    "scenario_name",
    "scenario_seed",
    "summarize_goals",
]
