"""The embedded store on SQLite: an append-only event log every KPI is computed from.

Writes are small and synchronous (SQLite in WAL mode commits in well under a millisecond on
local disk), so they are made from the event loop directly; a multi-node deployment will use
the PostgreSQL store instead.
"""

from __future__ import annotations

import datetime as dt
import json
import math
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

-- Callers waiting in queues (and, later, callback placeholders): enough to restore each
-- queue's order after a restart. One row per waiting entry, removed when it leaves.
CREATE TABLE IF NOT EXISTS queue_entries (
    id        TEXT PRIMARY KEY,
    queue     TEXT NOT NULL,
    kind      TEXT NOT NULL DEFAULT 'caller',   -- caller | callback
    joined_at REAL NOT NULL,                    -- seconds since the epoch
    data      TEXT NOT NULL                     -- QueueEntry.to_dict() as JSON
);
CREATE INDEX IF NOT EXISTS queue_entries_queue ON queue_entries (queue, joined_at);
"""


def _standard(value: Any) -> Any:
    """``value`` with every float that JSON cannot hold (NaN, ±Infinity) made null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _standard(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_standard(v) for v in value]
    return value


def to_json(data: Mapping[str, Any]) -> str:
    """Standard JSON only (RFC 8259): SQLite's json_extract refuses a row holding
    ``Infinity`` and aborts the whole query, so "no figure" is stored as null."""
    return json.dumps(_standard(data), default=str, allow_nan=False)


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
                (when, kind, call_id, to_json(data or {})),
            )
        return int(cursor.lastrowid or 0)

    def save_queue_entry(self, entry: Mapping[str, Any]) -> None:
        """Keep a waiting entry (``QueueEntry.to_dict()``) until it leaves its queue."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO queue_entries (id, queue, kind, joined_at, data) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    entry["id"],
                    entry["queue"],
                    entry.get("kind", "caller"),
                    entry["joined_at"],
                    to_json(entry),
                ),
            )

    def delete_queue_entry(self, entry_id: str) -> None:
        """Forget an entry that left its queue."""
        with self._lock:
            self._db.execute("DELETE FROM queue_entries WHERE id = ?", (entry_id,))

    def queue_entries(self, queue: str | None = None) -> list[dict[str, Any]]:
        """Waiting entries in join order (one queue, or all)."""
        sql = "SELECT data FROM queue_entries"
        args: list[str] = []
        if queue is not None:
            sql += " WHERE queue = ?"
            args.append(queue)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY joined_at, id", args).fetchall()
        return [json.loads(data) for (data,) in rows]

    def unended_calls(self, since: dt.datetime) -> dict[str, dt.datetime]:
        """Calls started since then that have no ``call.end``: each with the time of its
        last event (after a crash, the best known time of its end)."""
        sql = (
            "SELECT call_id, max(at) FROM event_log WHERE call_id IN ("
            " SELECT call_id FROM event_log WHERE kind = 'call.start' AND at >= ?"
            " EXCEPT SELECT call_id FROM event_log WHERE kind = 'call.end' AND at >= ?"
            ") GROUP BY call_id"
        )
        start = since.astimezone(dt.UTC).isoformat()
        with self._lock:
            rows = self._db.execute(sql, (start, start)).fetchall()
        return {call: dt.datetime.fromisoformat(at) for call, at in rows}

    def latest(self, kind: str, key: str) -> dict[str, EventRecord]:
        """The newest event of a kind for each value of ``data[key]`` (e.g. each agent's last
        ``agent.state``), without reading the whole history."""
        if not key.isidentifier():
            raise ValueError(f"not a plain key: {key!r}")
        sql = (
            "SELECT id, at, kind, call_id, data FROM event_log WHERE id IN ("
            " SELECT max(id) FROM event_log WHERE kind = ? GROUP BY json_extract(data, ?))"
            " ORDER BY id"
        )
        with self._lock:
            rows = self._db.execute(sql, (kind, f"$.{key}")).fetchall()
        latest: dict[str, EventRecord] = {}
        for id_, at, kind_, call, data in rows:
            record = EventRecord(id_, dt.datetime.fromisoformat(at), kind_, call, json.loads(data))
            value = record.data.get(key)
            if isinstance(value, str):
                latest[value] = record
        return latest

    def events(
        self,
        *,
        call_id: str | None = None,
        kind: str | None = None,
        since: dt.datetime | None = None,
    ) -> list[EventRecord]:
        """Events in order, optionally of one call, one kind, and from a time on."""
        sql = "SELECT id, at, kind, call_id, data FROM event_log"
        where, args = [], []
        if since is not None:
            # ISO 8601 in UTC sorts as text, and (kind, at) is indexed.
            where.append("at >= ?")
            args.append(since.astimezone(dt.UTC).isoformat())
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
