"""Agent commands from outside the app (``callflow agents ...``), over ARI user events.

The CLI sends user event ``callflow-agent`` to the running app with the variables
``request`` (an id of its own), ``action`` (login, logout, pause, unpause, status),
``agent`` and ``reason`` (pause only). The app validates them, calls the
:class:`~callflow.queue.live.QueueService` and always answers with one ``agent.command``
event in the store::

    {"request": ..., "agent": ..., "action": ..., "ok": true, "error": "",
     "agents": {"agent1": {"state": "available", "reason": null}, ...}}

which the CLI reads back by its request id. Nothing here does I/O besides those
QueueService calls and the store append; nothing a sender puts in the variables can
raise out of :func:`handle_agent_command`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from callflow.ari.events import ChannelUserevent
from callflow.flow.diagnostics import nearest
from callflow.queue.agents import QueueError
from callflow.queue.live import QueueService

__all__ = [
    "ACTIONS",
    "COMMAND_EVENT",
    "EVENT_NAME",
    "FIELDS",
    "CommandRefused",
    "agents_snapshot",
    "handle_agent_command",
    "user_event_handler",
]

log = logging.getLogger(__name__)

EVENT_NAME = "callflow-agent"
"""The ARI user event name the CLI sends."""
COMMAND_EVENT = "agent.command"
"""The store event kind the app answers with."""
ACTIONS = ("login", "logout", "pause", "unpause", "status")
FIELDS = ("request", "action", "agent", "reason")
MAX_TEXT = 200
_ASTERISK_FIELDS = frozenset({"eventname"})  # Asterisk adds the event name to the variables


class CommandRefused(Exception):
    """The command is malformed or names something that does not exist."""


def agents_snapshot(queues: QueueService) -> dict[str, dict[str, str | None]]:
    """Every agent's state and pause reason, by name, in the configuration's order."""
    return {
        name: {"state": agent.state.value, "reason": agent.pause_reason}
        for name, agent in queues.router.agents.items()
    }


def _text(variables: Mapping[str, object], key: str) -> str:
    value = variables.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CommandRefused(f"'{key}' must be text, not {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise CommandRefused(f"'{key}' is too long (at most {MAX_TEXT} characters)")
    return value.strip()


def _known_agent(queues: QueueService, agent: str) -> str:
    if agent in queues.router.agents:
        return agent
    near = nearest(agent, queues.router.agents)
    hint = f"; did you mean '{near}'?" if near else ""
    raise CommandRefused(f"no agent '{agent}'{hint}")


def _validate(queues: QueueService, variables: Mapping[str, object]) -> tuple[str, str, str]:
    """(action, agent, reason), or CommandRefused saying what is wrong."""
    unknown = sorted(str(k) for k in variables if k not in FIELDS and k not in _ASTERISK_FIELDS)
    if unknown:
        raise CommandRefused(f"unknown field '{unknown[0]}' (expected {', '.join(FIELDS)})")
    if not _text(variables, "request"):
        raise CommandRefused("missing request id")
    action = _text(variables, "action")
    choices = ", ".join(ACTIONS[:-1]) + f" or {ACTIONS[-1]}"
    if not action:
        raise CommandRefused(f"missing action ({choices})")
    if action not in ACTIONS:
        raise CommandRefused(f"unknown action '{action}' ({choices})")
    agent = _text(variables, "agent")
    if not agent and action != "status":
        raise CommandRefused(f"{action} needs an agent")
    if agent:
        _known_agent(queues, agent)
    reason = _text(variables, "reason")
    if reason and action != "pause":
        raise CommandRefused("a reason is only given with pause")
    return action, agent, reason


def _echo(variables: Mapping[str, object], key: str) -> str:
    """A variable as the answer repeats it: text only, bounded."""
    value = variables.get(key)
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def handle_agent_command(queues: QueueService, variables: Mapping[str, object]) -> dict[str, Any]:
    """Carry out one command and append its ``agent.command`` answer; return the answer."""
    try:
        action, agent, reason = _validate(queues, variables)
        if action != "status":
            queues.change_agent(agent, action, reason)
        ok, error = True, ""
    except (CommandRefused, QueueError) as exc:
        ok, error = False, str(exc)
    answer: dict[str, Any] = {
        "request": _echo(variables, "request"),
        "agent": _echo(variables, "agent").strip(),
        "action": _echo(variables, "action").strip(),
        "ok": ok,
        "error": error,
        "agents": agents_snapshot(queues),
    }
    queues.store.append(COMMAND_EVENT, "", answer)
    what = " ".join(part for part in (answer["action"], answer["agent"]) if part)
    if ok:
        log.info("agent command %s: done", what)
    else:
        log.info("agent command %s: refused: %s", what or "?", error)
    return answer


def user_event_handler(queues: QueueService) -> Callable[[ChannelUserevent], None]:
    """A handler for :meth:`~callflow.app.service.Service.on_user_event` (``EVENT_NAME``)."""

    def handle(event: ChannelUserevent) -> None:
        handle_agent_command(queues, event.userevent)

    return handle
