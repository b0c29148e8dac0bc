"""Tests for the agent state machine: transitions, auto-pause, wrap-up and counters."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from callflow.queue.agents import (
    RING_NO_ANSWER,
    Agent,
    AgentState,
    AgentStateError,
    QueueError,
)
from callflow.queue.config import AgentConfig


def _agent(max_rna: int = 3) -> Agent:
    agent = Agent("alice", frozenset({"support", "billing"}), max_ring_no_answer=max_rna)
    agent.login(0.0)
    return agent


def test_login_makes_available_and_logout_logs_out() -> None:
    """A logged-out agent logs in available, or paused with a reason, and can log out."""
    agent = Agent("alice")
    assert agent.state is AgentState.LOGGED_OUT
    agent.login(10.0)
    assert (agent.state, agent.since, agent.idle_since) == (AgentState.AVAILABLE, 10.0, 10.0)
    agent.logout(20.0)
    agent.login(30.0, paused="briefing")
    assert (agent.state, agent.pause_reason) == (AgentState.PAUSED, "briefing")


def test_a_full_call_cycle_with_wrapup() -> None:
    """ring -> answered -> call_ended goes to wrap-up until now + wrapup, then available."""
    agent = _agent()
    agent.ring(5.0, "e1", "support")
    assert (agent.state, agent.entry_id, agent.queue) == (AgentState.RINGING, "e1", "support")
    agent.answered(8.0)
    assert (agent.state, agent.entry_id) == (AgentState.ON_CALL, "e1")
    agent.call_ended(100.0, wrapup=30.0)
    assert (agent.state, agent.wrapup_until) == (AgentState.WRAPUP, 130.0)
    assert not agent.wrapup_due(129.9)
    assert agent.wrapup_due(130.0)
    agent.wrapup_done(130.0)
    assert (agent.state, agent.entry_id) == (AgentState.AVAILABLE, None)


def test_call_end_without_wrapup_is_available_at_once() -> None:
    """A queue with no wrap-up time returns the agent available when the call ends."""
    agent = _agent()
    agent.ring(1.0, "e1", "support")
    agent.answered(2.0)
    agent.call_ended(50.0, wrapup=0)
    assert agent.state is AgentState.AVAILABLE


def test_counters_per_queue_and_last_call_end() -> None:
    """Answered calls count per queue and in total; the last call's end is kept per queue."""
    agent = _agent()
    for start, queue in ((10.0, "support"), (100.0, "billing"), (200.0, "support")):
        agent.ring(start, f"e{start}", queue)
        agent.answered(start + 1)
        agent.call_ended(start + 60, wrapup=0)
    assert agent.calls_taken == 3
    assert (agent.calls_in("support"), agent.calls_in("billing"), agent.calls_in("x")) == (2, 1, 0)
    assert agent.last_call_end_by_queue == {"support": 260.0, "billing": 160.0}
    assert agent.idle_since == 260.0


def test_auto_pause_after_n_consecutive_ring_no_answers() -> None:
    """The Nth unanswered ring in a row pauses the agent with reason 'ring-no-answer'."""
    agent = _agent(max_rna=3)
    for n in range(2):
        agent.ring(float(n), "e1", "support")
        assert agent.ring_no_answer(float(n) + 0.5) is False
        assert agent.state is AgentState.AVAILABLE
    agent.ring(5.0, "e1", "support")
    assert agent.ring_no_answer(20.0) is True
    assert (agent.state, agent.pause_reason, agent.ring_no_answers) == (
        AgentState.PAUSED,
        RING_NO_ANSWER,
        3,
    )
    agent.unpause(60.0)
    assert (agent.state, agent.ring_no_answers) == (AgentState.AVAILABLE, 0)


def test_answering_resets_the_no_answer_count() -> None:
    """An answered call in between means the no-answers are not consecutive."""
    agent = _agent(max_rna=2)
    agent.ring(0.0, "e1", "support")
    agent.ring_no_answer(15.0)
    agent.ring(16.0, "e2", "support")
    agent.answered(17.0)
    agent.call_ended(30.0)
    agent.ring(31.0, "e3", "support")
    assert agent.ring_no_answer(46.0) is False
    assert agent.state is AgentState.AVAILABLE


def test_zero_max_never_auto_pauses() -> None:
    """max_ring_no_answer 0 means an agent is never paused for not answering."""
    agent = _agent(max_rna=0)
    for n in range(10):
        agent.ring(float(n), "e", "support")
        agent.ring_no_answer(float(n) + 0.5)
    assert agent.state is AgentState.AVAILABLE


def test_rejected_and_cancelled_rings_do_not_count_as_no_answer() -> None:
    """A declined or cancelled ring frees the agent without counting toward auto-pause."""
    agent = _agent(max_rna=1)
    agent.ring(0.0, "e1", "support")
    agent.rejected(1.0)
    agent.ring(2.0, "e2", "support")
    agent.ring_cancelled(3.0)
    assert (agent.state, agent.ring_no_answers) == (AgentState.AVAILABLE, 0)


def test_pause_during_a_call_applies_when_it_ends() -> None:
    """A pause asked for on a call waits for the call's end, and skips wrap-up."""
    agent = _agent()
    agent.ring(0.0, "e1", "support")
    agent.answered(1.0)
    assert agent.pause(5.0, "lunch") is False
    assert agent.state is AgentState.ON_CALL
    agent.call_ended(60.0, wrapup=30.0)
    assert (agent.state, agent.pause_reason) == (AgentState.PAUSED, "lunch")


def test_unpause_during_a_call_drops_the_pending_pause() -> None:
    """Changing one's mind before the call ends cancels the pause still to come."""
    agent = _agent()
    agent.ring(0.0, "e1", "support")
    agent.pause(0.5, "lunch")
    agent.unpause(0.7)
    agent.ring_no_answer(15.0)
    assert agent.state is AgentState.AVAILABLE


def test_pause_in_wrapup_is_immediate() -> None:
    """An agent in wrap-up can pause straight away; the wrap-up timer is dropped."""
    agent = _agent()
    agent.ring(0.0, "e1", "support")
    agent.answered(1.0)
    agent.call_ended(10.0, wrapup=30.0)
    assert agent.pause(12.0, "break") is True
    assert (agent.state, agent.wrapup_until) == (AgentState.PAUSED, None)
    assert not agent.wrapup_due(100.0)


def test_idle_since_ignores_time_spent_paused() -> None:
    """Unpausing restarts the idle clock, so a long break does not make 'longest idle'."""
    agent = _agent()
    agent.ring(0.0, "e1", "support")
    agent.answered(1.0)
    agent.call_ended(10.0)
    agent.pause(11.0, "lunch")
    agent.unpause(3600.0)
    assert agent.idle_since == 3600.0
    assert Agent("never").idle_since == -math.inf


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ([], lambda a: a.ring(1.0, "e2", "support"), "cannot ring while logged_out"),
        (["login"], lambda a: a.login(1.0), "cannot log in while available"),
        (
            ["login", "ring"],
            lambda a: a.ring(1.0, "e2", "support"),
            "cannot ring while ringing (already ringing for 'e1')",
        ),
        (["login", "ring"], lambda a: a.logout(1.0), "cannot log out while ringing"),
        (["login"], lambda a: a.answered(1.0), "cannot answer while available"),
        (["login", "ring", "answer"], lambda a: a.logout(1.0), "cannot log out while on_call"),
        (["login"], lambda a: a.call_ended(1.0), "cannot end a call while available"),
        (["login"], lambda a: a.wrapup_done(1.0), "cannot finish wrap-up while available"),
        (["login"], lambda a: a.unpause(1.0), "cannot unpause while available"),
        ([], lambda a: a.pause(1.0, "x"), "cannot pause while logged_out"),
    ],
)
def test_invalid_transitions_raise_a_clear_error(
    setup: list[str], action: Callable[[Agent], object], message: str
) -> None:
    """A transition the state does not allow raises AgentStateError naming agent and state."""
    agent = Agent("alice", frozenset({"support"}))
    steps = {
        "login": lambda: agent.login(0.0),
        "ring": lambda: agent.ring(0.0, "e1", "support"),
        "answer": lambda: agent.answered(0.5),
    }
    for step in setup:
        steps[step]()
    with pytest.raises(AgentStateError) as caught:
        action(agent)
    assert str(caught.value) == f"agent 'alice' {message}"
    assert isinstance(caught.value, QueueError)


def test_from_config_copies_skills_and_limits() -> None:
    """An agent built from its configuration starts logged out with its skills and limit."""
    config = AgentConfig("bob", "PJSIP/agent2", skills={"spanish": 5}, max_ring_no_answer=2)
    agent = Agent.from_config(config, ["sales"])
    assert (agent.state, agent.queues, agent.endpoint) == (
        AgentState.LOGGED_OUT,
        frozenset({"sales"}),
        "PJSIP/agent2",
    )
    assert agent.level("spanish") == 5
    assert agent.level("german") == 0
    assert agent.has_levels({"spanish": 5})
    assert not agent.has_levels({"spanish": 5, "german": 1})
    assert agent.max_ring_no_answer == 2
