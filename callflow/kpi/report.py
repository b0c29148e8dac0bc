"""A KPI report: the figures of every queue and agent, per interval and for the whole range.

:func:`build_report` takes the events (from a little before ``start``, so that each agent's
state at ``start`` is known, to ``repeat_days`` after ``end``, so that repeat calls can be
seen) and the moment ``now``; it does no I/O. :func:`render_table` and :func:`render_csv`
word it; :meth:`Report.to_dict` is the JSON.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from callflow.kpi.figures import (
    AgentFigures,
    Counter,
    QueueFigures,
    Rules,
)
from callflow.kpi.intervals import interval_starts
from callflow.kpi.log import Facts, LogEvent, read_log

ALL = "*"
"""The queue name of the rows that count every queue."""


class _Figures(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


F = TypeVar("F", bound=_Figures)


@dataclass(frozen=True)
class Row(Generic[F]):
    """Figures over ``[start, end)``, an interval's or (``whole``) the range's."""

    start: dt.datetime
    end: dt.datetime
    figures: F
    whole: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"start": _iso(self.start), "end": _iso(self.end), **self.figures.to_dict()}


QueueRow = Row[QueueFigures]
AgentRow = Row[AgentFigures]


@dataclass(frozen=True)
class Report:
    """Per interval: a row per queue seen and one for all (``*``), or the one queue asked
    for; then the same for the whole range. Every interval has its first row, quiet or
    not (the chart's bars)."""

    start: dt.datetime
    end: dt.datetime
    interval: str
    now: dt.datetime
    rules: Rules
    queue: str | None
    queues: list[QueueRow]
    agents: list[AgentRow]

    def intervals(self, queue: str = ALL) -> list[QueueRow]:
        """One queue's rows per interval (the chart's bars), in order."""
        return [r for r in self.queues if not r.whole and r.figures.queue == queue]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": _iso(self.start),
            "end": _iso(self.end),
            "interval": self.interval,
            "now": _iso(self.now),
            "queue": self.queue,
            "rules": {
                "short_abandon": self.rules.short_abandon,
                "service_level": self.rules.service_level,
                "repeat_days": self.rules.repeat_days,
                "fcr_question": self.rules.fcr_question,
            },
            "intervals": [r.to_dict() for r in self.queues if not r.whole],
            "total": [r.to_dict() for r in self.queues if r.whole],
            "agents": [r.to_dict() for r in self.agents if not r.whole],
            "agents_total": [r.to_dict() for r in self.agents if r.whole],
        }


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def queues_seen(facts: Facts, start: float, end: float) -> list[str]:
    """The queues, by name, with a visit, a refusal or a callback request in
    ``[start, end)`` (epoch s)."""
    seen = {v.queue for v in facts.visits if start <= v.at < end}
    seen |= {r.queue for r in facts.refusals if start <= r.at < end}
    seen |= {
        c.queue
        for c in facts.callbacks.values()
        if c.requested_at and start <= c.requested_at < end
    }
    return sorted(seen - {""})


def build_report(
    events: Iterable[LogEvent],
    start: dt.datetime,
    end: dt.datetime,
    *,
    interval: str = "1h",
    now: dt.datetime,
    rules: Rules | None = None,
    queue: str | None = None,
    tz: dt.tzinfo = dt.UTC,
) -> Report:
    """The report of ``[start, end)`` from ``events`` as known at ``now``."""
    rules = rules or Rules()
    facts = read_log(events, now)
    counter = Counter(facts, rules)
    lo, hi = start.timestamp(), end.timestamp()
    names = [queue] if queue is not None else [ALL, *queues_seen(facts, lo, hi)]
    periods = [(a, b, False) for a, b in interval_starts(start, end, interval, tz)]
    periods.append((start, end, True))
    queues: list[QueueRow] = []
    agents: list[AgentRow] = []
    for a, b, whole in periods:
        # An interval is cut to the range asked for; the figures count only what is in both.
        first, last = max(a.timestamp(), lo), min(b.timestamp(), hi)
        for name in names:
            figures = counter.queue(None if name == ALL else name, first, last)
            if (
                name == names[0]
                or figures.entered
                or figures.refused
                or figures.callbacks_requested
            ):
                queues.append(QueueRow(a, b, figures, whole))
        for agent in counter.agents(first, last, queue):
            agents.append(AgentRow(a, b, agent, whole))
    return Report(start, end, interval, now, rules, queue, queues, agents)


# --- wording ---------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}s"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _when(row: QueueRow | AgentRow, interval: str, tz: dt.tzinfo) -> str:
    if row.whole:
        return "total"
    local = row.start.astimezone(tz)
    return local.strftime("%Y-%m-%d" if interval == "1d" else "%Y-%m-%d %H:%M")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell: two names on the left, figures on the right."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    return [line(header), *(line(row) for row in rows)]


QUEUE_HEADER = (
    "interval", "queue", "entered", "offered", "handled", "aband", "short", "aband%",
    "SL%", "SL1%", "SL2%", "ASA", "AHT", "longest", "overflow", "callback", "other",
)  # fmt: skip
CONTACT_HEADER = (
    "interval", "queue", "cb req", "cb done", "cb fail", "att/succ", "to callback",
    "calls", "repeat%", "surveys", "FCR%",
)  # fmt: skip
AGENT_HEADER = (
    "interval", "agent", "handled", "AHT", "talk", "hold", "wrapup", "logged in", "busy",
    "occ%", "FCR%",
)  # fmt: skip


def _quiet(f: QueueFigures) -> bool:
    return not (f.entered or f.refused or f.callbacks_requested or f.calls or f.survey_answers)


def render_table(report: Report, tz: dt.tzinfo = dt.UTC) -> str:
    """The report as text tables: queue calls, callbacks and repeat callers, agents. An
    interval with nothing in it has no row (JSON and CSV keep them), nor, with one interval
    only, the whole range."""
    rules = report.rules
    head = (
        f"KPIs {report.start.astimezone(tz):%Y-%m-%d %H:%M} to "
        f"{report.end.astimezone(tz):%Y-%m-%d %H:%M} ({report.interval} intervals"
        f"{', queue ' + report.queue if report.queue else ''}); short abandon <= "
        f"{rules.short_abandon:g}s, SL within {rules.service_level:g}s "
        f"(SL: of callers kept, SL1: of answered, SL2: answered+abandoned), "
        f"repeat within {rules.repeat_days:g} days"
    )
    calls, contacts = [], []
    # With a single interval, the whole range's rows would say it again.
    single = len({r.start for r in report.queues if not r.whole}) == 1
    for row in report.queues:
        f = row.figures
        if (row.whole and single) or (not row.whole and _quiet(f)):
            continue
        when = _when(row, report.interval, tz)
        other = f.timeouts + f.empties + f.exit_keys + f.shutdowns + f.lost + f.waiting
        calls.append(
            [
                when, f.queue, str(f.entered), str(f.offered), str(f.handled), str(f.abandoned),
                str(f.short_abandons), _pct(f.abandon_rate), _pct(f.sl), _pct(f.sl1),
                _pct(f.sl2), _secs(f.asa), _secs(f.aht), _secs(f.longest_wait),
                str(f.overflowed), str(f.callbacks), str(other),
            ]
        )  # fmt: skip
        contacts.append(
            [
                when, f.queue, str(f.callbacks_requested), str(f.callbacks_completed),
                str(f.callbacks_failed + f.callbacks_expired + f.callbacks_cancelled),
                _num(f.attempts_per_success), _secs(f.time_to_callback), str(f.calls),
                _pct(f.repeat_rate), str(f.survey_answers), _pct(f.fcr),
            ]
        )  # fmt: skip
    agents = [
        [
            _when(row, report.interval, tz), a.agent, str(a.handled), _secs(a.aht),
            _secs(a.talk), _secs(a.hold), _secs(a.wrapup), _secs(a.logged_in), _secs(a.busy),
            _pct(a.occupancy), _pct(a.fcr),
        ]
        for row in report.agents
        if not (row.whole and single)
        for a in [row.figures]
    ]  # fmt: skip
    parts = [head, "", *_table(QUEUE_HEADER, calls), "", *_table(CONTACT_HEADER, contacts)]
    if agents:
        parts += ["", *_table(AGENT_HEADER, agents)]
    else:
        parts += ["", "no agent activity in this range"]
    return "\n".join(parts) + "\n"


def render_csv(report: Report) -> str:
    """The queue rows as CSV, one row per interval and queue (``total`` rows last), with
    every figure as a column."""
    out = io.StringIO()
    rows = [r.to_dict() | {"total": r.whole} for r in report.queues]
    writer = csv.DictWriter(out, fieldnames=list(rows[0]) if rows else ["start"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
