"""CLI: the ``callflow check`` and ``callflow schema`` commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from callflow.app.settings import SettingsError, load_settings, settings_schema
from callflow.flow.diagnostics import Diagnostic, sort_key
from callflow.flow.prompts import scan_sounds
from callflow.flow.schema import flow_schema
from callflow.flow.source import compose
from callflow.queue.config import QueueCenter, load_queues, queues_schema


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
        help="print the JSON Schema of flow, queues or settings files",
        description="Print the JSON Schema (draft 2020-12) of flow files (or of queues or "
        "settings files), for the YAML language server: save it and add "
        "'# yaml-language-server: $schema=PATH' as the file's first line.",
    )
    schema_parser.add_argument(
        "--kind",
        choices=("flow", "queues", "settings"),
        default="flow",
        help="which files: flow (the default), queues or settings",
    )
    schema_parser.set_defaults(func=run_schema)


def run_check(args: argparse.Namespace) -> int:
    """Print errors then warnings with counts; exit 1 on any error.

    Each file is checked as what it is: a flow, a queues file (top-level ``agents`` or
    ``queues`` and no ``nodes``), a campaign (``dial_mode``), or a settings file (``ari`` or
    ``flows``: its flows, queues and campaigns are checked too), so ``callflow check
    config/*.yaml`` checks a whole setup. Campaigns are read by ``callflow run``'s parser, and
    their agents and queues looked up in the queues file.
    The flows are checked together, by the very function ``callflow run`` uses
    (:func:`callflow.ivr.registry.validate`): what this passes, ``run`` starts.
    """
    # Imported here: the IVR (callflow.ivr) imports the flow package this module belongs to.
    from callflow.dialer.cli import check_campaign_files
    from callflow.ivr.registry import validate

    sounds = scan_sounds(args.sounds, args.language) if args.sounds else None
    diagnostics: list[Diagnostic] = []
    problems: list[str] = []  # settings errors: one line each, already placed
    for folder in args.sounds:
        if not os.path.isdir(folder):
            # Said once, rather than every sound of every flow reported missing.
            problems.append(f"--sounds {folder}: no such directory; sounds are not checked")
            sounds = None
    flows: list[str] = []
    campaign_files: list[str] = []
    queue_files = [args.queues] if args.queues else []
    prompts_dir: Path | None = None
    for path in args.files:
        kind = _kind_of(path)
        if kind == "queues":
            queue_files.append(path)
        elif kind == "campaign":
            campaign_files.append(path)
        elif kind == "settings":
            try:
                settings = load_settings(Path(path))
            except SettingsError as exc:
                # Each problem as its own diagnostic (counted, sorted with the rest); a
                # problem that is no diagnostic (a missing file) as one line.
                diagnostics.extend(exc.diagnostics)
                if not exc.diagnostics:
                    problems.append(f"{exc} (as a settings file)")
                continue
            flows.extend(str(flow) for flow in settings.flows)
            campaign_files.extend(str(campaign) for campaign in settings.campaigns)
            if settings.queues is not None:
                queue_files.append(str(settings.queues))
            if settings.sounds_dir is not None and settings.sounds_dir.is_dir():
                # Text prompts must be built there, as run requires; a sounds_dir that is
                # not on this machine (a container's) is left to the machine that has it.
                prompts_dir = prompts_dir or settings.sounds_dir
        else:
            flows.append(path)
    centers = []
    for path in {os.path.realpath(f): f for f in queue_files}.values():
        center, found = load_queues(path)
        diagnostics.extend(found)
        if center is not None:
            centers.append(center)
    flows = list({os.path.realpath(f): f for f in flows}.values())
    center = _one_center(centers, queue_files)
    checked = validate(flows, sounds=sounds, queues=center, prompts_dir=prompts_dir)
    problems.extend(checked.problems)
    campaign_files = list({os.path.realpath(f): f for f in campaign_files}.values())
    found, campaign_problems = check_campaign_files(campaign_files, center, prompts_dir)
    diagnostics.extend(found)
    problems.extend(campaign_problems)
    diagnostics = sorted(dict.fromkeys([*diagnostics, *checked.diagnostics]), key=sort_key)
    errors = [d for d in diagnostics if d.is_error]
    warnings = [d for d in diagnostics if not d.is_error]
    out = sys.stdout
    for line in [*problems, *map(str, errors), *map(str, warnings)]:
        print(line, file=out)
    n_errors = len(errors) + len(problems)
    summary = f"{_count(n_errors, 'error')}, {_count(len(warnings), 'warning')}"
    every = {os.path.realpath(f) for f in [*args.files, *flows, *queue_files, *campaign_files]}
    checked_files = _count(len(every), "file")
    print(f"{checked_files} checked: {summary}", file=out)
    return 1 if n_errors else 0


def _one_center(centers: list[QueueCenter], files: list[str]) -> QueueCenter | None:
    """The queues the flows are checked against: None when no queues file was given (queue
    names are then not checked); all of them as one when several were."""
    if not files:
        return None
    if len(centers) == 1:
        return centers[0]
    agents = {name: a for center in centers for name, a in center.agents.items()}
    queues = {name: q for center in centers for name, q in center.queues.items()}
    return QueueCenter.build(agents.values(), queues.values(), ", ".join(c.path for c in centers))


def _kind_of(path: str) -> str:
    """flow, queues or settings, from the top-level keys (a flow when in doubt, so that
    the flow checker reports what is wrong with it)."""
    try:
        with open(path, encoding="utf-8") as file:
            root = compose(file.read())  # libyaml's parser: a large flow is read twice
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "flow"
    if not isinstance(root, yaml.MappingNode):
        return "flow"
    keys = {k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode)}
    if keys & {"nodes", "entry", "include"}:
        return "flow"
    if keys & {"ari", "flows", "store"}:
        return "settings"
    if "dial_mode" in keys:
        return "campaign"
    if keys & {"agents", "queues"}:
        return "queues"
    return "flow"


def run_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of flow, queues or settings files (``--kind``)."""
    schemas = {"flow": flow_schema, "queues": queues_schema, "settings": settings_schema}
    json.dump(schemas[args.kind](), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
