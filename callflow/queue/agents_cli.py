"""CLI: ``callflow agents {login,logout,pause,unpause,status}``, against the running app.

No port of its own: the command sends an ARI user event (``callflow-agent``) to the app
named in the settings, authenticated by the same ARI credentials ``callflow run`` uses,
then reads the app's answer (an ``agent.command`` event with its request id) from the
settings' store. Exit codes: 0 done, 1 refused by callflow, 2 callflow or Asterisk not
reachable, no answer in time, or unusable settings.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sqlite3
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from callflow.app.settings import (
    OK,
    REFUSED,
    UNAVAILABLE,
    Settings,
    SettingsError,
    config_option,
    load_settings,
)
from callflow.ari import AriClient, AriConfig
from callflow.ari import errors as ari_errors
from callflow.queue.control import COMMAND_EVENT, EVENT_NAME
from callflow.store import StoreError, open_store

POLL_INTERVAL = 0.05
# How far back the answer may be stamped: the app's clock and ours are the same host's,
# the margin only covers sub-second rounding.
CLOCK_MARGIN = dt.timedelta(seconds=5)

_DONE = {
    "login": "logged in",
    "logout": "logged out",
    "pause": "paused",
    "unpause": "unpaused",
}


class CommandFailed(Exception):
    """No answer from callflow (the message says why); exit code 2."""


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``agents`` with login, logout, pause, unpause and status."""
    common = argparse.ArgumentParser(add_help=False, parents=[config_option()])
    common.add_argument(
        "--timeout",
        type=_positive,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for callflow's answer (default 5)",
    )
    common.add_argument("--json", action="store_true", help="print the answer as one JSON object")

    agents = subparsers.add_parser(
        "agents",
        help="log agents in or out, pause them, show their states (in the running callflow)",
        description="Log agents in or out, pause or unpause them, or show every agent's "
        "state, in the callflow that runs with these settings. Exit code 0: done; 1: "
        "refused (unknown agent, not possible in the agent's state); 2: callflow or "
        "Asterisk not reachable, or no answer in time.",
    )
    actions = agents.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, help_text in (
        ("login", "log an agent in: available to every queue they serve"),
        ("logout", "log an agent out"),
        ("pause", "pause an agent (after the current call, if on one)"),
        ("unpause", "make a paused agent available again"),
    ):
        parser = actions.add_parser(action, parents=[common], help=help_text)
        parser.add_argument("agent", metavar="AGENT", help="the agent's name in the queues file")
        if action == "pause":
            parser.add_argument("--reason", default="", metavar="TEXT", help="why (e.g. lunch)")
        parser.set_defaults(func=run_agents)
    status = actions.add_parser("status", parents=[common], help="every agent's state")
    status.set_defaults(func=run_agents, agent="")


def run_agents(args: argparse.Namespace) -> int:
    """Send the command, wait for the answer, print it; return the exit code."""
    try:
        settings = _settings(args.config)
        config = settings.ari_config(request_timeout=args.timeout, connect_timeout=args.timeout)
    except SettingsError as exc:
        print(f"callflow: {exc}", file=sys.stderr)
        return UNAVAILABLE
    variables = {"request": uuid.uuid4().hex, "action": args.action}
    if args.agent:
        variables["agent"] = args.agent
    if getattr(args, "reason", ""):
        variables["reason"] = args.reason
    try:
        answer = send_command(settings, config, variables, timeout=args.timeout)
    except CommandFailed as exc:
        print(f"callflow: {exc}", file=sys.stderr)
        return UNAVAILABLE
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(answer, sort_keys=True))
    if not answer.get("ok"):
        print(f"callflow: refused: {answer.get('error') or 'no reason given'}", file=sys.stderr)
        return REFUSED
    if not args.json:
        print(render(answer))
    return OK


def _settings(path: Path) -> Settings:
    settings = load_settings(path)
    if settings.queues is None:
        raise SettingsError(f"{path}: no queues configured (the 'queues' setting), so no agents")
    return settings


def send_command(
    settings: Settings, config: AriConfig, variables: Mapping[str, str], *, timeout: float
) -> dict[str, Any]:
    """Send one command to the running app and return its answer (the event's data).

    Raises CommandFailed when the app or Asterisk cannot be reached or no answer comes.
    """
    since = dt.datetime.now(dt.UTC) - CLOCK_MARGIN
    deadline = time.monotonic() + timeout
    asyncio.run(_post(settings, config, variables))
    return _wait_for_answer(settings, variables["request"], since, deadline, timeout)


async def _post(settings: Settings, config: AriConfig, variables: Mapping[str, str]) -> None:
    ari = settings.ari
    async with AriClient(config) as client:
        try:
            await client.events.user_event(EVENT_NAME, application=ari.app, variables=variables)
        except ari_errors.NotFound:
            raise CommandFailed(
                f"callflow is not connected to Asterisk as app '{ari.app}' "
                f"(is 'callflow run' running with these settings?)"
            ) from None
        except ari_errors.AuthenticationFailed:
            raise CommandFailed(
                f"Asterisk refused the ARI credentials of user '{ari.username}' at {ari.url}"
            ) from None
        except ari_errors.AsteriskUnreachable:
            raise CommandFailed(f"cannot reach Asterisk at {ari.url}") from None
        except ari_errors.AriError as exc:
            raise CommandFailed(f"ARI error: {exc}") from None


def _wait_for_answer(
    settings: Settings, request: str, since: dt.datetime, deadline: float, timeout: float
) -> dict[str, Any]:
    path = settings.store_location
    if settings.store_url is None and not settings.store.exists():
        # The app creates its store before it connects: it is not using this one.
        raise CommandFailed(
            f"no answer: the store {path} does not exist (is callflow running with these settings?)"
        )
    try:
        store = open_store(path)
    except (sqlite3.Error, StoreError) as exc:
        raise CommandFailed(f"cannot read the store {path}: {exc}") from None
    try:
        while True:
            try:
                events = store.events(kind=COMMAND_EVENT, since=since)
            except (sqlite3.Error, StoreError) as exc:
                raise CommandFailed(f"cannot read the store {path}: {exc}") from None
            for event in events:
                if event.data.get("request") == request:
                    return dict(event.data)
            if time.monotonic() >= deadline:
                raise CommandFailed(
                    f"no answer from callflow within {timeout:g} s (is it running with the "
                    f"store {path}?)"
                )
            time.sleep(POLL_INTERVAL)
    finally:
        store.close()


def render(answer: Mapping[str, Any]) -> str:
    """The answer for a person: what happened to the agent, then every agent's state."""
    agents: Mapping[str, Mapping[str, Any]] = answer.get("agents") or {}
    lines: list[str] = []
    action, name = answer.get("action", ""), answer.get("agent", "")
    if action in _DONE and name:
        now = agents.get(name, {})
        current, why = now.get("state", "?"), now.get("reason")
        done = _DONE[action]
        if action == "pause" and current != "paused":
            done = "will pause after the current call"
        if action == "logout" and current == "logged_out":
            lines += [f"{name}: {done}", ""]
        else:
            detail = (why if current == "paused" else f"{current}: {why}") if why else current
            lines += [f"{name}: {done} ({detail})", ""]
    rows = [("AGENT", "STATE", "REASON")] + [
        (agent, str(fields.get("state", "")), str(fields.get("reason") or ""))
        for agent, fields in agents.items()
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    for agent, state, reason in rows:
        lines.append(f"{agent:<{widths[0]}}  {state:<{widths[1]}}  {reason}".rstrip())
    return "\n".join(lines)
