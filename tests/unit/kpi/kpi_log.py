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


DAY = 86_400


def day(log: Log) -> Log:
    """The hand-worked day of test_kpi_figures (its docstring), added to ``log``."""
    numbers = {
        "c1": ("+111", 0), "c2": ("+222", 60), "c3": ("+111", 100), "c4": ("+333", 200),
        "c5": ("+444", 300), "c6": ("+555", 400), "c7": ("+666", 500), "c8": ("+777", 600),
        "c9": ("+888", 700), "c10": ("", 800), "c11": ("+999", 900), "c12": ("+111", 3000),
    }  # fmt: skip
    for call, (number, at) in numbers.items():
        log.add(at, "call.start", call, caller=number, dialled="100")
    q = "support"
    log.add(-600, "agent.state", agent="a1", state="available")
    log.add(0, "agent.state", agent="a2", state="available")
    log.add(0, "queue.enter", "c1", queue=q, position=1)
    log.add(10, "queue.connect", "c1", queue=q, agent="a1", caller="+111", waited=10.0)
    log.add(10, "agent.state", agent="a1", state="on_call")
    log.add(130, "queue.complete", "c1", queue=q, agent="a1", talk=120.0)
    log.add(130, "agent.state", agent="a1", state="wrapup")
    log.add(160, "agent.state", agent="a1", state="available")
    log.add(60, "queue.enter", "c2", queue=q, position=1)
    log.add(90, "queue.connect", "c2", queue=q, agent="a2", caller="+222", waited=30.0)
    log.add(90, "agent.state", agent="a2", state="on_call")
    log.add(150, "queue.complete", "c2", queue=q, agent="a2", talk=60.0, hold=20.0)
    log.add(150, "agent.state", agent="a2", state="wrapup")
    log.add(170, "agent.state", agent="a2", state="available")
    log.add(100, "queue.enter", "c3", queue=q)
    log.add(103, "queue.abandon", "c3", queue=q, waited=3.0)
    log.add(200, "queue.enter", "c4", queue=q)
    log.add(215, "queue.abandon", "c4", queue=q, waited=15.0)
    log.add(300, "queue.enter", "c5", queue=q)
    log.add(340, "queue.abandon", "c5", queue=q, waited=40.0)
    log.add(400, "queue.enter", "c6", queue=q)
    log.add(460, "queue.exit", "c6", queue=q, reason="timeout", waited=60.0)
    log.add(460, "queue.enter", "c6", queue="sales")
    log.add(465, "queue.connect", "c6", queue="sales", agent="a1", caller="+555", waited=5.0)
    log.add(465, "agent.state", agent="a1", state="on_call")
    log.add(525, "queue.complete", "c6", queue="sales", agent="a1", talk=60.0)
    log.add(525, "agent.state", agent="a1", state="wrapup")
    log.add(535, "agent.state", agent="a1", state="available")
    log.add(500, "queue.enter", "c7", queue=q)
    log.add(520, "queue.exit", "c7", queue=q, reason="exit_key", key="0", waited=20.0)
    log.add(600, "queue.enter", "c8", queue=q)
    log.add(610, "queue.exit", "c8", queue=q, reason="callback", waited=10.0)
    log.add(700, "queue.enter", "c9", queue=q)
    log.add(705, "queue.exit", "c9", queue=q, reason="shutdown", waited=5.0)
    log.add(800, "queue.enter", "c10", queue=q)
    log.add(810, "queue.exit", "c10", queue=q, reason="lost")
    log.add(900, "queue.exit", "c11", queue=q, reason="full", waited=0.0)
    log.add(1000, "agent.state", agent="a2", state="paused")
    log.add(1200, "agent.state", agent="a2", state="logged_out")
    log.add(1800, "agent.state", agent="a1", state="logged_out")
    log.add(3000, "queue.enter", "c12", queue=q)
    # callbacks: cb1 from c8, answered on its second attempt; cb2 from the API, failed;
    # cb3 pending
    log.add(610, "callback.requested", "c8", callback="cb1", queue=q, number="+777")
    log.add(620, "callback.requested", "", callback="cb2", queue=q, number="+4")
    log.add(630, "callback.requested", "", callback="cb3", queue=q, number="+5")
    log.add(700, "callback.attempt", "", callback="cb1", attempt=1, result="no_answer")
    log.add(900, "callback.attempt", "", callback="cb2", attempt=1, result="busy")
    log.add(1000, "callback.attempt", "", callback="cb1", attempt=2, result="answered")
    log.add(1010, "callback.connected", "", callback="cb1", agent="a2")
    log.add(1200, "callback.completed", "", callback="cb1")
    log.add(1500, "callback.failed", "", callback="cb2", reason="attempts")
    # surveys: c1 resolved, c2 not, c6 (sales, a1) resolved; a score answer is not FCR
    log.add(140, "survey.answer", "c1", survey="post", question="resolved", value=1)
    log.add(141, "survey.answer", "c1", survey="post", question="score", value=5)
    log.add(160, "survey.answer", "c2", survey="post", question="resolved", value="no")
    log.add(161, "survey.answer", "c2", survey="post", question="resolved", value="9")
    log.add(530, "survey.answer", "c6", survey="post", question="resolved", value="yes")
    # the +333 caller again, 8 days later: not a repeat within 7 days; after now, unseen
    log.add(8 * DAY, "call.start", "c13", caller="+333")
    return log
