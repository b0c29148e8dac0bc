"""Live queues on Asterisk: callers wait in holding bridges, agents are rung, callers hear
their own position and wait.

Every decision comes from the pure objects (:class:`~callflow.queue.routing.Router`,
:func:`~callflow.queue.announce.announce`, the wait predictor); this module performs them
over ARI and writes each queue event to the event log, which KPIs and last-agent routing
read back. A caller's whole time in the queue runs in that call's own task: the scheduler
here only decides (offers, timeouts, empty queues) and nudges the tasks concerned.

Queue events in the log (kind ``queue.*``, app_queue's queue_log in other words):
``enter``, ``ring``, ``ring_no_answer``, ``ring_cancelled`` (the agent logged out while
ringing), ``connect`` (wait, ring time), ``complete``
(talk time, who hung up), ``abandon`` (wait, position, original position), ``exit``
(timeout, full, empty, key), ``announce``; and ``agent.state`` for every agent change.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from callflow.app.call import RUN_ID, Call, CallEnded, CallerHangup, CallInterrupted, CallLost, Leg
from callflow.ari import errors as ari_errors
from callflow.ari.models import Channel
from callflow.flow import machine as fm
from callflow.flow.prompts import media_for
from callflow.queue.agents import AgentState, QueueError
from callflow.queue.announce import AnnounceState, Say, announce, next_due
from callflow.queue.config import QueueCenter, QueueConfig, Target
from callflow.queue.estimate import (
    CallerAbandoned,
    CallerAnswered,
    CallerJoined,
    ConservativePredictor,
    ServiceCompleted,
    spoken_wait,
)
from callflow.queue.routing import BadEntry, Offer, QueueEntry, Router, last_agent_for
from callflow.store import SqliteStore

log = logging.getLogger(__name__)

# A leg that Asterisk has not ended this long after its ring timeout is hung up by us.
RING_GRACE = 2.0
MAX_OVERFLOW_HOPS = 3
_ABOUT = re.compile(r"about (\d+) minutes?")


def wait_media(words: str) -> tuple[str, ...]:
    """Asterisk core sounds for a wait phrase from :func:`spoken_wait` (app_queue's own)."""
    if words == "less than a minute":
        return ("sound:queue-holdtime", "sound:queue-less-than", "number:1", "sound:queue-minute")
    if words == "about an hour":
        return ("sound:queue-holdtime", "number:60", "sound:queue-minutes")
    found = _ABOUT.fullmatch(words)
    if found is None:
        return ()  # "more than an hour": no honest figure to give in these sounds
    minutes = int(found.group(1))
    unit = "sound:queue-minute" if minutes == 1 else "sound:queue-minutes"
    return ("sound:queue-holdtime", f"number:{minutes}", unit)


def say_media(items: Iterable[Say], voice: str = "en-us") -> list[str]:
    """Media URIs for an announcement, with the sounds app_queue uses."""
    media: list[str] = []
    for item in items:
        if item.what == "position" and item.value == 1:
            media.append("sound:queue-youarenext")
        elif item.what == "position":
            media += ["sound:queue-thereare", f"number:{item.value}", "sound:queue-callswaiting"]
        elif item.what == "more_than":
            media += ["sound:queue-quantity1", f"number:{item.value}", "sound:queue-quantity2"]
        elif item.what == "wait" and isinstance(item.value, str):
            media += wait_media(item.value)
        elif item.what == "prompt" and not isinstance(item.value, int | str):
            media += media_for([item.value], voice, lambda _: None)
    return media


@dataclass
class _Waiter:
    """A caller waiting in a queue, as the scheduler and the caller's task share it."""

    call: Call
    entry: QueueEntry
    number: int  # the predictor's id for this caller
    announced: AnnounceState
    offers: list[Offer] = field(default_factory=list)  # rings to start
    rings: dict[str, tuple[Offer, Leg]] = field(default_factory=dict)
    withdrawn: list[Offer] = field(default_factory=list)  # rings to stop (agent logged out)
    leave: tuple[str, Target | None] | None = None  # (reason, where to) from the scheduler


class QueueService:
    """Every queue and agent of the centre, live."""

    def __init__(
        self,
        center: QueueCenter,
        store: SqliteStore,
        *,
        clock: Callable[[], float] = time.time,
        router: Router | None = None,
    ) -> None:
        self.center = center
        self.store = store
        self.clock = clock
        self.router = router or Router(center)
        self.predictors = {name: ConservativePredictor() for name in center.queues}
        self._waiting: dict[str, _Waiter] = {}
        self._numbers = itertools.count(1)
        self._bridges: dict[str, str] = {}  # queue -> its holding bridge
        self._in_bridge: dict[str, set[str]] = {}  # queue -> the calls in its bridge
        self._bridge_lock = asyncio.Lock()
        self._bridge_ids = itertools.count(1)
        self._cleanups: set[asyncio.Task[None]] = set()  # empty holding bridges going away
        self._kick = asyncio.Event()
        self._scheduler: asyncio.Task[None] | None = None
        self._agent_states = {n: a.state for n, a in self.router.agents.items()}

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
        if self._cleanups:
            await asyncio.gather(*self._cleanups, return_exceptions=True)

    def restore_agents(self) -> list[str]:
        """After a restart or a crash, agents are as the event log last saw them: logged in
        (available: the calls they were on ended with the old process) or paused with their
        reason. Agents no longer in the configuration are ignored. Returns who came back."""
        restored = []
        for name, record in self.store.latest("agent.state", "agent").items():
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
                waiter.withdrawn.append(offer)
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
        estimate = self._estimate(queue, waiting + 1, 0.0)
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

    def _new_entry(self, call: Call, queue: QueueConfig, request: fm.EnterQueue) -> QueueEntry:
        now = self.clock()
        last_agent = None
        if queue.last_agent.enabled:
            last_agent = last_agent_for(
                self._history(now - queue.last_agent.days * 86_400),
                call.caller_number,
                now,
                queue.last_agent.days,
            )
        return QueueEntry(
            id=call.id,
            queue=queue.name,
            caller=call.caller_number,
            priority=request.priority or None,
            skills={skill: 1 for skill in request.skills},
            joined_at=now,
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
        now = self.clock()
        entry = None
        if resume is not None:
            try:
                entry = replace(QueueEntry.from_dict(resume), id=call.id, queue=queue.name)
            except BadEntry as exc:
                log.warning("call %s: stored queue entry unusable (%s); joins anew", call.id, exc)
        if entry is None:
            entry = self._new_entry(call, queue, request)
        last_agent = entry.last_agent
        decision = self.router.join(entry, now)
        if not decision.joined or decision.entry is None:
            reason = decision.refused or "refused"
            self._log("queue.exit", call, queue.name, reason=reason, waited=0.0)
            return decision.overflow or fm.Failed(f"queue_{reason}")
        entry = decision.entry
        self.store.save_queue_entry({**entry.to_dict(), "node": node, "dialled": call.dialled})
        self._log(
            "queue.enter",
            call,
            queue.name,
            position=decision.position,
            priority=entry.priority,
            last_agent=last_agent,
            **({"resumed": True, "joined_at": entry.joined_at} if resume is not None else {}),
        )
        waiter = _Waiter(call, entry, next(self._numbers), AnnounceState(joined_at=now))
        self.predictors[queue.name].observe(CallerJoined(waiter.number, now))
        self._waiting[entry.id] = waiter
        bridge: str | None = None
        try:
            try:
                bridge = await self._enter_holding(call, queue)
            except ari_errors.AriError as exc:
                # Most often the caller hung up at that very moment (422, 404): the next
                # read says so. Otherwise the queue cannot hold them: the flow's on_failure.
                log.warning("call %s: cannot hold in queue %s: %s", call.id, queue.name, exc)
                await call.wait_for(lambda: call.hung_up, timeout=1.0)
                return fm.Failed("queue_unavailable")
            self.kick()
            return await self._wait(waiter, queue, bridge)
        except CallEnded as exc:
            self._left(waiter, queue, exc)
            raise
        finally:
            self._waiting.pop(entry.id, None)
            self.router.leave(entry.id, self.clock(), "abandon")  # no-op if already gone
            self.store.delete_queue_entry(entry.id)
            for offer, leg in waiter.rings.values():
                self.router.ring_ended(offer, "caller_gone", self.clock())
                with call.logged(f"drop leg {leg.id}"):
                    await call.drop_leg(leg)
            if bridge is not None:
                await self._leave_holding(call, queue, bridge)
            self._agents_changed()

    def _left(self, waiter: _Waiter, queue: QueueConfig, why: CallEnded) -> None:
        """Record a caller who left the line without an agent: an abandon if they hung up;
        a lost call (Asterisk crashed) or a shutdown of ours is no abandon."""
        entry, call = waiter.entry, waiter.call
        now = self.clock()
        if isinstance(why, CallLost):
            gone = self.router.leave(entry.id, why.at, "lost")
            if gone is not None:
                self._log(
                    "queue.exit",
                    call,
                    queue.name,
                    reason="lost",
                    waited=round(max(0.0, why.at - entry.joined_at), 3),
                    position=gone.position,
                )
        elif isinstance(why, CallerHangup):
            gone = self.router.leave(entry.id, now, "abandon")
            if gone is not None:
                self.predictors[queue.name].observe(
                    CallerAbandoned(waiter.number, now, gone.waited)
                )
                self._log(
                    "queue.abandon",
                    call,
                    queue.name,
                    waited=round(gone.waited, 3),
                    position=gone.position,
                    original_position=entry.original_position,
                )
        else:
            reason = why.reason if isinstance(why, CallInterrupted) else "shutdown"
            gone = self.router.leave(entry.id, now, "shutdown")
            if gone is not None:
                self._log(
                    "queue.exit",
                    call,
                    queue.name,
                    reason=reason,
                    waited=round(gone.waited, 3),
                    position=gone.position,
                )

    async def _wait(self, waiter: _Waiter, queue: QueueConfig, bridge: str) -> fm.Result | Target:
        call, entry = waiter.call, waiter.entry
        while True:
            now = self.clock()
            if waiter.leave is not None:
                reason, target = waiter.leave
                gone = self.router.leave(entry.id, now, reason)
                self._log(
                    "queue.exit",
                    call,
                    queue.name,
                    reason=reason,
                    waited=round(gone.waited if gone else now - entry.joined_at, 3),
                    position=gone.position if gone else None,
                )
                return target or fm.Failed(f"queue_{reason}")
            while call.digits:
                key = call.digits.popleft()
                if key in queue.exit_keys:
                    gone = self.router.leave(entry.id, now, "exit_key")
                    self._log(
                        "queue.exit",
                        call,
                        queue.name,
                        reason="exit_key",
                        key=key,
                        waited=round(gone.waited if gone else 0.0, 3),
                    )
                    return fm.Redirect(queue.exit_keys[key], "exit_key")
            while waiter.withdrawn:
                await self._withdraw(waiter, queue, waiter.withdrawn.pop(0))
            while waiter.offers:
                offer = waiter.offers.pop(0)
                leg = await call.ring(
                    offer.endpoint, ring_timeout=offer.ring_timeout, caller_id=_caller_id(entry)
                )
                waiter.rings[leg.id] = (offer, leg)
                self._log("queue.ring", call, queue.name, agent=offer.agent)
            answered = await self._check_rings(waiter, queue, now)
            if answered is not None:
                offer, leg = answered
                return await self._talk(waiter, queue, bridge, offer, leg)
            wake = await self._announce(waiter, queue, now)
            if waiter.offers or waiter.withdrawn or waiter.leave is not None or call.digits:
                continue  # arrived while the announcement played: act on it now
            deadlines = [o.ring_deadline + RING_GRACE for o, _ in waiter.rings.values()]
            until = min([wake, *deadlines])
            await call.next_event(None if until == float("inf") else max(0.05, until - now))

    async def _withdraw(self, waiter: _Waiter, queue: QueueConfig, offer: Offer) -> None:
        """Stop a ring the router took back (the agent logged out); the caller stays."""
        if offer in waiter.offers:
            waiter.offers.remove(offer)
            return
        for leg_id, (rung, leg) in list(waiter.rings.items()):
            if rung == offer:
                del waiter.rings[leg_id]
                with waiter.call.logged(f"drop leg {leg.id}"):
                    await waiter.call.drop_leg(leg)
                self._log(
                    "queue.ring_cancelled",
                    waiter.call,
                    queue.name,
                    agent=offer.agent,
                    reason="agent_logged_out",
                    ring_time=round(self.clock() - offer.started_at, 3),
                )

    async def _check_rings(
        self, waiter: _Waiter, queue: QueueConfig, now: float
    ) -> tuple[Offer, Leg] | None:
        """Settle rings that ended; return the one that answered, if any."""
        for leg_id, (offer, leg) in list(waiter.rings.items()):
            if leg.answered:
                del waiter.rings[leg_id]
                others = self.router.ring_ended(offer, "answered", now)
                for other_id, (other, other_leg) in list(waiter.rings.items()):
                    if other in others:
                        del waiter.rings[other_id]
                        await waiter.call.drop_leg(other_leg)
                self._agents_changed()
                return offer, leg
            if leg.ended or now >= offer.ring_deadline + RING_GRACE:
                del waiter.rings[leg_id]
                reason = await waiter.call.unanswered_outcome(leg) if leg.ended else "no_answer"
                outcome = "rejected" if reason in ("busy", "rejected") else "no_answer"
                self.router.ring_ended(offer, outcome, now)
                await waiter.call.drop_leg(leg)
                self._log(
                    "queue.ring_no_answer",
                    waiter.call,
                    queue.name,
                    agent=offer.agent,
                    outcome=reason,
                    cause=leg.cause if leg.ended else None,
                    ring_time=round(now - offer.started_at, 3),
                )
                self._agents_changed()
                self.kick()
        return None

    async def _talk(
        self, waiter: _Waiter, queue: QueueConfig, bridge: str, offer: Offer, leg: Leg
    ) -> fm.Result:
        call, entry = waiter.call, waiter.entry
        now = self.clock()
        waited = now - entry.joined_at
        # Out of the holding bridge (and its music) first; the bookkeeping can wait.
        await self._leave_holding(call, queue, bridge)
        self.store.delete_queue_entry(entry.id)
        self.predictors[queue.name].observe(CallerAnswered(waiter.number, now, waited))
        self._log(
            "queue.connect",
            call,
            queue.name,
            agent=offer.agent,
            caller=entry.caller,
            waited=round(waited, 3),
            ring_time=round(now - offer.started_at, 3),
        )
        hung_up_by = "agent"
        try:
            await call.converse(leg)
        except CallLost:
            hung_up_by = "lost"
            raise
        except CallerHangup:
            hung_up_by = "caller"
            raise
        except CallInterrupted as exc:
            hung_up_by = exc.reason
            raise
        finally:
            end = self.clock()
            await call.drop_leg(leg)
            self._log(
                "queue.complete",
                call,
                queue.name,
                agent=offer.agent,
                talk=round(end - now, 3),
                hung_up_by=hung_up_by,
            )
            self.predictors[queue.name].observe(ServiceCompleted(end, end - now))
            with contextlib.suppress(QueueError):
                self.router.call_ended(offer.agent, end)
            self._agents_changed()
            self.kick()
        return fm.Completed(f"answered by {offer.agent}")

    async def resume_conversation(self, call: Call, leg: Channel, bridge: str) -> None:
        """Recovery: a caller was talking to an agent when a former life of callflow stopped.
        They go on talking; the agent counts as on that call until it ends, then as usual
        (wrap-up, next caller)."""
        agent = self.agent_for_endpoint(leg.name.rsplit("-", 1)[0])
        connects = self.store.events(call_id=call.id, kind="queue.connect")
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
        except CallLost:
            hung_up_by = "lost"
            raise
        except CallerHangup:
            hung_up_by = "caller"
            raise
        except CallInterrupted as exc:
            hung_up_by = exc.reason
            raise
        finally:
            end = self.clock()
            if queue and agent is not None:
                self._log(
                    "queue.complete",
                    call,
                    queue,
                    agent=agent,
                    talk=round(end - now, 3),
                    hung_up_by=hung_up_by,
                    recovered=True,
                )
                with contextlib.suppress(QueueError):
                    self.router.call_ended(agent, end)
            self._agents_changed()
            self.kick()

    async def _announce(self, waiter: _Waiter, queue: QueueConfig, now: float) -> float:
        """Say the position and wait if due (never while an agent rings); when next due."""
        if waiter.rings or waiter.offers:
            return float("inf")
        entry = waiter.entry
        position = self.router.position(entry.id)
        if position <= self.router.agents_available(queue.name):
            # A free agent is about to be rung for this caller: telling them a wait
            # (computed as if every agent were busy) would be wrong. Look again shortly.
            return now + 1.0
        estimate = self._estimate(queue.name, position, now - entry.joined_at)
        # With nobody serving the queue there is no honest figure: say the position only.
        known = estimate if estimate != float("inf") else None
        said = announce(queue.announce, waiter.announced, now, position, known, spoken_wait)
        waiter.announced = said.state
        if said.say:
            media = say_media(said.say)
            self._log(
                "queue.announce",
                waiter.call,
                queue.name,
                position=position,
                estimated_wait=round(known, 1) if known is not None else None,
                said=[f"{s.what}={s.value}" for s in said.say],
            )
            await self._say(waiter, queue, media)
        return next_due(queue.announce, waiter.announced, position)

    async def _say(self, waiter: _Waiter, queue: QueueConfig, media: list[str]) -> None:
        """Play to this caller only, then give them their music back.

        Asterisk 22: a channel in a holding bridge hears its own MOH (started per channel,
        not bridge-wide, so that one caller's announcement is never heard by the others);
        a playback to that channel pauses its MOH and Asterisk does not always resume it,
        so the music is stopped and restarted around every announcement.
        """
        call = waiter.call
        with call.logged("stop music"):
            await call.ari.channels.stop_moh(call.id)
        # An exit key, or an agent becoming free for this caller, cuts it short.
        await call.play(media, barge_in=True, until=lambda: bool(waiter.offers))
        with call.logged("restart music"):
            await call.ari.channels.start_moh(call.id, queue.music_class)

    def _estimate(self, queue: str, position: int, elapsed: float) -> float:
        """The conservative wait still to come for a caller at that position."""
        serving = sum(
            1
            for name in self.router.members[queue]
            if self.router.agents[name].state
            in (AgentState.AVAILABLE, AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAPUP)
        )
        if serving == 0:
            return float("inf")
        estimate = self.predictors[queue].estimate(position - 1, serving, self.clock(), elapsed)
        return estimate.announce

    # --- the holding bridge ----------------------------------------------------------

    async def _enter_holding(self, call: Call, queue: QueueConfig) -> str:
        async with self._bridge_lock:
            bridge = self._bridges.get(queue.name)
            if bridge is None:
                # A fresh id each time: the last bridge of this queue may still be being
                # destroyed (in the background, see _leave_holding).
                bridge = f"callflow-queue-{queue.name}-{RUN_ID}-{next(self._bridge_ids)}"
                with contextlib.suppress(ari_errors.Conflict):
                    await call.ari.bridges.create("holding", bridge_id=bridge, name=queue.name)
                self._bridges[queue.name] = bridge
            self._in_bridge.setdefault(queue.name, set()).add(call.id)
        try:
            await call.ari.bridges.add_channel(bridge, call.id, role="participant")
        except ari_errors.AriError:
            await self._leave_holding(call, queue, bridge)  # the bookkeeping above
            raise
        with call.logged("start music"):
            await call.ari.channels.start_moh(call.id, queue.music_class)
        return bridge

    async def _leave_holding(self, call: Call, queue: QueueConfig, bridge: str) -> None:
        """Take the caller out (if still there) and destroy the bridge once it is empty.

        Only the bookkeeping is done under the lock: callers whose agents answer at the
        same moment are moved out in parallel, and an emptied bridge is destroyed in the
        background, so that a caller never waits for it before hearing their agent
        (``callflow bench connect`` measures this).
        """
        async with self._bridge_lock:
            members = self._in_bridge.get(queue.name, set())
            if self._bridges.get(queue.name) != bridge or call.id not in members:
                return
            members.discard(call.id)
            empty = not members
            if empty:
                del self._bridges[queue.name]
                del self._in_bridge[queue.name]
        if not call.hung_up:
            with call.logged("stop music"):
                await call.ari.channels.stop_moh(call.id)
            with call.logged(f"leave holding bridge {bridge}"):
                await call.ari.bridges.remove_channel(bridge, call.id)
        if empty:
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
        """Decide rings, timeouts and empty queues whenever something changes or is due."""
        while True:
            now = self.clock()
            for offer in self.router.offers(now):
                waiter = self._waiting.get(offer.entry_id)
                if waiter is None:
                    self.router.ring_ended(offer, "caller_gone", now)
                    continue
                waiter.offers.append(offer)
                waiter.call.nudge()
            for reason, found in (
                ("timeout", self.router.timeouts(now)),
                ("empty", self.router.empty_leavers(now)),
            ):
                for entry_id, target in found:
                    waiter = self._waiting.get(entry_id)
                    if waiter is not None and waiter.leave is None and not waiter.rings:
                        waiter.leave = (reason, target)
                        waiter.call.nudge()
            self._agents_changed()
            wake = self.router.next_wakeup(now)
            self._kick.clear()
            timeout = None if wake is None else max(0.05, wake - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), timeout)

    # --- the event log ---------------------------------------------------------------

    def _history(self, since: float) -> list[tuple[str, str, float]]:
        """(caller, agent, when) of queue calls answered since then, for last-agent routing."""
        start = dt.datetime.fromtimestamp(since, dt.UTC)
        return [
            (str(e.data["caller"]), str(e.data["agent"]), e.at.timestamp())
            for e in self.store.events(kind="queue.connect", since=start)
            if e.data.get("caller")
        ]

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


def _caller_id(entry: QueueEntry) -> str | None:
    return entry.caller if re.fullmatch(r"\+?[0-9]{1,20}", entry.caller) else None
