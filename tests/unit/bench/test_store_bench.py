"""The store benchmark on small generated stores: its rows, its JSON lines, its table."""

from __future__ import annotations

import json
import time
from pathlib import Path

from callflow.bench.store import fill, run_store_bench
from callflow.store import SqliteStore


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


def test_the_append_table_has_a_postgresql_row_on_request(tmp_path: Path) -> None:
    """--postgresql appends to a PostgreSQL server of the run's own as well: a third row,
    every event committed (the rate counts up to the flush), and nothing left behind."""
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
    appends = [row for line in lines if (row := json.loads(line))["measure"] == "append"]
    assert code == 0
    assert [row["way"] for row in appends] == [
        "on the loop (before)",
        "writer thread (now)",
        "writer thread, PostgreSQL",
    ]
    assert all(row["events"] == 300 and row["events_per_s"] > 0 for row in appends)
    assert list(tmp_path.iterdir()) == []
