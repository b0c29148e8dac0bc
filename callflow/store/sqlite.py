"""The embedded store on SQLite: the event log every KPI is computed from, the waiting queue
entries, the last-agent index and the callbacks, for one callflow node.

Nothing here makes the event loop wait for SQLite. Writes are queued to one writer thread
(:mod:`callflow.store.writer`), which commits them in batches; reads first wait for the
writes made before them (read-your-writes), then run on a connection of their own thread
(WAL mode: readers never wait for the writer). The ``async`` reads run in a worker thread.

Event ids are given out by ``append`` itself, in the order of the calls, so it can return at
once. One process writes a given file (the one that runs the calls; others, such as
``callflow agents``, only read it); should another process write too, a clashing id is
replaced by a fresh one and the row is still written.

A crash loses at most the writes not yet committed: the last few milliseconds, or, while the
disk refuses writes (full, read-only), those held in memory since (see the writer). Commits
are synced to the disk (``synchronous=FULL``; the writer's batches keep that to one fsync per
burst): with ``NORMAL``, a disk that failed (ext4 aborting its journal) or a power cut rolled
back every transaction since the last checkpoint, the schema included, in
tests/integration/test_faults.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callflow.store.base import EventRecord, Store
from callflow.store.errors import StoreClosed, StoreError
from callflow.store.schema import LIVE_CALLBACK, REMEMBER_AGENT, answered_call, migrate
from callflow.store.writer import StoreHealth, Writer

log = logging.getLogger(__name__)

PRUNE_CHUNK = 5000
"""Events deleted per transaction while pruning, so that other writes pass in between."""

KEEP_LATEST = (("agent.state", "agent"),)
"""(kind, key) whose newest event per key value survives any pruning: each agent's last
state, which callflow restores its agents from after a restart."""

READER_CACHE_KIB = 256
"""The page cache of each worker thread's read connection (SQLite's default: 2,000 KiB).

A read connection keeps the pages of its last query until its next: with the default, the
six read connections of the event loop's worker threads came to hold 2 MiB each after a
query that read many pages (measured with ``sqlite3_db_status``). They gain little from
them: a reader drops its whole cache at its next query when the writer has committed since
(WAL), which it does every few milliseconds under traffic; the pages come back from the
system's file cache. The writer's connection keeps the default."""

_EVENT_COLUMNS = "id, at, kind, call_id, data, node"


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


def _record(row: tuple[Any, ...]) -> EventRecord:
    id_, at, kind, call, data, node = row
    return EventRecord(id_, dt.datetime.fromisoformat(at), kind, call, json.loads(data), node)


def _iso(moment: dt.datetime) -> str:
    # ISO 8601 in UTC sorts as text, which every time filter relies on.
    return moment.astimezone(dt.UTC).isoformat()


class SqliteStore:
    """callflow's state in one SQLite file (``:memory:``: a temporary file, gone on close).

    ``node`` is written with every row, the seam for several callflow nodes sharing one
    store later (a PostgreSQL store); alone, it stays ''.
    """

    def __init__(self, path: str | Path, *, node: str = "") -> None:
        self.path = str(path)
        self.node = node
        self._file = self.path
        self._scratch: str | None = None
        if self.path == ":memory:":
            self._scratch = tempfile.mkdtemp(prefix="callflow-store-")
            self._file = str(Path(self._scratch) / "store.sqlite3")
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # committed means on the disk (see above)
            migrate(db, self.path)
            # AUTOINCREMENT's rule: never an id used before, even if its row was pruned.
            (used,) = db.execute(
                "SELECT max(coalesce((SELECT max(id) FROM event_log), 0),"
                " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'event_log'), 0))"
            ).fetchone()
            self._next_id = int(used) + 1
        except BaseException:
            db.close()
            raise
        self._id_lock = threading.Lock()
        self._writer = Writer(db, self.path)
        # Each worker thread reads on its own connection; its lock is held for the whole
        # query, so that close() never closes a connection under a running statement
        # (sqlite3 then crashes the process, not just the query).
        self._readers: list[tuple[sqlite3.Connection, threading.Lock]] = []
        self._readers_lock = threading.Lock()
        self._local = threading.local()
        self._closed = False
        # An unclosed store still commits its writes when it is collected or at exit.
        self._finalizer = weakref.finalize(self, _release, self._writer, self._scratch)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._file, isolation_level=None, check_same_thread=False)

    # --- writes: queued, never waited for -------------------------------------------------

    def append(
        self,
        kind: str,
        call_id: str = "",
        data: Mapping[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        """Queue one event and return its id. A ``queue.connect`` naming a caller and an
        agent also updates the last-agent index, in the same transaction."""
        when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        answered = answered_call(dict(data), when) if kind == "queue.connect" and data else None
        return self._submit_event(
            kind, call_id, data, when, lambda db, row: _insert_event(db, row, answered)
        )

    def _submit_event(
        self,
        kind: str,
        call_id: str,
        data: Mapping[str, Any] | None,
        when: dt.datetime,
        write: Callable[[sqlite3.Connection, EventRow], None],
    ) -> int:
        """Give the event its id and queue ``write`` of its row, in id order."""
        # Encoded here, not in the writer: the caller may change ``data`` once we return.
        text = to_json(data or {})
        with self._id_lock:
            event_id = self._next_id
            self._next_id += 1
            row = (event_id, when.isoformat(), kind, call_id, text, self.node)
            self._writer.submit(lambda db: write(db, row))
        return event_id

    def save_callback(
        self,
        callback: Mapping[str, Any],
        kind: str = "",
        data: Mapping[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> int | None:
        """Add or update a callback's row and, with ``kind``, write that event in the same
        transaction (its id; None without ``kind``)."""
        row = (
            callback["id"],
            callback["queue"],
            callback["number"],
            callback["state"],
            float(callback["requested_at"]),
            float(callback.get("updated_at", 0.0)),
            to_json(callback),
            self.node,
        )
        if not kind:
            self._writer.submit(lambda db: _save_callback(db, row))
            return None
        when = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)

        def write(db: sqlite3.Connection, event: EventRow) -> None:
            _save_callback(db, row)
            _insert_event(db, event, None)

        call_id = str(callback.get("call_id") or callback["id"])
        return self._submit_event(kind, call_id, data, when, write)

    def save_queue_entry(self, entry: Mapping[str, Any]) -> None:
        """Keep a waiting entry (``QueueEntry.to_dict()``) until it leaves its queue."""
        row = (
            entry["id"],
            entry["queue"],
            entry.get("kind", "caller"),
            entry["joined_at"],
            to_json(entry),
            self.node,
        )
        self._writer.submit(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO queue_entries (id, queue, kind, joined_at, data, node) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
        )

    def delete_queue_entry(self, entry_id: str) -> None:
        """Forget an entry that left its queue."""
        self._writer.submit(
            lambda db: db.execute("DELETE FROM queue_entries WHERE id = ?", (entry_id,))
        )

    def flush(self) -> None:
        """Return once every write made so far is committed."""
        self._writer.wait()

    @property
    def pending(self) -> int:
        """Writes queued and not yet committed."""
        return self._writer.pending

    @property
    def health(self) -> StoreHealth:
        """Whether writes reach the disk now; while the disk refuses them (full, read-only),
        how many are held in memory and since when (see :mod:`callflow.store.writer`)."""
        return self._writer.health

    def close(self) -> None:
        """Commit the pending writes, then close the database."""
        self._closed = True
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for db, in_use in readers:
            with in_use:
                db.close()
        self._finalizer()

    # --- reads: after the writes made before them -----------------------------------------

    def _rows(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[Any]:
        self._writer.wait()
        db, in_use = self._reader()
        with in_use:
            if self._closed:  # close() set this before it took the lock
                raise StoreClosed(f"{self.path}: the store is closed")
            return db.execute(sql, args).fetchall()

    def _reader(self) -> tuple[sqlite3.Connection, threading.Lock]:
        """This thread's read connection and the lock held while it runs a query."""
        reader: tuple[sqlite3.Connection, threading.Lock] | None = getattr(self._local, "db", None)
        if reader is None:
            if self._closed:
                raise StoreClosed(f"{self.path}: the store is closed")
            db = self._connect()
            db.execute("PRAGMA query_only = ON")
            db.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
            reader = (db, threading.Lock())
            with self._readers_lock:
                if self._closed:
                    db.close()
                    raise StoreClosed(f"{self.path}: the store is closed")
                self._readers.append(reader)
            self._local.db = reader
        return reader

    def queue_entries(self, queue: str | None = None) -> list[dict[str, Any]]:
        """Waiting entries in join order (one queue, or all)."""
        sql = "SELECT data FROM queue_entries"
        args: list[str] = []
        if queue is not None:
            sql += " WHERE queue = ?"
            args.append(queue)
        rows = self._rows(sql + " ORDER BY joined_at, id", args)
        return [json.loads(data) for (data,) in rows]

    def live_callbacks(self, queue: str | None = None) -> list[dict[str, Any]]:
        """Callbacks not yet over, in request order (one queue, or all)."""
        sql = f"SELECT data FROM callbacks WHERE {LIVE_CALLBACK}"  # noqa: S608 (constants formatted in; values bound)
        args: list[str] = []
        if queue is not None:
            sql += " AND queue = ?"
            args.append(queue)
        rows = self._rows(sql + " ORDER BY requested_at, id", args)
        return [json.loads(data) for (data,) in rows]

    async def live_callbacks_async(self, queue: str | None = None) -> list[dict[str, Any]]:
        """:meth:`live_callbacks` in a worker thread."""
        return await asyncio.to_thread(self.live_callbacks, queue)

    def load_callback(self, callback_id: str) -> dict[str, Any] | None:
        """One callback's row, live or over; None if there is none."""
        rows = self._rows("SELECT data FROM callbacks WHERE id = ?", (callback_id,))
        return json.loads(rows[0][0]) if rows else None

    # --- campaigns (callflow.dialer) --------------------------------------------------

    def import_leads(self, campaign: str, leads: list[Mapping[str, Any]]) -> None:
        """Add leads (``number``, ``timezone``, ``fields``, ``line``) to a campaign; a number
        already there keeps its state and attempts, and takes the new zone and fields."""
        now = time.time()
        rows = [
            (
                campaign,
                str(lead["number"]),
                lead.get("timezone"),
                to_json(lead.get("fields") or {}),
                int(lead.get("line") or 0),
                now,
                self.node,
            )
            for lead in leads
        ]
        self._writer.submit(
            lambda db: db.executemany(
                "INSERT INTO campaign_leads (campaign, number, timezone, fields, line,"
                " updated_at, node) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign, number)"
                " DO UPDATE SET timezone = excluded.timezone, fields = excluded.fields,"
                " line = excluded.line, updated_at = excluded.updated_at",
                rows,
            )
        )

    def campaign_leads(self, campaign: str) -> list[dict[str, Any]]:
        """A campaign's leads, in the order they were imported (CSV line)."""
        rows = self._rows(
            f"SELECT {_LEAD_COLUMNS} FROM campaign_leads WHERE campaign = ?"  # noqa: S608 (a constant formatted in; values bound)
            " ORDER BY line, number",
            (campaign,),
        )
        return [_lead(row) for row in rows]

    def save_attempt(
        self,
        attempt: Mapping[str, Any],
        lead: Mapping[str, Any],
        kind: str = "campaign.attempt",
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Update an attempt's row, its lead's row and write the event ``kind``, in one
        transaction; the event's id."""
        write, event = _attempt_write(attempt, lead, data, self.node, claim=False)
        return self._submit_event(kind, str(attempt["id"]), event, dt.datetime.now(dt.UTC), write)

    def due_leads(
        self, campaign: str, now: float, *, after: tuple[int, str] = (-1, ""), limit: int = 200
    ) -> list[dict[str, Any]]:
        """A campaign's leads ready and due at ``now``, in import order, ``limit`` at a time
        from past ``after`` (the last one's ``(line, number)``): one index range, not the list."""
        rows = self._rows(
            f"SELECT {_LEAD_COLUMNS} FROM campaign_leads"  # noqa: S608 (a constant formatted in; values bound)
            " WHERE campaign = ? AND state = 'ready' AND next_at <= ? AND (line, number) > (?, ?)"
            " ORDER BY line, number LIMIT ?",
            (campaign, now, after[0], after[1], limit),
        )
        return [_lead(row) for row in rows]

    async def claim_attempt(
        self,
        attempt: Mapping[str, Any],
        lead: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
    ) -> bool:
        """Write a new attempt's row (``dialing``), its lead's and a ``campaign.attempt`` event,
        and wait until they are committed: True, the call may be placed; False, this attempt
        of this number was already written (by a former life): it is never placed twice."""
        write, event = _attempt_write(attempt, lead, data, self.node, claim=True)
        text = to_json(event)
        when = dt.datetime.now(dt.UTC).isoformat()
        with self._id_lock:
            event_id = self._next_id
            self._next_id += 1
            row = (event_id, when, "campaign.attempt", str(attempt["id"]), text, self.node)
            future = self._writer.call(lambda db: write(db, row))
        try:
            await asyncio.wrap_future(future)
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                return False
            raise
        return True

    def campaign_attempts(self, campaign: str) -> list[dict[str, Any]]:
        """Every call a campaign placed, oldest first."""
        rows = self._rows(
            "SELECT id, campaign, number, attempt, state, outcome, dialed_at, ended_at, data"
            " FROM campaign_attempts WHERE campaign = ? ORDER BY dialed_at, id",
            (campaign,),
        )
        names = ("id", "campaign", "number", "attempt", "state", "outcome", "dialed_at")
        return [
            {**dict(zip(names, row[:7], strict=True)), "ended_at": row[7], "data": json.loads(d)}
            for *row, d in rows
        ]

    def set_campaign_state(self, campaign: str, state: str) -> None:
        """Mark a campaign running, paused or stopped (the running app follows it)."""
        row = (campaign, state, time.time(), self.node)
        self._writer.submit(
            lambda db: db.execute(
                "INSERT INTO campaigns (name, state, updated_at, node) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET state = excluded.state,"
                " updated_at = excluded.updated_at",
                row,
            )
        )

    def campaign_states(self) -> dict[str, str]:
        """Each campaign's state, by name (campaigns never started are absent)."""
        return dict(self._rows("SELECT name, state FROM campaigns"))

    async def campaign_states_async(self) -> dict[str, str]:
        """:meth:`campaign_states` in a worker thread."""
        return await asyncio.to_thread(self.campaign_states)

    def unended_calls(self, since: dt.datetime) -> dict[str, dt.datetime]:
        """Calls started since then that have no ``call.end``: each with the time of its
        last event (after a crash, the best known time of its end)."""
        sql = (
            "SELECT call_id, max(at) FROM event_log WHERE call_id IN ("
            " SELECT call_id FROM event_log WHERE kind = 'call.start' AND at >= ?"
            " EXCEPT SELECT call_id FROM event_log WHERE kind = 'call.end' AND at >= ?"
            ") GROUP BY call_id"
        )
        start = _iso(since)
        rows = self._rows(sql, (start, start))
        return {call: dt.datetime.fromisoformat(at) for call, at in rows}

    def latest(self, kind: str, key: str) -> dict[str, EventRecord]:
        """The newest event of a kind for each value of ``data[key]`` (e.g. each agent's last
        ``agent.state``), without reading the whole history."""
        if not key.isidentifier():
            raise ValueError(f"not a plain key: {key!r}")
        sql = (
            f"SELECT {_EVENT_COLUMNS} FROM event_log WHERE id IN ("  # noqa: S608 (constants formatted in; values bound)
            " SELECT max(id) FROM event_log WHERE kind = ? GROUP BY json_extract(data, ?))"
            " ORDER BY id"
        )
        latest: dict[str, EventRecord] = {}
        for row in self._rows(sql, (kind, f"$.{key}")):
            record = _record(row)
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
        kinds: Sequence[str] | None = None,
    ) -> list[EventRecord]:
        """Events in order, optionally of one call, one kind, and from a time on; ``kinds``:
        only these (one ending in ``.`` stands for every kind it begins)."""
        sql = f"SELECT {_EVENT_COLUMNS} FROM event_log"  # noqa: S608 (constants formatted in; values bound)
        where, args = [], []
        if since is not None:
            # (kind, at) is indexed.
            where.append("at >= ?")
            args.append(_iso(since))
        if call_id is not None:
            where.append("call_id = ?")
            args.append(call_id)
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if kinds is not None:
            # A prefix "queue." is the range ["queue.", "queue/"): '/' follows '.'.
            ranges = ["(kind >= ? AND kind < ?)" if k.endswith(".") else "kind = ?" for k in kinds]
            where.append("(" + (" OR ".join(ranges) or "0") + ")")
            for k in kinds:
                args.extend([k, k[:-1] + "/"] if k.endswith(".") else [k])
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_record(row) for row in self._rows(sql + " ORDER BY id", args)]

    async def events_async(
        self,
        *,
        call_id: str | None = None,
        kind: str | None = None,
        since: dt.datetime | None = None,
    ) -> list[EventRecord]:
        """:meth:`events`, read in a worker thread."""
        return await asyncio.to_thread(self.events, call_id=call_id, kind=kind, since=since)

    def last_agent_sync(self, caller: str, since: float) -> str | None:
        """The agent of ``caller``'s most recent answered queue call, if it was answered at
        ``since`` (seconds since the epoch) or later: one probe of the ``last_agents`` index,
        on the calling thread."""
        sql = "SELECT agent FROM last_agents WHERE caller = ? AND at >= ?"
        rows = self._rows(sql, (caller, since))
        return str(rows[0][0]) if rows else None

    async def last_agent(self, caller: str, since: float) -> str | None:
        """:meth:`last_agent_sync` in a worker thread: what a queue join asks."""
        return await asyncio.to_thread(self.last_agent_sync, caller, since)

    # --- retention -------------------------------------------------------------------------

    def prune(self, before: dt.datetime) -> int:
        """Delete the events older than ``before``, and last-agent rows as old; how many
        events went. Kept whatever their age: every event of a call with no ``call.end``
        (a call in progress, or one a restart must settle), of a caller still waiting in
        a queue or of a callback not yet over, and the newest event of each
        :data:`KEEP_LATEST` kind and key (each agent's last state). Waiting queue entries
        and callbacks are never pruned.

        Deletes in chunks of :data:`PRUNE_CHUNK`, each its own transaction on the writer,
        so that calls' writes pass in between; this thread waits, so from the event loop
        use :meth:`prune_async`."""
        cutoff = _iso(before)
        self._writer.call(_mark_kept).result()
        deleted = 0
        try:
            while True:
                chunk: int = self._writer.call(lambda db: _delete_chunk(db, cutoff)).result()
                deleted += chunk
                if chunk < PRUNE_CHUNK:
                    break
        finally:
            self._writer.call(lambda db: _forget_old(db, before.timestamp())).result()
        if deleted:
            log.info("store %s: pruned %d events from before %s", self.path, deleted, cutoff)
        return deleted

    async def prune_async(self, before: dt.datetime) -> int:
        """:meth:`prune` in a worker thread."""
        return await asyncio.to_thread(self.prune, before)


def _release(writer: Writer, scratch: str | None) -> None:
    """Commit what is queued and close the writer; remove a ``:memory:`` store's file."""
    writer.close()
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


EventRow = tuple[int, str, str, str, str, str]


_LEAD_COLUMNS = (
    "campaign, number, timezone, fields, line, state, attempts, next_at, last_outcome, abandoned_at"
)


def _lead(row: tuple[Any, ...]) -> dict[str, Any]:
    names = [name.strip() for name in _LEAD_COLUMNS.split(",")]
    lead = dict(zip(names, row, strict=True))
    lead["fields"] = json.loads(lead["fields"])
    return lead


def _attempt_write(
    attempt: Mapping[str, Any],
    lead: Mapping[str, Any],
    data: Mapping[str, Any] | None,
    node: str,
    *,
    claim: bool,
) -> tuple[Callable[[sqlite3.Connection, EventRow], None], dict[str, Any]]:
    """The write of an attempt's row, its lead's row and its event; and the event's data."""
    row = (
        attempt["id"],
        attempt["campaign"],
        attempt["number"],
        int(attempt["attempt"]),
        attempt["state"],
        attempt.get("outcome"),
        float(attempt["dialed_at"]),
        attempt.get("ended_at"),
        to_json(attempt.get("data") or {}),
        node,
    )
    lead_row = (
        lead["state"],
        int(lead["attempts"]),
        float(lead.get("next_at") or 0.0),
        lead.get("last_outcome"),
        lead.get("abandoned_at"),
        time.time(),
        lead["campaign"],
        lead["number"],
    )
    insert = (
        "INSERT INTO campaign_attempts (id, campaign, number, attempt, state, outcome,"
        " dialed_at, ended_at, data, node) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    if not claim:  # a claimed attempt's later states
        insert += (
            " ON CONFLICT (id) DO UPDATE SET state = excluded.state, outcome = excluded.outcome,"
            " ended_at = excluded.ended_at, data = excluded.data"
        )

    def write(db: sqlite3.Connection, event: EventRow) -> None:
        db.execute(insert, row)
        db.execute(
            "UPDATE campaign_leads SET state = ?, attempts = ?, next_at = ?, last_outcome = ?,"
            " abandoned_at = coalesce(?, abandoned_at), updated_at = ?"
            " WHERE campaign = ? AND number = ?",
            lead_row,
        )
        _insert_event(db, event, None)

    event = {"campaign": attempt["campaign"], "number": attempt["number"], **(data or {})}
    event.update(attempt=int(attempt["attempt"]), state=attempt["state"])
    if attempt.get("outcome"):
        event["outcome"] = attempt["outcome"]
    return write, event


def _save_callback(db: sqlite3.Connection, row: tuple[Any, ...]) -> None:
    db.execute(
        "INSERT INTO callbacks (id, queue, number, state, requested_at, updated_at, data, node)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET queue = excluded.queue,"
        " number = excluded.number, state = excluded.state, updated_at = excluded.updated_at,"
        " data = excluded.data, node = excluded.node",
        row,
    )


def _insert_event(
    db: sqlite3.Connection,
    row: EventRow,
    answered: tuple[str, str, float] | None,
) -> None:
    sql = "INSERT INTO event_log (id, at, kind, call_id, data, node) VALUES (?, ?, ?, ?, ?, ?)"
    try:
        db.execute(sql, row)
    except sqlite3.IntegrityError:
        # Another process wrote this id meanwhile: keep the event under a fresh one.
        log.warning("event id %d is taken: another process writes to this store", row[0])
        db.execute(sql, (None, *row[1:]))
    if answered is not None:
        db.execute(REMEMBER_AGENT, (*answered, row[5]))


def _mark_kept(db: sqlite3.Connection) -> None:
    db.execute("CREATE TEMP TABLE IF NOT EXISTS prune_calls (call_id TEXT PRIMARY KEY)")
    db.execute("CREATE TEMP TABLE IF NOT EXISTS prune_ids (id INTEGER PRIMARY KEY)")
    db.execute("DELETE FROM temp.prune_calls")
    db.execute("DELETE FROM temp.prune_ids")
    db.execute(
        "INSERT OR IGNORE INTO temp.prune_calls"
        " SELECT call_id FROM event_log WHERE kind = 'call.start' AND call_id != ''"
        " EXCEPT SELECT call_id FROM event_log WHERE kind = 'call.end'"
    )
    db.execute("INSERT OR IGNORE INTO temp.prune_calls SELECT id FROM queue_entries")
    db.execute(
        "INSERT OR IGNORE INTO temp.prune_calls SELECT coalesce(nullif(json_extract(data,"  # noqa: S608 (constants formatted in; values bound)
        f" '$.call_id'), ''), id) FROM callbacks WHERE {LIVE_CALLBACK}"
    )
    for kind, key in KEEP_LATEST:
        db.execute(
            "INSERT OR IGNORE INTO temp.prune_ids SELECT max(id) FROM event_log"
            " WHERE kind = ? GROUP BY json_extract(data, ?)",
            (kind, f"$.{key}"),
        )


def _delete_chunk(db: sqlite3.Connection, cutoff: str) -> int:
    cursor = db.execute(
        "DELETE FROM event_log WHERE id IN (SELECT id FROM event_log WHERE at < ?"
        " AND call_id NOT IN temp.prune_calls AND id NOT IN temp.prune_ids"
        " ORDER BY id LIMIT ?)",
        (cutoff, PRUNE_CHUNK),
    )
    return int(cursor.rowcount)


def _forget_old(db: sqlite3.Connection, before: float) -> None:
    db.execute("DELETE FROM last_agents WHERE at < ?", (before,))
    db.execute("DELETE FROM temp.prune_calls")
    db.execute("DELETE FROM temp.prune_ids")


if TYPE_CHECKING:  # SqliteStore keeps the Store protocol's promises, checked by mypy
    _: Store = SqliteStore(":memory:")
