"""Tests for `callflow bench ewt`: the grid, the JSON line format and the table."""

from __future__ import annotations

import argparse
import json

import pytest

from callflow.bench.cli import add_commands
from callflow.bench.ewt import build_grid, scenario_seed

TINY = ["--quick", "--only", "s10-rho1.20-pat60", "--callers", "150", "--jobs", "1"]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="callflow")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_json_output_is_one_object_per_line_with_the_documented_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each --json line is an object per scenario and predictor: the mean, announced and
    spoken figures' scores (rrase, bias, p_over, n), the spoken one at join and re-announced,
    paired with app_queue's, heard (silence as 0 s), in its worst 5-minute window and by
    callers ahead."""
    assert _run(["bench", "ewt", "--json", *TINY]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines
    predictors = set()
    for line in lines:
        row = json.loads(line)
        assert list(row) == [
            "scenario",
            "predictor",
            "mean",
            "announced",
            "spoken",
            "spoken_join",
            "spoken_again",
            "worst_5min_p_over",
            "spoken_paired",
            "heard",
            "vs_app_queue_heard",
            "vs_app_queue",
            "spoken_by_ahead",
        ]
        assert row["scenario"] == "s10-rho1.20-pat60"
        for figure in ("mean", "announced", "spoken"):
            assert list(row[figure]) == ["rrase", "bias", "p_over", "n"]
        assert isinstance(row["mean"]["rrase"], float) and row["mean"]["n"] > 0
        bands = row["spoken_by_ahead"]
        assert set(bands) <= {"0", "1", "2-3", "4-7", "8-15", "16-31", "32-63", "64+"}
        assert sum(band["n"] for band in bands.values()) == row["spoken"]["n"]
        predictors.add(row["predictor"])
    assert {"app_queue", "default", "QL", "QLA", "LES", "HOL", "model-p80"} <= predictors


def test_table_output_has_aligned_columns_and_goal_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The table has one row per predictor, the spoken figure's ratio to app_queue's, and
    says which goals hold."""
    assert _run(["bench", "ewt", *TINY]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "scenario",
        "predictor",
        "mean_rrase",
        "ann_rrase",
        "ann_p_over",
        "spoken_rrase",
        "bias_s",
        "p_over",
        "join",
        "again",
        "worst5",
        "vs_app_queue",
        "vs_heard",
        "n",
    ]
    widths = {len(line) for line in out[1:8]}
    assert len(widths) == 1
    assert any(line.startswith("goal: default spoken rrase") for line in out)
    assert any(line.startswith("goal: default spoken p_over") for line in out)


def test_same_seed_gives_the_same_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Fixed seeds make two runs print identical lines."""
    _run(["bench", "ewt", "--json", *TINY])
    first = capsys.readouterr().out
    _run(["bench", "ewt", "--json", *TINY])
    assert capsys.readouterr().out == first


def test_grid_skips_unstable_scenarios_and_says_so() -> None:
    """rho >= 1 without abandonment is not run but listed with the reason."""
    grid = build_grid()
    names = {s.name for s in grid.scenarios}
    assert not any("patnone" in n and ("rho1.05" in n or "rho1.20" in n) for n in names)
    assert {name for name, _ in grid.skipped} >= {"s5-rho1.05-patnone", "s100-rho1.20-patnone"}
    assert all("steady state" in why for _, why in grid.skipped)
    assert {"s5-rho0.85-pat60", "s100-rho1.20-pat180", "s50-rho0.95-pat120-sin"} <= names


def test_scenario_seed_is_stable_across_processes_and_grids() -> None:
    """A scenario's seed comes from its name and the base seed only (crc32, not salted hash)."""
    assert scenario_seed(1, "s10-rho0.95-pat60") == 3484377632
    assert scenario_seed(2, "s10-rho0.95-pat60") != 3484377632
    quick = {s.name for s in build_grid(quick=True).scenarios}
    assert quick <= {s.name for s in build_grid().scenarios}


def test_oracle_table_has_the_oracle_rows_and_says_what_is_feasible(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``python -m callflow.bench.ewt --oracle``: the default, app_queue and every oracle and
    seer figure per scenario, then per scenario the oracle's p80 error ratio and the highest
    level meeting the goal, and the count of scenarios where its p80 meets it."""
    from callflow.bench.ewt import main, oracle_grid

    names = [s.name for s in oracle_grid(10)]
    assert "s2-rho0.95-pat60" in names and "s100-rho0.95-pat60" in names
    assert not any("patnone" in name for name in names)
    assert main(["--oracle", "--only", "s2-rho0.85-pat60", "--callers", "60", "--runs", "20"]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[1] for line in out.splitlines()[1:] if line.startswith("s2-")]
    assert rows[:2] == ["default", "app_queue"]
    assert "oracle-p80" in rows and "seer-p50" in rows
    assert "oracle s2-rho0.85-pat60: p80 vs app_queue" in out
    assert "scenarios" in out.splitlines()[-1]
    with pytest.raises(SystemExit):
        main(["--only", "s2"])


def test_the_table_can_be_made_from_the_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m callflow.bench.ewt --table FILE``: the same table and goals as the run
    printed, from its ``--json`` lines (scenarios of the grid not in them are listed)."""
    from callflow.bench.ewt import row_from_json, table_from_json

    assert _run(["bench", "ewt", "--json", *TINY]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert _run(["bench", "ewt", *TINY]) == 0
    printed = capsys.readouterr().out.splitlines()
    made: list[str] = []
    assert table_from_json(lines, made.append) == 0
    table = [line for line in made if not line.startswith(("skipped", "not run"))]
    assert table == [line for line in printed if not line.startswith("skipped")]
    assert any(line.startswith("not run s2-rho0.85-pat60") for line in made)
    with pytest.raises(ValueError, match="not a bench ewt JSON row"):
        row_from_json('{"x": 1}')
