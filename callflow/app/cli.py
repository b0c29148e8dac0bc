"""`callflow run` (serve calls) and `callflow demo` (a real call through the sample flow)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from callflow.api.server import ApiServerError
from callflow.app import logs
from callflow.app.main import App
from callflow.app.service import ServiceError
from callflow.app.settings import SettingsError, load_settings
from callflow.store import StoreError


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callflow run`` and ``callflow demo``."""
    run = subparsers.add_parser("run", help="connect to Asterisk and serve calls")
    run.add_argument("--config", required=True, type=Path, help="settings file (YAML)")
    run.add_argument("--log-format", choices=("text", "json"), help="override log.format")
    run.add_argument("--log-level", help="override log.level (debug, info, warning...)")
    run.set_defaults(func=_run)

    demo = subparsers.add_parser(
        "demo", help="start the sandbox Asterisk and place a real call through the sample flow"
    )
    demo.add_argument("--flow", type=Path, default=None, help="flow file (default: the sample)")
    demo.add_argument("--number", default="700", help="number the softphone dials")
    demo.add_argument("--keys", default="123#", help="keys the caller presses")
    demo.add_argument("--keep", action="store_true", help="leave the sandbox running")
    demo.set_defaults(func=_demo)


def _run(args: argparse.Namespace) -> int:
    fmt = args.log_format or "text"

    def fatal(message: str, code: int) -> int:
        """One line on stderr, in the log format (a JSON object with --log-format json)."""
        if fmt == "json":
            print(logs.fatal_json(message, code), file=sys.stderr)
        else:
            print(f"callflow: {message}", file=sys.stderr)
        return code

    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        return fatal(str(exc), 2)
    fmt = args.log_format or settings.log_format
    logs.configure(args.log_level or settings.log_level, fmt)
    new_store = settings.store_url is None and not settings.store.exists()
    try:
        app = App(settings)
    except SettingsError as exc:
        return fatal(str(exc), 2)
    except StoreError as exc:  # a database that cannot be reached or read
        return fatal(str(exc), 1)
    loaded = app.load_flows()
    for diagnostic in loaded.diagnostics:
        print(
            logs.fatal_json(str(diagnostic), None) if fmt == "json" else diagnostic, file=sys.stderr
        )
    for problem in loaded.problems:
        fatal(str(problem), 2)
    if not loaded.applied:
        if new_store:  # a refused start leaves nothing behind
            app.store.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{settings.store}{suffix}").unlink(missing_ok=True)
        return fatal("the flows have errors; not starting", 2)
    try:
        asyncio.run(app.run())
    except (ServiceError, ApiServerError, StoreError) as exc:  # StoreError: NodeInUse
        return fatal(str(exc), 1)
    except KeyboardInterrupt:
        return 130
    return 0


def _demo(args: argparse.Namespace) -> int:
    from callflow.app.demo import run_demo

    return run_demo(flow=args.flow, number=args.number, keys=args.keys, keep=args.keep)
