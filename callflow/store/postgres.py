"""The multi-node store on PostgreSQL: the same tables, queries and promises as the SQLite
store (:class:`~callflow.store.sql.SqlStore`), on a server that several callflow nodes
share. Each row says which node wrote it (``node``).

What differs from SQLite, and why:

- **Event ids** come from one sequence, so two nodes never hand out the same id. ``append``
  must return at once, so ids are taken :data:`ID_BLOCK` at a time, and a node keeps one to
  two blocks at hand: the next is fetched in the background as soon as less than a whole
  block is left. Should a burst outrun that, or
  the server be unreachable when the ids run out, the event is written with the id the
  sequence gives at commit time, and ``append`` returns 0 for it.
- **The server can go away** (a restart, a failover, the network): the writer then holds
  the writes in memory, in order, and commits them once it can connect again, as it does
  for a full disk with SQLite (:mod:`callflow.store.writer`). A read while the server is
  away raises :class:`~callflow.store.errors.StoreUnavailable`; the next read connects
  again.
- **Migrations** are numbered in a ``callflow_schema`` table, run in one transaction under
  an advisory lock, so nodes starting together upgrade the schema once.

The connection string is libpq's (``postgresql://user@host:port/dbname`` or
``host=... dbname=...``). A password belongs in ``~/.pgpass`` or ``PGPASSWORD``; one in the
string is used, never logged (:func:`describe_dsn`).
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import time
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import conninfo, errors

from callflow.store.base import Store
from callflow.store.errors import SchemaTooNew, StoreError, StoreUnavailable
from callflow.store.schema import LIVE_CALLBACK
from callflow.store.sql import Cursor, Db, Dialect, EventRow, SqlStore, remember_agent
from callflow.store.writer import Write, Writer

log = logging.getLogger(__name__)

ID_BLOCK = 1000
"""Event ids taken from the server at a time (one round trip per thousand events)."""

CONNECT_TIMEOUT = 5
"""Seconds to reach the server before a connection attempt counts as failed."""

ID_RETRY = 1.0
"""Seconds before ids are asked for again after the server could not give them."""

POSTGRES = Dialect(
    json_text=lambda column: f"({column}::json ->> ?)",
    json_key=lambda key: key,
    temp="pg_temp.",
    insert_ignore=lambda table, select: f"INSERT INTO {table} {select} ON CONFLICT DO NOTHING",
    unique_violation=errors.UniqueViolation,
    for_update=" FOR UPDATE",
)

_FAULTS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,  # cannot connect, connection lost, server shutting down, disk full
    errors.ReadOnlySqlTransaction,  # a standby, or default_transaction_read_only
)

_SCHEMA: tuple[tuple[str, ...], ...] = (
    (
        "CREATE SEQUENCE event_ids",
        """CREATE TABLE event_log (
            id       BIGINT PRIMARY KEY DEFAULT nextval('event_ids'),
            at       TEXT COLLATE "C"   NOT NULL,          -- ISO 8601, UTC (sorts as text)
            kind     TEXT COLLATE "C"   NOT NULL,
            call_id  TEXT COLLATE "C"   NOT NULL DEFAULT '',
            data     TEXT COLLATE "C"   NOT NULL DEFAULT '{}',   -- JSON, as written
            node     TEXT COLLATE "C"   NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX event_log_call ON event_log (call_id, id)",
        "CREATE INDEX event_log_kind ON event_log (kind, at)",
        """CREATE TABLE queue_entries (
            id        TEXT COLLATE "C" PRIMARY KEY,
            queue     TEXT COLLATE "C" NOT NULL,
            kind      TEXT COLLATE "C" NOT NULL DEFAULT 'caller',
            joined_at DOUBLE PRECISION NOT NULL,
            data      TEXT COLLATE "C" NOT NULL,
            node      TEXT COLLATE "C" NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX queue_entries_queue ON queue_entries (queue, joined_at)",
        """CREATE TABLE last_agents (
            caller TEXT COLLATE "C" PRIMARY KEY,
            agent  TEXT COLLATE "C" NOT NULL,
            at     DOUBLE PRECISION NOT NULL,
            node   TEXT COLLATE "C" NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE callbacks (
            id           TEXT COLLATE "C" PRIMARY KEY,
            queue        TEXT COLLATE "C" NOT NULL,
            number       TEXT COLLATE "C" NOT NULL,
            state        TEXT COLLATE "C" NOT NULL,
            requested_at DOUBLE PRECISION NOT NULL,
            updated_at   DOUBLE PRECISION NOT NULL,
            data         TEXT COLLATE "C" NOT NULL,
            node         TEXT COLLATE "C" NOT NULL DEFAULT ''
        )""",
        f"CREATE INDEX callbacks_live ON callbacks (requested_at, id) WHERE {LIVE_CALLBACK}",
        f"CREATE INDEX callbacks_number ON callbacks (queue, number) WHERE {LIVE_CALLBACK}",
        """CREATE TABLE campaigns (
            name       TEXT COLLATE "C" PRIMARY KEY,
            state      TEXT COLLATE "C" NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            node       TEXT COLLATE "C" NOT NULL DEFAULT ''
        )""",
        """CREATE TABLE campaign_leads (
            campaign     TEXT COLLATE "C" NOT NULL,
            number       TEXT COLLATE "C" NOT NULL,
            timezone     TEXT COLLATE "C",
            fields       TEXT COLLATE "C" NOT NULL DEFAULT '{}',
            line         INTEGER NOT NULL DEFAULT 0,
            state        TEXT COLLATE "C" NOT NULL DEFAULT 'ready',
            attempts     INTEGER NOT NULL DEFAULT 0,
            next_at      DOUBLE PRECISION NOT NULL DEFAULT 0,
            last_outcome TEXT COLLATE "C",
            abandoned_at DOUBLE PRECISION,
            updated_at   DOUBLE PRECISION NOT NULL DEFAULT 0,
            node         TEXT COLLATE "C" NOT NULL DEFAULT '',
            PRIMARY KEY (campaign, number)
        )""",
        "CREATE INDEX campaign_leads_due ON campaign_leads (campaign, state, next_at)",
        """CREATE TABLE campaign_attempts (
            id        TEXT COLLATE "C" PRIMARY KEY,
            campaign  TEXT COLLATE "C" NOT NULL,
            number    TEXT COLLATE "C" NOT NULL,
            attempt   INTEGER NOT NULL,
            state     TEXT COLLATE "C" NOT NULL,
            outcome   TEXT COLLATE "C",
            dialed_at DOUBLE PRECISION NOT NULL,
            ended_at  DOUBLE PRECISION,
            data      TEXT COLLATE "C" NOT NULL DEFAULT '{}',
            node      TEXT COLLATE "C" NOT NULL DEFAULT '',
            UNIQUE (campaign, number, attempt)
        )""",
        "CREATE INDEX campaign_attempts_when ON campaign_attempts (campaign, dialed_at)",
    ),
    (
        """CREATE TABLE nodes (
            name       TEXT COLLATE "C" PRIMARY KEY,
            host       TEXT COLLATE "C" NOT NULL,
            pid        INTEGER NOT NULL,
            life       TEXT COLLATE "C" NOT NULL,
            started_at DOUBLE PRECISION NOT NULL,
            seen_at    DOUBLE PRECISION NOT NULL
        )""",
    ),
)
"""The migrations: step ``n`` takes the schema from version ``n - 1`` to ``n``. Version 1 is
the SQLite schema's version 5 and version 2 its version 6 (the tables and their meaning are
documented there, :mod:`callflow.store.schema`), with PostgreSQL's types. Every text column
compares byte by byte (``COLLATE "C"``, SQLite's BINARY), whatever the database's locale:
times are ISO 8601 text and kinds are matched by prefix ranges, and a language's collation
(ICU ``en-US`` ignores punctuation first) put ``…06+00:00`` after ``…06.5+00:00``."""

VERSION = len(_SCHEMA)
_MIGRATION_LOCK = 0x63616C6C666C6F77  # 'callflow': one advisory lock for every node


def describe_dsn(dsn: str) -> str:
    """Where the store is, for messages: ``postgresql://user@host:port/dbname``, never the
    password."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise StoreError(f"not a PostgreSQL connection string: {exc}") from None
    host = params.get("host") or "localhost"
    port = params.get("port") or "5432"
    user = f"{params['user']}@" if params.get("user") else ""
    return f"postgresql://{user}{host}:{port}/{params.get('dbname') or ''}"


@functools.lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """The shared SQL's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Connection:
    """A psycopg connection that speaks the shared SQL (:class:`~callflow.store.sql.Db`)."""

    def __init__(self, db: psycopg.Connection[Any]) -> None:
        self.db = db

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self.db.execute(_pg(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        with self.db.cursor() as cursor:
            cursor.executemany(_pg(sql), parameters)

    def close(self) -> None:
        self.db.close()

    @property
    def broken(self) -> bool:
        return self.db.closed or self.db.broken


def _connect(dsn: str) -> _Connection:
    db = psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    return _Connection(db)


class PostgresBackend:
    """The writer's connection to the server (:class:`~callflow.store.writer.Backend`),
    opened again after the server went away."""

    errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def __init__(self, dsn: str, name: str, db: _Connection | None = None) -> None:
        self.dsn = dsn
        self.name = name
        self._db = db

    def transaction(self, writes: Sequence[Write]) -> None:
        if self._db is None or self._db.broken:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._db = _connect(self.dsn)
        db = self._db
        with db.db.transaction():
            for write in writes:
                write(db)

    def is_fault(self, exc: BaseException) -> bool:
        return isinstance(exc, _FAULTS)

    def describe(self, exc: BaseException) -> str:
        return f"{type(exc).__name__}: {str(exc).strip()}"

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


class PostgresStore(SqlStore):
    """callflow's state in a PostgreSQL database that several nodes may share."""

    shared = True

    def __init__(self, dsn: str, *, node: str = "") -> None:
        super().__init__()
        self.dsn = dsn
        self.path = describe_dsn(dsn)
        self.node = node
        self.dialect = POSTGRES
        try:
            db = _connect(dsn)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"{self.path}: cannot connect: {exc}") from exc
        try:
            migrate(db, self.path)
            self._ids: deque[int] = deque(_fetch_ids(db, 2 * ID_BLOCK))
        except psycopg.Error as exc:  # e.g. a role that may not create the tables
            db.close()
            raise StoreError(f"{self.path}: cannot set up the store: {exc}") from exc
        except BaseException:
            db.close()
            raise
        self._ids_db: _Connection | None = None
        self._ids_worker = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="callflow-store-ids"
        )
        self._spare: concurrent.futures.Future[list[int]] | None = None
        self._ids_retry_at = 0.0  # time.monotonic(): no fetch before, after one failed
        self._writer = Writer(PostgresBackend(dsn, self.path, db))
        self._finalizer = weakref.finalize(self, _release, self._writer, self._ids_worker)

    # --- event ids ---------------------------------------------------------------------

    def _new_event_id(self) -> int:
        """The next id of this node's block; 0 when none is at hand (the sequence gives
        one at commit time). Never waits for the server."""
        spare = self._spare
        if spare is not None and spare.done():
            self._spare = None
            try:
                self._ids.extend(spare.result())
            except psycopg.Error as exc:
                if not self._ids_retry_at:  # once per outage, not once per event
                    log.warning("store %s: cannot take event ids: %s", self.path, exc)
                self._ids_retry_at = time.monotonic() + ID_RETRY
            else:
                self._ids_retry_at = 0.0
        if (
            len(self._ids) < ID_BLOCK
            and self._spare is None
            and time.monotonic() >= self._ids_retry_at
        ):
            self._spare = self._ids_worker.submit(self._fetch_spare)
        return self._ids.popleft() if self._ids else 0

    def _fetch_spare(self) -> list[int]:
        """A block of ids, on the ids thread's own connection (opened again if it broke)."""
        if self._ids_db is None or self._ids_db.broken:
            if self._ids_db is not None:
                self._ids_db.close()
            self._ids_db = None
            self._ids_db = _connect(self.dsn)
        return _fetch_ids(self._ids_db, ID_BLOCK)

    def _insert_event(self, db: Db, row: EventRow, answered: tuple[str, str, float] | None) -> None:
        if row[0]:
            db.execute(
                "INSERT INTO event_log (id, at, kind, call_id, data, node)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            )
        else:  # no id was at hand when it was appended: the sequence's next
            db.execute(
                "INSERT INTO event_log (at, kind, call_id, data, node) VALUES (?, ?, ?, ?, ?)",
                row[1:],
            )
        if answered is not None:
            remember_agent(db, answered, row[5])

    # --- reads -------------------------------------------------------------------------

    def _open_reader(self) -> _Connection:
        try:
            return _connect(self.dsn)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"{self.path}: cannot read: {exc}") from exc

    def _query(self, db: Any, sql: str, args: Sequence[Any]) -> list[Any]:
        try:
            return super()._query(db, sql, args)
        except _FAULTS as exc:
            self._forget_reader()
            raise StoreUnavailable(f"{self.path}: cannot read: {exc}") from exc

    def close(self) -> None:
        """Commit the pending writes, then close every connection."""
        self._close_readers()
        self._finalizer()
        if self._ids_db is not None:
            self._ids_db.close()


def _fetch_ids(db: _Connection, count: int) -> list[int]:
    rows = db.execute("SELECT nextval('event_ids') FROM generate_series(1, ?)", (count,))
    return sorted(int(value) for (value,) in rows.fetchall())


def _release(writer: Writer, ids: concurrent.futures.ThreadPoolExecutor) -> None:
    """Commit what is queued and close the writer."""
    writer.close()
    ids.shutdown(wait=True, cancel_futures=True)


def migrate(db: _Connection, name: str) -> int:
    """Bring the database to :data:`VERSION`; the version it had. Nodes starting together
    take turns (an advisory lock): the first upgrades, the others find nothing to do."""
    with db.db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
        db.execute("CREATE TABLE IF NOT EXISTS callflow_schema (version INTEGER NOT NULL)")
        row = db.execute("SELECT version FROM callflow_schema").fetchone()
        found = int(row[0]) if row else 0
        if found > VERSION:
            raise SchemaTooNew(name, found, VERSION)
        for step in _SCHEMA[found:]:
            for sql in step:
                db.execute(sql)
        if row is None:
            db.execute("INSERT INTO callflow_schema (version) VALUES (?)", (VERSION,))
        elif found < VERSION:
            db.execute("UPDATE callflow_schema SET version = ?", (VERSION,))
    return found


if TYPE_CHECKING:  # PostgresStore keeps the Store protocol's promises, checked by mypy
    _: Store = PostgresStore("")
