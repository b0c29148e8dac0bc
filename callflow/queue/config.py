"""Queue configuration: read ``config/queues.yaml`` into the agents and queues of
:mod:`callflow.queue.model`, checking it against :data:`QUEUES_FILE`.

``load_queues()`` and ``check_queues()`` never stop at the first mistake. Each problem
becomes a :class:`~callflow.yamlcheck.Diagnostic` with its ``file:line:column``, what was
expected and, for a misspelt key or name, the nearest valid word - the same reporting as
``callflow check`` for flows, through the same reader (:mod:`callflow.yamlcheck`).
:data:`QUEUES_FILE` is also the JSON Schema's source (``callflow schema --kind queues``).

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
import os
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from callflow.flow.model import Prompt, Say, Schedule, Sound, WeeklyHours
from callflow.flow.schedule import parse_days, parse_time_range, timezone
from callflow.flow.spec import PHONE_KEYS
from callflow.queue.model import (
    APP_QUEUE_STRATEGIES,
    EMPTY_STATES,
    JOIN_WORDS,
    LEAVE_WORDS,
    ROUND_SECONDS,
    AgentConfig,
    AnnounceConfig,
    CallbackConfig,
    EmptyRule,
    LastAgentConfig,
    Overflow,
    PeriodicPrompt,
    PositionMode,
    QueueCenter,
    QueueConfig,
    Strategy,
    Target,
    WaitMode,
    Widening,
)
from callflow.yamlcheck import (
    AnyOf,
    Boolean,
    Checker,
    Choice,
    Diagnostic,
    Duration,
    Integer,
    JSONSchema,
    Key,
    ListOf,
    Location,
    MapOf,
    Number,
    Raw,
    Section,
    Source,
    Text,
    describe,
    document_schema,
    nearest,
    read_file,
    read_source,
    sort_key,
    value_of,
    where,
)
from callflow.yamlcheck.checker import NAME
from callflow.yamlcheck.source import NULL
from callflow.yamlcheck.spec import NAME_PATTERN

# --------------------------------------------------------------------------- the spec

PROMPTS = ("sound", "say")
_ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/\S+$")

_NAMES = ListOf(Text(pattern=NAME_PATTERN), single=True)
_LEVELS = MapOf(Integer(), keys=NAME_PATTERN)
_TARGET = Text(pattern=r"^(queue:\s*)?[A-Za-z_][A-Za-z0-9_.\-]*$")
_PROMPT = Raw(
    {
        "anyOf": [
            {"type": "string", "minLength": 1},
            {
                "type": "object",
                "properties": {p: {"type": "string", "minLength": 1} for p in PROMPTS},
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": False,
            },
        ]
    }
)


def _empty_rule_shape(words: Iterable[str]) -> AnyOf:
    return AnyOf((Choice(tuple(words)), ListOf(Choice(EMPTY_STATES))))


# Every key of the file and what it means: the checker's vocabulary and the schema's.
AGENT = Section(
    Key(
        "endpoint", Text(pattern=_ENDPOINT.pattern), "The device to ring, e.g. PJSIP/agent1.", True
    ),
    Key("name", Text(), "The agent's name as people say it."),
    Key("skills", _LEVELS, "Skill -> level, e.g. {billing: 3, spanish: 5}."),
    Key("queues", _NAMES, "The queues this agent serves."),
    Key(
        "max_ring_no_answer",
        Integer(),
        "Pause the agent after this many unanswered rings in a row (0: never).",
    ),
)
WIDENING = Section(
    Key("after", Duration(), "Seconds of waiting.", True),
    Key("min_level", Integer(), "The lowered minimum level.", True),
)
PERIODIC = Section(
    Key("every", Duration(zero=False), "How often.", True),
    Key("prompt", _PROMPT, "What: a sound name, sound:<name> or say:<text>.", True),
)
ANNOUNCE = Section(
    Key("frequency", Duration(), "Time between position/wait announcements (0: never)."),
    Key("min_frequency", Duration(), "Least time between announcements when the position changes."),
    Key(
        "position",
        Choice(tuple(m.value for m in PositionMode)),
        "yes, no, limit (only up to position_limit) or more ('more than N').",
    ),
    Key("position_limit", Integer(minimum=1), "The limit for position: limit / more."),
    Key(
        "wait",
        Choice(tuple(m.value for m in WaitMode)),
        "Announce the estimated wait: yes, no or once.",
    ),
    Key(
        "round_seconds",
        Integer(choices=ROUND_SECONDS),
        "Say seconds rounded to: " + ", ".join(map(str, ROUND_SECONDS)) + ".",
    ),
    Key(
        "periodic", ListOf(PERIODIC), "Prompts played during the wait: [{every: 60, prompt: ...}]."
    ),
)
OVERFLOW = Section(
    Key("full", _TARGET, "Where callers go when max_callers are waiting."),
    Key("timeout", _TARGET, "Where callers go after max_wait."),
    Key("empty", _TARGET, "Where callers go when no agent can serve (join/leave_when_empty)."),
)
LAST_AGENT = Section(
    Key("enabled", Boolean(), "Whether to route to the last agent."),
    Key("days", Number(above=0), "How many days a last agent is remembered."),
    Key("wait", Duration(), "How long to hold a caller for a busy last agent."),
)
RETRY_OUTCOMES = ("no_answer", "busy", "machine", "failed", "lost")
_HOURS = r"^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$"
CALLBACK_HOURS = Section(
    Key("timezone", Text(), "IANA timezone of the hours, e.g. Europe/London.", True),
    Key(
        "weekly",
        MapOf(Text(), keys=r"^[a-z,\-]+$"),
        "Days to hours, e.g. mon-fri: '08:00-18:00' (as the hours node).",
        True,
    ),
)
CALLBACK = Section(
    Key(
        "mode",
        Choice(("agent-first", "customer-first")),
        "agent-first: reserve and ring an agent, then dial; customer-first: dial, then the"
        " next agent.",
    ),
    Key("max_attempts", Integer(minimum=1), "Most calls to the customer (default 3)."),
    Key(
        "retry",
        MapOf(Duration(), keys="^(" + "|".join(RETRY_OUTCOMES) + ")$"),
        "Delay before the next attempt per outcome: no_answer, busy, machine, failed, lost.",
    ),
    Key("expiry", Duration(zero=False), "Given up this long after the request (default 24h)."),
    Key(
        "opening_spread",
        Duration(),
        "Callbacks asked for while closed are placed over this long after opening (90m).",
    ),
    Key(
        "handle_time",
        Duration(zero=False),
        "An agent's time per callback, for the opening's pace (default 5m).",
    ),
    Key(
        "hours",
        CALLBACK_HOURS,
        "When callbacks are placed (default: any time); asked for outside: at the opening.",
    ),
    Key(
        "customer_hours",
        Text(pattern=_HOURS),
        "The customer's local calling hours when their timezone is known (08:00-21:00).",
    ),
    Key(
        "default_country",
        Text(pattern=r"^[A-Z]{2}$|^NANP$"),
        "How a national number is read: ISO country code, e.g. US, GB, FR (default US).",
    ),
    Key(
        "blocked",
        ListOf(Text(pattern=r"^\+[1-9][0-9]{0,14}$"), single=True),
        "E.164 prefixes never called back, besides the premium ranges blocked by default.",
    ),
    Key(
        "machine_message",
        _PROMPT,
        "Left on an answering machine after its greeting: a sound name, sound:<name> or"
        " say:<text> (default: hang up).",
    ),
    Key(
        "customer_wait",
        Duration(),
        "customer-first: how long the answered customer waits for an agent (0: no limit).",
    ),
    Key(
        "customer_wait_then",
        Choice(("requeue", "end")),
        "After customer_wait: requeue (called back later, first in line) or end.",
    ),
)

QUEUE = Section(
    Key("description", Text(), "A note for people reading the file."),
    Key(
        "strategy",
        Choice(tuple(m.value for m in Strategy)),
        "How an agent is chosen: " + ", ".join(s.value for s in Strategy) + ".",
    ),
    Key(
        "members",
        _NAMES,
        "Agents serving this queue, in order (linear strategy), besides agents' queues.",
    ),
    Key("skills", _LEVELS, "Skills a caller needs, with minimum levels, e.g. {billing: 3}."),
    Key(
        "skill_widening",
        ListOf(WIDENING),
        "Lower the levels over time: [{after: 60, min_level: 1}].",
    ),
    Key(
        "priority",
        Integer(minimum=-1_000_000),
        "Default caller priority; higher is answered sooner.",
    ),
    Key("max_callers", Integer(), "Most callers waiting at once (0: no limit)."),
    Key("max_wait", Duration(), "Longest wait before overflow 'timeout' (0: no limit)."),
    Key(
        "join_when_empty",
        _empty_rule_shape(JOIN_WORDS),
        "yes, no, strict, loose, or the agent states that count as serving.",
    ),
    Key(
        "leave_when_empty",
        _empty_rule_shape(LEAVE_WORDS),
        "no, yes, strict, loose, or the agent states that count as serving.",
    ),
    Key("ring_timeout", Duration(zero=False), "How long an agent's phone rings."),
    Key(
        "retry_delay",
        Duration(),
        "How long before a caller is offered again to an agent who did not answer.",
    ),
    Key("wrapup", Duration(), "After-call work time before the agent gets another call."),
    Key("music_class", Text(), "Music on hold class."),
    Key("announce", ANNOUNCE, "Position and wait announcements."),
    Key(
        "exit_keys",
        MapOf(Text(pattern=NAME_PATTERN), keys=r"^[0-9*#]$"),
        "Phone key -> flow node the caller may leave to, e.g. '0': voicemail.",
    ),
    Key(
        "overflow",
        OVERFLOW,
        "Where callers go: full, timeout, empty -> queue:<name> or a flow node.",
    ),
    Key(
        "last_agent",
        LAST_AGENT,
        "Route returning callers to their last agent: enabled, days, wait.",
    ),
    Key(
        "service_level",
        Duration(zero=False),
        "Service level threshold: answered within this many seconds.",
    ),
    Key(
        "callback",
        CALLBACK,
        "Callbacks in this queue: mode, max_attempts, retry, expiry, default_country...",
    ),
)
QUEUES_FILE = Section(
    Key("description", Text(), "What this file is for."),
    Key(
        "agents",
        MapOf(AGENT, keys=NAME_PATTERN),
        "Agents by id: endpoint, name, skills, queues, max_ring_no_answer.",
    ),
    Key("queues", MapOf(QUEUE, keys=NAME_PATTERN), "Queues by name.", True),
)


def queues_schema() -> JSONSchema:
    """The JSON Schema (draft 2020-12) of a queues file, from the checker's own spec."""
    return document_schema(
        "queues",
        "callflow queues file",
        "The agents and queues of a contact center: who serves which queue, and how callers wait.",
        QUEUES_FILE,
    )


# --------------------------------------------------------------------------- reading


class _Reader(Checker):
    """Reads one queues file, collecting a diagnostic for each problem."""

    def levels(self, node: Node, what: str) -> dict[str, tuple[int, ScalarNode]]:
        """Skill -> level (a whole number >= 0), with each skill's key node."""
        if not isinstance(node, MappingNode):
            self.wrong(node, what, "a mapping of skills to levels, e.g. {billing: 3}")
            return {}
        found: dict[str, tuple[int, ScalarNode]] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or not NAME.match(str(key.value)):
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
        if not target.name or not NAME.match(target.name):
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
                    node,
                    f"unknown prompt kind '{kind}' {self.within(what)}",
                    nearest(kind, PROMPTS),
                )
                return None
            return Sound(text)
        if isinstance(node, MappingNode) and len(node.value) == 1:
            key, value = node.value[0]
            if isinstance(key, ScalarNode) and key.value not in PROMPTS:
                self.error(
                    key,
                    f"unknown prompt kind '{key.value}' {self.within(what)}"
                    " (expected sound or say)",
                    nearest(key.value, PROMPTS),
                )
                return None
            spoken = self.text(value, what)
            if spoken is None:
                return None
            return Sound(spoken) if key.value == "sound" else Say(spoken)
        self.wrong(node, what, "a sound name, sound:<name>, say:<text>, {sound: ...} or {say: ...}")
        return None


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
    before = r.errors
    v = r.section(body, AGENT, what, at=key)
    s = r.scalars(v, AGENT, lambda k: f"'{k}' of {what}")
    endpoint = value_of(s, "endpoint", "")
    if endpoint and not _ENDPOINT.match(endpoint):
        r.error(
            v["endpoint"],
            f"'endpoint' of {what} must be TECH/resource, e.g. PJSIP/agent1, not '{endpoint}'",
        )
    skills = r.levels(v["skills"], f"'skills' of {what}") if "skills" in v else {}
    if "skills" in v and isinstance(v["skills"], MappingNode):
        refs.held_skills.update(
            str(k.value) for k, _ in v["skills"].value if isinstance(k, ScalarNode)
        )
    queues: list[str] = []
    for queue, node in r.names(v["queues"], f"'queues' of {what}") if "queues" in v else []:
        queues.append(queue)
        refs.agent_queues.append((queue, node, name))
    if r.errors > before:
        return None
    return AgentConfig(
        name=name,
        endpoint=endpoint,
        display_name=str(s["name"]) if "name" in s else None,
        skills=MappingProxyType({skill: lvl for skill, (lvl, _) in skills.items()}),
        queues=tuple(dict.fromkeys(queues)),
        max_ring_no_answer=value_of(s, "max_ring_no_answer", 3),
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
    v = r.section(node, ANNOUNCE, what, at=node)
    s = r.scalars(v, ANNOUNCE, lambda k: f"'{k}' in {what}")
    d = AnnounceConfig()
    periodic: list[PeriodicPrompt] = []
    if "periodic" in v:
        items = v["periodic"]
        if not isinstance(items, SequenceNode):
            r.wrong(items, f"'periodic' in {what}", "a list of {every: seconds, prompt: ...}")
        else:
            for item in items.value:
                p = r.section(item, PERIODIC, f"a 'periodic' item in {what}", at=item)
                every = r.scalars(p, PERIODIC, lambda k: f"'{k}' in {what}").get("every")
                prompt = r.prompt(p["prompt"], f"'prompt' in {what}") if "prompt" in p else None
                if isinstance(every, float) and prompt is not None:
                    periodic.append(PeriodicPrompt(every, prompt))
    position = PositionMode(value_of(s, "position", d.position.value))
    if "position_limit" in v and position in (PositionMode.YES, PositionMode.NO):
        r.warning(
            v["position_limit"],
            f"'position_limit' in {what} has no effect with position: {position.value}"
            " (use limit or more)",
        )
    frequency = value_of(s, "frequency", d.frequency)
    min_frequency = value_of(s, "min_frequency", d.min_frequency)
    if "frequency" in s and "min_frequency" in s and frequency and min_frequency > frequency:
        r.warning(
            v["min_frequency"],
            f"'min_frequency' in {what} ({min_frequency:g} s) is longer than 'frequency' "
            f"({frequency:g} s)",
        )
    return AnnounceConfig(
        frequency=frequency,
        min_frequency=min_frequency,
        position=position,
        position_limit=value_of(s, "position_limit", d.position_limit),
        wait=WaitMode(value_of(s, "wait", d.wait.value)),
        round_seconds=value_of(s, "round_seconds", d.round_seconds),
        periodic=tuple(periodic),
    )


def _read_widening(r: _Reader, node: Node, queue: str, skills: bool) -> tuple[Widening, ...]:
    what = f"'skill_widening' of {queue}"
    if not isinstance(node, SequenceNode):
        r.wrong(node, what, "a list of {after: seconds, min_level: level}")
        return ()
    widening: list[Widening] = []
    previous: float | None = None
    for item in node.value:
        w = r.section(item, WIDENING, f"a 'skill_widening' step of {queue}", at=item)
        s = r.scalars(w, WIDENING, lambda k: f"'{k}' in {what}")
        after, level = s.get("after"), s.get("min_level")
        if isinstance(after, float) and previous is not None and after <= previous:
            r.error(
                w["after"],
                f"steps of {what} must come in increasing 'after' order"
                f" ({after:g} s follows {previous:g} s)",
            )
        if isinstance(after, float):
            previous = after
        if isinstance(after, float) and isinstance(level, int):
            widening.append(Widening(after, level))
    if widening and not skills:
        r.warning(node, f"{what} has no effect: the queue needs no skills")
    return tuple(widening)


def _read_queue(r: _Reader, refs: _Refs, key: ScalarNode, body: Node) -> QueueConfig | None:
    name = key.value
    what = f"queue '{name}'"
    before = r.errors
    v = r.section(body, QUEUE, what, at=key)
    d = QueueConfig(name)

    def of(k: str) -> str:
        return f"'{k}' of {what}"

    s = r.scalars(v, QUEUE, of, skip=("strategy",))
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
    widening = (
        _read_widening(r, v["skill_widening"], what, bool(skills)) if "skill_widening" in v else ()
    )
    join = (
        _empty_rule(r, v["join_when_empty"], of("join_when_empty"), JOIN_WORDS)
        if "join_when_empty" in v
        else None
    )
    leave = (
        _empty_rule(r, v["leave_when_empty"], of("leave_when_empty"), LEAVE_WORDS)
        if "leave_when_empty" in v
        else None
    )
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
        o = r.section(v["overflow"], OVERFLOW, f"'overflow' of {what}", at=v["overflow"])
        found: dict[str, Target] = {}
        for k, node in o.items():
            parsed = r.target(node, f"overflow '{k}' of {what}")
            if parsed is not None:
                found[k] = parsed[0]
                refs.targets.append((parsed[0], parsed[1], name, f"overflow '{k}' of {what}"))
        overflow = Overflow(found.get("full"), found.get("timeout"), found.get("empty"))
    last_agent = d.last_agent
    if "last_agent" in v:
        la = r.section(v["last_agent"], LAST_AGENT, of("last_agent"), at=v["last_agent"])
        values = r.scalars(la, LAST_AGENT, lambda k: f"'{k}' in {of('last_agent')}")
        last_agent = LastAgentConfig(
            enabled=value_of(values, "enabled", True),
            days=value_of(values, "days", d.last_agent.days),
            wait=value_of(values, "wait", d.last_agent.wait),
        )
    callback = _read_callback(r, v["callback"], of("callback")) if "callback" in v else None
    if r.errors > before:
        return None
    return QueueConfig(
        name=name,
        strategy=strategy,
        members=tuple(dict.fromkeys(members)),
        skills=MappingProxyType({skill: lvl for skill, (lvl, _) in skills.items()}),
        skill_widening=widening,
        priority=value_of(s, "priority", d.priority),
        max_callers=value_of(s, "max_callers", d.max_callers),
        max_wait=value_of(s, "max_wait", d.max_wait),
        join_when_empty=join or d.join_when_empty,
        leave_when_empty=leave or d.leave_when_empty,
        ring_timeout=value_of(s, "ring_timeout", d.ring_timeout),
        retry_delay=value_of(s, "retry_delay", d.retry_delay),
        wrapup=value_of(s, "wrapup", d.wrapup),
        music_class=value_of(s, "music_class", d.music_class),
        announce=announce or d.announce,
        exit_keys=MappingProxyType(exit_keys),
        overflow=overflow,
        last_agent=last_agent,
        service_level=value_of(s, "service_level", d.service_level),
        callback=callback,
        description=str(s["description"]) if "description" in s else None,
        location=where(r.path, key),
    )


def _read_callback(r: _Reader, node: Node, what: str) -> CallbackConfig:
    """A queue's ``callback:`` block."""
    d = CallbackConfig()
    if isinstance(node, ScalarNode) and node.tag == NULL:
        return d  # `callback:` alone: the defaults
    v = r.section(node, CALLBACK, what, at=node)
    s = r.scalars(v, CALLBACK, lambda k: f"'{k}' in {what}")
    retry: dict[str, float] = {}
    if "retry" in v:
        body = r.section(
            v["retry"], {k: "" for k in RETRY_OUTCOMES}, f"'retry' in {what}", at=v["retry"]
        )
        for outcome, value in body.items():
            seconds = r.duration(value, f"'{outcome}' in 'retry' in {what}", zero=True)
            if seconds is not None:
                retry[outcome] = seconds
    hours = d.customer_hours
    if "customer_hours" in s:
        start, _, end = str(s["customer_hours"]).partition("-")
        first, last = _minutes(start), _minutes(end)
        if first is None or last is None or first >= last:
            r.error(
                v["customer_hours"],
                f"'customer_hours' in {what} must be HH:MM-HH:MM, the start before the end",
            )
        else:
            hours = (first, last)
    blocked: list[str] = []
    if "blocked" in v:
        items = v["blocked"]
        for item in items.value if isinstance(items, SequenceNode) else [items]:
            text = r.text(item, f"'blocked' in {what}")
            if text is not None and not re.fullmatch(r"\+[1-9][0-9]{0,14}", text):
                r.error(
                    item, f"'blocked' in {what} takes E.164 prefixes such as +1900, not {text!r}"
                )
            elif text is not None:
                blocked.append(text)
    hours_node = v.get("hours")
    schedule = _read_callback_hours(r, hours_node, what) if hours_node is not None else None
    mode = str(s.get("mode", d.mode))
    return CallbackConfig(
        mode="customer-first" if mode == "customer-first" else "agent-first",
        max_attempts=value_of(s, "max_attempts", d.max_attempts),
        retry=MappingProxyType(retry),
        expiry=value_of(s, "expiry", d.expiry),
        opening_spread=value_of(s, "opening_spread", d.opening_spread),
        handle_time=value_of(s, "handle_time", d.handle_time),
        customer_hours=hours,
        hours=schedule,
        default_country=str(s.get("default_country", d.default_country)),
        blocked=tuple(blocked),
        machine_message=(
            r.prompt(v["machine_message"], f"'machine_message' in {what}")
            if "machine_message" in v
            else None
        ),
        customer_wait=value_of(s, "customer_wait", d.customer_wait),
        customer_wait_then="end" if s.get("customer_wait_then") == "end" else "requeue",
    )


def _read_callback_hours(r: _Reader, node: Node, what: str) -> Schedule | None:
    """The ``hours`` of a callback block: a timezone and weekly hours, read as the flow's
    ``hours`` node reads them."""
    v = r.section(node, CALLBACK_HOURS, f"'hours' in {what}", at=node)
    zone = r.text(v["timezone"], f"'timezone' in 'hours' in {what}") if "timezone" in v else None
    if zone is not None:
        try:
            timezone(zone)
        except (KeyError, ValueError):
            r.error(v["timezone"], f"unknown timezone {zone!r} in 'hours' in {what}")
            zone = None
    weekly: list[WeeklyHours] = []
    body = v.get("weekly")
    if isinstance(body, MappingNode):
        for day_node, ranges in body.value:
            days = parse_days(str(day_node.value)) if isinstance(day_node, ScalarNode) else None
            if days is None:
                r.error(day_node, f"unknown day in 'weekly' of 'hours' in {what} (mon-fri, sat...)")
                continue
            for item in ranges.value if isinstance(ranges, SequenceNode) else [ranges]:
                text = str(item.value) if isinstance(item, ScalarNode) else ""
                parsed = parse_time_range(text)
                if isinstance(parsed, str):
                    r.error(item, f"invalid hours {text!r} in 'hours' in {what}: {parsed}")
                    continue
                weekly += [WeeklyHours(day, parsed[0], parsed[1]) for day in days]
    elif body is not None:
        r.wrong(body, f"'weekly' of 'hours' in {what}", "a mapping of days to hours")
    if zone is None or not weekly:
        return None
    return Schedule(timezone=zone, weekly=tuple(weekly))


def _minutes(text: str) -> int | None:
    hour, _, minute = text.partition(":")
    if not (hour.isdigit() and minute.isdigit()):
        return None
    return int(hour) * 60 + int(minute)


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
    return _parse(read_source(path, text, "queues"), nodes)


def _parse(
    source: Source, nodes: Collection[str] | None
) -> tuple[QueueCenter | None, list[Diagnostic]]:
    r = _Reader(source.path, list(source.diagnostics))
    root = source.root
    if root is None:
        return None, r.sorted()
    top = r.section(root, QUEUES_FILE, "the top level", at=root)
    refs = _Refs()
    agents: dict[str, AgentConfig] = {}
    queues: dict[str, QueueConfig] = {}
    agent_names: list[str] = []
    queue_names: list[str] = []
    r.scalars(top, QUEUES_FILE, lambda k: f"'{k}'")
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
    diagnostics = r.sorted()
    if any(d.is_error for d in diagnostics):
        return None, diagnostics
    center = QueueCenter(MappingProxyType(agents), MappingProxyType(resolved), source.path)
    return center, diagnostics


def load_queues(
    path: str, nodes: Collection[str] | None = None
) -> tuple[QueueCenter | None, list[Diagnostic]]:
    """Load a queues file; the center is None when there is any error."""
    return _parse(read_file(path, "queues"), nodes)


def check_queues(paths: Iterable[str], nodes: Collection[str] | None = None) -> list[Diagnostic]:
    """Every problem in each queues file, errors first."""
    found: list[Diagnostic] = []
    for path in paths:
        found.extend(load_queues(os.fspath(path), nodes)[1])
    return sorted(found, key=sort_key)


__all__ = [
    "AGENT",
    "ANNOUNCE",
    "APP_QUEUE_STRATEGIES",
    "EMPTY_STATES",
    "JOIN_WORDS",
    "LAST_AGENT",
    "LEAVE_WORDS",
    "OVERFLOW",
    "PERIODIC",
    "QUEUE",
    "QUEUES_FILE",
    "ROUND_SECONDS",
    "WIDENING",
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
    "queues_schema",
]
