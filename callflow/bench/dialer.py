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
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from callflow.dialer.pacing import make_policy
from callflow.sim.dialer import DialerResult, DialerScenario, simulate_day

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
    rows: list[Row] = []
    for row in run_units(work, workers):
        rows.append(row)
        if as_json:
            write(row.to_json())
    if as_json:
        return 0
    for line in format_table(rows):
        write(line)
    write("")
    for line in summarize_goals(rows):
        write(line)
    return 0


__all__ = [
    "AGENTS",
    "POLICIES",
    "SCENARIOS",
    "Row",
    "Unit",
    "format_table",
    "run_dialer_bench",
    "run_unit",
    "scenario",
    "summarize",
    "summarize_goals",
]
