"""The callback state machine: transitions, retries, expiry, calling windows, the opening
planner; every transition recorded."""

from __future__ import annotations

import datetime as dt

import pytest

from callflow.callback.machine import (
    AgentAnswered,
    AgentRingOver,
    AgentUnanswered,
    Answered,
    Bridge,
    Cancel,
    Command,
    Dial,
    Due,
    Ended,
    FreeAgent,
    HangUp,
    JoinAsCaller,
    JoinLine,
    LeaveLine,
    LeaveMessage,
    NoAgent,
    Record,
    Reserved,
    RingAgent,
    Scheduled,
    Step,
    TakeAgent,
    Tick,
    Unanswered,
    WrapUp,
    new_callback,
    next_opening,
    next_wakeup,
    plan_opening,
    step,
    window_open,
)
from callflow.callback.model import (
    Callback,
    CallbackError,
    CallbackPolicy,
    CallbackState,
    CallingWindow,
    DialOutcome,
    RetryPolicy,
)
from callflow.flow.model import Schedule, WeeklyHours
from callflow.flow.schedule import make_span
from callflow.queue.routing import Offer

S = CallbackState
NUMBER = "+15550100123"
# Monday 2026-03-02 12:00 UTC
MONDAY_NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC).timestamp()
NINE_TO_FIVE_UTC = Schedule("UTC", tuple(WeeklyHours(d, 9 * 60, 17 * 60) for d in range(5)))
ANY_TIME = CallbackPolicy(window=CallingWindow(customer_hours=None))


def _records(commands: list[Command]) -> list[str]:
    return [c.kind for c in commands if isinstance(c, Record)]


def _offer(agent: str = "alice", at: float = 0.0) -> Offer:
    return Offer("cb-1", agent, "support", f"PJSIP/{agent}", NUMBER, "callback", at, 15.0)


def _new(
    policy: CallbackPolicy = ANY_TIME, now: float = MONDAY_NOON, tz: str | None = None
) -> Step:
    return new_callback(
        id="cb-1",
        queue="support",
        number=NUMBER,
        now=now,
        policy=policy,
        joined_at=now - 100.0,
        priority=2,
        skills={"french": 2},
        customer_tz=tz,
    )


def _run(callback: Callback, policy: CallbackPolicy, *events: tuple[object, float]) -> Step:
    commands: list[Command] = []
    for event, now in events:
        moved = step(callback, event, policy, now)  # type: ignore[arg-type]
        callback = moved.callback
        commands += moved.commands
    return Step(callback, commands)


def test_a_request_while_open_goes_in_line_at_the_callers_place() -> None:
    """Requested while open: in line at once, with the caller's original join time,
    priority and skills; requested and waiting are both recorded."""
    found = _new()
    assert found.callback.state is S.WAITING
    assert _records(found.commands) == ["callback.requested", "callback.waiting"]
    requested = found.commands[0]
    assert isinstance(requested, Record)
    assert requested.data["number"] == NUMBER and requested.data["queue"] == "support"
    (join,) = [c for c in found.commands if isinstance(c, JoinLine)]
    assert join.entry.kind == "callback" and join.entry.id == "cb-1"
    assert join.entry.joined_at == MONDAY_NOON - 100.0
    assert join.entry.priority == 2 and dict(join.entry.skills) == {"french": 2}
    assert join.entry.caller == NUMBER
    assert found.callback.expires_at == MONDAY_NOON + 86_400.0


def test_agent_first_reserves_whispers_dials_and_bridges() -> None:
    """Agent-first: reserved agent rung with a whisper (who, queue, wait), then the customer
    dialled with the agent on the line, then bridged; the agent wraps up after."""
    t = MONDAY_NOON
    first = _new()
    done = _run(
        first.callback,
        ANY_TIME,
        (Reserved(_offer(at=t + 10)), t + 10),
        (AgentAnswered(), t + 14),
        (Answered(), t + 30),
        (Ended("customer"), t + 300),
    )
    assert done.callback.state is S.COMPLETED and done.callback.reason == "customer"
    kinds = [type(c).__name__ for c in done.commands if not isinstance(c, Record)]
    assert kinds == ["RingAgent", "TakeAgent", "Dial", "Bridge", "WrapUp"]
    ring = next(c for c in done.commands if isinstance(c, RingAgent))
    assert ring.whisper.number == NUMBER and ring.whisper.queue == "support"
    assert ring.whisper.waited == 110.0  # since the caller first joined
    dial = next(c for c in done.commands if isinstance(c, Dial))
    assert (dial.number, dial.attempt, dial.agent) == (NUMBER, 1, "alice")
    assert next(c for c in done.commands if isinstance(c, Bridge)).agent == "alice"
    assert _records(done.commands) == [
        "callback.reserved",
        "callback.dialing",
        "callback.attempt",
        "callback.connected",
        "callback.completed",
    ]
    connected = next(
        c for c in done.commands if isinstance(c, Record) and c.kind == "callback.connected"
    )
    assert connected.data["callback_wait"] == 30.0


def test_an_agent_who_does_not_answer_leaves_the_callback_its_place() -> None:
    """Agent-first: the reserved agent's ring ends unanswered; back to waiting, in line."""
    found = _run(
        _new().callback, ANY_TIME, (Reserved(_offer()), MONDAY_NOON), (AgentUnanswered(), 1e9)
    )
    assert found.callback.state is S.WAITING and found.callback.agent is None
    assert AgentRingOver("cb-1", "no_answer") in found.commands


def test_customer_first_dials_then_the_customer_takes_their_place_as_a_caller() -> None:
    """Customer-first: due -> dial without an agent; answered -> the placeholder gives its
    place to the customer, a live caller with the original join time and priority."""
    policy = CallbackPolicy(mode="customer-first", window=CallingWindow(customer_hours=None))
    first = _new(policy)
    assert first.callback.mode == "customer-first"
    (join,) = [c for c in first.commands if isinstance(c, JoinLine)]
    assert join.entry.callback_mode == "customer-first"
    done = _run(first.callback, policy, (Due(), MONDAY_NOON + 5), (Answered(), MONDAY_NOON + 20))
    dial = next(c for c in done.commands if isinstance(c, Dial))
    assert dial.agent is None
    assert LeaveLine("cb-1", "answered") in done.commands
    live = next(c for c in done.commands if isinstance(c, JoinAsCaller)).entry
    assert live.kind == "caller" and live.joined_at == MONDAY_NOON - 100.0 and live.priority == 2
    assert done.callback.state is S.CONNECTED


def test_customer_first_no_agent_within_the_wait_goes_back_in_line_then_expires() -> None:
    """customer_wait 60 s, then requeue: the customer in line is told the limit
    (JoinAsCaller carries it); no agent within it: the placeholder goes back in line at its
    original place and is dialled again at its turn; the second time, out of attempts,
    it expires with the reason. With ``end``, the first time expires it."""
    policy = CallbackPolicy(
        mode="customer-first",
        window=CallingWindow(customer_hours=None),
        retry=RetryPolicy(2),
        customer_wait=60.0,
    )
    t = MONDAY_NOON
    once = _run(_new(policy).callback, policy, (Due(), t), (Answered(), t + 20))
    (join,) = [c for c in once.commands if isinstance(c, JoinAsCaller)]
    assert join.wait_limit == 60.0
    again = step(once.callback, NoAgent(), policy, t + 85)
    assert again.callback.state is S.WAITING and again.callback.reason == "no agent within 60 s"
    (line,) = [c for c in again.commands if isinstance(c, JoinLine)]
    assert line.entry.kind == "callback" and line.entry.joined_at == t - 100.0
    assert _records(again.commands) == ["callback.waiting"]
    events = [(Due(), t + 90), (Answered(), t + 100), (NoAgent(), t + 160)]
    last = _run(again.callback, policy, *events)
    assert last.callback.state is S.EXPIRED and last.callback.attempts == 2
    assert last.callback.reason == "no agent within 60 s, out of attempts"
    assert last.callback.outcomes == ("no_agent", "no_agent")
    ending = CallbackPolicy(
        mode="customer-first",
        window=CallingWindow(customer_hours=None),
        customer_wait=30.0,
        customer_wait_then="end",
    )
    ended = step(once.callback, NoAgent(), ending, t + 60)
    assert ended.callback.state is S.EXPIRED and ended.callback.reason == "no agent within 30 s"
    with pytest.raises(CallbackError):  # agent-first: the agent is on the line already
        step(once.callback.moved(S.CONNECTED, t, agent="alice"), NoAgent(), policy, t)


def test_no_answer_then_busy_then_answered_on_the_third_attempt() -> None:
    """Each unanswered attempt waits its outcome's delay, back in line at its old place;
    the agent is released at once each time."""
    policy = CallbackPolicy(
        window=CallingWindow(customer_hours=None),
        retry=RetryPolicy(3, {DialOutcome.NO_ANSWER: 600.0, DialOutcome.BUSY: 120.0}),
    )
    t = MONDAY_NOON
    callback = _new(policy).callback
    everything: list[Command] = []
    found = _run(
        callback,
        policy,
        (Reserved(_offer()), t),
        (AgentAnswered(), t + 5),
        (Unanswered(DialOutcome.NO_ANSWER), t + 30),
    )
    everything += found.commands
    assert found.callback.state is S.RETRY_WAIT and found.callback.not_before == t + 630
    assert FreeAgent("alice") in found.commands
    assert next_wakeup(found.callback, t + 31) == t + 630
    early = step(found.callback, Tick(), policy, t + 629)
    assert early.callback.state is S.RETRY_WAIT and not early.commands
    found = _run(
        found.callback,
        policy,
        (Tick(), t + 630),
        (Reserved(_offer()), t + 631),
        (AgentAnswered(), t + 632),
        (Unanswered(DialOutcome.BUSY), t + 640),
    )
    everything += found.commands
    join = next(c for c in found.commands if isinstance(c, JoinLine))
    assert join.entry.joined_at == t - 100.0  # its original place
    assert found.callback.not_before == t + 760
    found = _run(
        found.callback,
        policy,
        (Tick(), t + 760),
        (Reserved(_offer()), t + 761),
        (AgentAnswered(), t + 762),
        (Answered(), t + 770),
    )
    everything += found.commands
    assert found.callback.state is S.CONNECTED and found.callback.attempts == 3
    assert found.callback.outcomes == ("no_answer", "busy")
    attempts = [
        (c.data["attempt"], c.data["result"])
        for c in everything
        if isinstance(c, Record) and c.kind == "callback.attempt"
    ]
    assert attempts == [(1, "no_answer"), (2, "busy"), (3, "answered")]


def test_a_machine_on_every_attempt_expires_with_the_reason() -> None:
    """A machine every time: a message each time (if the policy says so), then expired,
    out of attempts, the outcomes named."""
    policy = CallbackPolicy(
        mode="customer-first",
        window=CallingWindow(customer_hours=None),
        retry=RetryPolicy(2, {DialOutcome.MACHINE: 60.0}),
        machine_message=True,
    )
    t = MONDAY_NOON
    found = _run(
        _new(policy).callback,
        policy,
        (Due(), t),
        (Unanswered(DialOutcome.MACHINE), t + 20),
        (Tick(), t + 80),
        (Due(), t + 81),
        (Unanswered(DialOutcome.MACHINE), t + 100),
    )
    assert found.callback.state is S.EXPIRED
    assert found.callback.reason == "out of attempts (machine, machine)"
    assert sum(isinstance(c, LeaveMessage) for c in found.commands) == 2
    assert _records(found.commands)[-1] == "callback.expired"
    assert step(found.callback, Tick(), policy, t + 1e6).commands == []  # final stays final


def test_the_machine_message_is_logged_under_the_call_the_callback_was_asked_from() -> None:
    """``callback.message`` goes in the event log beside the callback's other events: under
    the caller's call id, not the callback's own id."""
    policy = CallbackPolicy(
        mode="customer-first",
        window=CallingWindow(customer_hours=None),
        retry=RetryPolicy(1, {}),
        machine_message=True,
    )
    t = MONDAY_NOON
    made = new_callback(
        id="cb-9", queue="support", number=NUMBER, now=t, policy=policy, call_id="call-42"
    )
    found = _run(made.callback, policy, (Due(), t), (Unanswered(DialOutcome.MACHINE), t + 20))
    [message] = [c for c in found.commands if isinstance(c, LeaveMessage)]
    assert (message.callback_id, message.queue, message.call_id) == ("cb-9", "support", "call-42")
    assert found.callback.state is S.EXPIRED  # the last attempt: no live callback is left


def test_an_invalid_number_fails_at_once() -> None:
    """A number that does not exist is not tried again."""
    found = _run(
        _new().callback,
        ANY_TIME,
        (Reserved(_offer()), MONDAY_NOON),
        (AgentAnswered(), MONDAY_NOON + 1),
        (Unanswered(DialOutcome.INVALID, 1), MONDAY_NOON + 2),
    )
    assert found.callback.state is S.FAILED and "cause 1" in found.callback.reason
    assert FreeAgent("alice") in found.commands


def test_expiry_while_waiting_and_before_a_retry() -> None:
    """Past its expiry a waiting callback leaves the line; a retry that would come after
    the expiry is not waited for."""
    policy = CallbackPolicy(expiry=3600.0, window=CallingWindow(customer_hours=None))
    first = _new(policy)
    assert next_wakeup(first.callback, MONDAY_NOON) == MONDAY_NOON + 3600
    gone = step(first.callback, Tick(), policy, MONDAY_NOON + 3600)
    assert gone.callback.state is S.EXPIRED and gone.callback.reason == "expiry"
    assert LeaveLine("cb-1", "expired") in gone.commands
    late = _run(
        first.callback,
        policy,
        (Due(), MONDAY_NOON + 3000),
        (Unanswered(DialOutcome.NO_ANSWER), MONDAY_NOON + 3030),
    )
    assert late.callback.state is S.EXPIRED
    assert late.callback.reason == "expiry before the next attempt (no_answer)"


def test_cancel_from_each_live_state() -> None:
    """Cancelled: out of line, the customer's call hung up, the agent freed."""
    waiting = step(_new().callback, Cancel("api"), ANY_TIME, MONDAY_NOON)
    assert waiting.callback.state is S.CANCELLED
    assert waiting.commands[0] == LeaveLine("cb-1", "cancelled")
    dialing = _run(
        _new().callback,
        ANY_TIME,
        (Reserved(_offer()), MONDAY_NOON),
        (AgentAnswered(), MONDAY_NOON + 1),
        (Cancel("agent"), MONDAY_NOON + 2),
    )
    assert HangUp("cb-1") in dialing.commands and FreeAgent("alice") in dialing.commands
    assert dialing.callback.reason == "cancelled: agent"


def test_events_that_do_not_apply_are_errors() -> None:
    """An event the state has no transition for is a CallbackError, not a silent change."""
    with pytest.raises(CallbackError, match="Answered does not apply in state waiting"):
        step(_new().callback, Answered(), ANY_TIME, MONDAY_NOON)


def test_requested_while_closed_waits_for_its_slot_at_the_opening() -> None:
    """Closed: held for the next opening; at the opening it waits for the planner's slot
    (Scheduled), then goes in line at that slot."""
    policy = CallbackPolicy(
        expiry=7 * 86_400.0, window=CallingWindow(NINE_TO_FIVE_UTC, customer_hours=None)
    )
    friday_night = dt.datetime(2026, 3, 6, 20, 0, tzinfo=dt.UTC).timestamp()
    monday_nine = dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC).timestamp()
    first = _new(policy, now=friday_night)
    assert first.callback.state is S.REQUESTED and first.callback.at_opening
    assert first.callback.not_before == monday_nine
    assert not any(isinstance(c, JoinLine) for c in first.commands)
    assert _records(first.commands) == ["callback.requested", "callback.requested"]
    assert step(first.callback, Tick(), policy, monday_nine).commands == []  # needs its slot
    assert next_wakeup(first.callback, monday_nine) == monday_nine + 60
    slotted = _run(
        first.callback, policy, (Scheduled(monday_nine + 600), monday_nine), (Tick(), monday_nine)
    )
    assert slotted.callback.state is S.REQUESTED and not slotted.callback.at_opening
    placed = step(slotted.callback, Tick(), policy, monday_nine + 600)
    assert placed.callback.state is S.WAITING
    assert any(isinstance(c, JoinLine) for c in placed.commands)


def test_the_customers_own_hours_count_when_their_timezone_is_known() -> None:
    """With the customer's timezone known, nobody is called outside 08:00-21:00 there:
    a callback reaching the front at 22:00 their time leaves the line until 08:00."""
    policy = CallbackPolicy()  # any queue hours, customer 08:00-21:00
    # 2026-03-02 12:00 UTC is 04:00 in Los Angeles (PST).
    early = _new(policy, tz="America/Los_Angeles")
    la_eight = dt.datetime(2026, 3, 2, 16, 0, tzinfo=dt.UTC).timestamp()
    assert early.callback.state is S.REQUESTED and early.callback.not_before == la_eight
    assert _new(policy, tz="Europe/Paris").callback.state is S.WAITING  # 13:00 in Paris
    waiting = _new(policy, tz="Europe/Paris").callback
    paris_ten_pm = dt.datetime(2026, 3, 2, 21, 0, tzinfo=dt.UTC).timestamp()
    late = step(waiting, Reserved(_offer()), policy, paris_ten_pm)
    assert late.callback.state is S.REQUESTED
    assert LeaveLine("cb-1", "window closed") in late.commands
    paris_eight = dt.datetime(2026, 3, 3, 7, 0, tzinfo=dt.UTC).timestamp()
    assert late.callback.not_before == paris_eight


def test_next_opening_over_weekends_holidays_and_dst() -> None:
    """The next opening skips the weekend and a holiday, and follows the local clock
    across a daylight-saving change."""
    window = CallingWindow(NINE_TO_FIVE_UTC, customer_hours=None)
    friday_six = dt.datetime(2026, 3, 6, 18, 0, tzinfo=dt.UTC).timestamp()
    monday_nine = dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC).timestamp()
    assert next_opening(window, None, friday_six) == monday_nine
    assert next_opening(window, None, monday_nine) == monday_nine  # open: now
    holiday = Schedule(
        "UTC", NINE_TO_FIVE_UTC.weekly, holidays=(make_span(dt.date(2026, 3, 9), name="x"),)
    )
    tuesday_nine = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC).timestamp()
    assert next_opening(CallingWindow(holiday, None), None, friday_six) == tuesday_nine
    new_york = Schedule("America/New_York", NINE_TO_FIVE_UTC.weekly)
    # US DST starts Sunday 2026-03-08: Monday 09:00 EDT is 13:00 UTC (it was 14:00 before).
    edt_nine = dt.datetime(2026, 3, 9, 13, 0, tzinfo=dt.UTC).timestamp()
    friday_six_in_new_york = dt.datetime(2026, 3, 6, 23, 0, tzinfo=dt.UTC).timestamp()
    assert next_opening(CallingWindow(new_york, None), None, friday_six_in_new_york) == edt_nine
    never = Schedule("UTC", ())
    assert next_opening(CallingWindow(never, None), None, friday_six) is None
    assert not window_open(CallingWindow(never, None), None, friday_six)


def test_a_window_that_never_opens_before_expiry_expires_the_callback() -> None:
    """No calling window before the expiry: expired at once, saying why."""
    policy = CallbackPolicy(expiry=3600.0, window=CallingWindow(NINE_TO_FIVE_UTC, None))
    friday_night = dt.datetime(2026, 3, 6, 20, 0, tzinfo=dt.UTC).timestamp()
    found = _new(policy, now=friday_night)
    assert found.callback.state is S.EXPIRED
    assert found.callback.reason == "no calling window before expiry"


def _pending(n: int) -> list[Callback]:
    return [
        _new(now=MONDAY_NOON + (n - i)).callback.moved(S.REQUESTED, 0.0)
        for i in range(n)  # requested in reverse order of creation here
    ]


def test_plan_spreads_in_request_order_over_the_spread() -> None:
    """Ten callbacks and plenty of agents: one every 9 minutes over 90, oldest first."""
    pending = [c.__class__(**{**c.__dict__, "id": f"cb-{i}"}) for i, c in enumerate(_pending(10))]
    plan = plan_opening(pending, 1000.0, agents=20, policy=CallbackPolicy())
    order = sorted(pending, key=lambda c: c.requested_at)
    assert [plan[c.id] for c in order] == [1000.0 + i * 540.0 for i in range(10)]


def test_plan_never_goes_faster_than_the_agents_take_them() -> None:
    """Few agents: the gap is their handle time over their number, past the 90 minutes
    if need be; nobody logged in: nobody placed."""
    pending = [c.__class__(**{**c.__dict__, "id": f"cb-{i}"}) for i, c in enumerate(_pending(60))]
    policy = CallbackPolicy(handle_time=300.0)
    plan = plan_opening(pending, 0.0, agents=2, policy=policy)
    times = sorted(plan.values())
    assert times[1] - times[0] == 150.0 and times[-1] == 59 * 150.0 > 5400.0
    assert plan_opening(pending, 0.0, agents=0, policy=policy) == {}


def test_a_callback_round_trips_through_its_row() -> None:
    """to_dict -> from_dict gives the same callback; a broken row is a CallbackError."""
    callback = _run(
        _new().callback,
        ANY_TIME,
        (Due(), MONDAY_NOON),
        (Unanswered(DialOutcome.BUSY), MONDAY_NOON + 10),
    ).callback
    assert Callback.from_dict(callback.to_dict()) == callback
    with pytest.raises(CallbackError, match="cannot be read"):
        Callback.from_dict({**callback.to_dict(), "state": "flying"})
    with pytest.raises(CallbackError, match="cannot be read"):
        Callback.from_dict({"id": "x"})


def test_policies_refuse_nonsense() -> None:
    """A policy with no attempt, negative delays, or an unknown mode is refused."""
    with pytest.raises(ValueError):
        RetryPolicy(0)
    with pytest.raises(ValueError):
        RetryPolicy(2, {DialOutcome.BUSY: -1.0})
    with pytest.raises(ValueError):
        CallbackPolicy(mode="robot-first")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CallingWindow(customer_hours=(21 * 60, 8 * 60))


def test_wrapup_only_for_agent_first() -> None:
    """A customer-first callback's conversation is its QueueCaller's: no wrap-up here."""
    policy = CallbackPolicy(mode="customer-first", window=CallingWindow(customer_hours=None))
    found = _run(
        _new(policy).callback,
        policy,
        (Due(), MONDAY_NOON),
        (Answered(), MONDAY_NOON + 10),
        (Ended("answered"), MONDAY_NOON + 100),
    )
    assert found.callback.state is S.COMPLETED
    assert not any(isinstance(c, WrapUp | TakeAgent) for c in found.commands)
