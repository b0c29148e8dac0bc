"""kill -USR1's memory report names what grew between two reports."""

from __future__ import annotations

import tracemalloc

from callflow.app.memory import MemoryReports


class Kept:
    """Something a leak would keep."""

    def __init__(self, n: int) -> None:
        self.n = n


def test_the_second_report_names_the_type_and_the_line_that_grew() -> None:
    tracemalloc.start(5)
    try:
        reports = MemoryReports()
        first = reports.report()
        assert first.startswith("memory: resident ") and "allocated and still held" in first
        kept = [Kept(n) for n in range(20_000)]
        second = reports.report()
    finally:
        tracemalloc.stop()
    grown = second.split("grown most since the last report:")[1]
    assert any(line.split()[:2] == ["+20000", "Kept"] for line in grown.splitlines()), grown
    assert "test_memory.py" in second.split("by line:")[1]
    assert len(kept) == 20_000


def test_without_tracing_it_says_how_to_see_the_lines() -> None:
    assert not tracemalloc.is_tracing()
    assert "PYTHONTRACEMALLOC=15" in MemoryReports().report()


class Holder:
    """A long-lived object that keeps what it should have let go."""

    def __init__(self) -> None:
        self.kept: list[object] = []


def test_it_shows_what_holds_a_grown_type_of_callflow() -> None:
    from callflow.kpi.log import CallStart

    holder = Holder()
    reports = MemoryReports()
    holder.kept.extend(CallStart(f"c{n}", float(n), "") for n in range(100))
    reports.report()
    holder.kept.clear()  # those of the first report are gone: the trace starts from others
    holder.kept.extend(CallStart(f"d{n}", float(n), "") for n in range(5000))
    second = reports.report()
    held = second.split("what holds a callflow.kpi.log.CallStart (referrers, nearest first):")[1]
    nearest, holder_line = held.split()[:2]
    assert nearest == "builtins.list" and holder_line.endswith("test_memory.Holder"), held


def test_it_tells_what_malloc_and_sqlite_hold() -> None:
    """Memory the collector does not see: the C allocator's arenas, SQLite's caches."""
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (x)")
    db.executemany("INSERT INTO t VALUES (?)", [("x" * 100,)] * 20_000)
    lines = MemoryReports().report().splitlines()
    db.close()
    malloc = next(line for line in lines if line.startswith("malloc: "))
    sqlite = next(line for line in lines if line.startswith("sqlite: "))
    assert float(malloc.split()[1]) > 1.0, malloc  # MiB in use
    assert float(sqlite.split()[1]) > 1.0, sqlite  # 20,000 rows held in its cache


def test_trim_gives_the_free_pages_inside_the_heap_back() -> None:
    """Blocks freed between others that live on stay resident until trimmed: glibc gives
    a heap's free memory back by itself only from its top."""
    import gc

    from callflow.app.memory import _rss_kib, trim

    blocks = [bytes(1000) + bytes([n % 256]) for n in range(60_000)]  # ~60 MiB, malloc's
    kept = blocks[::50]  # one block in 50 lives on, spread over the heap
    del blocks
    gc.collect()
    before = _rss_kib()
    assert trim()
    after = _rss_kib()
    assert before - after > 30 * 1024, f"{before} KiB -> {after} KiB"
    assert len(kept) == 1200
