"""What the event log says happened, as plain facts: queue visits, agent states, callbacks,
calls and survey answers (the KPI formulas in :mod:`callflow.kpi.figures` count these).

Reads any rows with ``at``, ``kind``, ``call_id`` and ``data`` (the store's
``EventRecord``), in log order, and never does I/O; ``now`` is passed in, so a caller still
waiting, an agent still logged in, is seen as of that moment.

Events read (written by :mod:`callflow.queue.caller`, :mod:`callflow.queue.live` and
:mod:`callflow.ivr.runner`; ``call_id`` is the caller's call):

- ``call.start`` ``{caller, dialled, flow}``; ``call.end`` ``{outcome}``.
- ``queue.enter`` ``{queue, position, priority, last_agent[, resumed, joined_at]}``: a
  ``resumed`` enter is the same visit taken back after a restart of callflow, not a new one.
- ``queue.connect`` ``{queue, agent, caller, waited, ring_time}``: answered.
- ``queue.complete`` ``{queue, agent, talk, hung_up_by[, hold]}``: the conversation ended
  (``hold``, seconds on hold, counts when a writer gives it; nothing writes it yet).
- ``queue.abandon`` ``{queue, waited, position, original_position}``: the caller hung up.
- ``queue.exit`` ``{queue, reason, waited[, key, position]}``: left any other way. With no
  ``queue.enter`` before it, ``waited`` 0 and reason ``full``, ``empty`` or ``refused``,
  the caller was refused at the door: never in the queue. Any other event of a visit whose
  ``queue.enter`` is not among the events read is passed over (it belongs to an earlier
  interval).
- ``agent.state`` ``{agent, state, reason}``: ``logged_out``, ``available``, ``ringing``,
  ``on_call``, ``wrapup``, ``paused``; each lasts until the agent's next one (or ``now``).
- Callbacks (written by the callback engine; absent is fine): ``callback.requested``,
  ``callback.attempt``, ``callback.connected``, ``callback.completed``, ``callback.failed``,
  ``callback.expired``, ``callback.cancelled``. Each names its callback by
  ``data["callback"]`` (or, without it, by the event's ``call_id``);
  ``callback.requested`` carries ``{callback, queue, number}`` and the ``call_id`` of the call
  it was asked from ('' from the API); ``callback.attempt`` ``{callback, attempt, result}``
  is one dialing of the customer; ``callback.connected`` ``{callback, agent}`` is the
  customer and an agent bridged. A ``queue.exit`` with reason ``callback``, or an exit by
  exit key, timeout or emptiness of a call that asks for a callback just before or after
  it, is a caller who left to be called back.
- ``survey.answer`` ``{survey, question, value[, agent, queue]}``, ``call_id`` the surveyed
  call: one answer to one question of a post-call survey; ``agent`` and ``queue`` default to
  those of the call's last ``queue.connect``.

How a queue visit ends (:attr:`Visit.outcome`): ``answered``, ``abandoned``, ``overflowed``
(left without an answer, by timeout, an empty queue or an exit key, and the same call went
to another queue next, even if refused at its door), ``callback``, ``timeout``, ``empty``,
``exit_key``, ``shutdown`` (callflow let the caller go while stopping), ``lost`` (Asterisk
or callflow lost the call, or Asterisk would not hold it: exit reason ``unavailable``; also a
visit whose call ended with no exit of its own), or
``waiting`` (still in the queue at ``now``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol


class LogEvent(Protocol):
    """One row of the event log, as the store returns it."""

    @property
    def at(self) -> dt.datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def call_id(self) -> str: ...
    @property
    def data(self) -> Mapping[str, Any]: ...


AGENT_BUSY = frozenset({"on_call", "wrapup"})
"""States that are work on a call (occupancy's numerator)."""

EXIT_OUTCOMES: Mapping[str, str] = MappingProxyType(
    {
        "callback": "callback",
        "timeout": "timeout",
        "empty": "empty",
        "exit_key": "exit_key",
        "lost": "lost",
        "unavailable": "lost",  # Asterisk would not hold the caller: lost by the system
    }
)
"""``queue.exit`` reasons that are outcomes of their own, and those outcomes; the rest are
``shutdown``."""

REFUSED = frozenset({"full", "empty", "refused"})
"""``queue.exit`` reasons of a caller turned away at the door (with ``waited`` 0)."""

LEFT_FOR_CALLBACK = frozenset({"callback", "exit_key", "timeout", "empty"})
"""Exits that, with a callback asked for from the call, are a caller leaving for it."""

RESOLVED_YES = frozenset({"1", "yes", "y", "true"})
RESOLVED_NO = frozenset({"2", "no", "n", "false"})


QUEUE_KINDS = ("queue.enter", "queue.exit", "queue.connect", "queue.abandon", "queue.complete")
"""The queue events a visit is read from (the queue's others tell no KPI)."""

CALLBACK_KINDS = tuple(
    f"callback.{event}"
    for event in (
        "requested",
        "attempt",
        "connected",
        "completed",
        "failed",
        "expired",
        "cancelled",
    )
)
"""The callback events a callback's life is read from (its dialing, reserving and such tell
no KPI; a refused request is no callback)."""

READ_KINDS = (
    *QUEUE_KINDS,
    *CALLBACK_KINDS,
    "agent.state",
    "call.start",
    "call.end",
    "survey.answer",
)
"""The event kinds the KPIs read: the rest of the log (playbacks, flow steps: most of it) is
not read, nor held in memory. Each named whole, not by its prefix: the store finds a kind's
events from a moment on in its (kind, at) index, where a prefix's would be every event of
the prefix ever kept."""


@dataclass
class Visit:
    """One caller's stay in one queue (``at``, ``answered_at``, ``ended_at``: epoch s)."""

    call_id: str
    queue: str
    at: float  # when they joined
    caller: str = ""
    outcome: str = "waiting"
    reason: str = ""  # the queue.exit reason as written
    waited: float | None = None  # seconds in line until answered or gone
    agent: str = ""
    answered_at: float | None = None
    talk: float | None = None  # None: answered, conversation not over (at now)
    hold: float = 0.0
    ended_at: float | None = None  # the conversation's end (queue.complete)

    @property
    def over(self) -> bool:
        return self.outcome != "waiting"


@dataclass(frozen=True)
class Refusal:
    """A caller refused at a queue's door (full, empty): never in line."""

    call_id: str
    queue: str
    at: float
    reason: str


@dataclass(frozen=True)
class AgentSpan:
    """An agent in one state from ``start`` to ``end`` (epoch s)."""

    agent: str
    state: str
    start: float
    end: float


@dataclass
class Callback:
    """One callback's life as far as the log tells it."""

    id: str
    requested_at: float | None = None
    queue: str = ""
    call_id: str = ""  # the call it was asked from
    attempts: int = 0
    connected_at: float | None = None
    agent: str = ""
    end: str = ""  # completed | failed | expired | cancelled ('' while pending)
    ended_at: float | None = None


@dataclass(frozen=True)
class CallStart:
    """A call came in, from this number ('' when anonymous)."""

    call_id: str
    at: float
    caller: str


@dataclass(frozen=True)
class SurveyAnswer:
    """One answer of a post-call survey."""

    call_id: str
    at: float
    survey: str
    question: str
    value: str  # as written, lower case
    agent: str
    queue: str

    @property
    def resolved(self) -> bool | None:
        """A yes/no answer read as resolved (True), not (False), or neither (None)."""
        if self.value in RESOLVED_YES:
            return True
        if self.value in RESOLVED_NO:
            return False
        return None


@dataclass
class Facts:
    """Everything the KPIs count, read from the log as of ``now``."""

    now: float
    visits: list[Visit] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    spans: list[AgentSpan] = field(default_factory=list)
    callbacks: dict[str, Callback] = field(default_factory=dict)
    calls: list[CallStart] = field(default_factory=list)
    answers: list[SurveyAnswer] = field(default_factory=list)


def _num(value: object, default: float = 0.0) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return default
    return default


def _text(value: object) -> str:
    return "" if value is None else str(value)


@dataclass
class _Reader:
    now: float
    facts: Facts
    open: dict[tuple[str, str], Visit] = field(default_factory=dict)  # (call, queue)
    last_visit: dict[str, Visit] = field(default_factory=dict)  # per call
    callers: dict[str, str] = field(default_factory=dict)  # call -> number
    agent_since: dict[str, tuple[str, float]] = field(default_factory=dict)
    asked_callback: set[str] = field(default_factory=set)  # calls that asked while waiting

    def read(self, event: LogEvent) -> None:
        at = event.at.timestamp()
        kind, call, data = event.kind, event.call_id, event.data
        if kind in QUEUE_KINDS:
            self._queue(kind, call, data, at)
        elif kind == "agent.state":
            self._agent(_text(data.get("agent")), _text(data.get("state")), at)
        elif kind in CALLBACK_KINDS:
            self._callback(kind, call, data, at)
        elif kind == "call.start":
            caller = _text(data.get("caller"))
            self.callers[call] = caller
            self.facts.calls.append(CallStart(call, at, caller))
        elif kind == "call.end":
            for key in [k for k in self.open if k[0] == call]:
                visit = self.open.pop(key)
                visit.outcome, visit.reason = "lost", "call_ended"
                visit.waited = max(0.0, at - visit.at)
        elif kind == "survey.answer":
            self._survey(call, data, at)

    def _queue(self, kind: str, call: str, data: Mapping[str, Any], at: float) -> None:
        queue = _text(data.get("queue"))
        visit = self.open.get((call, queue))
        if kind == "queue.enter":
            if visit is None:
                joined = _num(data.get("joined_at"), at) if data.get("resumed") else at
                visit = Visit(call, queue, joined, caller=self.callers.get(call, ""))
                self._moved_on(call, queue)
                self.open[(call, queue)] = visit
                self.last_visit[call] = visit
                self.facts.visits.append(visit)
            return
        if visit is None:  # a refusal, or a visit that began before the events read
            reason = _text(data.get("reason"))
            if kind == "queue.exit" and reason in REFUSED and _num(data.get("waited")) <= 0:
                self._moved_on(call, queue)
                self.facts.refusals.append(Refusal(call, queue, at, reason))
            elif kind == "queue.complete":
                self._completed(self._answered_visit(call, queue), data, at)
            return
        if kind == "queue.connect":
            visit.outcome = "answered"
            visit.agent = _text(data.get("agent"))
            visit.caller = visit.caller or _text(data.get("caller"))
            visit.waited = _num(data.get("waited"), at - visit.at)
            visit.answered_at = at
            del self.open[(call, queue)]
        elif kind == "queue.abandon":
            visit.outcome = "abandoned"
            visit.waited = _num(data.get("waited"), at - visit.at)
            del self.open[(call, queue)]
        elif kind == "queue.exit":
            reason = _text(data.get("reason")) or "exit"
            visit.reason = reason
            # Any other reason is callflow letting the caller go (stopping, interrupted).
            visit.outcome = EXIT_OUTCOMES.get(reason, "shutdown")
            if call in self.asked_callback and reason in LEFT_FOR_CALLBACK:
                visit.outcome = "callback"  # asked while waiting, then left the queue
            visit.waited = _num(data.get("waited"), at - visit.at)
            del self.open[(call, queue)]

    def _answered_visit(self, call: str, queue: str) -> Visit | None:
        visit = self.last_visit.get(call)
        if visit is not None and visit.queue == queue and visit.outcome == "answered":
            return visit
        return None

    def _completed(self, visit: Visit | None, data: Mapping[str, Any], at: float) -> None:
        if visit is None:
            return
        visit.talk = _num(data.get("talk"), at - (visit.answered_at or at))
        visit.hold = _num(data.get("hold"))
        visit.ended_at = at

    def _moved_on(self, call: str, queue: str) -> None:
        """The call goes to ``queue`` (entered, or refused at its door): its last visit
        elsewhere, left by timeout, emptiness or an exit key, overflowed."""
        before = self.last_visit.get(call)
        if (
            before is not None
            and before.queue != queue
            and before.outcome in ("timeout", "empty", "exit_key")
        ):
            before.outcome = "overflowed"

    def _agent(self, agent: str, state: str, at: float) -> None:
        if not agent:
            return
        before = self.agent_since.get(agent)
        if before is not None and at > before[1]:
            self.facts.spans.append(AgentSpan(agent, before[0], before[1], at))
        self.agent_since[agent] = (state, at)

    def _callback(self, kind: str, call: str, data: Mapping[str, Any], at: float) -> None:
        # Every event of a callback names it. One that names none is a request refused
        # (its number): no callback was made, and none is held for it.
        name = _text(data.get("callback"))
        if not name:
            return
        callback = self.facts.callbacks.setdefault(name, Callback(name))
        event = kind.removeprefix("callback.")
        if event == "requested":
            # A callback held for the calling window's opening is still in state
            # "requested" and writes callback.requested again (as it is held, and as it
            # gets its slot): the request, and the wait for the callback, began at the first.
            if callback.requested_at is None:
                callback.requested_at = at
            callback.queue = _text(data.get("queue")) or callback.queue
            callback.call_id = call
            visit = self.last_visit.get(call) if call else None
            if visit is not None and visit.outcome == "waiting":
                self.asked_callback.add(call)
            elif visit is not None and visit.reason in LEFT_FOR_CALLBACK:
                visit.outcome = "callback"
        elif event == "attempt":
            callback.attempts += 1
        elif event == "connected":
            callback.connected_at = callback.connected_at or at
            callback.agent = _text(data.get("agent"))
        elif event in ("completed", "failed", "expired", "cancelled"):
            callback.end, callback.ended_at = event, at

    def _survey(self, call: str, data: Mapping[str, Any], at: float) -> None:
        visit = self.last_visit.get(call)
        answered = visit if visit is not None and visit.outcome == "answered" else None
        self.facts.answers.append(
            SurveyAnswer(
                call,
                at,
                _text(data.get("survey")),
                _text(data.get("question")),
                _text(data.get("value")).strip().lower(),
                _text(data.get("agent")) or (answered.agent if answered else ""),
                _text(data.get("queue")) or (answered.queue if answered else ""),
            )
        )

    def finish(self) -> Facts:
        for agent, (state, since) in self.agent_since.items():
            if self.now > since:
                self.facts.spans.append(AgentSpan(agent, state, since, self.now))
        return self.facts


def read_log(events: Iterable[LogEvent], now: dt.datetime) -> Facts:
    """The facts of ``events`` (in log order), as known at ``now``."""
    reader = _Reader(now.timestamp(), Facts(now.timestamp()))
    for event in events:
        if event.at.timestamp() <= reader.now:
            reader.read(event)
    return reader.finish()


class LogReader:
    """:func:`read_log` a little at a time: :meth:`read` the log's new events as they come,
    and take :meth:`facts` as of any moment since, without reading the log again.

    What it holds is the facts (visits, refusals, callbacks, calls, agent spans, survey
    answers: a few per call), never the events; feed it only the kinds you need counted."""

    def __init__(self) -> None:
        self._reader = _Reader(0.0, Facts(0.0))
        self._ended: set[str] = set()  # calls whose call.end was read since the last settle

    @property
    def held(self) -> tuple[int, int]:
        """The visits and the callbacks it holds now (tests, the memory's debugging)."""
        return len(self._reader.facts.visits), len(self._reader.facts.callbacks)

    def read(self, event: LogEvent) -> None:
        """Read one event; events come in log order."""
        self._reader.read(event)
        if event.kind == "call.end":
            self._ended.add(event.call_id)

    def settle(self) -> Facts:
        """Take out what can no longer change, and forget the calls it belongs to: the
        visits of the calls that have ended, the refusals, and the callbacks that are over.

        The facts taken later no longer hold them: a reader that adds them up as it goes
        (the wallboard's day) holds only the calls in progress, not one visit per call of
        the day. Their calls' later events, if any (a conversation's end written after its
        call's end), find no visit to complete: settle only for counts that do not read
        them. Agent spans, calls' starts and survey answers are left in place."""
        reader, facts, ended = self._reader, self._reader.facts, self._ended
        visits = [v for v in facts.visits if v.call_id in ended]
        facts.visits = [v for v in facts.visits if v.call_id not in ended]
        refusals, facts.refusals = facts.refusals, []
        over = {name: c for name, c in facts.callbacks.items() if c.end}
        for name in over:
            del facts.callbacks[name]
        for call in ended:
            reader.last_visit.pop(call, None)
            reader.callers.pop(call, None)
            reader.asked_callback.discard(call)
        self._ended = set()
        return Facts(facts.now, visits=visits, refusals=refusals, callbacks=over)

    def facts(self, now: dt.datetime) -> Facts:
        """The facts so far, as known at ``now`` (no earlier than the events read): visits
        not over are still waiting, agents' current states last until ``now``.

        The visits, callbacks and lists are the reader's own, shared and not copied: count
        them, do not keep them across reads."""
        at = now.timestamp()
        facts = self._reader.facts
        spans = list(facts.spans)
        for agent, (state, since) in self._reader.agent_since.items():
            if at > since:
                spans.append(AgentSpan(agent, state, since, at))
        return Facts(
            at,
            visits=facts.visits,
            refusals=facts.refusals,
            spans=spans,
            callbacks=facts.callbacks,
            calls=facts.calls,
            answers=facts.answers,
        )
