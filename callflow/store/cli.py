"""`callflow nodes`: which callflow processes run on this store, under which node names.

Each `callflow run` claims its node name in the store while it runs (see
:mod:`callflow.store.nodes`); this lists the claims: where each holder runs, since when,
when it last said it was alive, and whether it still counts as running::

    callflow nodes --config config/callflow.yaml
    NODE  HOST   PID   STARTED (UTC)        HEARD OF  STATE
    east  ci-1   4242  2026-12-07 10:56:19  3 s ago   running
    west  ci-2   4301  2026-12-07 10:57:02  75 s ago  silent: taken as gone

On a shared PostgreSQL store, one line per node; on a SQLite file, the one process that
runs on it (if any).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
import time

from callflow.app.settings import (
    OK,
    UNAVAILABLE,
    SettingsError,
    config_option,
    load_settings,
)
from callflow.store import open_store
from callflow.store.errors import StoreError
from callflow.store.nodes import NodeLife, this_life, why_free


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``nodes``."""
    nodes = subparsers.add_parser(
        "nodes",
        parents=[config_option()],
        help="the callflow processes running on the store, by node name",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    nodes.add_argument("--json", action="store_true", help="print JSON")
    nodes.set_defaults(func=run_nodes)


def state(node: NodeLife, now: float) -> str:
    """``running``, or why a start under this name here would take it over (the claim's own
    rule, asked for a process of this host)."""
    return why_free(node, this_life(node.name, "", now), now) or "running"


def run_nodes(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        print(f"callflow: {exc}", file=sys.stderr)
        return UNAVAILABLE
    if settings.store_url is None and not settings.store.exists():
        print(
            f"callflow: the store {settings.store} does not exist (has callflow run?)",
            file=sys.stderr,
        )
        return UNAVAILABLE
    try:
        store = open_store(settings.store_location)
    except (sqlite3.Error, StoreError) as exc:
        print(f"callflow: cannot open the store: {exc}", file=sys.stderr)
        return UNAVAILABLE
    try:
        nodes = store.nodes()
    except (sqlite3.Error, StoreError) as exc:
        print(f"callflow: the store {settings.store_location}: {exc}", file=sys.stderr)
        return UNAVAILABLE
    finally:
        store.close()
    now = time.time()
    rows = [
        {
            "node": n.name,
            "host": n.host,
            "pid": n.pid,
            "started": dt.datetime.fromtimestamp(n.started_at, dt.UTC).isoformat(),
            "heard_of_s_ago": round(max(0.0, now - n.seen_at), 1),
            "state": state(n, now),
        }
        for n in nodes
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return OK
    if not rows:
        print("no callflow runs on this store")
        return OK
    table = [["NODE", "HOST", "PID", "STARTED (UTC)", "HEARD OF", "STATE"]]
    for row, n in zip(rows, nodes, strict=True):
        started = dt.datetime.fromtimestamp(n.started_at, dt.UTC)
        table.append(
            [
                n.name or "(no name)",
                n.host,
                str(n.pid),
                f"{started:%Y-%m-%d %H:%M:%S}",
                f"{row['heard_of_s_ago']:.0f} s ago",
                str(row["state"]),
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    return OK
