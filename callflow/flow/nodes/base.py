"""What a node type is: the one class each module of :mod:`callflow.flow.nodes` subclasses.

A :class:`NodeType` holds everything the flow language knows about one kind of node:

- ``node``: its model dataclass (a :class:`~callflow.flow.model.Node`, immutable);
- ``fields``: its keys (:class:`~callflow.flow.spec.Field`), which the checker reads, the JSON
  Schema describes, and whose ``node``/``options``/``rules`` values are its transitions for
  the checker's graph checks;
- ``build``: the model node from the checked values (with any check across keys);
- ``exits``: its ways out, labelled with the YAML word that takes them, for the graph;
- ``look``, ``mermaid``, ``detail``, ``lines``, ``unhappy``: how the graph draws it;
- ``enter`` and ``resume``: its machine step, what it asks the driver for (an action of
  :mod:`callflow.flow.actions`) or where the call goes next, and how it takes the result;
- ``waits``, ``person``, ``passes`` and ``warnings``: what the checker's whole-flow checks
  need to know about it.

The node types see the loader through :class:`Builder` and the machine through
:class:`Walk`, so they import neither.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from yaml.nodes import MappingNode, ScalarNode
from yaml.nodes import Node as YamlNode

from callflow.flow import model as m
from callflow.flow.actions import (
    Action,
    Collect,
    Completed,
    Failed,
    Finish,
    Hangup,
    Result,
    UnexpectedResult,
)
from callflow.flow.diagnostics import Location
from callflow.flow.labels import Look, prompt_text
from callflow.flow.source import NULL
from callflow.flow.spec import Field

N = TypeVar("N", bound=m.Node)

# What a machine step comes to: an action for the driver, or the name of the node to go to.
Outcome = Action | str


class Values:
    """Converted values of one mapping, read back with their Python types."""

    def __init__(self, data: dict[str, object]) -> None:
        self.data = data

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key)
        return value if isinstance(value, str) else default

    def name(self, key: str) -> str:
        """A required name; "" when it is missing or wrong (already reported, and a node
        with errors is never built)."""
        value = self.data.get(key)
        return value if isinstance(value, str) else ""

    def seconds(self, key: str, default: float) -> float:
        value = self.data.get(key)
        return float(value) if isinstance(value, int | float) else default

    def integer(self, key: str, default: int) -> int:
        value = self.data.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        return value if isinstance(value, bool) else default

    def prompts(self, key: str) -> tuple[m.Prompt, ...]:
        return cast("tuple[m.Prompt, ...]", self.data.get(key, ()))

    def mapping(self, key: str) -> dict[str, str]:
        return cast("dict[str, str]", self.data.get(key, {}))

    def items(self, key: str) -> tuple[object, ...]:
        return cast("tuple[object, ...]", self.data.get(key, ()))


def value_of(mapping: MappingNode, key: str) -> YamlNode | None:
    """The YAML value of ``key`` in a mapping, if it has it."""
    return next((v for k, v in mapping.value if isinstance(k, ScalarNode) and k.value == key), None)


@dataclass(frozen=True)
class Reading:
    """One node as the checker read it: name, place, checked values and the YAML itself."""

    name: str
    at: Location
    values: Values
    body: MappingNode
    what: str  # "in menu node 'main'", for messages

    def value_node(self, key: str) -> YamlNode | None:
        """The YAML value of ``key``, if the node has it."""
        return value_of(self.body, key)

    def at_key(self, key: str) -> YamlNode | Location:
        """Where to report a problem with ``key``: its value, or the node."""
        return self.value_node(key) or self.at


class Builder(Protocol):
    """What a node type's ``build`` may ask of the checker reading the flow."""

    @property
    def settings(self) -> m.Settings:
        """The flow's settings (nodes take their defaults from them)."""
        ...

    def error(self, at: YamlNode | Location, message: str, suggestion: str | None = None) -> None:
        """Report an error; the node is then not built."""
        ...

    def warning(self, at: YamlNode | Location, message: str, suggestion: str | None = None) -> None:
        """Report a warning."""
        ...

    def where(self, value: YamlNode) -> Location:
        """The file, line and column of a YAML value."""
        ...

    def assign(self, names: Iterable[str]) -> None:
        """Variables the node sets, so ``${name}`` elsewhere is not an unknown variable."""
        ...

    def queue_ref(self, node: str, queue: str, at: Location) -> None:
        """The node names a queue: checked against the queues file, whose exit keys and
        overflows then count as reached from the node."""
        ...


class Walk(Protocol):
    """What a node type's machine step may ask of the call it is stepping."""

    flow: m.Flow
    variables: dict[str, str]
    # A key pressed during a barge-in prompt, kept for the next node that takes keys.
    typeahead: str | None

    def now(self) -> dt.datetime:
        """The current instant, timezone-aware."""
        ...

    def media(self, prompts: tuple[m.Prompt, ...]) -> tuple[str, ...]:
        """Prompts as media URIs, with ``${variables}`` filled in."""
        ...

    def fill(self, text: str | None) -> str | None:
        """Text with its ``${variables}`` filled in."""
        ...

    def holds(self, condition: m.Condition) -> bool:
        """Whether a branch condition is true now."""
        ...

    def step(self, node: m.Node, given: str | None, outcome: str) -> None:
        """Record one decision for the event log."""
        ...

    def fail(self) -> int:
        """Count one more failed try at the current node; the count since it was entered."""
        ...


class NodeType(Generic[N]):
    """Everything the flow language knows about one kind of node (see the module docstring).

    Subclass it once per kind, in the kind's own module, and list the module in
    :mod:`callflow.flow.nodes`.
    """

    node: type[N]
    fields: tuple[Field, ...]
    look: Look
    mermaid: tuple[str, str]  # Mermaid's opening and closing shape brackets
    # Waits for the caller (or ends the flow's turn), so a loop through it cannot spin.
    waits: bool = False
    # Hands the caller to a person (the way out a menu should offer).
    person: bool = False
    # Passes the caller straight on to its exits, so a person beyond it is reached.
    passes: bool = False
    # Exits taken when something went wrong or the caller is turned away (drawn dashed).
    unhappy: frozenset[str] = frozenset({"on_failure"})

    @property
    def name(self) -> str:
        """The word flows write in ``type:``."""
        return self.node.TYPE

    # --- the checker -----------------------------------------------------------------

    def build(self, b: Builder, r: Reading) -> N:
        """The model node from a reading whose values have been checked one by one."""
        raise NotImplementedError

    def warnings(self, node: N, leads_to_person: Callable[[Collection[str]], bool]) -> list[str]:
        """Warnings about the node in its whole flow; ``leads_to_person`` tells whether
        any of these nodes hands the caller to a person (through nodes that pass)."""
        return []

    # --- the graph -------------------------------------------------------------------

    def exits(self, node: N) -> list[tuple[str, str]]:
        """Every way out of the node: (the YAML word that takes it, the node it goes to)."""
        return []

    def detail(self, node: N) -> str:
        """The type, with the one or two settings a reader needs to follow the call."""
        return self.name

    def lines(self, node: N) -> list[str]:
        """What the node's box shows under its detail: by default, its first prompts."""
        prompts: tuple[m.Prompt, ...] = getattr(node, "prompts", ())
        return [prompt_text(p) for p in prompts]

    # --- the machine -----------------------------------------------------------------

    def enter(self, node: N, walk: Walk) -> Outcome:
        """The call arrives at the node: an action to perform, or the next node's name."""
        raise NotImplementedError

    def resume(self, node: N, result: Result, walk: Walk) -> Outcome:
        """The driver performed the node's action: the next action, or the next node."""
        raise UnexpectedResult(f"node {node.name!r} takes no result, got {result!r}")


AnyNodeType = NodeType[Any]


def collect(
    walk: Walk,
    prompts: tuple[m.Prompt, ...],
    timeout: float,
    barge_in: bool,
    *,
    min_length: int = 1,
    max_length: int = 1,
    terminator: str | None = None,
) -> Collect:
    """Ask the caller for keys (by default one key, as a menu does) after these prompts."""
    settings = walk.flow.settings
    return Collect(
        media=walk.media(prompts),
        min_length=min_length,
        max_length=max_length,
        terminator=terminator,
        timeout=timeout,
        digit_timeout=settings.digit_timeout,
        barge_in=barge_in,
        language=settings.language,
    )


class Retries(Protocol):
    """A node that asks again after a wrong or missing answer."""

    @property
    def retries(self) -> int: ...

    @property
    def on_failure(self) -> str: ...


def retry(
    walk: Walk,
    node: m.Node,
    given: str | None,
    outcome: str,
    ask_again: Callable[[], Action],
) -> Outcome:
    """One more wrong or missing answer: ask again, or, once the node's retries are used
    up, go to its ``on_failure``."""
    asking = cast(Retries, node)
    if walk.fail() > asking.retries:
        walk.step(node, given, f"{outcome}; retries exhausted")
        return asking.on_failure
    walk.step(node, given, outcome)
    return ask_again()


def check_dial_string(
    b: Builder, r: Reading, key: str, pattern: re.Pattern[str], what: str
) -> None:
    """A value that reaches a dial string must be one target of the allowed form once
    its ${...} are filled in (each is taken as a plain word here), or the engine will
    refuse it during the call."""
    value = r.value_node(key)
    if not isinstance(value, ScalarNode) or value.tag == NULL or not value.value:
        return  # missing or of the wrong type: reported already
    text = str(value.value)
    if not pattern.fullmatch(re.sub(r"\$\{[^}]*\}", "x", text)):
        b.error(
            value,
            f"'{key}' {what} must be a single {key} with no dial-string characters"
            f" (such as &, ',', '@host' or spaces), not '{text}'",
        )


def handed_over(
    walk: Walk, node: m.Node, result: Result, *, done: str, reason: str, on_failure: str | None
) -> Outcome:
    """The result of handing the caller to a person: with ``Completed`` the flow finishes
    (its step says ``done``, the finish ``reason``); with ``Failed`` the call goes to
    ``on_failure``, or hangs up without one."""
    if isinstance(result, Completed):
        walk.step(node, None, done)
        return Finish(reason)
    if not isinstance(result, Failed):
        raise UnexpectedResult(f"node {node.name!r} takes Completed or Failed, got {result!r}")
    walk.step(node, None, f"failed: {result.reason}")
    if on_failure is None:
        return Hangup(f"{node.TYPE}_failed")
    return on_failure
