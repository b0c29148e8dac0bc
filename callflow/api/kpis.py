"""KPIs for the API and the wallboard: the event log read off the loop, then
:func:`callflow.kpi.build_report` (the same code and counting rules as ``callflow report``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from callflow.kpi import Report, Rules, build_report
from callflow.kpi.figures import Counter
from callflow.kpi.intervals import interval_start
from callflow.kpi.log import READ_KINDS, LogReader
from callflow.kpi.report import ALL, queues_seen
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


TODAY_KINDS = ("queue.", "callback.", "call.end")
"""The kinds today's figures count (of :data:`READ_KINDS`): agents' states, survey answers
and the calls' starts (callers' numbers, for repeat calls) enter no figure the board shows,
and are not held for the day."""

OVERLAP = dt.timedelta(seconds=30)
"""How far back of the newest event already read each refresh reads again, keeping the
ids it has read: an event written a little late, with an earlier ``at``, is still read,
and read once."""


class Today:
    """Each queue's figures since midnight on ``tz``'s clock, for the wallboard: offered,
    handled, abandoned, SL and abandon rate, by queue name (``*``: every queue).

    The same facts and formulas as ``callflow report`` (:class:`callflow.kpi.log.LogReader`,
    :class:`callflow.kpi.figures.Counter`), but each :meth:`figures` reads only the events
    written since the last one: at the end of a busy day it neither reads the day's log
    again nor holds it, only the day's visits. Not thread-safe: one refresh at a time."""

    def __init__(self, tz: dt.tzinfo, rules: Rules | None = None) -> None:
        self.tz = tz
        self.rules = rules or Rules()
        self.events_read = 0  # since midnight (tests, the debug log)
        self._day: dt.datetime | None = None
        self._reader = LogReader()
        self._newest: dt.datetime | None = None  # the latest ``at`` read
        self._recent: dict[int, dt.datetime] = {}  # ids read within OVERLAP of _newest

    def figures(self, store: EventSource, now: dt.datetime) -> dict[str, dict[str, Any]]:
        """Today's figures as of ``now``, after reading what was written since the last
        call (blocking: call it off the event loop, in a worker thread)."""
        day = interval_start(now, "1d", self.tz)
        if day != self._day:  # midnight (or the first call): a new day, read from its start
            self._day, self._reader, self._newest, self._recent = day, LogReader(), None, {}
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
        return _whole_day(Counter(self._reader.facts(now), self.rules), day, end)


def _whole_day(counter: Counter, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    lo, hi = start.timestamp(), end.timestamp()
    figures: dict[str, dict[str, Any]] = {}
    for name in [ALL, *queues_seen(counter.facts, lo, hi)]:
        f = counter.queue(None if name == ALL else name, lo, hi)
        if name != ALL and not (f.entered or f.refused or f.callbacks_requested):
            continue
        figures[name] = {
            "offered": f.offered,
            "handled": f.handled,
            "abandoned": f.abandoned,
            "short_abandons": f.short_abandons,
            "sl": f.sl,
            "abandon_rate": f.abandon_rate,
            "asa": f.asa,
        }
    return figures
