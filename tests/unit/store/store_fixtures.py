"""Helpers for the store tests: times, and a store file as callflow wrote it before schema
versions (version 0)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
DAY = 86_400.0

# The schema exactly as callflow created it before PRAGMA user_version (no version set).
UNVERSIONED_SCHEMA = """
CREATE TABLE IF NOT EXISTS event_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    call_id  TEXT    NOT NULL DEFAULT '',
    data     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS event_log_call ON event_log (call_id, id);
CREATE INDEX IF NOT EXISTS event_log_kind ON event_log (kind, at);
CREATE TABLE IF NOT EXISTS queue_entries (
    id        TEXT PRIMARY KEY,
    queue     TEXT NOT NULL,
    kind      TEXT NOT NULL DEFAULT 'caller',
    joined_at REAL NOT NULL,
    data      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_entries_queue ON queue_entries (queue, joined_at);
"""


def write_old_file(path: Path, *, user_version: int = 0) -> None:
    """A store file as an older callflow left it: two answered calls of one caller, one of
    another, a closed call and a waiting queue entry."""
    db = sqlite3.connect(path)
    db.executescript(UNVERSIONED_SCHEMA)
    rows = [
        (T0, "call.start", "c1", "{}"),
        (T0, "queue.connect", "c1", '{"queue": "q", "agent": "alice", "caller": "+4411"}'),
        (T0, "call.end", "c1", '{"outcome": "hangup"}'),
        (T0 + dt.timedelta(hours=1), "queue.connect", "c2", '{"agent": "bob", "caller": "+4411"}'),
        (T0 + dt.timedelta(hours=2), "queue.connect", "c3", '{"agent": "carol", "caller": "+33"}'),
        (T0 + dt.timedelta(hours=3), "queue.connect", "c4", '{"agent": "dave", "caller": ""}'),
    ]
    db.executemany(
        "INSERT INTO event_log (at, kind, call_id, data) VALUES (?, ?, ?, ?)",
        [(at.isoformat(), kind, call, data) for at, kind, call, data in rows],
    )
    db.execute(
        "INSERT INTO queue_entries VALUES ('w1', 'q', 'caller', 5.0, "
        '\'{"id": "w1", "queue": "q", "joined_at": 5.0}\')'
    )
    if user_version:
        db.execute(f"PRAGMA user_version = {user_version}")
    db.commit()
    db.close()
