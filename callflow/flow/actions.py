"""Actions and results: what the flow machine asks its driver to do, and what happened.

They are the boundary between the sans-I/O :class:`~callflow.flow.machine.FlowMachine` (and
the node types it steps through, :mod:`callflow.flow.nodes`) and whatever performs them: the
live runner (:mod:`callflow.ivr.runner`) or a simulator. A node type that reuses these
actions needs nothing from the driver; a new action is the driver's one new case.

Errors::

    FlowMachineError (RuntimeError)   a driver used the machine wrongly
    ├── UnexpectedResult              a result that does not answer the pending action
    └── FlowFinished                  a result sent after the flow ended
    UnknownEntry (LookupError)        a number no entry serves
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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
class RequestCallback:
    """Ask for a callback of ``number`` (as the caller gave it: the driver checks it before
    anything else) in ``queue``; answer Completed (its detail: the number as E.164) or
    Failed (``refused:<why>`` for a number that may not be called, or another reason)."""

    queue: str
    number: str


@dataclass(frozen=True)
class SurveyAnswer:
    """Record the caller's answer to a survey question (with the call's agent and queue, the
    driver knows them); answer Completed."""

    survey: str
    question: str
    value: str


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


Action = (
    Play
    | Collect
    | Transfer
    | Voicemail
    | EnterQueue
    | AgentChange
    | RequestCallback
    | SurveyAnswer
    | Hangup
    | Finish
)


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
