"""The ``callflow bench`` command: one sub-subcommand per benchmark kind (``ewt`` so far)."""

from __future__ import annotations

import argparse

from callflow.bench.ewt import run_ewt_bench


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench`` and its kinds to the ``callflow`` parser."""
    bench = subparsers.add_parser(
        "bench",
        help="simulate and score callflow's decisions",
        description="Simulate and score callflow's decisions against baselines.",
    )
    kinds = bench.add_subparsers(dest="bench_kind", metavar="KIND", required=True)
    ewt = kinds.add_parser(
        "ewt",
        help="estimated-wait predictors vs Asterisk app_queue",
        description=(
            "Simulate M/G/s+M queues and score each wait predictor: rrase (RMS error / "
            "mean wait, answered callers who had to queue) and p_over (share who waited "
            "longer than announced)."
        ),
    )
    ewt.add_argument("--json", action="store_true", help="one JSON object per line")
    ewt.add_argument("--quick", action="store_true", help="small grid, fewer callers")
    ewt.add_argument("--seed", type=int, default=1, help="base seed (default: 1)")
    ewt.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPU count)")
    ewt.add_argument(
        "--only", metavar="TEXT", default=None, help="run only scenarios whose name contains TEXT"
    )
    ewt.add_argument(
        "--callers",
        type=int,
        default=None,
        help="measured callers per scenario (default: 20000, or 2000 with --quick)",
    )
    ewt.set_defaults(func=_run_ewt)


def _run_ewt(args: argparse.Namespace) -> int:
    return run_ewt_bench(
        as_json=args.json,
        quick=args.quick,
        seed=args.seed,
        jobs=args.jobs,
        only=args.only,
        callers=args.callers,
    )
