"""`callflow prompts build|check`: render the flows' text prompts for Asterisk."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callflow.flow.loader import load_flow
from callflow.prompts.build import PromptError, Speaks, build_prompts, missing_prompts
from callflow.queue.config import load_queues
from callflow.sandbox import Sandbox


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callflow prompts ...``."""
    parser = subparsers.add_parser("prompts", help="render text prompts to audio (espeak-ng)")
    sub = parser.add_subparsers(dest="prompts_command", metavar="ACTION", required=True)
    for name, func, help_text in (
        ("build", _build, "render every text prompt not built yet"),
        ("check", _check, "list text prompts that are not built"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("flows", nargs="+", type=Path, help="flow files")
        cmd.add_argument("--queues", type=Path, help="the queues file (periodic prompts)")
        where = cmd.add_mutually_exclusive_group(required=True)
        where.add_argument("--sounds-dir", type=Path, help="Asterisk's sounds directory")
        where.add_argument("--sandbox", metavar="NAME", help="the sounds of a running sandbox")
        cmd.set_defaults(func=func)


def sandbox_sounds_dir(name: str) -> Path | None:
    """The sounds directory of a running sandbox, as seen from the host."""
    info = Sandbox.load(name)
    return None if info is None else info.sounds_dir


def _load(args: argparse.Namespace) -> tuple[list[Speaks], Path] | None:
    sounds_dir = args.sounds_dir or sandbox_sounds_dir(args.sandbox)
    if sounds_dir is None:
        print(f"callflow prompts: sandbox {args.sandbox} is not running", file=sys.stderr)
        return None
    sources: list[Speaks] = []
    for path in args.flows:
        flow, diagnostics = load_flow(str(path))
        if flow is None:
            for diagnostic in diagnostics:
                print(diagnostic, file=sys.stderr)
            return None
        sources.append(flow)
    if args.queues is not None:
        center, diagnostics = load_queues(str(args.queues))
        if center is None:
            for diagnostic in diagnostics:
                print(diagnostic, file=sys.stderr)
            return None
        sources.append(center)
    return sources, sounds_dir


def _build(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if loaded is None:
        return 1
    flows, sounds_dir = loaded
    try:
        report = build_prompts(flows, sounds_dir)
    except PromptError as exc:
        print(f"callflow prompts: {exc}", file=sys.stderr)
        return 1
    print(f"prompts in {sounds_dir}: {report.summary()}")
    return 0


def _check(args: argparse.Namespace) -> int:
    loaded = _load(args)
    if loaded is None:
        return 1
    missing = missing_prompts(*loaded)
    for text, path in missing:
        print(f"not built: {text!r} ({path.name})")
    print(f"{len(missing)} text prompts not built")
    return 1 if missing else 0
