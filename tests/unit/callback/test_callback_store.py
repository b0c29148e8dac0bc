"""Callbacks in the store: one row each, every transition in the event log with it, and
every live callback found again after the store is closed and reopened (a restart)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from callflow.callback.book import CallbackBook
from callflow.callback.machine import AgentAnswered, Answered, Cancel, Command, Ended, Record
from callflow.callback.model import FINAL, Callback, CallbackPolicy, CallingWindow
from callflow.queue.config import AgentConfig, QueueCenter, QueueConfig
from callflow.queue.routing import Router
from callflow.store import SqliteStore
from callflow.store.schema import FINAL_CALLBACK_STATES

Q = "support"
POLICY = CallbackPolicy(window=CallingWindow(customer_hours=None))
T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC).timestamp()


def _book() -> tuple[Router, CallbackBook]:
    center = QueueCenter.build([AgentConfig("alice", "PJSIP/alice", queues=(Q,))], [QueueConfig(Q)])
    router = Router(center)
    return router, CallbackBook(router, POLICY)


def _keep(store: SqliteStore, commands: list[Command]) -> None:
    """What the live adapter does with each Record: row and event together."""
    for command in commands:
        if isinstance(command, Record):
            store.save_callback(
                command.callback.to_dict(),
                command.kind,
                command.data,
                at=dt.datetime.fromtimestamp(command.callback.updated_at, dt.UTC),
            )


def test_the_store_knows_which_states_are_final() -> None:
    """The store's list of final states is the callback model's."""
    assert set(FINAL_CALLBACK_STATES) == {state.value for state in FINAL}


def test_every_transition_is_a_row_update_and_an_event(tmp_path: Path) -> None:
    """A callback's life: its row follows each state, and each transition is one event of
    kind callback.<state> under the callback's id."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    router, book = _book()
    callback, _, commands = book.request(Q, "+15550100123", T0, joined_at=T0 - 60)
    _keep(store, commands)
    router.login("alice", T0 + 1)
    _keep(store, book.route(T0 + 1)[1])
    _keep(store, book.send(callback.id, AgentAnswered(), T0 + 5))
    _keep(store, book.send(callback.id, Answered(), T0 + 20))
    row = store.load_callback(callback.id)
    assert row is not None and row["state"] == "connected" and row["attempts"] == 1
    _keep(store, book.send(callback.id, Ended("customer"), T0 + 200))
    kinds = [e.kind for e in store.events(call_id=callback.id)]
    assert kinds == [
        "callback.requested",
        "callback.waiting",
        "callback.reserved",
        "callback.dialing",
        "callback.attempt",
        "callback.connected",
        "callback.completed",
    ]
    assert store.load_callback(callback.id)["state"] == "completed"  # type: ignore[index]
    assert store.live_callbacks() == []
    assert store.load_callback("nope") is None
    store.close()


def test_reopening_finds_every_live_callback(tmp_path: Path) -> None:
    """Close the store (or lose the process), reopen it: every callback not yet over is
    there, in request order, and a new book puts them back; over ones are not."""
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    router, book = _book()
    made = []
    for i in range(5):
        callback, _, commands = book.request(Q, f"+1555010000{i}", T0 + i, joined_at=T0 - 100 + i)
        _keep(store, commands)
        made.append(callback)
    _keep(store, book.send(made[1].id, Cancel("customer"), T0 + 10))
    router.login("alice", T0 + 11)
    _keep(store, book.route(T0 + 11)[1])  # made[0]: reserved
    _keep(store, book.send(made[0].id, AgentAnswered(), T0 + 12))  # made[0]: dialing
    store.close()

    again = SqliteStore(path)
    rows = again.live_callbacks()
    assert [r["id"] for r in rows] == [made[0].id, made[2].id, made[3].id, made[4].id]
    assert [r["state"] for r in rows] == ["dialing", "waiting", "waiting", "waiting"]
    assert [Callback.from_dict(r).joined_at for r in rows] == [T0 - 100, T0 - 98, T0 - 97, T0 - 96]
    assert [r["id"] for r in again.live_callbacks(Q)] == [r["id"] for r in rows]
    assert again.live_callbacks("sales") == []
    fresh_router, fresh = _book()
    fresh.restore(rows, T0 + 1000)
    assert [e.id for e in fresh_router.entries(Q)] == [made[2].id, made[3].id, made[4].id]
    assert again.load_callback(made[1].id)["state"] == "cancelled"  # type: ignore[index]
    again.close()


def test_a_row_without_an_event_and_an_update_in_place(tmp_path: Path) -> None:
    """save_callback without a kind writes the row only; saving again updates it."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    _, book = _book()
    callback, _, _ = book.request(Q, "+15550100123", T0)
    assert store.save_callback(callback.to_dict()) is None
    store.save_callback({**callback.to_dict(), "state": "expired"}, "callback.expired", {"x": 1})
    assert store.live_callbacks() == []
    (event,) = store.events(kind="callback.expired")
    assert event.call_id == callback.id and event.data == {"x": 1}
    store.close()


def test_pruning_keeps_the_events_of_live_callbacks(tmp_path: Path) -> None:
    """Old events go, but not those of a callback still waiting."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    _, book = _book()
    _, _, commands = book.request(Q, "+15550100123", T0)
    _keep(store, commands)
    store.append("flow.step", "some-call", {}, at=dt.datetime.fromtimestamp(T0, dt.UTC))
    store.prune(dt.datetime.fromtimestamp(T0 + 86_400 * 30, dt.UTC))
    assert [e.kind for e in store.events()] == ["callback.requested", "callback.waiting"]
    store.close()


def test_events_of_a_callback_asked_from_a_call_carry_that_call(tmp_path: Path) -> None:
    """Asked from a call: its events are logged under that call's id (the KPIs link the
    caller's queue visit to the callback), each naming the callback; pruning keeps them
    while the callback is live."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    _, book = _book()
    callback, _, commands = book.request(Q, "+15550100123", T0, call_id="call-7")
    assert callback.call_id == "call-7"
    _keep(store, commands)
    store.prune(dt.datetime.fromtimestamp(T0 + 86_400 * 30, dt.UTC))
    events = store.events(call_id="call-7")
    assert [e.kind for e in events] == ["callback.requested", "callback.waiting"]
    assert {e.data["callback"] for e in events} == {callback.id}
    assert store.live_callbacks()[0]["call_id"] == "call-7"
    store.close()
