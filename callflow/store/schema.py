"""The SQLite schema as a list of migration steps, numbered by ``PRAGMA user_version``.

Step ``n`` takes a file from version ``n - 1`` to ``n``. Opening a file runs the steps it
lacks in one transaction, so a file is never left half-upgraded; a file newer than the last
step is refused (:class:`~callflow.store.errors.SchemaTooNew`), since this code would misread
it.

Files written before versions existed say 0 (SQLite's default) but already hold version 1's
tables; step 1 creates them only where they are missing, so an empty file and such a file
both come out at version 1.

1. The event log and the waiting queue entries.
2. A ``node`` column on both: which callflow node wrote the row ('' for a single node).
3. ``last_agents``: for each caller, the agent of their most recent answered queue call
   (filled from the ``queue.connect`` events already in the log), so the lookup at queue
   join is one index probe instead of a scan of every answered call.
4. ``callbacks``: one row per callback (``Callback.to_dict()`` as JSON, with its queue,
   number, state and times as columns), kept after it ends; the live ones (not in
   :data:`FINAL_CALLBACK_STATES`) are what a restart takes back, through a partial index.
5. Campaigns (``callflow.dialer``): ``campaigns`` (each campaign's state: running, paused,
   stopped, as ``callflow campaigns start|pause|stop`` set it), ``campaign_leads`` (one row
   per campaign and number: its state, attempts made, when it may be called again, when a
   call to it was last abandoned) and ``campaign_attempts`` (one row per call placed, kept:
   the FTC's records), unique per campaign, number and attempt, so an attempt is never
   placed twice.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Callable, Iterable

from callflow.store.errors import SchemaTooNew

Step = Callable[[sqlite3.Connection], None]

_V1 = (
    """CREATE TABLE IF NOT EXISTS event_log (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        at       TEXT    NOT NULL,          -- ISO 8601, UTC
        kind     TEXT    NOT NULL,          -- e.g. flow.step, call.start, call.end
        call_id  TEXT    NOT NULL DEFAULT '',
        data     TEXT    NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX IF NOT EXISTS event_log_call ON event_log (call_id, id)",
    "CREATE INDEX IF NOT EXISTS event_log_kind ON event_log (kind, at)",
    # Callers waiting in queues (and, later, callback placeholders): enough to restore each
    # queue's order after a restart. One row per waiting entry, removed when it leaves.
    """CREATE TABLE IF NOT EXISTS queue_entries (
        id        TEXT PRIMARY KEY,
        queue     TEXT NOT NULL,
        kind      TEXT NOT NULL DEFAULT 'caller',   -- caller | callback
        joined_at REAL NOT NULL,                    -- seconds since the epoch
        data      TEXT NOT NULL                     -- QueueEntry.to_dict() as JSON
    )""",
    "CREATE INDEX IF NOT EXISTS queue_entries_queue ON queue_entries (queue, joined_at)",
)

_V2 = (
    "ALTER TABLE event_log ADD COLUMN node TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE queue_entries ADD COLUMN node TEXT NOT NULL DEFAULT ''",
)

_V3 = (
    """CREATE TABLE last_agents (
        caller TEXT PRIMARY KEY,
        agent  TEXT NOT NULL,
        at     REAL NOT NULL,               -- seconds since the epoch, of the queue.connect
        node   TEXT NOT NULL DEFAULT ''
    ) WITHOUT ROWID""",
)

FINAL_CALLBACK_STATES = ("completed", "failed", "expired", "cancelled")
"""A callback in one of these states is over (``callflow.callback.model.FINAL``)."""
_FINAL_SQL = ", ".join(f"'{state}'" for state in FINAL_CALLBACK_STATES)
LIVE_CALLBACK = f"state NOT IN ({_FINAL_SQL})"
"""The SQL condition of a callback not yet over (the partial index's)."""

_V4 = (
    """CREATE TABLE callbacks (
        id           TEXT PRIMARY KEY,
        queue        TEXT NOT NULL,
        number       TEXT NOT NULL,          -- E.164
        state        TEXT NOT NULL,          -- requested, waiting, ... cancelled
        requested_at REAL NOT NULL,          -- seconds since the epoch
        updated_at   REAL NOT NULL,
        data         TEXT NOT NULL,          -- Callback.to_dict() as JSON
        node         TEXT NOT NULL DEFAULT ''
    )""",
    f"CREATE INDEX callbacks_live ON callbacks (requested_at, id) WHERE {LIVE_CALLBACK}",
    f"CREATE INDEX callbacks_number ON callbacks (queue, number) WHERE {LIVE_CALLBACK}",
)

_V5 = (
    """CREATE TABLE campaigns (
        name       TEXT PRIMARY KEY,
        state      TEXT NOT NULL,            -- running, paused, stopped
        updated_at REAL NOT NULL,
        node       TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE TABLE campaign_leads (
        campaign     TEXT NOT NULL,
        number       TEXT NOT NULL,          -- E.164
        timezone     TEXT,
        fields       TEXT NOT NULL DEFAULT '{}',
        line         INTEGER NOT NULL DEFAULT 0,   -- of the CSV it was last imported from
        state        TEXT NOT NULL DEFAULT 'ready',  -- ready, dialing, done, failed, exhausted
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_at      REAL NOT NULL DEFAULT 0,        -- not called before (epoch seconds)
        last_outcome TEXT,
        abandoned_at REAL,
        updated_at   REAL NOT NULL DEFAULT 0,
        node         TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (campaign, number)
    )""",
    "CREATE INDEX campaign_leads_due ON campaign_leads (campaign, state, next_at)",
    """CREATE TABLE campaign_attempts (
        id        TEXT PRIMARY KEY,
        campaign  TEXT NOT NULL,
        number    TEXT NOT NULL,
        attempt   INTEGER NOT NULL,
        state     TEXT NOT NULL,     -- dialing, answered, connected, abandoned, machine, ended
        outcome   TEXT,                      -- connected, abandoned, machine, busy, ...
        dialed_at REAL NOT NULL,
        ended_at  REAL,
        data      TEXT NOT NULL DEFAULT '{}',
        node      TEXT NOT NULL DEFAULT '',
        UNIQUE (campaign, number, attempt)
    )""",
    "CREATE INDEX campaign_attempts_when ON campaign_attempts (campaign, dialed_at)",
)

REMEMBER_AGENT = (
    "INSERT INTO last_agents (caller, agent, at, node) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (caller) DO UPDATE SET agent = excluded.agent, at = excluded.at, "
    "node = excluded.node "
    # The most recent call wins, whatever order the events arrive in; at the same moment,
    # the greater agent name (as queue.routing.last_agent_for breaks that tie).
    "WHERE (excluded.at, excluded.agent) > (last_agents.at, last_agents.agent)"
)
"""Upsert one answered call ``(caller, agent, at, node)`` into ``last_agents``."""


def answered_call(data: dict[str, object], at: dt.datetime) -> tuple[str, str, float] | None:
    """``(caller, agent, when)`` of a ``queue.connect`` event's data, or None when it names no
    caller (an anonymous call) or no agent: the rows last-agent routing learns from."""
    caller, agent = data.get("caller"), data.get("agent")
    if not caller or agent is None:
        return None
    return str(caller), str(agent), at.timestamp()


_V6 = (
    # Who runs under which node name (callflow.store.nodes): one process per name.
    """CREATE TABLE nodes (
        name       TEXT PRIMARY KEY,         -- the settings' node: ('' for none)
        host       TEXT NOT NULL,
        pid        INTEGER NOT NULL,
        life       TEXT NOT NULL,            -- the process life's tag (call.ids.LIFE)
        started_at REAL NOT NULL,            -- Unix seconds
        seen_at    REAL NOT NULL             -- its last "still alive"
    )""",
)


def _statements(statements: Iterable[str]) -> Step:
    def step(db: sqlite3.Connection) -> None:
        for sql in statements:
            db.execute(sql)

    return step


def _last_agents(db: sqlite3.Connection) -> None:
    _statements(_V3)(db)
    rows = db.execute("SELECT at, data, node FROM event_log WHERE kind = 'queue.connect'")
    found = (
        (answered_call(json.loads(data), dt.datetime.fromisoformat(at)), node)
        for at, data, node in rows
    )
    db.executemany(REMEMBER_AGENT, ((*call, node) for call, node in found if call is not None))


MIGRATIONS: tuple[Step, ...] = (
    _statements(_V1),
    _statements(_V2),
    _last_agents,
    _statements(_V4),
    _statements(_V5),
    _statements(_V6),
)
VERSION = len(MIGRATIONS)
"""The schema version this code writes."""


def version_of(db: sqlite3.Connection) -> int:
    """The file's ``PRAGMA user_version``."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, path: str) -> int:
    """Bring the file to :data:`VERSION` (``db`` in autocommit mode); the version it had.

    Two processes opening one old file at once are fine: the second waits for the first's
    transaction, then finds nothing left to do."""
    found = version_of(db)
    if found > VERSION:
        raise SchemaTooNew(path, found, VERSION)
    if found == VERSION:
        return found
    db.execute("BEGIN IMMEDIATE")
    try:
        found = version_of(db)  # another process may have upgraded it meanwhile
        if found > VERSION:
            raise SchemaTooNew(path, found, VERSION)
        for step in MIGRATIONS[found:]:
            step(db)
        db.execute(f"PRAGMA user_version = {VERSION:d}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return found
