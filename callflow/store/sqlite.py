"""The embedded store on SQLite: an append-only event log every KPI is computed from.

Writes are small and synchronous (SQLite in WAL mode commits in well under a millisecond on
local disk), so they are made from the event loop directly; a multi-node deployment will use
the PostgreSQL store instead.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS event_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT    NOT NULL,          -- ISO 8601, UTC
    kind     TEXT    NOT NULL,          -- e.g. flow.step, call.start, call.end
    call_id  TEXT    NOT NULL DEFAULT '',
    data     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS event_log_call ON event_log (call_id, id);
CREATE INDEX IF NOT EXISTS event_log_kind ON event_log (kind, at);
"""


@dataclass(frozen=True)
class EventRecord:
    """One row of the event log."""

    id: int
    at: dt.datetime
    kind: str
    call_id: str
    data: Mapping[str, Any]


class SqliteStore:
    """callflow's state in one SQLite file (``:memory:`` for tests)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def append(
        self,
        kind: str,
        call_id: str = "",
        data: Mapping[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        """Append one event and return its id."""
        when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO event_log (at, kind, call_id, data) VALUES (?, ?, ?, ?)",
                (when, kind, call_id, json.dumps(dict(data or {}), default=str)),
            )
        return int(cursor.lastrowid or 0)

    def events(self, *, call_id: str | None = None, kind: str | None = None) -> list[EventRecord]:
        """Events in order, optionally of one call and/or one kind."""
        sql = "SELECT id, at, kind, call_id, data FROM event_log"
        where, args = [], []
        if call_id is not None:
            where.append("call_id = ?")
            args.append(call_id)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [
            EventRecord(id_, dt.datetime.fromisoformat(at), kind_, call, json.loads(data))
            for id_, at, kind_, call, data in rows
        ]
