"""Queue model: the contact center's agents and queues as immutable values, and their words.

What :mod:`callflow.queue.config` reads from ``queues.yaml`` and everything else
(the Router, the caller machine, announcements, the simulator) works with. No I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from callflow.flow.model import Prompt, Say, Schedule
from callflow.yamlcheck.diagnostics import Location


class Strategy(enum.StrEnum):
    """How a queue picks among the agents who could take a caller."""

    LONGEST_IDLE = "longest-idle"  # app_queue leastrecent
    ROUND_ROBIN_MEMORY = "round-robin-memory"  # rrmemory
    FEWEST_CALLS = "fewest-calls"  # fewestcalls
    RING_ALL = "ring-all"  # ringall
    RANDOM = "random"  # random
    LINEAR = "linear"  # linear: members in the order they are listed
    WEIGHTED_RANDOM = "weighted-random"  # wrandom, weighted by skill level


# app_queue's names, so a queues.conf habit gets a suggestion rather than a shrug.
APP_QUEUE_STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {
        "leastrecent": Strategy.LONGEST_IDLE,
        "rrmemory": Strategy.ROUND_ROBIN_MEMORY,
        "rrordered": Strategy.ROUND_ROBIN_MEMORY,
        "roundrobin": Strategy.ROUND_ROBIN_MEMORY,
        "fewestcalls": Strategy.FEWEST_CALLS,
        "ringall": Strategy.RING_ALL,
        "wrandom": Strategy.WEIGHTED_RANDOM,
    }
)


class PositionMode(enum.StrEnum):
    """app_queue's announce-position: always, never, only up to a limit, or "more than N"."""

    YES = "yes"
    NO = "no"
    LIMIT = "limit"
    MORE = "more"


class WaitMode(enum.StrEnum):
    """app_queue's announce-holdtime: in every announcement, never, or once."""

    YES = "yes"
    NO = "no"
    ONCE = "once"


# Agent states an empty rule may count as "can still serve" (available, ringing and
# on_call always count: those agents will take a call sooner or later).
EMPTY_STATES = ("paused", "unavailable", "wrapup")
# app_queue's round-seconds values.
ROUND_SECONDS = (0, 1, 5, 10, 15, 20, 30)


@dataclass(frozen=True)
class EmptyRule:
    """When a queue counts as empty for a caller (app_queue's joinempty / leavewhenempty).

    ``enabled`` False: never empty (join anyway, never leave). Otherwise the queue is
    empty unless some member who has the caller's skills (as far as widening ever
    lowers them) is available, ringing, on a call, or in one of ``serving``.
    """

    enabled: bool = False
    serving: frozenset[str] = frozenset()


# The words of both keys, as app_queue defines them. "yes" reads differently per key:
# join_when_empty: yes = join anyway; leave_when_empty: yes = leave when empty.
_RULE_WORDS = {
    "strict": EmptyRule(True, frozenset({"wrapup"})),
    "loose": EmptyRule(True, frozenset({"paused", "unavailable", "wrapup"})),
}
JOIN_WORDS: Mapping[str, EmptyRule] = MappingProxyType(
    {"yes": EmptyRule(), "no": EmptyRule(True, frozenset({"unavailable", "wrapup"})), **_RULE_WORDS}
)
LEAVE_WORDS: Mapping[str, EmptyRule] = MappingProxyType(
    {"no": EmptyRule(), "yes": EmptyRule(True, frozenset({"unavailable", "wrapup"})), **_RULE_WORDS}
)


@dataclass(frozen=True)
class Target:
    """Where a caller goes when a queue will not keep them: another queue or a flow node."""

    kind: Literal["queue", "node"]
    name: str

    @classmethod
    def parse(cls, text: str) -> Target:
        """``queue:<name>`` names a queue; anything else names a flow node."""
        if text.startswith("queue:"):
            return cls("queue", text.removeprefix("queue:").strip())
        return cls("node", text)

    def __str__(self) -> str:
        return f"queue:{self.name}" if self.kind == "queue" else self.name


@dataclass(frozen=True)
class Widening:
    """After ``after`` seconds of waiting, any required skill is met at ``min_level``."""

    after: float
    min_level: int


@dataclass(frozen=True)
class PeriodicPrompt:
    """A prompt played every ``every`` seconds of waiting (app_queue periodic-announce)."""

    every: float
    prompt: Prompt


@dataclass(frozen=True)
class AnnounceConfig:
    """Position and wait announcements (app_queue announce-* options)."""

    frequency: float = 0.0  # seconds between announcements; 0 = never
    min_frequency: float = 15.0  # at least this long between two, even if position moved
    position: PositionMode = PositionMode.YES
    position_limit: int = 5
    wait: WaitMode = WaitMode.YES
    round_seconds: int = 0
    periodic: tuple[PeriodicPrompt, ...] = ()


@dataclass(frozen=True)
class Overflow:
    """Where callers go when the queue is full, they waited too long, or it is empty.

    None: the flow's ``on_failure`` of the queue node decides.
    """

    full: Target | None = None
    timeout: Target | None = None
    empty: Target | None = None


@dataclass(frozen=True)
class LastAgentConfig:
    """Route a returning caller to the agent they last spoke with, within ``days``.

    A caller whose last agent is busy is held for them for up to ``wait`` seconds.
    """

    enabled: bool = False
    days: float = 30.0
    wait: float = 20.0


def _no_levels() -> Mapping[str, int]:
    return MappingProxyType({})


def _no_keys() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class AgentConfig:
    """One agent: how to ring them, their skills and the queues they serve."""

    name: str
    endpoint: str = ""
    display_name: str | None = None
    skills: Mapping[str, int] = field(default_factory=_no_levels)
    queues: tuple[str, ...] = ()
    max_ring_no_answer: int = 3  # auto-pause after this many rings in a row; 0 = never
    location: Location | None = field(default=None, compare=False)


CALLBACK_RETURNING = "Hello. We are returning your call. Please hold for the next agent."
"""What a customer-first callback's customer hears on answer, before waiting in line."""


def callback_returning(config: CallbackConfig) -> str:
    """What a customer-first callback's customer hears on answer: returning the call, and
    what happens if no agent comes within ``customer_wait``."""
    if config.customer_wait <= 0:
        return CALLBACK_RETURNING
    seconds = round(config.customer_wait)
    minutes = seconds // 60
    within = f"{seconds} seconds" if seconds % 60 else f"{minutes} minute{'s' * (minutes > 1)}"
    then = "call you back" if config.customer_wait_then == "requeue" else "end this call"
    return f"{CALLBACK_RETURNING} If no agent is free within {within}, we will {then}."


def callback_no_agent(config: CallbackConfig) -> str:
    """What that customer hears when no agent came within ``customer_wait``."""
    if config.customer_wait_then == "requeue":
        return "No agent is free yet. We will call you back soon. Goodbye."
    return "No agent is free yet. We are sorry. Goodbye."


def callback_whisper(queue: str) -> str:
    """What an agent-first callback's agent hears first (then the number and the wait)."""
    return f"Callback from the {queue.replace('_', ' ')} queue, to"


def _no_retry_delays() -> Mapping[str, float]:
    return MappingProxyType({})


@dataclass(frozen=True)
class CallbackConfig:
    """A queue's ``callback:`` block, as written (the callback package makes its policy and
    number rules from it: :func:`callflow.callback.live.policy_of`).

    ``mode``: ``agent-first`` or ``customer-first``; ``max_attempts`` calls at most;
    ``retry``: seconds before the next attempt per outcome (``no_answer``, ``busy``,
    ``machine``, ``failed``; ``lost``: callflow restarted mid-dial); ``expiry``: seconds
    after the request; ``opening_spread`` and ``handle_time``: callbacks asked for while
    closed are placed over the opening; ``hours``: when callbacks are placed (the queue's
    opening hours); ``customer_hours``: the customer's local calling
    hours when their timezone is known; ``default_country``: how a national number is
    read; ``blocked``: E.164 prefixes never dialled, besides the premium ranges blocked by
    default; ``machine_message``: left on an answering machine after its greeting (None:
    hang up); ``customer_wait``: seconds a customer-first customer waits for an agent (0: as
    long as the queue keeps callers), then ``requeue`` (called back later) or ``end``.
    """

    mode: Literal["agent-first", "customer-first"] = "agent-first"
    max_attempts: int = 3
    retry: Mapping[str, float] = field(default_factory=_no_retry_delays)
    expiry: float = 86_400.0
    opening_spread: float = 90 * 60.0
    handle_time: float = 300.0
    customer_hours: tuple[int, int] | None = (8 * 60, 21 * 60)
    hours: Schedule | None = None  # when callbacks are placed (None: any time)
    default_country: str = "US"
    blocked: tuple[str, ...] = ()
    machine_message: Prompt | None = None
    customer_wait: float = 0.0
    customer_wait_then: Literal["requeue", "end"] = "requeue"


@dataclass(frozen=True)
class QueueConfig:
    """One queue. ``members`` is resolved: the queue's own list, then agents naming it."""

    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    members: tuple[str, ...] = ()
    skills: Mapping[str, int] = field(default_factory=_no_levels)
    skill_widening: tuple[Widening, ...] = ()
    priority: int = 0
    max_callers: int = 0  # 0 = no limit
    max_wait: float = 0.0  # 0 = no limit
    join_when_empty: EmptyRule = JOIN_WORDS["yes"]
    leave_when_empty: EmptyRule = LEAVE_WORDS["no"]
    ring_timeout: float = 15.0
    retry_delay: float = 5.0
    wrapup: float = 0.0
    music_class: str = "default"
    announce: AnnounceConfig = AnnounceConfig()
    exit_keys: Mapping[str, str] = field(default_factory=_no_keys)
    overflow: Overflow = Overflow()
    last_agent: LastAgentConfig = LastAgentConfig()
    service_level: float = 20.0
    callback: CallbackConfig | None = None  # None: this queue offers no callback
    description: str | None = None
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class QueueCenter:
    """Every agent and queue of the contact center, as loaded from one file."""

    agents: Mapping[str, AgentConfig]
    queues: Mapping[str, QueueConfig]
    path: str = ""

    def say_texts(self, voice: str = "en-us") -> frozenset[tuple[str, str]]:
        """Every (text, voice) the queues speak (periodic ``say:`` prompts), for the
        prompt-cache builder."""
        found = set()
        for queue in self.queues.values():
            for periodic in queue.announce.periodic:
                if isinstance(periodic.prompt, Say):
                    found.add((periodic.prompt.text, periodic.prompt.voice or voice))
            if (cb := queue.callback) is not None:
                found |= {(callback_whisper(queue.name), voice), (CALLBACK_RETURNING, voice)}
                if cb.customer_wait > 0:
                    found |= {(callback_returning(cb), voice), (callback_no_agent(cb), voice)}
                if isinstance(cb.machine_message, Say):
                    found.add((cb.machine_message.text, cb.machine_message.voice or voice))
        return frozenset(found)

    def flow_nodes(self, queue: str) -> frozenset[str]:
        """The flow nodes a caller waiting in ``queue`` may be sent to: its exit keys and
        overflow targets, following overflows into other queues."""
        found: set[str] = set()
        seen: set[str] = set()
        todo = [queue]
        while todo:
            name = todo.pop()
            config = self.queues.get(name)
            if config is None or name in seen:
                continue
            seen.add(name)
            found.update(config.exit_keys.values())
            overflow = config.overflow
            for target in (overflow.full, overflow.timeout, overflow.empty):
                if target is None:
                    continue
                if target.kind == "queue":
                    todo.append(target.name)
                else:
                    found.add(target.name)
        return frozenset(found)

    def exits(self) -> dict[str, frozenset[str]]:
        """For the flow checker: each queue -> the flow nodes it may send callers to."""
        return {name: self.flow_nodes(name) for name in self.queues}

    @classmethod
    def build(
        cls, agents: Iterable[AgentConfig], queues: Iterable[QueueConfig], path: str = ""
    ) -> QueueCenter:
        """Freeze lists of agents and queues into a center (tests and the simulator)."""
        return cls(
            MappingProxyType({a.name: a for a in agents}),
            MappingProxyType({q.name: q for q in queues}),
            path,
        )


__all__ = [
    "APP_QUEUE_STRATEGIES",
    "EMPTY_STATES",
    "JOIN_WORDS",
    "LEAVE_WORDS",
    "ROUND_SECONDS",
    "AgentConfig",
    "AnnounceConfig",
    "EmptyRule",
    "LastAgentConfig",
    "Overflow",
    "PeriodicPrompt",
    "PositionMode",
    "QueueCenter",
    "QueueConfig",
    "Strategy",
    "Target",
    "WaitMode",
    "Widening",
]
