"""KPIs for the API and the wallboard: the event log read off the loop, then
:func:`callflow.kpi.build_report` (the same code and counting rules as ``callflow report``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from callflow.kpi import Report, Rules, build_report
from callflow.kpi.intervals import interval_start
from callflow.kpi.log import READ_KINDS
from callflow.kpi.report import ALL
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


def today(store: EventSource, now: dt.datetime, tz: dt.tzinfo) -> dict[str, dict[str, Any]]:
    """Each queue's figures since midnight on ``tz``'s clock (``*``: every queue), by name:
    offered, handled, abandoned, SL and abandon rate (the report's whole-range rows)."""
    start = interval_start(now, "1d", tz)
    end = start + dt.timedelta(days=1)
    # No lookback: a visit counts on the day its caller joined, and agents' states do not
    # enter these figures, so nothing before midnight is needed.
    found = report(store, start, end, now=now, interval="1d", tz=tz, lookback=dt.timedelta(0))
    figures: dict[str, dict[str, Any]] = {}
    for row in found.queues:
        if row.whole:
            f = row.figures
            figures[f.queue] = {
                "offered": f.offered,
                "handled": f.handled,
                "abandoned": f.abandoned,
                "short_abandons": f.short_abandons,
                "sl": f.sl,
                "abandon_rate": f.abandon_rate,
                "asa": f.asa,
            }
    figures.setdefault(ALL, {})
    return figures
