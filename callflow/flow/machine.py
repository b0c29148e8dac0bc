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
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from callflow.flow import model as m
from callflow.flow.prompts import interpolate, media_for
from callflow.flow.schedule import WEEKDAYS, OpenState, is_open, timezone

# --- errors ----------------------------------------------------------------------------


class FlowMachineError(RuntimeError):
    """A driver used the machine wrongly."""


class UnexpectedResult(FlowMachineError):
    """The result does not answer the action the machine is waiting on."""


class FlowFinished(FlowMachineError):
    """A result was sent after the flow had already ended."""


class UnknownEntry(LookupError):
    """No entry of the flow serves the dialled number."""


# --- actions: what the driver must do --------------------------------------------------


@dataclass(frozen=True)
class Play:
    """Play media (ARI media URIs) to the caller; answer PlayDone or PlayInterrupted."""

    media: tuple[str, ...]
    barge_in: bool
    language: str


@dataclass(frozen=True)
class Collect:
    """Play media and collect digits; answer Digits or Timeout.

    Collection ends at the terminator (not included in the digits), at ``max_length``
    digits, or ``digit_timeout`` seconds after the last digit. ``timeout`` is the wait
    for the first digit after the prompts end. With ``barge_in`` a key press stops the
    prompts and counts as the first digit.
    """

    media: tuple[str, ...]
    min_length: int
    max_length: int
    terminator: str | None
    timeout: float
    digit_timeout: float
    barge_in: bool
    language: str


@dataclass(frozen=True)
class Transfer:
    """Play media, then connect the caller to an endpoint or extension.

    Answer Completed once connected (the flow then finishes) or Failed(reason).
    """

    endpoint: str | None
    extension: str | None
    context: str
    timeout: float
    media: tuple[str, ...]
    language: str


@dataclass(frozen=True)
class Voicemail:
    """Play media, optionally beep, and record a message; answer Completed or Failed."""

    mailbox: str
    beep: bool
    max_length: int
    media: tuple[str, ...]
    language: str


@dataclass(frozen=True)
class EnterQueue:
    """Play media and put the caller in a queue; answer Completed or Failed(reason)."""

    queue: str
    skills: tuple[str, ...]
    priority: int
    media: tuple[str, ...]
    variables: Mapping[str, str]
    language: str


@dataclass(frozen=True)
class AgentChange:
    """Change the state of the agent whose phone is calling; answer AgentChanged or Failed."""

    action: str  # login, logout, pause or unpause
    reason: str = ""


@dataclass(frozen=True)
class Hangup:
    """Play media (maybe none), then hang the caller up. The flow is over."""

    reason: str
    media: tuple[str, ...] = ()
    language: str = "en"


@dataclass(frozen=True)
class Finish:
    """The flow is over without hanging up: the caller is with an agent, a queue, or gone."""

    reason: str


Action = Play | Collect | Transfer | Voicemail | EnterQueue | AgentChange | Hangup | Finish


# --- results: what happened ------------------------------------------------------------


@dataclass(frozen=True)
class PlayDone:
    """Every prompt played to the end."""


@dataclass(frozen=True)
class PlayInterrupted:
    """The caller pressed a key during a barge-in prompt."""

    digit: str


@dataclass(frozen=True)
class Digits:
    """Digits collected; ``terminated`` is True when the caller pressed the terminator."""

    digits: str
    terminated: bool = False


@dataclass(frozen=True)
class Timeout:
    """The caller pressed nothing in time."""


@dataclass(frozen=True)
class CallerHangup:
    """The caller hung up (valid whatever the pending action)."""


@dataclass(frozen=True)
class Completed:
    """A transfer connected, a message was recorded, or a queue took the caller."""

    detail: str = ""


@dataclass(frozen=True)
class Failed:
    """A transfer, voicemail or queue could not be done (busy, no answer, full...)."""

    reason: str


@dataclass(frozen=True)
class AgentChanged:
    """The agent's state changed: who they are and the state they are in now."""

    agent: str
    state: str


@dataclass(frozen=True)
class Redirect:
    """The queue sends the caller on to a node of the flow (an exit key, an overflow)."""

    node: str
    reason: str


Result = (
    PlayDone
    | PlayInterrupted
    | Digits
    | Timeout
    | CallerHangup
    | Completed
    | Failed
    | Redirect
    | AgentChanged
)


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
        self._typeahead: str | None = None
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
            self._step(node, None, "caller_hangup")
            return self._end(Finish("caller_hangup"))
        if isinstance(node, m.PlayNode):
            return self._after_play(node, result)
        if isinstance(node, m.MenuNode):
            return self._after_menu(node, result)
        if isinstance(node, m.InputNode):
            return self._after_input(node, result)
        if isinstance(node, m.TransferNode | m.QueueNode):
            return self._after_handoff(node, result)
        if isinstance(node, m.VoicemailNode):
            return self._after_voicemail(node, result)
        if isinstance(node, m.AgentNode):
            return self._after_agent(node, result)
        raise UnexpectedResult(f"node {node.name!r} takes no result, got {result!r}")

    # --- walking ---------------------------------------------------------------------

    def _run(self, name: str) -> Action:
        for _ in range(self._max_hops):
            node = self.flow.nodes[name]
            self._node = node
            self._failures = 0
            if isinstance(node, m.SetNode):
                for key, value in node.variables.items():
                    self.variables[key] = interpolate(value, self._lookup)
                self._step(node, None, "set " + ", ".join(node.variables))
                name = node.next
            elif isinstance(node, m.BranchNode):
                name = node.otherwise
                outcome = "else"
                for number, rule in enumerate(node.rules, start=1):
                    if self._test(rule.condition):
                        name, outcome = rule.next, f"rule {number}"
                        break
                self._step(node, None, outcome)
            elif isinstance(node, m.GotoNode):
                self._step(node, None, "goto")
                name = node.target
            elif isinstance(node, m.HoursNode):
                state, reason = is_open(node.schedule, self.context.now())
                self._step(node, None, reason)
                if state is OpenState.OPEN:
                    name = node.open
                elif state is OpenState.HOLIDAY and node.holiday is not None:
                    name = node.holiday
                else:
                    name = node.closed
            elif isinstance(node, m.MenuNode) and self._typeahead in node.options:
                # The caller pressed a key during a barge-in prompt just before the menu.
                digit, self._typeahead = self._typeahead or "", None
                self._step(node, digit, f"option {digit} (typed ahead)")
                name = node.options[digit]
            elif isinstance(node, m.PlayNode) and not self._media(node.prompts):
                self._step(node, None, "nothing to play")
                name = node.next
            else:
                self._typeahead = None
                return self._ask(node)
        self._node = None
        return self._end(Hangup("flow_loop"))

    def _ask(self, node: m.Node, before: tuple[m.Prompt, ...] = ()) -> Action:
        language = self.flow.settings.language
        if isinstance(node, m.PlayNode):
            return Play(self._media(node.prompts), node.barge_in, language)
        if isinstance(node, m.MenuNode | m.InputNode):
            return Collect(
                media=self._media(before + node.prompts),
                min_length=1 if isinstance(node, m.MenuNode) else node.min_length,
                max_length=1 if isinstance(node, m.MenuNode) else node.max_length,
                terminator=None if isinstance(node, m.MenuNode) else node.terminator,
                timeout=node.timeout,
                digit_timeout=self.flow.settings.digit_timeout,
                barge_in=node.barge_in,
                language=language,
            )
        if isinstance(node, m.TransferNode):
            self._step(node, None, "transfer")
            return Transfer(
                endpoint=self._fill(node.endpoint),
                extension=self._fill(node.extension),
                context=node.context,
                timeout=node.timeout,
                media=self._media(node.prompts),
                language=language,
            )
        if isinstance(node, m.VoicemailNode):
            return Voicemail(
                self._fill(node.mailbox) or node.mailbox,
                node.beep,
                node.max_length,
                self._media(node.prompts),
                language,
            )
        if isinstance(node, m.QueueNode):
            return EnterQueue(
                queue=self._fill(node.queue) or node.queue,
                skills=node.skills,
                priority=node.priority,
                media=self._media(node.prompts),
                variables=m.frozen_map(self.variables),
                language=language,
            )
        if isinstance(node, m.AgentNode):
            return AgentChange(node.action, self._fill(node.reason) or "")
        if isinstance(node, m.HangupNode):
            self._step(node, None, f"hangup: {node.reason}")
            return self._end(Hangup(node.reason, self._media(node.prompts), language))
        raise AssertionError(node)

    def _after_play(self, node: m.PlayNode, result: Result) -> Action:
        if isinstance(result, PlayDone):
            self._step(node, None, "played")
        elif isinstance(result, PlayInterrupted):
            self._step(node, result.digit, "interrupted")
            self._typeahead = result.digit if node.barge_in else None
        else:
            raise UnexpectedResult(f"play node {node.name!r} takes PlayDone, got {result!r}")
        return self._run(node.next)

    def _after_menu(self, node: m.MenuNode, result: Result) -> Action:
        if isinstance(result, Timeout) or (isinstance(result, Digits) and not result.digits):
            return self._retry(node, None, "timeout", node.timeout_prompts)
        if not isinstance(result, Digits):
            raise UnexpectedResult(f"menu {node.name!r} takes Digits or Timeout, got {result!r}")
        digit = result.digits[:1]
        if digit == node.repeat:
            self._step(node, digit, "repeat")
            return self._ask(node)
        target = node.options.get(digit)
        if target is None:
            return self._retry(node, digit, "invalid", node.invalid_prompts)
        self._step(node, digit, f"option {digit}")
        return self._run(target)

    def _after_input(self, node: m.InputNode, result: Result) -> Action:
        if isinstance(result, Timeout) or (isinstance(result, Digits) and not result.digits):
            return self._retry(node, None, "timeout", node.timeout_prompts)
        if not isinstance(result, Digits):
            raise UnexpectedResult(f"input {node.name!r} takes Digits or Timeout, got {result!r}")
        digits = result.digits
        if node.terminator and digits.endswith(node.terminator):
            digits = digits[: -len(node.terminator)]
        if not node.min_length <= len(digits) <= node.max_length:
            return self._retry(node, digits, "invalid length", node.invalid_prompts)
        if node.pattern is not None and re.fullmatch(node.pattern, digits) is None:
            return self._retry(node, digits, "invalid pattern", node.invalid_prompts)
        self.variables[node.variable] = digits
        self._step(node, digits, f"set {node.variable}")
        return self._run(node.next)

    def _retry(
        self,
        node: m.MenuNode | m.InputNode,
        given: str | None,
        outcome: str,
        prompts: tuple[m.Prompt, ...],
    ) -> Action:
        self._failures += 1
        if self._failures > node.retries:
            self._step(node, given, f"{outcome}; retries exhausted")
            return self._run(node.on_failure)
        self._step(node, given, outcome)
        return self._ask(node, before=prompts)

    def _after_handoff(self, node: m.TransferNode | m.QueueNode, result: Result) -> Action:
        if isinstance(result, Completed):
            self._step(node, None, "connected" if isinstance(node, m.TransferNode) else "queued")
            reason = "transferred" if isinstance(node, m.TransferNode) else "queued"
            return self._end(Finish(reason))
        if isinstance(result, Redirect) and isinstance(node, m.QueueNode):
            if result.node not in self.flow.nodes:
                self._step(node, None, f"failed: {result.reason} to unknown node {result.node}")
                return (
                    self._run(node.on_failure)
                    if node.on_failure
                    else self._end(Hangup("queue_failed"))
                )
            self._step(node, None, f"{result.reason}: {result.node}")
            return self._run(result.node)
        if not isinstance(result, Failed):
            raise UnexpectedResult(f"node {node.name!r} takes Completed or Failed, got {result!r}")
        self._step(node, None, f"failed: {result.reason}")
        if node.on_failure is None:
            return self._end(Hangup(f"{m.node_type(node)}_failed"))
        return self._run(node.on_failure)

    def _after_voicemail(self, node: m.VoicemailNode, result: Result) -> Action:
        if isinstance(result, Completed):
            self._step(node, None, "message left")
        elif isinstance(result, Failed):
            self._step(node, None, f"failed: {result.reason}")
        else:
            raise UnexpectedResult(f"voicemail {node.name!r} takes Completed, got {result!r}")
        if node.next is None:
            return self._end(Hangup("voicemail_done", (), self.flow.settings.language))
        return self._run(node.next)

    def _after_agent(self, node: m.AgentNode, result: Result) -> Action:
        if isinstance(result, AgentChanged):
            self.variables.update(agent=result.agent, agent_state=result.state)
            self._step(node, None, f"{node.action}: {result.agent} {result.state}")
            return self._run(node.next)
        if not isinstance(result, Failed):
            raise UnexpectedResult(
                f"agent node {node.name!r} takes AgentChanged or Failed, got {result!r}"
            )
        self._step(node, None, f"failed: {result.reason}")
        return self._run(node.on_failure)

    def _end(self, action: Hangup | Finish) -> Action:
        self._finished = True
        return action

    def _step(self, node: m.Node, given: str | None, outcome: str) -> None:
        self._steps.append(
            Step(self.call_id, node.name, m.node_type(node), given, outcome, self.context.now())
        )

    # --- variables and conditions ----------------------------------------------------

    def _media(self, prompts: tuple[m.Prompt, ...]) -> tuple[str, ...]:
        settings = self.flow.settings
        return media_for(prompts, settings.voice, self._lookup, settings.language)

    def _fill(self, text: str | None) -> str | None:
        return None if text is None else interpolate(text, self._lookup)

    def _lookup(self, name: str) -> str | None:
        if name in self.variables:
            return self.variables[name]
        if name.startswith("now."):
            local = self.context.now().astimezone(timezone(self.flow.settings.timezone))
            return {
                "now.date": local.date().isoformat(),
                "now.time": f"{local:%H:%M}",
                "now.weekday": WEEKDAYS[local.weekday()],
                "now.hour": str(local.hour),
            }.get(name)
        return None

    def _test(self, condition: m.Condition) -> bool:
        if isinstance(condition, m.AllOf):
            return all(self._test(c) for c in condition.conditions)
        if isinstance(condition, m.AnyOf):
            return any(self._test(c) for c in condition.conditions)
        if isinstance(condition, m.Not):
            return not self._test(condition.condition)
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
