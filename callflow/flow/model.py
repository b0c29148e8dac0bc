"""Model: the parsed, immutable flow that the engine and the simulator run.

Built only by :mod:`callflow.flow.loader` from a file that checked without errors, so
every transition names an existing node and every value has its declared type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from callflow.flow.diagnostics import Location


def frozen_map(items: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """A read-only mapping, so a loaded flow cannot be changed by the code running it."""
    return MappingProxyType(dict(items or {}))


# --- prompts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Sound:
    """A recorded sound file, named as Asterisk names it (no extension): ``custom/welcome``."""

    name: str


@dataclass(frozen=True)
class Say:
    """Text spoken by the text-to-speech voice, played from the prompt cache."""

    text: str
    voice: str | None = None


@dataclass(frozen=True)
class SayDigits:
    """A value read out digit by digit: "1 2 3 4"."""

    value: str


@dataclass(frozen=True)
class SayNumber:
    """A value read out as a number: "one thousand two hundred"."""

    value: str


@dataclass(frozen=True)
class SayDate:
    """An ISO date (YYYY-MM-DD) read out as "Thursday, December twenty fifth, 2025"."""

    value: str


@dataclass(frozen=True)
class SayTime:
    """A 24-hour time (HH:MM) read out as "two oh five p m"."""

    value: str


Prompt = Sound | Say | SayDigits | SayNumber | SayDate | SayTime


# --- schedules -------------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyHours:
    """One opening span in the week; ``end <= start`` means it runs past midnight."""

    weekday: int  # Monday is 0, as in datetime.weekday()
    start: int  # minutes after local midnight
    end: int  # minutes after local midnight, 1..1440


@dataclass(frozen=True)
class DateSpan:
    """A holiday or closure: one local date or an inclusive range of dates."""

    first: dt.date
    last: dt.date
    name: str = ""


@dataclass(frozen=True)
class Schedule:
    """A weekly opening schedule in one timezone, with holidays and closures."""

    timezone: str
    weekly: tuple[WeeklyHours, ...]
    holidays: tuple[DateSpan, ...] = ()
    closures: tuple[DateSpan, ...] = ()


# --- conditions ------------------------------------------------------------------------


# What a comparison compares with: text (numbers are kept as written), a list, or a flag.
Operand = str | tuple[str, ...] | bool


@dataclass(frozen=True)
class Compare:
    """Compare one variable (or queue figure) with a value: ``{var: x, starts_with: "+44"}``."""

    variable: str
    operator: str
    value: Operand
    queue: str | None = None


@dataclass(frozen=True)
class AllOf:
    """True when every condition is true."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    """True when at least one condition is true."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """True when the condition is false."""

    condition: Condition


Condition = Compare | AllOf | AnyOf | Not


@dataclass(frozen=True)
class Rule:
    """One ``if``/``next`` pair of a branch node."""

    condition: Condition
    next: str


# --- nodes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlayNode:
    """Play prompts, then go on."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    next: str
    barge_in: bool = False


@dataclass(frozen=True)
class MenuNode:
    """Ask the caller to press one key and go where that key leads."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...]
    options: Mapping[str, str]
    on_failure: str
    timeout: float
    retries: int
    repeat: str | None = None
    invalid_prompts: tuple[Prompt, ...] = ()
    timeout_prompts: tuple[Prompt, ...] = ()
    barge_in: bool = True


@dataclass(frozen=True)
class InputNode:
    """Collect several digits into a variable, checking length and pattern."""

    name: str
    location: Location
    variable: str
    prompts: tuple[Prompt, ...]
    next: str
    on_failure: str
    timeout: float
    retries: int
    min_length: int = 1
    max_length: int = 20
    terminator: str | None = "#"
    pattern: str | None = None
    invalid_prompts: tuple[Prompt, ...] = ()
    timeout_prompts: tuple[Prompt, ...] = ()
    barge_in: bool = True


@dataclass(frozen=True)
class HoursNode:
    """Branch on whether the contact center is open, closed or on holiday right now."""

    name: str
    location: Location
    schedule: Schedule
    open: str
    closed: str
    holiday: str | None = None


@dataclass(frozen=True)
class SetNode:
    """Set call variables (values may use ``${name}``), then go on."""

    name: str
    location: Location
    variables: Mapping[str, str]
    next: str


@dataclass(frozen=True)
class BranchNode:
    """Go to the first rule whose condition is true, else to ``otherwise``."""

    name: str
    location: Location
    rules: tuple[Rule, ...]
    otherwise: str


@dataclass(frozen=True)
class TransferNode:
    """Connect the caller to an endpoint (``PJSIP/agent1``) or a dialplan extension."""

    name: str
    location: Location
    endpoint: str | None
    extension: str | None
    context: str
    timeout: float
    prompts: tuple[Prompt, ...] = ()
    on_failure: str | None = None


@dataclass(frozen=True)
class VoicemailNode:
    """Let the caller leave a message in a mailbox."""

    name: str
    location: Location
    mailbox: str
    beep: bool
    max_length: int
    prompts: tuple[Prompt, ...] = ()
    next: str | None = None


@dataclass(frozen=True)
class AgentNode:
    """Change the state of the agent whose phone is calling (feature codes)."""

    name: str
    location: Location
    action: str  # one of spec.AGENT_ACTIONS
    next: str
    on_failure: str
    reason: str | None = None


@dataclass(frozen=True)
class QueueNode:
    """Put the caller in a queue to wait for an agent."""

    name: str
    location: Location
    queue: str
    skills: tuple[str, ...] = ()
    priority: int = 0
    prompts: tuple[Prompt, ...] = ()
    on_failure: str | None = None


@dataclass(frozen=True)
class GotoNode:
    """Jump to another node, e.g. one in an included sub-flow."""

    name: str
    location: Location
    target: str


@dataclass(frozen=True)
class HangupNode:
    """Say goodbye (optionally) and end the call."""

    name: str
    location: Location
    prompts: tuple[Prompt, ...] = ()
    reason: str = "normal"


Node = (
    PlayNode
    | MenuNode
    | InputNode
    | HoursNode
    | SetNode
    | BranchNode
    | TransferNode
    | VoicemailNode
    | AgentNode
    | QueueNode
    | GotoNode
    | HangupNode
)

_NODE_TYPES: dict[type, str] = {
    PlayNode: "play",
    MenuNode: "menu",
    InputNode: "input",
    HoursNode: "hours",
    SetNode: "set",
    BranchNode: "branch",
    TransferNode: "transfer",
    VoicemailNode: "voicemail",
    AgentNode: "agent",
    QueueNode: "queue",
    GotoNode: "goto",
    HangupNode: "hangup",
}


# --- the flow --------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Flow-wide defaults."""

    language: str = "en"
    voice: str = "en-us"
    sounds_dir: str | None = None
    timezone: str = "UTC"
    timeout: float = 5.0
    retries: int = 2
    digit_timeout: float = 3.0


@dataclass(frozen=True)
class Flow:
    """A loaded call flow: settings, entry points, variables and every node by name."""

    path: str
    settings: Settings
    entries: Mapping[str, str]
    nodes: Mapping[str, Node]
    variables: Mapping[str, str] = field(default_factory=frozen_map)
    files: tuple[str, ...] = ()
    # Where a caller who was in this flow when callflow restarted carries on (None: nowhere).
    on_restart: str | None = None

    def start_node(self, dialled: str) -> str | None:
        """The node a call to this number or extension starts at, if any."""
        return self.entries.get(dialled)

    def say_texts(self) -> frozenset[tuple[str, str]]:
        """Every (text, voice) spoken by ``say:`` prompts, for the prompt-cache builder.

        Texts containing ``${...}`` are included as written; they can only be rendered
        per call.
        """
        found: set[tuple[str, str]] = set()
        for node in self.nodes.values():
            for prompt in node_prompts(node):
                if isinstance(prompt, Say):
                    found.add((prompt.text, prompt.voice or self.settings.voice))
        return frozenset(found)


def node_type(node: Node) -> str:
    """The node's type as flows spell it (``menu``, ``queue``...)."""
    return _NODE_TYPES[type(node)]


def node_prompts(node: Node) -> tuple[Prompt, ...]:
    """Every prompt a node may play."""
    if isinstance(node, MenuNode | InputNode):
        return node.prompts + node.invalid_prompts + node.timeout_prompts
    if isinstance(node, HoursNode | SetNode | BranchNode | GotoNode | AgentNode):
        return ()
    return node.prompts
