"""KPIs for the API and the wallboard: the event log read off the loop, then
:func:`callflow.kpi.build_report` (the same code and counting rules as ``callflow report``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Any, Protocol

from callflow.kpi import Report, Rules, build_report
from callflow.kpi.figures import Counter, QueueFigures, abandon_rate, service_level
from callflow.kpi.intervals import interval_start
from callflow.kpi.log import CALLBACK_KINDS, QUEUE_KINDS, READ_KINDS, LogReader, read_log
from callflow.kpi.report import ALL, queues_seen
from callflow.kpi.staffing import measured_plans, plan_dict
from callflow.store import EventRecord

LOOKBACK = dt.timedelta(days=1)
"""Events read before the range: visits and agent states in progress when it opens."""


class EventSource(Protocol):
    def events(
        self, *, since: dt.datetime | None = None, kinds: Sequence[str] | None = None
    ) -> list[EventRecord]: ...


def report(
    store: EventSource,
    start: dt.datetime,
    end: dt.datetime,
    *,
    now: dt.datetime,
    interval: str = "1h",
    rules: Rules | None = None,
    queue: str | None = None,
    tz: dt.tzinfo = dt.UTC,
    lookback: dt.timedelta = LOOKBACK,
) -> Report:
    """The KPI report of ``[start, end)`` as known at ``now`` (reads the store and sums it
    all up: call it off the event loop, in a worker thread)."""
    events = [e for e in store.events(since=start - lookback, kinds=READ_KINDS) if e.at < end]
    return build_report(
        events, start, end, interval=interval, now=now, rules=rules, queue=queue, tz=tz
    )


def staffing(
    store: EventSource,
    start: dt.datetime,
    end: dt.datetime,
    *,
    now: dt.datetime,
    rules: Rules,
    queue: str | None,
    goal: float,
    max_abandons: float | None,
    lookback: dt.timedelta = LOOKBACK,
) -> list[dict[str, object]]:
    """Each queue's staffing plan from its traffic in ``[start, end)`` as known at ``now``
    (as ``callflow staffing --json``; reads the store: call it off the event loop). Raises
    :class:`~callflow.kpi.staffing.NoTraffic` when there is nothing to plan from."""
    end = min(end, now)
    events = [e for e in store.events(since=start - lookback, kinds=READ_KINDS) if e.at < end]
    plans = measured_plans(
        Counter(read_log(events, now), rules),
        start.timestamp(),
        end.timestamp(),
        queue,
        within=rules.service_level,
        goal=goal,
        short=rules.short_abandon,
        max_abandons=max_abandons,
    )
    return [plan_dict(found, seen) for found, seen in plans]


TODAY_KINDS = (*QUEUE_KINDS, *CALLBACK_KINDS, "call.end")
"""The kinds today's figures count (of :data:`READ_KINDS`): agents' states, survey answers
and the calls' starts (callers' numbers, for repeat calls) enter no figure the board shows,
and are not held for the day."""

OVERLAP = dt.timedelta(seconds=30)
"""How far back of the newest event already read each refresh reads again, keeping the
ids it has read: an event written a little late, with an earlier ``at``, is still read,
and read once."""


@dataclass(frozen=True, slots=True)
class _Sums:
    """One queue's counts over part of the day: what its figures are made of, so that two
    parts (the visits settled, those in progress) add up to the figures of the whole by the
    same formulas: the counts exactly, ASA's sum of waits to its last bits (a float added
    up in parts)."""

    entered: int = 0
    offered: int = 0
    handled: int = 0
    abandoned: int = 0
    short_abandons: int = 0
    answered_within: int = 0
    refused: int = 0
    callbacks_requested: int = 0
    waited: float = 0.0  # the answered callers' waits, added up (ASA's numerator)

    @classmethod
    def of(cls, f: QueueFigures) -> _Sums:
        return cls(
            f.entered,
            f.offered,
            f.handled,
            f.abandoned,
            f.short_abandons,
            f.answered_within,
            f.refused,
            f.callbacks_requested,
            f.asa * f.handled if f.asa is not None else 0.0,
        )

    def __add__(self, other: _Sums) -> _Sums:
        return _Sums(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def shown(self) -> bool:
        return bool(self.entered or self.refused or self.callbacks_requested)

    def figures(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "handled": self.handled,
            "abandoned": self.abandoned,
            "short_abandons": self.short_abandons,
            "sl": service_level(self.answered_within, self.offered, self.short_abandons),
            "abandon_rate": abandon_rate(self.offered, self.short_abandons, self.handled),
            "asa": self.waited / self.handled if self.handled else None,
        }


class Today:
    """Each queue's figures since midnight on ``tz``'s clock, for the wallboard: offered,
    handled, abandoned, SL and abandon rate, by queue name (``*``: every queue).

    The same facts and formulas as ``callflow report`` (:class:`callflow.kpi.log.LogReader`,
    :class:`callflow.kpi.figures.Counter`), but each :meth:`figures` reads only the events
    written since the last one, and what can no longer change (the visits of the calls that
    have ended, refusals, callbacks that are over) is added up into each queue's counts and
    let go (:meth:`LogReader.settle`). At the end of a busy day it neither reads the day's
    log again nor holds it, nor a visit per call: only the calls in progress. Not
    thread-safe: one refresh at a time."""

    def __init__(self, tz: dt.tzinfo, rules: Rules | None = None) -> None:
        self.tz = tz
        self.rules = rules or Rules()
        self.events_read = 0  # since midnight (tests, the debug log)
        self._day: dt.datetime | None = None
        self._reader = LogReader()
        self._settled: dict[str, _Sums] = {}  # by queue name (ALL: every queue)
        self._newest: dt.datetime | None = None  # the latest ``at`` read
        self._recent: dict[int, dt.datetime] = {}  # ids read within OVERLAP of _newest

    @property
    def held(self) -> tuple[int, int]:
        """The visits and the callbacks held now: those of the calls in progress, and the
        callbacks not yet over (tests, the debug log)."""
        return self._reader.held

    def figures(self, store: EventSource, now: dt.datetime) -> dict[str, dict[str, Any]]:
        """Today's figures as of ``now``, after reading what was written since the last
        call (blocking: call it off the event loop, in a worker thread)."""
        day = interval_start(now, "1d", self.tz)
        if day != self._day:  # midnight (or the first call): a new day, read from its start
            self._day, self._reader, self._newest, self._recent = day, LogReader(), None, {}
            self._settled = {}
            self.events_read = 0
        end = day + dt.timedelta(days=1)
        since = day if self._newest is None else max(day, self._newest - OVERLAP)
        for event in store.events(since=since, kinds=TODAY_KINDS):
            # Later than now (a clock the tests set): read by a later refresh.
            if event.id in self._recent or event.at > now or event.at >= end:
                continue
            self._reader.read(event)
            self.events_read += 1
            self._recent[event.id] = event.at
            if self._newest is None or event.at > self._newest:
                self._newest = event.at
        if self._newest is not None:
            keep = self._newest - OVERLAP
            self._recent = {i: at for i, at in self._recent.items() if at >= keep}
        lo, hi = day.timestamp(), end.timestamp()
        for name, sums in _sums(Counter(self._reader.settle(), self.rules), lo, hi).items():
            self._settled[name] = self._settled.get(name, _Sums()) + sums
        going = _sums(Counter(self._reader.facts(now), self.rules), lo, hi)
        figures: dict[str, dict[str, Any]] = {}
        for name in [ALL, *sorted((self._settled.keys() | going.keys()) - {ALL})]:
            total = self._settled.get(name, _Sums()) + going.get(name, _Sums())
            if name == ALL or total.shown:
                figures[name] = total.figures()
        return figures


def _sums(counter: Counter, lo: float, hi: float) -> dict[str, _Sums]:
    """Each queue's counts (and every queue's, under ALL) in the facts of ``counter``."""
    return {
        name: _Sums.of(counter.queue(None if name == ALL else name, lo, hi))
        for name in [ALL, *queues_seen(counter.facts, lo, hi)]
    }
