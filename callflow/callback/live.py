"""Live callbacks on Asterisk: the :class:`~callflow.callback.book.CallbackBook`'s commands
performed over ARI, and what the calls did fed back to it.

Every decision is the book's (and so the pure machine's): this module rings the reserved
agent and plays the whisper, dials the customer through the trunk
(:func:`~callflow.call.outbound.originate_endpoint`, the one door to a dial string), bridges
them, puts a customer-first customer in line as a caller, hangs up, and writes each
transition's row and event (``store.save_callback``). One task per callback performs its
calls in order; the queue's one scheduler asks the Router for callers and callbacks alike
(:class:`~callflow.queue.live.CallbackDriver`).

Channel ids carry the callback and the attempt, ``<node>.<run>-cb-<callback>-<attempt>``
for the customer and ``...-cb-<callback>-agent<n>`` for the agent, so a restarted callflow
finds a callback's calls in Asterisk (:meth:`CallbackService.reconcile`) and never dials an
answered customer twice. Requests come from the ``callback`` flow node, from Python
(:meth:`CallbackService.request`), and from ``callflow callbacks request``, which writes a
``submitted`` row the running app picks up within a second (:meth:`poll_store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import secrets
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from callflow.ari import errors as ari_errors
from callflow.ari.dispatch import EventQueue
from callflow.ari.events import (
    StasisStart,
)
from callflow.ari.models import Channel
from callflow.ari.rest import AriClient
from callflow.call.clock import SteadyWallClock
from callflow.call.ids import LIFE
from callflow.call.outbound import (
    AMD_CONTEXT,
    InvalidNumber,
    OutboundSettings,
    answer_of,
    detour,
    originate_endpoint,
    wait_out_greeting,
)
from callflow.call.primitives import Call, CallEnded, Leg
from callflow.callback.book import CallbackBook
from callflow.callback.machine import (
    AgentAnswered,
    AgentUnanswered,
    Answered,
    Bridge,
    Cancel,
    Command,
    Dial,
    Ended,
    Event,
    FreeAgent,
    HangUp,
    JoinAsCaller,
    LeaveMessage,
    NoAgent,
    Record,
    RingAgent,
    Unanswered,
    Whisper,
    WrapUp,
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
from callflow.callback.number import DEFAULT_BLOCKED, NumberRules, Refused, normalise
from callflow.flow import machine as fm
from callflow.flow.model import Say
from callflow.flow.prompts import media_for
from callflow.queue.agents import AgentState, QueueError
from callflow.queue.live import QueueService
from callflow.queue.model import (
    CALLBACK_RETURNING,
    CallbackConfig,
    callback_no_agent,
    callback_returning,
    callback_whisper,
)
from callflow.queue.routing import Offer
from callflow.queue.wait import spoken_number

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0  # seconds between looks at the store for requests from the CLI
SUBMITTED = "submitted"  # a row written by `callflow callbacks request`, not yet taken
CANCEL_ASKED = "cancel-asked"  # written by `callflow callbacks cancel` on a live row
RING_SLACK = 5.0  # past the ring timeout, a ring whose end was missed is given up
NO_AGENT = "callback-no-agent"  # the interruption of a customer who waited long enough
# Q.850 causes of an unanswered call to the customer, as the machine's outcomes.
_OUTCOMES = {
    17: DialOutcome.BUSY,
    18: DialOutcome.NO_ANSWER,
    19: DialOutcome.NO_ANSWER,
    21: DialOutcome.BUSY,  # rejected by the person: as busy
    1: DialOutcome.INVALID,
    28: DialOutcome.INVALID,
}


def policy_of(config: CallbackConfig) -> CallbackPolicy:
    """A queue's callback policy from its ``callback:`` block."""
    delays = dict(RetryPolicy().delays)
    delays.update({DialOutcome(k): v for k, v in config.retry.items()})
    return CallbackPolicy(
        mode=config.mode,
        retry=RetryPolicy(max_attempts=config.max_attempts, delays=delays),
        expiry=config.expiry,
        window=CallingWindow(hours=config.hours, customer_hours=config.customer_hours),
        opening_spread=config.opening_spread,
        handle_time=config.handle_time,
        machine_message=config.machine_message is not None,
        customer_wait=config.customer_wait,
        customer_wait_then=config.customer_wait_then,
    )


def rules_of(config: CallbackConfig) -> NumberRules:
    """A queue's number rules (ValueError for a default country with no numbering plan)."""
    return NumberRules(
        default_country=config.default_country,
        blocked_prefixes=(*DEFAULT_BLOCKED, *config.blocked),
    )


def customer_channel(callback_id: str, attempt: int) -> str:
    """The id of a callback's call to the customer, this life."""
    return f"{LIFE}-cb-{callback_id}-{attempt}"


def _new_id() -> str:
    return f"cb{secrets.token_hex(5)}"


class Host(Protocol):
    """What the callbacks need of the Stasis service: ARI, routing of new channels' events,
    and the calls it resyncs after a reconnect."""

    @property
    def ari(self) -> AriClient: ...

    calls: dict[str, Call]
    recovered: asyncio.Event

    def attach_channel(self, channel_id: str, events: EventQueue) -> None: ...


@dataclass
class _Live:
    """The calls of one callback in progress, and the commands its task performs."""

    callback_id: str
    commands: deque[Command] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    agent_name: str | None = None
    agent_channel: str | None = None  # originated, maybe not answered yet
    dialing: str | None = None  # the customer's channel, from the dial to a verdict
    agent: Call | None = None  # the agent's answered channel
    customer_leg: Leg | None = None  # agent-first: the customer, a leg of the agent's call
    customer: Call | None = None  # customer-first: the customer's own answered channel


class CallbackService:
    """The callbacks of the center, live (see the module docstring)."""

    def __init__(
        self,
        queues: QueueService,
        host: Host,
        outbound: OutboundSettings,
        *,
        app: str = "callflow",
        clock: Callable[[], float] | None = None,
        voice: str = "en-us",
    ) -> None:
        self.queues = queues
        self.store = queues.store
        self.host = host
        self.outbound = outbound
        self.app = app
        self.clock = clock or SteadyWallClock()
        self.voice = voice
        configs = {n: q.callback for n, q in queues.center.queues.items() if q.callback}
        self.configs = configs
        self.policies = {name: policy_of(c) for name, c in configs.items()}
        self.rules = {name: rules_of(c) for name, c in configs.items()}
        self.book = CallbackBook(queues.router, self.policies, make_id=_new_id)
        self._live: dict[str, _Live] = {}
        self._agent_legs = itertools.count(1)
        self._chores: list[asyncio.Task[None]] = []
        queues.callbacks = self

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Take back the callbacks the store kept, then watch for requests from the CLI;
        the ones caught dialing or connected are reconciled once Asterisk is read."""
        states = {state.value for state in CallbackState}
        rows = [r for r in self.store.live_callbacks(mine=True) if r.get("state") in states]
        try:
            self.perform(self.book.restore(rows, self.clock()))
        except CallbackError as exc:  # one unreadable row must not stop the others
            log.error("callbacks: %s; restoring them one by one", exc)
            for row in rows:
                with contextlib.suppress(CallbackError):
                    self.perform(self.book.restore([row], self.clock()))
        self._chores.append(asyncio.create_task(self._reconcile_later(), name="cb-reconcile"))
        self._chores.append(asyncio.create_task(self._poll(), name="cb-poll"))
        self.queues.kick()

    async def release(self) -> None:
        """callflow is stopping (SIGTERM): the callbacks' calls in progress end, as callers'
        do; their rows stay as they are, and the next start settles them (an ended
        conversation completes, an interrupted ring is retried)."""
        tasks = [x.task for x in self._live.values() if x.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for live in list(self._live.values()):
            if live.customer_leg is not None:
                await self._hang_up(live.customer_leg.id)
            with contextlib.suppress(ari_errors.AriError, RuntimeError):
                await self._end_calls(live)

    async def stop(self) -> None:
        """Stop the chores and the callbacks' tasks (their rows stay for the next start)."""
        tasks = [*self._chores, *(x.task for x in self._live.values() if x.task)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- the scheduler's side (queue.live.CallbackDriver) ------------------------------

    def route(self, now: float) -> list[Offer]:
        offers, commands = self.book.route(now)
        self.perform(commands)
        return offers

    def tick(self, now: float) -> None:
        wake = self.book.next_wakeup(now)
        if wake is not None and wake <= now:
            self.perform(self.book.tick(now))

    def next_wakeup(self, now: float) -> float | None:
        return self.book.next_wakeup(now)

    # --- requests --------------------------------------------------------------------

    def offers_callbacks(self, queue: str) -> bool:
        """The queue has a ``callback:`` block."""
        return queue in self.policies

    def check(self, queue: str, text: str) -> str | Refused:
        """``text`` as the E.164 number to call back in ``queue``, or why not."""
        found = normalise(text, self.rules[queue])
        return found if isinstance(found, Refused) else found.e164

    def request(
        self,
        queue: str,
        number: str,
        *,
        call_id: str = "",
        callback_id: str | None = None,
        joined_at: float | None = None,
        priority: int | None = None,
        skills: Mapping[str, int] | None = None,
        customer_tz: str | None = None,
    ) -> tuple[Callback, bool]:
        """Book a callback of ``number`` (checked here first: ValueError if refused) in
        ``queue``; (the callback, whether it is new)."""
        if queue not in self.policies:
            raise ValueError(f"queue {queue!r} offers no callbacks")
        checked = self.check(queue, number)
        if isinstance(checked, Refused):
            raise ValueError(f"{checked.reason}: {checked.detail}")
        callback, created, commands = self.book.request(
            queue,
            checked,
            self.clock(),
            joined_at=joined_at,
            priority=priority,
            skills=skills,
            customer_tz=customer_tz,
            callback_id=callback_id,
            call_id=call_id,
        )
        self.perform(commands)
        self.queues.kick()
        return callback, created

    async def request_from_call(self, call: Call, action: fm.RequestCallback) -> fm.Result:
        """The ``callback`` node's request: the number checked with the queue's rules,
        the caller's place kept if they just left that queue by an exit key."""
        if action.queue not in self.policies:
            log.warning("call %s: queue %r offers no callbacks", call.id, action.queue)
            return fm.Failed("no_callbacks")
        checked = self.check(action.queue, action.number)
        if isinstance(checked, Refused):
            self.store.append(
                "callback.refused",
                call.id,
                {"queue": action.queue, "reason": checked.reason.value, "detail": checked.detail},
            )
            return fm.Failed(f"refused:{checked.reason.value}")
        left = self.queues.exited.pop(call.id, None)
        kept = left is not None and left.queue == action.queue
        callback, created = self.request(
            action.queue,
            checked,
            call_id=call.id,
            joined_at=left.joined_at if kept and left else None,
            priority=left.priority if kept and left else None,
            skills=left.skills if kept and left else None,
        )
        log.info(
            "call %s: callback %s of %s in %s%s",
            call.id,
            callback.id,
            checked,
            action.queue,
            "" if created else " (already booked)",
        )
        return fm.Completed(checked)

    def cancel(self, callback_id: str, reason: str = "api") -> bool:
        """Give up a live callback; False if there is none by that id."""
        if self.book.get(callback_id) is None:
            return False
        self.send(callback_id, Cancel(reason))
        return True

    # --- commands --------------------------------------------------------------------

    def send(self, callback_id: str, event: Event) -> None:
        """Feed the book what a call did, and perform what follows."""
        try:
            commands = self.book.send(callback_id, event, self.clock())
        except CallbackError as exc:  # e.g. a call's end after a cancel moved it on
            log.info("callback %s: %s", callback_id, exc)
            return
        self.perform(commands)
        self.queues.kick()

    def perform(self, commands: list[Command]) -> None:
        """Records at once; what concerns a callback's calls, by its task, in order."""
        for command in commands:
            if isinstance(command, Record):
                self.store.save_callback(command.callback.to_dict(), command.kind, command.data)
            elif isinstance(command, FreeAgent | WrapUp):
                self._release_agent(command.agent)
            elif isinstance(command, HangUp):
                self._hang_up_customer(command.callback_id)
            elif isinstance(command, LeaveMessage):
                live = self._live.get(command.callback_id)
                customer = live.customer if live is not None else None
                if live is not None and customer is not None:
                    live.customer = None  # the message's now, not the callback's task's
                    if live.dialing == customer.id:
                        live.dialing = None
                    self._in_background(self._leave_message(command, customer), "message")
            elif isinstance(command, RingAgent | Dial | Bridge | JoinAsCaller):
                live = self._live.setdefault(command.callback_id, _Live(command.callback_id))
                live.commands.append(command)
                if live.task is None or live.task.done():
                    live.task = asyncio.create_task(
                        self._work(live), name=f"callback:{live.callback_id}"
                    )

    async def _work(self, live: _Live) -> None:
        """Perform one callback's calls in order; once nothing is left to do, no channel of
        it stays up (a retry later starts afresh, and may come while this one hangs up)."""
        while True:
            try:
                while live.commands:
                    # Nothing is placed while Asterisk is away (or not read yet at start).
                    await self.host.recovered.wait()
                    command = live.commands.popleft()
                    if isinstance(command, RingAgent):
                        await self._ring_agent(live, command)
                    elif isinstance(command, Dial):
                        await self._dial(live, command)
                    elif isinstance(command, Bridge):
                        await self._bridge(live)
                    elif isinstance(command, JoinAsCaller):
                        await self._join_as_caller(live, command)
            except Exception:
                log.exception("callback %s: failed", live.callback_id)
                live.commands.clear()
            await self._end_calls(live)
            if not live.commands:
                break
        if self._live.get(live.callback_id) is live:
            del self._live[live.callback_id]

    # --- the agent (agent-first) -----------------------------------------------------

    async def _ring_agent(self, live: _Live, command: RingAgent) -> None:
        offer = command.offer
        channel_id = f"{LIFE}-cb-{live.callback_id}-agent{next(self._agent_legs)}"
        live.agent_name, live.agent_channel = offer.agent, channel_id
        events = EventQueue(channel_id)
        self.host.attach_channel(channel_id, events)
        try:
            await self.host.ari.channels.originate(
                offer.endpoint,
                app=self.app,
                app_args="leg",
                channel_id=channel_id,
                caller_id=command.whisper.number,
                ring_timeout=max(1, round(offer.ring_timeout)),
            )
        except ari_errors.AriError as exc:
            log.info("callback %s: cannot ring %s: %s", live.callback_id, offer.endpoint, exc)
            self.send(live.callback_id, AgentUnanswered("unavailable"))
            return
        start, cause = await answer_of(events, offer.ring_timeout + RING_SLACK)
        if start is None:
            with contextlib.suppress(ari_errors.AriError):
                await self.host.ari.channels.hangup(channel_id)
            reason = {17: "busy", 21: "rejected"}.get(cause or 0, "no_answer")
            self.send(live.callback_id, AgentUnanswered(reason))
            return
        agent = self._adopt(start, events)
        live.agent = agent
        media = self._whisper(command.whisper)
        try:
            await agent.play(media)
        except CallEnded:
            self.send(live.callback_id, AgentUnanswered("rejected"))
            return
        self.store.append(
            "callback.whisper",
            self._log_id(live.callback_id),
            {"callback": live.callback_id, "agent": offer.agent, "media": media},
        )
        self.send(live.callback_id, AgentAnswered())

    def _whisper(self, whisper: Whisper) -> list[str]:
        minutes = max(1, round(whisper.waited / 60))
        said = media_for([Say(callback_whisper(whisper.queue))], self.voice, lambda _: None)
        digits = [f"digits:{whisper.number.removeprefix('+')}"]
        return [*said, *digits, *spoken_number(minutes), "sound:queue-minutes"]

    # --- the customer ----------------------------------------------------------------

    async def _dial(self, live: _Live, command: Dial) -> None:
        agent = live.agent if command.agent is not None else None
        if agent is not None:
            await self._dial_with_agent(live, agent, command)
            return
        start, events, unanswered = await self._reach(live, command)
        if start is not None:
            live.customer = self._adopt(start, events)
        self.send(live.callback_id, unanswered or Answered())

    async def _reach(
        self, live: _Live, command: Dial
    ) -> tuple[StasisStart | None, EventQueue, Unanswered | None]:
        """Ring the customer, then have AMD screen the answered call (the dialplan's
        ``callflow-amd``, as the dialer does): (the call back in the app, its events, None)
        for a person (HUMAN, or NOTSURE: when in doubt it is a person); (the call, its
        events, machine) for a machine; (None, events, why) when nobody answered."""
        channel_id = customer_channel(live.callback_id, command.attempt)
        events = EventQueue(channel_id)
        try:
            endpoint = originate_endpoint(command.number, self.outbound)
        except InvalidNumber as exc:  # never: the book holds checked numbers only
            log.error("callback %s: %s", live.callback_id, exc)
            return None, events, Unanswered(DialOutcome.INVALID)
        self.host.attach_channel(channel_id, events)
        live.dialing = channel_id
        try:
            await self.host.ari.channels.originate(
                endpoint,
                app=self.app,
                app_args="leg",
                channel_id=channel_id,
                caller_id=self.outbound.caller_id or None,
                ring_timeout=self.outbound.ring_timeout,
            )
        except ari_errors.AriError as exc:
            log.info("callback %s: cannot dial: %s", live.callback_id, exc)
            return None, events, Unanswered(DialOutcome.FAILED)
        start, cause = await answer_of(events, self.outbound.ring_timeout + RING_SLACK)
        if start is None:
            await self._hang_up(channel_id)
            return None, events, _unanswered(cause)
        back = await detour(
            self.host.ari, channel_id, events, self.host.attach_channel, AMD_CONTEXT
        )
        status = back.args[1] if back is not None and len(back.args) > 1 else "HANGUP"
        self.store.append(
            "callback.amd",
            self._log_id(live.callback_id),
            {
                "callback": live.callback_id,
                "attempt": command.attempt,
                "status": status,
                "cause": back.args[2] if back is not None and len(back.args) > 2 else "",
            },
        )
        if back is None:  # hung up while AMD listened: answered, and gone
            return None, events, Unanswered(DialOutcome.FAILED)
        if status == "MACHINE":
            return back, events, Unanswered(DialOutcome.MACHINE)
        return back, events, None

    async def _dial_with_agent(self, live: _Live, agent: Call, command: Dial) -> None:
        """Agent-first: the agent hears ringing while the customer is rung and screened;
        a person becomes a leg of the agent's call, to be bridged."""
        ringback = f"ringback-{customer_channel(live.callback_id, command.attempt)}"
        with agent.logged("start ringback"):
            await self.host.ari.channels.play(agent.id, "tone:ring", playback_id=ringback)
        reach = asyncio.create_task(self._reach(live, command))
        reach.add_done_callback(lambda _: agent.nudge())
        try:
            await agent.wait_for(reach.done)
        except CallEnded:
            # The agent hung up while the customer's phone rang: no one to talk to.
            reach.cancel()
            await asyncio.gather(reach, return_exceptions=True)
            if live.dialing is not None:
                await self._hang_up(live.dialing)
            self.send(live.callback_id, Unanswered(DialOutcome.FAILED))
            return
        with agent.logged("stop ringback"):
            await self.host.ari.playbacks.stop(ringback)
        start, events, unanswered = reach.result()
        if start is not None and unanswered is not None:  # a machine: the message, maybe
            live.customer = self._adopt(start, events)
        elif start is not None:
            leg = Leg(start.channel.id, start.channel.name, answered=True)
            agent.legs[leg.id] = leg
            self.host.attach_channel(leg.id, agent.events)
            live.customer_leg = leg
            try:  # it may have hung up before its events came to the agent's call
                await self.host.ari.channels.get(leg.id)
            except ari_errors.NotFound:
                leg.ended = True
        self.send(live.callback_id, unanswered or Answered())

    async def _leave_message(self, command: LeaveMessage, customer: Call) -> None:
        """A machine answered and the queue has a ``machine_message``: wait until its
        greeting and beep are over (:func:`~callflow.call.outbound.wait_out_greeting`, as the
        dialer does: a second of quiet, 10 s at most), play the message, hang up. Its own
        task: the callback goes on meanwhile."""
        config = self.configs.get(command.queue)
        try:
            if config is None or config.machine_message is None:
                return
            media = list(media_for([config.machine_message], self.voice, lambda _: None))
            end = await wait_out_greeting(
                self.host.ari, customer.id, customer.events, self.host.attach_channel
            )
            if end is None:
                log.info("callback %s: the machine hung up in its greeting", command.callback_id)
                return
            await customer.play(media)
            self.store.append(
                "callback.message",
                command.call_id or command.callback_id,
                {
                    "callback": command.callback_id,
                    "queue": command.queue,
                    "media": media,
                    "greeting": end.status,
                    "waited": end.waited,
                },
            )
        except (CallEnded, ari_errors.NotFound, ari_errors.NotInStasis):
            log.info("callback %s: the machine hung up before the message", command.callback_id)
        finally:
            await self._end_call(customer)

    async def _bridge(self, live: _Live) -> None:
        agent, leg = live.agent, live.customer_leg
        if agent is None or leg is None:
            self.send(live.callback_id, Ended("lost"))
            return
        reason = "customer"
        try:
            await agent.converse(leg)
        except CallEnded:
            reason = "agent"
        finally:
            with agent.logged(f"drop leg {leg.id}"):
                await agent.drop_leg(leg)
        self.send(live.callback_id, Ended(reason))

    async def _join_as_caller(self, live: _Live, command: JoinAsCaller) -> None:
        customer = live.customer
        if customer is None:
            self.send(live.callback_id, Ended("lost"))
            return
        reason = "agent"
        callback = self.book.get(live.callback_id)
        config = self.configs.get(command.entry.queue)
        request = fm.EnterQueue(
            queue=command.entry.queue,
            skills=(),
            priority=command.entry.priority or 0,
            media=(),
            variables={},
            language="en",
        )
        timer: asyncio.Task[None] | None = None
        try:
            returning = callback_returning(config) if config else CALLBACK_RETURNING
            said = media_for([Say(returning)], self.voice, lambda _: None)
            await customer.play(list(said))
            if callback is not None:
                self.book.in_line(callback.id, self.clock())
            if command.wait_limit > 0:
                timer = asyncio.create_task(self._no_agent_after(customer, command.wait_limit))
            result = await self.queues.serve(customer, request, resume=command.entry.to_dict())
            if not isinstance(result, fm.Completed):
                reason = getattr(result, "reason", "left the queue")
        except CallEnded:
            if customer.interrupted == NO_AGENT and not customer.hung_up and config is not None:
                customer.resume()
                told = media_for([Say(callback_no_agent(config))], self.voice, lambda _: None)
                self.store.append(
                    "callback.no_agent",
                    self._log_id(live.callback_id),
                    {"callback": live.callback_id, "waited": command.wait_limit, "media": told},
                )
                with contextlib.suppress(CallEnded):
                    await customer.play(list(told))
                await self._end_call(customer)
                live.customer = None
                self.send(live.callback_id, NoAgent())
                return
            reason = "customer"
        finally:
            if timer is not None:
                timer.cancel()
        self.send(live.callback_id, Ended(reason))

    async def _no_agent_after(self, customer: Call, limit: float) -> None:
        """Customer-first: once ``limit`` seconds in line have passed with no agent (none
        talking to them, none ringing for them), take the customer out of the line."""
        await asyncio.sleep(limit)
        router = self.queues.router
        while router.entry(customer.id) is not None:
            if not router.pending(customer.id):
                customer.interrupt(NO_AGENT)
                return
            await asyncio.sleep(1.0)  # an agent rings for them: let that ring end first

    def _log_id(self, callback_id: str) -> str:
        """The call id a live callback's events are logged under: the call it was asked
        from, as its ``callback.<state>`` rows are (the callback's own id without one)."""
        callback = self.book.get(callback_id)
        return callback.call_id if callback is not None and callback.call_id else callback_id

    # --- ends ------------------------------------------------------------------------

    def _adopt(self, start: StasisStart, events: EventQueue) -> Call:
        """A channel of ours that answered, as a call the service resyncs after a reconnect."""
        call = Call(self.host.ari, start, events, app=self.app, attach=self.host.attach_channel)
        self.host.calls[call.id] = call
        return call

    def _release_agent(self, agent: str) -> None:
        for live in self._live.values():
            if live.agent_name == agent and live.agent_channel is not None:
                channel, live.agent_channel, live.agent_name = live.agent_channel, None, None
                self._in_background(self._hang_up(channel), f"release {agent}")

    def _hang_up_customer(self, callback_id: str) -> None:
        live = self._live.get(callback_id)
        if live is None:
            return
        for call in (live.customer,):
            if call is not None:
                self._in_background(self._hang_up(call.id), f"hang up {call.id}")
        if live.dialing is not None:  # a dial in progress stops: its ring, or AMD
            self._in_background(self._hang_up(live.dialing), f"hang up {live.dialing}")
        if live.customer_leg is not None:
            self._in_background(self._hang_up(live.customer_leg.id), "hang up customer")

    async def _hang_up(self, channel_id: str) -> None:
        with contextlib.suppress(ari_errors.AriError, RuntimeError):  # RuntimeError: no ARI
            await self.host.ari.channels.hangup(channel_id)

    async def _end_calls(self, live: _Live) -> None:
        """The callback's task is done: no channel of it outlives it."""
        for call in (live.agent, live.customer):
            if call is not None:
                await self._end_call(call)
        live.agent = live.customer = None
        if live.agent_channel is not None:
            await self._hang_up(live.agent_channel)
        if live.dialing is not None:
            await self._hang_up(live.dialing)
            live.dialing = None

    async def _end_call(self, call: Call) -> None:
        await call.hangup()
        await call.drain(timeout=2.0)
        if self.host.calls.get(call.id) is call:
            del self.host.calls[call.id]

    def _in_background(self, work: Any, name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._chores.append(task)
        task.add_done_callback(lambda t: self._chores.remove(t) if t in self._chores else None)

    # --- after a restart -------------------------------------------------------------

    async def _reconcile_later(self) -> None:
        await self.host.recovered.wait()
        try:
            await self.reconcile()
        except ari_errors.AriError as exc:
            log.error("callbacks: reconcile with Asterisk failed: %s", exc)

    async def reconcile(self) -> None:
        """Settle the callbacks a former life left dialing or connected with the channels
        Asterisk still has: an answered customer is connected (never dialled again), the
        rest hung up and retried; callback channels nobody claims are hung up."""
        channels = {c.id: c for c in await self.host.ari.channels.list() if "-cb-" in c.id}
        claimed: set[str] = set()
        for callback in self.book.live():
            if callback.state not in (CallbackState.DIALING, CallbackState.CONNECTED):
                continue
            if callback.id in self._live:
                continue  # this life's own
            mine = {i: c for i, c in channels.items() if f"-cb-{callback.id}-" in i}
            customer = _find(mine, rf"-cb-{re.escape(callback.id)}-{callback.attempts}$")
            agent = _find(mine, rf"-cb-{re.escape(callback.id)}-agent\d+$")
            # A customer caught while AMD listened is in the dialplan, not the app: as gone
            # (hung up below, retried as lost), never taken for an answered person.
            customer_up = customer is not None and customer.state == "Up" and not _in_amd(customer)
            agent_up = agent is not None and agent.state == "Up"
            log.warning(
                "callback %s was %s when callflow stopped: customer %s, agent %s",
                callback.id,
                callback.state,
                "up" if customer_up else "gone",
                "up" if agent_up else "gone",
            )
            if customer_up and callback.state is CallbackState.CONNECTED and agent_up:
                assert customer is not None and agent is not None
                claimed |= {customer.id, agent.id}
                self._watch(callback, agent, customer)
                continue
            if customer_up and callback.state is CallbackState.CONNECTED and customer:
                # Customer-first: talking to an agent rung from the queue (a leg of the
                # customer's call), or still waiting in line for one.
                queue_leg = _find(mine, rf"^{re.escape(customer.id)}-leg\d+")
                claimed.add(customer.id)
                if queue_leg is not None and queue_leg.state == "Up":
                    claimed.add(queue_leg.id)
                    name = self.queues.agent_for_endpoint(queue_leg.name.rsplit("-", 1)[0])
                    self._watch(callback, queue_leg, customer, agent_name=name)
                else:
                    await self._back_in_line(callback, customer)
                continue
            if customer_up and customer is not None:
                claimed.add(customer.id)
                live = self._live.setdefault(callback.id, _Live(callback.id))
                if agent_up and agent is not None and callback.agent is not None:
                    claimed.add(agent.id)
                    self._hold_agent(callback)
                    live.agent_name, live.agent_channel = callback.agent, agent.id
                    live.agent = self._take_back(agent)
                    live.customer_leg = Leg(customer.id, customer.name, answered=True)
                    live.agent.legs[customer.id] = live.customer_leg
                    self.host.attach_channel(customer.id, live.agent.events)
                else:
                    live.customer = self._take_back(customer)
            self.perform(self.book.reconcile(callback.id, customer_up, agent_up, self.clock()))
        for channel_id in channels.keys() - claimed:
            if not any(c.id in (channel_id,) for c in self.host.calls.values()):
                await self._hang_up(channel_id)
        self.queues.kick()

    async def _back_in_line(self, callback: Callback, customer: Channel) -> None:
        """Customer-first: an answered customer a former life left waiting for an agent
        goes back in line, in their original place (out of the old holding bridge)."""
        with contextlib.suppress(ari_errors.AriError):
            for bridge in await self.host.ari.bridges.list():
                if set(bridge.channels) == {customer.id}:  # a former life's, theirs alone
                    await self.host.ari.bridges.destroy(bridge.id)
                elif customer.id in bridge.channels:
                    await self.host.ari.bridges.remove_channel(bridge.id, customer.id)
        live = self._live.setdefault(callback.id, _Live(callback.id))
        live.customer = self._take_back(customer)
        self.perform([JoinAsCaller(callback.id, callback.caller_entry())])

    def _hold_agent(self, callback: Callback, name: str | None = None) -> None:
        """An agent a former life left talking to this callback's customer is on that call
        (restored as available, they would be offered another); freed as usual after."""
        agent = self.queues.router.agents.get(name or callback.agent or "")
        if agent is not None and agent.state is AgentState.AVAILABLE:
            now = self.clock()
            agent.ring(now, callback.id, callback.queue)
            agent.answered(now)

    def _take_back(self, channel: Channel) -> Call:
        events = EventQueue(channel.id)
        self.host.attach_channel(channel.id, events)
        start = StasisStart(type="StasisStart", channel=channel, args=("leg",))
        return self._adopt(start, events)

    def _watch(
        self, callback: Callback, agent: Channel, customer: Channel, agent_name: str | None = None
    ) -> None:
        """A conversation a former life connected goes on; its end completes the callback
        (and frees the agent: ``agent_name`` for a customer-first one's queue agent)."""
        live = self._live.setdefault(callback.id, _Live(callback.id))
        live.agent_name, live.agent_channel = callback.agent or agent_name, agent.id
        self._hold_agent(callback, agent_name)
        call = self._take_back(agent)
        live.agent = call

        async def watch() -> None:
            reason = "customer"
            try:
                leg = Leg(customer.id, customer.name, answered=True)
                call.legs[leg.id] = leg
                self.host.attach_channel(leg.id, call.events)
                try:  # it may have hung up before its events were ours to see
                    await self.host.ari.channels.get(leg.id)
                except ari_errors.NotFound:
                    leg.ended = True
                await call.wait_for(lambda: leg.ended)
            except CallEnded:
                reason = "agent"
            finally:
                await self._hang_up(customer.id)
                with contextlib.suppress(ari_errors.AriError):
                    for bridge in await self.host.ari.bridges.list():
                        if agent.id in bridge.channels or customer.id in bridge.channels:
                            await self._hang_up_bridge(bridge.id)
            self.send(callback.id, Ended(reason))
            if agent_name is not None:  # customer-first: the book holds no agent to free
                with contextlib.suppress(QueueError):
                    self.queues.router.call_ended(agent_name, self.clock())
                self.queues.kick()
            await self._end_calls(live)
            self._live.pop(callback.id, None)

        live.task = asyncio.create_task(watch(), name=f"callback:{callback.id}")

    async def _hang_up_bridge(self, bridge_id: str) -> None:
        with contextlib.suppress(ari_errors.AriError):
            await self.host.ari.bridges.destroy(bridge_id)

    # --- requests and cancels from the CLI -------------------------------------------

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL)
            try:
                rows = await self.store.live_callbacks_async(mine=True)
                self.poll_store(rows)
            except Exception:  # a background chore: say it, and go on
                log.exception("callbacks: reading the store's requests failed")

    def poll_store(self, rows: list[dict[str, Any]]) -> None:
        """Take the CLI's requests (rows ``submitted``) and cancels (``cancel-asked``)."""
        for row in rows:
            state, callback_id = row.get("state"), str(row.get("id", ""))
            if state == CANCEL_ASKED:
                if not self.cancel(callback_id, str(row.get("reason") or "cli")):
                    # Not live here (over already, or unreadable): the row says cancelled.
                    reason = f"cancelled: {row.get('reason') or 'cli'}"
                    gone = {**row, "state": CallbackState.CANCELLED.value, "reason": reason}
                    self.store.save_callback(gone, "callback.cancelled", _row_event(gone, reason))
            elif state == SUBMITTED and self.book.get(callback_id) is None:
                self._take_submitted(row)

    def _take_submitted(self, row: Mapping[str, Any]) -> None:
        callback_id, queue = str(row.get("id")), str(row.get("queue"))
        number = str(row.get("number"))
        try:
            callback, created = self.request(
                queue, number, callback_id=callback_id, call_id=str(row.get("call_id") or "")
            )
        except (ValueError, KeyError) as exc:
            refused = {**row, "state": CallbackState.FAILED.value, "reason": f"refused: {exc}"}
            self.store.save_callback(
                refused, "callback.failed", _row_event(refused, f"refused: {exc}")
            )
            return
        if not created:  # the same number in the same queue: the live one stands
            duplicate = {**row, "state": CallbackState.CANCELLED.value, "reason": "duplicate"}
            self.store.save_callback(
                duplicate,
                "callback.cancelled",
                _row_event(duplicate, f"duplicate of {callback.id}"),
            )


def _row_event(row: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """The data of an event about a stored row the app has no live callback for: the
    fields the machine's own events share (callback, queue, state, attempts), and why."""
    return {
        "callback": str(row.get("id", "")),
        "queue": str(row.get("queue", "")),
        "state": str(row.get("state", "")),
        "attempts": int(row.get("attempts") or 0),
        "reason": reason,
    }


def _unanswered(cause: int | None) -> Unanswered:
    """How a call to the customer ended unanswered; no cause (or 0, "unknown") is a ring
    that ran out of time."""
    if not cause:
        return Unanswered(DialOutcome.NO_ANSWER, cause)
    return Unanswered(_OUTCOMES.get(cause, DialOutcome.FAILED), cause)


def _in_amd(channel: Channel) -> bool:
    """The channel is in the AMD context's dialplan, not yet back in the app by its
    ``Stasis()`` (where it stays, in that context, once back)."""
    where = channel.dialplan
    return where.context == AMD_CONTEXT and where.app_name.lower() != "stasis"


def _find(channels: Mapping[str, Channel], pattern: str) -> Channel | None:
    return next((c for i, c in channels.items() if re.search(pattern, i)), None)


__all__ = [
    "CANCEL_ASKED",
    "POLL_INTERVAL",
    "SUBMITTED",
    "CallbackService",
    "Host",
    "customer_channel",
    "policy_of",
    "rules_of",
]
