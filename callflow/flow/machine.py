"""Machine: run one call through a flow without I/O — it emits actions and consumes results.

The live ARI engine and the simulator drive the same object::

    machine = FlowMachine(flow, entry="100", call_id=channel_id,
                          call_vars={"caller_id": "+441632960000"}, context=context)
    action = machine.start()
    while not isinstance(action, Hangup | Finish):
        result = await perform(action)   # Play -> PlayDone | PlayInterrupted, ...
        log(machine.pop_steps())         # one Step per decision, for the event log
        action = machine.send(result)
    if isinstance(action, Hangup):
        await hang_up(action.media)      # play its media (maybe none), then hang up
    log(machine.pop_steps())             # Finish: the caller is with an agent or gone

A driver that sees the caller hang up sends :class:`CallerHangup` whatever it was doing
and gets :class:`Finish` back. Errors: :class:`FlowMachineError` (a ``RuntimeError``)
with :class:`UnexpectedResult` for a result that does not answer the pending action and
:class:`FlowFinished` for a result sent after the flow ended; :class:`UnknownEntry`
(a ``LookupError``) for a number no entry serves.

The machine knows no kind of node: each step is its node type's (``enter`` on arriving,
``resume`` with a result; :mod:`callflow.flow.nodes`), which asks the machine for the call's
variables, media and clock through :class:`~callflow.flow.nodes.base.Walk`. The actions,
results and errors live in :mod:`callflow.flow.actions` and are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from callflow.flow import model as m
from callflow.flow.actions import (
    Action,
    AgentChange,
    AgentChanged,
    CallerHangup,
    Collect,
    Completed,
    Digits,
    EnterQueue,
    Failed,
    Finish,
    FlowFinished,
    FlowMachineError,
    Hangup,
    Play,
    PlayDone,
    PlayInterrupted,
    Redirect,
    RequestCallback,
    Result,
    SurveyAnswer,
    Timeout,
    Transfer,
    UnexpectedResult,
    UnknownEntry,
    Voicemail,
)
from callflow.flow.nodes import kind_of
from callflow.flow.nodes.base import Outcome
from callflow.flow.prompts import interpolate, media_for
from callflow.flow.schedule import WEEKDAYS, timezone

# --- context: what the runtime knows ---------------------------------------------------


@dataclass(frozen=True)
class QueueFigures:
    """Live figures about a queue, for branch conditions on ``queue.*``."""

    estimated_wait: float = 0.0  # seconds
    callers_waiting: int = 0
    agents_available: int = 0


class FlowContext(Protocol):
    """The clock and the queue figures the machine needs from its driver."""

    def now(self) -> dt.datetime:
        """The current instant, timezone-aware."""
        ...

    def queue_figures(self, queue: str) -> QueueFigures:
        """Current figures of the named queue."""
        ...


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class SimpleContext:
    """A context over a clock function and a fixed table of queue figures."""

    clock: Callable[[], dt.datetime] = _utc_now
    queues: dict[str, QueueFigures] = field(default_factory=dict)

    def now(self) -> dt.datetime:
        return self.clock()

    def queue_figures(self, queue: str) -> QueueFigures:
        return self.queues.get(queue, QueueFigures())


# --- the step log ----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One decision the flow made, for the event log."""

    call_id: str
    node: str
    node_type: str
    input: str | None
    outcome: str
    at: dt.datetime


class FlowMachine:
    """One call's walk through a flow: ``start()``, then ``send(result)`` until it ends."""

    def __init__(
        self,
        flow: m.Flow,
        *,
        entry: str | None = None,
        node: str | None = None,
        call_id: str = "",
        call_vars: Mapping[str, str] | None = None,
        context: FlowContext | None = None,
        max_hops: int = 1000,
    ) -> None:
        start = node if node is not None else flow.start_node(entry or "")
        if start is None or start not in flow.nodes:
            raise UnknownEntry(f"no entry or node {entry or node!r} in {flow.path}")
        self.flow = flow
        self.call_id = call_id
        self.context: FlowContext = context or SimpleContext()
        self.variables: dict[str, str] = dict(flow.variables)
        self.variables.update(call_id=call_id, dialed=entry or "", language=flow.settings.language)
        self.variables.update(call_vars or {})
        self._start = start
        self._max_hops = max_hops
        self._node: m.Node | None = None
        self._failures = 0
        self.typeahead: str | None = None
        self._finished = False
        self._steps: list[Step] = []

    # --- the driver's interface ------------------------------------------------------

    @property
    def finished(self) -> bool:
        """True once Hangup or Finish has been emitted."""
        return self._finished

    @property
    def current(self) -> str | None:
        """The node waiting on a result, if any."""
        return None if self._finished or self._node is None else self._node.name

    @property
    def steps(self) -> tuple[Step, ...]:
        """Steps not yet popped."""
        return tuple(self._steps)

    def pop_steps(self) -> list[Step]:
        """Take the steps recorded since the last call."""
        steps, self._steps = self._steps, []
        return steps

    def start(self, at: str | None = None) -> Action:
        """Begin the flow at its entry node (or at node ``at``, e.g. the flow's
        ``on_restart`` for a caller picked up again after a restart) and return the first
        action."""
        if self._node is not None or self._finished:
            raise FlowMachineError("start() was already called")
        if at is not None and at not in self.flow.nodes:
            raise UnknownEntry(f"no node {at!r} in {self.flow.path}")
        return self._run(self._start if at is None else at)

    def send(self, result: Result) -> Action:
        """Feed the result of the last action; return the next action."""
        if self._finished:
            raise FlowFinished(f"the flow already ended; cannot take {result!r}")
        node = self._node
        if node is None:
            raise FlowMachineError("call start() first")
        if isinstance(result, CallerHangup):
            self.step(node, None, "caller_hangup")
            return self._end(Finish("caller_hangup"))
        return self._go(kind_of(node).resume(node, result, self))

    # --- walking ---------------------------------------------------------------------

    def _run(self, name: str) -> Action:
        for _ in range(self._max_hops):
            node = self.flow.nodes[name]
            self._node = node
            self._failures = 0
            outcome = kind_of(node).enter(node, self)
            if isinstance(outcome, str):
                name = outcome  # a node the call passes through; a key typed ahead is kept
                continue
            self.typeahead = None
            return self._act(outcome)
        self._node = None
        return self._end(Hangup("flow_loop"))

    def _go(self, outcome: Outcome) -> Action:
        return self._run(outcome) if isinstance(outcome, str) else self._act(outcome)

    def _act(self, action: Action) -> Action:
        return self._end(action) if isinstance(action, Hangup | Finish) else action

    def _end(self, action: Hangup | Finish) -> Action:
        self._finished = True
        return action

    # --- what node types ask of the call (nodes.base.Walk) ---------------------------

    def now(self) -> dt.datetime:
        """The current instant, from the context."""
        return self.context.now()

    def step(self, node: m.Node, given: str | None, outcome: str) -> None:
        """Record one decision for the event log."""
        self._steps.append(Step(self.call_id, node.name, node.TYPE, given, outcome, self.now()))

    def fail(self) -> int:
        """Count one more failed try at the current node; the count since it was entered."""
        self._failures += 1
        return self._failures

    # --- variables and conditions ----------------------------------------------------

    def media(self, prompts: tuple[m.Prompt, ...]) -> tuple[str, ...]:
        """Prompts as media URIs, with ``${variables}`` filled in."""
        settings = self.flow.settings
        return media_for(prompts, settings.voice, self._lookup, settings.language)

    def fill(self, text: str | None) -> str | None:
        """Text with its ``${variables}`` filled in."""
        return None if text is None else interpolate(text, self._lookup)

    def _lookup(self, name: str) -> str | None:
        if name in self.variables:
            return self.variables[name]
        if name.startswith("now."):
            local = self.now().astimezone(timezone(self.flow.settings.timezone))
            return {
                "now.date": local.date().isoformat(),
                "now.time": f"{local:%H:%M}",
                "now.weekday": WEEKDAYS[local.weekday()],
                "now.hour": str(local.hour),
            }.get(name)
        return None

    def holds(self, condition: m.Condition) -> bool:
        """Whether a branch condition is true now."""
        if isinstance(condition, m.AllOf):
            return all(self.holds(c) for c in condition.conditions)
        if isinstance(condition, m.AnyOf):
            return any(self.holds(c) for c in condition.conditions)
        if isinstance(condition, m.Not):
            return not self.holds(condition.condition)
        if condition.queue is not None:
            figures = self.context.queue_figures(condition.queue)
            figure = condition.variable.removeprefix("queue.")
            value: str | None = str(getattr(figures, figure))
        else:
            value = self._lookup(condition.variable)
        return compare(value, condition.operator, self._operand(condition.value))

    def _operand(self, operand: m.Operand) -> m.Operand:
        if isinstance(operand, str):
            return interpolate(operand, self._lookup)
        if isinstance(operand, tuple):
            return tuple(interpolate(item, self._lookup) for item in operand)
        return operand


def compare(value: str | None, operator: str, operand: m.Operand) -> bool:
    """Apply one condition operator; an unset variable is empty text."""
    if operator == "is_set":
        return bool(value) == operand
    text = value or ""
    if isinstance(operand, bool):
        raise ValueError(f"{operator} takes a value, not true/false")
    if isinstance(operand, tuple):
        if operator == "in":
            return any(_same(text, item) for item in operand)
        if operator == "not_in":
            return not any(_same(text, item) for item in operand)
        low, high = operand
        return bool(text) and _order(low, text) <= 0 and _order(text, high) < 0
    if operator == "equals":
        return _same(text, operand)
    if operator == "not_equals":
        return not _same(text, operand)
    if operator == "starts_with":
        return text.startswith(operand)
    if operator == "ends_with":
        return text.endswith(operand)
    if operator == "contains":
        return operand in text
    if operator == "matches":
        return re.search(operand, text) is not None
    if not text:
        return False
    order = _order(text, operand)
    return {
        "greater_than": order > 0,
        "less_than": order < 0,
        "at_least": order >= 0,
        "at_most": order <= 0,
    }[operator]


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _same(a: str, b: str) -> bool:
    x, y = _number(a), _number(b)
    return x == y if x is not None and y is not None else a == b


def _order(a: str, b: str) -> int:
    """-1, 0 or 1; numbers compare as numbers, anything else as text ("09:30" < "17:00")."""
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return (x > y) - (x < y)
    return (a > b) - (a < b)


__all__ = [
    "Action",
    "AgentChange",
    "AgentChanged",
    "CallerHangup",
    "Collect",
    "Completed",
    "Digits",
    "EnterQueue",
    "Failed",
    "Finish",
    "FlowContext",
    "FlowFinished",
    "FlowMachine",
    "FlowMachineError",
    "Hangup",
    "Play",
    "PlayDone",
    "PlayInterrupted",
    "QueueFigures",
    "Redirect",
    "RequestCallback",
    "Result",
    "SimpleContext",
    "Step",
    "SurveyAnswer",
    "Timeout",
    "Transfer",
    "UnexpectedResult",
    "UnknownEntry",
    "Voicemail",
    "compare",
]
