"""The callback book against the Router: dedupe, agent-first and customer-first rounds,
the opening plan, and taking callbacks back after a restart."""

from __future__ import annotations

import datetime as dt

from callflow.callback.book import CallbackBook
from callflow.callback.machine import (
    RECHECK,
    AgentAnswered,
    Answered,
    Cancel,
    Command,
    Dial,
    FreeAgent,
    JoinAsCaller,
    Record,
    RingAgent,
    Unanswered,
)
from callflow.callback.model import CallbackPolicy, CallbackState, CallingWindow, DialOutcome
from callflow.flow.model import Schedule, WeeklyHours
from callflow.queue.agents import AgentState
from callflow.queue.config import AgentConfig, QueueCenter, QueueConfig
from callflow.queue.routing import QueueEntry, Router

Q = "support"
ANY_TIME = CallbackPolicy(window=CallingWindow(customer_hours=None))
CUSTOMER_FIRST = CallbackPolicy(mode="customer-first", window=CallingWindow(customer_hours=None))


def _router(*agents: str, login: bool = True) -> Router:
    center = QueueCenter.build(
        [AgentConfig(a, f"PJSIP/{a}", queues=(Q,)) for a in agents],
        [QueueConfig(Q), QueueConfig("sales")],
    )
    router = Router(center)
    for agent in agents if login else ():
        router.login(agent, 0.0)
    return router


def _of(kind: type, commands: list[Command]) -> list[Command]:
    return [c for c in commands if isinstance(c, kind)]


def test_the_same_number_asking_twice_gets_one_callback() -> None:
    """Same number, same queue, while live: the existing callback, no new commands; in
    another queue, or once the first is over, a new one."""
    book = CallbackBook(_router("alice", login=False), ANY_TIME)
    first, created, commands = book.request(Q, "+15550100123", 0.0)
    assert created and commands
    again, created, commands = book.request(Q, "+15550100123", 5.0, joined_at=1.0)
    assert again == first and not created and commands == []
    assert book.request("sales", "+15550100123", 6.0)[1]
    book.send(first.id, Cancel("customer"), 7.0)
    assert book.get(first.id) is None
    assert book.request(Q, "+15550100123", 8.0)[1]


def test_agent_first_through_the_router() -> None:
    """The placeholder keeps the caller's place; at the front the agent is reserved and
    rung with a whisper; the customer not answering frees the agent at once, and the live
    caller behind gets them."""
    router = _router("alice", login=False)
    book = CallbackBook(router, ANY_TIME)
    callback, _, _ = book.request(Q, "+15550100123", 100.0, joined_at=0.0)
    router.join(QueueEntry("live", Q, "+15550000001", joined_at=50.0), 50.0)
    assert router.position("live") == 2
    router.login("alice", 200.0)
    offers, commands = book.route(200.0)
    assert offers == []
    (ring,) = _of(RingAgent, commands)
    assert ring.whisper.waited == 200.0  # type: ignore[union-attr]
    assert book.get(callback.id).state is CallbackState.RESERVED  # type: ignore[union-attr]
    commands = book.send(callback.id, AgentAnswered(), 205.0)
    assert router.agent("alice").state is AgentState.ON_CALL
    assert router.entry(callback.id) is None and router.position("live") == 1
    assert _of(Dial, commands)
    commands = book.send(callback.id, Unanswered(DialOutcome.NO_ANSWER), 230.0)
    assert _of(FreeAgent, commands) and router.agent("alice").state is AgentState.AVAILABLE
    offers, _ = book.route(231.0)
    assert [o.entry_id for o in offers] == ["live"]


def test_customer_first_through_the_router() -> None:
    """Customer-first: due, dialled, answered: the customer goes in line as a caller at
    the placeholder's place. The agent the Router found is held for the whole dial (not
    one round only): a caller who joins meanwhile is offered nobody, until the answered
    customer joins the line and gets that agent first."""
    router = _router("alice")
    book = CallbackBook(router, CUSTOMER_FIRST)
    callback, _, _ = book.request(Q, "+15550100123", 10.0, joined_at=0.0)
    offers, commands = book.route(10.0)
    assert offers == [] and _of(Dial, commands)
    router.join(QueueEntry("live", Q, "+15550000001", joined_at=12.0), 12.0)
    for now in (12.0, 15.0, 19.0):  # round after round while the customer's phone rings
        assert book.route(now) == ([], [])
        assert router.agent("alice").state is AgentState.RINGING
    commands = book.send(callback.id, Answered(), 20.0)
    (join,) = _of(JoinAsCaller, commands)
    assert router.entry(callback.id) is None
    assert book.route(20.5)[0] == []  # "returning your call" plays: still held
    book.in_line(callback.id, 21.0)
    router.join(join.entry, 21.0)  # type: ignore[union-attr]
    assert [o.entry_id for o in router.offers(21.0)] == [callback.id]


def test_customer_first_the_held_agent_is_freed_when_the_dial_fails() -> None:
    """The customer does not answer: the agent held for the dial is free at once, and the
    live caller behind gets them."""
    router = _router("alice")
    book = CallbackBook(router, CUSTOMER_FIRST)
    callback, _, _ = book.request(Q, "+15550100123", 10.0, joined_at=0.0)
    book.route(10.0)
    router.join(QueueEntry("live", Q, "+15550000001", joined_at=12.0), 12.0)
    book.send(callback.id, Unanswered(DialOutcome.BUSY), 15.0)
    assert router.agent("alice").state is AgentState.AVAILABLE
    assert [o.entry_id for o in book.route(15.0)[0]] == ["live"]


def test_requested_while_closed_are_placed_after_opening_spread_and_in_order() -> None:
    """Three callbacks asked for overnight: none in line before 09:00; then one by one, in
    request order, spread over the first 90 minutes."""
    hours = Schedule("UTC", tuple(WeeklyHours(d, 9 * 60, 17 * 60) for d in range(7)))
    policy = CallbackPolicy(window=CallingWindow(hours, customer_hours=None))
    router = _router("alice", "bob", login=False)
    book = CallbackBook(router, policy)
    night = dt.datetime(2026, 3, 2, 22, 0, tzinfo=dt.UTC).timestamp()
    nine = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC).timestamp()
    for i, number in enumerate(["+15550100001", "+15550100002", "+15550100003"]):
        book.request(Q, number, night + i * 60)
    assert router.entries(Q) == [] and book.next_wakeup(night) == nine
    assert book.tick(nine) == [] or router.entries(Q) == []  # nobody logged in: no slots
    router.login("alice", nine + 1)
    placed: list[tuple[float, str]] = []
    now = nine + 1
    while len(placed) < 3:
        for command in book.tick(now):
            if isinstance(command, Record) and command.kind == "callback.waiting":
                placed.append((now, command.callback.number))
        wake = book.next_wakeup(now)
        assert wake is not None
        now = max(wake, now + 1)
    assert [n for _, n in placed] == ["+15550100001", "+15550100002", "+15550100003"]
    assert [round(t - placed[0][0]) for t, _ in placed] == [0, 1800, 3600]


def test_a_driver_that_ticks_only_when_woken_places_them_at_the_opening() -> None:
    """As the live scheduler drives the book (tick only once next_wakeup has come): the
    held callbacks are due at the opening itself, and placed then with agents logged in;
    planned with nobody logged in, they are looked at again RECHECK s later (not pushed
    back for ever), and placed then."""
    hours = Schedule("UTC", tuple(WeeklyHours(d, 9 * 60, 17 * 60) for d in range(7)))
    policy = CallbackPolicy(
        window=CallingWindow(hours, customer_hours=None), opening_spread=60, handle_time=60
    )
    night = dt.datetime(2026, 3, 2, 22, 0, tzinfo=dt.UTC).timestamp()
    nine = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC).timestamp()

    def drive(book: CallbackBook, start: float, until: float) -> list[float]:
        placed, now = [], start
        while now <= until:
            wake = book.next_wakeup(now)
            if wake is None or wake > until:
                break
            now = max(wake, now)
            for command in book.tick(now):
                if isinstance(command, Record) and command.kind == "callback.waiting":
                    placed.append(now)
            now += 0.001
        return placed

    staffed = CallbackBook(_router("alice", "bob"), policy)
    for i in range(2):
        staffed.request(Q, f"+1555010000{i}", night + i)
    assert staffed.next_wakeup(night + 5) == nine
    assert drive(staffed, night + 5, nine + 600) == [nine, nine + 30]
    router = _router("alice", login=False)
    empty = CallbackBook(router, policy)
    empty.request(Q, "+15550100001", night)
    assert drive(empty, night, nine + 10) == []  # planned at 09:00 with nobody: nothing
    assert empty.next_wakeup(nine + 10) == nine + RECHECK
    router.login("alice", nine + 20)
    assert drive(empty, nine + 20, nine + 600) == [nine + RECHECK]


def test_restore_after_a_restart_puts_callbacks_back_at_their_places() -> None:
    """From the store's rows, a new book puts waiting (and reserved) callbacks back in line
    at their original places, and keeps dialing ones for reconciling with Asterisk."""
    router = _router("alice", login=False)
    book = CallbackBook(router, ANY_TIME)
    a, _, _ = book.request(Q, "+15550100001", 10.0, joined_at=1.0)
    b, _, _ = book.request(Q, "+15550100002", 11.0, joined_at=2.0)
    c, _, _ = book.request(Q, "+15550100003", 12.0, joined_at=3.0)
    router.login("alice", 13.0)
    book.route(13.0)  # a: reserved
    book.send(a.id, AgentAnswered(), 14.0)  # a: dialing
    rows = [cb.to_dict() for cb in book.live()]
    assert [r["state"] for r in rows] == ["dialing", "waiting", "waiting"]

    fresh_router = _router("alice", login=False)
    fresh = CallbackBook(fresh_router, ANY_TIME)
    commands = fresh.restore(rows, 100.0)
    assert [e.id for e in fresh_router.entries(Q)] == [b.id, c.id]
    assert fresh.get(a.id).state is CallbackState.DIALING  # type: ignore[union-attr]
    assert commands == []  # back in line by the book itself; nothing for the driver
    fresh_router.join(QueueEntry("live", Q, "+15550000009", joined_at=2.5), 100.0)
    assert fresh_router.position("live") == 2  # between b and c, as before
    # Asterisk had no answered channel for a: retried, never twice to a person who answered.
    fresh.send(a.id, Unanswered(DialOutcome.LOST), 101.0)
    assert fresh.get(a.id).state is CallbackState.RETRY_WAIT  # type: ignore[union-attr]


def test_a_placeholder_the_book_does_not_hold_is_taken_out_of_line() -> None:
    """A callback placeholder nobody drives (left over, not restored) never keeps an agent:
    its reservation is cancelled and it leaves the line."""
    router = _router("alice")
    book = CallbackBook(router, ANY_TIME)
    router.join(QueueEntry("stray", Q, "+15550100123", joined_at=0.0, kind="callback"), 0.0)
    router.join(QueueEntry("live", Q, "+15550000001", joined_at=1.0), 1.0)
    offers, commands = book.route(2.0)
    assert commands == [] and router.entry("stray") is None
    assert router.agent("alice").state is AgentState.AVAILABLE
    offers, _ = book.route(2.0)
    assert [o.entry_id for o in offers] == ["live"]


def _dialing_agent_first() -> tuple[Router, CallbackBook, str]:
    router = _router("alice")
    book = CallbackBook(router, ANY_TIME)
    callback, _, _ = book.request(Q, "+15550100123", 0.0)
    book.route(1.0)
    book.send(callback.id, AgentAnswered(), 2.0)
    return router, book, callback.id


def test_reconcile_a_dialing_callback_the_customer_answered() -> None:
    """Caught dialing, the customer's call is up: connected, never dialled again; with the
    agent's leg gone, the customer waits in line as a caller instead."""
    _, book, callback_id = _dialing_agent_first()
    commands = book.reconcile(callback_id, customer_up=True, agent_up=True, now=10.0)
    assert book.get(callback_id).state is CallbackState.CONNECTED  # type: ignore[union-attr]
    assert not _of(Dial, commands) and [type(c).__name__ for c in commands][-1] == "Bridge"
    router, book, callback_id = _dialing_agent_first()
    commands = book.reconcile(callback_id, customer_up=True, agent_up=False, now=10.0)
    assert _of(JoinAsCaller, commands) and _of(FreeAgent, commands)
    assert router.agent("alice").state is AgentState.AVAILABLE


def test_reconcile_a_dialing_callback_nobody_answered() -> None:
    """Caught dialing with no answered call: hung up and retried after the lost delay;
    caught connected with the customer gone: completed as lost."""
    _, book, callback_id = _dialing_agent_first()
    commands = book.reconcile(callback_id, customer_up=False, agent_up=True, now=10.0)
    assert type(commands[0]).__name__ == "HangUp"
    assert book.get(callback_id).state is CallbackState.RETRY_WAIT  # type: ignore[union-attr]
    _, book, callback_id = _dialing_agent_first()
    book.send(callback_id, Answered(), 5.0)
    assert book.reconcile(callback_id, customer_up=True, agent_up=True, now=10.0) == []
    book.reconcile(callback_id, customer_up=False, agent_up=True, now=10.0)
    assert book.get(callback_id) is None  # completed: over
