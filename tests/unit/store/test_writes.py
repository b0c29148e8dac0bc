"""Writes never wait for the database; reads and close() see every write made before them."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from callflow.store import SqliteStore, SqlStore, StoreClosed


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another connection holds the file's write lock (as a busy process would)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_reads_see_every_write_made_before_them(store: SqlStore) -> None:
    """Events, queue entries and their removal are all visible to the very next read."""
    ids = [store.append("flow.step", "c1", {"n": n}) for n in range(500)]
    store.save_queue_entry({"id": "e1", "queue": "q", "joined_at": 2.0})
    store.save_queue_entry({"id": "e2", "queue": "q", "joined_at": 1.0})
    store.delete_queue_entry("e1")
    events = store.events(call_id="c1")
    assert [e.id for e in events] == ids and [e.data["n"] for e in events] == list(range(500))
    assert [e["id"] for e in store.queue_entries("q")] == ["e2"]


def test_a_read_from_another_thread_sees_the_writes_too(store: SqlStore) -> None:
    """Read-your-writes holds across threads: a worker reading after the append finds it."""
    store.append("call.start", "c1")
    found: list[int] = []
    reader = threading.Thread(target=lambda: found.append(len(store.events())))
    reader.start()
    reader.join()
    assert found == [1]


async def test_writes_from_the_loop_return_while_the_file_is_locked(tmp_path: Path) -> None:
    """While another connection holds the write lock, append and the queue-entry writes
    still return at once on the event loop; the rows land when the lock is released."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    with write_locked(tmp_path / "store.sqlite3"):
        event_id = store.append("call.start", "c1", {"caller": "+4411"})
        store.save_queue_entry({"id": "c1", "queue": "q", "joined_at": 1.0})
        store.delete_queue_entry("nobody")
        assert store.pending >= 1
    assert [e.id for e in await store.events_async(call_id="c1")] == [event_id]
    assert store.pending == 0 and [e["id"] for e in store.queue_entries()] == ["c1"]
    store.close()


def test_close_commits_the_pending_writes(tmp_path: Path) -> None:
    """Writes still queued when close() is called are committed before it returns."""
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    with write_locked(path):
        for n in range(100):
            store.append("flow.step", "c1", {"n": n})
    store.close()
    again = SqliteStore(path)
    assert len(again.events()) == 100
    again.close()


def test_a_bad_write_is_logged_and_the_rest_of_its_batch_is_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A write the database refuses is logged and dropped; the writes queued with it, in
    the same batch, are still committed."""
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    with write_locked(path):  # everything below waits, then goes in one batch
        store.append("call.start", "c1")
        store.save_queue_entry({"id": "e1", "queue": "q", "joined_at": None})  # NOT NULL
        store.append("call.end", "c1")
    assert [e.kind for e in store.events()] == ["call.start", "call.end"]
    assert store.queue_entries() == []
    assert "a write was lost" in caplog.text and "NOT NULL" in caplog.text
    store.close()


def test_nothing_is_written_or_read_after_close(store: SqlStore) -> None:
    """A closed store refuses writes and reads with StoreClosed, naming its file (or its
    database)."""
    store.append("call.start", "c1")
    store.events()
    store.close()
    with pytest.raises(StoreClosed, match=re.escape(store.path)):
        store.append("call.end", "c1")
    with pytest.raises(StoreClosed):
        store.events()
    store.close()  # twice is harmless


def test_the_data_written_is_the_data_at_the_time_of_append(store: SqlStore) -> None:
    """Changing a dict after appending it does not change the event (it is encoded at once)."""
    data: dict[str, object] = {"digits": "12"}
    store.append("call.dtmf", "c1", data)
    data["digits"] = "99"
    assert store.events()[0].data == {"digits": "12"}


def test_an_id_taken_by_another_process_does_not_lose_the_event(tmp_path: Path) -> None:
    """If another process wrote the id this store meant to give, the event is kept under a
    fresh id."""
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    other = sqlite3.connect(path)
    other.execute("INSERT INTO event_log (at, kind) VALUES ('2026-01-01T00:00:00+00:00', 'x')")
    other.commit()
    other.close()
    store.append("call.start", "c1")
    assert [e.kind for e in store.events()] == ["x", "call.start"]
    store.close()


def test_rows_carry_the_node_that_wrote_them(tmp_path: Path) -> None:
    """A store opened with a node id writes it with every event."""
    store = SqliteStore(tmp_path / "store.sqlite3", node="ast-2")
    store.append("call.start", "c1", at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert store.events()[0].node == "ast-2"
    store.close()


def test_memory_store_works_and_leaves_nothing(tmp_path: Path) -> None:
    """``:memory:`` is a private temporary file that close() removes."""
    store = SqliteStore(":memory:")
    store.append("call.start", "c1")
    assert len(store.events()) == 1
    scratch = store._scratch
    store.close()
    assert scratch is not None and not Path(scratch).exists()


def test_events_of_some_kinds_only(store: SqlStore) -> None:
    """``kinds`` keeps exact kinds and, for one ending in '.', every kind it begins (not a
    kind that merely starts with the same letters); in log order, with ``since`` too."""
    for kind in ("queue.enter", "call.playback.started", "queuer.x", "agent.state", "queue.exit"):
        store.append(kind, "c1", {})
    kinds = ("queue.", "agent.state")
    assert [e.kind for e in store.events(kinds=kinds)] == [
        "queue.enter",
        "agent.state",
        "queue.exit",
    ]
    assert store.events(kinds=()) == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert store.events(kinds=kinds, since=later) == []


CLOSE_UNDER_READS = """
import pathlib, sys, threading, time
from callflow.store import SqliteStore, StoreClosed

store = SqliteStore(pathlib.Path(sys.argv[1]))
for n in range(3000):
    store.append("flow.step", f"c{n % 50}", {"n": n, "pad": "x" * 200})
store.flush()
outcomes = []

def read():
    while True:
        try:  # a query that runs for a while, so that close() comes in the middle of one
            store._rows("SELECT count(*) FROM event_log a, event_log b WHERE a.id < b.id + 1000")
        except StoreClosed:
            outcomes.append("closed")
            return
        except BaseException as error:
            outcomes.append(repr(error))
            return

threads = [threading.Thread(target=read) for _ in range(4)]
for thread in threads:
    thread.start()
time.sleep(0.05)
store.close()
for thread in threads:
    thread.join()
print(outcomes)
"""


def test_close_while_other_threads_read_ends_their_reads_cleanly(tmp_path: Path) -> None:
    """close() under running queries (a worker thread's live_callbacks at shutdown): each
    read ends with StoreClosed. A connection closed under a running statement crashed the
    whole process with a segmentation fault (CI, test_callbacks), so this runs in a child."""
    for trial in range(3):
        done = subprocess.run(
            [sys.executable, "-c", CLOSE_UNDER_READS, str(tmp_path / f"store{trial}.sqlite3")],
            cwd=Path(__file__).resolve().parents[3],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == str(["closed"] * 4)


def test_a_read_connection_keeps_a_small_page_cache(tmp_path: Path) -> None:
    """Each worker thread's read connection holds at most READER_CACHE_KIB of pages after a
    query that read the whole log (SQLite's default would be 2 MiB each, for as long as
    the connection lives)."""
    from callflow.app.memory import sqlite_memory_used
    from callflow.store.sqlite import READER_CACHE_KIB

    store = SqliteStore(tmp_path / "store.sqlite3")
    for n in range(20_000):
        store.append("flow.step", f"c{n // 20}", {"node": "menu", "pad": "x" * 300})
    store.flush()
    before = sqlite_memory_used()
    assert before is not None
    readers = [threading.Thread(target=store.events) for _ in range(4)]  # every page read
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    held = ((sqlite_memory_used() or 0) - before) / 1024
    store.close()
    # 4 x 2 MiB with SQLite's default (8.1 MiB measured); less than 1 connection's of it here.
    assert held < min(4 * (READER_CACHE_KIB + 200), 2000), f"{held:.0f} KiB held by 4 readers"
