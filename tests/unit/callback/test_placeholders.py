"""Callback placeholders in the Router: they keep the caller's place, count in live
callers' positions, and at the front either reserve an agent (agent-first) or come due
(customer-first)."""

from __future__ import annotations

import json

import pytest

from callflow.queue.agents import AgentState
from callflow.queue.caller import QueueCaller, Record
from callflow.queue.config import (
    JOIN_WORDS,
    AgentConfig,
    AnnounceConfig,
    QueueCenter,
    QueueConfig,
    Strategy,
)
from callflow.queue.estimate import CalibratedPredictor
from callflow.queue.routing import BadEntry, CallbackMode, QueueEntry, Router

Q = "support"


def _router(*agents: str, queue: QueueConfig | None = None, login: bool = True) -> Router:
    queue = queue or QueueConfig(Q)
    center = QueueCenter.build([AgentConfig(a, f"PJSIP/{a}", queues=(Q,)) for a in agents], [queue])
    router = Router(center)
    for agent in agents if login else ():
        router.login(agent, 0.0)
    return router


def _placeholder(
    id: str, joined_at: float, mode: CallbackMode = "agent-first", priority: int | None = None
) -> QueueEntry:
    return QueueEntry(
        id, Q, "+15550100123", priority, joined_at=joined_at, kind="callback", callback_mode=mode
    )


def _caller(id: str, joined_at: float) -> QueueEntry:
    return QueueEntry(id, Q, f"+1555{id}", joined_at=joined_at)


def test_agent_first_placeholder_at_the_front_reserves_the_agent() -> None:
    """Agent-first: the placeholder gets an offer of kind callback; the agent is marked
    ringing (reserved) and the live caller behind waits, counting the placeholder."""
    router = _router("alice", login=False)
    router.join(_placeholder("cb", 0.0), 0.0)
    router.join(_caller("live", 10.0), 10.0)
    assert router.position("live") == 2
    router.login("alice", 20.0)
    routing = router.route(20.0)
    assert [(o.entry_id, o.kind, o.agent) for o in routing.offers] == [("cb", "callback", "alice")]
    assert routing.due == []
    assert router.agent("alice").state is AgentState.RINGING
    router.ring_ended(routing.offers[0], "answered", 25.0)
    assert router.entry("cb") is None and router.position("live") == 1


def test_customer_first_placeholder_comes_due_and_holds_its_place() -> None:
    """Customer-first: at the front with an agent free, the Router says "due"; no agent is
    reserved, the agent it would have had goes to nobody else that round, it is not due
    twice, and live callers behind still count it until it leaves."""
    router = _router("alice", login=False)
    router.join(_placeholder("cb", 0.0, "customer-first"), 0.0)
    router.join(_caller("live", 10.0), 10.0)
    router.login("alice", 20.0)
    routing = router.route(20.0)
    assert routing.offers == []
    assert [(d.entry_id, d.agent, d.caller) for d in routing.due] == [
        ("cb", "alice", "+15550100123")
    ]
    assert router.agent("alice").state is AgentState.AVAILABLE
    assert router.dialing("cb") and router.position("live") == 2
    again = router.route(21.0)  # the customer is being called: the next round is the caller's
    assert again.due == [] and [o.entry_id for o in again.offers] == ["live"]
    router.leave("cb", 30.0, "callback")
    assert not router.dialing("cb") and router.position("live") == 1


def test_customer_first_takes_one_agent_of_the_round() -> None:
    """With two agents free, a due customer-first placeholder leaves one to the caller
    behind it and counts on the other."""
    router = _router("alice", "bob")
    router.join(_placeholder("cb", 0.0, "customer-first"), 0.0)
    router.join(_caller("live", 1.0), 1.0)
    router.join(_caller("late", 2.0), 2.0)
    routing = router.route(3.0)
    assert [d.entry_id for d in routing.due] == ["cb"]
    assert [o.entry_id for o in routing.offers] == ["live"]


def test_offers_passes_customer_first_placeholders_over() -> None:
    """offers() (a driver that dials no callback) never marks a customer-first placeholder
    as due; agent-first ones are offered like callers."""
    router = _router("alice")
    router.join(_placeholder("cb", 0.0, "customer-first"), 0.0)
    router.join(_caller("live", 1.0), 1.0)
    assert [o.entry_id for o in router.offers(2.0)] == ["live"]
    assert not router.dialing("cb")


def test_placeholders_order_by_priority_and_original_join_time() -> None:
    """A placeholder rejoining (a retry) with its original join time is back at its place."""
    router = _router("alice", login=False)
    router.join(_caller("a", 5.0), 5.0)
    router.join(_caller("b", 50.0), 50.0)
    router.join(_placeholder("cb", 10.0), 400.0)
    assert [e.id for e in router.entries(Q)] == ["a", "cb", "b"]
    router.join(_placeholder("vip", 500.0, priority=5), 500.0)
    assert router.position("vip") == 1 and router.position("b") == 4


def test_placeholders_are_never_refused() -> None:
    """A full queue or one empty by join_when_empty refuses callers, never a placeholder:
    its place was promised."""
    queue = QueueConfig(Q, max_callers=1, join_when_empty=JOIN_WORDS["strict"])
    router = _router("alice", queue=queue, login=False)
    assert router.join(_caller("a", 0.0), 0.0).refused == "empty"
    assert router.join(_placeholder("cb", 0.0), 0.0).joined
    assert router.join(_caller("b", 1.0), 1.0).refused == "full"
    assert router.join(_placeholder("cb2", 1.0, "customer-first"), 1.0).joined
    assert router.timeouts(1e9) == [] and router.empty_leavers(1e9) == []


def test_callback_mode_round_trips_and_is_checked() -> None:
    """The placeholder's mode is stored with the entry; an unknown mode is a BadEntry."""
    entry = _placeholder("cb", 3.0, "customer-first")
    assert QueueEntry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry
    old = {k: v for k, v in entry.to_dict().items() if k != "callback_mode"}
    assert QueueEntry.from_dict(old).callback_mode == "agent-first"  # rows written before
    with pytest.raises(BadEntry, match="callback_mode"):
        QueueEntry.from_dict({**entry.to_dict(), "callback_mode": "robot-first"})


def test_a_callback_reserves_one_agent_even_with_ring_all() -> None:
    """Ring-all rings every free agent for a caller, but reserves one for a callback."""
    router = _router("alice", "bob", queue=QueueConfig(Q, strategy=Strategy.RING_ALL))
    router.join(_placeholder("cb", 0.0), 0.0)
    router.join(_caller("live", 1.0), 1.0)
    offers = router.route(2.0).offers
    assert sorted((o.entry_id, o.agent) for o in offers) == [("cb", "alice"), ("live", "bob")]


def test_a_live_callers_announced_position_counts_the_placeholder_ahead() -> None:
    """A caller joining behind a callback placeholder is told position 2, not 1."""
    queue = QueueConfig(Q, announce=AnnounceConfig(frequency=30.0))
    router = _router("alice", queue=queue)
    router.pause("alice", 0.0, "lunch")  # serving, but not free: callers hear a wait
    router.join(_placeholder("cb", 0.0), 0.0)
    caller = QueueCaller(_caller("live", 5.0), queue, router, CalibratedPredictor(), 1)
    records = {c.kind: c.data for c in caller.join(5.0) if isinstance(c, Record)}
    assert records["queue.enter"]["position"] == 2
    assert records["queue.announce"]["position"] == 2
