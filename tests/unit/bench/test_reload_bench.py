"""The reload benchmark on a small generated flow: its rows and its JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

from callflow.bench.reload import run_reload_bench, write_large_flow
from callflow.flow import load_flow


def test_generated_large_flow_is_valid_and_as_large_as_asked(tmp_path: Path) -> None:
    """The generated flow loads without a diagnostic, with about the nodes asked for."""
    path = tmp_path / "large.yaml"
    write_large_flow(path, 400, entry="900")
    flow, diagnostics = load_flow(str(path))
    assert flow is not None and [str(d) for d in diagnostics] == []
    assert 400 <= len(flow.nodes) <= 404 and flow.start_node("900") == "menu_0"


def test_bench_reports_each_way_of_reloading_as_a_json_line() -> None:
    """--json prints one object per way (loop with PyYAML, loop with libyaml, worker thread)."""
    lines: list[str] = []
    assert run_reload_bench(nodes=100, repeat=1, as_json=True, write=lines.append) == 0
    rows = [json.loads(line) for line in lines]
    assert [row["way"] for row in rows] == [
        "on the loop, PyYAML",
        "on the loop, libyaml",
        "worker thread, libyaml",
    ]
    for row in rows:
        assert row["nodes"] == 102 and row["reloads"] == 1 and row["events"] >= 0
        assert 0 <= row["event_p50_ms"] <= row["event_p99_ms"] <= row["event_max_ms"]


def test_bench_prints_a_table() -> None:
    """Without --json the bench prints a header line, column names and one row per way."""
    lines: list[str] = []
    run_reload_bench(nodes=100, repeat=1, as_json=False, write=lines.append)
    assert lines[0].startswith("reload of one flow of 102 nodes")
    assert "reload s" in lines[1] and len(lines) == 6
