"""Agents: one agent's state machine - logged out, available, ringing, on a call, wrap-up, paused.

Sans-I/O: every transition is a method taking ``now`` (seconds); nothing here rings a
phone or reads a clock. The router (:mod:`callflow.queue.routing`) calls ``ring``,
``answered``, ``ring_no_answer``, ``rejected`` and ``ring_cancelled``; the live driver and
the simulator call the rest through the router, which keeps rings and callers in step.

::

    logged_out --login--> available --ring--> ringing --answered--> on_call
                              ^  |               |                     |
                              |  pause        no_answer / rejected   call_ended
                              |  v            / cancelled              v
                           paused(reason) <-- (N no-answers) ------ wrapup --wrapup_done-->

A pause asked for while ringing or on a call is kept and applied when that ends.

The exceptions of the queue decisions, one root::

    QueueError
     +-- AgentStateError   an agent cannot make that transition in its current state
     +-- UnknownQueue      (routing) no queue by that name
     +-- UnknownAgent      (routing) no agent by that name
     +-- DuplicateEntry    (routing) an entry id already waiting
     +-- BadEntry          (routing) a stored entry that cannot be read back
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from callflow.queue.config import AgentConfig

RING_NO_ANSWER = "ring-no-answer"  # the pause reason after too many unanswered rings


class AgentState(enum.StrEnum):
    """Where an agent is in the state machine."""

    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAPUP = "wrapup"
    PAUSED = "paused"


class QueueError(Exception):
    """Root of every error raised by the queue decisions."""


class AgentStateError(QueueError):
    """An agent was asked for a transition its current state does not allow."""

    def __init__(self, agent: str, state: AgentState, action: str, detail: str = "") -> None:
        self.agent = agent
        self.state = state
        self.action = action
        message = f"agent '{agent}' cannot {action} while {state.value}"
        super().__init__(f"{message} ({detail})" if detail else message)


def _no_levels() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass
class Agent:
    """One agent's live state, counters and the queues they serve."""

    name: str
    queues: frozenset[str] = frozenset()
    skills: Mapping[str, int] = field(default_factory=_no_levels)
    max_ring_no_answer: int = 3  # 0: never auto-pause
    endpoint: str = ""
    state: AgentState = AgentState.LOGGED_OUT
    since: float = 0.0  # when the current state began
    pause_reason: str | None = None
    pending_pause: str | None = None  # asked for while ringing or on a call
    entry_id: str | None = None  # the caller being rung or talked to
    queue: str | None = None  # that caller's queue
    wrapup_until: float | None = None
    ring_no_answers: int = 0  # in a row, since the last answered call or unpause
    available_from: float | None = None  # last login or unpause
    last_call_end: float | None = None
    calls_taken: int = 0
    calls_by_queue: dict[str, int] = field(default_factory=dict)
    last_call_end_by_queue: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: AgentConfig, queues: Iterable[str] | None = None) -> Agent:
        """A logged-out agent from its configuration; ``queues`` overrides its own list."""
        return cls(
            name=config.name,
            queues=frozenset(config.queues if queues is None else queues),
            skills=config.skills,
            max_ring_no_answer=config.max_ring_no_answer,
            endpoint=config.endpoint,
        )

    # --- questions -----------------------------------------------------------------

    def level(self, skill: str) -> int:
        """The agent's level in a skill; 0 when they do not have it."""
        return self.skills.get(skill, 0)

    def has_levels(self, required: Mapping[str, int]) -> bool:
        """True when the agent meets every ``skill: minimum level``."""
        return all(self.level(skill) >= level for skill, level in required.items())

    @property
    def idle_since(self) -> float:
        """Since when the agent has been without a call: the later of the last call's end
        and the last login/unpause (a lunch pause does not make an agent "longest idle")."""
        times = [t for t in (self.last_call_end, self.available_from) if t is not None]
        return max(times) if times else -math.inf

    def calls_in(self, queue: str) -> int:
        """Calls answered from one queue."""
        return self.calls_by_queue.get(queue, 0)

    # --- presence ------------------------------------------------------------------

    def login(self, now: float, paused: str | None = None) -> None:
        """Log in, available at once or paused with a reason."""
        self._expect("log in", AgentState.LOGGED_OUT)
        self.available_from = now
        self.ring_no_answers = 0
        if paused is not None:
            self._enter(AgentState.PAUSED, now)
            self.pause_reason = paused
        else:
            self._enter(AgentState.AVAILABLE, now)

    def logout(self, now: float) -> None:
        """Log out; not while ringing or on a call (end or cancel it first)."""
        self._expect("log out", AgentState.AVAILABLE, AgentState.PAUSED, AgentState.WRAPUP)
        self._enter(AgentState.LOGGED_OUT, now)

    def pause(self, now: float, reason: str = "") -> bool:
        """Pause now (True), or once the current ring or call is over (False)."""
        if self.state in (AgentState.RINGING, AgentState.ON_CALL):
            self.pending_pause = reason
            return False
        self._expect("pause", AgentState.AVAILABLE, AgentState.WRAPUP, AgentState.PAUSED)
        if self.state is not AgentState.PAUSED:
            self._enter(AgentState.PAUSED, now)
        self.pause_reason = reason
        return True

    def unpause(self, now: float) -> None:
        """Become available again, or drop a pause still waiting for the call to end."""
        if self.pending_pause is not None and self.state in (
            AgentState.RINGING,
            AgentState.ON_CALL,
        ):
            self.pending_pause = None
            return
        self._expect("unpause", AgentState.PAUSED)
        self.available_from = now
        self.ring_no_answers = 0
        self._enter(AgentState.AVAILABLE, now)

    # --- a ring --------------------------------------------------------------------

    def ring(self, now: float, entry_id: str, queue: str) -> None:
        """Start ringing for one caller; an agent never rings for two at once."""
        detail = f"already ringing for '{self.entry_id}'" if self.entry_id else ""
        self._expect("ring", AgentState.AVAILABLE, detail=detail)
        self._enter(AgentState.RINGING, now)
        self.entry_id = entry_id
        self.queue = queue

    def answered(self, now: float) -> None:
        """The agent picked up: on a call with the caller they were rung for."""
        self._expect("answer", AgentState.RINGING)
        self.ring_no_answers = 0
        self.calls_taken += 1
        if self.queue is not None:
            self.calls_by_queue[self.queue] = self.calls_in(self.queue) + 1
        self.state, self.since = AgentState.ON_CALL, now

    def ring_no_answer(self, now: float) -> bool:
        """The ring timed out; True when that was one too many and the agent is paused."""
        self._expect("time out a ring", AgentState.RINGING)
        self.ring_no_answers += 1
        if 0 < self.max_ring_no_answer <= self.ring_no_answers:
            self._leave_ring(now, RING_NO_ANSWER)
            return True
        self._leave_ring(now, self.pending_pause)
        return False

    def rejected(self, now: float) -> None:
        """The agent declined the call: available again, without counting a no-answer
        (a decline shows someone is at the phone)."""
        self._expect("reject", AgentState.RINGING)
        self._leave_ring(now, self.pending_pause)

    def ring_cancelled(self, now: float) -> None:
        """The ring was stopped (caller gone, or another agent answered first)."""
        self._expect("cancel a ring", AgentState.RINGING)
        self._leave_ring(now, self.pending_pause)

    # --- after the call ------------------------------------------------------------

    def call_ended(self, now: float, wrapup: float = 0.0) -> None:
        """The call is over: wrap-up until ``now + wrapup``, or available (or the pause
        asked for during the call)."""
        self._expect("end a call", AgentState.ON_CALL)
        self.last_call_end = now
        if self.queue is not None:
            self.last_call_end_by_queue[self.queue] = now
        self.entry_id = None
        if self.pending_pause is not None:
            self._pause_now(now, self.pending_pause)
        elif wrapup > 0:
            self._enter(AgentState.WRAPUP, now)
            self.wrapup_until = now + wrapup
        else:
            self._enter(AgentState.AVAILABLE, now)

    def wrapup_done(self, now: float) -> None:
        """After-call work finished (its time ran out, or the agent said so)."""
        self._expect("finish wrap-up", AgentState.WRAPUP)
        self._enter(AgentState.AVAILABLE, now)

    def wrapup_due(self, now: float) -> bool:
        """True when the agent is in wrap-up and its time has run out."""
        return (
            self.state is AgentState.WRAPUP
            and self.wrapup_until is not None
            and self.wrapup_until <= now
        )

    # --- helpers -------------------------------------------------------------------

    def _expect(self, action: str, *states: AgentState, detail: str = "") -> None:
        if self.state not in states:
            raise AgentStateError(self.name, self.state, action, detail)

    def _enter(self, state: AgentState, now: float) -> None:
        self.state = state
        self.since = now
        self.wrapup_until = None
        if state is not AgentState.PAUSED:
            self.pause_reason = None
        if state is not AgentState.RINGING and state is not AgentState.ON_CALL:
            self.entry_id = None
            self.queue = None

    def _leave_ring(self, now: float, pause: str | None) -> None:
        if pause is not None:
            self._pause_now(now, pause)
        else:
            self._enter(AgentState.AVAILABLE, now)

    def _pause_now(self, now: float, reason: str) -> None:
        self.pending_pause = None
        self._enter(AgentState.PAUSED, now)
        self.pause_reason = reason


__all__ = [
    "RING_NO_ANSWER",
    "Agent",
    "AgentState",
    "AgentStateError",
    "QueueError",
]
