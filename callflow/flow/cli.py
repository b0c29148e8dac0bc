"""CLI: the ``callflow check`` and ``callflow schema`` commands."""

from __future__ import annotations

import argparse
import json
import sys

from callflow.flow.diagnostics import Diagnostic, sort_key
from callflow.flow.loader import check
from callflow.flow.prompts import scan_sounds
from callflow.flow.schema import flow_schema
from callflow.queue.config import load_queues


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``check`` and ``schema``."""
    check_parser = subparsers.add_parser(
        "check",
        help="check flow files and report every problem",
        description="Check flow files (and the sub-flows they include). Errors are listed "
        "first, then warnings; the exit code is 1 when there is any error.",
    )
    check_parser.add_argument("files", nargs="+", metavar="FILE", help="flow files")
    check_parser.add_argument(
        "--sounds",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of sound files to check sound: prompts against (repeatable); "
        "default: the flow's settings.sounds_dir when it exists here",
    )
    check_parser.add_argument(
        "--language",
        default=None,
        help="language subdirectory to look in under each --sounds DIR (e.g. en)",
    )
    check_parser.add_argument(
        "--queues",
        metavar="FILE",
        help="the queues file (queues.yaml): nodes its exit keys and overflows send callers "
        "to count as reached from the flows' queue nodes",
    )
    check_parser.set_defaults(func=run_check)

    schema_parser = subparsers.add_parser(
        "schema",
        help="print the JSON Schema of flow files",
        description="Print the JSON Schema (draft 2020-12) of flow files, for the YAML "
        "language server: save it and add '# yaml-language-server: $schema=PATH' "
        "as a flow's first line.",
    )
    schema_parser.set_defaults(func=run_schema)


def run_check(args: argparse.Namespace) -> int:
    """Print errors then warnings with counts; exit 1 on any error."""
    sounds = scan_sounds(args.sounds, args.language) if args.sounds else None
    exits = None
    diagnostics: list[Diagnostic] = []
    if args.queues:
        center, found = load_queues(args.queues)
        diagnostics.extend(found)
        exits = center.exits() if center is not None else None
    diagnostics = sorted(
        dict.fromkeys([*diagnostics, *check(args.files, sounds, exits)]), key=sort_key
    )
    errors = [d for d in diagnostics if d.is_error]
    warnings = [d for d in diagnostics if not d.is_error]
    out = sys.stdout
    for diagnostic in errors + warnings:
        print(diagnostic, file=out)
    summary = f"{_count(len(errors), 'error')}, {_count(len(warnings), 'warning')}"
    checked = _count(len(args.files), "file")
    print(f"{checked} checked: {summary}", file=out)
    return 1 if errors else 0


def run_schema(args: argparse.Namespace) -> int:
    """Print the flow JSON Schema."""
    json.dump(flow_schema(), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
