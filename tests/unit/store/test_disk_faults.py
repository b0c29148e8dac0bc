"""When the disk refuses writes (full, read-only), calls go on: writes are held in memory, up to
a bound, and committed in order once the disk takes them; the fault is logged once, then
reminded at a bounded rate; nothing committed is damaged."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from callflow.store import SqliteStore, StoreUnavailable
from callflow.store.sqlite import SqliteBackend
from callflow.store.writer import is_storage_fault

WRITER_LOG = "callflow.store.writer"


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (bounded) until the writer thread has made ``condition`` true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the writer did not get there in time"
        time.sleep(0.01)


@pytest.fixture
def fast_store(tmp_path: Path) -> Iterator[SqliteStore]:
    """A store whose writer retries held writes every 20 ms (1 s in production)."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    store._writer.retry_every = 0.02
    yield store
    store.close()


def writer_db(store: SqliteStore) -> sqlite3.Connection:
    """The writer's own connection: the one a full or read-only disk fails."""
    backend = store._writer._db
    assert isinstance(backend, SqliteBackend)
    return backend.db


def fill_disk(store: SqliteStore) -> None:
    """The file may not grow by one page more: SQLite answers SQLITE_FULL, as on a full disk."""
    db = writer_db(store)
    (pages,) = db.execute("PRAGMA page_count").fetchone()
    db.execute(f"PRAGMA max_page_count = {pages}")


def free_disk(store: SqliteStore) -> None:
    writer_db(store).execute("PRAGMA max_page_count = 1073741823")


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == WRITER_LOG and r.levelno >= 40]


def test_a_full_disk_holds_the_writes_and_commits_them_in_order_once_it_has_room(
    fast_store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """With the disk full, writes return at once, reads do not block, health says so and one
    ERROR is logged; once there is room, every event is committed in order, the file is
    intact, and a WARNING says the store is writable again."""
    store = fast_store
    store.append("call.start", "c0")
    store.flush()
    fill_disk(store)
    ids = [store.append("flow.step", "c1", {"n": n, "pad": "x" * 500}) for n in range(300)]
    store.save_queue_entry({"id": "e1", "queue": "q", "joined_at": 1.0})
    store.flush()  # returns: held writes count as done for readers
    health = store.health
    assert not health.writable and health.error.startswith("SQLITE_FULL")
    assert health.held > 0 and health.dropped == 0 and health.failing_since is not None
    assert [e.kind for e in store.events()] == ["call.start"]  # reads see the fault's start
    assert len(errors(caplog)) == 1 and "cannot write" in errors(caplog)[0]

    free_disk(store)
    until(lambda: store.health.writable)
    events = store.events(call_id="c1")
    assert [e.id for e in events] == ids and [e.data["n"] for e in events] == list(range(300))
    assert [e["id"] for e in store.queue_entries()] == ["e1"]
    assert writer_db(store).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert any("writable again" in r.getMessage() for r in caplog.records)
    assert len(errors(caplog)) == 1


def test_a_read_only_store_is_a_fault_too_and_is_reminded_at_a_bounded_rate(
    fast_store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A read-only database holds the writes the same way; over many refused retries the log
    gets the first ERROR and then one reminder per remind_every, not one line per write."""
    store = fast_store
    store._writer.remind_every = 0.2
    writer_db(store).execute("PRAGMA query_only = ON")
    started = time.monotonic()
    for n in range(200):
        store.append("flow.step", "c1", {"n": n})
        time.sleep(0.004)
    until(lambda: store.health.held == 200)
    elapsed = time.monotonic() - started
    assert store.health.error.startswith("SQLITE_READONLY")
    logged = errors(caplog)
    assert 2 <= len(logged) <= 2 + elapsed / 0.2
    assert "still cannot write" in logged[-1] and "writes held" in logged[-1]
    writer_db(store).execute("PRAGMA query_only = OFF")
    until(lambda: store.health.writable)
    assert [e.data["n"] for e in store.events(call_id="c1")] == list(range(200))


def test_past_the_bound_newer_writes_are_dropped_counted_and_logged_once(
    fast_store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """At most max_held writes are kept: the oldest are committed later, the newer ones are
    dropped, counted in health and logged once."""
    store = fast_store
    store._writer.max_held = 10
    fill_disk(store)
    for n in range(25):
        store.append("flow.step", "c1", {"n": n, "pad": "x" * 2000})
    store.flush()
    assert (store.health.held, store.health.dropped) == (10, 15)
    assert sum("dropped" in m for m in errors(caplog)) == 1
    free_disk(store)
    until(lambda: store.health.writable)
    assert [e.data["n"] for e in store.events(call_id="c1")] == list(range(10))
    assert store.health.dropped == 0


def test_a_write_someone_waits_for_fails_at_once_while_the_disk_is_full(
    fast_store: SqliteStore,
) -> None:
    """A write that is waited for (pruning; a dialer attempt's claim) is not held: it fails
    with StoreUnavailable, so nothing is done that could not be recorded."""
    import datetime as dt

    store = fast_store
    fill_disk(store)
    store.append("flow.step", "c1", {"pad": "x" * 5000})
    store.flush()
    with pytest.raises(StoreUnavailable, match="SQLITE_FULL"):
        store.prune(dt.datetime.now(dt.UTC))
    free_disk(store)
    until(lambda: store.health.writable)
    assert len(store.events(call_id="c1")) == 1


def test_a_write_wrong_in_itself_is_not_a_disk_fault() -> None:
    """Only the disk's errors hold writes: a constraint or a syntax error is the write's own."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as integrity:
        db.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.OperationalError) as syntax:
        db.execute("INSERT INTO nowhere VALUES (1)")
    db.execute("PRAGMA query_only = ON")
    with pytest.raises(sqlite3.OperationalError) as read_only:
        db.execute("INSERT INTO t VALUES (2)")
    assert not is_storage_fault(integrity.value) and not is_storage_fault(syntax.value)
    assert is_storage_fault(read_only.value)
    assert not is_storage_fault(ValueError("no"))


def test_closing_during_a_fault_says_how_many_writes_are_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store closed while the disk still refuses writes logs how many held writes are lost;
    what was committed before is intact."""
    caplog.set_level(logging.ERROR, WRITER_LOG)
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    store.append("call.start", "c0")
    store.flush()
    writer_db(store).execute("PRAGMA query_only = ON")
    for n in range(5):
        store.append("flow.step", "c1", {"n": n})
    store.flush()
    store.close()
    assert any("5 held writes are lost" in m for m in errors(caplog))
    reopened = SqliteStore(path)
    try:
        assert [e.kind for e in reopened.events()] == ["call.start"]
    finally:
        reopened.close()


def test_metrics_show_the_store_refusing_writes_and_what_it_holds(
    fast_store: SqliteStore,
) -> None:
    """/metrics reads the store's health at each scrape: writable 1, then 0 with the writes
    held while the disk is full, then 1 again."""
    from prometheus_client import generate_latest

    from callflow.api.metrics import ConnectionCounter, Metrics

    store = fast_store
    metrics = Metrics(None, lambda: 0, ConnectionCounter())
    metrics.watch_store(lambda: store.health)

    def scrape() -> str:
        return generate_latest(metrics.registry).decode()

    assert "callflow_store_writable 1.0" in scrape()
    fill_disk(store)
    for n in range(3):
        store.append("flow.step", "c1", {"pad": "x" * 5000, "n": n})
    store.flush()
    assert "callflow_store_writable 0.0" in scrape()
    assert "callflow_store_writes_held 3.0" in scrape()
    free_disk(store)
    until(lambda: store.health.writable)
    assert "callflow_store_writable 1.0" in scrape()
