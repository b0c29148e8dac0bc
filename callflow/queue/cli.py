"""CLI: the ``callflow queues check`` command."""

from __future__ import annotations

import argparse
import sys

from callflow.flow.diagnostics import Diagnostic, Location, Severity
from callflow.flow.loader import load_flow
from callflow.queue.config import check_queues, load_queues


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``queues`` with its ``check`` action."""
    queues_parser = subparsers.add_parser(
        "queues",
        help="agents and queues: check config/queues.yaml",
        description="Work with the agents and queues file (config/queues.yaml).",
    )
    actions = queues_parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check_parser = actions.add_parser(
        "check",
        help="check queues files and report every problem",
        description="Check queues files. Errors are listed first, then warnings; the exit "
        "code is 1 when there is any error.",
    )
    check_parser.add_argument("files", nargs="+", metavar="FILE", help="queues files")
    check_parser.add_argument(
        "--flow",
        metavar="FLOW",
        default=None,
        help="a flow file whose nodes exit keys and overflow targets must name",
    )
    check_parser.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    """Print errors then warnings with counts; exit 1 on any error."""
    nodes: set[str] | None = None
    found: list[Diagnostic] = []
    if args.flow is not None:
        flow, flow_diagnostics = load_flow(args.flow)
        if flow is None:
            bad = sum(d.is_error for d in flow_diagnostics)
            found.append(
                Diagnostic(
                    Location(args.flow, 1, 1),
                    Severity.WARNING,
                    f"the flow has {bad} error(s) (see callflow check); flow node names"
                    " in the queues file are not checked",
                )
            )
        else:
            nodes = set(flow.nodes)
    found += check_queues(args.files, nodes)
    if nodes is not None:
        # The flow loads on its own; against these queues it must also name only queues
        # they define, as callflow run requires.
        for path in args.files:
            center, _ = load_queues(path)
            if center is not None:
                _, against = load_flow(args.flow, queue_exits=center.exits(), queues_path=path)
                found += [d for d in against if d.is_error]
    errors = [d for d in found if d.is_error]
    warnings = [d for d in found if not d.is_error]
    out = sys.stdout
    for diagnostic in errors + warnings:
        print(diagnostic, file=out)
    summary = f"{_count(len(errors), 'error')}, {_count(len(warnings), 'warning')}"
    print(f"{_count(len(args.files), 'file')} checked: {summary}", file=out)
    return 1 if errors else 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
