"""An event log written by hand for the KPI tests, in seconds from a fixed start."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Event:
    """A row of the event log, as the store returns it."""

    at: dt.datetime
    kind: str
    call_id: str
    data: Mapping[str, Any]


@dataclass
class Log:
    """Events in the order they are added, each ``seconds`` after :data:`T0`."""

    events: list[Event] = field(default_factory=list)

    def add(self, seconds: float, kind: str, call: str = "", **data: Any) -> Log:
        self.events.append(Event(T0 + dt.timedelta(seconds=seconds), kind, call, data))
        return self

    def ordered(self) -> list[Event]:
        """The events by time (as written: the log's order), ties kept as added."""
        return sorted(self.events, key=lambda e: e.at)

    def at(self, seconds: float) -> dt.datetime:
        return T0 + dt.timedelta(seconds=seconds)
