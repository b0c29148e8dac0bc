"""One caller in a queue, sans-I/O: events in, commands out, time passed in.

:class:`QueueCaller` is to a waiting caller what :class:`~callflow.flow.machine.FlowMachine`
is to a flow: it decides everything about that caller's time in the queue, and a driver
performs its commands and feeds back what happened. The live queue
(:mod:`callflow.queue.live`) drives it over ARI; tests drive it with plain events and a
number for the clock. It works on the shared pure objects of the queue: the
:class:`~callflow.queue.routing.Router` (who waits, who is offered to whom) and the queue's
wait predictor (what it learns from this caller).

What it decides:

- joining: refused (full, empty: an overflow target or a failure), or which position;
- rings: start the rings the router offered, stop the ones it took back (the agent logged
  out), give up on a ring ``RING_GRACE`` s past its timeout when Asterisk never ended it,
  and count an unanswered ring as no answer or a rejection;
- exit keys, and leaving when the scheduler says the caller's time is up or the queue
  emptied (never while an agent's phone rings for them);
- when to announce the position and the wait (never while a ring is in progress, nor when
  a free agent is about to be rung: a wait figured as if everyone were busy would be wrong),
  and which figure (:mod:`callflow.queue.wait`), cut short as soon as an offer arrives;
- what the predictor learns: joined, answered (with the wait), abandoned (not a call lost
  in a crash, nor one callflow let go of when it stopped), service completed;
- every ``queue.*`` record of the event log, as :class:`Record` commands.

Events: :class:`Offered`, :class:`Withdrawn`, :class:`Rang`, :class:`Answered`,
:class:`Unanswered`, :class:`KeyPressed`, :class:`Tick`, :class:`Said`, :class:`TimeUp`,
:class:`TalkEnded`, :class:`Gone`. Commands: :class:`Ring`, :class:`DropLeg`,
:class:`Announce`, :class:`Connect`, :class:`Record`, :class:`Done`.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from callflow.flow.labels import prompt_text
from callflow.queue.agents import AgentState, QueueError
from callflow.queue.announce import (
    AnnounceState,
    Say,
    announce,
    next_due,
    note_position,
    stagger,
)
from callflow.queue.config import QueueConfig, Target
from callflow.queue.estimate import (
    CallerAbandoned,
    CallerAnswered,
    CallerJoined,
    CallerLeft,
    ServiceCompleted,
    WaitPredictor,
)
from callflow.queue.routing import Departure, Offer, QueueEntry, Router
from callflow.queue.wait import WaitFigure

# A leg that Asterisk has not ended this long after its ring timeout is given up on.
RING_GRACE = 2.0
# A caller whose turn is near (a free agent will be rung) is looked at again this soon.
RECHECK = 1.0
# How many queues a caller may be sent through by overflow before the flow takes over.
MAX_OVERFLOW_HOPS = 3

# --- events --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Offered:
    """The router offers this caller to an agent: ring them."""

    offer: Offer


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """The router took an offer back (the agent logged out)."""

    offer: Offer


@dataclass(frozen=True, slots=True)
class Rang:
    """The driver started the ring of ``offer`` as leg ``leg``."""

    offer: Offer
    leg: str


@dataclass(frozen=True, slots=True)
class Answered:
    """The agent's leg answered."""

    leg: str


@dataclass(frozen=True, slots=True)
class Unanswered:
    """The agent's leg ended unanswered: ``busy``, ``no_answer``, ``rejected`` or
    ``unavailable`` (with the Q.850 cause when known)."""

    leg: str
    reason: str
    cause: int | None = None


@dataclass(frozen=True, slots=True)
class KeyPressed:
    """The caller pressed a key while waiting."""

    key: str


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed (the driver woke up at :meth:`QueueCaller.next_wakeup`)."""


@dataclass(frozen=True, slots=True)
class Said:
    """The announcement is over (played to the end, or cut short)."""


@dataclass(frozen=True, slots=True)
class TimeUp:
    """The scheduler says the caller must leave: ``timeout`` or ``empty``, to ``target``."""

    reason: str
    target: Target | None


@dataclass(frozen=True, slots=True)
class TalkEnded:
    """The conversation with the agent is over; ``hung_up_by``: agent, caller, lost,
    shutdown; ``hold``: the seconds of it the agent held the caller."""

    hung_up_by: str
    hold: float = 0.0


def talk_and_hold(conversation: float, hold: float) -> dict[str, float]:
    """``queue.complete``'s ``talk`` and ``hold`` of a conversation ``conversation`` seconds
    long, ``hold`` of them on hold: AHT is talk + hold + wrap-up, so the talk is the
    conversation without its holds (a hold longer than it, clocks apart, is cut to it)."""
    hold = min(max(0.0, hold), conversation)
    return {"talk": round(conversation - hold, 3), "hold": round(hold, 3)}


@dataclass(frozen=True, slots=True)
class Gone:
    """The caller left while waiting: ``abandon`` (hung up), ``lost`` (Asterisk lost the
    channel, at ``at``), ``unavailable`` (Asterisk would not hold them), or callflow let go
    of them (``shutdown`` and the like)."""

    reason: Literal["abandon", "lost", "shutdown"] | str
    at: float | None = None


CallerEvent = (
    Offered
    | Withdrawn
    | Rang
    | Answered
    | Unanswered
    | KeyPressed
    | Tick
    | Said
    | TimeUp
    | TalkEnded
    | Gone
)

# --- commands ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ring:
    """Ring the agent of ``offer`` for this caller (answer with :class:`Rang`, or with
    :class:`Unanswered` when the ring cannot even start)."""

    offer: Offer


@dataclass(frozen=True, slots=True)
class DropLeg:
    """Hang up an agent's leg that is still up."""

    leg: str


@dataclass(frozen=True, slots=True)
class Announce:
    """Say these items to this caller only (position, wait figure, periodic prompts), then
    report :class:`Said`; stop early when :attr:`QueueCaller.interrupts` holds."""

    items: tuple[Say, ...]


@dataclass(frozen=True, slots=True)
class Connect:
    """The agent answered: take the caller out of the holding bridge and bridge them with
    ``leg`` until one side hangs up, then report :class:`TalkEnded`."""

    offer: Offer
    leg: str


@dataclass(frozen=True, slots=True)
class Record:
    """Write ``kind`` (``queue.enter``, ``queue.ring``...) to the event log."""

    kind: str
    data: dict[str, Any]


Outcome = Literal["answered", "exit_key", "timeout", "empty", "full", "refused", "gone"]


@dataclass(frozen=True, slots=True)
class Done:
    """The caller's time in this queue is over.

    ``outcome`` says why; ``target`` is where an overflow sends them (another queue, or a
    flow node), ``key_node`` the flow node an exit key leads to, ``agent`` who answered.
    """

    outcome: Outcome
    target: Target | None = None
    key_node: str | None = None
    agent: str | None = None


Command = Ring | DropLeg | Announce | Connect | Record | Done


# --- the machine ---------------------------------------------------------------------


@dataclass
class _Ringing:
    offer: Offer
    leg: str | None = None  # None until the driver reports Rang


@dataclass
class QueueCaller:
    """One caller's time in one queue (see the module docstring)."""

    entry: QueueEntry
    queue: QueueConfig
    router: Router
    predictor: WaitPredictor
    number: int  # the predictor's id for this caller
    resumed: bool = False  # back in line after a restart of callflow
    announced: AnnounceState = field(init=False)
    phase: Literal["new", "waiting", "saying", "talking", "done"] = "new"
    rings: list[_Ringing] = field(default_factory=list)
    _talk: tuple[Offer, float] | None = None  # the answered offer, and when

    def __post_init__(self) -> None:
        self.announced = AnnounceState(joined_at=self.entry.joined_at, stagger=stagger(self.number))

    # --- questions for the driver --------------------------------------------------

    @property
    def done(self) -> bool:
        """True once a :class:`Done` was given."""
        return self.phase == "done"

    @property
    def interrupts(self) -> bool:
        """An announcement in progress should stop: an agent is being offered."""
        return bool(self.rings)

    def legs(self) -> list[str]:
        """The agents' legs ringing for this caller."""
        return [r.leg for r in self.rings if r.leg is not None]

    def next_wakeup(self, now: float) -> float | None:
        """When to send :class:`Tick` next (None: only when something happens)."""
        if self.phase != "waiting":
            return None
        times = [r.offer.ring_deadline + RING_GRACE for r in self.rings if r.leg is not None]
        if not self.rings:
            times.append(self._announce_due(now))
        due = min(times, default=math.inf)
        return None if math.isinf(due) else due

    # --- the machine -------------------------------------------------------------------

    def join(self, now: float) -> list[Command]:
        """Put the caller in line (or refuse them); the first commands."""
        decision = self.router.join(self.entry, now)
        if not decision.joined or decision.entry is None:
            reason = decision.refused or "refused"
            self.phase = "done"
            outcome: Outcome = reason if reason in ("full", "empty") else "refused"
            return [
                self._record("queue.exit", reason=reason, waited=0.0),
                Done(outcome, target=decision.overflow),
            ]
        self.entry = decision.entry
        self.predictor.observe(CallerJoined(self.number, now))
        self.phase = "waiting"
        enter: dict[str, Any] = {
            "position": decision.position,
            "priority": self.entry.priority,
            "last_agent": self.entry.last_agent,
        }
        if self.resumed:
            enter |= {"resumed": True, "joined_at": self.entry.joined_at}
        return [self._record("queue.enter", **enter), *self._step(now)]

    def send(self, event: CallerEvent, now: float) -> list[Command]:
        """Feed one event; the commands to perform, in order."""
        if self.done:
            return []
        handler = getattr(self, f"_on_{type(event).__name__.lower()}")
        commands: list[Command] = handler(event, now)
        if not self.done and self.phase in ("waiting",):
            commands += self._step(now)
        return commands

    # --- event handlers --------------------------------------------------------------

    def _on_offered(self, event: Offered, now: float) -> list[Command]:
        if self.phase == "talking":
            self.router.ring_ended(event.offer, "caller_gone", now)
            return []
        self.rings.append(_Ringing(event.offer))
        return [
            Ring(event.offer),
            self._record("queue.ring", agent=event.offer.agent),
        ]

    def _on_rang(self, event: Rang, now: float) -> list[Command]:
        for ringing in self.rings:
            if ringing.offer == event.offer and ringing.leg is None:
                ringing.leg = event.leg
                return []
        return [DropLeg(event.leg)]  # withdrawn meanwhile

    def _on_withdrawn(self, event: Withdrawn, now: float) -> list[Command]:
        for ringing in list(self.rings):
            if ringing.offer != event.offer:
                continue
            self.rings.remove(ringing)
            if ringing.leg is None:
                return []
            return [
                DropLeg(ringing.leg),
                self._record(
                    "queue.ring_cancelled",
                    agent=event.offer.agent,
                    reason="agent_logged_out",
                    ring_time=round(now - event.offer.started_at, 3),
                ),
            ]
        return []

    def _on_answered(self, event: Answered, now: float) -> list[Command]:
        ringing = self._ringing(event.leg)
        if ringing is None or self.phase not in ("waiting", "saying"):
            return [DropLeg(event.leg)]
        self.rings.remove(ringing)
        offer = ringing.offer
        # The router ends every other ring of this caller with this one (ring-all).
        self.router.ring_ended(offer, "answered", now)
        commands: list[Command] = [DropLeg(r.leg) for r in self.rings if r.leg is not None]
        self.rings.clear()
        waited = now - self.entry.joined_at
        self.predictor.observe(CallerAnswered(self.number, now, waited))
        self.phase = "talking"
        self._talk = (offer, now)
        commands += [
            self._record(
                "queue.connect",
                agent=offer.agent,
                caller=self.entry.caller,
                waited=round(waited, 3),
                ring_time=round(now - offer.started_at, 3),
            ),
            Connect(offer, event.leg),
        ]
        return commands

    def _on_unanswered(self, event: Unanswered, now: float) -> list[Command]:
        ringing = self._ringing(event.leg)
        if ringing is None:
            return []
        self.rings.remove(ringing)
        return self._ring_over(ringing, event.reason, event.cause, now)

    def _on_keypressed(self, event: KeyPressed, now: float) -> list[Command]:
        node = self.queue.exit_keys.get(event.key)
        if node is None or self.phase not in ("waiting", "saying"):
            return []
        gone = self.router.leave(self.entry.id, now, "exit_key")
        self._left(gone, now)
        return [
            *self._drop_rings(now),
            self._record(
                "queue.exit",
                reason="exit_key",
                key=event.key,
                waited=round(gone.waited if gone else now - self.entry.joined_at, 3),
            ),
            self._done(Done("exit_key", key_node=node)),
        ]

    def _on_tick(self, event: Tick, now: float) -> list[Command]:
        commands: list[Command] = []
        for ringing in list(self.rings):
            if ringing.leg is not None and now >= ringing.offer.ring_deadline + RING_GRACE:
                # Asterisk should have ended it at its timeout: give up on it ourselves.
                self.rings.remove(ringing)
                commands += self._ring_over(ringing, "no_answer", None, now)
        return commands

    def _on_said(self, event: Said, now: float) -> list[Command]:
        if self.phase == "saying":
            self.phase = "waiting"
        return []

    def _on_timeup(self, event: TimeUp, now: float) -> list[Command]:
        if self.rings or self.phase not in ("waiting", "saying"):
            return []  # an agent's phone rings for them: let it ring (asked again later)
        gone = self.router.leave(self.entry.id, now, event.reason)
        self._left(gone, now)
        return [
            self._record(
                "queue.exit",
                reason=event.reason,
                waited=round(gone.waited if gone else now - self.entry.joined_at, 3),
                position=gone.position if gone else None,
            ),
            self._done(Done("timeout" if event.reason == "timeout" else "empty", event.target)),
        ]

    def _on_talkended(self, event: TalkEnded, now: float) -> list[Command]:
        if self._talk is None:
            return []
        offer, started = self._talk
        # The agent's whole time for this caller, as the estimate counts agents serving:
        # ringing, talking and the wrap-up that follows.
        handle = (started - offer.started_at) + (now - started) + self.queue.wrapup
        self.predictor.observe(ServiceCompleted(now, handle))
        with contextlib.suppress(QueueError):  # the agent logged out meanwhile
            self.router.call_ended(offer.agent, now)
        return [
            self._record(
                "queue.complete",
                agent=offer.agent,
                **talk_and_hold(now - started, event.hold),
                hung_up_by=event.hung_up_by,
            ),
            self._done(Done("answered", agent=offer.agent)),
        ]

    def _on_gone(self, event: Gone, now: float) -> list[Command]:
        if self.phase == "talking":  # the caller's hang-up ends a conversation: no abandon
            reason = "caller" if event.reason == "abandon" else str(event.reason)
            return self._on_talkended(TalkEnded(reason), now)
        commands = self._drop_rings(now)
        if event.reason == "lost":
            at = event.at if event.at is not None else now
            gone = self.router.leave(self.entry.id, at, "lost")
            self._left(gone, at)
            if gone is not None:
                commands.append(
                    self._record(
                        "queue.exit",
                        reason="lost",
                        waited=round(max(0.0, at - self.entry.joined_at), 3),
                        position=gone.position,
                    )
                )
        elif event.reason == "abandon":
            gone = self.router.leave(self.entry.id, now, "abandon")
            if gone is not None:
                self.predictor.observe(CallerAbandoned(self.number, now, gone.waited))
                commands.append(
                    self._record(
                        "queue.abandon",
                        waited=round(gone.waited, 3),
                        position=gone.position,
                        original_position=self.entry.original_position,
                    )
                )
        else:
            why = "unavailable" if event.reason == "unavailable" else "shutdown"
            gone = self.router.leave(self.entry.id, now, why)
            self._left(gone, now)
            if gone is not None:
                commands.append(
                    self._record(
                        "queue.exit",
                        reason=str(event.reason),
                        waited=round(gone.waited, 3),
                        position=gone.position,
                    )
                )
        commands.append(self._done(Done("gone")))
        return commands

    def _left(self, gone: Departure | None, now: float) -> None:
        """Tell the predictor a caller left the line unanswered, not hanging up (it forgets
        what they were told, and counts their wait as patience not used up)."""
        if gone is not None:
            self.predictor.observe(CallerLeft(self.number, now, gone.waited))

    # --- deciding --------------------------------------------------------------------

    def _step(self, now: float) -> list[Command]:
        """What is due now while the caller waits: an announcement, at most."""
        if self.phase != "waiting" or self.rings:
            return []
        if now < self._announce_due(now):
            return []
        position = self.router.position(self.entry.id)
        if position <= self.router.agents_available(self.queue.name):
            return []  # a free agent is about to be rung for this caller
        remaining = self.estimate(position, now - self.entry.joined_at, now)
        # With nobody serving the queue there is no honest figure: the position only.
        known = remaining if math.isfinite(remaining) else None
        said = announce(self.queue.announce, self.announced, now, position, known)
        self.announced = said.state
        if not said.say:
            return []
        self.phase = "saying"
        return [
            self._record(
                "queue.announce",
                position=position,
                estimated_wait=round(known, 1) if known is not None else None,
                said=[_said_text(s) for s in said.say],
            ),
            Announce(said.say),
        ]

    def _announce_due(self, now: float) -> float:
        if self.phase != "waiting" or self.router.entry(self.entry.id) is None:
            return math.inf
        position = self.router.position(self.entry.id)
        if position <= self.router.agents_available(self.queue.name):
            return now + RECHECK
        self.announced = note_position(self.announced, now, position)
        return next_due(self.queue.announce, self.announced, position)

    def estimate(self, position: int, elapsed: float, now: float) -> float:
        """The conservative wait still to come at ``position`` (inf: nobody serves)."""
        return queue_estimate(
            self.router,
            self.predictor,
            self.queue.name,
            position,
            elapsed,
            now,
            caller=self.number,
            priority=self.entry.priority or 0,
        )

    def _ring_over(
        self, ringing: _Ringing, reason: str, cause: int | None, now: float
    ) -> list[Command]:
        offer = ringing.offer
        outcome = "rejected" if reason in ("busy", "rejected") else "no_answer"
        self.router.ring_ended(offer, outcome, now)
        commands: list[Command] = [DropLeg(ringing.leg)] if ringing.leg is not None else []
        commands.append(
            self._record(
                "queue.ring_no_answer",
                agent=offer.agent,
                outcome=reason,
                cause=cause,
                ring_time=round(now - offer.started_at, 3),
            )
        )
        return commands

    def _drop_rings(self, now: float) -> list[Command]:
        commands: list[Command] = []
        for ringing in self.rings:
            self.router.ring_ended(ringing.offer, "caller_gone", now)
            if ringing.leg is not None:
                commands.append(DropLeg(ringing.leg))
        self.rings.clear()
        return commands

    def _ringing(self, leg: str) -> _Ringing | None:
        return next((r for r in self.rings if r.leg == leg), None)

    def _done(self, done: Done) -> Done:
        self.phase = "done"
        return done

    def _record(self, kind: str, **data: Any) -> Record:
        return Record(kind, {"queue": self.queue.name, **data})


def _said_text(say: Say) -> str:
    """One item of an announcement for the log: ``position=3``, ``more_than=5``,
    ``wait=about 3 minutes`` (the figure as told), ``prompt=sound: queue-periodic-announce``."""
    if isinstance(say.value, int | WaitFigure):
        return f"{say.what}={say.value}"
    return f"{say.what}={prompt_text(say.value)}"


SERVING = (AgentState.AVAILABLE, AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAPUP)


def agents_serving(router: Router, queue: str) -> int:
    """Agents who will take this queue's callers: logged in and not paused, and not about
    to pause either (a pause asked for during a call is a known loss of an agent)."""
    return sum(
        1
        for name in router.members[queue]
        if router.agents[name].state in SERVING and router.agents[name].pending_pause is None
    )


def queue_estimate(
    router: Router,
    predictor: WaitPredictor,
    queue: str,
    position: int,
    elapsed: float,
    now: float,
    *,
    caller: int | None = None,
    priority: int = 0,
) -> float:
    """The conservative wait still to come for a caller at ``position`` of ``queue``, from
    its predictor and the agents serving it now (inf when nobody serves it). ``caller`` (the
    predictor's id for them) lets the predictor learn from what it told them."""
    serving = agents_serving(router, queue)
    if serving == 0:
        return math.inf
    return predictor.estimate(
        position - 1, serving, now, elapsed, caller=caller, priority=priority
    ).announce


__all__ = [
    "MAX_OVERFLOW_HOPS",
    "RING_GRACE",
    "Announce",
    "Answered",
    "CallerEvent",
    "Command",
    "Connect",
    "Done",
    "DropLeg",
    "Gone",
    "KeyPressed",
    "Offered",
    "QueueCaller",
    "Rang",
    "Record",
    "Ring",
    "Said",
    "TalkEnded",
    "Tick",
    "TimeUp",
    "Unanswered",
    "Withdrawn",
    "agents_serving",
    "queue_estimate",
    "talk_and_hold",
]
