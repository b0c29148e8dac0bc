"""``callflow campaigns import|start|pause|stop|status|preview``: outbound campaigns from the
command line, against the store of the running callflow.

There is no extra port. ``import`` reads a leads CSV with the campaign's columns (every bad
row reported at its line and column, the good ones imported; a number already there is
updated, never duplicated, and keeps its attempts). ``start``, ``pause`` and ``stop`` write
the campaign's state; the running app reads it every second (a paused or stopped campaign
dials no new call; calls in progress go on). ``status`` prints the figures from the store:
leads by state, attempts, contacts, abandons and each legal window's abandon rate. The
campaign is named by its ``name:``, among the settings' ``campaigns:`` files.

``preview AGENT`` prints the agent's screen (the lead presented to or connected with them,
with its CSV fields), as ``GET /api/agents/AGENT/lead`` does; with ``--accept`` or ``--skip``
it asks the running campaign to dial or skip the lead presented (the same code as ``POST
/api/agents/AGENT/preview/...``) and waits for its answer. Exit code 0: done; 1: refused
(unknown campaign, bad rows, nothing presented); 2: unusable settings or store.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
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
from callflow.dialer.campaign import Campaign, parse_campaign, parse_leads
from callflow.dialer.live import PAUSED, RUNNING, STOPPED
from callflow.dialer.rules import read_do_not_call
from callflow.dialer.screen import NothingPresented, agent_lead, ask, verdict_of
from callflow.dialer.status import status_of
from callflow.flow.diagnostics import Diagnostic
from callflow.prompts import missing_prompts
from callflow.queue.model import QueueCenter
from callflow.store import SqlStore, open_store
from callflow.store.errors import StoreError


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``campaigns`` with import, start, pause, stop and status."""
    config = config_option()
    common = argparse.ArgumentParser(add_help=False, parents=[config])
    common.add_argument("campaign", metavar="CAMPAIGN", help="the campaign's name")
    campaigns = subparsers.add_parser(
        "campaigns",
        help="import leads, start, pause, stop outbound campaigns, and their figures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = campaigns.add_subparsers(dest="action", metavar="ACTION", required=True)
    leads = actions.add_parser("import", parents=[common], help="import a leads CSV")
    leads.add_argument("csv", type=Path, metavar="CSV", help="the leads file (header row first)")
    leads.set_defaults(func=run_import)
    for action, state, what in (
        ("start", RUNNING, "dial the campaign"),
        ("pause", PAUSED, "dial no new call for now"),
        ("stop", STOPPED, "dial no new call"),
    ):
        command = actions.add_parser(action, parents=[common], help=what)
        command.set_defaults(func=run_state, state=state)
    status = actions.add_parser("status", parents=[common], help="live figures")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=run_status)
    preview = actions.add_parser(
        "preview",
        parents=[config],
        help="an agent's screen: the lead shown to them; --accept or --skip it",
        description="The lead presented to (or connected with) AGENT, with its fields; "
        "--accept dials it for them, --skip shows them the next one.",
    )
    preview.add_argument("agent", metavar="AGENT", help="the agent's name")
    choice = preview.add_mutually_exclusive_group()
    choice.add_argument(
        "--accept", dest="answer", action="store_const", const="accept", help="dial the lead"
    )
    choice.add_argument(
        "--skip", dest="answer", action="store_const", const="skip", help="show the next lead"
    )
    wait = "how long to wait for the campaign's answer (default 10)"
    preview.add_argument("--wait", type=float, default=10.0, metavar="SECONDS", help=wait)
    preview.add_argument("--json", action="store_true", help="print JSON")
    preview.set_defaults(func=run_preview)


def _campaigns(settings: Settings) -> list[Campaign]:
    """The settings' campaigns, each checked (SettingsError on the first with errors)."""
    campaigns = []
    for path in settings.campaigns:
        campaign, diagnostics = parse_campaign(str(path), path.read_text(encoding="utf-8"))
        if campaign is None:
            raise SettingsError.of([d for d in diagnostics if d.is_error])
        campaigns.append(campaign)
    return campaigns


def _open(args: argparse.Namespace) -> tuple[Campaign, SqlStore]:
    settings = load_settings(args.config)
    names = []
    for campaign in _campaigns(settings):
        if campaign.name == args.campaign:
            return campaign, open_store(settings.store_location, node=settings.node)
        names.append(campaign.name)
    known = ", ".join(names) or "none"
    raise LookupError(f"no campaign {args.campaign!r} in {args.config} (campaigns: {known})")


def _run(args: argparse.Namespace, work: Any) -> int:
    try:
        campaign, store = _open(args)
    except LookupError as exc:
        print(f"callflow: {exc}", file=sys.stderr)
        return REFUSED
    except (SettingsError, StoreError, sqlite3.Error, OSError) as exc:
        print(f"callflow: {exc}", file=sys.stderr)
        return UNAVAILABLE
    try:
        code: int = work(campaign, store)
        return code
    finally:
        store.close()


def run_import(args: argparse.Namespace) -> int:
    """Import the good rows, report every bad one at its line."""

    def work(campaign: Campaign, store: SqlStore) -> int:
        try:
            text = args.csv.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"callflow: {args.csv}: {exc.strerror or exc}", file=sys.stderr)
            return UNAVAILABLE
        leads, diagnostics = parse_leads(str(args.csv), text, campaign.leads)
        for diagnostic in diagnostics:
            print(diagnostic, file=sys.stderr)
        store.import_leads(
            campaign.name,
            [
                {"number": x.number, "timezone": x.timezone, "fields": x.fields, "line": x.line}
                for x in leads
            ],
        )
        store.flush()
        errors = sum(1 for d in diagnostics if d.is_error)
        print(f"{campaign.name}: {len(leads)} leads imported, {errors} rows refused")
        return REFUSED if errors else OK

    return _run(args, work)


def run_state(args: argparse.Namespace) -> int:
    """Mark the campaign running, paused or stopped; the app follows within a second."""

    def work(campaign: Campaign, store: SqlStore) -> int:
        store.set_campaign_state(campaign.name, args.state)
        store.flush()
        print(f"{campaign.name}: {args.state}")
        return OK

    return _run(args, work)


def run_status(args: argparse.Namespace) -> int:
    """Print the campaign's figures."""

    def work(campaign: Campaign, store: SqlStore) -> int:
        figures = status_of(campaign, store, time.time())
        if args.json:
            print(json.dumps(figures))
            return OK
        print(f"campaign {figures['campaign']}: {figures['state']}")
        leads = ", ".join(f"{k} {v}" for k, v in sorted(figures["leads"].items()))
        print(f"  leads: {leads or 'none'}")
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(figures["outcomes"].items()))
        print(f"  attempts: {figures['attempts']} ({outcomes or 'none'})")
        print(f"  contacts: {figures['contacts']}, abandoned: {figures['abandoned']}")
        for w in figures["windows"]:
            print(
                f"  {w['window']}: {w['abandoned']:g} abandoned of {w['live']:g} live calls,"
                f" {100 * w['rate']:.2f}% (cap {100 * campaign.abandonment.cap:g}%)"
            )
        return OK

    return _run(args, work)


def run_preview(args: argparse.Namespace) -> int:
    """Print the agent's screen; with --accept or --skip, ask and wait for the answer."""
    try:
        settings = load_settings(args.config)
        campaigns = _campaigns(settings)
        store = open_store(settings.store_location, node=settings.node)
    except (SettingsError, StoreError, sqlite3.Error, OSError) as exc:
        print(f"callflow: {exc}", file=sys.stderr)
        return UNAVAILABLE
    try:
        if args.answer is None:
            lead = agent_lead(store, campaigns, args.agent)
            if lead is None:
                print(f"callflow: no lead is presented to or connected with {args.agent}")
                return REFUSED
            print(json.dumps(lead) if args.json else _screen_text(lead))
            return OK
        try:
            asked = ask(store, campaigns, args.agent, args.answer, source="cli")
        except NothingPresented as exc:
            print(f"callflow: {exc}", file=sys.stderr)
            return REFUSED
        store.flush()
        if not args.json:
            print(_screen_text(asked["lead"]))
        deadline = time.monotonic() + args.wait
        verdict = verdict_of(store, asked["presentation"])
        while verdict is None and time.monotonic() < deadline:
            time.sleep(0.2)
            verdict = verdict_of(store, asked["presentation"])
        if args.json:
            print(json.dumps({**asked, "verdict": verdict}))
        if verdict is None:
            print(f"callflow: no answer from the campaign within {args.wait:g} s", file=sys.stderr)
            return REFUSED
        if not args.json:
            kind = str(verdict["kind"]).rsplit(".", 1)[-1]
            then = "dialing" if verdict.get("dial") else "not dialed"
            refused = f" ({verdict['refused']})" if verdict.get("refused") else ""
            print(f"{asked['lead']['number']}: {kind}, {then}{refused}")
        return OK
    finally:
        store.close()


def _screen_text(lead: dict[str, Any]) -> str:
    lines = [
        f"{lead['agent']}: {lead['state']} {lead['number']} (campaign {lead['campaign']},"
        f" attempt {lead['attempt']}, last outcome {lead['last_outcome'] or 'none'})",
        f"  time zone: {lead['timezone'] or 'unknown'}",
    ]
    lines += [f"  {key}: {value}" for key, value in (lead.get("fields") or {}).items()]
    if lead.get("deadline") is not None:
        lines.append(f"  then {lead['on_timeout']} at {lead['deadline']:.0f} (epoch s)")
    return "\n".join(lines)


__all__ = ["add_commands"]


def check_campaign_files(
    paths: list[str], center: QueueCenter | None, prompts_dir: Path | None
) -> tuple[list[Diagnostic], list[str]]:
    """What ``callflow check`` says of campaign files: each read as ``callflow run`` reads it
    (the same parser, at file:line:column), its agents and queues looked up in ``center``
    (when there is one), its do-not-call file read, and its text prompts built in
    ``prompts_dir`` (when given). The diagnostics, and problems that are one line each."""
    diagnostics: list[Diagnostic] = []
    problems: list[str] = []
    for path in paths:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: campaign file unreadable: {exc}")
            continue
        campaign, found = parse_campaign(path, text, center)
        diagnostics.extend(found)
        if campaign is None:
            continue
        if campaign.do_not_call is not None:
            dnc = Path(path).parent / campaign.do_not_call
            try:
                read_do_not_call(dnc.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                # callflow run would call nobody rather than someone who asked not to be.
                problems.append(f"{path}: do_not_call: cannot read {dnc}: {exc}")
        if prompts_dir is not None:
            for said, _ in missing_prompts([campaign], prompts_dir):
                problems.append(
                    f"{path}: text prompt not built: {said!r}; run 'callflow prompts build'"
                )
    return diagnostics, problems
