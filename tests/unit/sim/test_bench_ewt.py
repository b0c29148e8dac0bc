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
    """Each --json line is an object with scenario, predictor, rrase, p_over, n, and the same
    for the figures callers were told (told_rrase, told_p_over, told)."""
    assert _run(["bench", "ewt", "--json", *TINY]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines
    predictors = set()
    for line in lines:
        row = json.loads(line)
        assert list(row) == [
            "scenario",
            "predictor",
            "rrase",
            "p_over",
            "n",
            "told_rrase",
            "told_p_over",
            "told",
        ]
        assert row["scenario"] == "s10-rho1.20-pat60"
        assert isinstance(row["rrase"], float) and isinstance(row["p_over"], float)
        assert isinstance(row["n"], int) and row["n"] > 0
        predictors.add(row["predictor"])
    assert {"app_queue", "default", "QL", "QLA", "LES", "HOL"} <= predictors


def test_table_output_has_aligned_columns_and_goal_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The table has one row per predictor, a ratio to app_queue, and says which goals hold."""
    assert _run(["bench", "ewt", *TINY]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "scenario",
        "predictor",
        "rrase",
        "p_over",
        "n",
        "vs_app_queue",
        "told_rrase",
        "told_p_over",
        "told",
    ]
    widths = {len(line) for line in out[1:8]}
    assert len(widths) == 1
    assert any(line.startswith("goal: default rrase") for line in out)


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
    assert {"s5-rho0.85-pat60", "s100-rho1.20-pat180", "s50-rho0.95-pat60-sin"} <= names


def test_scenario_seed_is_stable_across_processes_and_grids() -> None:
    """A scenario's seed comes from its name and the base seed only (crc32, not salted hash)."""
    assert scenario_seed(1, "s10-rho0.95-pat60") == 3484377632
    assert scenario_seed(2, "s10-rho0.95-pat60") != 3484377632
    quick = {s.name for s in build_grid(quick=True).scenarios}
    assert quick <= {s.name for s in build_grid().scenarios}
