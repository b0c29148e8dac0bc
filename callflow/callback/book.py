"""The callback book: every live callback of the center, driven against the Router.

:class:`CallbackBook` is to callbacks what :class:`~callflow.queue.caller.QueueCaller` is to
a waiting caller: it holds the callbacks not yet final, runs each through the pure
:func:`~callflow.callback.machine.step`, performs the line commands on the shared
:class:`~callflow.queue.routing.Router` itself (placeholders joining and leaving, agents
reserved, taken, freed) and hands the rest to its driver: the I/O (ring an agent with a
whisper, dial the customer, bridge, put the answered customer in line) and the
:class:`~callflow.callback.machine.Record` of every transition for the store. The live
adapter and the simulator drive the very same book::

    callback, created, commands = book.request(queue, number, now, joined_at=..., ...)
    offers, commands = book.route(now)     # the Router's round: caller offers for the
                                           # QueueCallers; callback offers/dues handled
    book.in_line(callback_id, now)         # customer-first: answered, joining the line
    commands = book.send(callback_id, Answered(), now)      # what the calls reported
    commands = book.tick(now)              # at book.next_wakeup(now)
    commands = book.restore(rows, now)     # after a restart: the store's live rows
    commands = book.reconcile(callback_id, customer_up, agent_up, now)  # dialing/connected

The same number asking again in the same queue while its callback is live gets that
callback back (``created`` False), not a second one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from callflow.callback.machine import (
    RECHECK,
    AgentRingOver,
    Answered,
    Command,
    Due,
    Ended,
    Event,
    FreeAgent,
    HangUp,
    JoinLine,
    LeaveLine,
    Record,
    Reserved,
    Scheduled,
    TakeAgent,
    Tick,
    Unanswered,
    WrapUp,
    new_callback,
    next_wakeup,
    plan_opening,
    step,
)
from callflow.callback.model import Callback, CallbackPolicy, CallbackState, DialOutcome
from callflow.queue.agents import AgentState
from callflow.queue.routing import LeaveReason, Offer, Router

LINE_COMMANDS = (JoinLine, LeaveLine, TakeAgent, AgentRingOver)
"""Commands the book performs on the Router and does not pass on."""


class CallbackBook:
    """The live callbacks of a center (see the module docstring)."""

    def __init__(
        self,
        router: Router,
        policies: Mapping[str, CallbackPolicy] | CallbackPolicy,
        make_id: Callable[[], str] | None = None,
    ) -> None:
        self.router = router
        self._policies = policies
        self._callbacks: dict[str, Callback] = {}
        self._offers: dict[str, Offer] = {}  # agent-first: the reservation of each callback
        self._promised: dict[str, str] = {}  # customer-first: the agent held for each dial
        self._planned: dict[str, float] = {}  # when each queue's opening was last planned
        self._count = 0
        self._make_id = make_id or self._next_id

    # --- questions -------------------------------------------------------------------

    def policy(self, queue: str) -> CallbackPolicy:
        """The callback policy of ``queue``."""
        if isinstance(self._policies, CallbackPolicy):
            return self._policies
        return self._policies[queue]

    def get(self, callback_id: str) -> Callback | None:
        """A live callback, or None (unknown, or final)."""
        return self._callbacks.get(callback_id)

    def live(self, queue: str | None = None) -> list[Callback]:
        """Live callbacks in request order (one queue, or all)."""
        found = [c for c in self._callbacks.values() if queue is None or c.queue == queue]
        return sorted(found, key=lambda c: (c.requested_at, c.id))

    def find(self, queue: str, number: str) -> Callback | None:
        """The live callback of ``number`` in ``queue``, if any (dedupe)."""
        return next(
            (c for c in self._callbacks.values() if c.queue == queue and c.number == number),
            None,
        )

    def promised(self, callback_id: str) -> str | None:
        """Customer-first: the agent held while this callback's customer is dialled."""
        return self._promised.get(callback_id)

    def next_wakeup(self, now: float) -> float | None:
        """When :meth:`tick` has work next (None: only when something happens)."""
        times = [self._wakeup(c, now) for c in self._callbacks.values()]
        found = [t for t in times if t is not None]
        return min(found) if found else None

    def _wakeup(self, callback: Callback, now: float) -> float | None:
        """The machine's wakeup; but a callback held for an opening that has come is due
        as soon as its queue's opening was not planned since, then :data:`RECHECK` s after
        the last plan (made with no agent logged in: it placed nothing)."""
        due = callback.not_before
        if callback.at_opening and due is not None and due <= now:
            planned = self._planned.get(callback.queue, -math.inf)
            return now if planned < due else min(planned + RECHECK, callback.expires_at)
        return next_wakeup(callback, now)

    # --- events ----------------------------------------------------------------------

    def request(
        self,
        queue: str,
        number: str,
        now: float,
        *,
        joined_at: float | None = None,
        priority: int | None = None,
        skills: Mapping[str, int] | None = None,
        customer_tz: str | None = None,
        callback_id: str | None = None,
        call_id: str = "",
    ) -> tuple[Callback, bool, list[Command]]:
        """Ask for a callback of ``number`` (E.164, from :func:`callback.number.normalise`)
        in ``queue``, keeping the place of a caller who joined at ``joined_at``, asked from
        the call ``call_id`` ('' from the API). Returns the callback, whether it is new
        (False: the live one of that number in that queue), and the commands."""
        existing = self.find(queue, number)
        if existing is not None:
            return existing, False, []
        self.router.queues[queue]  # an unknown queue fails here, before anything is kept
        found = new_callback(
            id=callback_id or self._make_id(),
            queue=queue,
            number=number,
            now=now,
            policy=self.policy(queue),
            joined_at=joined_at,
            priority=priority,
            skills=dict(skills or {}),
            customer_tz=customer_tz,
            call_id=call_id,
        )
        return found.callback, True, self._apply(found.callback, found.commands, now)

    def send(self, callback_id: str, event: Event, now: float) -> list[Command]:
        """Feed one event to one callback; the commands for the driver."""
        callback = self._callbacks.get(callback_id)
        if callback is None:
            return []
        if isinstance(event, Reserved):
            self._offers[callback_id] = event.offer
        moved = step(callback, event, self.policy(callback.queue), now)
        return self._apply(moved.callback, moved.commands, now)

    def route(self, now: float) -> tuple[list[Offer], list[Command]]:
        """The Router's round: the offers for live callers (to their QueueCallers), and
        the commands of the callbacks it reserved an agent for or found due."""
        routing = self.router.route(now)
        offers: list[Offer] = []
        commands: list[Command] = []
        for offer in routing.offers:
            if offer.kind != "callback":
                offers.append(offer)
            elif self._waiting(offer.entry_id):
                commands += self.send(offer.entry_id, Reserved(offer), now)
            else:  # a placeholder this book does not hold: never left with an agent
                self.router.ring_ended(offer, "caller_gone", now)
                self.router.leave(offer.entry_id, now, LeaveReason.LOST)
        for due in routing.due:
            if self._waiting(due.entry_id):
                self._promise(due.entry_id, due.agent, due.queue, now)
                commands += self.send(due.entry_id, Due(), now)
            else:
                self.router.leave(due.entry_id, now, LeaveReason.LOST)
        return offers, commands

    def in_line(self, callback_id: str, now: float) -> None:
        """Customer-first: the answered customer is about to join the line as a caller;
        the agent held for them since the dial is free again, for the Router's next
        round (where the customer, in their original place, comes first)."""
        self._unpromise(callback_id, now)

    def tick(self, now: float) -> list[Command]:
        """What time alone changes: slots at an opening (:func:`plan_opening`, with the
        agents logged in now), placing, retrying, deferring to the window, expiring."""
        commands: list[Command] = []
        for queue in sorted({c.queue for c in self._callbacks.values()}):
            commands += self._plan(queue, now)
        for callback in self.live():
            wake = self._wakeup(callback, now)
            if wake is not None and wake <= now:
                commands += self.send(callback.id, Tick(), now)
        return commands

    def restore(self, rows: Iterable[Mapping[str, Any]], now: float) -> list[Command]:
        """Take back the live callbacks the store kept (after a restart), in request
        order: those that were waiting (or had an agent rung) go back in line at their
        place; ``dialing`` and ``connected`` ones are kept as they are, for the adapter
        to reconcile with Asterisk's channels (answered: :class:`Answered`, or still
        talking; else ``Unanswered(lost)`` / ``Ended("lost")``), so that nobody who
        answered is called twice."""
        commands: list[Command] = []
        loaded = sorted(
            (Callback.from_dict(row) for row in rows), key=lambda c: (c.requested_at, c.id)
        )
        for callback in loaded:
            if callback.final or callback.id in self._callbacks:
                continue
            if callback.state in (CallbackState.WAITING, CallbackState.RESERVED):
                # A reserved agent's ring died with the old process: back to waiting.
                back = callback.moved(CallbackState.WAITING, now, agent=None, reason="restart")
                line: list[Command] = [JoinLine(back.entry())]
                if callback.state is CallbackState.RESERVED:
                    line.append(Record(back, "callback.waiting", _restart_data(back)))
                commands += self._apply(back, line, now)
            else:
                self._callbacks[callback.id] = callback
        return commands

    def reconcile(
        self, callback_id: str, customer_up: bool, agent_up: bool, now: float
    ) -> list[Command]:
        """After a restart, settle a callback that was ``dialing`` or ``connected`` with
        what Asterisk still has: ``customer_up``, the customer's call is up and answered;
        ``agent_up``, the agent-first agent's leg is. Dialing and answered: connected (with
        the agent, or in line as a caller if the agent's leg is gone), never dialled again;
        dialing and not answered: hung up and retried (``lost``); connected and the
        customer gone: completed (``lost``)."""
        callback = self._callbacks.get(callback_id)
        if callback is None:
            return []
        if callback.state is CallbackState.DIALING:
            if customer_up:
                gone = callback.agent is not None and not agent_up
                return self.send(callback_id, Answered(agent_gone=gone), now)
            return [HangUp(callback_id), *self.send(callback_id, Unanswered(DialOutcome.LOST), now)]
        if callback.state is CallbackState.CONNECTED and not customer_up:
            return self.send(callback_id, Ended("lost"), now)
        return []

    # --- inside ------------------------------------------------------------------------

    def _waiting(self, callback_id: str) -> bool:
        callback = self._callbacks.get(callback_id)
        return callback is not None and callback.state is CallbackState.WAITING

    def _plan(self, queue: str, now: float) -> list[Command]:
        held = [
            c
            for c in self._callbacks.values()
            if c.queue == queue
            and c.at_opening
            and c.not_before is not None
            and c.not_before <= now
            and c.state in (CallbackState.REQUESTED, CallbackState.RETRY_WAIT)
        ]
        if not held:
            return []
        self._planned[queue] = now
        agents = sum(
            1
            for name in self.router.members[queue]
            if self.router.agents[name].state is not AgentState.LOGGED_OUT
        )
        slots = plan_opening(held, now, agents, self.policy(queue))
        commands: list[Command] = []
        for callback_id, at in slots.items():
            commands += self.send(callback_id, Scheduled(at), now)
        return commands

    def _promise(self, callback_id: str, agent_name: str, queue: str, now: float) -> None:
        """Customer-first: hold the agent the Router found for this callback (marked ringing
        for it, as a reservation is) while the customer is dialled, so that no later caller
        takes them in the rounds meanwhile; freed when the dial ends (:meth:`_apply`) or the
        answered customer joins the line (:meth:`in_line`)."""
        agent = self.router.agents.get(agent_name)
        if agent is not None and agent.state is AgentState.AVAILABLE:
            agent.ring(now, callback_id, queue)
            self._promised[callback_id] = agent_name

    def _unpromise(self, callback_id: str, now: float) -> None:
        name = self._promised.pop(callback_id, None)
        agent = self.router.agents.get(name or "")
        if agent is not None and (agent.state, agent.entry_id) == (AgentState.RINGING, callback_id):
            agent.ring_cancelled(now)

    def _apply(self, callback: Callback, commands: list[Command], now: float) -> list[Command]:
        """Keep the callback, perform the line commands; the rest is the driver's."""
        if callback.state not in (CallbackState.DIALING, CallbackState.CONNECTED):
            self._unpromise(callback.id, now)
        if callback.final:
            self._callbacks.pop(callback.id, None)
        else:
            self._callbacks[callback.id] = callback
        out: list[Command] = []
        for command in commands:
            if isinstance(command, JoinLine):
                self.router.join(command.entry, now)
            elif isinstance(command, LeaveLine):
                self._offers.pop(command.entry_id, None)
                self.router.leave(command.entry_id, now, LeaveReason.CALLBACK)
            elif isinstance(command, TakeAgent):
                offer = self._offers.pop(command.callback_id, None)
                if offer is not None:
                    self.router.ring_ended(offer, "answered", now)
            elif isinstance(command, AgentRingOver):
                offer = self._offers.pop(command.callback_id, None)
                if offer is not None:
                    outcome = "rejected" if command.reason in ("busy", "rejected") else "no_answer"
                    self.router.ring_ended(offer, outcome, now)
            elif isinstance(command, FreeAgent | WrapUp):
                self._release(command, now)
                out.append(command)
            else:
                out.append(command)
        return out

    def _release(self, command: FreeAgent | WrapUp, now: float) -> None:
        agent = self.router.agents.get(command.agent)
        if agent is None or agent.state is not AgentState.ON_CALL:
            return  # a ring cancelled by LeaveLine, or the agent logged out meanwhile
        if isinstance(command, WrapUp):
            self.router.call_ended(command.agent, now)
        else:
            agent.call_ended(now, 0.0)

    def _next_id(self) -> str:
        self._count += 1
        return f"cb-{self._count}"


def _restart_data(callback: Callback) -> dict[str, Any]:
    return {
        "callback": callback.id,
        "queue": callback.queue,
        "state": callback.state.value,
        "attempts": callback.attempts,
        "reason": "restart",
    }


__all__ = ["LINE_COMMANDS", "CallbackBook"]
