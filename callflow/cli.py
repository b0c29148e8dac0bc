"""The `callflow` command line: one subcommand per feature, each registered by its own folder."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module here exposes ``add_commands(subparsers)``; every subcommand it adds sets
# ``func`` (args -> exit code). Feature folders own their commands; this file only lists them.
COMMAND_MODULES = (
    "callflow.app.cli",
    "callflow.sandbox.cli",
    "callflow.flow.cli",
    "callflow.flow.graph",
    "callflow.prompts.cli",
    "callflow.queue.cli",
    "callflow.queue.agents_cli",
    "callflow.callback.cli",
    "callflow.dialer.cli",
    "callflow.bench.cli",
    "callflow.kpi.cli",
    "callflow.kpi.staffing_cli",
    "callflow.store.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the parser with every feature's subcommands."""
    parser = argparse.ArgumentParser(prog="callflow", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                # that feature is not built (yet): its folder has no cli module
                continue
            raise
        module.add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
