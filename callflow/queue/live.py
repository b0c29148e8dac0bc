"""Live queues on Asterisk: callers wait in holding bridges, agents are rung, callers hear
their own position and wait.

Every decision comes from the pure objects: the :class:`~callflow.queue.routing.Router`
(who waits, who is offered to whom) and, for each caller, a
:class:`~callflow.queue.caller.QueueCaller` machine (rings, exit keys, announcements, what
the predictor learns, the event log records). This module performs their commands over ARI
and feeds back what happened. A caller's whole time in the queue runs in that call's own
task: the scheduler here only asks the router (offers, timeouts, empty queues) and hands
the answers to the callers concerned.

Queue events in the log (kind ``queue.*``, app_queue's queue_log in other words):
``enter``, ``ring``, ``ring_no_answer``, ``ring_cancelled`` (the agent logged out while
ringing), ``connect`` (wait, ring time), ``complete``
(talk time, who hung up), ``abandon`` (wait, position, original position), ``exit``
(timeout, full, empty, key), ``announce``; and ``agent.state`` for every agent change.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol

from callflow.ari import errors as ari_errors
from callflow.ari.models import Channel
from callflow.call.clock import SteadyWallClock
from callflow.call.ids import LIFE
from callflow.call.primitives import (
    Call,
    CallEnded,
    CallerHangup,
    CallInterrupted,
    CallLost,
    Leg,
)
from callflow.flow import machine as fm
from callflow.flow.prompts import media_for
from callflow.queue.agents import AgentState, QueueError
from callflow.queue.announce import Say
from callflow.queue.caller import (
    MAX_OVERFLOW_HOPS,
    Announce,
    Answered,
    CallerEvent,
    Command,
    Connect,
    Done,
    DropLeg,
    Gone,
    KeyPressed,
    Offered,
    QueueCaller,
    Rang,
    Record,
    Ring,
    Said,
    TalkEnded,
    Tick,
    TimeUp,
    Unanswered,
    Withdrawn,
    queue_estimate,
    talk_and_hold,
)
from callflow.queue.config import QueueCenter, QueueConfig, Target
from callflow.queue.coordinator import LocalCoordinator, QueueCoordinator
from callflow.queue.estimate import CalibratedPredictor
from callflow.queue.routing import BadEntry, Offer, QueueEntry, Router
from callflow.queue.snapshot import snapshot_source
from callflow.queue.wait import WaitFigure, spoken_number, wait_sounds
from callflow.store import SqlStore, StoreError

log = logging.getLogger(__name__)


def say_media(items: Iterable[Say], voice: str = "en-us") -> list[str]:
    """Media URIs for an announcement, with the sounds app_queue uses."""
    media: list[str] = []
    for item in items:
        if item.what == "position" and item.value == 1:
            media.append("sound:queue-youarenext")
        elif item.what == "position" and isinstance(item.value, int):
            media += ["sound:queue-thereare", *spoken_number(item.value)]
            media.append("sound:queue-callswaiting")
        elif item.what == "more_than" and isinstance(item.value, int):
            media += ["sound:queue-quantity1", *spoken_number(item.value), "sound:queue-quantity2"]
        elif item.what == "wait" and isinstance(item.value, WaitFigure):
            media += wait_sounds(item.value)
        elif item.what == "prompt" and not isinstance(item.value, int | WaitFigure):
            media += media_for([item.value], voice, lambda _: None)
    return media


class CallbackDriver(Protocol):
    """The callbacks' side of the scheduler (``callflow.callback.live``): one round of the
    Router for both, so that there is one scheduler and one line."""

    def route(self, now: float) -> list[Offer]:
        """The Router's round: the offers for live callers; the callbacks' own are handled."""
        ...

    def tick(self, now: float) -> None:
        """What time alone changes for the callbacks."""
        ...

    def next_wakeup(self, now: float) -> float | None:
        """When :meth:`tick` has work next."""
        ...


HOLDING_SHARE = 100
"""Callers at most in one holding bridge; a queue with more waiting has another bridge, with
its own shared music. Asterisk writes a holding bridge's music to each of its callers from
one thread (its announcer's) and under the bridge's lock, the lock each caller's
announcement also takes as it starts and ends; several bridges spread that over the cores
(``callflow bench load``: at 300 callers, p99 from the caller's arrival to the bridge went
from 765 to 50 ms; docs/bench/load.txt)."""

EXITED_KEPT = 1000  # at most, of the calls in progress that left by an exit key
# After positions in a queue change, its callers are woken this soon, once for a whole
# burst of changes (a mass hang-up wakes each caller a few times, not once per hang-up);
# what they are told and when is announce.py's decision.
POSITIONS_WAKE = 0.5


class _Unheld(Exception):
    """A caller put out of their holding bridge whom Asterisk would not hold again."""

    def __init__(self, error: ari_errors.AriError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass
class _Waiter:
    """A caller waiting in a queue: their machine, and what the scheduler has for them."""

    call: Call
    machine: QueueCaller
    inbox: list[CallerEvent] = field(default_factory=list)  # from the scheduler, in order
    legs: dict[str, Leg] = field(default_factory=dict)  # the agents' legs ringing
    talking: Leg | None = None  # the agent's leg in conversation
    position: int = 0  # in line, when the scheduler last looked (see _wake_queue)
    bridge: str | None = None  # the holding bridge they are in (none while talking)


class QueueService:
    """Every queue and agent of the centre, live."""

    def __init__(
        self,
        center: QueueCenter,
        store: SqlStore,
        *,
        clock: Callable[[], float] | None = None,
        router: Router | None = None,
    ) -> None:
        self.center = center
        self.store = store
        self.clock = clock or SteadyWallClock()
        self.router = router or Router(center)
        self.coordinator: QueueCoordinator = LocalCoordinator(self.router)
        # Each queue's predictor reads its agents' state (how long each call has lasted,
        # known wrap-up ends) when it forecasts a short line: callflow.queue.snapshot.
        self.predictors = {
            name: CalibratedPredictor(snapshot=snapshot_source(self.router, name))
            for name in center.queues
        }
        self._waiting: dict[str, _Waiter] = {}
        self._numbers = itertools.count(1)
        # queue -> its holding bridges -> the calls in each (HOLDING_SHARE at most)
        self._holding: dict[str, dict[str, set[str]]] = {}
        self._own_music: set[str] = set()  # holding bridges without music of their own
        self._bridge_lock = asyncio.Lock()
        self._bridge_ids = itertools.count(1)
        self._cleanups: set[asyncio.Task[None]] = set()  # empty holding bridges going away
        self._kick = asyncio.Event()
        self._moved: dict[str, asyncio.TimerHandle] = {}  # queue -> its callers' wake-up
        self._scheduler: asyncio.Task[None] | None = None
        self._agent_states = {n: a.state for n, a in self.router.agents.items()}
        self.callbacks: CallbackDriver | None = None  # set by callflow.callback.live
        # Callers who just left by an exit key (by call id): a callback asked for next
        # keeps their place in line (join time, priority, skills).
        self.exited: dict[str, QueueEntry] = {}

    def call_ended(self, call_id: str) -> None:
        """The call is over: its place kept after an exit key is let go (no callback can be
        asked for from it any more)."""
        self.exited.pop(call_id, None)

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Bring agents back as they were, then start deciding rings and timeouts."""
        self.restore_agents()
        self._scheduler = asyncio.create_task(self._schedule(), name="queue-scheduler")

    async def stop(self) -> None:
        """Stop the scheduler (calls in progress are ended by the service)."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
        for timer in self._moved.values():
            timer.cancel()
        self._moved.clear()
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)

    def restore_agents(self) -> list[str]:
        """After a restart or a crash, agents are as the event log last saw them: logged in
        (available: the calls they were on ended with the old process) or paused with their
        reason. Agents no longer in the configuration are ignored. Returns who came back."""
        restored = []
        for name, record in self.store.latest("agent.state", "agent", mine=True).items():
            if name not in self.router.agents:
                continue
            state = record.data.get("state")
            if state in (None, AgentState.LOGGED_OUT.value):
                continue
            paused = state == AgentState.PAUSED.value
            reason = str(record.data.get("reason") or "") if paused else None
            try:
                self.router.login(name, self.clock(), reason)
            except QueueError as exc:
                log.warning("agent %s: not restored: %s", name, exc)
                continue
            restored.append(name)
        if restored:
            log.info("restored %d agents from the event log: %s", len(restored), restored)
            self._agents_changed()
        return restored

    def kick(self) -> None:
        """Something changed: decide again now."""
        self._kick.set()

    def _positions_changed(self, queue: str) -> None:
        """Callers of ``queue`` moved: wake them (once per burst) to look at their place."""
        if queue in self._moved:
            return
        loop = asyncio.get_running_loop()
        self._moved[queue] = loop.call_later(POSITIONS_WAKE, self._wake_queue, queue)

    def _wake_queue(self, queue: str) -> None:
        """Wake the callers of ``queue`` whose position is not the one they were last woken
        for: those behind a change (a caller ahead left, a priority caller joined ahead),
        not the whole line, whose every task would look at its place for nothing (a
        newcomer at the back moves nobody)."""
        self._moved.pop(queue, None)
        for waiter in self._waiting.values():
            entry = waiter.machine.entry
            if entry.queue != queue or waiter.machine.done:
                continue
            if self.router.entry(entry.id) is None:
                continue  # out of the line (talking, leaving): no place to look at
            position = self.router.position(entry.id)
            if position != waiter.position:
                waiter.position = position
                waiter.call.nudge()

    # --- agents (the Python API; feature codes call these too) -----------------------

    def login(self, agent: str) -> None:
        """Log an agent in: available to every queue they serve."""
        self.router.login(agent, self.clock())
        self._agents_changed()

    def logout(self, agent: str) -> None:
        """Log an agent out. A ring in progress to them is stopped: the router has taken the
        offer back, and the waiting caller's task hangs up the agent's leg."""
        for offer in self.router.logout(agent, self.clock()):
            waiter = self._waiting.get(offer.entry_id)
            if waiter is not None:
                waiter.inbox.append(Withdrawn(offer))
                waiter.call.nudge()
        self._agents_changed()

    def pause(self, agent: str, reason: str = "") -> None:
        """Pause an agent (after the current call, if on one)."""
        self.router.pause(agent, self.clock(), reason)
        self._agents_changed()

    def unpause(self, agent: str) -> None:
        """Make a paused agent available again."""
        self.router.unpause(agent, self.clock())
        self._agents_changed()

    def change_agent(self, agent: str, action: str, reason: str = "") -> AgentState:
        """One agent action by name (login, logout, pause, unpause), as feature codes and
        ``callflow agents`` ask for it; wakes the scheduler and returns the agent's state.
        Raises QueueError when the agent is unknown or the action not possible now."""
        actions: dict[str, Callable[[], None]] = {
            "login": lambda: self.login(agent),
            "logout": lambda: self.logout(agent),
            "pause": lambda: self.pause(agent, reason),
            "unpause": lambda: self.unpause(agent),
        }
        if action not in actions:
            raise QueueError(f"unknown agent action '{action}' (expected {', '.join(actions)})")
        actions[action]()
        self.kick()
        return self.router.agent(agent).state

    def agent_for_endpoint(self, endpoint: str) -> str | None:
        """The agent who uses this endpoint (``PJSIP/agent1``), if any."""
        for name, agent in self.router.agents.items():
            if agent.endpoint == endpoint:
                return name
        return None

    def figures(self, queue: str) -> fm.QueueFigures:
        """Live figures for a flow's branch conditions on ``queue.*``."""
        if queue not in self.center.queues:
            return fm.QueueFigures()
        waiting = self.router.callers_waiting(queue)
        now = self.clock()
        estimate = queue_estimate(self.router, self.predictors[queue], queue, waiting + 1, 0.0, now)
        return fm.QueueFigures(
            estimated_wait=estimate,
            callers_waiting=waiting,
            agents_available=self.router.agents_available(queue),
        )

    # --- a caller in the queue ---------------------------------------------------------

    async def serve(
        self,
        call: Call,
        request: fm.EnterQueue,
        *,
        node: str | None = None,
        resume: Mapping[str, object] | None = None,
    ) -> fm.Result:
        """Keep the caller in the queue until an agent talked to them, or they must go.

        Returns Completed after a conversation, Redirect to a flow node (exit key,
        overflow), or Failed (unknown queue, full or empty with no overflow set).
        Raises CallerHangup if the caller hangs up: that is an abandon.

        ``node`` is the flow node the caller waits in (kept in the store with the entry, so
        that a restarted callflow can take them back); ``resume`` is such a stored entry:
        the caller goes back into line with their original join time and priority.
        """
        name = request.queue if resume is None else str(resume.get("queue", request.queue))
        for _ in range(MAX_OVERFLOW_HOPS):
            queue = self.center.queues.get(name)
            if queue is None:
                log.error("call %s: no queue named %r", call.id, name)
                return fm.Failed("unknown_queue")
            outcome = await self._serve_one(call, queue, request, node, resume)
            resume = None
            if isinstance(outcome, Target):
                if outcome.kind == "node":
                    return fm.Redirect(outcome.name, "overflow")
                name = outcome.name
                continue
            return outcome
        return fm.Failed("overflow_loop")

    async def _new_entry(
        self, call: Call, queue: QueueConfig, request: fm.EnterQueue
    ) -> QueueEntry:
        last_agent = None
        if queue.last_agent.enabled:
            # One index probe, off the loop (the store's last_agents table).
            since = self.clock() - queue.last_agent.days * 86_400
            try:
                last_agent = await self.store.last_agent(call.caller_number, since)
            except StoreError as exc:  # a database away: the caller joins, unrouted to them
                log.warning("call %s: no last agent looked up (%s)", call.id, exc)
        return QueueEntry(
            id=call.id,
            queue=queue.name,
            caller=call.caller_number,
            priority=request.priority or None,
            skills={skill: 1 for skill in request.skills},
            joined_at=self.clock(),  # after the lookup: the wait starts at the join
            last_agent=last_agent,
        )

    async def _serve_one(
        self,
        call: Call,
        queue: QueueConfig,
        request: fm.EnterQueue,
        node: str | None,
        resume: Mapping[str, object] | None,
    ) -> fm.Result | Target:
        entry = None
        if resume is not None:
            try:
                entry = replace(QueueEntry.from_dict(resume), id=call.id, queue=queue.name)
            except BadEntry as exc:
                log.warning("call %s: stored queue entry unusable (%s); joins anew", call.id, exc)
        machine = QueueCaller(
            entry or await self._new_entry(call, queue, request),
            queue,
            self.router,
            self.predictors[queue.name],
            next(self._numbers),
            resumed=entry is not None,
        )
        first = machine.join(self.clock())
        # Recorded at once: the log says when the caller joined, not when the holding
        # bridge took them.
        refused = await self._perform(
            None, [c for c in first if isinstance(c, Record | Done)], call, queue
        )
        if refused is not None:
            return self._result(refused)
        first = [c for c in first if not isinstance(c, Record | Done)]
        self.store.save_queue_entry(
            {**machine.entry.to_dict(), "node": node, "dialled": call.dialled}
        )
        waiter = _Waiter(call, machine, position=self.router.position(machine.entry.id))
        self._waiting[machine.entry.id] = waiter
        try:
            try:
                waiter.bridge = await self._enter_holding(call, queue)
            except ari_errors.AriError as exc:
                return await self._unavailable(waiter, queue, exc)
            # Committed before anything else is done for the caller (rings, announcements),
            # but once they hear the music: not in silence while the disk syncs. A crash
            # before the commit leaves a caller with no stored entry, in a holding bridge
            # of a former life or not yet in one: either way the flow's restart node
            # (call/recovery.py), and the stale bridge destroyed.
            await asyncio.to_thread(self.store.flush)
            self.kick()
            self._positions_changed(queue.name)  # a priority caller puts others back
            try:
                done = await self._drive(waiter, queue, first)
            except _Unheld as exc:
                return await self._unavailable(waiter, queue, exc.error)
            if done.outcome == "exit_key":
                self.exited[call.id] = machine.entry
                while len(self.exited) > EXITED_KEPT:
                    del self.exited[next(iter(self.exited))]
            return self._result(done)
        except CallEnded as exc:
            await self._perform(waiter, machine.send(_gone(exc), self.clock()), call, queue)
            raise
        finally:
            self._waiting.pop(machine.entry.id, None)
            self.router.leave(machine.entry.id, self.clock(), "abandon")  # no-op if gone
            self.store.delete_queue_entry(machine.entry.id)
            for leg in [*waiter.legs.values(), *filter(None, [waiter.talking])]:
                with call.logged(f"drop leg {leg.id}"):
                    await call.drop_leg(leg)
            if waiter.bridge is not None:
                await self._leave_holding(call, queue, waiter.bridge)
            self._positions_changed(queue.name)
            self._agents_changed()
            self.kick()

    async def _unavailable(self, waiter: _Waiter, queue: QueueConfig, exc: Exception) -> fm.Result:
        """Asterisk would not hold the caller in a holding bridge: they leave the queue
        (``unavailable``) for the flow's on_failure, unless they hung up meanwhile."""
        call = waiter.call
        # Most often the caller hung up at that very moment (422, 404): the next read says
        # so. Otherwise the queue cannot hold them: the flow's on_failure.
        log.warning("call %s: cannot hold in queue %s: %s", call.id, queue.name, exc)
        refused_at = self.clock()
        await call.wait_for(lambda: call.hung_up, timeout=1.0)
        if (ended := call.ended()) is not None:
            raise ended from exc  # an abandon (or lost) in line, as any other
        commands = waiter.machine.send(Gone("unavailable"), refused_at)
        await self._perform(waiter, commands, call, queue)
        return fm.Failed("queue_unavailable")

    async def _drive(self, waiter: _Waiter, queue: QueueConfig, commands: list[Command]) -> Done:
        """Perform the machine's commands and feed it what happens, until it is done."""
        call, machine = waiter.call, waiter.machine
        while True:
            done = await self._perform(waiter, commands, call, queue)
            if done is not None:
                return done
            if waiter.bridge is not None and call.left_bridge(waiter.bridge):
                await self._hold_again(waiter, queue)
            commands = self._events(waiter) or await self._leg_events(waiter)
            if commands:
                continue
            now = self.clock()
            wake = machine.next_wakeup(now)
            if wake is not None and wake <= now:
                commands = machine.send(Tick(), now)
                if commands or machine.done:
                    continue
                wake = now + 0.05  # nothing to do after all: never spin
            timeout = None if wake is None else max(0.05, wake - now)
            if await call.next_event(timeout) is None:
                commands = machine.send(Tick(), self.clock())

    def _events(self, waiter: _Waiter) -> list[Command]:
        """Feed the machine what the scheduler left for it, and the keys the caller pressed."""
        commands: list[Command] = []
        machine, call = waiter.machine, waiter.call
        while waiter.inbox and not machine.done:
            commands += machine.send(waiter.inbox.pop(0), self.clock())
        while call.digits and not machine.done:
            commands += machine.send(KeyPressed(call.digits.popleft()), self.clock())
        return commands

    async def _leg_events(self, waiter: _Waiter) -> list[Command]:
        """Feed the machine the agents' legs that answered or ended since last time."""
        commands: list[Command] = []
        machine, call = waiter.machine, waiter.call
        for leg_id, leg in list(waiter.legs.items()):
            if machine.done:
                break
            if leg.answered:
                commands += machine.send(Answered(leg_id), self.clock())
            elif leg.ended:
                reason = await call.unanswered_outcome(leg)
                del waiter.legs[leg_id]
                cause = leg.cause if leg.destroyed else None
                commands += machine.send(Unanswered(leg_id, reason, cause), self.clock())
        return commands

    async def _perform(
        self,
        waiter: _Waiter | None,
        commands: list[Command],
        call: Call,
        queue: QueueConfig,
    ) -> Done | None:
        """Carry out the machine's commands in order (and those that follow from them);
        the Done among them, if any."""
        todo = deque(commands)
        done: Done | None = None
        while todo:
            command = todo.popleft()
            followups: list[Command] = []
            if isinstance(command, Record):
                self.store.append(command.kind, call.id, command.data)
            elif isinstance(command, Done):
                done = command
            elif waiter is None:
                continue
            elif isinstance(command, Ring):
                followups = await self._ring(waiter, command.offer)
            elif isinstance(command, DropLeg):
                leg = waiter.legs.pop(command.leg, None) or call.legs.get(command.leg)
                if leg is not None:
                    with call.logged(f"drop leg {leg.id}"):
                        await call.drop_leg(leg)
                self._agents_changed()
                self.kick()
            elif isinstance(command, Announce):
                await self._say(waiter, queue, say_media(command.items))
                followups = waiter.machine.send(Said(), self.clock())
            elif isinstance(command, Connect):
                self._agents_changed()
                self._positions_changed(queue.name)
                followups = await self._talk(waiter, queue, command.leg)
            todo.extendleft(reversed(followups))
        return done

    async def _ring(self, waiter: _Waiter, offer: Offer) -> list[Command]:
        """Start ringing an agent for this caller (a ring Asterisk refuses ends at once)."""
        call, machine = waiter.call, waiter.machine
        leg = await call.ring(
            offer.endpoint, ring_timeout=offer.ring_timeout, caller_id=_caller_id(machine.entry)
        )
        waiter.legs[leg.id] = leg
        return machine.send(Rang(offer, leg.id), self.clock())

    async def _talk(self, waiter: _Waiter, queue: QueueConfig, leg_id: str) -> list[Command]:
        """Out of the holding bridge (and its music) first, then the conversation; the
        machine hears how it ended (records are written even if the caller hung up)."""
        call, machine = waiter.call, waiter.machine
        leg = waiter.legs.pop(leg_id, None) or call.legs[leg_id]
        waiter.talking = leg
        bridge, waiter.bridge = waiter.bridge, None
        if bridge is not None:
            await self._leave_holding(call, queue, bridge)
        self.store.delete_queue_entry(machine.entry.id)
        try:
            await call.converse(leg)
        except CallEnded as exc:
            ended = await self._talk_ended(waiter, leg, _hung_up_by(exc))
            await self._perform(waiter, ended, call, queue)
            raise
        return await self._talk_ended(waiter, leg, "agent")

    async def _talk_ended(self, waiter: _Waiter, leg: Leg, hung_up_by: str) -> list[Command]:
        call = waiter.call
        with call.logged(f"drop leg {leg.id}"):
            await call.drop_leg(leg)
        waiter.talking = None
        commands = waiter.machine.send(TalkEnded(hung_up_by, hold=leg.hold), self.clock())
        self._agents_changed()
        self.kick()
        return commands

    def _result(self, done: Done) -> fm.Result | Target:
        """What the flow hears of a caller's time in a queue."""
        if done.outcome == "answered":
            return fm.Completed(f"answered by {done.agent}")
        if done.outcome == "exit_key" and done.key_node is not None:
            return fm.Redirect(done.key_node, "exit_key")
        if done.target is not None:
            return done.target
        reason = {"timeout": "timeout", "empty": "empty", "full": "full"}.get(done.outcome)
        return fm.Failed(f"queue_{reason or done.outcome}")

    async def resume_conversation(self, call: Call, leg: Channel, bridge: str) -> None:
        """Recovery: a caller was talking to an agent when a former life of callflow stopped.
        They go on talking; the agent counts as on that call until it ends, then as usual
        (wrap-up, next caller)."""
        agent = self.agent_for_endpoint(leg.name.rsplit("-", 1)[0])
        connects = await self.store.events_async(call_id=call.id, kind="queue.connect")
        queue = str(connects[-1].data.get("queue", "")) if connects else ""
        now = self.clock()
        if agent is not None and queue in self.router.members:
            state = self.router.agent(agent)
            if state.state is AgentState.AVAILABLE:
                state.ring(now, call.id, queue)
                state.answered(now)
                self._agents_changed()
        hung_up_by = "agent"
        try:
            await call.keep_talking(leg, bridge)
        except CallEnded as exc:
            hung_up_by = _hung_up_by(exc)
            raise
        finally:
            end = self.clock()
            held = call.legs.get(leg.id)
            if queue and agent is not None:
                self._log(
                    "queue.complete",
                    call,
                    queue,
                    agent=agent,
                    **talk_and_hold(end - now, held.hold if held is not None else 0.0),
                    hung_up_by=hung_up_by,
                    recovered=True,
                )
                with contextlib.suppress(QueueError):
                    self.router.call_ended(agent, end)
            self._agents_changed()
            self.kick()

    async def _say(self, waiter: _Waiter, queue: QueueConfig, media: list[str]) -> None:
        """Play to this caller only, then they hear the music again.

        Asterisk 22: the holding bridge plays the queue's music to all its participants
        (``POST /bridges/{id}/moh``, one announcer channel for everyone); a playback to one
        participant channel is heard by that caller alone, in place of the bridge's audio,
        and when it ends the caller hears the bridge's music again, so an announcement
        costs its playbacks and nothing around them.

        Where the bridge has no music (Asterisk without chan_bridge_media, see
        :meth:`_enter_holding`) each caller has their own MOH: a playback pauses it and
        Asterisk does not always resume it, so it is stopped and restarted around the
        announcement.
        """
        call = waiter.call
        own = waiter.bridge in self._own_music
        if own:
            with call.logged("stop music"):
                await call.ari.channels.stop_moh(call.id)
        # An exit key, or an agent becoming free for this caller, cuts it short.
        await call.play(media, barge_in=True, until=lambda: bool(waiter.inbox), together=True)
        if own:
            with call.logged("restart music"):
                await call.ari.channels.start_moh(call.id, queue.music_class)

    # --- the holding bridge ----------------------------------------------------------

    async def _enter_holding(self, call: Call, queue: QueueConfig) -> str:
        """Put the caller in one of the queue's holding bridges (a new one when all are
        full), with its music; the bridge."""
        retried = False
        while True:
            bridge = await self._holding_bridge(call, queue)
            try:
                # A channel gone meanwhile (400 "Channel not found") is the caller hanging
                # up; a 404 is the bridge's.
                await call.channel_request(
                    call.ari.bridges.add_channel(bridge, call.id, role="participant"),
                    gone=(ari_errors.ChannelGone,),
                )
            except ari_errors.NotFound:
                # Destroyed under us (by an operator or another app) before its callers
                # said so: nobody joins it any more, and this caller tries a new one.
                log.warning(
                    "call %s: holding bridge %s is gone (destroyed, not by callflow);"
                    " trying another",
                    call.id,
                    bridge,
                )
                await self._forget_bridge(queue, bridge)
                if retried:
                    raise
                retried = True
                continue
            except (ari_errors.AriError, CallEnded):
                # The bookkeeping above; the caller never got in, so nothing to take out.
                await self._leave_holding(call, queue, bridge, joined=False)
                raise
            if bridge in self._own_music:
                with call.logged("start music"):
                    await call.ari.channels.start_moh(call.id, queue.music_class)
            return bridge

    async def _holding_bridge(self, call: Call, queue: QueueConfig) -> str:
        """A holding bridge of the queue with room for one more (booked for ``call``)."""
        async with self._bridge_lock:
            bridges = self._holding.setdefault(queue.name, {})
            bridge = next((b for b, calls in bridges.items() if len(calls) < HOLDING_SHARE), None)
            if bridge is None:
                # A fresh id each time: the last bridge of this queue may still be being
                # destroyed (in the background, see _leave_holding).
                bridge = f"callflow-queue-{queue.name}-{LIFE}-{next(self._bridge_ids)}"
                with contextlib.suppress(ari_errors.Conflict):
                    await call.ari.bridges.create("holding", bridge_id=bridge, name=queue.name)
                # The queue's music once for everyone in its bridge, not one MOH per caller
                # (per-channel music was Asterisk's main cost with hundreds waiting).
                try:
                    await call.ari.bridges.start_moh(bridge, queue.music_class)
                except ari_errors.AriError as exc:
                    # Bridge music needs chan_bridge_media (its Announcer channel): without
                    # it Asterisk 22 answers 500 "Allocation failed"; callers then get
                    # their own MOH each, as before.
                    log.warning(
                        "holding bridge %s: no shared music (%s); each caller gets their own"
                        " (load chan_bridge_media.so in Asterisk for shared music)",
                        bridge,
                        exc,
                    )
                    self._own_music.add(bridge)
                bridges[bridge] = set()
            bridges[bridge].add(call.id)
        return bridge

    async def _forget_bridge(self, queue: QueueConfig, bridge: str) -> None:
        """A holding bridge Asterisk no longer has: out of the bookkeeping, for everyone in
        it (each is put in another as they hear they left it: :meth:`_hold_again`)."""
        async with self._bridge_lock:
            bridges = self._holding.get(queue.name, {})
            if bridges.pop(bridge, None) is not None and not bridges:
                del self._holding[queue.name]
            self._own_music.discard(bridge)

    async def _hold_again(self, waiter: _Waiter, queue: QueueConfig) -> None:
        """The caller left their holding bridge and callflow did not ask for it: the bridge
        was destroyed under them (an operator's ``bridge destroy``, another ARI app) or
        they were taken out. They are put back in one at once, with its music: their place
        in line, their announcements and an agent ringing for them all go on."""
        call, old = waiter.call, waiter.bridge
        assert old is not None
        waiter.bridge = None
        try:
            await call.ari.bridges.get(old)
        except ari_errors.NotFound:
            await self._forget_bridge(queue, old)
            how = "destroyed"
        else:
            await self._leave_holding(call, queue, old, joined=False)
            how = "taken out of it"
        log.warning(
            "call %s: out of holding bridge %s (%s, not by callflow); holding them again",
            call.id,
            old,
            how,
        )
        try:
            waiter.bridge = await self._enter_holding(call, queue)
        except ari_errors.AriError as exc:
            raise _Unheld(exc) from exc

    async def _leave_holding(
        self, call: Call, queue: QueueConfig, bridge: str, *, joined: bool = True
    ) -> None:
        """Take the caller out (if still there: ``joined``, and not hung up) and destroy the
        bridge once it is empty.

        Only the bookkeeping is done under the lock: callers whose agents answer at the
        same moment are moved out in parallel, and an emptied bridge is destroyed in the
        background, so that a caller never waits for it before hearing their agent
        (``callflow bench connect`` measures this).
        """
        async with self._bridge_lock:
            bridges = self._holding.get(queue.name, {})
            members = bridges.get(bridge, set())
            if call.id not in members:
                return
            members.discard(call.id)
            empty = not members
            if empty:
                del bridges[bridge]
                if not bridges:
                    del self._holding[queue.name]
        if joined and not call.hung_up:
            if bridge in self._own_music:
                with call.logged("stop music"):
                    await call.ari.channels.stop_moh(call.id)
            with call.logged(f"leave holding bridge {bridge}"):
                await call.ari.bridges.remove_channel(bridge, call.id)
        if empty:
            self._own_music.discard(bridge)
            task = asyncio.create_task(self._destroy_bridge(call, bridge), name=f"destroy:{bridge}")
            self._cleanups.add(task)
            task.add_done_callback(self._cleanups.discard)

    @staticmethod
    async def _destroy_bridge(call: Call, bridge: str) -> None:
        try:
            await call.ari.bridges.destroy(bridge)
        except ari_errors.AriError as exc:
            log.debug("holding bridge %s not destroyed: %s", bridge, exc)
        except Exception:  # a background task: never leave an exception unretrieved
            log.exception("holding bridge %s: destroy failed", bridge)

    # --- the scheduler ---------------------------------------------------------------

    async def _schedule(self) -> None:
        """Decide rings, timeouts and empty queues whenever something changes or is due.

        The questions go to the coordinator (in process: the Router; with several nodes, the
        one place that decides the line)."""
        coordinator = self.coordinator
        while True:
            self._kick.clear()  # a kick while deciding below means: decide again at once
            now = self.clock()
            if self.callbacks is not None:
                self.callbacks.tick(now)
                offers = self.callbacks.route(now)
            else:
                offers = await coordinator.offers(now)
            for offer in offers:
                waiter = self._waiting.get(offer.entry_id)
                if waiter is None:
                    await coordinator.ring_ended(offer, "caller_gone", now)
                    continue
                waiter.inbox.append(Offered(offer))
                waiter.call.nudge()
            for entry_id, reason, target in await coordinator.time_up(now):
                waiter = self._waiting.get(entry_id)
                asked = waiter is not None and any(isinstance(e, TimeUp) for e in waiter.inbox)
                if waiter is not None and not asked and not waiter.machine.rings:
                    waiter.inbox.append(TimeUp(reason, target))
                    waiter.call.nudge()
            self._agents_changed()
            wake = await coordinator.next_wakeup(now)
            if self.callbacks is not None:
                wakes = [w for w in (wake, self.callbacks.next_wakeup(now)) if w is not None]
                wake = min(wakes) if wakes else None
            timeout = None if wake is None else max(0.05, wake - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout)

    # --- the event log ---------------------------------------------------------------

    def _log(self, kind: str, call: Call, queue: str, **data: object) -> None:
        self.store.append(kind, call.id, {"queue": queue, **data})

    def _agents_changed(self) -> None:
        """Log every agent whose state changed since last time."""
        for name, agent in self.router.agents.items():
            if self._agent_states.get(name) is not agent.state:
                self._agent_states[name] = agent.state
                self.store.append(
                    "agent.state",
                    "",
                    {"agent": name, "state": agent.state.value, "reason": agent.pause_reason},
                )


def _hung_up_by(exc: CallEnded) -> str:
    """Who ended a conversation with an agent, as ``queue.complete`` says it: ``caller``,
    ``lost`` (with Asterisk) or why callflow let go (``shutdown``)."""
    if isinstance(exc, CallLost):
        return "lost"
    if isinstance(exc, CallerHangup):
        return "caller"
    return exc.reason if isinstance(exc, CallInterrupted) else "shutdown"


def _gone(exc: CallEnded) -> Gone:
    """How a caller left, for their machine: hung up, lost with Asterisk, or let go of."""
    if isinstance(exc, CallLost):
        return Gone("lost", exc.at)
    if isinstance(exc, CallerHangup):
        return Gone("abandon")
    return Gone(exc.reason if isinstance(exc, CallInterrupted) else "shutdown")


def _caller_id(entry: QueueEntry) -> str | None:
    return entry.caller if re.fullmatch(r"\+?[0-9]{1,20}", entry.caller) else None
