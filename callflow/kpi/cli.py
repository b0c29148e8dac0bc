"""CLI: ``callflow report``, the KPIs of a date range from the store, as tables, JSON, CSV
or a PNG chart.

The store is opened read-only (SQLite ``mode=ro``): a report never writes, never migrates,
and may run while ``callflow run`` writes the same file. Exit codes: 0 done, 2 unusable
settings, store, dates, or no matplotlib for ``--chart``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sqlite3
import sys
import urllib.parse
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callflow.app.settings import SettingsError, load_settings
from callflow.kpi.chart import ChartUnavailable, render_png
from callflow.kpi.figures import Rules
from callflow.kpi.intervals import INTERVALS, parse_moment
from callflow.kpi.log import READ_KINDS
from callflow.kpi.report import build_report, render_csv, render_table
from callflow.store import StoreError, is_postgres, open_store
from callflow.store.base import EventRecord
from callflow.store.schema import VERSION, version_of

FAILED = 2
AGENT_LOOKBACK = dt.timedelta(days=1)
"""Events read before ``--from``, so that visits and agent states in progress are known."""

KINDS = " OR ".join(f"kind LIKE '{k}%'" if k.endswith(".") else f"kind = '{k}'" for k in READ_KINDS)
"""The event kinds the KPIs read (callflow.kpi.log.READ_KINDS), as SQL."""


RULE_OPTIONS = (
    ("--short-abandon", "short_abandon", "SECONDS", "abandons this short are left out"),
    ("--service-level", "service_level", "SECONDS", "SL's threshold T"),
    ("--repeat-days", "repeat_days", "DAYS", "a call again within this is a repeat"),
    ("--fcr-question", "fcr_question", "ID", "the survey question of first-call resolution"),
)
"""The options of :class:`~callflow.kpi.figures.Rules`: option, field, metavar, meaning."""


class ReportError(Exception):
    """Something the report cannot be made from, said in one line."""


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``report``."""
    parser = subparsers.add_parser(
        "report",
        help="KPIs of a date range from the store: table, --json, --csv, --chart PNG",
        description="Abandonment, service level (SL, SL1, SL2), ASA, AHT, longest wait, "
        "callbacks, repeat callers and first-call resolution per queue and interval, and "
        "each agent's calls and occupancy, from the event log (opened read-only). Counting "
        "rules: 'pydoc callflow.kpi.figures'.",
    )
    parser.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="DATE",
        help="first day (YYYY-MM-DD) or moment (ISO 8601), in --tz",
    )
    parser.add_argument(
        "--to",
        dest="end",
        required=True,
        metavar="DATE",
        help="last day, included (YYYY-MM-DD), or the moment the range ends",
    )
    parser.add_argument(
        "--interval",
        choices=list(INTERVALS),
        default="1h",
        help="rows per 15 minutes, hour or day (default 1h)",
    )
    parser.add_argument("--queue", metavar="Q", help="one queue only (default: every queue)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    output.add_argument("--csv", action="store_true", help="print the queue rows as CSV")
    parser.add_argument(
        "--chart",
        type=Path,
        metavar="FILE.png",
        help="also draw offered/answered/abandoned per interval and SL",
    )
    add_store_options(parser)
    for option, field, metavar, meaning in RULE_OPTIONS:
        default = getattr(Rules, field)
        shown = f"{default:g}" if isinstance(default, float) else default
        parser.add_argument(
            option,
            dest=field,
            type=type(default),
            default=default,
            metavar=metavar,
            help=f"{meaning} (default {shown})",
        )
    parser.add_argument("--now", metavar="MOMENT", help=argparse.SUPPRESS)  # tests: the clock
    parser.set_defaults(func=run_report)


def add_store_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--settings`` (or ``--store``) and ``--tz``: where the event log is, and the clock
    of the dates given."""
    parser.add_argument(
        "--settings",
        "--config",
        dest="settings",
        type=Path,
        metavar="FILE",
        default=Path("config/callflow.yaml"),
        help="the settings file whose store to read (default %(default)s)",
    )
    parser.add_argument(
        "--store",
        type=_location,
        metavar="FILE|URL",
        help="read this store (a SQLite file or a postgresql:// URL) instead of the settings' one",
    )
    parser.add_argument(
        "--tz", default="UTC", metavar="ZONE", help="time zone of dates and intervals (default UTC)"
    )


def run_report(args: argparse.Namespace) -> int:
    """``callflow report``: 0 done, 2 when the report cannot be made."""
    try:
        tz = time_zone(args.tz)
        start, end = moment(args.start, tz, False), moment(args.end, tz, True)
        if end <= start:
            raise ReportError(f"--to ({args.end}) is not after --from ({args.start})")
        now = moment(args.now, tz, False) if args.now else dt.datetime.now(dt.UTC)
        rules = Rules(args.short_abandon, args.service_level, args.repeat_days, args.fcr_question)
        path = args.store or store_of(args.settings)
        repeat = dt.timedelta(days=rules.repeat_days)
        events = read_events(path, start - AGENT_LOOKBACK, min(end + repeat, now))
        report = build_report(
            events,
            start,
            end,
            interval=args.interval,
            now=now,
            rules=rules,
            queue=args.queue,
            tz=tz,
        )
        chart = render_png(report, tz) if args.chart else None
    except (ReportError, ChartUnavailable) as exc:
        print(f"callflow report: {exc}", file=sys.stderr)
        return FAILED
    if chart is not None:
        args.chart.parent.mkdir(parents=True, exist_ok=True)
        args.chart.write_bytes(chart)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif args.csv:
        sys.stdout.write(render_csv(report))
    else:
        sys.stdout.write(render_table(report, tz))
        if chart is not None:
            print(f"\nchart: {args.chart}")
    return 0


def time_zone(name: str) -> dt.tzinfo:
    """The zone named (``UTC``, ``Europe/London``), or a ReportError."""
    if name.upper() == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportError(f"unknown time zone {name!r}") from exc


def moment(text: str, tz: dt.tzinfo, end: bool) -> dt.datetime:
    """A ``--from``/``--to`` value (a day's end with ``end``), or a ReportError."""
    try:
        return parse_moment(text, tz, end)
    except ValueError as exc:
        raise ReportError(str(exc)) from exc


def _location(text: str) -> str | Path:
    """A ``--store`` value: a PostgreSQL URL as it is, else a file's path."""
    return text if is_postgres(text) else Path(text)


def store_of(settings: Path) -> str | Path:
    """The store a settings file names (its file, or its PostgreSQL URL), or a ReportError."""
    try:
        loaded = load_settings(settings)
    except SettingsError as exc:
        raise ReportError(str(exc)) from exc
    return loaded.store_url or loaded.store


def _read_database(url: str, since: dt.datetime, until: dt.datetime) -> list[EventRecord]:
    """:func:`read_events` from a PostgreSQL store (shared by several nodes)."""
    try:
        store = open_store(url)
    except StoreError as exc:
        raise ReportError(f"cannot open the store: {exc}") from exc
    try:
        before = store.latest("agent.state", "agent", before=since).values()
        rows = store.events(since=since, kinds=READ_KINDS)
    except StoreError as exc:
        raise ReportError(f"cannot read the store: {exc}") from exc
    finally:
        store.close()
    return sorted(before, key=lambda e: e.id) + [e for e in rows if e.at < until]


def read_events(location: str | Path, since: dt.datetime, until: dt.datetime) -> list[EventRecord]:
    """The events a report reads, from ``since`` to ``until``, in log order, the store
    opened read-only; with each agent's last state before ``since``."""
    if is_postgres(location):
        return _read_database(str(location), since, until)
    path = Path(location)
    if not path.exists():
        raise ReportError(f"no store at {path}")
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?mode=ro"
    lo, hi = (m.astimezone(dt.UTC).isoformat() for m in (since, until))
    columns = "id, at, kind, call_id, data, node"
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise ReportError(f"cannot open the store {path}: {exc}") from exc
    try:
        found = version_of(db)
        if found > VERSION:
            raise ReportError(f"{path}: store version {found} is newer than this callflow's")
        # Each agent's state when the range opens: the newest agent.state before it.
        # Only our own constants are formatted into the SQL; the range is bound (?).
        before = db.execute(
            f"SELECT {columns} FROM event_log WHERE id IN (SELECT max(id) FROM event_log"  # noqa: S608
            " WHERE kind = 'agent.state' AND at < ? GROUP BY json_extract(data, '$.agent'))"
            " ORDER BY id",
            (lo,),
        ).fetchall()
        rows = db.execute(
            f"SELECT {columns} FROM event_log WHERE at >= ? AND at < ? AND ({KINDS}) ORDER BY id",  # noqa: S608
            (lo, hi),
        ).fetchall()
    except sqlite3.Error as exc:
        raise ReportError(f"cannot read the store {path}: {exc}") from exc
    finally:
        db.close()
    return [
        EventRecord(id_, dt.datetime.fromisoformat(at), kind, call, json.loads(data), node)
        for id_, at, kind, call, data, node in [*before, *rows]
    ]
