"""The dialer benchmark: every pacing policy on simulated campaign days, against the cap.

Each (scenario, policy, team size) runs ``seeds`` campaign days of 8 hours through
:mod:`callflow.sim.dialer`, which asks the policy objects of :mod:`callflow.dialer.pacing`
every simulated second. Scenarios: ``reference`` (../shared/domain.md's campaign: 25 %
people, 35 % machines, 30 % no answer, 10 % busy; talk lognormal mean 120 s CV 1; wrap-up
20-40 s; AMD with 1 % false positives), ``drift`` (the answer rate swinging +-50 % over the
day), ``shift-change`` (30 % of the agents log out after 4 hours, as they finish their call)
and ``long-talk`` (talk mean 300 s).

Rows:

- ``talk_share``: talk time / logged-in agent time, over all the seeds' days (the upper
  bound on the reference campaign is talk / (talk + wrap-up) = 80 %);
- ``occupancy``: (talk + wrap-up) / logged-in time;
- ``abandon_worst_24h``: the worst day's ``uk-24h`` rate (one day is one 24-hour window:
  abandons plus the estimated AMD false positives, over live calls plus those);
- ``abandon_30d``: the ``us-30d`` rate of the ``seeds`` days taken as one campaign (30 seeds:
  30 days): abandons / people answered;
- ``attempts_per_agent_hour``: calls placed per logged-in agent hour;
- ``over_cap``: days on which any window ended over the 3 % cap.

``--oracle`` (:func:`run_oracle_bench`): a bound, not a policy, run only in the simulator.
For ``reference`` and ``no-fp`` (the same campaign with no AMD false positive, so the whole
3 % is left to people abandoned), predictive's row and the rows of
:class:`~callflow.sim.dialer_oracle.OraclePacing` (``oracle-agents-L``: it knows each busy
agent's exact free time; ``oracle-calls-L``: that and when each call in flight will need an
agent) at each allowance ``L`` of its sweep, lowest first, stopping after the first one
with a day over the cap; then the frontier lines, labelled "bound (oracle, sim only)": the
best talk share with no day over the cap in any window.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from callflow.dialer.pacing import make_policy
from callflow.sim.dialer import DialerResult, DialerScenario, SimTruth, simulate_day
from callflow.sim.dialer_oracle import OraclePacing, Sees

AGENTS = (5, 10, 20, 50, 100)
POLICIES = (
    "progressive",
    "ratio-1.2",
    "vicidial-hard-limit",
    "vicidial-tapered",
    "vicidial-average",
    "predictive",
)
CALLFLOW_POLICY = "predictive"
CAP = 0.03
GOAL_TALK = {100: 0.77, 10: 0.68}


def scenario(name: str, agents: int) -> DialerScenario:
    """One of the bench's scenarios at a team size."""
    if name == "reference":
        return DialerScenario(name, agents)
    if name == "drift":
        return DialerScenario(name, agents, answer_drift=0.5)
    if name == "shift-change":
        return DialerScenario(name, agents, shift_change=(4.0, 0.3))
    if name == "long-talk":
        return DialerScenario(name, agents, talk_mean=300.0)
    if name == "no-fp":  # --oracle only: the reference campaign, AMD never wrong
        return DialerScenario(name, agents, amd_false_positive=0.0)
    raise ValueError(f"unknown scenario {name!r}")


SCENARIOS = ("reference", "drift", "shift-change", "long-talk")


@dataclass(frozen=True, slots=True)
class Row:
    """One (scenario, policy, team size) over its seeds."""

    scenario: str
    policy: str
    agents: int
    talk_share: float
    occupancy: float
    abandon_worst_24h: float
    abandon_30d: float
    attempts_per_agent_hour: float
    seeds: int
    over_cap: int

    def to_json(self) -> str:
        return json.dumps(
            {
                "scenario": self.scenario,
                "policy": self.policy,
                "agents": self.agents,
                "talk_share": round(self.talk_share, 4),
                "occupancy": round(self.occupancy, 4),
                "abandon_worst_24h": round(self.abandon_worst_24h, 5),
                "abandon_30d": round(self.abandon_30d, 5),
                "attempts_per_agent_hour": round(self.attempts_per_agent_hour, 2),
                "seeds": self.seeds,
                "over_cap": self.over_cap,
            }
        )


@dataclass(frozen=True, slots=True)
class Unit:
    """The work of one row."""

    scenario: str
    policy: str
    agents: int
    seeds: int
    base_seed: int


def day_seed(base_seed: int, scenario_name: str, agents: int, day: int) -> int:
    """The same days for every policy (common random numbers where the draws line up)."""
    return zlib.crc32(f"{base_seed}:{scenario_name}:{agents}:{day}".encode())


def run_unit(unit: Unit) -> Row:
    """Simulate a row's days, each with a fresh policy (VICIdial's latest server time set to
    the day's end, as an administrator would)."""
    day = scenario(unit.scenario, unit.agents)
    end = int(day.day_start + day.hours * 3600.0) // 60
    days: list[DialerResult] = [
        simulate_day(
            day,
            make_policy(unit.policy, latest_server_time=end // 60 * 100 + end % 60),
            day_seed(unit.base_seed, unit.scenario, unit.agents, n),
        )
        for n in range(unit.seeds)
    ]
    return summarize(unit.scenario, unit.policy, unit.agents, days)


def summarize(scenario_name: str, policy: str, agents: int, days: Sequence[DialerResult]) -> Row:
    """A row from its days (see the module docstring for each figure)."""
    logged_in = sum(d.logged_in for d in days)
    us = [d.window("us-30d") for d in days]
    live = sum(w.live for w in us)
    over = sum(1 for d in days if any(w.abandoned > w.cap * w.live for w in d.windows))
    return Row(
        scenario=scenario_name,
        policy=policy,
        agents=agents,
        talk_share=sum(d.talk for d in days) / logged_in,
        occupancy=sum(d.talk + d.wrapup for d in days) / logged_in,
        abandon_worst_24h=max(d.window("uk-24h").rate for d in days),
        abandon_30d=sum(w.abandoned for w in us) / live if live else 0.0,
        attempts_per_agent_hour=sum(d.attempts for d in days) / (logged_in / 3600.0),
        seeds=len(days),
        over_cap=over,
    )


def units(
    scenarios: Sequence[str], agents: Sequence[int], seeds: int, base_seed: int
) -> list[Unit]:
    return [Unit(s, p, a, seeds, base_seed) for s in scenarios for a in agents for p in POLICIES]


def run_units(work: Sequence[Unit], jobs: int) -> Iterator[Row]:
    """Rows in ``work``'s order, computed in ``jobs`` processes."""
    if jobs <= 1 or len(work) <= 1:
        yield from map(run_unit, work)
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(run_unit, work)


def format_table(rows: Iterable[Row]) -> list[str]:
    header = (
        "scenario",
        "policy",
        "agents",
        "talk_share",
        "occupancy",
        "abandon_worst_24h",
        "abandon_30d",
        "attempts_per_agent_hour",
        "seeds",
        "over_cap",
    )
    body = [
        (
            r.scenario,
            r.policy,
            str(r.agents),
            f"{r.talk_share:.3f}",
            f"{r.occupancy:.3f}",
            f"{r.abandon_worst_24h:.4f}",
            f"{r.abandon_30d:.4f}",
            f"{r.attempts_per_agent_hour:.1f}",
            str(r.seeds),
            str(r.over_cap),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in [header, *body]
    ]


def summarize_goals(rows: Sequence[Row]) -> list[str]:
    """Say, goal by goal, where callflow's predictive policy meets it and where not."""
    lines = []
    ours = [r for r in rows if r.policy == CALLFLOW_POLICY]
    over = [f"{r.scenario}/{r.agents} ({r.over_cap} days)" for r in ours if r.over_cap]
    lines.append(
        f"goal: {CALLFLOW_POLICY} never over the cap on any day, any window: "
        + ("met" if not over else "missed: " + ", ".join(over))
    )
    for r in ours:
        if r.scenario != "reference":
            continue
        legal = [
            x
            for x in rows
            if x.scenario == r.scenario and x.agents == r.agents and x.abandon_worst_24h <= CAP
        ]
        best = max(legal, key=lambda x: x.talk_share, default=None)
        verdict = "met" if best is not None and best.policy == r.policy else "missed"
        text = (
            f"goal: reference, {r.agents} agents: highest talk share under the cap: {verdict}"
            f" ({CALLFLOW_POLICY} {r.talk_share:.3f}"
            + (
                f", best {best.policy} {best.talk_share:.3f}"
                if best and verdict == "missed"
                else ""
            )
            + ")"
        )
        if r.agents in GOAL_TALK:
            goal = GOAL_TALK[r.agents]
            text += f"; talk share >= {goal:.2f}: {'met' if r.talk_share >= goal else 'missed'}"
        lines.append(text)
    return lines


#: The oracle's allowances swept, per what it sees, lowest first.
ORACLE_ALLOWANCES: dict[Sees, tuple[float, ...]] = {
    "agents": (0.014, 0.02, 0.03),
    "calls": (0.02, 0.05, 0.07, 0.1),
}
ORACLE_SCENARIOS = ("reference", "no-fp")
BOUND = "bound (oracle, sim only)"


def oracle_days(
    scenario_name: str, agents: int, sees: Sees, allowance: float, seeds: int, base_seed: int
) -> list[DialerResult]:
    """An oracle's days (the bench's day seeds; the simulator keeps its truth for it)."""
    day = scenario(scenario_name, agents)
    days = []
    for n in range(seeds):
        truth = SimTruth()
        oracle = OraclePacing(truth, allowance, day, sees=sees)
        seed = day_seed(base_seed, scenario_name, agents, n)
        days.append(simulate_day(day, oracle, seed, truth=truth))
    return days


def oracle_rows(
    scenario_name: str, agents: int, sees: Sees, seeds: int, base_seed: int
) -> Iterator[Row]:
    """The sweep's rows, lowest allowance first, up to the first with a day over the cap."""
    for allowance in ORACLE_ALLOWANCES[sees]:
        days = oracle_days(scenario_name, agents, sees, allowance, seeds, base_seed)
        row = summarize(scenario_name, f"oracle-{sees}-{allowance:g}", agents, days)
        yield row
        if row.over_cap:
            return


def oracle_frontier(rows: Sequence[Row]) -> list[dict[str, object]]:
    """Per (scenario, team size, what the oracle sees): its best row with no day over the
    cap, next to predictive's row."""
    out: list[dict[str, object]] = []
    keys = dict.fromkeys(
        (r.scenario, r.agents, r.policy.split("-")[1])
        for r in rows
        if r.policy.startswith("oracle-")
    )
    for scenario_name, agents, sees in keys:
        same = [r for r in rows if r.scenario == scenario_name and r.agents == agents]
        legal = [r for r in same if r.policy.startswith(f"oracle-{sees}-") and not r.over_cap]
        best = max(legal, key=lambda r: r.talk_share, default=None)
        ours = next((r for r in same if r.policy == CALLFLOW_POLICY), None)
        out.append(
            {
                "bound": BOUND,
                "scenario": scenario_name,
                "agents": agents,
                "sees": sees,
                "talk_share": round(best.talk_share, 4) if best else None,
                "abandon_worst_24h": round(best.abandon_worst_24h, 5) if best else None,
                "abandon_real": round(best.abandon_30d, 5) if best else None,
                "allowance": float(best.policy.rsplit("-", 1)[1]) if best else None,
                "predictive_talk_share": round(ours.talk_share, 4) if ours else None,
                "predictive_abandon_worst_24h": round(ours.abandon_worst_24h, 5) if ours else None,
                "goal": GOAL_TALK.get(agents) if scenario_name == "reference" else None,
            }
        )
    return out


def format_frontier(frontier: Sequence[dict[str, object]]) -> list[str]:
    lines = []
    for f in frontier:
        text = f"{BOUND}: {f['scenario']}, {f['agents']} agents, sees {f['sees']}: "
        if f["talk_share"] is None:
            text += "no allowance kept every day under the cap"
        else:
            text += (
                f"talk share {f['talk_share']:.3f} at worst window {f['abandon_worst_24h']:.4f}"
                f" (people abandoned {f['abandon_real']:.4f}, allowance {f['allowance']:g})"
            )
        if f["predictive_talk_share"] is not None:
            text += (
                f"; predictive {f['predictive_talk_share']:.3f}"
                f" at {f['predictive_abandon_worst_24h']:.4f}"
            )
        goal = f["goal"]
        if isinstance(goal, float) and isinstance(f["talk_share"], float):
            reached = "reached" if f["talk_share"] >= goal else "not reached"
            text += f"; goal {goal:.2f}: {reached} by the bound"
        lines.append(text)
    return lines


def run_oracle_bench(
    *,
    as_json: bool,
    seeds: int,
    agents: Sequence[int],
    seed: int = 1,
    only: str | None = None,
    sees: Sequence[Sees] = ("agents", "calls"),
    write: Callable[[str], None] = print,
) -> int:
    """``callflow bench dialer --oracle``: predictive and the oracle's sweep on ``reference``
    and ``no-fp`` (those containing ``only``) at each team size, then the frontier (one
    process; in JSON each row is written as soon as it is done: it is a long run)."""

    def produced() -> Iterator[Row]:
        for scenario_name in ORACLE_SCENARIOS:
            if only and only not in scenario_name:
                continue
            for n in agents:
                yield run_unit(Unit(scenario_name, CALLFLOW_POLICY, n, seeds, seed))
                for kind in sees:
                    yield from oracle_rows(scenario_name, n, kind, seeds, seed)

    rows = _collect(produced(), as_json, write)
    frontier = oracle_frontier(rows)
    if as_json:
        for f in frontier:
            write(json.dumps(f))
        return 0
    write(f"# {BOUND}: not a policy; rows oracle-SEES-ALLOWANCE (callflow/sim/dialer_oracle.py)")
    return _write_table(rows, format_frontier(frontier), write)


def _collect(produced: Iterable[Row], as_json: bool, write: Callable[[str], None]) -> list[Row]:
    """The rows, each written as JSON as soon as it is done when ``as_json``."""
    rows: list[Row] = []
    for row in produced:
        rows.append(row)
        if as_json:
            write(row.to_json())
    return rows


def _write_table(rows: Sequence[Row], tail: Sequence[str], write: Callable[[str], None]) -> int:
    """The table, a blank line, then ``tail``; the exit code."""
    for line in [*format_table(rows), "", *tail]:
        write(line)
    return 0


def run_dialer_bench(
    *,
    as_json: bool,
    seeds: int = 30,
    agents: Sequence[int] = AGENTS,
    jobs: int | None = None,
    only: str | None = None,
    seed: int = 1,
    write: Callable[[str], None] = print,
) -> int:
    """Run the benchmark and write the table (or JSON lines); return the exit code."""
    chosen = [s for s in SCENARIOS if not only or only in s]
    work = units(chosen, agents, seeds, seed)
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    rows = _collect(run_units(work, workers), as_json, write)
    if as_json:
        return 0
    return _write_table(rows, summarize_goals(rows), write)


__all__ = [
    "AGENTS",
    "POLICIES",
    "SCENARIOS",
    "Row",
    "Unit",
    "format_table",
    "oracle_frontier",
    "run_dialer_bench",
    "run_oracle_bench",
    "run_unit",
    "scenario",
    "summarize",
    "summarize_goals",
]
