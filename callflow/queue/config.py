"""Queue configuration: read ``config/queues.yaml`` into immutable agents and queues.

``load_queues()`` and ``check_queues()`` never stop at the first mistake. Each problem
becomes a :class:`~callflow.flow.diagnostics.Diagnostic` with its ``file:line:column``,
what was expected and, for a misspelt key or name, the nearest valid word - the same
reporting as ``callflow check`` for flows (:mod:`callflow.flow.source` reads the YAML
with positions and finds duplicate keys).

The file has two sections::

    agents:
      alice: {endpoint: PJSIP/agent1, name: Alice, skills: {billing: 3}, queues: [support]}
    queues:
      support: {strategy: longest-idle, skills: {english: 1}, max_wait: 10m, ...}

Durations are seconds (``90``) or text with units (``"90s"``, ``"2m"``, ``"1h30m"``).
Agent states named in ``join_when_empty`` / ``leave_when_empty``: ``paused``,
``wrapup`` and ``unavailable`` (a member agent who is logged out - app_queue's static
member whose device is unavailable).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from callflow.flow.diagnostics import Diagnostic, Location, Severity, nearest, sort_key
from callflow.flow.model import Prompt, Say, Sound
from callflow.flow.source import (
    BOOL,
    FLOAT,
    INT,
    NULL,
    Reporter,
    describe,
    read_source,
    where,
)
from callflow.flow.spec import PHONE_KEYS

# --------------------------------------------------------------------------- vocabulary


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


# Every key of the file and what it means: the checker's vocabulary.
TOP_KEYS = {
    "description": "What this file is for.",
    "agents": "Agents by id: endpoint, name, skills, queues, max_ring_no_answer.",
    "queues": "Queues by name.",
}
AGENT_KEYS = {
    "endpoint": "The device to ring, e.g. PJSIP/agent1.",
    "name": "The agent's name as people say it.",
    "skills": "Skill -> level, e.g. {billing: 3, spanish: 5}.",
    "queues": "The queues this agent serves.",
    "max_ring_no_answer": "Pause the agent after this many unanswered rings in a row (0: never).",
}
QUEUE_KEYS = {
    "description": "A note for people reading the file.",
    "strategy": "How an agent is chosen: " + ", ".join(s.value for s in Strategy) + ".",
    "members": "Agents serving this queue, in order (linear strategy), besides agents' queues.",
    "skills": "Skills a caller needs, with minimum levels, e.g. {billing: 3}.",
    "skill_widening": "Lower the levels over time: [{after: 60, min_level: 1}].",
    "priority": "Default caller priority; higher is answered sooner.",
    "max_callers": "Most callers waiting at once (0: no limit).",
    "max_wait": "Longest wait before overflow 'timeout' (0: no limit).",
    "join_when_empty": "yes, no, strict, loose, or the agent states that count as serving.",
    "leave_when_empty": "no, yes, strict, loose, or the agent states that count as serving.",
    "ring_timeout": "How long an agent's phone rings.",
    "retry_delay": "How long before a caller is offered again to an agent who did not answer.",
    "wrapup": "After-call work time before the agent gets another call.",
    "music_class": "Music on hold class.",
    "announce": "Position and wait announcements.",
    "exit_keys": "Phone key -> flow node the caller may leave to, e.g. '0': voicemail.",
    "overflow": "Where callers go: full, timeout, empty -> queue:<name> or a flow node.",
    "last_agent": "Route returning callers to their last agent: enabled, days, wait.",
    "service_level": "Service level threshold: answered within this many seconds.",
}
ANNOUNCE_KEYS = {
    "frequency": "Time between position/wait announcements (0: never).",
    "min_frequency": "Least time between announcements when the position changes.",
    "position": "yes, no, limit (only up to position_limit) or more ('more than N').",
    "position_limit": "The limit for position: limit / more.",
    "wait": "Announce the estimated wait: yes, no or once.",
    "round_seconds": "Say seconds rounded to: " + ", ".join(map(str, ROUND_SECONDS)) + ".",
    "periodic": "Prompts played during the wait: [{every: 60, prompt: ...}].",
}
PERIODIC_KEYS = {"every": "How often.", "prompt": "What: a sound name, sound:<name> or say:<text>."}
WIDENING_KEYS = {"after": "Seconds of waiting.", "min_level": "The lowered minimum level."}
OVERFLOW_KEYS = {
    "full": "Where callers go when max_callers are waiting.",
    "timeout": "Where callers go after max_wait.",
    "empty": "Where callers go when no agent can serve (join/leave_when_empty).",
}
LAST_AGENT_KEYS = {
    "enabled": "Whether to route to the last agent.",
    "days": "How many days a last agent is remembered.",
    "wait": "How long to hold a caller for a busy last agent.",
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/\S+$")
_DURATION = re.compile(
    r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$"
    r"|^(?P<plain>\d+(?:\.\d+)?)$"
)
_DURATION_WORDS = "a duration (seconds, or e.g. '90s', '2m', '1h30m')"


# --------------------------------------------------------------------------- reading


class _Reader(Reporter):
    """Reads one queues file, collecting a diagnostic for each problem."""

    def __init__(self, path: str) -> None:
        super().__init__(path)

    def wrong(self, node: Node, what: str, expected: str) -> None:
        self.error(node, f"{what} must be {expected}, not {describe(node)}")

    # --- mappings --------------------------------------------------------------------

    def mapping(
        self,
        node: Node,
        known: Mapping[str, str],
        what: str,
        *,
        at: Node,
        required: Collection[str] = (),
    ) -> dict[str, Node]:
        """The values of a mapping by key; unknown and missing keys are reported."""
        if not isinstance(node, MappingNode):
            self.wrong(node, what, "a mapping")
            return {}
        values: dict[str, Node] = {}
        suggested: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                self.error(key, f"keys {self._in(what)} must be plain words, not {describe(key)}")
                continue
            if key.value not in known:
                suggestion = nearest(key.value, known)
                self.error(
                    key,
                    f"unknown key '{key.value}' {self._in(what)} "
                    f"(expected one of: {', '.join(known)})",
                    suggestion,
                )
                if suggestion is not None:
                    suggested.add(suggestion)
                continue
            values.setdefault(key.value, value)  # duplicates: reported by read_source
        for name in required:
            # A misspelt required key was reported with its suggestion; once is enough.
            if name not in values and name not in suggested:
                self.error(at, f"missing required key '{name}' {self._in(what)}")
        return values

    @staticmethod
    def _in(what: str) -> str:
        return "at the top level" if what == "the top level" else f"in {what}"

    def named(self, node: Node, what: str) -> list[tuple[ScalarNode, Node]]:
        """Entries of a mapping of names (agents, queues) whose names are valid."""
        if not isinstance(node, MappingNode):
            self.wrong(node, what, "a mapping of names")
            return []
        found: list[tuple[ScalarNode, Node]] = []
        seen: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == NULL or not key.value:
                self.error(key, f"names in {what} must be plain words, not {describe(key)}")
                continue
            if key.value in seen:
                continue  # duplicate key, already reported
            seen.add(key.value)
            if not _NAME.match(key.value):
                self.error(
                    key,
                    f"invalid name '{key.value}' in {what} (use letters, digits, '_', '-' and "
                    "'.', starting with a letter)",
                )
                continue
            found.append((key, value))
        return found

    # --- scalars ---------------------------------------------------------------------

    def text(self, node: Node, what: str) -> str | None:
        if not isinstance(node, ScalarNode) or node.tag == NULL or node.value == "":
            self.wrong(node, what, "text")
            return None
        return str(node.value)

    def integer(self, node: Node, what: str, minimum: int = 0) -> int | None:
        if not isinstance(node, ScalarNode) or node.tag != INT:
            self.wrong(node, what, "a whole number")
            return None
        number = int(node.value.replace("_", ""), 0 if node.value[:2] in ("0x", "0o") else 10)
        if number < minimum:
            self.error(node, f"{what} must be at least {minimum}, not {number}")
            return None
        return number

    def boolean(self, node: Node, what: str) -> bool | None:
        if not isinstance(node, ScalarNode) or node.tag != BOOL:
            self.wrong(node, what, "true or false")
            return None
        return node.value.lower() in ("true", "yes", "on", "y")

    def number(self, node: Node, what: str) -> float | None:
        """A positive number (days)."""
        if not isinstance(node, ScalarNode) or node.tag not in (INT, FLOAT):
            self.wrong(node, what, "a number")
            return None
        try:
            value = float(node.value.replace("_", ""))
        except ValueError:
            value = math.nan
        if not value > 0 or math.isinf(value):
            self.error(node, f"{what} must be more than 0, not {node.value}")
            return None
        return value

    def duration(self, node: Node, what: str, *, zero: bool = True) -> float | None:
        """Seconds, from a number or text with units; ``zero`` allows 0."""
        seconds: float | None = None
        if isinstance(node, ScalarNode) and node.tag in (INT, FLOAT):
            try:
                seconds = float(node.value.replace("_", ""))
            except ValueError:
                seconds = None
            if seconds is not None and seconds < 0:
                self.error(node, f"{what} must be {_DURATION_WORDS} of 0 or more, not {node.value}")
                return None
        elif isinstance(node, ScalarNode) and node.tag not in (NULL, BOOL):
            text = node.value.strip().lower().replace(" ", "")
            match = _DURATION.match(text) if text else None
            if match is not None and match.group("plain"):
                seconds = float(match.group("plain"))
            elif match is not None and any(match.group(g) for g in "hms"):
                h, m, s = (float(match.group(g) or 0) for g in "hms")
                seconds = h * 3600 + m * 60 + s
        if seconds is None or math.isnan(seconds) or math.isinf(seconds):
            self.wrong(node, what, _DURATION_WORDS)
            return None
        if not zero and seconds == 0:
            self.error(node, f"{what} must be more than 0 seconds")
            return None
        return seconds

    def choice(self, node: Node, what: str, choices: Iterable[str]) -> str | None:
        # yes/no/on/off are booleans to YAML but words here: read the text as written.
        words = list(choices)
        if not isinstance(node, ScalarNode) or node.tag == NULL:
            self.wrong(node, what, "one of: " + ", ".join(words))
            return None
        word = str(node.value).lower()
        if word not in words:
            self.error(
                node,
                f"{what} must be one of: {', '.join(words)}, not '{node.value}'",
                nearest(node.value, words),
            )
            return None
        return word

    def names(self, node: Node, what: str) -> list[tuple[str, ScalarNode]]:
        """A list of names (or one name) with their nodes."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        found: list[tuple[str, ScalarNode]] = []
        for item in items:
            if not isinstance(item, ScalarNode) or item.tag == NULL or not item.value:
                self.wrong(item, what, "a list of names")
                continue
            found.append((str(item.value), item))
        return found

    def levels(self, node: Node, what: str) -> dict[str, tuple[int, ScalarNode]]:
        """Skill -> level (a whole number >= 0), with each skill's key node."""
        if not isinstance(node, MappingNode):
            self.wrong(node, what, "a mapping of skills to levels, e.g. {billing: 3}")
            return {}
        found: dict[str, tuple[int, ScalarNode]] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or not _NAME.match(str(key.value)):
                self.error(key, f"skill names in {what} must be plain words, not {describe(key)}")
                continue
            level = self.integer(value, f"level of skill '{key.value}' in {what}")
            if level is not None and key.value not in found:
                found[key.value] = (level, key)
        return found

    def target(self, node: Node, what: str) -> tuple[Target, ScalarNode] | None:
        text = self.text(node, what)
        if text is None:
            return None
        assert isinstance(node, ScalarNode)
        target = Target.parse(text)
        if not target.name or not _NAME.match(target.name):
            self.error(node, f"{what} must be queue:<name> or a flow node name, not '{text}'")
            return None
        return target, node

    def prompt(self, node: Node, what: str) -> Prompt | None:
        if isinstance(node, ScalarNode) and node.tag != NULL and node.value:
            text = str(node.value)
            kind, colon, rest = text.partition(":")
            if colon and kind in ("sound", "say") and rest.strip():
                return Sound(rest.strip()) if kind == "sound" else Say(rest.strip())
            if colon and " " not in kind:
                self.error(
                    node, f"unknown prompt kind '{kind}' {self._in(what)}", nearest(kind, PROMPTS)
                )
                return None
            return Sound(text)
        if isinstance(node, MappingNode) and len(node.value) == 1:
            key, value = node.value[0]
            if isinstance(key, ScalarNode) and key.value not in PROMPTS:
                self.error(
                    key,
                    f"unknown prompt kind '{key.value}' {self._in(what)} (expected sound or say)",
                    nearest(key.value, PROMPTS),
                )
                return None
            spoken = self.text(value, what)
            if spoken is None:
                return None
            return Sound(spoken) if key.value == "sound" else Say(spoken)
        self.wrong(node, what, "a sound name, sound:<name>, say:<text>, {sound: ...} or {say: ...}")
        return None


PROMPTS = ("sound", "say")


@dataclass
class _Refs:
    """Names to check once the whole file is read."""

    agent_queues: list[tuple[str, ScalarNode, str]] = field(default_factory=list)
    members: list[tuple[str, ScalarNode, str]] = field(default_factory=list)
    queue_skills: list[tuple[str, ScalarNode, str]] = field(default_factory=list)
    targets: list[tuple[Target, ScalarNode, str, str]] = field(default_factory=list)
    held_skills: set[str] = field(default_factory=set)  # by any agent, even a broken one


def _read_agent(r: _Reader, refs: _Refs, key: ScalarNode, body: Node) -> AgentConfig | None:
    name = key.value
    what = f"agent '{name}'"
    before = len([d for d in r.diagnostics if d.is_error])
    v = r.mapping(body, AGENT_KEYS, what, at=key, required=("endpoint",))
    endpoint = r.text(v["endpoint"], f"'endpoint' of {what}") if "endpoint" in v else None
    if endpoint is not None and not _ENDPOINT.match(endpoint):
        r.error(
            v["endpoint"],
            f"'endpoint' of {what} must be TECH/resource, e.g. PJSIP/agent1, not '{endpoint}'",
        )
    display = r.text(v["name"], f"'name' of {what}") if "name" in v else None
    skills = r.levels(v["skills"], f"'skills' of {what}") if "skills" in v else {}
    if "skills" in v and isinstance(v["skills"], MappingNode):
        refs.held_skills.update(
            str(k.value) for k, _ in v["skills"].value if isinstance(k, ScalarNode)
        )
    queues: list[str] = []
    for queue, node in r.names(v["queues"], f"'queues' of {what}") if "queues" in v else []:
        queues.append(queue)
        refs.agent_queues.append((queue, node, name))
    rna = v.get("max_ring_no_answer")
    max_rna = r.integer(rna, f"'max_ring_no_answer' of {what}") if rna is not None else 3
    if len([d for d in r.diagnostics if d.is_error]) > before:
        return None
    return AgentConfig(
        name=name,
        endpoint=endpoint or "",
        display_name=display,
        skills=MappingProxyType({s: lvl for s, (lvl, _) in skills.items()}),
        queues=tuple(dict.fromkeys(queues)),
        max_ring_no_answer=3 if max_rna is None else max_rna,
        location=where(r.path, key),
    )


def _empty_rule(
    r: _Reader, node: Node, what: str, words: Mapping[str, EmptyRule]
) -> EmptyRule | None:
    if isinstance(node, SequenceNode):
        states: set[str] = set()
        for item in node.value:
            state = r.choice(item, f"agent states in {what}", EMPTY_STATES)
            if state is None:
                return None
            states.add(state)
        return EmptyRule(True, frozenset(states))
    word = str(node.value).lower() if isinstance(node, ScalarNode) else ""
    if word not in words:
        expected = f"one of: {', '.join(words)}, or a list of: {', '.join(EMPTY_STATES)}"
        if isinstance(node, ScalarNode) and node.tag != NULL:
            r.error(
                node, f"{what} must be {expected}, not '{node.value}'", nearest(node.value, words)
            )
        else:
            r.wrong(node, what, expected)
        return None
    return words[word]


def _read_announce(r: _Reader, node: Node, what: str) -> AnnounceConfig:
    v = r.mapping(node, ANNOUNCE_KEYS, what, at=node)
    d = AnnounceConfig()
    frequency = r.duration(v["frequency"], f"'frequency' in {what}") if "frequency" in v else None
    min_frequency = (
        r.duration(v["min_frequency"], f"'min_frequency' in {what}")
        if "min_frequency" in v
        else None
    )
    position = (
        r.choice(v["position"], f"'position' in {what}", PositionMode) if "position" in v else None
    )
    limit = (
        r.integer(v["position_limit"], f"'position_limit' in {what}", 1)
        if "position_limit" in v
        else None
    )
    wait = r.choice(v["wait"], f"'wait' in {what}", WaitMode) if "wait" in v else None
    rounding = None
    if "round_seconds" in v:
        rounding = r.integer(v["round_seconds"], f"'round_seconds' in {what}")
        if rounding is not None and rounding not in ROUND_SECONDS:
            r.error(
                v["round_seconds"],
                f"'round_seconds' in {what} must be one of: {', '.join(map(str, ROUND_SECONDS))},"
                f" not {rounding}",
            )
            rounding = None
    periodic: list[PeriodicPrompt] = []
    if "periodic" in v:
        items = v["periodic"]
        if not isinstance(items, SequenceNode):
            r.wrong(items, f"'periodic' in {what}", "a list of {every: seconds, prompt: ...}")
        else:
            for item in items.value:
                p = r.mapping(
                    item,
                    PERIODIC_KEYS,
                    f"a 'periodic' item in {what}",
                    at=item,
                    required=("every", "prompt"),
                )
                every = (
                    r.duration(p["every"], f"'every' in {what}", zero=False)
                    if "every" in p
                    else None
                )
                prompt = r.prompt(p["prompt"], f"'prompt' in {what}") if "prompt" in p else None
                if every is not None and prompt is not None:
                    periodic.append(PeriodicPrompt(every, prompt))
    chosen_position = PositionMode(position) if position else d.position
    if "position_limit" in v and chosen_position in (PositionMode.YES, PositionMode.NO):
        r.warning(
            v["position_limit"],
            f"'position_limit' in {what} has no effect with position: {chosen_position.value}"
            " (use limit or more)",
        )
    if frequency and min_frequency and min_frequency > frequency:
        r.warning(
            v["min_frequency"],
            f"'min_frequency' in {what} ({min_frequency:g} s) is longer than 'frequency' "
            f"({frequency:g} s)",
        )
    return AnnounceConfig(
        frequency=d.frequency if frequency is None else frequency,
        min_frequency=d.min_frequency if min_frequency is None else min_frequency,
        position=chosen_position,
        position_limit=d.position_limit if limit is None else limit,
        wait=WaitMode(wait) if wait else d.wait,
        round_seconds=d.round_seconds if rounding is None else rounding,
        periodic=tuple(periodic),
    )


def _read_queue(r: _Reader, refs: _Refs, key: ScalarNode, body: Node) -> QueueConfig | None:
    name = key.value
    what = f"queue '{name}'"
    before = len([d for d in r.diagnostics if d.is_error])
    v = r.mapping(body, QUEUE_KEYS, what, at=key)
    d = QueueConfig(name)

    def of(k: str) -> str:
        return f"'{k}' of {what}"

    strategy = d.strategy
    if "strategy" in v:
        node = v["strategy"]
        word = node.value if isinstance(node, ScalarNode) else None
        if word in APP_QUEUE_STRATEGIES:
            r.error(
                node,
                f"unknown strategy '{word}' for {what}: that is app_queue's name (expected one"
                f" of: {', '.join(Strategy)})",
                APP_QUEUE_STRATEGIES[str(word)].value,
            )
        else:
            chosen = r.choice(node, of("strategy"), Strategy)
            strategy = Strategy(chosen) if chosen else strategy
    members: list[str] = []
    for agent, node in r.names(v["members"], of("members")) if "members" in v else []:
        members.append(agent)
        refs.members.append((agent, node, name))
    skills = r.levels(v["skills"], of("skills")) if "skills" in v else {}
    for skill, (_, node) in skills.items():
        refs.queue_skills.append((skill, node, name))
    widening: list[Widening] = []
    if "skill_widening" in v:
        node = v["skill_widening"]
        if not isinstance(node, SequenceNode):
            r.wrong(node, of("skill_widening"), "a list of {after: seconds, min_level: level}")
        else:
            previous: float | None = None
            for item in node.value:
                w = r.mapping(
                    item,
                    WIDENING_KEYS,
                    f"a 'skill_widening' step of {what}",
                    at=item,
                    required=("after", "min_level"),
                )
                after = (
                    r.duration(w["after"], f"'after' in {of('skill_widening')}")
                    if "after" in w
                    else None
                )
                level = (
                    r.integer(w["min_level"], f"'min_level' in {of('skill_widening')}")
                    if "min_level" in w
                    else None
                )
                if after is not None and previous is not None and after <= previous:
                    r.error(
                        w["after"],
                        f"steps of {of('skill_widening')} must come in increasing 'after' order"
                        f" ({after:g} s follows {previous:g} s)",
                    )
                if after is not None:
                    previous = after
                if after is not None and level is not None:
                    widening.append(Widening(after, level))
            if widening and not skills:
                r.warning(node, f"{of('skill_widening')} has no effect: the queue needs no skills")
    priority = r.integer(v["priority"], of("priority"), -1_000_000) if "priority" in v else None
    max_callers = r.integer(v["max_callers"], of("max_callers")) if "max_callers" in v else None
    durations: dict[str, float] = {}
    for k, zero in (
        ("max_wait", True),
        ("ring_timeout", False),
        ("retry_delay", True),
        ("wrapup", True),
        ("service_level", False),
    ):
        if k in v:
            seconds = r.duration(v[k], of(k), zero=zero)
            if seconds is not None:
                durations[k] = seconds
    join = (
        _empty_rule(r, v["join_when_empty"], of("join_when_empty"), JOIN_WORDS)
        if ("join_when_empty" in v)
        else None
    )
    leave = (
        _empty_rule(r, v["leave_when_empty"], of("leave_when_empty"), LEAVE_WORDS)
        if ("leave_when_empty" in v)
        else None
    )
    music = r.text(v["music_class"], of("music_class")) if "music_class" in v else None
    description = r.text(v["description"], of("description")) if "description" in v else None
    announce = _read_announce(r, v["announce"], of("announce")) if "announce" in v else None
    exit_keys: dict[str, str] = {}
    if "exit_keys" in v:
        node = v["exit_keys"]
        if not isinstance(node, MappingNode):
            r.wrong(node, of("exit_keys"), "a mapping of phone keys to flow nodes")
        else:
            for k_node, target_node in node.value:
                digit = str(k_node.value) if isinstance(k_node, ScalarNode) else ""
                if len(digit) != 1 or digit not in PHONE_KEYS:
                    r.error(
                        k_node,
                        f"keys of {of('exit_keys')} must be one phone key (0-9, * or #),"
                        f" not {describe(k_node)}",
                    )
                    continue
                parsed = r.target(target_node, f"exit key '{digit}' of {what}")
                if parsed is None:
                    continue
                target, t_node = parsed
                if target.kind == "queue":
                    r.error(
                        t_node, f"exit key '{digit}' of {what} must name a flow node, not a queue"
                    )
                    continue
                exit_keys[digit] = target.name
                refs.targets.append((target, t_node, name, f"exit key '{digit}' of {what}"))
    overflow = d.overflow
    if "overflow" in v:
        o = r.mapping(v["overflow"], OVERFLOW_KEYS, f"'overflow' of {what}", at=v["overflow"])
        found: dict[str, Target] = {}
        for k, node in o.items():
            parsed = r.target(node, f"overflow '{k}' of {what}")
            if parsed is not None:
                found[k] = parsed[0]
                refs.targets.append((parsed[0], parsed[1], name, f"overflow '{k}' of {what}"))
        overflow = Overflow(found.get("full"), found.get("timeout"), found.get("empty"))
    last_agent = d.last_agent
    if "last_agent" in v:
        la = r.mapping(
            v["last_agent"], LAST_AGENT_KEYS, f"'last_agent' of {what}", at=v["last_agent"]
        )
        enabled = (
            r.boolean(la["enabled"], f"'enabled' in {of('last_agent')}")
            if "enabled" in la
            else None
        )
        days = r.number(la["days"], f"'days' in {of('last_agent')}") if "days" in la else None
        hold = r.duration(la["wait"], f"'wait' in {of('last_agent')}") if "wait" in la else None
        last_agent = LastAgentConfig(
            enabled=True if enabled is None else enabled,
            days=d.last_agent.days if days is None else days,
            wait=d.last_agent.wait if hold is None else hold,
        )
    if len([x for x in r.diagnostics if x.is_error]) > before:
        return None
    return QueueConfig(
        name=name,
        strategy=strategy,
        members=tuple(dict.fromkeys(members)),
        skills=MappingProxyType({s: lvl for s, (lvl, _) in skills.items()}),
        skill_widening=tuple(widening),
        priority=d.priority if priority is None else priority,
        max_callers=d.max_callers if max_callers is None else max_callers,
        max_wait=durations.get("max_wait", d.max_wait),
        join_when_empty=join or d.join_when_empty,
        leave_when_empty=leave or d.leave_when_empty,
        ring_timeout=durations.get("ring_timeout", d.ring_timeout),
        retry_delay=durations.get("retry_delay", d.retry_delay),
        wrapup=durations.get("wrapup", d.wrapup),
        music_class=music or d.music_class,
        announce=announce or d.announce,
        exit_keys=MappingProxyType(exit_keys),
        overflow=overflow,
        last_agent=last_agent,
        service_level=durations.get("service_level", d.service_level),
        description=description,
        location=where(r.path, key),
    )


def _check_references(
    r: _Reader,
    refs: _Refs,
    agent_names: Collection[str],
    queue_names: Collection[str],
    nodes: Collection[str] | None,
) -> None:
    for queue, node, agent in refs.agent_queues:
        if queue not in queue_names:
            r.error(
                node, f"agent '{agent}' serves unknown queue '{queue}'", nearest(queue, queue_names)
            )
    for agent, node, queue in refs.members:
        if agent not in agent_names:
            r.error(
                node, f"queue '{queue}' lists unknown agent '{agent}'", nearest(agent, agent_names)
            )
    held = refs.held_skills
    for skill, node, queue in refs.queue_skills:
        if skill not in held:
            r.error(
                node,
                f"queue '{queue}' needs skill '{skill}', which no agent has",
                nearest(skill, held),
            )
    for target, node, queue, what in refs.targets:
        if target.kind == "queue":
            if target.name == queue:
                r.error(node, f"{what} sends callers back to the same queue")
            elif target.name not in queue_names:
                r.error(
                    node,
                    f"{what} names unknown queue '{target.name}'",
                    nearest(target.name, queue_names),
                )
        elif nodes is not None and target.name not in nodes:
            r.error(
                node, f"{what} names unknown flow node '{target.name}'", nearest(target.name, nodes)
            )


def _resolve_members(
    r: _Reader, agents: dict[str, AgentConfig], queues: dict[str, QueueConfig]
) -> dict[str, QueueConfig]:
    resolved: dict[str, QueueConfig] = {}
    for name, queue in queues.items():
        members = [m for m in queue.members if m in agents]
        members += [a.name for a in agents.values() if name in a.queues and a.name not in members]
        at = queue.location or Location(r.path, 1, 1)
        if not members:
            r.warning(
                at,
                f"queue '{name}' has no agents (name it in an agent's 'queues' or in"
                " its 'members')",
            )
        for skill, level in queue.skills.items():
            if members and not any(agents[m].skills.get(skill, 0) >= level for m in members):
                r.warning(
                    at,
                    f"no agent of queue '{name}' has skill '{skill}' at level {level}"
                    " or above; callers wait for skill widening",
                )
        resolved[name] = dataclasses.replace(queue, members=tuple(members))
    for agent in agents.values():
        if not agent.queues and not any(agent.name in q.members for q in resolved.values()):
            r.warning(
                agent.location or Location(r.path, 1, 1), f"agent '{agent.name}' serves no queue"
            )
    return resolved


def parse_queues(
    path: str, text: str, nodes: Collection[str] | None = None
) -> tuple[QueueCenter | None, list[Diagnostic]]:
    """Read queues YAML ``text`` (named ``path`` in diagnostics); the center is None on error.

    ``nodes``: the flow's node names, to check exit keys and overflow targets against.
    """
    source = read_source(path, text)
    r = _Reader(path)
    r.diagnostics.extend(
        Diagnostic(
            d.location,
            d.severity,
            d.message.replace("the flow file", "the queues file"),
            d.suggestion,
        )
        for d in source.diagnostics
    )
    root = source.root
    if root is None:
        return None, sorted(r.diagnostics, key=sort_key)
    top = r.mapping(root, TOP_KEYS, "the top level", at=root, required=("queues",))
    refs = _Refs()
    agents: dict[str, AgentConfig] = {}
    queues: dict[str, QueueConfig] = {}
    agent_names: list[str] = []
    queue_names: list[str] = []
    if "description" in top:
        r.text(top["description"], "'description'")
    if "agents" in top:
        for key, body in r.named(top["agents"], "'agents'"):
            agent_names.append(key.value)
            agent = _read_agent(r, refs, key, body)
            if agent is not None:
                agents[agent.name] = agent
    if "queues" in top:
        for key, body in r.named(top["queues"], "'queues'"):
            queue_names.append(key.value)
            queue = _read_queue(r, refs, key, body)
            if queue is not None:
                queues[queue.name] = queue
    _check_references(r, refs, agent_names, queue_names, nodes)
    resolved = _resolve_members(r, agents, queues)
    diagnostics = sorted(dict.fromkeys(r.diagnostics), key=sort_key)
    if any(d.is_error for d in diagnostics):
        return None, diagnostics
    center = QueueCenter(MappingProxyType(agents), MappingProxyType(resolved), path)
    return center, diagnostics


def load_queues(
    path: str, nodes: Collection[str] | None = None
) -> tuple[QueueCenter | None, list[Diagnostic]]:
    """Load a queues file; the center is None when there is any error."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, [
            Diagnostic(Location(path, 1, 1), Severity.ERROR, f"cannot read file: {reason}")
        ]
    return parse_queues(path, text, nodes)


def check_queues(paths: Iterable[str], nodes: Collection[str] | None = None) -> list[Diagnostic]:
    """Every problem in each queues file, errors first."""
    found: list[Diagnostic] = []
    for path in paths:
        found.extend(load_queues(os.fspath(path), nodes)[1])
    return sorted(found, key=sort_key)


__all__ = [
    "APP_QUEUE_STRATEGIES",
    "EMPTY_STATES",
    "JOIN_WORDS",
    "LEAVE_WORDS",
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
    "check_queues",
    "load_queues",
    "parse_queues",
]
