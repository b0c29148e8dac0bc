"""The ``hours`` node: branch on whether the contact center is open, closed or on holiday."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

from callflow.flow import model as m
from callflow.flow.labels import Look
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk
from callflow.flow.schedule import OpenState, is_open
from callflow.flow.spec import Field, Kind


@dataclass(frozen=True)
class HoursNode(m.Node):
    """Branch on whether the contact center is open, closed or on holiday right now."""

    TYPE: ClassVar[str] = "hours"

    schedule: m.Schedule
    open: str
    closed: str
    holiday: str | None = None


class HoursType(NodeType[HoursNode]):
    node = HoursNode
    fields = (
        Field("timezone", Kind.TIMEZONE, "IANA timezone, e.g. Europe/London (default: settings)."),
        Field(
            "weekly",
            Kind.WEEKLY,
            "Opening hours per day: mon-fri: '08:00-18:00'; a range that ends before it"
            " starts ('22:00-06:00') runs overnight, from the day named into the next.",
            True,
        ),
        Field("holidays", Kind.DATES, "Dates or date ranges on which the holiday branch is taken."),
        Field("closures", Kind.DATES, "Other dates or date ranges on which it is closed."),
        Field("open", Kind.NODE, "Where to go while open.", required=True),
        Field("closed", Kind.NODE, "Where to go while closed.", required=True),
        Field("holiday", Kind.NODE, "Where to go on a holiday (default: closed)."),
    )
    look = Look("hexagon", "#d9d2e9", "#674ea7", bold=True)
    mermaid = ("{", "}")
    passes = True
    unhappy = frozenset({"closed", "holiday"})

    def build(self, b: Builder, r: Reading) -> HoursNode:
        v, s = r.values, b.settings
        schedule = m.Schedule(
            timezone=v.text("timezone", s.timezone) or s.timezone,
            weekly=cast("tuple[m.WeeklyHours, ...]", v.items("weekly")),
            holidays=cast("tuple[m.DateSpan, ...]", v.items("holidays")),
            closures=cast("tuple[m.DateSpan, ...]", v.items("closures")),
        )
        return HoursNode(
            r.name, r.at, schedule, v.name("open"), v.name("closed"), v.text("holiday")
        )

    def exits(self, node: HoursNode) -> list[tuple[str, str]]:
        out = [("open", node.open), ("closed", node.closed)]
        if node.holiday is not None:
            out.append(("holiday", node.holiday))
        return out

    def detail(self, node: HoursNode) -> str:
        return f"{self.name} · {node.schedule.timezone}"

    def enter(self, node: HoursNode, walk: Walk) -> Outcome:
        state, reason = is_open(node.schedule, walk.now())
        walk.step(node, None, reason)
        if state is OpenState.OPEN:
            return node.open
        if state is OpenState.HOLIDAY and node.holiday is not None:
            return node.holiday
        return node.closed


KIND = HoursType()
