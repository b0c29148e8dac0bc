"""The store benchmark on small generated stores: its rows, its JSON lines, its table."""

from __future__ import annotations

import json
import time
from pathlib import Path

from callflow.bench.store import fill, fill_postgres, run_store_bench
from callflow.store import SqliteStore
from callflow.store.postgres import PostgresStore
from callflow.testing.postgres import PostgresServer


def test_a_generated_store_holds_the_answered_calls_and_their_last_agents(
    tmp_path: Path,
) -> None:
    """fill() writes as many queue.connect events as asked, and the index knows each caller."""
    path = tmp_path / "store.sqlite3"
    now = time.time()
    callers, _ = fill(path, 400, now)
    store = SqliteStore(path)
    connects = store.events(kind="queue.connect")
    assert len(connects) == 400 and len(callers) == 100
    latest = max((e for e in connects if e.data["caller"] == callers[0]), key=lambda e: e.at)
    assert store.last_agent_sync(callers[0], 0.0) == latest.data["agent"]
    store.close()


def test_a_generated_postgresql_store_holds_the_same_calls(tmp_path: Path) -> None:
    """fill_postgres() writes the same history as fill(): the same last agents, and event ids
    that go on after it."""
    now = time.time()
    callers, _ = fill(tmp_path / "store.sqlite3", 400, now)
    sqlite = SqliteStore(tmp_path / "store.sqlite3")
    with PostgresServer(tmp_path / "postgres") as database:
        assert fill_postgres(database, 400, now)[0] == callers
        store = PostgresStore(database)
        try:
            assert len(store.events(kind="queue.connect")) == 400
            for caller in callers[:20]:
                assert store.last_agent_sync(caller, 0.0) == sqlite.last_agent_sync(caller, 0.0)
            assert store.append("call.start", "c1") > 400
        finally:
            store.close()
    sqlite.close()


def test_bench_reports_both_ways_of_each_measure_as_json_lines(tmp_path: Path) -> None:
    """--json prints the scan and the index (on the loop, awaited) at each size, then both
    ways of appending."""
    lines: list[str] = []
    code = run_store_bench(
        quick=True, as_json=True, folder=tmp_path, write=lines.append, sizes=(200, 400), events=50
    )
    rows = [json.loads(line) for line in lines]
    assert code == 0
    assert [(r["measure"], r["way"][:5], r.get("answered")) for r in rows] == [
        ("lookup", "scan ", 200),
        ("lookup", "index", 200),
        ("lookup", "index", 200),
        ("lookup", "scan ", 400),
        ("lookup", "index", 400),
        ("lookup", "index", 400),
        ("append", "on th", None),
        ("append", "write", None),
    ]
    for row in rows:
        if row["measure"] == "lookup":
            assert 0 <= row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
        else:
            assert row["events"] == 50 and row["events_per_s"] > 0
    assert list(tmp_path.iterdir()) == []  # the generated stores are gone


def test_bench_prints_two_tables(tmp_path: Path) -> None:
    """Without --json the bench prints a lookup table and an append table."""
    lines: list[str] = []
    run_store_bench(
        quick=True, as_json=False, folder=tmp_path, write=lines.append, sizes=(200,), events=20
    )
    assert lines[0].startswith("last-agent lookup at queue join")
    assert "p99 ms" in lines[1] and lines[5].startswith("index (await last_agent)")
    assert lines[7].startswith("append from the event loop") and len(lines) == 12


def test_both_tables_have_postgresql_rows_on_request(tmp_path: Path) -> None:
    """--postgresql looks the last agent up and appends on a PostgreSQL server of the run's
    own as well: the index's two ways on a store of each size (filled with COPY), a third
    append row, every event committed (the rate counts up to the flush), and nothing left
    behind."""
    lines: list[str] = []
    code = run_store_bench(
        quick=True,
        as_json=True,
        folder=tmp_path,
        write=lines.append,
        sizes=(200,),
        events=300,
        postgresql=True,
    )
    rows = [json.loads(line) for line in lines]
    appends = [row for row in rows if row["measure"] == "append"]
    assert code == 0
    assert [row["way"] for row in rows if row["measure"] == "lookup"] == [
        "scan of the window (before)",
        "index, on the loop",
        "index (await last_agent)",
        "index, on the loop, PostgreSQL",
        "index (await last_agent), PostgreSQL",
    ]
    assert all(row["lookups"] == 300 for row in rows[1:5]), rows
    assert [row["way"] for row in appends] == [
        "on the loop (before)",
        "writer thread (now)",
        "writer thread, PostgreSQL",
    ]
    assert all(row["events"] == 300 and row["events_per_s"] > 0 for row in appends)
    assert list(tmp_path.iterdir()) == []
