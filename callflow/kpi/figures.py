"""The KPI formulas, and the figures of one queue (or all) and one agent over one interval.

Every figure is counted over the facts of :mod:`callflow.kpi.log`; a visit belongs to the
interval in which the caller joined the queue, a callback to the one in which it was
requested, a call to the one in which it started, a survey answer to the one in which it
was given; agent time is cut at the interval's edges. A ratio with nothing to divide by is
None (shown as "-"), never 0.

Abandonment (the seed's formula, short abandons out of both sides)::

    abandon_rate = (offered - short_abandons - handled) / (offered - short_abandons)

- ``handled``: visits answered by an agent (``queue.connect``).
- ``abandoned``: visits the caller hung up on (``queue.abandon``); ``short_abandons`` are
  those that waited ``Rules.short_abandon`` seconds (default 5) or less: misdials and
  callers who changed their mind before any queue could answer.
- ``offered = handled + abandoned``: the callers the queue kept to the end. Every other way
  out is neither an abandon nor handled, is left out of ``offered`` (so out of both sides
  of the rate) and is reported on its own:

  - ``overflowed``: left by timeout, an empty queue or an exit key, and then entered another
    queue. They count where they went next (offered there: handled, or abandoned, with the
    wait in that queue), never as abandons here;
  - ``callbacks``: left to be called back (an exit to a callback). Neither abandoned nor
    handled in the live-call figures; their fate is in the callback figures;
  - ``timeouts``, ``empties``, ``exit_keys``: the queue's time limit or emptiness ended the
    wait, or the caller chose an exit key (app_queue's EXITWITHTIMEOUT, EXITEMPTY,
    EXITWITHKEY), with no other queue after;
  - ``shutdowns`` and ``lost``: callflow let the caller go while stopping, or the call was
    lost with Asterisk or a crash: not the caller's doing, nor the queue's;
  - ``waiting``: still in line at ``now``;
  - ``refused``: turned away at the door (full, or empty with ``join_when_empty: no``); never
    entered, so not in ``entered`` either.

  ``entered`` counts every visit; ``entered = offered + all of the above but refused``.

Service level, with ``T = Rules.service_level`` seconds (default 20), a wait "within T"
meaning ``<= T`` (app_queue's own test), and short abandons left out everywhere:

- ``sl1 = answered within T / handled``: app_queue's ``SL`` in ``queue show``. It ignores
  abandons: a queue losing half its callers can show 100%.
- ``sl2 = (answered within T + abandoned within T) / (handled + abandoned)``, short
  abandons out of both sides: app_queue's ``SL2`` (it counts an early hang-up as served).
- ``sl = answered within T / (offered - short_abandons)``, **the default**: the share of
  callers the queue kept who were answered within T. Every caller who hung up after the
  short-abandon threshold counts against it, so it cannot look good while callers give up,
  and it agrees with the abandonment rate on who is in the base (a short abandon is in
  neither). Overflowed, callback, timeout, exit-key, shutdown and lost visits are out of
  all three, as out of ``offered``; an overflowed caller counts in the queue that answered
  them, with that queue's wait.

Time (seconds):

- ``asa``: mean wait of the handled visits (their ``waited``);
- ``aht``: mean of talk + hold + wrap-up over the handled visits whose conversation is over;
  wrap-up is the agent's ``wrapup`` state that followed the conversation (0 without one);
- ``longest_wait``: the longest wait of any visit, callers still waiting included (to
  ``now``);
- an agent's ``occupancy = (on_call + wrapup time) / logged-in time`` (every state but
  ``logged_out``: available, ringing, on a call, wrap-up, paused), from ``agent.state``.

Callbacks (counted in the queue and interval they were requested in):

- ``callbacks_requested``; ``callbacks_completed``: reached an agent (``callback.connected``,
  or ``callback.completed`` without it); ``callbacks_failed``, ``_expired``, ``_cancelled``;
- ``attempts_per_success = attempts of settled callbacks / completed`` (settled: completed,
  failed, expired or cancelled; a pending callback's attempts wait until it settles);
- ``time_to_callback``: mean of (connected - requested) over the completed ones that say
  when they connected.

Repeat callers and first-call resolution:

- ``repeat_rate = calls followed by another call from the same number within
  Rules.repeat_days (default 7) / calls from a known number``; calls with no number are
  out. Per queue, the calls that visited the queue (the repeat may come in anywhere). The
  window looks ahead: a call's figure is final ``repeat_days`` after it;
- ``fcr = answers "yes" / answers yes or no`` to survey question ``Rules.fcr_question``
  (default ``resolved``: "was your issue resolved?"; yes is ``1``/``yes``, no is
  ``2``/``no``; anything else is not counted), per the queue and agent of the surveyed call.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from callflow.kpi.log import AGENT_BUSY, AgentSpan, Callback, CallStart, Facts, Visit

T = TypeVar("T")
DAY = 86_400.0
WRAP_MATCH = 30.0
"""A wrap-up that starts this long after a conversation's end still belongs to it."""


@dataclass(frozen=True)
class Rules:
    """The thresholds every figure is counted with."""

    short_abandon: float = 5.0
    service_level: float = 20.0
    repeat_days: float = 7.0
    fcr_question: str = "resolved"


# --- the formulas --------------------------------------------------------------------


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``, or None when there is nothing to divide by."""
    return part / whole if whole > 0 else None


def abandon_rate(offered: int, short_abandons: int, handled: int) -> float | None:
    """The seed's rate: ``(offered - short - handled) / (offered - short)``."""
    return ratio(offered - short_abandons - handled, offered - short_abandons)


def sl1(answered_within: int, handled: int) -> float | None:
    """app_queue's SL: answered within T / answered."""
    return ratio(answered_within, handled)


def sl2(answered_within: int, abandoned_within: int, handled: int, abandoned: int) -> float | None:
    """app_queue's SL2: (answered + abandoned within T) / (answered + abandoned); both
    abandon counts without short abandons."""
    return ratio(answered_within + abandoned_within, handled + abandoned)


def service_level(answered_within: int, offered: int, short_abandons: int) -> float | None:
    """callflow's default: answered within T / (offered - short abandons)."""
    return ratio(answered_within, offered - short_abandons)


def mean(values: Iterable[float]) -> float | None:
    """The mean, or None of nothing."""
    items = list(values)
    return sum(items) / len(items) if items else None


# --- queue figures -------------------------------------------------------------------

OTHER_EXITS = {
    "overflowed": "overflowed",
    "callback": "callbacks",
    "timeout": "timeouts",
    "empty": "empties",
    "exit_key": "exit_keys",
    "shutdown": "shutdowns",
    "lost": "lost",
    "waiting": "waiting",
}


@dataclass(frozen=True)
class QueueFigures:
    """One queue's (or every queue's: ``queue`` '*') figures over one interval."""

    queue: str
    entered: int
    offered: int
    handled: int
    abandoned: int
    short_abandons: int
    abandon_rate: float | None
    overflowed: int
    callbacks: int
    timeouts: int
    empties: int
    exit_keys: int
    shutdowns: int
    lost: int
    waiting: int
    refused: int
    answered_within: int
    abandoned_within: int
    sl: float | None
    sl1: float | None
    sl2: float | None
    asa: float | None
    aht: float | None
    longest_wait: float | None
    callbacks_requested: int
    callbacks_completed: int
    callbacks_failed: int
    callbacks_expired: int
    callbacks_cancelled: int
    attempts_per_success: float | None
    time_to_callback: float | None
    calls: int
    repeat_calls: int
    repeat_rate: float | None
    survey_answers: int
    fcr: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QueueTraffic:
    """What one queue was asked to carry over a range, for staffing (Erlang A): arrivals,
    handle time and the callers' patience, with the counts they come from."""

    queue: str
    seconds: float  # the range's length
    entered: int  # callers who joined the queue in it
    handled: int
    abandoned: int  # hung up while waiting, short abandons included
    waited: float  # seconds waited in the queue by its callers, however their wait ended
    aht: float | None  # the report's AHT (talk, hold and wrap-up)
    sl: float | None
    abandon_rate: float | None

    @property
    def arrival_rate(self) -> float:
        """Callers a second."""
        return self.entered / self.seconds if self.seconds > 0 else 0.0

    @property
    def patience(self) -> float | None:
        """The callers' mean patience: the time waited over the hang-ups (Ibrahim & Whitt's
        estimate of the abandonment rate, inverted); None with no hang-up (patient callers)."""
        return self.waited / self.abandoned if self.abandoned else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "entered": self.entered,
            "handled": self.handled,
            "abandoned": self.abandoned,
            "waited_seconds": round(self.waited, 3),
            "sl": self.sl,
            "abandon_rate": self.abandon_rate,
            "hours": round(self.seconds / 3600, 3),
        }


def wrapups(facts: Facts) -> dict[int, float]:
    """Each finished handled visit's wrap-up seconds, by ``id(visit)``."""
    spans: dict[str, list[AgentSpan]] = defaultdict(list)
    for span in facts.spans:
        if span.state == "wrapup":
            spans[span.agent].append(span)
    starts: dict[str, list[float]] = {}
    for agent, runs in spans.items():
        runs.sort(key=lambda s: s.start)
        starts[agent] = [s.start for s in runs]
    found: dict[int, float] = {}
    for visit in facts.visits:
        if visit.outcome != "answered" or visit.ended_at is None:
            continue
        runs = spans.get(visit.agent, [])
        i = bisect.bisect_left(starts.get(visit.agent, []), visit.answered_at or visit.ended_at)
        if i < len(runs) and runs[i].start <= visit.ended_at + WRAP_MATCH:
            found[id(visit)] = runs[i].end - runs[i].start
    return found


def handle_time(visit: Visit, wrap: dict[int, float]) -> float | None:
    """talk + hold + wrap-up of a handled visit whose conversation is over."""
    if visit.talk is None:
        return None
    return visit.talk + visit.hold + wrap.get(id(visit), 0.0)


def _later_calls(calls: Iterable[CallStart]) -> dict[str, list[float]]:
    by_number: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        if call.caller:
            by_number[call.caller].append(call.at)
    for times in by_number.values():
        times.sort()
    return by_number


class ByTime(Generic[T]):
    """Items sorted by a time of theirs (those without one left out), sliced by range in
    O(log n): a report of thousands of intervals reads each item a few times, not once per
    interval."""

    def __init__(self, items: Iterable[T], key: Callable[[T], float | None]) -> None:
        timed = [(when, n, item) for n, item in enumerate(items) if (when := key(item)) is not None]
        timed.sort(key=lambda x: (x[0], x[1]))
        self.times = [when for when, _, _ in timed]
        self.items = [item for _, _, item in timed]

    def between(self, start: float, end: float) -> list[T]:
        """The items of ``[start, end)``, in time order."""
        return self.items[
            bisect.bisect_left(self.times, start) : bisect.bisect_left(self.times, end)
        ]


@dataclass
class Counter:
    """Counts :class:`QueueFigures` and :class:`AgentFigures` over facts read once."""

    facts: Facts
    rules: Rules

    def __post_init__(self) -> None:
        facts = self.facts
        self.wrap = wrapups(facts)
        self.numbers = _later_calls(facts.calls)
        self.queues_of: dict[str, set[str]] = defaultdict(set)
        for visit in facts.visits:
            self.queues_of[visit.call_id].add(visit.queue)
        self.visits = ByTime(facts.visits, lambda v: v.at)
        self.answered = ByTime(
            (v for v in facts.visits if v.outcome == "answered"), lambda v: v.answered_at
        )
        self.refusals = ByTime(facts.refusals, lambda r: r.at)
        self.callbacks = ByTime(facts.callbacks.values(), lambda c: c.requested_at)
        self.calls = ByTime((c for c in facts.calls if c.caller), lambda c: c.at)
        fcr = self.rules.fcr_question
        self.answers = ByTime(
            (a for a in facts.answers if a.question == fcr and a.resolved is not None),
            lambda a: a.at,
        )
        # Each agent's logged-in spans in order (one agent's spans never overlap), with
        # their ends, to find those overlapping an interval by bisection.
        self.spans: dict[str, list[AgentSpan]] = defaultdict(list)
        for span in sorted(facts.spans, key=lambda s: s.start):
            if span.state != "logged_out":
                self.spans[span.agent].append(span)
        self.span_ends = {agent: [s.end for s in runs] for agent, runs in self.spans.items()}

    def queue(self, queue: str | None, start: float, end: float) -> QueueFigures:
        """The figures of ``queue`` (None: all) for what began in ``[start, end)``."""

        def mine(name: str) -> bool:
            return queue is None or name == queue

        return queue_figures(
            "*" if queue is None else queue,
            [v for v in self.visits.between(start, end) if mine(v.queue)],
            self.rules,
            now=self.facts.now,
            wrap=self.wrap,
            refused=sum(1 for r in self.refusals.between(start, end) if mine(r.queue)),
            callbacks=[c for c in self.callbacks.between(start, end) if mine(c.queue)],
            repeats=self._repeats(queue, start, end),
            resolved=[a.resolved for a in self.answers.between(start, end) if mine(a.queue)],
        )

    def traffic(self, queue: str, start: float, end: float) -> QueueTraffic:
        """``queue``'s traffic over ``[start, end)`` (``end`` no later than now): callers
        still waiting count the time they have waited so far, since every second of
        waiting counts in the abandonment rate, whoever it ends with."""
        until = min(end, self.facts.now)
        mine = [v for v in self.visits.between(start, end) if v.queue == queue]
        figures = self.queue(queue, start, end)
        waited = math.fsum(
            v.waited if v.waited is not None else max(0.0, until - v.at) for v in mine
        )
        return QueueTraffic(
            queue,
            seconds=until - start,
            entered=figures.entered,
            handled=figures.handled,
            abandoned=sum(1 for v in mine if v.outcome == "abandoned"),
            waited=waited,
            aht=figures.aht,
            sl=figures.sl,
            abandon_rate=figures.abandon_rate,
        )

    def _repeats(self, queue: str | None, start: float, end: float) -> tuple[int, int]:
        calls = repeats = 0
        window = self.rules.repeat_days * DAY
        for call in self.calls.between(start, end):
            if queue is not None and queue not in self.queues_of.get(call.call_id, ()):
                continue
            calls += 1
            times = self.numbers[call.caller]
            after = bisect.bisect_right(times, call.at)
            if after < len(times) and times[after] <= call.at + window:
                repeats += 1
        return calls, repeats

    def agents(self, start: float, end: float, queue: str | None = None) -> list[AgentFigures]:
        """Every agent seen in ``[start, end)``: calls answered then (in ``queue``, if
        given) and their time, cut at the interval's edges (whatever the queue)."""
        logged: dict[str, float] = defaultdict(float)
        busy: dict[str, float] = defaultdict(float)
        for agent, runs in self.spans.items():
            i = bisect.bisect_right(self.span_ends[agent], start)  # the first to end after
            while i < len(runs) and runs[i].start < end:
                span = runs[i]
                seconds = max(0.0, min(span.end, end) - max(span.start, start))
                logged[agent] += seconds
                if span.state in AGENT_BUSY:
                    busy[agent] += seconds
                i += 1
        handled: dict[str, list[Visit]] = defaultdict(list)
        for visit in self.answered.between(start, end):
            if queue in (None, visit.queue):
                handled[visit.agent].append(visit)
        resolved: dict[str, list[bool]] = defaultdict(list)
        for answer in self.answers.between(start, end):
            if queue in (None, answer.queue):
                resolved[answer.agent].append(answer.resolved is True)
        names = sorted({a for a, s in logged.items() if s > 0} | set(handled) | set(resolved))
        return [
            _agent(name, handled.get(name, []), logged[name], busy[name], resolved[name], self.wrap)
            for name in names
        ]


def queue_figures(
    name: str,
    visits: list[Visit],
    rules: Rules,
    *,
    now: float,
    wrap: dict[int, float] | None = None,
    refused: int = 0,
    callbacks: Sequence[Callback] = (),
    repeats: tuple[int, int] = (0, 0),
    resolved: Iterable[bool | None] = (),
) -> QueueFigures:
    """The figures of these visits (and callbacks, repeat counts, FCR answers)."""
    wrap = wrap or {}
    t = rules.service_level
    handled = [v for v in visits if v.outcome == "answered"]
    abandoned = [v for v in visits if v.outcome == "abandoned"]
    short = [v for v in abandoned if (v.waited or 0.0) <= rules.short_abandon]
    counted = [v for v in abandoned if (v.waited or 0.0) > rules.short_abandon]
    within = sum(1 for v in handled if (v.waited or 0.0) <= t)
    abandoned_within = sum(1 for v in counted if (v.waited or 0.0) <= t)
    offered = len(handled) + len(abandoned)
    exits = {field: 0 for field in OTHER_EXITS.values()}
    for visit in visits:
        if visit.outcome in OTHER_EXITS:
            exits[OTHER_EXITS[visit.outcome]] += 1
    waits = [v.waited if v.over else now - v.at for v in visits]
    times = [h for h in (handle_time(v, wrap) for v in handled) if h is not None]
    settled = [c for c in callbacks if c.end or c.connected_at is not None]
    done = [c for c in settled if c.connected_at is not None or c.end == "completed"]
    answers = [r for r in resolved if r is not None]
    return QueueFigures(
        queue=name,
        entered=len(visits),
        offered=offered,
        handled=len(handled),
        abandoned=len(abandoned),
        short_abandons=len(short),
        abandon_rate=abandon_rate(offered, len(short), len(handled)),
        **exits,
        refused=refused,
        answered_within=within,
        abandoned_within=abandoned_within,
        sl=service_level(within, offered, len(short)),
        sl1=sl1(within, len(handled)),
        sl2=sl2(within, abandoned_within, len(handled), len(counted)),
        asa=mean(v.waited or 0.0 for v in handled),
        aht=mean(times),
        longest_wait=max((w for w in waits if w is not None), default=None),
        callbacks_requested=len(callbacks),
        callbacks_completed=len(done),
        callbacks_failed=sum(1 for c in settled if c.end == "failed" and c not in done),
        callbacks_expired=sum(1 for c in settled if c.end == "expired" and c not in done),
        callbacks_cancelled=sum(1 for c in settled if c.end == "cancelled" and c not in done),
        attempts_per_success=ratio(sum(c.attempts for c in settled), len(done)),
        time_to_callback=mean(
            c.connected_at - c.requested_at
            for c in done
            if c.connected_at is not None and c.requested_at is not None
        ),
        calls=repeats[0],
        repeat_calls=repeats[1],
        repeat_rate=ratio(repeats[1], repeats[0]),
        survey_answers=len(answers),
        fcr=ratio(sum(answers), len(answers)),
    )


# --- agent figures -------------------------------------------------------------------


@dataclass(frozen=True)
class AgentFigures:
    """One agent's figures over one interval (handled calls of one queue, or all)."""

    agent: str
    handled: int
    talk: float
    hold: float
    wrapup: float
    aht: float | None
    logged_in: float
    busy: float  # on a call or in wrap-up
    occupancy: float | None
    survey_answers: int
    fcr: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def agent_figures(
    facts: Facts, rules: Rules, start: float, end: float, queue: str | None = None
) -> list[AgentFigures]:
    """:meth:`Counter.agents` of these facts."""
    return Counter(facts, rules).agents(start, end, queue)


def _agent(
    name: str,
    visits: list[Visit],
    logged_in: float,
    busy: float,
    answers: list[bool],
    wrap: dict[int, float],
) -> AgentFigures:
    over = [v for v in visits if v.talk is not None]
    times = [h for h in (handle_time(v, wrap) for v in over) if h is not None]
    return AgentFigures(
        agent=name,
        handled=len(visits),
        talk=sum(v.talk or 0.0 for v in over),
        hold=sum(v.hold for v in over),
        wrapup=sum(wrap.get(id(v), 0.0) for v in over),
        aht=mean(times),
        logged_in=logged_in,
        busy=busy,
        occupancy=ratio(busy, logged_in),
        survey_answers=len(answers),
        fcr=ratio(sum(answers), len(answers)),
    )
