"""The callback state machine, sans-I/O: ``(callback, event) -> (callback, commands)``.

:func:`step` is a pure function of a :class:`~callflow.callback.model.Callback`, one event,
the queue's :class:`~callflow.callback.model.CallbackPolicy` and the time. It changes
nothing; the caller keeps the new callback and performs the commands. Every transition
(and every deferral that moves ``not_before``) yields exactly one :class:`Record` of kind
``callback.<state>``: write the callback's row and the event-log line together. The end
of each call to the customer is also a ``callback.attempt`` record (``attempt``,
``result``), and the request a ``callback.requested`` one (with the ``number``), as the KPIs
read them (:mod:`callflow.kpi.log`). :class:`~callflow.callback.book.
CallbackBook` drives it against the Router; the simulator and the live adapter drive the
book.

Events: :class:`Tick` (time passed: place, defer to the calling window, retry, expire),
:class:`Scheduled` (its slot in the opening, from :func:`plan_opening`), :class:`Reserved`
(agent-first: the Router reserved an agent), :class:`Due` (customer-first: the Router says
dial now), :class:`AgentAnswered` / :class:`AgentUnanswered` (the reserved agent's ring),
:class:`Answered` / :class:`Unanswered` (the customer), :class:`Ended` (the conversation is
over), :class:`NoAgent` (customer-first: no agent within ``customer_wait``), :class:`Cancel`.

Commands: line commands for the Router (:class:`JoinLine`, :class:`LeaveLine`,
:class:`TakeAgent`, :class:`AgentRingOver`, :class:`FreeAgent`, :class:`WrapUp`), I/O for
the driver
(:class:`RingAgent`, :class:`Dial`, :class:`Bridge`, :class:`JoinAsCaller`,
:class:`HangUp`, :class:`LeaveMessage`), and :class:`Record`.

Calling windows: :func:`window_open` and :func:`next_opening` combine the queue's hours
(:mod:`callflow.flow.schedule`, the ``hours`` node's own code) with the customer's local
hours when their timezone is known. A callback is checked against the window when it would
enter the line and again when it reaches the front (a window can close while it waits):
outside it, it leaves the line and goes back to ``requested`` until the next opening.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from callflow.callback.model import (
    Callback,
    CallbackError,
    CallbackPolicy,
    CallbackState,
    CallingWindow,
    DialOutcome,
)
from callflow.flow.schedule import OpenState, is_open, timezone
from callflow.queue.routing import Offer, QueueEntry

S = CallbackState
HORIZON_DAYS = 15  # how far ahead a calling window's next opening is looked for
NEW_REQUEST = "requested"
"""The ``reason`` of the ``callback.requested`` written when a callback is booked. A callback
held for the calling window's opening stays in state ``requested`` and writes that kind
again with another reason (held, then its slot): one request, whatever readers count."""
RECHECK = 60.0  # a callback held for the opening with no agent to plan for: look again

# --- events ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed (the driver woke at :func:`next_wakeup`)."""


@dataclass(frozen=True, slots=True)
class Scheduled:
    """Requested while closed: placed at ``at`` (its slot in the opening)."""

    at: float


@dataclass(frozen=True, slots=True)
class Reserved:
    """Agent-first: the Router reserved ``offer.agent`` for this callback."""

    offer: Offer


@dataclass(frozen=True, slots=True)
class Due:
    """Customer-first: the placeholder reached the front with an agent free; dial now."""


@dataclass(frozen=True, slots=True)
class AgentAnswered:
    """The reserved agent answered (and hears the whisper)."""


@dataclass(frozen=True, slots=True)
class AgentUnanswered:
    """The reserved agent's ring ended unanswered (``no_answer``, ``rejected``...)."""

    reason: str = "no_answer"


@dataclass(frozen=True, slots=True)
class Answered:
    """The customer answered (a person: AMD said so, or no AMD). ``agent_gone``: the
    agent-first agent's leg is gone (found so after a restart): the customer then waits
    in line as a caller, as customer-first."""

    agent_gone: bool = False


@dataclass(frozen=True, slots=True)
class Unanswered:
    """The call to the customer ended without a conversation."""

    outcome: DialOutcome
    cause: int | None = None  # Q.850, when known


@dataclass(frozen=True, slots=True)
class Ended:
    """The conversation is over (``agent``, ``customer``, ``lost``...)."""

    reason: str


@dataclass(frozen=True, slots=True)
class NoAgent:
    """Customer-first: the answered customer waited the policy's ``customer_wait`` in line
    and no agent came; they were told what happens next and hung up."""


@dataclass(frozen=True, slots=True)
class Cancel:
    """Give up this callback (``customer``, ``agent``, ``api``...)."""

    reason: str


Event = (
    Tick
    | Scheduled
    | Reserved
    | Due
    | AgentAnswered
    | AgentUnanswered
    | Answered
    | Unanswered
    | Ended
    | NoAgent
    | Cancel
)

# --- commands --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JoinLine:
    """Put the placeholder in the Router (the caller's original join time and priority)."""

    entry: QueueEntry


@dataclass(frozen=True, slots=True)
class LeaveLine:
    """Take the placeholder out of the Router (its reservation, if any, is cancelled)."""

    entry_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class TakeAgent:
    """The reserved agent answered: they are on this callback (the placeholder leaves)."""

    callback_id: str


@dataclass(frozen=True, slots=True)
class AgentRingOver:
    """The reserved agent did not answer: the placeholder keeps its place, and that agent
    is not offered it again for the queue's retry delay."""

    callback_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class FreeAgent:
    """The agent is released at once (no wrap-up) and their leg hung up: the customer did
    not answer, or the callback was cancelled."""

    agent: str


@dataclass(frozen=True, slots=True)
class WrapUp:
    """Agent-first: the conversation is over; the agent goes to the queue's wrap-up."""

    agent: str


@dataclass(frozen=True, slots=True)
class Whisper:
    """What the agent hears before the customer is dialled: who, which queue, how long
    they have waited since they first joined."""

    number: str
    queue: str
    waited: float


@dataclass(frozen=True, slots=True)
class RingAgent:
    """Ring the reserved agent (``offer``); on answer play the whisper, then report
    :class:`AgentAnswered` (or :class:`AgentUnanswered`)."""

    callback_id: str
    offer: Offer
    whisper: Whisper


@dataclass(frozen=True, slots=True)
class Dial:
    """Call the customer (``number`` is E.164: use it only through the outbound template);
    report :class:`Answered` or :class:`Unanswered`."""

    callback_id: str
    number: str
    attempt: int
    agent: str | None  # agent-first: the agent on the line, who hears the ringing


@dataclass(frozen=True, slots=True)
class Bridge:
    """Agent-first: the customer answered; bridge them with the agent. Report
    :class:`Ended` when the conversation is over."""

    callback_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class JoinAsCaller:
    """Customer-first: the customer answered; say "returning your call" and put them in
    line as a live caller with their original place (``entry``, kind ``caller``); report
    :class:`Ended` when they leave the queue or their conversation is over, or
    :class:`NoAgent` if no agent came within ``wait_limit`` seconds (0: no limit)."""

    callback_id: str
    entry: QueueEntry
    wait_limit: float = 0.0


@dataclass(frozen=True, slots=True)
class HangUp:
    """Hang up the customer's call of this callback, if it is up."""

    callback_id: str


@dataclass(frozen=True, slots=True)
class LeaveMessage:
    """A machine answered and the policy says so: play ``queue``'s callback message to it
    (the callback itself goes on: retried, or over)."""

    callback_id: str
    queue: str
    call_id: str = ""  # the call it was asked from, as its other events are logged


@dataclass(frozen=True, slots=True)
class Record:
    """Write the callback's row and, in the same transaction, the event ``kind``
    (``callback.<state>``) with ``data``."""

    callback: Callback
    kind: str
    data: dict[str, Any]


Command = (
    JoinLine
    | LeaveLine
    | TakeAgent
    | AgentRingOver
    | FreeAgent
    | WrapUp
    | RingAgent
    | Dial
    | Bridge
    | JoinAsCaller
    | HangUp
    | LeaveMessage
    | Record
)


@dataclass(frozen=True, slots=True)
class Step:
    """The callback after an event, and the commands to perform in order."""

    callback: Callback
    commands: list[Command] = field(default_factory=list)


# --- calling windows -------------------------------------------------------------------


def window_open(window: CallingWindow, customer_tz: str | None, at: float) -> bool:
    """The queue is open at ``at`` (seconds since the epoch) and, with the customer's
    timezone known, it is within their local calling hours."""
    moment = dt.datetime.fromtimestamp(at, dt.UTC)
    if window.hours is not None and is_open(window.hours, moment)[0] is not OpenState.OPEN:
        return False
    if customer_tz is None or window.customer_hours is None:
        return True
    local = moment.astimezone(timezone(customer_tz))
    minute = local.hour * 60 + local.minute
    start, end = window.customer_hours
    return start <= minute < end


def next_opening(window: CallingWindow, customer_tz: str | None, at: float) -> float | None:
    """The first moment from ``at`` on when :func:`window_open` holds (``at`` itself if it
    does), looking :data:`HORIZON_DAYS` ahead; None if the window never opens by then.

    Windows open only on the minute where a weekly range starts, at a local midnight (the
    end of a holiday or closure), or where the customer's hours start: those moments are
    the only candidates."""
    if window_open(window, customer_tz, at):
        return at
    candidates: set[float] = set()
    if window.hours is not None:
        zone = timezone(window.hours.timezone)
        starts = [(h.weekday, h.start) for h in window.hours.weekly]
        candidates |= _local_moments(zone, at, starts, daily=False)
    if customer_tz is not None and window.customer_hours is not None:
        candidates |= _local_moments(
            timezone(customer_tz), at, [(-1, window.customer_hours[0])], daily=True
        )
    for moment in sorted(c for c in candidates if c > at):
        if window_open(window, customer_tz, moment):
            return moment
    return None


def _local_moments(
    zone: dt.tzinfo, at: float, starts: Iterable[tuple[int, int]], daily: bool
) -> set[float]:
    """Local midnights and range starts (weekday, minute; weekday -1: every day) in
    ``zone`` over the horizon, as epoch seconds."""
    first = dt.datetime.fromtimestamp(at, dt.UTC).astimezone(zone).date()
    found: set[float] = set()
    chosen = list(starts)
    for offset in range(HORIZON_DAYS + 1):
        day = first + dt.timedelta(days=offset)
        midnight = dt.datetime.combine(day, dt.time(), tzinfo=zone)
        if not daily:
            found.add(midnight.timestamp())
        for weekday, minute in chosen:
            if weekday in (-1, day.weekday()):
                local = midnight.replace(hour=minute // 60 % 24, minute=minute % 60)
                found.add(local.timestamp())
    return found


# --- the opening planner ---------------------------------------------------------------


def plan_opening(
    pending: Sequence[Callback], opening: float, agents: int, policy: CallbackPolicy
) -> dict[str, float]:
    """When each callback requested while closed enters the line after ``opening``.

    In request order, spread evenly over ``policy.opening_spread`` seconds, and never
    faster than ``agents`` logged-in agents take them at ``policy.handle_time`` seconds
    each: the gap between two is the larger of ``spread / n`` and ``handle_time /
    agents`` (so with few agents the spread runs past the 90 minutes, rather than flood
    them). With no agent logged in, none is placed (empty plan: ask again later)."""
    if agents <= 0 or not pending:
        return {}
    order = sorted(pending, key=lambda c: (c.requested_at, c.id))
    gap = max(policy.opening_spread / len(order), policy.handle_time / agents)
    return {callback.id: opening + i * gap for i, callback in enumerate(order)}


# --- the machine -----------------------------------------------------------------------


def new_callback(
    *,
    id: str,
    queue: str,
    number: str,
    now: float,
    policy: CallbackPolicy,
    joined_at: float | None = None,
    priority: int | None = None,
    skills: dict[str, int] | None = None,
    customer_tz: str | None = None,
    call_id: str = "",
) -> Step:
    """A callback just requested (its number already checked and not a duplicate), and
    what follows at once: in line now if the window is open, else at the next opening."""
    callback = Callback(
        id=id,
        queue=queue,
        number=number,
        requested_at=now,
        joined_at=now if joined_at is None else joined_at,
        expires_at=now + policy.expiry,
        mode=policy.mode,
        priority=priority,
        skills=dict(skills or {}),
        timezone=customer_tz,
        reason=NEW_REQUEST,
        updated_at=now,
        call_id=call_id,
    )
    requested = Record(
        callback,
        "callback.requested",
        _data(callback, reason=NEW_REQUEST, number=callback.number, call=callback.call_id),
    )
    after = step(callback, Tick(), policy, now)
    return Step(after.callback, [requested, *after.commands])


def step(callback: Callback, event: Event, policy: CallbackPolicy, now: float) -> Step:
    """The callback after ``event`` at ``now``, and the commands to perform."""
    if callback.final:
        return Step(callback)
    state = callback.state
    if isinstance(event, Cancel):
        return _cancel(callback, event.reason, now)
    if isinstance(event, Tick):
        return _tick(callback, policy, now)
    if isinstance(event, Scheduled) and state in (S.REQUESTED, S.RETRY_WAIT):
        moved = callback.moved(state, now, not_before=event.at, at_opening=False)
        return Step(moved, [_record(moved, "slot in the opening", slot=event.at)])
    if isinstance(event, Reserved) and state is S.WAITING:
        return _reserved(callback, event.offer, policy, now)
    if isinstance(event, Due) and state is S.WAITING:
        if not window_open(policy.window, callback.timezone, now):
            return _outside_window(callback, policy, now)
        return _dial(callback, now, agent=None)
    if isinstance(event, AgentAnswered) and state is S.RESERVED:
        return _dial(callback, now, agent=callback.agent, take=True)
    if isinstance(event, AgentUnanswered) and state is S.RESERVED:
        moved = callback.moved(S.WAITING, now, agent=None, reason=f"agent {event.reason}")
        return Step(moved, [AgentRingOver(callback.id, event.reason), _record(moved)])
    if isinstance(event, Answered) and state is S.DIALING:
        return _answered(callback, policy, now, event.agent_gone)
    if isinstance(event, NoAgent) and state is S.CONNECTED and callback.agent is None:
        return _no_agent(callback, policy, now)
    if isinstance(event, Unanswered) and state is S.DIALING:
        return _unanswered(callback, event, policy, now)
    if isinstance(event, Ended) and state is S.CONNECTED:
        moved = callback.moved(S.COMPLETED, now, reason=event.reason)
        commands: list[Command] = [_record(moved)]
        if callback.agent is not None:
            commands.insert(0, WrapUp(callback.agent))
        return Step(moved, commands)
    if isinstance(event, Ended) and state is S.DIALING:
        # The call went away before any answer was reported: as if unanswered.
        return _unanswered(callback, Unanswered(DialOutcome.FAILED), policy, now)
    raise CallbackError(
        f"callback {callback.id}: {type(event).__name__} does not apply in state {state}"
    )


def next_wakeup(callback: Callback, now: float) -> float | None:
    """When :class:`Tick` should next be sent (None: only when something happens). A
    callback held for the opening and still without a slot (no agent was logged in) is
    looked at again every :data:`RECHECK` seconds."""
    if callback.state is S.WAITING:
        return callback.expires_at
    if callback.state in (S.REQUESTED, S.RETRY_WAIT):
        due = callback.not_before if callback.not_before is not None else now
        if callback.at_opening and due <= now:
            due = now + RECHECK
        return min(due, callback.expires_at)
    return None


def _tick(callback: Callback, policy: CallbackPolicy, now: float) -> Step:
    state = callback.state
    if state in (S.REQUESTED, S.RETRY_WAIT, S.WAITING) and now >= callback.expires_at:
        return _expire(callback, "expiry", now)
    if state not in (S.REQUESTED, S.RETRY_WAIT):
        return Step(callback)
    if callback.not_before is not None and now < callback.not_before:
        return Step(callback)
    if not window_open(policy.window, callback.timezone, now):
        return _outside_window(callback, policy, now)
    if callback.at_opening:
        return Step(callback)  # its slot comes from plan_opening (Scheduled)
    moved = callback.moved(S.WAITING, now, not_before=None, reason="in line")
    return Step(moved, [JoinLine(moved.entry()), _record(moved)])


def _outside_window(callback: Callback, policy: CallbackPolicy, now: float) -> Step:
    """Outside the calling window: out of the line, until the next opening (where the
    opening planner gives it its slot)."""
    opening = next_opening(policy.window, callback.timezone, now)
    if opening is None or opening >= callback.expires_at:
        return _expire(callback, "no calling window before expiry", now)
    commands: list[Command] = []
    if callback.state is S.WAITING:
        commands.append(LeaveLine(callback.id, "window closed"))
    state = S.RETRY_WAIT if callback.state is S.RETRY_WAIT else S.REQUESTED
    if (state, callback.not_before, callback.at_opening) == (callback.state, opening, True):
        return Step(callback)  # already held for that opening
    moved = callback.moved(
        state,
        now,
        not_before=opening,
        at_opening=True,
        agent=None,
        reason="outside the calling window",
    )
    return Step(moved, [*commands, _record(moved, next_opening=opening)])


def _reserved(callback: Callback, offer: Offer, policy: CallbackPolicy, now: float) -> Step:
    if not window_open(policy.window, callback.timezone, now):
        return _outside_window(callback, policy, now)  # LeaveLine cancels the reservation
    moved = callback.moved(S.RESERVED, now, agent=offer.agent, reason="agent reserved")
    whisper = Whisper(callback.number, callback.queue, now - callback.joined_at)
    return Step(moved, [_record(moved, agent=offer.agent), RingAgent(callback.id, offer, whisper)])


def _dial(callback: Callback, now: float, agent: str | None, take: bool = False) -> Step:
    attempt = callback.attempts + 1
    moved = callback.moved(S.DIALING, now, attempts=attempt, reason=f"attempt {attempt}")
    commands: list[Command] = [TakeAgent(callback.id)] if take else []
    commands += [
        _record(moved, attempt=attempt, agent=agent),
        Dial(callback.id, callback.number, attempt, agent),
    ]
    return Step(moved, commands)


def _attempt(callback: Callback, result: str) -> Record:
    """One call to the customer and how it ended (``answered`` or a :class:`DialOutcome`),
    for the KPIs' attempts per callback: an event beside the transition."""
    data = _data(callback, attempt=callback.attempts, result=result)
    return Record(callback, "callback.attempt", data)


def _answered(
    callback: Callback, policy: CallbackPolicy, now: float, agent_gone: bool = False
) -> Step:
    agent = None if agent_gone else callback.agent
    moved = callback.moved(S.CONNECTED, now, reason="answered", agent=agent)
    waited = round(now - callback.requested_at, 3)
    commands: list[Command] = [
        _attempt(moved, "answered"),
        _record(moved, callback_wait=waited, agent=agent),
    ]
    if agent is not None:
        commands.append(Bridge(callback.id, agent))
    else:
        if callback.agent is not None:
            commands.insert(0, FreeAgent(callback.agent))
        # Customer-first: the placeholder gives its place to the customer, now a caller.
        live = callback.caller_entry()
        joined = JoinAsCaller(callback.id, live, policy.customer_wait)
        commands += [LeaveLine(callback.id, "answered"), joined]
    return Step(moved, commands)


def _no_agent(callback: Callback, policy: CallbackPolicy, now: float) -> Step:
    """Customer-first: no agent within ``customer_wait``. ``requeue``: the placeholder goes
    back in line at its original place (ahead of all who joined after it) and the
    customer is called again at its turn, within the attempts and the expiry; ``end``:
    expired."""
    outcomes = (*callback.outcomes, "no_agent")
    why = f"no agent within {policy.customer_wait:g} s"
    base = callback.moved(callback.state, now, outcomes=outcomes)
    if policy.customer_wait_then == "end":
        moved = base.moved(S.EXPIRED, now, reason=why)
    elif callback.attempts >= policy.retry.max_attempts:
        moved = base.moved(S.EXPIRED, now, reason=f"{why}, out of attempts")
    elif now >= callback.expires_at:
        moved = base.moved(S.EXPIRED, now, reason=f"{why}, expiry")
    else:
        moved = base.moved(S.WAITING, now, reason=why)
        return Step(moved, [JoinLine(moved.entry()), _record(moved)])
    return Step(moved, [_record(moved)])


def _unanswered(callback: Callback, event: Unanswered, policy: CallbackPolicy, now: float) -> Step:
    outcomes = (*callback.outcomes, event.outcome.value)
    commands: list[Command] = [_attempt(callback, event.outcome.value)]
    if event.outcome is DialOutcome.MACHINE and policy.machine_message:
        commands.append(LeaveMessage(callback.id, callback.queue, callback.call_id))
    if callback.agent is not None:
        commands.append(FreeAgent(callback.agent))  # the agent is released at once
    elif callback.mode == "customer-first":
        commands.append(LeaveLine(callback.id, event.outcome.value))
    base = callback.moved(callback.state, now, agent=None, outcomes=outcomes)
    if event.outcome is DialOutcome.INVALID:
        moved = base.moved(S.FAILED, now, reason=f"number invalid (cause {event.cause})")
        return Step(moved, [*commands, _record(moved, outcome=event.outcome.value)])
    retry_at = now + policy.retry.delay(event.outcome)
    tally = ", ".join(outcomes)
    if callback.attempts >= policy.retry.max_attempts:
        moved = base.moved(S.EXPIRED, now, reason=f"out of attempts ({tally})")
    elif retry_at >= callback.expires_at:
        moved = base.moved(S.EXPIRED, now, reason=f"expiry before the next attempt ({tally})")
    else:
        moved = base.moved(S.RETRY_WAIT, now, not_before=retry_at, reason=event.outcome.value)
        return Step(
            moved, [*commands, _record(moved, outcome=event.outcome.value, retry_at=retry_at)]
        )
    return Step(moved, [*commands, _record(moved, outcome=event.outcome.value)])


def _expire(callback: Callback, why: str, now: float) -> Step:
    commands: list[Command] = []
    if callback.state is S.WAITING:
        commands.append(LeaveLine(callback.id, "expired"))
    moved = callback.moved(S.EXPIRED, now, reason=why)
    return Step(moved, [*commands, _record(moved)])


def _cancel(callback: Callback, why: str, now: float) -> Step:
    commands: list[Command] = []
    if callback.state in (S.WAITING, S.RESERVED) or (
        callback.state is S.DIALING and callback.agent is None
    ):
        commands.append(LeaveLine(callback.id, "cancelled"))
    if callback.state in (S.DIALING, S.CONNECTED):
        commands.append(HangUp(callback.id))
    if callback.agent is not None:
        commands.append(FreeAgent(callback.agent))
    moved = callback.moved(S.CANCELLED, now, reason=f"cancelled: {why}", agent=None)
    return Step(moved, [*commands, _record(moved)])


def _record(callback: Callback, reason: str | None = None, **extra: Any) -> Record:
    data = _data(callback, reason=reason or callback.reason, **extra)
    return Record(callback, f"callback.{callback.state.value}", data)


def _data(callback: Callback, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "callback": callback.id,
        "queue": callback.queue,
        "state": callback.state.value,
        "attempts": callback.attempts,
    }
    for key, value in extra.items():
        data[key] = round(value, 3) if isinstance(value, float) and math.isfinite(value) else value
    return data


__all__ = [
    "HORIZON_DAYS",
    "RECHECK",
    "AgentAnswered",
    "AgentRingOver",
    "AgentUnanswered",
    "Answered",
    "Bridge",
    "Cancel",
    "Command",
    "Dial",
    "Due",
    "Ended",
    "Event",
    "FreeAgent",
    "HangUp",
    "JoinAsCaller",
    "JoinLine",
    "LeaveLine",
    "LeaveMessage",
    "NoAgent",
    "Record",
    "Reserved",
    "RingAgent",
    "Scheduled",
    "Step",
    "TakeAgent",
    "Tick",
    "Unanswered",
    "Whisper",
    "WrapUp",
    "new_callback",
    "next_opening",
    "next_wakeup",
    "plan_opening",
    "step",
    "window_open",
]
