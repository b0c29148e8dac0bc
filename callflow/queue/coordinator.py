"""Who decides the line: the queue coordinator, the seam for callflow on several nodes.

On one node the :class:`~callflow.queue.routing.Router` holds every queue and agent in
memory, and each waiting caller's :class:`~callflow.queue.caller.QueueCaller` asks it
directly. With several callflow nodes in front of several Asterisks, one place must still
decide the line (who is next, which agent rings), and reaching it takes a network round
trip. :class:`QueueCoordinator` is that place's interface: every question the live queue's
scheduler and its agent actions ask, as awaitables. :class:`LocalCoordinator` answers them
from today's Router, in process; a shared implementation (on the PostgreSQL store, say)
would satisfy the same protocol.
"""

from __future__ import annotations

from typing import Protocol

from callflow.queue.agents import AgentState, QueueError
from callflow.queue.config import Target
from callflow.queue.routing import (
    Departure,
    JoinDecision,
    LeaveReason,
    Offer,
    QueueEntry,
    RingOutcome,
    Router,
)

AGENT_ACTIONS = ("login", "logout", "pause", "unpause")


class QueueCoordinator(Protocol):
    """The decisions about the line that must be taken in one place for all nodes."""

    async def join(self, entry: QueueEntry, now: float) -> JoinDecision:
        """Put a caller in line, or refuse them."""
        ...

    async def leave(self, entry_id: str, now: float, reason: LeaveReason | str) -> Departure | None:
        """Take a caller out of line (None if they were not in it)."""
        ...

    async def offers(self, now: float) -> list[Offer]:
        """The rings to start now."""
        ...

    async def ring_ended(self, offer: Offer, outcome: RingOutcome | str, now: float) -> list[Offer]:
        """A ring is over; the other rings to stop."""
        ...

    async def time_up(self, now: float) -> list[tuple[str, str, Target | None]]:
        """Callers who must leave now: (entry id, ``timeout`` or ``empty``, where to)."""
        ...

    async def change_agent(
        self, agent: str, action: str, now: float, reason: str = ""
    ) -> tuple[AgentState, list[Offer]]:
        """An agent's login, logout, pause or unpause: their state after it, and the rings
        taken back (a logout while ringing). Raises QueueError when it is not possible."""
        ...

    async def next_wakeup(self, now: float) -> float | None:
        """When time alone changes a decision next (None: only when something happens)."""
        ...


class LocalCoordinator:
    """The coordinator of a single node: today's Router, in this process."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def join(self, entry: QueueEntry, now: float) -> JoinDecision:
        return self.router.join(entry, now)

    async def leave(self, entry_id: str, now: float, reason: LeaveReason | str) -> Departure | None:
        return self.router.leave(entry_id, now, reason)

    async def offers(self, now: float) -> list[Offer]:
        return self.router.offers(now)

    async def ring_ended(self, offer: Offer, outcome: RingOutcome | str, now: float) -> list[Offer]:
        return self.router.ring_ended(offer, outcome, now)

    async def time_up(self, now: float) -> list[tuple[str, str, Target | None]]:
        found = [(e, "timeout", t) for e, t in self.router.timeouts(now)]
        return found + [(e, "empty", t) for e, t in self.router.empty_leavers(now)]

    async def change_agent(
        self, agent: str, action: str, now: float, reason: str = ""
    ) -> tuple[AgentState, list[Offer]]:
        taken_back: list[Offer] = []
        if action == "login":
            self.router.login(agent, now)
        elif action == "logout":
            taken_back = self.router.logout(agent, now)
        elif action == "pause":
            self.router.pause(agent, now, reason)
        elif action == "unpause":
            self.router.unpause(agent, now)
        else:
            raise QueueError(
                f"unknown agent action '{action}' (expected {', '.join(AGENT_ACTIONS)})"
            )
        return self.router.agent(agent).state, taken_back

    async def next_wakeup(self, now: float) -> float | None:
        return self.router.next_wakeup(now)


__all__ = ["AGENT_ACTIONS", "LocalCoordinator", "QueueCoordinator"]
