"""Staffing plans from the event log: each queue's traffic measured over a range
(:meth:`callflow.kpi.figures.Counter.traffic`) and the agents it needs
(:func:`callflow.queue.staffing.plan`). Pure: ``callflow staffing`` and the API's
``/api/staffing`` read the log and pass it in."""

from __future__ import annotations

from callflow.kpi.figures import Counter, QueueTraffic
from callflow.queue.staffing import Plan, Traffic, plan

MIN_HANDLED = 1  # answered calls a measured queue needs before its AHT means anything


class NoTraffic(ValueError):
    """Nothing to plan from: no queue (or not the one named) had an answered call."""


def measured_plans(
    counter: Counter,
    start: float,
    end: float,
    queue: str | None = None,
    *,
    within: float,
    goal: float,
    short: float = 0.0,
    max_abandons: float | None = None,
) -> list[tuple[Plan, QueueTraffic]]:
    """Each queue's (or ``queue``'s) traffic over ``[start, end)`` and its plan, by queue
    name. A queue with no answered call has no handle time to plan with: it is left out,
    or, when it is the one named, :class:`NoTraffic`."""
    names = sorted(
        {v.queue for v in counter.visits.between(start, end)} if queue is None else {queue}
    )
    plans: list[tuple[Plan, QueueTraffic]] = []
    for name in names:
        seen = counter.traffic(name, start, end)
        if seen.handled < MIN_HANDLED or not seen.aht:
            if queue is not None:
                raise NoTraffic(f"queue {name!r}: no answered call in the range, no AHT")
            continue
        traffic = Traffic(seen.arrival_rate, seen.aht, seen.patience)
        found = plan(
            name, traffic, within=within, goal=goal, short=short, max_abandons=max_abandons
        )
        plans.append((found, seen))
    if not plans:
        raise NoTraffic("no queue had an answered call in the range")
    return plans


def plan_dict(found: Plan, seen: QueueTraffic | None) -> dict[str, object]:
    """A plan as JSON, with what the log showed (``source: measured``) or ``given``."""
    if seen is None:
        return {**found.to_dict(), "source": "given"}
    return {**found.to_dict(), "source": "measured", "seen": seen.to_dict()}


__all__ = ["MIN_HANDLED", "NoTraffic", "measured_plans", "plan_dict"]
