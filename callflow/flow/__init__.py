"""Flow: the YAML call-flow language — parse, check, and run flows without I/O.

- :func:`load_flow` / :func:`check` read flow files into an immutable :class:`Flow` and
  a list of :class:`Diagnostic` (``file:line:column: severity: message``).
- :class:`FlowMachine` runs one call through a flow: actions out, results in.
- :mod:`callflow.flow.nodes` holds one module per node type (its keys, dataclass, builder,
  exits, graph look and machine step); the loader, checker, schema, graph and machine read
  that registry and name no node type themselves.
- :func:`is_open` evaluates an opening-hours schedule at a UTC instant.
- :func:`tts_sound_name` names the cached text-to-speech sound for a ``say:`` prompt.
"""

from __future__ import annotations

from callflow.flow.diagnostics import Diagnostic, Location, Severity
from callflow.flow.loader import check, load_flow
from callflow.flow.machine import (
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
    FlowContext,
    FlowFinished,
    FlowMachine,
    FlowMachineError,
    Hangup,
    Play,
    PlayDone,
    PlayInterrupted,
    QueueFigures,
    Redirect,
    Result,
    SimpleContext,
    Step,
    Timeout,
    Transfer,
    UnexpectedResult,
    UnknownEntry,
    Voicemail,
)
from callflow.flow.model import Flow, Settings
from callflow.flow.prompts import scan_sounds, tts_sound_name
from callflow.flow.schedule import OpenState, is_open
from callflow.flow.schema import flow_schema

__all__ = [
    "Action",
    "AgentChange",
    "AgentChanged",
    "CallerHangup",
    "Collect",
    "Completed",
    "Diagnostic",
    "Digits",
    "EnterQueue",
    "Failed",
    "Finish",
    "Flow",
    "FlowContext",
    "FlowFinished",
    "FlowMachine",
    "FlowMachineError",
    "Hangup",
    "Location",
    "OpenState",
    "Play",
    "PlayDone",
    "PlayInterrupted",
    "QueueFigures",
    "Redirect",
    "Result",
    "Settings",
    "Severity",
    "SimpleContext",
    "Step",
    "Timeout",
    "Transfer",
    "UnexpectedResult",
    "UnknownEntry",
    "Voicemail",
    "check",
    "flow_schema",
    "is_open",
    "load_flow",
    "scan_sounds",
    "tts_sound_name",
]
