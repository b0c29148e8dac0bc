"""docs/events.md documents every event kind callflow writes to its store.

The source of callflow/ is scanned (``ast``, not imported) for the calls that write an event
and whose kind is written out in the code:

- ``<...store>.append(KIND, ...)``: the event log's own write;
- ``.save_callback(row, KIND, ...)`` and ``.save_attempt(attempt, lead, KIND, ...)``: a row
  and its event together (and a parameter ``kind="..."``'s default, as ``save_attempt``'s);
- ``Record(KIND, ...)`` / ``Record(callback, KIND, ...)``, ``self._record(KIND, ...)`` and
  ``self._log(KIND, ...)``: the queue's and the callbacks' records, written later by their
  drivers (``callflow/queue/live.py``, ``callflow/callback/live.py``).

KIND is a string literal, or a module constant holding one (``COMMAND_EVENT``,
``preview.REQUEST``). Kinds the code builds (an f-string, ``verdict.kind``) are listed here
by hand, each with the code that builds it, and checked against that code where it can be.
A kind counts as documented when it is in backquotes in a heading of docs/events.md, or in
the first cell of one of its table rows.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from callflow.callback.model import CallbackState
from callflow.dialer import preview

REPO = Path(__file__).resolve().parents[2]
SOURCE = REPO / "callflow"
DOC = REPO / "docs" / "events.md"

KIND = re.compile(r"[a-z][a-z_]*(?:\.[a-z][a-z_-]*)+")
"""An event kind: dotted lower-case words (``callback.retry-wait`` has a hyphen)."""

# The kinds the code builds, one list per place that builds them.

# callflow/callback/machine.py, _record: Record(callback, f"callback.{callback.state.value}"),
# one kind per CallbackState (every transition of a callback, written by
# callflow/callback/live.py, CallbackService.perform -> store.save_callback).
CALLBACK_STATE_KINDS = (
    "callback.requested",
    "callback.waiting",
    "callback.reserved",
    "callback.dialing",
    "callback.connected",
    "callback.completed",
    "callback.retry-wait",
    "callback.failed",
    "callback.expired",
    "callback.cancelled",
)

# callflow/dialer/live.py, CampaignRunner._decided: store.append(verdict.kind, ...), where
# verdict.kind is one of callflow/dialer/preview.py's VERDICTS (PreviewDesk.answer, .due).
PREVIEW_VERDICT_KINDS = (
    "campaign.preview.accepted",
    "campaign.preview.skipped",
    "campaign.preview.timeout",
)

# callflow/store/sqlite.py, SqliteStore.claim_attempt: the event row is built as a tuple
# with the literal kind "campaign.attempt" (not through append).
STORE_KINDS = ("campaign.attempt",)

BUILT_KINDS = {
    "callback.": CALLBACK_STATE_KINDS,
}
"""Each prefix of a kind built by an f-string (or ``"prefix" + ...``) in a writing call, and
the kinds it can make. A new built kind elsewhere fails test_built_kinds_are_known."""

WRITERS = {"append": (0,), "save_callback": (1,), "save_attempt": (2,), "Record": (0, 1)}
"""Writing calls, and the positions of their kind argument."""
RECORDERS = {"_record", "_log"}
"""Methods (on ``self``) whose first argument is a kind."""


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SOURCE.rglob("*.py")):
        yield str(path.relative_to(REPO)), ast.parse(path.read_text(), filename=str(path))


def _constants(trees: list[tuple[str, ast.Module]]) -> dict[str, set[str]]:
    """Module-level ``NAME = "a.kind"`` assignments, by name (every module's)."""
    found: dict[str, set[str]] = {}
    for _, tree in trees:
        for node in tree.body:
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign):
                targets, value = [node.target], node.value
            else:
                continue
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                continue
            if not KIND.fullmatch(value.value):
                continue
            for target in targets:
                if isinstance(target, ast.Name):
                    found.setdefault(target.id, set()).add(value.value)
    return found


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _on_store(func: ast.expr) -> bool:
    """``store.append``, ``self.store.append``, ``queues.store.append``..."""
    if not isinstance(func, ast.Attribute):
        return False
    owner = func.value
    name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
    return "store" in name.lower()


def _kind_args(call: ast.Call) -> list[ast.expr]:
    name = _name(call.func)
    if name == "append" and not _on_store(call.func):
        return []
    if name in RECORDERS:
        positions: tuple[int, ...] = (0,)
    elif name in WRITERS:
        positions = WRITERS[name]
    else:
        return []
    args = [call.args[i] for i in positions if i < len(call.args)]
    args += [k.value for k in call.keywords if k.arg == "kind"]
    return args


def _prefix(node: ast.expr) -> str | None:
    """The literal beginning of a built string (f-string, ``"..." + x``); None otherwise."""
    if isinstance(node, ast.JoinedStr):
        first = node.values[0] if node.values else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value
        return ""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = node.left
        if isinstance(left, ast.Constant) and isinstance(left.value, str):
            return left.value
        return _prefix(left)
    return None


def _literals(node: ast.expr, constants: dict[str, set[str]]) -> set[str]:
    """The kinds an argument names: a literal, a constant, either side of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} if KIND.fullmatch(node.value) else set()
    if isinstance(node, ast.IfExp):
        return _literals(node.body, constants) | _literals(node.orelse, constants)
    if isinstance(node, ast.Name | ast.Attribute):
        return set(constants.get(_name(node), ()))
    return set()


def _default_kinds(args: ast.arguments) -> set[str]:
    """The kind a parameter ``kind="..."`` defaults to (``save_attempt``'s)."""
    params = [*args.posonlyargs, *args.args]
    pairs = [
        *zip(params[len(params) - len(args.defaults) :], args.defaults, strict=True),
        *zip(args.kwonlyargs, args.kw_defaults, strict=True),
    ]
    found: set[str] = set()
    for param, default in pairs:
        if param.arg == "kind" and default is not None:
            found |= _literals(default, {})
    return found


def scan() -> tuple[dict[str, set[str]], list[tuple[str, int, str]]]:
    """(each literal kind written, with the files that write it), and each built kind's
    (file, line, literal prefix)."""
    trees = list(_sources())
    constants = _constants(trees)
    literal: dict[str, set[str]] = {}
    built: list[tuple[str, int, str]] = []
    for where, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for kind in _default_kinds(node.args):
                    literal.setdefault(kind, set()).add(where)
            if not isinstance(node, ast.Call):
                continue
            for arg in _kind_args(node):
                for kind in _literals(arg, constants):
                    literal.setdefault(kind, set()).add(where)
                prefix = _prefix(arg)
                if prefix is not None:
                    built.append((where, arg.lineno, prefix))
    return literal, built


def documented() -> set[str]:
    """The kinds docs/events.md documents: in backquotes in a heading, or in a table row's
    first cell."""
    found: set[str] = set()
    for line in DOC.read_text().splitlines():
        text = line.strip()
        if text.startswith("#"):
            place = text
        elif text.startswith("|"):
            place = text.strip("|").split("|", 1)[0]
        else:
            continue
        found.update(k for k in re.findall(r"`([^`]+)`", place) if KIND.fullmatch(k))
    return found


def test_the_scan_finds_the_writers() -> None:
    """The scan sees each form of writing call (else the checks below would pass on none)."""
    literal, built = scan()
    for kind in (
        "call.start",  # store.append, ivr/runner.py
        "queue.connect",  # self._record, queue/caller.py
        "queue.complete",  # self._log, queue/live.py
        "agent.command",  # COMMAND_EVENT, queue/control.py
        "campaign.preview.request",  # preview.REQUEST, dialer/screen.py
        "campaign.preview.presented",  # pv.PRESENTED, dialer/live.py
        "callback.attempt",  # Record(callback, "callback.attempt"), callback/machine.py
        "callback.cancelled",  # save_callback(row, "callback.cancelled"), callback/live.py
        "campaign.attempt",  # save_attempt's default kind, store/sqlite.py
    ):
        assert kind in literal, f"the scan missed {kind}"
    assert any(prefix == "callback." for _, _, prefix in built)


def test_literal_kinds_are_documented() -> None:
    literal, _ = scan()
    missing = {kind: sorted(places) for kind, places in literal.items()}
    for kind in documented():
        missing.pop(kind, None)
    assert not missing, f"event kinds written but not in docs/events.md: {missing}"


def test_built_kinds_are_documented() -> None:
    # The lists above are the code's own.
    assert set(CALLBACK_STATE_KINDS) == {f"callback.{state.value}" for state in CallbackState}
    assert set(PREVIEW_VERDICT_KINDS) == set(preview.VERDICTS)
    missing = {*CALLBACK_STATE_KINDS, *PREVIEW_VERDICT_KINDS, *STORE_KINDS} - documented()
    assert not missing, f"event kinds written but not in docs/events.md: {sorted(missing)}"


def test_built_kinds_are_known() -> None:
    """A kind built by an f-string in a writing call has its family listed above."""
    _, built = scan()
    unknown = [(where, line, prefix) for where, line, prefix in built if prefix not in BUILT_KINDS]
    assert not unknown, f"event kinds built in code with no list in this test: {unknown}"


def test_documented_kinds_are_written() -> None:
    """No heading or table entry of docs/events.md names a kind that nothing writes."""
    literal, _ = scan()
    written = {*literal, *CALLBACK_STATE_KINDS, *PREVIEW_VERDICT_KINDS, *STORE_KINDS}
    stale = documented() - written
    assert not stale, f"docs/events.md documents kinds nothing writes: {sorted(stale)}"
