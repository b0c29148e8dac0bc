"""CLI: ``callflow staffing``, how many agents a queue needs for its service-level goal.

The traffic is measured from the event log over a date range, per queue (``--from`` and
``--to``, as ``callflow report`` reads them), or given (``--calls-per-hour``, ``--aht`` and
``--patience``). The answer is Erlang A, which counts the callers who hang up, beside
Erlang C, which does not and over-staffs (:mod:`callflow.queue.staffing`). Exit codes: 0
done, 2 unusable settings, store, dates or figures.

From the log, per queue:

- arrivals: the callers who joined it in the range, over the range's length;
- handle time: the report's AHT (talk, hold and wrap-up of its answered callers);
- patience: the time everyone waited in it (answered, abandoned or gone otherwise) over the
  number who hung up while waiting (Ibrahim & Whitt's estimate of the abandonment rate,
  inverted); with no hang-up seen, the callers count as patient (Erlang C).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from collections.abc import Sequence

from callflow.kpi import staffing
from callflow.kpi.cli import (
    AGENT_LOOKBACK,
    FAILED,
    ReportError,
    add_store_options,
    moment,
    read_events,
    store_of,
    time_zone,
)
from callflow.kpi.figures import Counter, QueueTraffic, Rules
from callflow.kpi.log import read_log
from callflow.queue.staffing import Plan, Traffic, plan


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``staffing``."""
    parser = subparsers.add_parser(
        "staffing",
        help="agents needed for a service-level goal: Erlang A (callers hang up) and C",
        description="How many agents a queue needs so that --goal of its callers are "
        "answered within --service-level seconds, from the traffic measured in the event "
        "log (--from/--to, per queue) or given (--calls-per-hour, --aht, --patience). "
        "Erlang A counts the callers who hang up while waiting; Erlang C, shown beside it, "
        "does not and over-staffs. Model: 'pydoc callflow.queue.staffing'.",
    )
    measured = parser.add_argument_group("measured from the event log")
    measured.add_argument("--from", dest="start", metavar="DATE", help="first day or moment")
    measured.add_argument("--to", dest="end", metavar="DATE", help="last day, included")
    measured.add_argument("--queue", metavar="Q", help="one queue only (default: each)")
    add_store_options(measured)
    given = parser.add_argument_group("given")
    given.add_argument("--calls-per-hour", type=float, metavar="N", help="arrivals per hour")
    given.add_argument("--aht", type=float, metavar="SECONDS", help="mean handle time")
    given.add_argument(
        "--patience",
        type=float,
        metavar="SECONDS",
        help="mean time a caller waits before hanging up (default: never, Erlang C)",
    )
    goal = parser.add_argument_group("the goal")
    goal.add_argument("--goal", type=float, default=0.8, metavar="SHARE", help="default 0.8")
    goal.add_argument(
        "--service-level",
        type=float,
        default=Rules.service_level,
        metavar="SECONDS",
        help=f"answered within this (default {Rules.service_level:g})",
    )
    goal.add_argument(
        "--short-abandon",
        type=float,
        default=Rules.short_abandon,
        metavar="SECONDS",
        help="hang-ups this short are left out of the service level, as in 'callflow "
        f"report' (default {Rules.short_abandon:g})",
    )
    goal.add_argument(
        "--max-abandon", type=float, metavar="SHARE", help="also keep abandons at most this"
    )
    parser.add_argument("--json", action="store_true", help="print the plans as JSON")
    parser.add_argument("--now", metavar="MOMENT", help=argparse.SUPPRESS)  # tests: the clock
    parser.set_defaults(func=run_staffing)


def run_staffing(args: argparse.Namespace) -> int:
    """``callflow staffing``: 0 done, 2 when there is nothing to plan from."""
    try:
        plans = _plans(args)
    except (ReportError, ValueError) as exc:
        print(f"callflow staffing: {exc}", file=sys.stderr)
        return FAILED
    if args.json:
        print(json.dumps([staffing.plan_dict(p, seen) for p, seen in plans], indent=2))
    else:
        sys.stdout.write(render(plans, args))
    return 0


def _plans(args: argparse.Namespace) -> Sequence[tuple[Plan, QueueTraffic | None]]:
    given = (args.calls_per_hour, args.aht)
    if any(v is not None for v in given) or args.patience is not None:
        if args.start or args.end:
            raise ReportError("give the traffic (--calls-per-hour, --aht) or a range, not both")
        if None in given:
            raise ReportError("--calls-per-hour and --aht go together")
        traffic = Traffic(args.calls_per_hour / 3600, args.aht, args.patience)
        return [(_plan(args.queue or "given", traffic, args), None)]
    if not (args.start and args.end):
        raise ReportError("give a range (--from, --to) or the traffic (--calls-per-hour, --aht)")
    return measured_plans(args)


def measured_plans(args: argparse.Namespace) -> Sequence[tuple[Plan, QueueTraffic | None]]:
    """A plan for each queue (or ``--queue``) with answered calls in the range."""
    tz = time_zone(args.tz)
    start, end = moment(args.start, tz, False), moment(args.end, tz, True)
    if end <= start:
        raise ReportError(f"--to ({args.end}) is not after --from ({args.start})")
    now = moment(args.now, tz, False) if args.now else dt.datetime.now(dt.UTC)
    end = min(end, now)
    if end <= start:
        raise ReportError(f"the range starts after now ({now.isoformat(timespec='seconds')})")
    path = args.store or store_of(args.settings)
    events = read_events(path, start - AGENT_LOOKBACK, end)
    rules = Rules(short_abandon=args.short_abandon, service_level=args.service_level)
    return staffing.measured_plans(
        Counter(read_log(events, now), rules),
        start.timestamp(),
        end.timestamp(),
        args.queue,
        within=args.service_level,
        goal=args.goal,
        short=args.short_abandon,
        max_abandons=args.max_abandon,
    )


def _plan(name: str, traffic: Traffic, args: argparse.Namespace) -> Plan:
    return plan(
        name,
        traffic,
        within=args.service_level,
        goal=args.goal,
        short=args.short_abandon,
        max_abandons=args.max_abandon,
    )


def render(plans: Sequence[tuple[Plan, QueueTraffic | None]], args: argparse.Namespace) -> str:
    """The plans as text: the traffic, the answer, and a table around it (Erlang A, with
    Erlang C's service level and ASA beside it)."""
    goal = f"{args.goal:.0%} answered within {args.service_level:g} s"
    if args.max_abandon is not None:
        goal += f", at most {args.max_abandon:.1%} abandons"
    out = []
    for p, seen in plans:
        t = p.traffic
        patience = (
            "callers never hang up (Erlang C)"
            if t.patience is None
            else f"callers' mean patience {t.patience:.0f} s"
        )
        what = "given traffic" if seen is None else f"queue {p.queue}"
        out.append(f"{what}: goal {goal}")
        out.append(
            f"  {t.arrival_rate * 3600:.1f} calls/h, AHT {t.handle_time:.0f} s, "
            f"{t.load:.2f} erlangs, {patience}"
        )
        if seen is not None:
            out.append(
                f"  seen over {seen.seconds / 3600:.3g} h: {seen.entered} entered, "
                f"{seen.handled} answered, {seen.abandoned} hung up while waiting"
            )
        c = "more than any team" if p.needed_c is None else str(p.needed_c)
        out.append(f"  agents needed: {p.needed} (Erlang A); Erlang C would say {c}")
        out.append("")
        out.append(
            f"  {'agents':>6} {'waits':>7} {'abandon':>8} {'SL':>7} {'ASA':>8} {'occupancy':>10}"
            f"   {'SL (C)':>7} {'ASA (C)':>8}"
        )
        previous = None
        for row, c_row in zip(p.rows, p.rows_c, strict=True):
            if previous is not None and row.agents != previous + 1:
                out.append(f"  {'...':>6}")  # the Erlang A and C answers far apart
            previous = row.agents
            mark = "  <- needed" if row.agents == p.needed else ""
            out.append(
                f"  {row.agents:>6} {row.waits:>7.1%} {row.abandons:>8.1%} "
                f"{row.service_level:>7.1%} {_seconds(row.asa):>8} {row.occupancy:>10.1%}"
                f"   {c_row.service_level:>7.1%} {_seconds(c_row.asa):>8}{mark}"
            )
        out.append("")
    return "\n".join(out)


def _seconds(value: float) -> str:
    return "-" if math.isinf(value) else f"{value:.1f} s"
