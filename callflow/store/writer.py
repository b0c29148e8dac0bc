"""The store's one writing thread: writes queued by any thread, committed in batches.

A caller on the event loop only puts a write on a queue (a few microseconds); this thread
takes every write waiting, runs them in one transaction and commits, so a burst of events
costs one commit, and the loop never waits for the database's lock, the disk, the network
or another process. The database is a :class:`Backend`: SQLite (``callflow.store.sqlite``)
or PostgreSQL (``callflow.store.postgres``); what follows is said of SQLite's disk, and
holds for a PostgreSQL server that is down or refuses writes as well.

Each write has a ticket, in submission order; :meth:`Writer.wait` returns once every write up
to a ticket is committed (or failed and logged, or held: see below), which is how reads see
the writes made before them. A write that fails on its own (a constraint, a bug) is logged
and dropped; the others of its batch are committed one by one. While another connection holds
the file's write lock (``database is locked``), the writes wait and are retried, never dropped.

When the disk itself refuses (full, read-only, an I/O error: :func:`is_storage_fault`), calls
must go on: the writes are *held* in memory, in order, and retried every ``retry_every``
seconds until the disk takes them, then committed in their order. The fault is logged at
ERROR once, then reminded every ``remind_every`` seconds (never a line per write); the writer's
:attr:`Writer.health` says so to ``/metrics``. What the fault costs, honestly:

- reads do not see held writes (a read waits for committed *or held* writes, so it never
  blocks on a full disk): the event log and the queue entries read back are those of the
  fault's start;
- a write someone waits for (:meth:`Writer.call`: a dialer attempt's claim, pruning) fails at
  once with :class:`~callflow.store.errors.StoreUnavailable` instead of being held, so no
  call is placed that could not be recorded;
- at most ``max_held`` writes are held; past it, newer writes are dropped, counted in
  :attr:`StoreHealth.dropped` and logged (once, then in the reminders);
- held writes live in this process only: if it dies or is stopped before the disk is back,
  they are lost (logged at ERROR on close), so queue entries and callbacks saved during the
  fault are not restored by a restart. Committed state is never damaged: a failed
  transaction is rolled back whole (SQLite's journal), ``PRAGMA integrity_check`` stays ok.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from callflow.store.errors import StoreClosed, StoreError, StoreUnavailable

log = logging.getLogger(__name__)

Write = Callable[[Any], object]  # given the backend's connection, inside a transaction
MAX_BATCH = 1000  # writes per transaction: large enough for a burst, short enough to commit
MAX_HELD = 100_000  # writes kept in memory while the disk refuses them (~100 MB at worst)
RETRY_EVERY = 1.0  # seconds between attempts to write what is held
REMIND_EVERY = 60.0  # seconds between ERROR reminders while the disk still refuses

# SQLite's primary result codes meaning "the disk (not this write) is the problem"; extended
# codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED...) share their prefix.
_FAULTS = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM")


def is_storage_fault(exc: BaseException) -> bool:
    """True when SQLite failed because of the disk (full, read-only, I/O error), so the same
    write may succeed later; False for a write that is wrong in itself."""
    name = getattr(exc, "sqlite_errorname", None)
    if not isinstance(exc, sqlite3.Error) or not isinstance(name, str):
        return False
    return any(name == fault or name.startswith(fault + "_") for fault in _FAULTS)


class Backend(Protocol):
    """The database the writer commits to, through one connection of its own."""

    name: str
    """Where it is, for messages (a file's path; a server's address, never a password)."""
    errors: tuple[type[Exception], ...]
    """The database's own errors (others are bugs, logged with their traceback)."""

    def transaction(self, writes: Sequence[Write]) -> None:
        """Run ``writes`` in one transaction and commit; on any error roll back and raise."""
        ...

    def is_fault(self, exc: BaseException) -> bool:
        """The database, not the write, failed (disk full or read-only, server down): the
        same write may succeed later, so it is held and retried."""
        ...

    def describe(self, exc: BaseException) -> str:
        """The error in a few words, for the log and ``/metrics``."""
        ...

    def close(self) -> None:
        """Close the writer's connection."""
        ...


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """Whether the store can write now; while it cannot, since when, why and what it holds."""

    writable: bool
    held: int = 0  # writes kept in memory, to commit once the disk is back
    dropped: int = 0  # writes lost past the bound since the fault began
    failing_since: float | None = None  # time.time() of the first refused write
    error: str = ""  # SQLite's error name and message


class Call:
    """A write whose result someone waits for: set once its transaction is committed."""

    def __init__(self, work: Callable[[Any], Any]) -> None:
        self.work = work
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._result: Any = None

    def __call__(self, db: Any) -> None:
        self._result = self.work(db)

    def committed(self) -> None:
        self.future.set_result(self._result)

    def failed(self, exc: BaseException) -> None:
        self.future.set_exception(exc)


class Writer:
    """A thread with its own connection that applies writes in submission order."""

    def __init__(
        self,
        db: Backend,
        *,
        max_held: int = MAX_HELD,
        retry_every: float = RETRY_EVERY,
        remind_every: float = REMIND_EVERY,
    ) -> None:
        self.path = db.name
        self.max_held = max_held
        self.retry_every = retry_every
        self.remind_every = remind_every
        self._db = db
        self._writes: queue.SimpleQueue[Write | None] = queue.SimpleQueue()
        self._submit_lock = threading.Lock()
        self._submitted = 0
        self._applied = 0
        self._applied_changed = threading.Condition()
        self._closed = False
        self._held: deque[Write] = deque()
        self._dropped = 0
        self._failing_since: float | None = None
        self._error = ""
        self._reminded_at = 0.0
        self._retry_at = 0.0  # time.monotonic() of the next try of the held writes
        self._thread = threading.Thread(target=self._run, name="callflow-store-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Writes submitted and not yet committed (held ones included)."""
        return self._submitted - self._applied + len(self._held)

    @property
    def health(self) -> StoreHealth:
        """Whether writes reach the disk now (read from any thread)."""
        since = self._failing_since
        if since is None:
            return StoreHealth(writable=True)
        return StoreHealth(False, len(self._held), self._dropped, since, self._error)

    def submit(self, write: Write) -> int:
        """Queue ``write`` (run on this thread, inside a transaction); its ticket."""
        with self._submit_lock:
            if self._closed:
                raise StoreClosed(f"{self.path}: the store is closed")
            self._submitted += 1
            self._writes.put(write)
            return self._submitted

    def call(self, work: Callable[[Any], Any]) -> concurrent.futures.Future[Any]:
        """Queue ``work``; a future of what it returns, set once it is committed."""
        write = Call(work)
        self.submit(write)
        return write.future

    def wait(self, ticket: int | None = None) -> None:
        """Return once every write up to ``ticket`` (default: all submitted so far) is done:
        committed, failed, or held while the disk refuses it."""
        target = self._submitted if ticket is None else ticket
        if self._applied >= target:
            return
        if threading.current_thread() is self._thread:
            raise StoreError(f"{self.path}: a write waited for the writer (it would never end)")
        with self._applied_changed:
            self._applied_changed.wait_for(lambda: self._applied >= target)

    def close(self) -> None:
        """Commit what is queued (and held, if the disk takes it), stop the thread and close
        its connection."""
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
            try:
                failing = self._failing_since is not None
                wait = max(0.01, self._retry_at - time.monotonic()) if failing else None
                write = self._writes.get(timeout=wait)
            except queue.Empty:
                write = _NOTHING  # nothing new: only the held writes to try again
            while write is not None and write is not _NOTHING:
                batch.append(write)
                if len(batch) >= MAX_BATCH:
                    break
                try:
                    write = self._writes.get_nowait()
                except queue.Empty:
                    break
            # At most once per retry_every, however busy: a server that does not answer
            # costs its connect timeout each time, and the new writes wait behind it.
            if self._failing_since is not None and time.monotonic() >= self._retry_at:
                self._commit_held()
            if batch:
                if self._failing_since is not None:
                    self._hold(batch)  # behind the held ones: order is kept
                else:
                    self._apply(batch)
                with self._applied_changed:
                    self._applied += len(batch)
                    self._applied_changed.notify_all()
            if write is None:
                if self._held:
                    log.error(
                        "store %s: closing while the disk still refuses writes (%s): %d held "
                        "writes are lost",
                        self.path,
                        self._error,
                        len(self._held),
                    )
                return

    def _apply(self, batch: Sequence[Write]) -> None:
        try:
            self._transaction(batch)
            return
        except Exception as exc:  # a bad write must not stop the writer
            if self._db.is_fault(exc):
                self._fault(exc)
                self._hold(batch)
                return
            if len(batch) == 1:
                self._lost(batch[0], exc)
                return
        for index, write in enumerate(batch):  # find the bad one; the others are still written
            try:
                self._transaction([write])
            except Exception as exc:
                if self._db.is_fault(exc):
                    self._fault(exc)
                    self._hold(batch[index:])
                    return
                self._lost(write, exc)

    def _commit_held(self) -> None:
        """Try the held writes again, oldest first; once all are in, the fault is over."""
        while self._held:
            chunk = [self._held.popleft() for _ in range(min(MAX_BATCH, len(self._held)))]
            try:
                self._transaction(chunk)
                continue
            except Exception as exc:
                fault: Exception | None = exc if self._db.is_fault(exc) else None
            if fault is not None:
                self._held.extendleft(reversed(chunk))
            else:  # one of them is wrong in itself: the rest one by one
                fault = self._commit_one_by_one(chunk)
            if fault is not None:
                self._error = self._db.describe(fault)
                self._retry_at = time.monotonic() + self.retry_every
                self._remind()
                return
        self._recovered()

    def _commit_one_by_one(self, chunk: list[Write]) -> Exception | None:
        """Commit each write alone, dropping the bad ones; on a disk fault, hold the rest
        again (in front) and return the fault."""
        for index, write in enumerate(chunk):
            try:
                self._transaction([write])
            except Exception as exc:
                if self._db.is_fault(exc):
                    self._held.extendleft(reversed(chunk[index:]))
                    return exc
                self._lost(write, exc)
        return None

    def _hold(self, writes: Sequence[Write]) -> None:
        for write in writes:
            if isinstance(write, Call):
                # Someone waits for it: tell them now rather than after the disk is back.
                failure = StoreUnavailable(f"{self.path}: not written, {self._error}")
                write.failed(failure)
            elif len(self._held) < self.max_held:
                self._held.append(write)
            else:
                if not self._dropped:
                    log.error(
                        "store %s: %d writes held in memory, the most kept: newer writes are "
                        "dropped until the disk takes writes again",
                        self.path,
                        self.max_held,
                    )
                self._dropped += 1

    def _fault(self, exc: Exception) -> None:
        self._error = self._db.describe(exc)
        if self._failing_since is not None:
            return
        self._failing_since = time.time()
        self._reminded_at = self._retry_at = time.monotonic()
        self._retry_at += self.retry_every
        log.error(
            "store %s: cannot write (%s); calls go on, writes are kept in memory (at most %d) "
            "and retried every %g s",
            self.path,
            self._error,
            self.max_held,
            self.retry_every,
        )

    def _remind(self) -> None:
        now = time.monotonic()
        if now - self._reminded_at < self.remind_every:
            return
        self._reminded_at = now
        since = time.time() - (self._failing_since or time.time())
        log.error(
            "store %s: still cannot write after %.0f s (%s): %d writes held, %d dropped",
            self.path,
            since,
            self._error,
            len(self._held),
            self._dropped,
        )

    def _recovered(self) -> None:
        if self._failing_since is None:
            return
        log.warning(
            "store %s: writable again after %.1f s; the held writes are committed, %d were dropped",
            self.path,
            time.time() - self._failing_since,
            self._dropped,
        )
        self._failing_since = None
        self._dropped = 0
        self._error = ""

    def _transaction(self, batch: Sequence[Write]) -> None:
        self._db.transaction(batch)
        for write in batch:
            if isinstance(write, Call):
                write.committed()

    def _lost(self, write: Write, exc: Exception) -> None:
        if isinstance(write, Call):
            failure = StoreError(f"{self.path}: {exc}")
            failure.__cause__ = exc
            write.failed(failure)
        elif isinstance(exc, self._db.errors):
            log.error("store %s: a write was lost: %s", self.path, exc)
        else:
            log.error("store %s: a write was lost", self.path, exc_info=exc)


def _nothing(db: Any) -> None:
    """A marker for "no new write: retry the held ones"; never queued, never run."""


_NOTHING: Write = _nothing
