"""`callflow report` over a store written by hand: the table, JSON, CSV and the PNG chart."""

from __future__ import annotations

import csv
import io
import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from kpi_log import T0, Log, day

from callflow.cli import main
from callflow.kpi.report import build_report, render_table
from callflow.store import SqliteStore

NOW = "2026-12-01T10:00:00+00:00"


def report(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["report", "--from", "2026-12-01", "--to", "2026-12-01", "--now", NOW, *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_table_from_the_store(store_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The day's table: support's total row has 11 entered, 5 offered, 2 handled, 3
    abandoned (1 short), 50% abandoned, SL 25%, SL1 50%, SL2 50%, ASA 20 s, AHT 125 s."""
    out = report(capsys, "--store", str(store_file), "--interval", "1h")
    total = [cells for cells in _cells(out) if cells[:2] == ["total", "support"]]
    assert total[0][2:14] == [
        "11", "5", "2", "3", "1", "50.00%", "25.00%", "50.00%", "50.00%", "20s", "125s", "600s",
    ]  # fmt: skip
    assert [c[:4] for c in _cells(out) if c[:2] == ["2026-12-01", "09:00"]][:3] == [
        ["2026-12-01", "09:00", "*", "12"],
        ["2026-12-01", "09:00", "sales", "1"],
        ["2026-12-01", "09:00", "support", "11"],
    ]
    assert not any(c[:2] == ["2026-12-01", "10:00"] for c in _cells(out))  # quiet: no row
    (a1,) = [c for c in _cells(out) if c[:3] == ["2026-12-01", "09:00", "a1"]]
    assert a1[-2] == "12.22%"  # occupancy: 220 s busy of 1800 s logged in
    # a2 talked 60 s and held the caller 20 s, then 20 s of wrap-up: AHT 100 s.
    header = next(c for c in _cells(out) if c[:2] == ["interval", "agent"])
    assert header[2:7] == ["handled", "AHT", "talk", "hold", "wrapup"]
    (a2,) = [c for c in _cells(out) if c[:3] == ["2026-12-01", "09:00", "a2"]]
    assert a2[3:8] == ["1", "100s", "60s", "20s", "20s"]


def _cells(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()]


def test_settings_name_the_store(
    store_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --store, the settings file's store is read (relative to the file)."""
    settings = tmp_path / "callflow.yaml"
    settings.write_text("store: var/callflow.sqlite3\n")
    out = report(capsys, "--settings", str(settings), "--queue", "sales", "--interval", "1d")
    # agents: their time whatever the queue, their calls of sales only; with one interval,
    # no total rows saying it again
    assert {c[1] for c in _cells(out) if c and c[0] == "2026-12-01"} == {"sales", "a1", "a2"}
    assert not any(c and c[0] == "total" for c in _cells(out))
    assert "support" not in out


def test_json_and_csv(store_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json has the rules, interval rows and the total; --csv a row per interval and
    queue, the same figures."""
    data = json.loads(report(capsys, "--store", str(store_file), "--json", "--interval", "1d"))
    assert data["rules"]["short_abandon"] == 5.0
    (support,) = [r for r in data["total"] if r["queue"] == "support"]
    assert support["abandon_rate"] == pytest.approx(0.5)
    assert support["callbacks_requested"] == 3
    rows = list(csv.DictReader(io.StringIO(report(capsys, "--store", str(store_file), "--csv"))))
    (total,) = [r for r in rows if r["queue"] == "support" and r["total"] == "True"]
    assert float(total["sl"]) == pytest.approx(0.25)


def test_thresholds_from_the_command_line(
    store_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--short-abandon 20 makes c4 short too: (5-2-2)/(5-2) = 33.33%."""
    data = json.loads(report(capsys, "--store", str(store_file), "--json", "--short-abandon", "20"))
    (support,) = [r for r in data["total"] if r["queue"] == "support"]
    assert support["abandon_rate"] == pytest.approx(1 / 3)


def test_store_is_opened_read_only(store_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A report of a read-only store file works and leaves it as it was."""
    before = store_file.read_bytes()
    store_file.chmod(0o444)
    try:
        report(capsys, "--store", str(store_file))
    finally:
        store_file.chmod(0o644)
    assert store_file.read_bytes() == before


def test_refusals_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing store, an unknown zone, a range backwards: exit 2 and one line."""
    for args in (
        ["--store", str(tmp_path / "none.sqlite3")],
        ["--tz", "Mars/Olympus"],
        ["--settings", str(tmp_path / "missing.yaml")],
    ):
        assert main(["report", "--from", "2026-12-01", "--to", "2026-12-01", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("callflow report: ") and err.count("\n") == 1
    assert main(["report", "--from", "2026-12-02", "--to", "2026-12-01"]) == 2
    assert "not after" in capsys.readouterr().err


def test_chart_is_a_png(store_file: Path, tmp_path: Path) -> None:
    """End to end, the command in its own process: it writes a PNG of sensible size (a
    1000x480 image, some KB) and says where."""
    chart = tmp_path / "out" / "kpi.png"
    args = ["report", "--store", str(store_file), "--from", "2026-12-01", "--to", "2026-12-01"]
    args += ["--now", NOW, "--interval", "15m", "--chart", str(chart)]
    done = subprocess.run(
        [sys.executable, "-m", "callflow", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert f"chart: {chart}" in done.stdout
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1000, 480)
    assert 10_000 < len(data) < 1_000_000


def test_report_while_the_store_is_written(
    tmp_path: Path, log: Log, capsys: pytest.CaptureFixture[str]
) -> None:
    """A report reads a store that callflow holds open and writes (WAL): it sees what was
    committed."""
    path = tmp_path / "live.sqlite3"
    store = SqliteStore(path)
    try:
        for event in day(log).ordered():
            store.append(event.kind, event.call_id, event.data, at=event.at)
        store.flush()
        out = report(capsys, "--store", str(path), "--interval", "1d")
        store.append("queue.enter", "late", {"queue": "support"}, at=T0)
    finally:
        store.close()
    assert next(c for c in _cells(out) if c[1:2] == ["support"])[2] == "11"


def test_report_as_of_now_counts_callers_still_waiting(log: Log) -> None:
    """build_report with an injected now: at 09:55, c12 (joined 09:50) has waited 300 s."""
    day(log)
    at = T0.replace(hour=9, minute=55)
    rep = build_report(log.ordered(), T0, T0.replace(hour=10), interval="1h", now=at)
    (total,) = [r.figures for r in rep.queues if r.whole and r.figures.queue == "support"]
    assert (total.waiting, total.longest_wait) == (1, 300.0)
    assert "support" in render_table(rep)


def test_dates_and_intervals_in_a_time_zone(
    store_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--tz Europe/Paris: the day is Paris's, and the calls of 09:00 UTC are in 10:00's row."""
    out = report(capsys, "--store", str(store_file), "--tz", "Europe/Paris")
    assert "KPIs 2026-12-01 00:00 to 2026-12-02 00:00" in out
    calls = [c[:4] for c in _cells(out) if c[:3] == ["2026-12-01", "10:00", "support"]]
    assert calls[0] == ["2026-12-01", "10:00", "support", "11"]  # the calls table's row
