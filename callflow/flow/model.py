"""Model: the parsed, immutable flow that the engine and the simulator run.

Built only by :mod:`callflow.flow.loader` from a file that checked without errors, so
every transition names an existing node and every value has its declared type.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar

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
class Node:
    """What every node has: its name and where it is written. Each node type's own
    dataclass (in :mod:`callflow.flow.nodes`) adds its fields and sets ``TYPE``."""

    TYPE: ClassVar[str]  # the word flows write in ``type:``

    name: str
    location: Location

    def every_prompt(self) -> tuple[Prompt, ...]:
        """Every prompt the node may play."""
        return ()


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
    return node.TYPE


def node_prompts(node: Node) -> tuple[Prompt, ...]:
    """Every prompt a node may play."""
    return node.every_prompt()
