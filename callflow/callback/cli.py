"""``callflow callbacks request|list|cancel``: callbacks from the command line, as a web form
or a CRM would ask for them, against the store of the running callflow.

There is no extra port: ``request`` checks the number with the queue's own rules (the same
:func:`~callflow.callback.number.normalise` as a call's) and writes a ``submitted`` row with a
new id; the running app takes it within a second (it polls the store's live rows,
:meth:`~callflow.callback.live.CallbackService.poll_store`), and from then on it is a
callback like any other (the same number twice in a queue: the second is cancelled as a
duplicate). ``cancel`` marks a live row ``cancel-asked``; the app cancels it at its next
look. ``list`` reads the live callbacks. Exit code 0: done; 1: refused (a number that may
not be called, an unknown callback); 2: unusable settings or store.
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
    SettingsError,
    config_option,
    load_settings,
)
from callflow.callback.live import CANCEL_ASKED
from callflow.callback.model import FINAL
from callflow.callback.number import Refused
from callflow.callback.requests import cancel_row, submitted_row
from callflow.queue.config import load_queues
from callflow.store import SqlStore, open_store
from callflow.store.errors import StoreError

CANCEL_WAIT = 5.0  # seconds `cancel` waits for the running callflow to confirm
CANCEL_POLL = 0.25  # seconds between its looks at the row
DAY = 86_400.0


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callbacks`` with request, list and cancel."""
    common = argparse.ArgumentParser(add_help=False, parents=[config_option()])
    common.add_argument("--json", action="store_true", help="print JSON")
    callbacks = subparsers.add_parser(
        "callbacks",
        help="ask for, list or cancel callbacks (in the running callflow's store)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = callbacks.add_subparsers(dest="action", metavar="ACTION", required=True)
    request = actions.add_parser("request", parents=[common], help="ask for a callback")
    request.add_argument("number", metavar="NUMBER", help="the number to call (E.164 or national)")
    request.add_argument("--queue", required=True, help="the queue whose agent calls back")
    request.set_defaults(func=run_request)
    listing = actions.add_parser("list", parents=[common], help="the live callbacks")
    listing.add_argument("--queue", help="one queue only")
    listing.set_defaults(func=run_list)
    cancel = actions.add_parser("cancel", parents=[common], help="give up a live callback")
    cancel.add_argument("callback", metavar="ID", help="the callback's id (see list)")
    cancel.add_argument(
        "--wait",
        type=float,
        default=CANCEL_WAIT,
        metavar="SECONDS",
        help=f"wait this long for callflow to confirm (default {CANCEL_WAIT:g}; 0: do not)",
    )
    cancel.set_defaults(func=run_cancel)


def run_request(args: argparse.Namespace) -> int:
    """Check the number with the queue's rules and write the request for the app."""
    try:
        settings = load_settings(args.config)
        if settings.queues is None:
            raise SettingsError(f"{args.config}: no queues configured (the 'queues' setting)")
        center, diagnostics = load_queues(str(settings.queues))
        if center is None:
            raise SettingsError("\n".join(str(d) for d in diagnostics))
    except SettingsError as exc:
        print(f"callflow: {exc}", file=sys.stderr)
        return UNAVAILABLE
    queue = center.queues.get(args.queue)
    if queue is None or queue.callback is None:
        print(f"callflow: queue {args.queue!r} offers no callbacks", file=sys.stderr)
        return REFUSED
    row = submitted_row(queue, args.number, time.time(), source="the command line")
    if isinstance(row, Refused):
        print(f"callflow: refused: {row.reason.value}: {row.detail}", file=sys.stderr)
        return REFUSED
    code = _with_store(args.config, lambda store: store.save_callback(row))
    if code != OK:
        return code
    if args.json:
        print(json.dumps(row, sort_keys=True))
    else:
        print(f"{row['id']}: {row['number']} in {queue.name}: submitted")
    return OK


def run_list(args: argparse.Namespace) -> int:
    """Print the live callbacks, in request order."""
    rows: list[dict[str, Any]] = []
    code = _with_store(args.config, lambda store: rows.extend(store.live_callbacks(args.queue)))
    if code != OK:
        return code
    if args.json:
        print(json.dumps(rows, sort_keys=True))
        return OK
    table = [("ID", "QUEUE", "NUMBER", "STATE", "ATTEMPTS", "REASON")] + [
        (
            str(r.get("id")),
            str(r.get("queue")),
            str(r.get("number")),
            str(r.get("state")),
            str(r.get("attempts", 0)),
            str(r.get("reason") or ""),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        cells = [f"{cell:<{widths[i]}}" for i, cell in enumerate(row[:5])]
        print("  ".join([*cells, row[5]]).rstrip())
    return OK


def run_cancel(args: argparse.Namespace) -> int:
    """Mark a live callback for cancelling; the app cancels it within a second, hanging
    up a call in progress (a dial ringing, AMD listening, a conversation).

    The app writes the row at every transition: one made while the mark waits for the
    app's look (a dial ending, say) would overwrite it. So, for ``--wait`` seconds, the
    row is read again and marked again if a transition overwrote the mark, until the app
    says cancelled (exit 0), or the callback ended otherwise first (exit 1)."""
    found: list[dict[str, Any] | None] = []
    code = _with_store(args.config, lambda store: found.append(store.load_callback(args.callback)))
    if code != OK:
        return code
    asked = cancel_row(found[0] if found else None, source="cli")
    if asked is None:
        print(f"callflow: no live callback {args.callback!r}", file=sys.stderr)
        return REFUSED
    code = _with_store(args.config, lambda store: store.save_callback(asked))
    if code != OK or asked["state"] == "cancelled":
        if code == OK:
            print(f"{args.callback}: cancelled")
        return code
    deadline = time.monotonic() + max(0.0, args.wait)
    while time.monotonic() < deadline:
        time.sleep(CANCEL_POLL)
        found.clear()
        code = _with_store(args.config, lambda store: _mark_again(store, args.callback, found))
        if code != OK:
            return code
        state = str((found[0] or {}).get("state")) if found else "gone"
        if state == "cancelled":
            print(f"{args.callback}: cancelled")
            return OK
        if state in {s.value for s in FINAL} or state == "gone":
            print(f"callflow: {args.callback} ended {state} before the cancel", file=sys.stderr)
            return REFUSED
    print(f"{args.callback}: cancel asked (callflow has not confirmed it yet)")
    return OK


def _mark_again(store: SqlStore, callback_id: str, found: list[dict[str, Any] | None]) -> None:
    """Read the row; if a transition of the app overwrote the cancel mark, mark it again."""
    row = store.load_callback(callback_id)
    found.append(row)
    if row is not None and row.get("state") not in (CANCEL_ASKED, *(s.value for s in FINAL)):
        again = cancel_row(row, source="cli")
        if again is not None:
            store.save_callback(again)


def _with_store(config: Path, work: Any) -> int:
    """Run ``work(store)`` on the store the settings name; the exit code."""
    try:
        settings = load_settings(config)
    except SettingsError as exc:
        print(f"callflow: {exc}", file=sys.stderr)
        return UNAVAILABLE
    path = settings.store_location
    if settings.store_url is None and not settings.store.exists():
        print(f"callflow: the store {path} does not exist (has callflow run?)", file=sys.stderr)
        return UNAVAILABLE
    try:
        store = open_store(path, node=settings.node)  # the node that dials what it asks
    except (sqlite3.Error, StoreError) as exc:
        print(f"callflow: cannot open the store: {exc}", file=sys.stderr)
        return UNAVAILABLE
    try:
        work(store)
        store.flush()
    except (sqlite3.Error, StoreError) as exc:
        print(f"callflow: the store {path}: {exc}", file=sys.stderr)
        return UNAVAILABLE
    finally:
        store.close()
    return OK
