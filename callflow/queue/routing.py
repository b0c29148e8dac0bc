"""Routing: which waiting caller rings which agent, for every queue of the center at once.

One :class:`Router` holds all queues and agents, so an agent who serves several queues
is never rung for two callers, and a caller is never rung at two agents (except with
``ring-all``). It is sans-I/O: the live ARI driver and the simulator call it with the
time, and do what it decides::

    decision = router.join(entry, now)        # joined at a position, or refused -> overflow
    for offer in router.offers(now):          # rings to start now
        ...originate offer.endpoint for at most offer.ring_timeout seconds...
    stop = router.ring_ended(offer, "answered", now)   # the other rings to hang up
    router.call_ended(agent, now)             # wrap-up, then available again (router.tick)
    gone = router.leave(entry_id, now, "abandon")      # gone.cancelled: rings to hang up
    wake = router.next_wakeup(now)            # when to call offers/timeouts again, no polling

Order of callers: priority (higher first), then join time (FIFO), across all queues;
a callback placeholder (``kind="callback"``) keeps its place like a caller, is counted in
the positions of the live callers behind it, and is never refused (full, empty) nor timed
out: it holds a place already promised. When a placeholder reaches the front and an agent
qualifies, :meth:`Router.route` decides by its ``callback_mode``: agent-first, an
:class:`Offer` of kind ``callback`` (that agent is reserved: marked ringing, to be rung with
a whisper, then the customer dialled); customer-first, a :class:`CallbackDue` (dial the
customer now; no agent is held, the placeholder keeps its place until it leaves, and the
agent it would have had is left to nobody else in that round).
Which agents qualify for a caller: logged in and available, members of the caller's
queue, at the skill levels the caller needs (the queue's ``skills`` and the entry's,
the higher of the two), lowered by ``skill_widening`` as the caller waits, and not
within ``retry_delay`` of having let this caller ring out.
Last agent: first, each caller whose last agent is available and qualifies rings them
(they are reserved for their returning caller even if others waited longer); a caller
whose last agent is busy (ringing, on a call, in wrap-up) is held for them up to
``last_agent.wait`` seconds without blocking the callers behind; then anyone.
"""

from __future__ import annotations

import bisect
import enum
import heapq
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal, cast

from callflow.queue.agents import Agent, AgentState, QueueError
from callflow.queue.config import EmptyRule, QueueCenter, QueueConfig, Strategy, Target

EntryKind = Literal["caller", "callback"]
CallbackMode = Literal["agent-first", "customer-first"]
DAY = 86_400.0


class UnknownQueue(QueueError):
    """No queue has that name."""


class UnknownAgent(QueueError):
    """No agent has that name."""


class UnknownEntry(QueueError):
    """No entry with that id is waiting."""


class DuplicateEntry(QueueError):
    """An entry with that id is already waiting."""


class BadEntry(QueueError):
    """A stored entry that cannot be read back."""


class RingOutcome(enum.StrEnum):
    """How a ring to an agent ended."""

    ANSWERED = "answered"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    CALLER_GONE = "caller_gone"


class LeaveReason(enum.StrEnum):
    """Why an entry left its queue (app_queue: CONNECT, ABANDON, EXITWITHTIMEOUT, ...)."""

    ANSWERED = "answered"
    ABANDON = "abandon"
    TIMEOUT = "timeout"
    EXIT_KEY = "exit_key"
    EMPTY = "empty"
    CALLBACK = "callback"  # the caller hung up for a callback that takes another entry
    SHUTDOWN = "shutdown"  # callflow stopped and let the caller go
    LOST = "lost"  # Asterisk lost the channel (it crashed or restarted)
    UNAVAILABLE = "unavailable"  # Asterisk would not hold the caller (no holding bridge)


def _no_levels() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True)
class QueueEntry:
    """One waiting caller, or a callback placeholder holding a caller's place.

    ``priority`` None takes the queue's default at join; ``original_position`` 0 is
    filled in at join with the position then. ``skills`` are minimum levels the caller
    needs on top of the queue's own.
    """

    id: str
    queue: str
    caller: str
    priority: int | None = None
    skills: Mapping[str, int] = field(default_factory=_no_levels)
    joined_at: float = 0.0
    original_position: int = 0
    last_agent: str | None = None
    kind: EntryKind = "caller"
    callback_mode: CallbackMode = "agent-first"  # a placeholder's: who is called first

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready data for the store."""
        return {
            "id": self.id,
            "queue": self.queue,
            "caller": self.caller,
            "priority": self.priority,
            "skills": dict(self.skills),
            "joined_at": self.joined_at,
            "original_position": self.original_position,
            "last_agent": self.last_agent,
            "kind": self.kind,
            "callback_mode": self.callback_mode,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> QueueEntry:
        """Read back what :meth:`to_dict` wrote; :class:`BadEntry` says what is wrong."""

        def text(key: str, optional: bool = False) -> str | None:
            value = data.get(key)
            if value is None and optional:
                return None
            if not isinstance(value, str) or not value:
                raise BadEntry(f"queue entry field '{key}' must be text, not {value!r}")
            return value

        def whole(key: str, optional: bool = False) -> int | None:
            value = data.get(key)
            if value is None and optional:
                return None
            if not isinstance(value, int) or isinstance(value, bool):
                raise BadEntry(f"queue entry field '{key}' must be a whole number, not {value!r}")
            return value

        skills = data.get("skills", {})
        if not isinstance(skills, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in skills.items()
        ):
            raise BadEntry(f"queue entry field 'skills' must map names to levels, not {skills!r}")
        joined_at = data.get("joined_at", 0.0)
        if not isinstance(joined_at, int | float) or isinstance(joined_at, bool):
            raise BadEntry(f"queue entry field 'joined_at' must be a number, not {joined_at!r}")
        kind = data.get("kind", "caller")
        if kind not in ("caller", "callback"):
            raise BadEntry(f"queue entry field 'kind' must be caller or callback, not {kind!r}")
        mode = data.get("callback_mode", "agent-first")
        if mode not in ("agent-first", "customer-first"):
            raise BadEntry(
                "queue entry field 'callback_mode' must be agent-first or customer-first, "
                f"not {mode!r}"
            )
        return cls(
            id=cast(str, text("id")),
            queue=cast(str, text("queue")),
            caller=cast(str, text("caller")),
            priority=whole("priority", optional=True),
            skills=MappingProxyType(dict(cast("Mapping[str, int]", skills))),
            joined_at=float(joined_at),
            original_position=whole("original_position", optional=True) or 0,
            last_agent=text("last_agent", optional=True),
            kind=kind,
            callback_mode=mode,
        )


@dataclass(frozen=True)
class JoinDecision:
    """The answer to a join: the stored entry and its position, or why it was refused."""

    joined: bool
    entry: QueueEntry | None = None
    position: int | None = None
    refused: Literal["full", "empty"] | None = None
    overflow: Target | None = None  # where a refused caller goes; None: flow's on_failure


@dataclass(frozen=True)
class Offer:
    """A ring to start: call ``endpoint`` for ``agent`` on behalf of waiting ``entry_id``."""

    entry_id: str
    agent: str
    queue: str
    endpoint: str
    caller: str
    kind: EntryKind
    started_at: float
    ring_timeout: float

    @property
    def ring_deadline(self) -> float:
        """When the driver gives up ringing and reports ``no_answer``."""
        return self.started_at + self.ring_timeout


@dataclass(frozen=True)
class CallbackDue:
    """A customer-first callback placeholder reached the front and ``agent`` qualifies for
    it: dial the customer now. Nobody is reserved; the placeholder keeps its place (and is
    offered nothing more) until it leaves the line."""

    entry_id: str
    queue: str
    caller: str
    agent: str
    at: float


@dataclass(frozen=True)
class Routing:
    """One round's decisions: the rings to start, and the customer-first callbacks due."""

    offers: list[Offer]
    due: list[CallbackDue]


@dataclass(frozen=True)
class Departure:
    """An entry that left its queue: for the event log, and the rings the driver stops."""

    entry: QueueEntry
    reason: LeaveReason
    waited: float
    position: int
    cancelled: tuple[Offer, ...] = ()


_EMPTY_STATES = {
    "paused": AgentState.PAUSED,
    "wrapup": AgentState.WRAPUP,
    "unavailable": AgentState.LOGGED_OUT,
}
_ALWAYS_SERVING = frozenset({AgentState.AVAILABLE, AgentState.RINGING, AgentState.ON_CALL})
_BUSY = frozenset({AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAPUP})


class Router:
    """Every queue and agent of the center, and the rings in progress between them."""

    def __init__(self, center: QueueCenter, rng: random.Random | None = None) -> None:
        self.queues: Mapping[str, QueueConfig] = center.queues
        # Ties between equal agents are broken at random: fairness, not secrecy.
        self.rng = rng if rng is not None else random.Random()  # noqa: S311
        # Members: the queue's own list (its order is linear's order), then every agent
        # naming the queue, as the loader resolves them; a center built in code may
        # give either side only.
        self.members: dict[str, tuple[str, ...]] = {}
        for queue in center.queues.values():
            for member in queue.members:
                if member not in center.agents:
                    raise UnknownAgent(f"queue '{queue.name}' lists unknown agent '{member}'")
            named = [a.name for a in center.agents.values() if queue.name in a.queues]
            self.members[queue.name] = tuple(dict.fromkeys([*queue.members, *named]))
        serves: dict[str, list[str]] = {name: [] for name in center.agents}
        for queue_name, members in self.members.items():
            for member in members:
                serves[member].append(queue_name)
        self.agents: dict[str, Agent] = {
            name: Agent.from_config(config, serves[name]) for name, config in center.agents.items()
        }
        self._entries: dict[str, tuple[QueueEntry, int]] = {}
        # Each queue's entries in service order, as (order, id): positions by bisection, not
        # by comparing every caller with every other (a burst of hang-ups woke n callers who
        # each counted n others).
        self._lines: dict[str, list[tuple[tuple[int, float, int], str]]] = {
            name: [] for name in self.queues
        }
        self._seq = 0
        self._pending: dict[str, list[Offer]] = {}
        self._retry_until: dict[tuple[str, str], float] = {}
        self._last_rung: dict[str, str] = {}  # round-robin memory per queue
        self._dialing: set[str] = set()  # customer-first placeholders whose customer is called

    # --- agents ----------------------------------------------------------------------

    def agent(self, name: str) -> Agent:
        """One agent's live state."""
        try:
            return self.agents[name]
        except KeyError:
            raise UnknownAgent(f"no agent '{name}'") from None

    def login(self, agent: str, now: float, paused: str | None = None) -> None:
        """An agent logs in (available, or paused with a reason)."""
        self.agent(agent).login(now, paused)

    def logout(self, agent: str, now: float) -> list[Offer]:
        """An agent logs out; a ring in progress is cancelled and returned to be stopped."""
        who = self.agent(agent)
        cancelled = self._cancel_ring_of(who, now)
        who.logout(now)
        return cancelled

    def pause(self, agent: str, now: float, reason: str = "") -> bool:
        """Pause now (True) or once the current ring or call ends (False)."""
        return self.agent(agent).pause(now, reason)

    def unpause(self, agent: str, now: float) -> None:
        """An agent takes calls again."""
        self.agent(agent).unpause(now)

    def call_ended(self, agent: str, now: float) -> None:
        """An agent's call is over: wrap-up for the call's queue's ``wrapup`` seconds."""
        who = self.agent(agent)
        queue = self.queues.get(who.queue or "")
        who.call_ended(now, queue.wrapup if queue is not None else 0.0)

    def wrapup_done(self, agent: str, now: float) -> None:
        """An agent ends wrap-up early."""
        self.agent(agent).wrapup_done(now)

    def tick(self, now: float) -> list[str]:
        """Apply what time alone changes: wrap-ups that ran out (their agents returned)."""
        done = []
        for agent in self.agents.values():
            if agent.wrapup_due(now):
                agent.wrapup_done(now)
                done.append(agent.name)
        for pair, until in list(self._retry_until.items()):
            if until <= now:
                del self._retry_until[pair]
        return done

    # --- entries ---------------------------------------------------------------------

    def join(self, entry: QueueEntry, now: float) -> JoinDecision:
        """Add a caller (or callback placeholder), or refuse: full, or empty by the rules."""
        queue = self._queue(entry.queue)
        if entry.id in self._entries:
            raise DuplicateEntry(f"entry '{entry.id}' is already waiting in '{entry.queue}'")
        placeholder = entry.kind == "callback"  # a place already promised: never refused
        full = queue.max_callers and self.callers_waiting(queue.name) >= queue.max_callers
        if full and not placeholder:
            return JoinDecision(False, refused="full", overflow=queue.overflow.full)
        if not placeholder and self._empty(queue, entry, queue.join_when_empty):
            return JoinDecision(False, refused="empty", overflow=queue.overflow.empty)
        if entry.priority is None:
            entry = replace(entry, priority=queue.priority)
        self._seq += 1
        self._entries[entry.id] = (entry, self._seq)
        bisect.insort(
            self._lines.setdefault(entry.queue, []), (self._order(entry, self._seq), entry.id)
        )
        position = self.position(entry.id)
        if entry.original_position == 0:
            entry = replace(entry, original_position=position)
            self._entries[entry.id] = (entry, self._seq)
        return JoinDecision(True, entry=entry, position=position)

    def leave(self, entry_id: str, now: float, reason: LeaveReason | str) -> Departure | None:
        """Take an entry out of its queue; None if it was not waiting (leaving twice is
        harmless). Its rings in progress are cancelled and listed to be stopped."""
        found = self._entries.get(entry_id)
        if found is None:
            return None
        entry = found[0]
        position = self.position(entry_id)
        cancelled = self._pending.pop(entry_id, [])
        for offer in cancelled:
            self.agents[offer.agent].ring_cancelled(now)
        self._forget(entry_id)
        return Departure(
            entry, LeaveReason(reason), now - entry.joined_at, position, tuple(cancelled)
        )

    def to_callback(self, entry_id: str, now: float) -> Departure:
        """Turn a waiting caller into a callback placeholder that keeps their place.

        The caller's rings are cancelled (they are hanging up); the placeholder has the
        same id, priority and join time.
        """
        entry, seq = self._entry(entry_id)
        cancelled = self._pending.pop(entry_id, [])
        for offer in cancelled:
            self.agents[offer.agent].ring_cancelled(now)
        self._entries[entry_id] = (replace(entry, kind="callback"), seq)
        return Departure(
            entry,
            LeaveReason.CALLBACK,
            now - entry.joined_at,
            self.position(entry_id),
            tuple(cancelled),
        )

    # --- rings -----------------------------------------------------------------------

    def offers(self, now: float) -> list[Offer]:
        """The rings to start now; each agent named is already marked ringing.

        Customer-first callback placeholders are passed over here (they are due only
        through :meth:`route`, for a driver that dials them)."""
        return self.route(now, callbacks_due=False).offers

    def route(self, now: float, callbacks_due: bool = True) -> Routing:
        """One round: the rings to start now (each agent named is already marked ringing;
        an offer of kind ``callback`` reserves its agent for that callback), and the
        customer-first callbacks now due (each marked as being dialled)."""
        self.tick(now)
        started: list[Offer] = []
        due: list[CallbackDue] = []
        promised: set[str] = set()  # agents a due callback counts on, this round
        order = [
            entry
            for entry in self.entries()
            if entry.id not in self._dialing and (callbacks_due or not self._customer_first(entry))
        ]
        # Returning callers first: their last agent is theirs if free.
        for entry in order:
            if entry.id in self._pending:
                continue
            agent = self._last_agent(entry)
            if (
                agent is not None
                and agent.state is AgentState.AVAILABLE
                and self._qualifies(agent, entry, self.required_levels(entry, now), now)
            ):
                started.append(self._ring(entry, agent, now))
        for entry in order:
            if entry.id in self._pending or self._holding(entry, now):
                continue
            queue = self.queues[entry.queue]
            levels = self.required_levels(entry, now)
            available = (self.agents[name] for name in self.members[queue.name])
            candidates = [
                agent
                for agent in available
                if agent.state is AgentState.AVAILABLE
                and agent.name not in promised
                and self._qualifies(agent, entry, levels, now)
            ]
            if not candidates:
                continue
            chosen = self._choose(queue, candidates, levels)
            if entry.kind == "callback":
                chosen = chosen[:1]  # one agent is reserved for a callback, even with ring-all
            if self._customer_first(entry):
                self._dialing.add(entry.id)
                promised.add(chosen[0].name)
                due.append(CallbackDue(entry.id, entry.queue, entry.caller, chosen[0].name, now))
                continue
            for agent in chosen:
                started.append(self._ring(entry, agent, now))
        return Routing(started, due)

    def dialing(self, entry_id: str) -> bool:
        """True while a customer-first placeholder's customer is being called."""
        return entry_id in self._dialing

    def ring_ended(self, offer: Offer, outcome: RingOutcome | str, now: float) -> list[Offer]:
        """A ring is over. Returns the other rings to stop (ring-all, once answered).

        ``answered``: the caller leaves the queue, the agent is on the call.
        ``no_answer`` / ``rejected``: the caller keeps their place, and this agent is not
        offered this caller again for the queue's ``retry_delay``.
        ``caller_gone``: the agent is free again; the caller still needs ``leave``.
        A report for a ring that already ended or was cancelled is ignored.
        """
        outcome = RingOutcome(outcome)
        pending = self._pending.get(offer.entry_id, [])
        if offer not in pending:
            return []
        pending.remove(offer)
        if not pending:
            del self._pending[offer.entry_id]
        agent = self.agents[offer.agent]
        if outcome is RingOutcome.ANSWERED:
            agent.answered(now)
            others = self._pending.pop(offer.entry_id, [])
            for other in others:
                self.agents[other.agent].ring_cancelled(now)
            self._forget(offer.entry_id)
            return others
        if outcome is RingOutcome.CALLER_GONE:
            agent.ring_cancelled(now)
            return []
        if outcome is RingOutcome.NO_ANSWER:
            agent.ring_no_answer(now)
        else:
            agent.rejected(now)
        delay = self.queues[offer.queue].retry_delay
        if delay > 0:
            self._retry_until[(offer.entry_id, offer.agent)] = now + delay
        return []

    # --- questions -------------------------------------------------------------------

    def entry(self, entry_id: str) -> QueueEntry | None:
        """A waiting entry, or None."""
        found = self._entries.get(entry_id)
        return found[0] if found is not None else None

    def entries(self, queue: str | None = None) -> list[QueueEntry]:
        """Waiting entries in service order (one queue, or all queues together)."""
        if queue is not None:
            lines: list[list[tuple[tuple[int, float, int], str]]] = [self._lines.get(queue, [])]
        else:
            lines = list(self._lines.values())
        return [self._entries[entry_id][0] for _, entry_id in heapq.merge(*lines)]

    def pending(self, entry_id: str) -> tuple[Offer, ...]:
        """The rings in progress for one entry."""
        return tuple(self._pending.get(entry_id, ()))

    def position(self, entry_id: str) -> int:
        """1-based place in the entry's queue, callback placeholders included."""
        entry, seq = self._entry(entry_id)
        return 1 + bisect.bisect_left(self._lines[entry.queue], (self._order(entry, seq), ""))

    def callers_waiting(self, queue: str, kind: EntryKind | None = None) -> int:
        """Entries waiting in a queue (of one kind, or both)."""
        self._queue(queue)
        return sum(
            1
            for entry, _ in self._entries.values()
            if entry.queue == queue and (kind is None or entry.kind == kind)
        )

    def agents_available(self, queue: str) -> int:
        """Members of a queue who are available now (as of the last tick)."""
        return sum(
            1
            for name in self.members[self._queue(queue).name]
            if self.agents[name].state is AgentState.AVAILABLE
        )

    def required_levels(self, entry: QueueEntry, now: float) -> dict[str, int]:
        """The skill levels a caller needs now, after widening for the time waited."""
        return self._levels(entry, now - entry.joined_at)

    def timeouts(self, now: float) -> list[tuple[str, Target | None]]:
        """Callers past their queue's ``max_wait``, with where each goes (None: on_failure).

        Callback placeholders have their own expiry and are not listed.
        """
        found = []
        for entry in self.entries():
            queue = self.queues[entry.queue]
            overdue = queue.max_wait > 0 and now - entry.joined_at >= queue.max_wait
            if entry.kind == "caller" and overdue:
                found.append((entry.id, queue.overflow.timeout))
        return found

    def empty_leavers(self, now: float) -> list[tuple[str, Target | None]]:
        """Callers whose queue is now empty for them by ``leave_when_empty``."""
        self.tick(now)
        found = []
        for entry in self.entries():
            queue = self.queues[entry.queue]
            if entry.kind == "caller" and self._empty(queue, entry, queue.leave_when_empty):
                found.append((entry.id, queue.overflow.empty))
        return found

    def next_wakeup(self, now: float) -> float | None:
        """The next time at which time alone changes a decision here, or None.

        Wrap-ups ending, retry delays and last-agent holds running out, skill widening
        steps, and ``max_wait`` deadlines (one already past means ``timeouts`` has work).
        Ring timeouts are the driver's: ``Offer.ring_deadline``.
        """
        times: list[float] = [
            agent.wrapup_until
            for agent in self.agents.values()
            if agent.state is AgentState.WRAPUP and agent.wrapup_until is not None
        ]
        times += [until for until in self._retry_until.values() if until > now]
        for entry, _ in self._entries.values():
            queue = self.queues[entry.queue]
            if entry.kind == "caller" and queue.max_wait > 0:
                times.append(entry.joined_at + queue.max_wait)
            if self._holding(entry, now):
                times.append(entry.joined_at + queue.last_agent.wait)
            times += [
                entry.joined_at + step.after
                for step in queue.skill_widening
                if entry.joined_at + step.after > now
            ]
        return min(times) if times else None

    # --- inside ----------------------------------------------------------------------

    def _queue(self, name: str) -> QueueConfig:
        try:
            return self.queues[name]
        except KeyError:
            raise UnknownQueue(f"no queue '{name}'") from None

    def _entry(self, entry_id: str) -> tuple[QueueEntry, int]:
        try:
            return self._entries[entry_id]
        except KeyError:
            raise UnknownEntry(f"no entry '{entry_id}' is waiting") from None

    @staticmethod
    def _order(entry: QueueEntry, seq: int) -> tuple[int, float, int]:
        return (-(entry.priority or 0), entry.joined_at, seq)

    @staticmethod
    def _customer_first(entry: QueueEntry) -> bool:
        return entry.kind == "callback" and entry.callback_mode == "customer-first"

    def _forget(self, entry_id: str) -> None:
        found = self._entries.pop(entry_id, None)
        if found is not None:
            line = self._lines[found[0].queue]
            key = (self._order(*found), entry_id)
            index = bisect.bisect_left(line, key)
            if index < len(line) and line[index] == key:
                del line[index]
        self._pending.pop(entry_id, None)
        self._dialing.discard(entry_id)
        for pair in [p for p in self._retry_until if p[0] == entry_id]:
            del self._retry_until[pair]

    def _levels(self, entry: QueueEntry, waited: float) -> dict[str, int]:
        queue = self.queues[entry.queue]
        levels = dict(queue.skills)
        for skill, level in entry.skills.items():
            levels[skill] = max(levels.get(skill, 0), level)
        cap: int | None = None
        for step in queue.skill_widening:
            if waited >= step.after:
                cap = step.min_level if cap is None else min(cap, step.min_level)
        if cap is not None:
            levels = {skill: min(level, cap) for skill, level in levels.items()}
        return levels

    def _qualifies(
        self, agent: Agent, entry: QueueEntry, levels: Mapping[str, int], now: float
    ) -> bool:
        if entry.queue not in agent.queues or not agent.has_levels(levels):
            return False
        return self._retry_until.get((entry.id, agent.name), -math.inf) <= now

    def _last_agent(self, entry: QueueEntry) -> Agent | None:
        if entry.last_agent is None or not self.queues[entry.queue].last_agent.enabled:
            return None
        return self.agents.get(entry.last_agent)

    def _holding(self, entry: QueueEntry, now: float) -> bool:
        """True while a caller is held for their busy last agent."""
        agent = self._last_agent(entry)
        if agent is None or agent.state not in _BUSY or entry.queue not in agent.queues:
            return False
        if now - entry.joined_at >= self.queues[entry.queue].last_agent.wait:
            return False
        return self._retry_until.get((entry.id, agent.name), -math.inf) <= now

    def _empty(self, queue: QueueConfig, entry: QueueEntry, rule: EmptyRule) -> bool:
        """No member who could ever serve this caller is in a state that counts."""
        if not rule.enabled:
            return False
        serving = _ALWAYS_SERVING | {_EMPTY_STATES[s] for s in rule.serving}
        levels = self._levels(entry, math.inf)
        return not any(
            agent.state in serving and agent.has_levels(levels)
            for agent in (self.agents[name] for name in self.members[queue.name])
        )

    def _choose(
        self, queue: QueueConfig, candidates: Sequence[Agent], levels: Mapping[str, int]
    ) -> list[Agent]:
        strategy = queue.strategy
        if strategy is Strategy.RING_ALL:
            return list(candidates)
        if strategy is Strategy.LINEAR:
            return [candidates[0]]
        if strategy is Strategy.LONGEST_IDLE:
            return [min(candidates, key=lambda a: a.idle_since)]  # min() keeps list order
        if strategy is Strategy.FEWEST_CALLS:
            return [min(candidates, key=lambda a: (a.calls_in(queue.name), a.idle_since))]
        if strategy is Strategy.ROUND_ROBIN_MEMORY:
            members = self.members[queue.name]
            last = self._last_rung.get(queue.name)
            start = members.index(last) + 1 if last in members else 0
            rank = {name: (i - start) % len(members) for i, name in enumerate(members)}
            return [min(candidates, key=lambda a: rank[a.name])]
        if strategy is Strategy.RANDOM:
            return [self.rng.choice(list(candidates))]
        # weighted-random: app_queue's wrandom weighs by penalty; here by skill level, so
        # the more skilled agent for what this caller needs rings more often.
        weights = [1 + sum(a.level(skill) for skill in levels) for a in candidates]
        return self.rng.choices(list(candidates), weights=weights, k=1)

    def _ring(self, entry: QueueEntry, agent: Agent, now: float) -> Offer:
        agent.ring(now, entry.id, entry.queue)
        queue = self.queues[entry.queue]
        offer = Offer(
            entry_id=entry.id,
            agent=agent.name,
            queue=entry.queue,
            endpoint=agent.endpoint,
            caller=entry.caller,
            kind=entry.kind,
            started_at=now,
            ring_timeout=queue.ring_timeout,
        )
        self._pending.setdefault(entry.id, []).append(offer)
        self._last_rung[entry.queue] = agent.name
        return offer

    def _cancel_ring_of(self, agent: Agent, now: float) -> list[Offer]:
        if agent.state is not AgentState.RINGING or agent.entry_id is None:
            return []
        offers = self._pending.get(agent.entry_id, [])
        mine = [o for o in offers if o.agent == agent.name]
        for offer in mine:
            offers.remove(offer)
        if not offers:
            self._pending.pop(agent.entry_id, None)
        agent.ring_cancelled(now)
        return mine


# --------------------------------------------------------------------------- last agent

HistoryRows = Iterable[tuple[str, str, float]]
History = Mapping[str, tuple[str, float]] | HistoryRows


def latest_agents(rows: HistoryRows) -> dict[str, tuple[str, float]]:
    """Caller -> (agent, when) of their most recent answered call, from event-log rows
    ``(caller, agent, when)``."""
    latest: dict[str, tuple[str, float]] = {}
    for caller, agent, when in rows:
        if caller not in latest or when >= latest[caller][1]:
            latest[caller] = (agent, when)
    return latest


def last_agent_for(history: History, caller: str, now: float, days: float) -> str | None:
    """The agent this caller last spoke with, if that was within ``days`` before ``now``.

    ``history`` is either rows ``(caller, agent, when)`` or the mapping
    :func:`latest_agents` builds; ``when`` and ``now`` are on the same clock (seconds).
    """
    if isinstance(history, Mapping):
        found = history.get(caller)
        calls = [found] if found is not None else []
    else:
        calls = [(agent, when) for who, agent, when in history if who == caller]
    recent = [(when, agent) for agent, when in calls if 0 <= now - when <= days * DAY]
    return max(recent)[1] if recent else None


__all__ = [
    "BadEntry",
    "CallbackDue",
    "CallbackMode",
    "Departure",
    "DuplicateEntry",
    "EntryKind",
    "History",
    "JoinDecision",
    "LeaveReason",
    "Offer",
    "QueueEntry",
    "RingOutcome",
    "Router",
    "Routing",
    "UnknownAgent",
    "UnknownEntry",
    "UnknownQueue",
    "last_agent_for",
    "latest_agents",
]
