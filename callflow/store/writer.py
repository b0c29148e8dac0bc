"""The store's one writing thread: writes queued by any thread, committed in batches.

A caller on the event loop only puts a write on a queue (a few microseconds); this thread
takes every write waiting, runs them in one transaction and commits, so a burst of events
costs one commit, and the loop never waits for SQLite's lock, the disk or another process.

Each write has a ticket, in submission order; :meth:`Writer.wait` returns once every write up
to a ticket is committed (or failed and logged), which is how reads see the writes made
before them. A write that fails is logged and dropped; the others of its batch are committed
one by one. While another connection holds the file's write lock (``database is locked``),
the writes wait and are retried, never dropped.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

from callflow.store.errors import StoreClosed, StoreError

log = logging.getLogger(__name__)

Write = Callable[[sqlite3.Connection], object]
MAX_BATCH = 1000  # writes per transaction: large enough for a burst, short enough to commit


class Call:
    """A write whose result someone waits for: set once its transaction is committed."""

    def __init__(self, work: Callable[[sqlite3.Connection], Any]) -> None:
        self.work = work
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._result: Any = None

    def __call__(self, db: sqlite3.Connection) -> None:
        self._result = self.work(db)

    def committed(self) -> None:
        self.future.set_result(self._result)

    def failed(self, exc: BaseException) -> None:
        self.future.set_exception(exc)


class Writer:
    """A thread with its own connection that applies writes in submission order."""

    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        self.path = path
        self._db = db
        self._writes: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        self._submit_lock = threading.Lock()
        self._submitted = 0
        self._applied = 0
        self._applied_changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="callflow-store-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Writes submitted and not yet committed."""
        return self._submitted - self._applied

    def submit(self, write: Write) -> int:
        """Queue ``write`` (run on this thread, inside a transaction); its ticket."""
        with self._submit_lock:
            if self._closed:
                raise StoreClosed(f"{self.path}: the store is closed")
            self._submitted += 1
            self._writes.put(write)
            return self._submitted

    def call(self, work: Callable[[sqlite3.Connection], Any]) -> concurrent.futures.Future[Any]:
        """Queue ``work``; a future of what it returns, set once it is committed."""
        write = Call(work)
        self.submit(write)
        return write.future

    def wait(self, ticket: int | None = None) -> None:
        """Return once every write up to ``ticket`` (default: all submitted so far) is done."""
        target = self._submitted if ticket is None else ticket
        if self._applied >= target:
            return
        if threading.current_thread() is self._thread:
            raise StoreError(f"{self.path}: a write waited for the writer (it would never end)")
        with self._applied_changed:
            self._applied_changed.wait_for(lambda: self._applied >= target)

    def close(self) -> None:
        """Commit what is queued, stop the thread and close its connection."""
        with self._submit_lock:
            if self._closed:
                return
            self._closed = True
            self._writes.put(None)
        self._thread.join()
        self._db.close()

    def _run(self) -> None:
        while True:
            batch: list[Write] = []
            write = self._writes.get()
            while write is not None:
                batch.append(write)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    write = self._writes.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._apply(batch)
                with self._applied_changed:
                    self._applied += len(batch)
                    self._applied_changed.notify_all()
            if write is None:
                return

    def _apply(self, batch: Sequence[Write]) -> None:
        try:
            self._transaction(batch)
            return
        except Exception as exc:  # a bad write must not stop the writer
            if len(batch) == 1:
                self._lost(batch[0], exc)
                return
        for write in batch:  # find the bad one; the others are still written
            try:
                self._transaction([write])
            except Exception as exc:
                self._lost(write, exc)

    def _transaction(self, batch: Sequence[Write]) -> None:
        while True:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                # The connection's busy timeout has run out while another process holds the
                # write lock: keep the writes and try again.
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                log.warning("store %s: still locked by another connection; retrying", self.path)
        try:
            for write in batch:
                write(self._db)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        for write in batch:
            if isinstance(write, Call):
                write.committed()

    def _lost(self, write: Write, exc: Exception) -> None:
        if isinstance(write, Call):
            failure = StoreError(f"{self.path}: {exc}")
            failure.__cause__ = exc
            write.failed(failure)
        elif isinstance(exc, sqlite3.Error):
            log.error("store %s: a write was lost: %s", self.path, exc)
        else:
            log.error("store %s: a write was lost", self.path, exc_info=exc)
