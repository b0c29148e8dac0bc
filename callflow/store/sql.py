"""What the SQL stores share: every query and write of the :class:`Store` protocol, written
once for SQLite (``callflow.store.sqlite``, one node) and PostgreSQL
(``callflow.store.postgres``, several nodes). A subclass gives the connections, the event
ids and the few phrases the two dialects say differently (:class:`Dialect`).

SQL is written with ``?`` placeholders; the PostgreSQL connection turns them into ``%s``.
Nothing here makes the event loop wait for the database. Writes are queued to one writer
thread (:mod:`callflow.store.writer`), which commits them in batches; reads first wait for
the writes made before them (read-your-writes), then run on a connection of their own
thread. The ``async`` reads run in a worker thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import functools
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from callflow.store.base import EventRecord
from callflow.store.errors import StoreClosed, StoreError
from callflow.store.nodes import STALE_AFTER, NodeLife, may_claim
from callflow.store.schema import LIVE_CALLBACK, REMEMBER_AGENT, answered_call
from callflow.store.writer import StoreHealth, Writer

log = logging.getLogger(__name__)

PRUNE_CHUNK = 5000
"""Events deleted per transaction while pruning, so that other writes pass in between."""

KEEP_LATEST = (("agent.state", "agent"),)
"""(kind, key) whose newest event per key value survives any pruning: each agent's last
state, which callflow restores its agents from after a restart."""

EVENT_COLUMNS = "id, at, kind, call_id, data, node"
_NODE_COLUMNS = "name, host, pid, life, started_at, seen_at"

EventRow = tuple[int, str, str, str, str, str]


class Cursor(Protocol):
    """What a query gives back, on either database."""

    @property
    def rowcount(self) -> int: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


class Db(Protocol):
    """A connection as the writes and reads use it: ``sqlite3.Connection`` is one."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


class Reader(Protocol):
    """A connection one thread reads on."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """The phrases SQLite and PostgreSQL say differently."""

    json_text: Callable[[str], str]
    """SQL for a JSON text column's member, the member's name bound as the next ``?``."""
    json_key: Callable[[str], str]
    """The value bound for that member's name."""
    temp: str
    """The schema of temporary tables, as a prefix."""
    insert_ignore: Callable[[str, str], str]
    """``INSERT INTO table <select>`` that skips rows already there."""
    unique_violation: type[Exception]
    """What a write breaking a UNIQUE constraint raises."""
    for_update: str = ""
    """The suffix of a SELECT that locks the rows it reads until the transaction ends
    (SQLite's writer holds the whole file already)."""


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


class SqlStore:
    """The :class:`~callflow.store.base.Store` over SQL; a subclass sets ``path``, ``node``,
    ``dialect`` and ``_writer``, and gives :meth:`_new_event_id`, :meth:`_rows`,
    :meth:`_insert_event` and :meth:`close`."""

    path: str
    node: str
    dialect: Dialect
    _writer: Writer
    shared = False
    """Whether several nodes write this store (PostgreSQL): then "mine" (the ``mine=True``
    reads) is the rows this node wrote; a SQLite file is one node's, all of it."""

    def _mine(self, where: list[str], args: list[Any], mine: bool) -> None:
        """Add "written by this node" to a query's conditions, where it means something."""
        if mine and self.shared:
            where.append("node = ?")
            args.append(self.node)

    def __init__(self) -> None:
        self._id_lock = threading.Lock()
        # Each worker thread reads on its own connection; its lock is held for the whole
        # query, so that close() never closes a connection under a running statement
        # (sqlite3 then crashes the process, not just the query).
        self._readers: list[tuple[Reader, threading.Lock]] = []
        self._readers_lock = threading.Lock()
        self._local = threading.local()
        self._closed = False

    def _new_event_id(self) -> int:
        """The next event's id (called under the id lock, in the order of the writes)."""
        raise NotImplementedError

    def _open_reader(self) -> Reader:
        """A new connection for one thread's reads."""
        raise NotImplementedError

    def _query(self, db: Reader, sql: str, args: Sequence[Any]) -> list[Any]:
        """Run one read on this thread's connection."""
        return db.execute(sql, args).fetchall()

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """The rows of a query, after every write made before it."""
        self._writer.wait()
        db, in_use = self._reader()
        with in_use:
            if self._closed:  # close() set this before it took the lock
                raise StoreClosed(f"{self.path}: the store is closed")
            return self._query(db, sql, args)

    def _reader(self) -> tuple[Reader, threading.Lock]:
        """This thread's read connection and the lock held while it runs a query."""
        reader: tuple[Reader, threading.Lock] | None = getattr(self._local, "db", None)
        if reader is None:
            if self._closed:
                raise StoreClosed(f"{self.path}: the store is closed")
            db = self._open_reader()
            reader = (db, threading.Lock())
            with self._readers_lock:
                if self._closed:
                    db.close()
                    raise StoreClosed(f"{self.path}: the store is closed")
                self._readers.append(reader)
            self._local.db = reader
        return reader

    def _forget_reader(self) -> None:
        """Drop this thread's read connection (it broke): the next read opens another."""
        reader: tuple[Reader, threading.Lock] | None = getattr(self._local, "db", None)
        if reader is None:
            return
        self._local.db = None
        with self._readers_lock:
            if reader in self._readers:
                self._readers.remove(reader)
        with contextlib.suppress(Exception):
            reader[0].close()

    def _close_readers(self) -> None:
        """Mark the store closed and close every thread's read connection."""
        self._closed = True
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for db, in_use in readers:
            with in_use:
                db.close()

    def _insert_event(self, db: Db, row: EventRow, answered: tuple[str, str, float] | None) -> None:
        """Write one event's row (and the last-agent index's, for an answered call)."""
        raise NotImplementedError

    def close(self) -> None:
        """Commit the pending writes, then close the database."""
        raise NotImplementedError

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
            kind, call_id, data, when, lambda db, row: self._insert_event(db, row, answered)
        )

    def _submit_event(
        self,
        kind: str,
        call_id: str,
        data: Mapping[str, Any] | None,
        when: dt.datetime,
        write: Callable[[Db, EventRow], None],
    ) -> int:
        """Give the event its id and queue ``write`` of its row, in id order."""
        # Encoded here, not in the writer: the caller may change ``data`` once we return.
        text = to_json(data or {})
        with self._id_lock:
            event_id = self._new_event_id()
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

        def write(db: Db, event: EventRow) -> None:
            _save_callback(db, row)
            self._insert_event(db, event, None)

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
                "INSERT INTO queue_entries (id, queue, kind, joined_at, data, node) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET queue = excluded.queue,"
                " kind = excluded.kind, joined_at = excluded.joined_at, data = excluded.data,"
                " node = excluded.node",
                row,
            )
        )

    def delete_queue_entry(self, entry_id: str) -> None:
        """Forget an entry that left its queue."""
        self._writer.submit(
            lambda db: db.execute("DELETE FROM queue_entries WHERE id = ?", (entry_id,))
        )

    # --- who runs under this node's name (callflow.store.nodes) ------------------------

    def claim_node(
        self, me: NodeLife, *, stale_after: float = STALE_AFTER, timeout: float = 15.0
    ) -> NodeLife | None:
        """Take ``me.name`` for this process; None once it is ours, or the running process
        that holds it (and keeps it). Waits for the commit (at most ``timeout`` seconds:
        then :class:`StoreError`)."""
        dialect = self.dialect

        def claim(db: Db) -> NodeLife | None:
            now = time.time()
            row = (me.host, me.pid, me.life, now, now, me.name)
            db.execute(
                "INSERT INTO nodes (host, pid, life, started_at, seen_at, name)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                row,
            )
            found = db.execute(
                f"SELECT {_NODE_COLUMNS} FROM nodes WHERE name = ?{dialect.for_update}",  # noqa: S608 (constants formatted in; values bound)
                (me.name,),
            ).fetchone()
            holder = NodeLife(*found)
            if not may_claim(holder, me, now, stale_after=stale_after):
                return holder
            db.execute(
                "UPDATE nodes SET host = ?, pid = ?, life = ?, started_at = ?, seen_at = ?"
                " WHERE name = ?",
                row,
            )
            return None

        try:
            held: NodeLife | None = self._writer.call(claim).result(timeout)
        except TimeoutError:
            message = f"{self.path}: could not claim the node name within {timeout} s"
            raise StoreError(message) from None
        return held

    def node_seen(self, me: NodeLife) -> concurrent.futures.Future[bool]:
        """Say this process is alive; the future holds False if the name is no longer ours
        (another process took it over: this one was not heard of for too long)."""

        def seen(db: Db) -> bool:
            cursor = db.execute(
                "UPDATE nodes SET seen_at = ? WHERE name = ? AND life = ?",
                (time.time(), me.name, me.life),
            )
            return cursor.rowcount == 1

        return self._writer.call(seen)

    def release_node(self, me: NodeLife) -> None:
        """Let the name go (a clean stop); a name another process holds is left alone."""
        self._writer.submit(
            lambda db: db.execute(
                "DELETE FROM nodes WHERE name = ? AND life = ?", (me.name, me.life)
            )
        )

    def nodes(self) -> list[NodeLife]:
        """Who holds which name, by name."""
        rows = self._rows(f"SELECT {_NODE_COLUMNS} FROM nodes ORDER BY name")  # noqa: S608 (a constant)
        return [NodeLife(*row) for row in rows]

    def flush(self) -> None:
        """Return once every write made so far is committed."""
        self._writer.wait()

    @property
    def pending(self) -> int:
        """Writes queued and not yet committed."""
        return self._writer.pending

    @property
    def health(self) -> StoreHealth:
        """Whether writes reach the database now; while it refuses them (disk full or
        read-only, server down), how many are held in memory and since when (see
        :mod:`callflow.store.writer`)."""
        return self._writer.health

    # --- reads: after the writes made before them -----------------------------------------

    def queue_entries(
        self, queue: str | None = None, *, mine: bool = False
    ) -> list[dict[str, Any]]:
        """Waiting entries in join order (one queue, or all; ``mine``: this node's)."""
        where: list[str] = []
        args: list[Any] = []
        if queue is not None:
            where.append("queue = ?")
            args.append(queue)
        self._mine(where, args, mine)
        sql = "SELECT data FROM queue_entries WHERE " + " AND ".join(where or ["TRUE"])  # noqa: S608 (constants formatted in; values bound)
        rows = self._rows(sql + " ORDER BY joined_at, id", args)
        return [json.loads(data) for (data,) in rows]

    def live_callbacks(
        self, queue: str | None = None, *, mine: bool = False
    ) -> list[dict[str, Any]]:
        """Callbacks not yet over, in request order (one queue, or all; ``mine``: those of
        this node, the one that dials them)."""
        where, args = [LIVE_CALLBACK], []
        if queue is not None:
            where.append("queue = ?")
            args.append(queue)
        self._mine(where, args, mine)
        sql = "SELECT data FROM callbacks WHERE " + " AND ".join(where)  # noqa: S608 (constants formatted in; values bound)
        rows = self._rows(sql + " ORDER BY requested_at, id", args)
        return [json.loads(data) for (data,) in rows]

    async def live_callbacks_async(
        self, queue: str | None = None, *, mine: bool = False
    ) -> list[dict[str, Any]]:
        """:meth:`live_callbacks` in a worker thread."""
        return await asyncio.to_thread(functools.partial(self.live_callbacks, queue, mine=mine))

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
        write, event = self._attempt_write(attempt, lead, data, claim=False)
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
        write, event = self._attempt_write(attempt, lead, data, claim=True)
        text = to_json(event)
        when = dt.datetime.now(dt.UTC).isoformat()
        with self._id_lock:
            event_id = self._new_event_id()
            row = (event_id, when, "campaign.attempt", str(attempt["id"]), text, self.node)
            future = self._writer.call(lambda db: write(db, row))
        try:
            await asyncio.wrap_future(future)
        except StoreError as exc:
            if isinstance(exc.__cause__, self.dialect.unique_violation):
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

    def unended_calls(self, since: dt.datetime, *, mine: bool = False) -> dict[str, dt.datetime]:
        """Calls started since then that have no ``call.end``: each with the time of its
        last event (after a crash, the best known time of its end); ``mine``: the calls
        this node started."""
        start = _iso(since)
        where, args = ["kind = 'call.start'", "at >= ?"], [start]
        self._mine(where, args, mine)
        sql = (
            "SELECT call_id, max(at) FROM event_log WHERE call_id IN ("  # noqa: S608 (constants formatted in; values bound)
            f" SELECT call_id FROM event_log WHERE {' AND '.join(where)}"
            " EXCEPT SELECT call_id FROM event_log WHERE kind = 'call.end' AND at >= ?"
            ") GROUP BY call_id"
        )
        rows = self._rows(sql, (*args, start))
        return {call: dt.datetime.fromisoformat(at) for call, at in rows}

    def latest(
        self, kind: str, key: str, *, before: dt.datetime | None = None, mine: bool = False
    ) -> dict[str, EventRecord]:
        """The newest event of a kind for each value of ``data[key]`` (e.g. each agent's last
        ``agent.state``; the last one before ``before``, if given; ``mine``: of those this
        node wrote), without reading the whole history."""
        if not key.isidentifier():
            raise ValueError(f"not a plain key: {key!r}")
        where, args = ["kind = ?"], [kind]
        if before is not None:
            where.append("at < ?")
            args.append(_iso(before))
        self._mine(where, args, mine)
        sql = (
            f"SELECT {EVENT_COLUMNS} FROM event_log WHERE id IN ("  # noqa: S608 (constants formatted in; values bound)
            f" SELECT max(id) FROM event_log WHERE {' AND '.join(where)}"
            f" GROUP BY {self.dialect.json_text('data')}) ORDER BY id"
        )
        latest: dict[str, EventRecord] = {}
        for row in self._rows(sql, [*args, self.dialect.json_key(key)]):
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
        sql = f"SELECT {EVENT_COLUMNS} FROM event_log"  # noqa: S608 (constants formatted in; values bound)
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
            where.append("(" + (" OR ".join(ranges) or "FALSE") + ")")
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
        self._writer.call(self._mark_kept).result()
        deleted = 0
        try:
            while True:
                chunk: int = self._writer.call(lambda db: self._delete_chunk(db, cutoff)).result()
                deleted += chunk
                if chunk < PRUNE_CHUNK:
                    break
        finally:
            self._writer.call(lambda db: self._forget_old(db, before.timestamp())).result()
        if deleted:
            log.info("store %s: pruned %d events from before %s", self.path, deleted, cutoff)
        return deleted

    async def prune_async(self, before: dt.datetime) -> int:
        """:meth:`prune` in a worker thread."""
        return await asyncio.to_thread(self.prune, before)

    def _mark_kept(self, db: Db) -> None:
        temp, d = self.dialect.temp, self.dialect
        db.execute("CREATE TEMP TABLE IF NOT EXISTS prune_calls (call_id TEXT PRIMARY KEY)")
        db.execute("CREATE TEMP TABLE IF NOT EXISTS prune_ids (id BIGINT PRIMARY KEY)")
        db.execute(f"DELETE FROM {temp}prune_calls")  # noqa: S608 (constants formatted in)
        db.execute(f"DELETE FROM {temp}prune_ids")  # noqa: S608 (constants formatted in)
        db.execute(
            d.insert_ignore(
                f"{temp}prune_calls",
                "SELECT call_id FROM event_log WHERE kind = 'call.start' AND call_id != ''"
                " EXCEPT SELECT call_id FROM event_log WHERE kind = 'call.end'",
            )
        )
        db.execute(d.insert_ignore(f"{temp}prune_calls", "SELECT id FROM queue_entries"))
        db.execute(
            d.insert_ignore(
                f"{temp}prune_calls",
                f"SELECT coalesce(nullif({d.json_text('data')}, ''), id) FROM callbacks"  # noqa: S608 (constants formatted in; values bound)
                f" WHERE {LIVE_CALLBACK}",
            ),
            (d.json_key("call_id"),),
        )
        for kind, key in KEEP_LATEST:
            db.execute(
                d.insert_ignore(
                    f"{temp}prune_ids",
                    "SELECT max(id) FROM event_log"  # noqa: S608 (constants formatted in; values bound)
                    f" WHERE kind = ? GROUP BY {d.json_text('data')}",
                ),
                (kind, d.json_key(key)),
            )

    def _delete_chunk(self, db: Db, cutoff: str) -> int:
        temp = self.dialect.temp
        cursor = db.execute(
            "DELETE FROM event_log WHERE id IN (SELECT id FROM event_log WHERE at < ?"  # noqa: S608 (constants formatted in; values bound)
            f" AND call_id NOT IN (SELECT call_id FROM {temp}prune_calls)"
            f" AND id NOT IN (SELECT id FROM {temp}prune_ids)"
            " ORDER BY id LIMIT ?)",
            (cutoff, PRUNE_CHUNK),
        )
        return int(cursor.rowcount)

    def _forget_old(self, db: Db, before: float) -> None:
        temp = self.dialect.temp
        db.execute("DELETE FROM last_agents WHERE at < ?", (before,))
        db.execute(f"DELETE FROM {temp}prune_calls")  # noqa: S608 (constants formatted in)
        db.execute(f"DELETE FROM {temp}prune_ids")  # noqa: S608 (constants formatted in)

    def _attempt_write(
        self,
        attempt: Mapping[str, Any],
        lead: Mapping[str, Any],
        data: Mapping[str, Any] | None,
        *,
        claim: bool,
    ) -> tuple[Callable[[Db, EventRow], None], dict[str, Any]]:
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
            self.node,
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
                " ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
                " outcome = excluded.outcome, ended_at = excluded.ended_at, data = excluded.data"
            )

        def write(db: Db, event: EventRow) -> None:
            db.execute(insert, row)
            db.execute(
                "UPDATE campaign_leads SET state = ?, attempts = ?, next_at = ?,"
                " last_outcome = ?, abandoned_at = coalesce(?, abandoned_at), updated_at = ?"
                " WHERE campaign = ? AND number = ?",
                lead_row,
            )
            self._insert_event(db, event, None)

        event = {"campaign": attempt["campaign"], "number": attempt["number"], **(data or {})}
        event.update(attempt=int(attempt["attempt"]), state=attempt["state"])
        if attempt.get("outcome"):
            event["outcome"] = attempt["outcome"]
        return write, event


_LEAD_COLUMNS = (
    "campaign, number, timezone, fields, line, state, attempts, next_at, last_outcome, abandoned_at"
)


def _lead(row: tuple[Any, ...]) -> dict[str, Any]:
    names = [name.strip() for name in _LEAD_COLUMNS.split(",")]
    lead = dict(zip(names, row, strict=True))
    lead["fields"] = json.loads(lead["fields"])
    return lead


def _save_callback(db: Db, row: tuple[Any, ...]) -> None:
    # A callback stays the node's that took it (the one that dials it): a change written
    # under another node's name (`callflow callbacks cancel` run with its settings) is not
    # a move.
    db.execute(
        "INSERT INTO callbacks (id, queue, number, state, requested_at, updated_at, data, node)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET queue = excluded.queue,"
        " number = excluded.number, state = excluded.state, updated_at = excluded.updated_at,"
        " data = excluded.data",
        row,
    )


def remember_agent(db: Db, answered: tuple[str, str, float], node: str) -> None:
    """Upsert one answered call into the last-agent index."""
    db.execute(REMEMBER_AGENT, (*answered, node))
