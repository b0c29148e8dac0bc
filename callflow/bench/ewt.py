"""The estimated-wait benchmark: what callers are told, scored, in the queues contact
centres have.

Every scenario runs through the live queue's own code (:mod:`callflow.sim.center`: the
Router, one QueueCaller per caller, the announcement rules and the wait wording), with
callflow's default predictor driving what callers are told and every other predictor asked
at the same moments (at join and at each re-announcement), fed the same events. Each
figure is scored against the wait that followed it, for callers who were then answered,
three ways: the point estimate (``mean``), the figure announced (``ann``), and that figure
as spoken, rounded up as the queue words it (``spoken``). Per figure: ``rrase`` (RMS error
over the mean wait), ``bias`` (seconds, positive is pessimistic) and ``p_over`` (share of
figures outwaited); the spoken figure also at join and re-announced apart, in its worst
5-minute window, and by callers ahead (``--json``). The headline compares what callers
hear: the spoken figure's rrase against app_queue's.

The grid (handle times lognormal, mean 180 s and CV 1 unless said; fixed seeds):

- teams of 2, 3, 5, 10, 20, 50 and 100 agents x offered load 0.85, 0.95, 1.05, 1.2 x
  exponential patience with mean 60 s, 180 s, or none;
- at 3, 10 and 50 agents, load 0.95 and 1.05, patience 120 s unless said: near-fixed
  patience (uniform 100-140 s), heavy-tailed patience (lognormal, CV 2), heavy-tailed
  service (lognormal, CV 2), bimodal service (70% short, 30% long), 30 s wrap-up with 5 s
  of ringing, 20% priority callers, breaks (30% of the agents pause 15 minutes every hour),
  bursts (arrivals doubled 10 minutes every hour), sinusoidal arrivals (+-30% over 2 h);
- M/M/s sanity runs (exponential handle times, nobody abandons), where QL's relative
  error should sit near the Ibrahim & Whitt bound ``1/sqrt(E[n+1])`` (the extra row
  ``QL-theory``; its ``p_over`` is the exact Erlang share of callers who outwait QL).

Skipped, honestly: ``rho >= 1`` with no abandonment has no steady state (the line grows
without bound); the table lists them.

Each scenario measures a fixed number of callers who had to queue, after a 3-hour warm-up.
Every predictor starts from the same *configured* defaults - 300 s handle time, no
abandonment - not the simulator's true parameters, and learns the rest online. Each is
given the agents' snapshot with every question (how long each busy agent has been on
their call, when wrap-ups end), as the live queue gives it to its predictor.

What is achievable (``python -m callflow.bench.ewt --oracle``): the same runs with the
oracles of :mod:`callflow.sim.oracle` asked at the same moments - ``oracle-*`` forecasts
by forward runs from the exact observable state with the true parameters (its mean is
the least squared error any predictor can reach; its ``pNN`` the least figure that keeps
the promise for ``NN``% of answered callers), ``seer-*`` also knows when every current
call will end. The table says, per scenario, the lowest level whose spoken figure meets
the error goal against app_queue, and how often callers outwait it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

from callflow.queue.estimate import (
    AbandonmentAwarePredictor,
    AppQueuePredictor,
    CalibratedPredictor,
    ConservativePredictor,
    HeadOfLine,
    LastToEnterService,
    QueueLengthPredictor,
    WaitPredictor,
    regularized_gamma_upper,
)
from callflow.sim.center import (
    CenterResult,
    CenterScenario,
    PredictorScores,
    Score,
    simulate_center,
)
from callflow.sim.oracle import LEVELS, ForwardOracle

# Configured defaults the predictors start from (deliberately not the simulated truth).
DEFAULT_HANDLE_TIME = 300.0
DEFAULT_ABANDON_RATE = 0.0

AGENTS = (2, 3, 5, 10, 20, 50, 100)
LOADS = (0.85, 0.95, 1.05, 1.2)
PATIENCES: tuple[float | None, ...] = (60.0, 180.0, None)
VARIANT_AGENTS = (3, 10, 50)
VARIANT_LOADS = (0.95, 1.05)
FULL_CALLERS = 4_000
WARMUP = 3 * 3600.0
QUICK_CALLERS = 1_000
DEFAULT_PREDICTOR = "default"
BASELINE_PREDICTOR = "app_queue"
GOAL_RATIO = 0.80
GOAL_P_OVER = 0.20


def make_predictors() -> list[WaitPredictor]:
    """Fresh predictors for one run, all starting from the same configured defaults;
    callflow's default first (it drives what callers hear)."""
    return [
        CalibratedPredictor(
            default_handle_time=DEFAULT_HANDLE_TIME, default_abandon_rate=DEFAULT_ABANDON_RATE
        ),
        AppQueuePredictor(),
        LastToEnterService(),
        HeadOfLine(),
        QueueLengthPredictor(default_handle_time=DEFAULT_HANDLE_TIME),
        AbandonmentAwarePredictor(
            default_handle_time=DEFAULT_HANDLE_TIME, default_abandon_rate=DEFAULT_ABANDON_RATE
        ),
        ConservativePredictor(
            default_handle_time=DEFAULT_HANDLE_TIME, default_abandon_rate=DEFAULT_ABANDON_RATE
        ),
    ]


def scenario_name(
    agents: int, load: float, patience: float | None, variant: str = "", mms: bool = False
) -> str:
    """A stable, readable scenario label, e.g. ``s10-rho0.95-pat120-breaks``."""
    prefix = "mms-" if mms else ""
    pat = "none" if patience is None else f"{patience:g}"
    return f"{prefix}s{agents}-rho{load:.2f}-pat{pat}{'-' + variant if variant else ''}"


# The variants of real queues, each a change to a scenario with patience 120 s.
VARIANTS: dict[str, dict[str, object]] = {
    "patfixed": {"patience_distribution": "uniform"},
    "patheavy": {"patience_distribution": "lognormal", "patience_cv": 2.0},
    "svcheavy": {"handle_time_cv": 2.0},
    "svcbimodal": {"handle_time_distribution": "bimodal"},
    "wrapup": {"wrapup": 30.0, "ring_time": 5.0},
    "priority": {"priority_share": 0.2},
    "breaks": {"breaks_every": 3600.0, "breaks_length": 900.0, "breaks_share": 0.3},
    "bursts": {"burst_every": 3600.0, "burst_length": 600.0, "burst_factor": 2.0},
    "sin": {"arrival_swing": 0.3},
}
VARIANT_PATIENCE = 120.0


@dataclass(frozen=True, slots=True)
class Grid:
    """The scenarios to run and the ones skipped (with why)."""

    scenarios: tuple[CenterScenario, ...]
    skipped: tuple[tuple[str, str], ...]


def build_grid(quick: bool = False, callers: int | None = None) -> Grid:
    """Build the full grid, or a small ``quick`` one, measuring ``callers`` each."""
    measured = callers if callers is not None else (QUICK_CALLERS if quick else FULL_CALLERS)
    agents: Sequence[int] = (3, 10, 50) if quick else AGENTS
    loads: Sequence[float] = (0.95, 1.2) if quick else LOADS
    patiences: Sequence[float | None] = (60.0, None) if quick else PATIENCES
    variant_agents: Sequence[int] = (10,) if quick else VARIANT_AGENTS
    variant_loads: Sequence[float] = (1.05,) if quick else VARIANT_LOADS
    mms: Sequence[tuple[int, float]] = ((10, 0.9),) if quick else ((10, 0.9), (50, 0.95))

    scenarios: list[CenterScenario] = []
    skipped: list[tuple[str, str]] = []
    unstable = "rho >= 1 with no abandonment: no steady state"
    for s in agents:
        for rho in loads:
            for patience in patiences:
                name = scenario_name(s, rho, patience)
                if patience is None and rho >= 1.0:
                    skipped.append((name, unstable))
                    continue
                scenarios.append(
                    CenterScenario(
                        name=name,
                        agents=s,
                        load=rho,
                        mean_patience=patience,
                        measured_callers=measured,
                        warmup=WARMUP,
                    )
                )
    for variant, changes in VARIANTS.items():
        for s in variant_agents:
            for rho in variant_loads:
                base = CenterScenario(
                    name=scenario_name(s, rho, VARIANT_PATIENCE, variant),
                    agents=s,
                    load=rho,
                    mean_patience=VARIANT_PATIENCE,
                    measured_callers=measured,
                    warmup=WARMUP,
                )
                scenarios.append(replace(base, **changes))  # type: ignore[arg-type]
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
class Metric:
    """One figure's scores: relative RMS error, bias (s), share outwaited, figures."""

    rrase: float
    bias: float
    p_over: float
    n: int

    def to_json(self) -> dict[str, float | int | None]:
        return {
            "rrase": _finite_or_none(self.rrase),
            "bias": _finite_or_none(self.bias),
            "p_over": _finite_or_none(self.p_over),
            "n": self.n,
        }


NO_METRIC = Metric(math.nan, math.nan, math.nan, 0)


@dataclass(frozen=True, slots=True)
class Row:
    """One (scenario, predictor) result."""

    scenario: str
    predictor: str
    mean: Metric
    announced: Metric
    spoken: Metric
    spoken_join: Metric = NO_METRIC
    spoken_again: Metric = NO_METRIC
    worst_window_p_over: float = math.nan
    vs_app_queue: float = math.nan  # spoken rrase over app_queue's, where both spoke
    paired: Metric = NO_METRIC  # the spoken figure where app_queue spoke too
    heard: Metric = NO_METRIC  # the spoken figure, silence scored as 0 s
    vs_app_queue_heard: float = math.nan  # heard rrase over app_queue's
    by_ahead: dict[int, Metric] = field(default_factory=dict)

    def to_json(self) -> str:
        """The ``--json`` line; undefined metrics (no callers scored) become null."""
        return json.dumps(
            {
                "scenario": self.scenario,
                "predictor": self.predictor,
                "mean": self.mean.to_json(),
                "announced": self.announced.to_json(),
                "spoken": self.spoken.to_json(),
                "spoken_join": self.spoken_join.to_json(),
                "spoken_again": self.spoken_again.to_json(),
                "worst_5min_p_over": _finite_or_none(self.worst_window_p_over),
                "spoken_paired": self.paired.to_json(),
                "heard": self.heard.to_json(),
                "vs_app_queue_heard": _finite_or_none(self.vs_app_queue_heard),
                "vs_app_queue": _finite_or_none(self.vs_app_queue),
                "spoken_by_ahead": {
                    AHEAD_BANDS[band]: metric.to_json()
                    for band, metric in sorted(self.by_ahead.items())
                },
            }
        )


AHEAD_BANDS = ("0", "1", "2-3", "4-7", "8-15", "16-31", "32-63", "64+")


def _finite_or_none(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def _metric(score: Score) -> Metric:
    return Metric(score.rrase, score.bias, score.p_over, score.told)


def scenario_seed(base_seed: int, name: str) -> int:
    """A seed per scenario that does not depend on which other scenarios run."""
    return zlib.crc32(f"{base_seed}:{name}".encode())


def run_scenario(scenario: CenterScenario, base_seed: int) -> CenterResult:
    """Simulate one scenario with fresh predictors; callflow's default drives what is said."""
    live, *shadows = make_predictors()
    return simulate_center(scenario, live, shadows, scenario_seed(base_seed, scenario.name))


def _row(scenario: str, scores: PredictorScores, baselines: tuple[float, float]) -> Row:
    paired = _metric(scores.paired)
    heard = _metric(scores.figure("heard"))
    return Row(
        scenario,
        scores.name,
        mean=_metric(scores.figure("mean")),
        announced=_metric(scores.figure("announced")),
        spoken=_metric(scores.spoken),
        spoken_join=_metric(scores.join["spoken"]),
        spoken_again=_metric(scores.again["spoken"]),
        worst_window_p_over=scores.worst_window_p_over,
        vs_app_queue=paired.rrase / baselines[0],
        paired=paired,
        heard=heard,
        vs_app_queue_heard=heard.rrase / baselines[1],
        by_ahead={band: _metric(score) for band, score in scores.by_ahead.items()},
    )


def _rows(result: CenterResult) -> list[Row]:
    baseline = next((s for s in result.scores if s.name == BASELINE_PREDICTOR), None)
    baselines = (
        (baseline.paired.rrase, baseline.figure("heard").rrase)
        if baseline is not None
        else (math.nan, math.nan)
    )
    rows = [_row(result.scenario.name, scores, baselines) for scores in result.scores]
    if result.scenario.name.startswith("mms-"):
        rows.append(_ql_theory_row(result))
    return rows


def _ql_theory_row(result: CenterResult) -> Row:
    """QL's best-case error in M/M/s: W ~ Erlang(n+1, s*mu), so rrase = 1/sqrt(E[n+1])."""
    counts = result.ahead_counts
    total = sum(counts.values())
    name = result.scenario.name
    if total == 0:
        return Row(name, "QL-theory", NO_METRIC, NO_METRIC, NO_METRIC)
    mean_positions = sum((n + 1) * c for n, c in counts.items()) / total
    bound = 1.0 / math.sqrt(mean_positions)
    p_over = sum(regularized_gamma_upper(n + 1.0, n + 1.0) * c for n, c in counts.items()) / total
    theory = Metric(bound, 0.0, p_over, total)
    return Row(name, "QL-theory", theory, theory, NO_METRIC)


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


def _f(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


def format_table(rows: Iterable[Row]) -> list[str]:
    """Aligned text table, one line per scenario and predictor: the mean's and the announced
    figure's rrase, then what callers hear (the spoken figure): rrase, bias, p_over overall,
    at join, re-announced and in the worst 5-minute window, rrase over app_queue's, count."""
    header = (
        "scenario",
        "predictor",
        "mean_rrase",
        "ann_rrase",
        "ann_p_over",
        "spoken_rrase",
        "bias_s",
        "p_over",
        "join",
        "again",
        "worst5",
        "vs_app_queue",
        "vs_heard",
        "n",
    )
    body = [
        (
            r.scenario,
            r.predictor,
            _f(r.mean.rrase),
            _f(r.announced.rrase),
            _f(r.announced.p_over),
            _f(r.spoken.rrase),
            _f(r.spoken.bias, 0),
            _f(r.spoken.p_over),
            _f(r.spoken_join.p_over),
            _f(r.spoken_again.p_over),
            _f(r.worst_window_p_over),
            _f(r.vs_app_queue, 2),
            _f(r.vs_app_queue_heard, 2),
            str(r.spoken.n or r.mean.n),
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
    worst: list[tuple[float, str]] = []
    for name, predictors in by_scenario.items():
        default = predictors.get(DEFAULT_PREDICTOR)
        if default is None:
            continue
        if "-patnone" not in name:
            ratio_checked += 1
            if not default.vs_app_queue <= GOAL_RATIO:
                ratio_misses.append(f"{name} ({default.vs_app_queue:.2f})")
        shares = (default.spoken_join.p_over, default.spoken_again.p_over)
        if not all(share <= GOAL_P_OVER or not math.isfinite(share) for share in shares):
            over_misses.append(f"{name} ({_f(shares[0])}/{_f(shares[1])})")
        if math.isfinite(default.worst_window_p_over):
            worst.append((default.worst_window_p_over, name))
    lines = [
        f"goal: default spoken rrase <= {GOAL_RATIO:.2f} x app_queue's in every scenario with "
        f"abandonment: {ratio_checked - len(ratio_misses)}/{ratio_checked} met"
        + (f"; missed: {', '.join(ratio_misses)}" if ratio_misses else ""),
        f"goal: default spoken p_over <= {GOAL_P_OVER:.2f} at join and re-announced in every "
        f"scenario: {len(by_scenario) - len(over_misses)}/{len(by_scenario)} met"
        + (f"; missed (join/again): {', '.join(over_misses)}" if over_misses else ""),
    ]
    if worst:
        share, name = max(worst)
        lines.append(f"worst 5-minute window of the default's spoken p_over: {share:.3f} ({name})")
    for name, predictors in by_scenario.items():
        ql, theory = predictors.get("QL"), predictors.get("QL-theory")
        if ql is not None and theory is not None:
            lines.append(
                f"M/M/s sanity {name}: QL rrase {ql.mean.rrase:.3f} vs 1/sqrt(E[n+1]) "
                f"{theory.mean.rrase:.3f}; QL p_over {ql.mean.p_over:.3f} vs Erlang "
                f"{theory.mean.p_over:.3f}"
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


# The oracle table: every small team with abandonment, and large teams at a few points.
ORACLE_AGENTS = (2, 3, 5, 10)
ORACLE_LARGE = (
    "s20-rho0.95-pat60",
    "s20-rho1.20-pat180",
    "s50-rho1.05-pat180",
    "s100-rho0.95-pat60",
    "s50-rho1.05-pat120-wrapup",
)
ORACLE_CALLERS = 600
ORACLE_RUNS = 100
ORACLE_KEPT = (DEFAULT_PREDICTOR, BASELINE_PREDICTOR)


def oracle_grid(callers: int = ORACLE_CALLERS) -> tuple[CenterScenario, ...]:
    """The scenarios of the oracle table, ``callers`` measured each."""
    chosen = []
    for scenario in build_grid(callers=callers).scenarios:
        small = scenario.agents in ORACLE_AGENTS and scenario.mean_patience is not None
        if small or scenario.name in ORACLE_LARGE:
            chosen.append(scenario)
    return tuple(chosen)


def run_oracle_scenario(scenario: CenterScenario, base_seed: int, runs: int) -> list[Row]:
    """One scenario with the oracle and the seer asked beside the predictors (the same
    callers, moments and seed as :func:`run_scenario`); rows for the default, app_queue
    and every oracle figure."""
    live, *shadows = make_predictors()
    oracles = [ForwardOracle(scenario, runs), ForwardOracle(scenario, runs, knows_ends=True)]
    seed = scenario_seed(base_seed, scenario.name)
    result = simulate_center(scenario, live, shadows, seed, oracles=oracles)
    return [
        row
        for row in _rows(result)
        if row.predictor in ORACLE_KEPT or row.predictor.startswith(("oracle-", "seer-"))
    ]


def summarize_oracle(rows: Sequence[Row]) -> list[str]:
    """Per scenario: the error ratio of the oracle's p80 and of the default, and the lowest
    oracle level that meets the error goal, with how often callers outwait it."""
    by_scenario: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_scenario.setdefault(row.scenario, {})[row.predictor] = row
    lines, feasible = [], 0
    for name, predictors in by_scenario.items():
        p80 = predictors.get("oracle-p80")
        default = predictors.get(DEFAULT_PREDICTOR)
        if p80 is None or default is None:
            continue
        feasible += p80.vs_app_queue <= GOAL_RATIO
        meets = [
            (level, predictors[f"oracle-p{round(level * 100)}"])
            for level in sorted(LEVELS, reverse=True)
            if predictors[f"oracle-p{round(level * 100)}"].vs_app_queue <= GOAL_RATIO
        ]
        best = (
            f"highest level meeting {GOAL_RATIO:.2f}x: p{round(meets[0][0] * 100)} "
            f"(p_over {meets[0][1].spoken.p_over:.3f})"
            if meets
            else f"no level up to p{round(min(LEVELS) * 100)} meets {GOAL_RATIO:.2f}x"
        )
        lines.append(
            f"oracle {name}: p80 vs app_queue {_f(p80.vs_app_queue, 2)} (p_over "
            f"{_f(p80.spoken.p_over)}), default {_f(default.vs_app_queue, 2)}; {best}"
        )
    lines.append(
        f"oracle p80 meets rrase <= {GOAL_RATIO:.2f} x app_queue's in {feasible}/"
        f"{len(lines)} scenarios"
    )
    return lines


def run_oracle_bench(
    *,
    seed: int = 1,
    jobs: int = 1,
    only: str | None = None,
    callers: int = ORACLE_CALLERS,
    runs: int = ORACLE_RUNS,
    write: Callable[[str], None] = print,
) -> int:
    """Run the oracle table and write it with its summary; return the exit code."""
    scenarios = [s for s in oracle_grid(callers) if not only or only in s.name]
    rows: list[Row] = []
    if jobs <= 1:
        for scenario in scenarios:
            rows += run_oracle_scenario(scenario, seed, runs)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for scenario_rows in pool.map(
                run_oracle_scenario, scenarios, [seed] * len(scenarios), [runs] * len(scenarios)
            ):
                rows += scenario_rows
    for line in format_table(rows):
        write(line)
    write("")
    for line in summarize_oracle(rows):
        write(line)
    return 0


def _metric_from_json(data: dict[str, float | int | None] | None) -> Metric:
    if not data:
        return NO_METRIC

    def value(key: str) -> float:
        got = data.get(key)
        return math.nan if got is None else float(got)

    return Metric(value("rrase"), value("bias"), value("p_over"), int(data.get("n") or 0))


def row_from_json(line: str) -> Row:
    """A row back from its ``--json`` line (the table and the goals can be made from the
    lines a run wrote as it went)."""
    data = json.loads(line)
    if not isinstance(data, dict) or "scenario" not in data or "predictor" not in data:
        raise ValueError(f"not a bench ewt JSON row: {line[:80]!r}")

    def number(key: str) -> float:
        got = data.get(key)
        return math.nan if got is None else float(got)

    return Row(
        data["scenario"],
        data["predictor"],
        mean=_metric_from_json(data.get("mean")),
        announced=_metric_from_json(data.get("announced")),
        spoken=_metric_from_json(data.get("spoken")),
        spoken_join=_metric_from_json(data.get("spoken_join")),
        spoken_again=_metric_from_json(data.get("spoken_again")),
        worst_window_p_over=number("worst_5min_p_over"),
        vs_app_queue=number("vs_app_queue"),
        paired=_metric_from_json(data.get("spoken_paired")),
        heard=_metric_from_json(data.get("heard")),
        vs_app_queue_heard=number("vs_app_queue_heard"),
        by_ahead={
            AHEAD_BANDS.index(band): _metric_from_json(metric)
            for band, metric in (data.get("spoken_by_ahead") or {}).items()
        },
    )


def table_from_json(lines: Iterable[str], write: Callable[[str], None] = print) -> int:
    """The table, the skipped scenarios and the goals from ``--json`` lines."""
    rows = [row_from_json(line) for line in lines if line.strip()]
    for line in format_table(rows):
        write(line)
    write("")
    ran = {row.scenario for row in rows}
    for name, why in build_grid().skipped:
        write(f"skipped {name}: {why}")
    for scenario in build_grid().scenarios:
        if scenario.name not in ran:
            write(f"not run {scenario.name}")
    for line in summarize_goals(rows):
        write(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m callflow.bench.ewt --oracle [--only TEXT] [--callers N] [--runs N]``, or
    ``--table FILE``: the table and goals from the ``--json`` lines of ``callflow bench ewt``
    (``-``: standard input)."""
    parser = argparse.ArgumentParser(prog="python -m callflow.bench.ewt")
    parser.add_argument("--oracle", action="store_true", help="the oracle table")
    parser.add_argument("--table", metavar="FILE", default=None, help="table from JSON lines")
    parser.add_argument("--only", default=None, help="scenarios whose name contains this")
    parser.add_argument("--callers", type=int, default=ORACLE_CALLERS)
    parser.add_argument("--runs", type=int, default=ORACLE_RUNS, help="forward runs a figure")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.table is not None:
        if args.table == "-":
            return table_from_json(sys.stdin)
        with open(args.table, encoding="utf-8") as lines:
            return table_from_json(lines)
    if not args.oracle:
        parser.error("the grid itself runs as `callflow bench ewt`; here: --oracle or --table")
    if args.callers < 1 or args.runs < 1:
        parser.error("--callers and --runs must be positive")
    return run_oracle_bench(
        seed=args.seed, jobs=args.jobs, only=args.only, callers=args.callers, runs=args.runs
    )


__all__ = [
    "Grid",
    "Row",
    "build_grid",
    "format_table",
    "main",
    "make_predictors",
    "oracle_grid",
    "row_from_json",
    "run_ewt_bench",
    "run_grid",
    "run_oracle_bench",
    "run_oracle_scenario",
    "run_scenario",
    "scenario_name",
    "scenario_seed",
    "summarize_goals",
    "summarize_oracle",
    "table_from_json",
]


if __name__ == "__main__":
    raise SystemExit(main())
