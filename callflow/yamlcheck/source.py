"""Source: read one YAML file into position-carrying nodes, reporting syntax errors.

PyYAML's ``compose`` keeps every node's ``start_mark`` (0-based), so each later check can
point at the exact line and column. Duplicate keys, which ``yaml.safe_load`` silently
resolves to the last value, are reported here; YAML merge keys are applied. Flows, queues
files and settings files are all read by :func:`read_source` (or :func:`read_file`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import cast

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.resolver import Resolver

from callflow.yamlcheck.diagnostics import Diagnostic, Location, Severity

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
BOOL = "tag:yaml.org,2002:bool"
NULL = "tag:yaml.org,2002:null"
TIMESTAMP = "tag:yaml.org,2002:timestamp"

# PyYAML's words for the mistakes people make most, with what usually causes them.
_HINTS = {
    "mapping values are not allowed here": "is this line indented too far, or does a value"
    " containing ': ' need quotes?",
    "found character '\\t' that cannot start any token": "indent with spaces, not tabs",
    "found undefined alias": "quote a value that starts with '*', e.g. \"*\"",
    "while scanning an alias": "quote a key or value that starts with '*', e.g. \"*\"",
}


@dataclass
class Source:
    """One parsed file: its root node (None if unreadable) and the problems found so far."""

    path: str
    root: Node | None
    diagnostics: list[Diagnostic] = field(default_factory=list)


def where(path: str, node: Node) -> Location:
    """The 1-based location of a YAML node."""
    return Location(path, node.start_mark.line + 1, node.start_mark.column + 1)


def describe(node: Node) -> str:
    """Name a YAML value's type the way a file's author would, e.g. "string 'five'"."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    assert isinstance(node, ScalarNode)
    kind = {
        STR: "string",
        INT: "whole number",
        FLOAT: "number",
        BOOL: "true/false",
        NULL: "nothing",
        TIMESTAMP: "date",
    }.get(node.tag, "value")
    if node.tag == NULL:
        return "nothing (empty value)"
    return f"{kind} '{node.value}'"


class _AliasAtUse(Composer):
    """An alias (``*name``) becomes a copy of its anchored node placed where the alias is
    written, so that a problem with the value is reported where it is used; what is inside
    a mapping or list keeps the place where it is written, at the anchor."""

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        events = cast("Parser", self)  # the parser it is mixed with: libyaml's or PyYAML's
        if not events.check_event(AliasEvent):
            return super().compose_node(parent, index)
        alias = events.peek_event()  # type: ignore[no-untyped-call]  # (types-PyYAML)
        anchored = super().compose_node(parent, index)
        if anchored is None:
            return None
        used = copy.copy(anchored)
        used.start_mark, used.end_mark = alias.start_mark, alias.end_mark
        return used


class _Loader(_AliasAtUse, yaml.SafeLoader):
    """PyYAML alone: for texts libyaml refuses (its error messages are the ones the hints
    know), and where PyYAML was built without libyaml."""


_FAST_LOADER: type[_AliasAtUse] | None = None  # None where PyYAML was built without libyaml

if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _FastLoader(_AliasAtUse, CParser, Resolver):
        """libyaml's parser (C) under PyYAML's composer (Python): every node at the same
        line and column as with PyYAML alone, composed about three times faster.

        Not ``CSafeLoader`` (faster still): its composer is one C call holding the GIL for
        the whole file, a quarter of a second for a 5000-node flow, during which a reload
        in a worker thread would stop the event loop, and every call with it.
        """

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            Resolver.__init__(self)

    _FAST_LOADER = _FastLoader


def compose(text: str) -> Node | None:
    """Compose YAML text into position-carrying nodes, with libyaml's parser when PyYAML has it.

    A text libyaml refuses is composed again by PyYAML alone, so that the error reported is
    PyYAML's (worded as the hints above expect); valid text, the case that must be fast, is
    composed once.
    """
    if _FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)  # type: ignore[arg-type]
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=_Loader)


def read_source(path: str, text: str, kind: str = "YAML") -> Source:
    """Compose YAML text into nodes; syntax errors and duplicate keys become diagnostics.

    ``kind`` names the file in the one message that speaks of it ("the flow file is empty").
    """
    try:
        root = compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable YAML"
        if "end of stream" in problem and exc.context_mark is not None:
            # An unclosed quote or bracket: point at where it opened, not at the file's end.
            mark = exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        message = f"YAML syntax error: {problem}"
        if exc.context and exc.problem:
            message += f" ({exc.context})"
        hint = _HINTS.get(problem) or _HINTS.get(exc.context or "")
        if hint:
            message += f"; {hint}"
        diag = Diagnostic(Location(path, line, column), Severity.ERROR, message)
        return Source(path, None, [diag])
    except yaml.YAMLError as exc:  # reader errors (bad bytes) carry no mark
        diag = Diagnostic(Location(path, 1, 1), Severity.ERROR, f"YAML error: {exc}")
        return Source(path, None, [diag])
    source = Source(path, root)
    if root is None:
        source.diagnostics.append(
            Diagnostic(Location(path, 1, 1), Severity.ERROR, f"the {kind} file is empty")
        )
        return source
    _find_duplicate_keys(source, root, set())
    _merge_keys(source, root, set())
    return source


def read_file(path: str, kind: str = "YAML") -> Source:
    """Read and compose a file; a file that cannot be read, or is not UTF-8, is a
    diagnostic (at the bad byte's line and column), never an exception."""
    try:
        with open(path, "rb") as file:
            data = file.read()
        text = data.decode("utf-8")
    except OSError as exc:
        message = f"cannot read file: {exc.strerror or exc}"
        return Source(path, None, [Diagnostic(Location(path, 1, 1), Severity.ERROR, message)])
    except UnicodeDecodeError as exc:
        # Point at the bad byte's line and column, as an editor shows them.
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8", "replace")) + 1
        at = Location(path, data.count(b"\n", 0, exc.start) + 1, column)
        message = (
            f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot start a"
            " character here (save the file as UTF-8)"
        )
        return Source(path, None, [Diagnostic(at, Severity.ERROR, message)])
    return read_source(path, text, kind)


MERGE = "tag:yaml.org,2002:merge"


def _merge_keys(source: Source, node: Node, seen: set[int]) -> None:
    """Apply YAML merge keys (``<<: *defaults``) in place, as ``yaml.safe_load`` would: the
    merged keys keep the place where they are written (the anchor), and keys written
    next to ``<<`` win."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        if any(key.tag == MERGE for key, _ in node.value):
            try:
                SafeConstructor().flatten_mapping(node)
            except yaml.constructor.ConstructorError as exc:
                mark = exc.problem_mark or exc.context_mark
                at = Location(source.path, mark.line + 1, mark.column + 1) if mark else None
                source.diagnostics.append(
                    Diagnostic(
                        at or where(source.path, node),
                        Severity.ERROR,
                        f"invalid merge key: {exc.problem} (<< takes an alias of a mapping,"
                        " such as <<: *defaults, or a list of them)",
                    )
                )
                node.value = [(k, v) for k, v in node.value if k.tag != MERGE]
            # flatten_mapping puts the merged keys first; the ones written here override them.
            last = {k.value: i for i, (k, _) in enumerate(node.value) if isinstance(k, ScalarNode)}
            node.value = [
                (k, v)
                for i, (k, v) in enumerate(node.value)
                if not isinstance(k, ScalarNode) or last[k.value] == i
            ]
        for key, value in node.value:
            _merge_keys(source, key, seen)
            _merge_keys(source, value, seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _merge_keys(source, item, seen)


def _find_duplicate_keys(source: Source, node: Node, seen: set[int]) -> None:
    # Aliases make the node graph a DAG; visit each node once.
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        first: dict[str, Node] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                earlier = first.get(key.value)
                if earlier is not None:
                    at = where(source.path, earlier)
                    source.diagnostics.append(
                        Diagnostic(
                            where(source.path, key),
                            Severity.ERROR,
                            f"duplicate key '{key.value}' (first defined at line {at.line}, "
                            f"column {at.column})",
                        )
                    )
                else:
                    first[key.value] = key
            _find_duplicate_keys(source, value, seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _find_duplicate_keys(source, item, seen)
