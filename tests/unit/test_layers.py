"""The import contract: callflow's layers, each importing only from those below it.

    command line (cli modules, bench)       the user's commands
    app                                     the wiring: settings, the Stasis service
    ivr, sim, api                           live adapters, the simulator, the supervisor's API
    flow, queue, callback, prompts          the decisions (sans-I/O), queue/ and callback/live.py
    call                                    one live call's telephony primitives
    ari, store, sandbox, testing            the ground: Asterisk, the database, the sandbox
    yamlcheck                               (and the YAML checking every file shares)

A command-line module (``cli.py``, ``*_cli.py``, ``flow/graph.py``, everything in
``bench/``) may import anything; nothing may import it back. The pure modules (the flow
language, the queue's decisions, the simulators, the recovery plan) may not reach for I/O at
all: no ARI client, no call, no store, no asyncio.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import callflow

ROOT = Path(callflow.__file__).parent

LAYERS: dict[str, int] = {
    "ari": 0,
    "store": 0,
    "sandbox": 0,
    "testing": 0,
    "yamlcheck": 0,
    "call": 1,
    "flow": 2,
    "queue": 2,
    "dialer": 2,
    "callback": 2,
    "prompts": 2,
    "kpi": 2,
    "ivr": 3,
    "sim": 3,
    "api": 3,
    "app": 4,
    "bench": 5,
    "cli": 5,
    "__main__": 5,
}
# Within a layer, these packages may import these others (never both ways).
SAME_LAYER = {
    ("queue", "flow"),
    ("prompts", "flow"),
    ("prompts", "queue"),
    ("sim", "queue"),
    ("callback", "queue"),
    ("callback", "flow"),
    ("dialer", "callback"),
    ("dialer", "queue"),
    ("dialer", "flow"),
    ("kpi", "queue"),
}

PURE_MODULES = (
    "callflow.callback.book",
    "callflow.callback.machine",
    "callflow.callback.model",
    "callflow.callback.number",
    "callflow.dialer.blend",
    "callflow.dialer.campaign",
    "callflow.dialer.pacing",
    "callflow.dialer.preview",
    "callflow.dialer.rules",
    "callflow.dialer.window",
    "callflow.flow.",
    "callflow.queue.agents",
    "callflow.queue.announce",
    "callflow.queue.caller",
    "callflow.queue.config",
    "callflow.queue.estimate",
    "callflow.queue.routing",
    "callflow.queue.staffing",
    "callflow.kpi.staffing",
    "callflow.queue.wait",
    "callflow.sim.",
    "callflow.call.recovery",
    "callflow.kpi.",
    "callflow.yamlcheck.",
)
# What a pure module may not import: I/O, and the layers that do it.
IMPURE = (
    "asyncio",
    "aiohttp",
    "websockets",
    "sqlite3",
    "socket",
    "callflow.ari.rest",
    "callflow.ari.stream",
    "callflow.ari.dispatch",
    "callflow.call.primitives",
    "callflow.store",
    "callflow.app",
    "callflow.ivr",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_command_line(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return (
        last == "cli"
        or last.endswith("_cli")
        or name in ("callflow.flow.graph", "callflow.cli", "callflow.__main__")
        or name.startswith("callflow.bench")
    )


def imports(path: Path) -> Iterator[str]:
    """Every module a file imports (at any depth: imports inside functions count too)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def package(name: str) -> str:
    return name.split(".")[1] if name.count(".") else name


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        yield module_name(path), path


def test_every_package_has_a_layer() -> None:
    """A new top-level package must be given its place in the layers."""
    names = {package(name) for name, _ in modules() if name != "callflow"}
    assert names <= set(LAYERS), sorted(names - set(LAYERS))


def test_imports_go_down_the_layers_only() -> None:
    """No module imports a layer above its own, nor a command-line module, and packages of
    one layer import each other in one direction only (so there is no cycle)."""
    wrong = []
    for name, path in modules():
        if name == "callflow" or is_command_line(name):
            continue
        mine = package(name)
        for target in imports(path):
            if not target.startswith("callflow.") or package(target) == mine:
                continue
            theirs = package(target)
            if is_command_line(target):
                wrong.append(f"{name} imports the command line {target}")
            elif LAYERS[theirs] > LAYERS[mine]:
                wrong.append(f"{name} ({mine}, layer {LAYERS[mine]}) imports {target} (above)")
            elif LAYERS[theirs] == LAYERS[mine] and (mine, theirs) not in SAME_LAYER:
                wrong.append(f"{name} imports {target}: same layer, not an allowed direction")
    assert not wrong, "\n".join(wrong)


def test_decisions_do_no_io() -> None:
    """The pure modules (flow language, queue decisions, simulators, recovery plan) import
    no I/O: the live layer and the simulator drive the very same objects."""
    wrong = []
    for name, path in modules():
        if not name.startswith(PURE_MODULES) or is_command_line(name):
            continue
        for target in imports(path):
            if target.startswith(IMPURE) or target in IMPURE:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)
