"""The embedded store on SQLite: the event log every KPI is computed from, the waiting queue
entries, the last-agent index and the callbacks, for one callflow node. The queries and
writes are :class:`~callflow.store.sql.SqlStore`'s, shared with PostgreSQL.

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

import contextlib
import logging
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from callflow.store.base import Store
from callflow.store.schema import migrate
from callflow.store.sql import (
    KEEP_LATEST,
    PRUNE_CHUNK,
    Db,
    Dialect,
    EventRow,
    SqlStore,
    remember_agent,
    to_json,
)
from callflow.store.writer import Write, Writer, is_storage_fault

__all__ = ["KEEP_LATEST", "PRUNE_CHUNK", "SQLITE", "SqliteStore", "to_json"]

log = logging.getLogger(__name__)

READER_CACHE_KIB = 256
"""The page cache of each worker thread's read connection (SQLite's default: 2,000 KiB).

A read connection keeps the pages of its last query until its next: with the default, the
six read connections of the event loop's worker threads came to hold 2 MiB each after a
query that read many pages (measured with ``sqlite3_db_status``). They gain little from
them: a reader drops its whole cache at its next query when the writer has committed since
(WAL), which it does every few milliseconds under traffic; the pages come back from the
system's file cache. The writer's connection keeps the default."""

SQLITE = Dialect(
    json_text=lambda column: f"json_extract({column}, ?)",
    json_key=lambda key: f"$.{key}",
    temp="temp.",
    insert_ignore=lambda table, select: f"INSERT OR IGNORE INTO {table} {select}",
    unique_violation=sqlite3.IntegrityError,
)


class SqliteBackend:
    """The writer's connection to the file (:class:`~callflow.store.writer.Backend`)."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, db: sqlite3.Connection, name: str) -> None:
        self.db = db
        self.name = name

    def transaction(self, writes: Sequence[Write]) -> None:
        db = self.db
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                # The connection's busy timeout has run out while another process holds the
                # write lock: keep the writes and try again.
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                log.warning("store %s: still locked by another connection; retrying", self.name)
        try:
            for write in writes:
                write(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                # On a full or failing disk SQLite may have rolled back already, or fail to.
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise

    def is_fault(self, exc: BaseException) -> bool:
        return is_storage_fault(exc)

    def describe(self, exc: BaseException) -> str:
        return f"{getattr(exc, 'sqlite_errorname', type(exc).__name__)}: {exc}"

    def close(self) -> None:
        self.db.close()


class SqliteStore(SqlStore):
    """callflow's state in one SQLite file (``:memory:``: a temporary file, gone on close).

    ``node`` is written with every row, the seam for several callflow nodes sharing one
    store (a PostgreSQL one, :mod:`callflow.store.postgres`); alone, it stays ''.
    """

    def __init__(self, path: str | Path, *, node: str = "") -> None:
        super().__init__()
        self.path = str(path)
        self.node = node
        self.dialect = SQLITE
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
        self._writer = Writer(SqliteBackend(db, self.path))
        # An unclosed store still commits its writes when it is collected or at exit.
        self._finalizer = weakref.finalize(self, _release, self._writer, self._scratch)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._file, isolation_level=None, check_same_thread=False)

    def _new_event_id(self) -> int:
        event_id = self._next_id
        self._next_id += 1
        return event_id

    def _insert_event(self, db: Db, row: EventRow, answered: tuple[str, str, float] | None) -> None:
        sql = "INSERT INTO event_log (id, at, kind, call_id, data, node) VALUES (?, ?, ?, ?, ?, ?)"
        try:
            db.execute(sql, row)
        except sqlite3.IntegrityError:
            # Another process wrote this id meanwhile: keep the event under a fresh one.
            log.warning("event id %d is taken: another process writes to this store", row[0])
            db.execute(sql, (None, *row[1:]))
        if answered is not None:
            remember_agent(db, answered, row[5])

    def _open_reader(self) -> sqlite3.Connection:
        db = self._connect()
        db.execute("PRAGMA query_only = ON")
        db.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
        return db

    def close(self) -> None:
        """Commit the pending writes, then close the database."""
        self._close_readers()
        self._finalizer()


def _release(writer: Writer, scratch: str | None) -> None:
    """Commit what is queued and close the writer; remove a ``:memory:`` store's file."""
    writer.close()
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


if TYPE_CHECKING:  # SqliteStore keeps the Store protocol's promises, checked by mypy
    _: Store = SqliteStore(":memory:")
