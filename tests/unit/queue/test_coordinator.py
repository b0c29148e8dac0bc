"""The queue coordinator: the line's decisions behind one async interface (local: the Router)."""

from __future__ import annotations

import random

import pytest

from callflow.queue.agents import AgentState, QueueError
from callflow.queue.config import AgentConfig, Overflow, QueueCenter, QueueConfig, Target
from callflow.queue.coordinator import LocalCoordinator, QueueCoordinator
from callflow.queue.routing import QueueEntry, Router

SUPPORT = QueueConfig("support", max_wait=30, overflow=Overflow(timeout=Target("node", "sorry")))


def coordinator() -> QueueCoordinator:
    center = QueueCenter.build(
        [AgentConfig("alice", "PJSIP/alice", queues=("support",))], [SUPPORT]
    )
    return LocalCoordinator(Router(center, random.Random(1)))


async def test_a_caller_joins_is_offered_and_answered_through_the_coordinator() -> None:
    """Join, an agent's login, the offer and its answer all go through the one interface."""
    line = coordinator()
    decision = await line.join(QueueEntry("c1", "support", "+1555", joined_at=0.0), 0.0)
    assert decision.joined and decision.position == 1
    assert await line.offers(0.0) == []  # nobody logged in
    state, taken_back = await line.change_agent("alice", "login", 1.0)
    assert state is AgentState.AVAILABLE and taken_back == []
    [offer] = await line.offers(1.0)
    assert offer.agent == "alice" and offer.entry_id == "c1"
    assert await line.ring_ended(offer, "answered", 2.0) == []
    assert await line.leave("c1", 2.0, "answered") is None  # already out of line


async def test_a_logout_while_ringing_takes_the_offer_back() -> None:
    """An agent who logs out while their phone rings: the coordinator returns that ring."""
    line = coordinator()
    await line.change_agent("alice", "login", 0.0)
    await line.join(QueueEntry("c1", "support", "+1555", joined_at=0.0), 0.0)
    [offer] = await line.offers(0.0)
    state, taken_back = await line.change_agent("alice", "logout", 1.0)
    assert state is AgentState.LOGGED_OUT and taken_back == [offer]


async def test_time_up_names_the_reason_and_where_to() -> None:
    """A caller past the queue's max_wait is due to leave, for the timeout overflow."""
    line = coordinator()
    await line.join(QueueEntry("c1", "support", "+1555", joined_at=0.0), 0.0)
    assert await line.next_wakeup(0.0) == 30.0
    assert await line.time_up(31.0) == [("c1", "timeout", Target("node", "sorry"))]


async def test_an_unknown_agent_action_is_refused() -> None:
    """Only login, logout, pause and unpause are agent actions."""
    with pytest.raises(QueueError, match="unknown agent action"):
        await coordinator().change_agent("alice", "promote", 0.0)
