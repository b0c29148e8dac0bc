"""Loader: check flow files and build the immutable :class:`Flow`, reporting every problem.

``check()`` and ``load_flow()`` never stop at the first mistake: each file is read as
far as it can be, and each problem becomes a :class:`Diagnostic` with its
``file:line:column``, what was expected, and the nearest valid word. Then the node
graph is checked as a whole: transitions to missing nodes, unreachable nodes, loops that
never wait for the caller, and menus with no way out to a person.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import zoneinfo
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import cast

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from callflow.flow import model as m
from callflow.flow.diagnostics import Diagnostic, Location, Severity, nearest, sort_key
from callflow.flow.nodes import NODE_TYPES, kind_of
from callflow.flow.nodes.base import AnyNodeType, Reading, Values, value_of
from callflow.flow.prompts import SOUND_EXTENSIONS, scan_sounds, variable_references
from callflow.flow.schedule import WEEKDAYS, make_span, parse_days, parse_time_range
from callflow.flow.source import (
    BOOL,
    FLOAT,
    INT,
    NULL,
    Reporter,
    describe,
    read_source,
    where,
)
from callflow.flow.spec import (
    BUILTIN_VARIABLES,
    COMBINATORS,
    DESCRIPTION,
    OPERATORS,
    PHONE_KEYS,
    PROMPT_KINDS,
    QUEUE_FIGURES,
    SETTINGS,
    SUB_FLOW,
    TOP_LEVEL,
    TOP_ONLY,
    TYPE,
    Field,
    Kind,
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NODE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_VAR_REF = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
# "#: node" meant as an option: YAML reads it as a comment, so the option vanishes.
_KEY_AS_COMMENT = re.compile(r"^\s*#\s*:\s*[A-Za-z_][A-Za-z0-9_.\-]*\s*$")
EXPECTED: dict[Kind, str] = {
    Kind.TEXT: "text",
    Kind.NAME: "a variable name (letters, digits and _)",
    Kind.INTEGER: "a whole number",
    Kind.SECONDS: "a number of seconds",
    Kind.BOOLEAN: "true or false",
    Kind.NODE: "a node name",
    Kind.PROMPTS: "a prompt (a sound name or a mapping with one of: "
    + ", ".join(PROMPT_KINDS)
    + ") or a list of prompts",
    Kind.KEY: "one phone key (0-9, * or #)",
    Kind.OPTIONS: "a mapping of phone keys to node names",
    Kind.REGEX: "a regular expression",
    Kind.TIMEZONE: "a timezone name such as Europe/London",
    Kind.WEEKLY: "a mapping of days to opening hours, e.g. mon-fri: '08:00-18:00'",
    Kind.DATES: "a list of dates (YYYY-MM-DD), {date, name} or {from, to, name}",
    Kind.VARIABLES: "a mapping of variable names to values",
    Kind.RULES: "a list of {if: condition, next: node}",
    Kind.STRINGS: "a list of text",
    Kind.ENTRIES: "a mapping of dialled numbers to node names",
    Kind.INCLUDES: "a list of file paths",
    Kind.SETTINGS: "a mapping of settings",
    Kind.NODES: "a mapping of node names to nodes",
}

TOP_LEVEL_FIELDS = {f.name: f for f in TOP_LEVEL}

_BAD = object()  # a value that failed to convert; its problem is already reported


@dataclass
class _NodeDef:
    name: str
    kind: AnyNodeType | None  # None until its type is known
    location: Location
    built: m.Node | None = None


@dataclass
class _Edge:
    source: str | None  # None for an entry point
    target: str
    location: Location
    what: str


@dataclass
class _State:
    """Everything gathered while reading one top-level flow and its includes."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    loaded: set[str] = field(default_factory=set)
    nodes: dict[str, _NodeDef] = field(default_factory=dict)
    edges: list[_Edge] = field(default_factory=list)
    variable_refs: list[tuple[str, Location]] = field(default_factory=list)
    sound_refs: list[tuple[str, Location]] = field(default_factory=list)
    defined_variables: dict[str, str] = field(default_factory=dict)
    assigned_variables: set[str] = field(default_factory=set)
    entries: dict[str, str] = field(default_factory=dict)
    entry_locations: dict[str, Location] = field(default_factory=dict)
    # Queue nodes' queue names (literal ones), and where each queue may send callers back
    # into the flow (exit keys, overflow): those nodes are reached from the queue node.
    queue_refs: list[tuple[str, str, Location]] = field(default_factory=list)  # node, queue
    # None: no queues file given, so queue names are not checked.
    queue_exits: Mapping[str, Collection[str]] | None = None
    queues_path: str = ""
    settings: m.Settings = field(default_factory=m.Settings)
    has_entry: bool = False
    on_restart: str | None = None


class _Reader(Reporter):
    """Reads flow files into a :class:`_State`, reporting each problem as it goes."""

    def __init__(self, state: _State) -> None:
        super().__init__("", state.diagnostics)
        self.state = state
        self.node: str | None = None  # the node being read, for edges

    # --- what node types ask of the reader (nodes.base.Builder) ------------------------

    @property
    def settings(self) -> m.Settings:
        return self.state.settings

    def where(self, value: Node) -> Location:
        return where(self.path, value)

    def assign(self, names: Iterable[str]) -> None:
        self.state.assigned_variables.update(names)

    def queue_ref(self, node: str, queue: str, at: Location) -> None:
        self.state.queue_refs.append((node, queue, at))

    def wrong_type(self, key: str, what: str, kind: Kind, value: Node) -> object:
        self.error(value, f"'{key}' {what} must be {EXPECTED[kind]}, not {describe(value)}")
        return _BAD

    # --- files -----------------------------------------------------------------------

    def read_file(self, path: str, *, top: bool, include_stack: tuple[str, ...] = ()) -> None:
        real = os.path.realpath(path)
        if real in self.state.loaded:
            return
        self.state.loaded.add(real)
        self.state.files.append(path)
        try:
            with open(path, "rb") as file:
                data = file.read()
            text = data.decode("utf-8")
        except OSError as exc:
            self.state.diagnostics.append(
                Diagnostic(
                    Location(path, 1, 1),
                    Severity.ERROR,
                    f"cannot read file: {exc.strerror or exc}",
                )
            )
            return
        except UnicodeDecodeError as exc:
            # Point at the bad byte's line and column, as an editor shows them.
            line_start = data.rfind(b"\n", 0, exc.start) + 1
            column = len(data[line_start : exc.start].decode("utf-8", "replace")) + 1
            self.state.diagnostics.append(
                Diagnostic(
                    Location(path, data.count(b"\n", 0, exc.start) + 1, column),
                    Severity.ERROR,
                    f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot start a"
                    " character here (save the file as UTF-8)",
                )
            )
            return
        source = read_source(path, text)
        self.state.diagnostics.extend(source.diagnostics)
        if source.root is None:
            return
        for number, line in enumerate(text.splitlines(), start=1):
            if _KEY_AS_COMMENT.match(line):
                column = line.index("#") + 1
                self.warning(
                    Location(path, number, column),
                    f"'{line.strip()}' is a YAML comment, not an option for key '#'; write"
                    f' the key in quotes: "#":{line.split(":", 1)[1]}',
                )
        saved = self.path
        self.path = path
        try:
            self._read_root(source.root, top=top, include_stack=(*include_stack, real))
        finally:
            self.path = saved

    def _read_root(self, root: Node, *, top: bool, include_stack: tuple[str, ...]) -> None:
        if not isinstance(root, MappingNode):
            self.error(root, f"a flow file must be a mapping with 'nodes', not {describe(root)}")
            return
        fields = TOP_LEVEL if top else SUB_FLOW
        what = "at the top level" if top else "at the top level of an included sub-flow"
        if not top:
            kept = []
            for key, value in root.value:
                if isinstance(key, ScalarNode) and key.value in TOP_ONLY:
                    self.error(
                        key,
                        f"'{key.value}' is only allowed in a top-level flow, not in an included"
                        " sub-flow",
                    )
                else:
                    kept.append((key, value))
            root = MappingNode(root.tag, kept, root.start_mark, root.end_mark)
        present = cast("dict[str, Node]", self.fields(root, fields, what, at=root, convert=False))
        # Settings first: nodes take their defaults from them.
        if "settings" in present:
            self.read_settings(present["settings"])
        if "variables" in present:
            variables = self.variables(present["variables"], "'variables' " + what)
            self.state.defined_variables.update(variables)
        if "entry" in present:
            self.state.has_entry = True
            self.read_entries(present["entry"])
        if "on_restart" in present:
            self.node = None  # like an entry: the node it names is reached
            restart = self.convert(TOP_LEVEL_FIELDS["on_restart"], present["on_restart"], what)
            if isinstance(restart, str):
                self.state.on_restart = restart
        if "include" in present:
            self.read_includes(present["include"], include_stack)
        if "nodes" in present:
            self.read_nodes(present["nodes"])

    def read_includes(self, value: Node, include_stack: tuple[str, ...]) -> None:
        items = value.value if isinstance(value, SequenceNode) else [value]
        for item in items:
            if not isinstance(item, ScalarNode) or item.tag == NULL:
                self.wrong_type("include", "at the top level", Kind.INCLUDES, item)
                continue
            target = os.path.normpath(os.path.join(os.path.dirname(self.path), item.value))
            real = os.path.realpath(target)
            if real in include_stack:
                chain = " -> ".join(
                    [os.path.basename(p) for p in include_stack] + [os.path.basename(real)]
                )
                self.error(item, f"include cycle: {chain}")
                continue
            if not os.path.isfile(target):
                self.error(item, f"included file '{item.value}' not found (looked for {target})")
                continue
            self.read_file(target, top=False, include_stack=include_stack)

    def read_settings(self, value: Node) -> None:
        if not isinstance(value, MappingNode):
            self.wrong_type("settings", "at the top level", Kind.SETTINGS, value)
            return
        v = Values(self.fields(value, SETTINGS, "in settings", at=value))
        default = m.Settings()
        self.state.settings = m.Settings(
            language=v.text("language", default.language) or default.language,
            voice=v.text("voice", default.voice) or default.voice,
            sounds_dir=v.text("sounds_dir"),
            timezone=v.text("timezone", default.timezone) or default.timezone,
            timeout=v.seconds("timeout", default.timeout),
            retries=v.integer("retries", default.retries),
            digit_timeout=v.seconds("digit_timeout", default.digit_timeout),
        )

    def read_entries(self, value: Node) -> None:
        if not isinstance(value, MappingNode):
            self.wrong_type("entry", "at the top level", Kind.ENTRIES, value)
            return
        self.node = None
        for key, target in value.value:
            dialled = str(key.value) if isinstance(key, ScalarNode) else ""
            if not dialled:
                self.error(key, "an entry must be a dialled number or extension")
                continue
            if not isinstance(target, ScalarNode) or target.tag == NULL or not target.value:
                self.error(target, f"entry '{dialled}' must name a node, not {describe(target)}")
                continue
            self.state.entries[dialled] = self.edge(target, f"entry '{dialled}'")
            self.state.entry_locations[dialled] = where(self.path, key)

    # --- nodes -----------------------------------------------------------------------

    def read_nodes(self, value: Node) -> None:
        if not isinstance(value, MappingNode):
            self.wrong_type("nodes", "at the top level", Kind.NODES, value)
            return
        in_this_file: set[str] = set()
        for key, body in value.value:
            if not isinstance(key, ScalarNode):
                self.error(key, "a node name must be a plain word")
                continue
            name = key.value
            if name in in_this_file:
                continue  # a duplicate key, already reported by the source reader
            in_this_file.add(name)
            location = where(self.path, key)
            if not _NODE_NAME.match(name):
                self.error(
                    key,
                    f"invalid node name '{name}' (use letters, digits, '_', '-' and '.',"
                    " starting with a letter)",
                )
            earlier = self.state.nodes.get(name)
            if earlier is not None:
                self.error(key, f"node '{name}' is already defined at {earlier.location}")
                continue
            definition = _NodeDef(name, None, location)
            self.state.nodes[name] = definition
            self.read_node(definition, body)

    def read_node(self, definition: _NodeDef, body: Node) -> None:
        name = definition.name
        if not isinstance(body, MappingNode):
            self.error(
                body, f"node '{name}' must be a mapping with a 'type' key, not {describe(body)}"
            )
            return
        type_node = next(
            (v for k, v in body.value if isinstance(k, ScalarNode) and k.value == "type"), None
        )
        types = ", ".join(NODE_TYPES)
        if type_node is None:
            self.error(
                definition.location,
                f"missing required key 'type' in node '{name}' (expected one of: {types})",
            )
            return
        if not isinstance(type_node, ScalarNode) or type_node.value not in NODE_TYPES:
            shown = type_node.value if isinstance(type_node, ScalarNode) else describe(type_node)
            self.error(
                type_node,
                f"unknown node type '{shown}' for node '{name}' (expected one of: {types})",
                nearest(str(shown), NODE_TYPES),
            )
            return
        kind = NODE_TYPES[type_node.value]
        definition.kind = kind
        what = f"in {kind.name} node '{name}'"
        before = sum(d.is_error for d in self.state.diagnostics)
        self.node = name
        try:
            fields = (TYPE, DESCRIPTION, *kind.fields)
            values = Values(self.fields(body, fields, what, at=definition.location))
            built = kind.build(self, Reading(name, definition.location, values, body, what))
        finally:
            self.node = None
        if sum(d.is_error for d in self.state.diagnostics) == before:
            definition.built = built

    @staticmethod
    def value_node(body: MappingNode, key: str) -> Node | None:
        return value_of(body, key)

    # --- fields ----------------------------------------------------------------------

    def fields(
        self,
        mapping: MappingNode,
        fields: Sequence[Field],
        what: str,
        *,
        at: Node | Location,
        convert: bool = True,
    ) -> dict[str, object]:
        """Check a mapping's keys against ``fields``; return converted values (or raw nodes)."""
        known = {f.name: f for f in fields}
        values: dict[str, object] = {}
        suggested: set[str] = set()
        for key, value in mapping.value:
            if not isinstance(key, ScalarNode):
                self.error(key, f"keys {what} must be plain words, not {describe(key)}")
                continue
            spec = known.get(key.value)
            if spec is None:
                suggestion = nearest(key.value, known)
                self.error(
                    key,
                    f"unknown key '{key.value}' {what} (expected one of: {', '.join(known)})",
                    suggestion,
                )
                if suggestion is not None:
                    suggested.add(suggestion)
                continue
            if key.value in values:
                continue  # a duplicate key, already reported by the source reader
            converted = self.convert(spec, value, what) if convert else value
            if spec.choices and isinstance(converted, str) and converted not in spec.choices:
                self.error(
                    value,
                    f"unknown {spec.name} '{converted}' {what} (expected one of: "
                    f"{', '.join(spec.choices)})",
                    nearest(converted, spec.choices),
                )
                converted = _BAD
            if converted is not _BAD:
                values[key.value] = converted
        present = {k.value for k, _ in mapping.value if isinstance(k, ScalarNode)}
        for spec in fields:
            # A misspelt required key was reported with its suggestion; once is enough.
            if spec.required and spec.name not in present and spec.name not in suggested:
                self.error(at, f"missing required key '{spec.name}' {what}")
        return values

    def convert(self, spec: Field, value: Node, what: str) -> object:
        """Convert one value by its kind, reporting a wrong type or a bad value."""
        kind = spec.kind
        key = spec.name
        if kind in (Kind.TEXT, Kind.NODE, Kind.NAME, Kind.KEY, Kind.REGEX, Kind.TIMEZONE):
            if not isinstance(value, ScalarNode) or value.tag == NULL or value.value == "":
                return self.wrong_type(key, what, kind, value)
            text = str(value.value)
            if kind is Kind.TEXT:
                if key not in ("description", "reason"):
                    self.note_variables(text, value)
                return text
            if kind is Kind.NODE:
                return self.edge(value, f"'{key}' {what}")
            if kind is Kind.NAME:
                if not _NAME.match(text):
                    return self.wrong_type(key, what, kind, value)
                return text
            if kind is Kind.KEY:
                if len(text) != 1 or text not in PHONE_KEYS:
                    return self.wrong_type(key, what, kind, value)
                return text
            if kind is Kind.REGEX:
                return self.regex(text, value, f"'{key}' {what}")
            return self.timezone(text, value)
        if kind is Kind.INTEGER:
            if not isinstance(value, ScalarNode) or value.tag != INT:
                return self.wrong_type(key, what, kind, value)
            try:
                number = int(value.value.replace("_", ""), 0)
            except ValueError:
                number = int(value.value.replace("_", ""), 10)
            if number < spec.minimum:
                self.error(value, f"'{key}' {what} must be at least {spec.minimum}, not {number}")
                return _BAD
            return number
        if kind is Kind.SECONDS:
            if not isinstance(value, ScalarNode) or value.tag not in (INT, FLOAT):
                return self.wrong_type(key, what, kind, value)
            try:
                seconds = float(value.value.replace("_", ""))
            except ValueError:
                return self.wrong_type(key, what, kind, value)
            if not seconds > 0 or seconds == float("inf"):
                self.error(value, f"'{key}' {what} must be more than 0 seconds, not {value.value}")
                return _BAD
            return seconds
        if kind is Kind.BOOLEAN:
            if not isinstance(value, ScalarNode) or value.tag != BOOL:
                return self.wrong_type(key, what, kind, value)
            return value.value.lower() in ("true", "yes", "on", "y")
        if kind is Kind.PROMPTS:
            return self.prompts(key, value, what)
        if kind is Kind.OPTIONS:
            return self.options(key, value, what)
        if kind is Kind.WEEKLY:
            return self.weekly(key, value, what)
        if kind is Kind.DATES:
            return self.dates(key, value, what)
        if kind is Kind.VARIABLES:
            return self.variables(value, f"'{key}' {what}")
        if kind is Kind.RULES:
            return self.rules(key, value, what)
        if kind is Kind.STRINGS:
            items = value.value if isinstance(value, SequenceNode) else [value]
            texts: list[str] = []
            for item in items:
                if not isinstance(item, ScalarNode) or item.tag == NULL:
                    return self.wrong_type(key, what, kind, item)
                texts.append(str(item.value))
            return tuple(texts)
        raise AssertionError(kind)  # SETTINGS, ENTRIES, INCLUDES, NODES are read by hand

    def edge(self, value: Node, what: str) -> str:
        """Record a transition from the current node to the node named by ``value``."""
        self.state.edges.append(_Edge(self.node, value.value, where(self.path, value), what))
        return str(value.value)

    def note_variables(self, text: str, value: Node) -> None:
        for offset, name in variable_references(text):
            location = where(self.path, value)
            plain = isinstance(value, ScalarNode) and value.style in (None, "")
            if plain and value.start_mark.line == value.end_mark.line:
                location = Location(location.path, location.line, location.column + offset)
            self.state.variable_refs.append((name.strip(), location))

    def regex(self, text: str, value: Node, what: str) -> object:
        try:
            re.compile(text)
        except re.error as exc:
            self.error(value, f"invalid regular expression {what}: {exc}")
            return _BAD
        return text

    def timezone(self, text: str, value: Node) -> object:
        try:
            zoneinfo.ZoneInfo(text)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            self.error(value, f"unknown timezone '{text}'", nearest(text, _timezones()))
            return _BAD
        return text

    def prompts(self, key: str, value: Node, what: str) -> object:
        items = value.value if isinstance(value, SequenceNode) else [value]
        if isinstance(value, SequenceNode) and not items:
            return self.wrong_type(key, what, Kind.PROMPTS, value)
        prompts = [self.prompt(key, item, what) for item in items]  # report every bad one
        if any(prompt is None for prompt in prompts):
            return _BAD
        return tuple(cast("list[m.Prompt]", prompts))

    def prompt(self, key: str, item: Node, what: str) -> m.Prompt | None:
        if isinstance(item, ScalarNode) and item.tag != NULL and item.value:
            return self.sound(item.value, item)
        if not isinstance(item, MappingNode):
            self.wrong_type(key, what, Kind.PROMPTS, item)
            return None
        inner = f"in a prompt of '{key}' {what}"
        fields = [Field(k, Kind.TEXT, doc) for k, doc in PROMPT_KINDS.items()]
        fields.append(Field("voice", Kind.TEXT, "Voice for say:"))
        values = self.fields(item, fields, inner, at=item)
        chosen = [k for k in PROMPT_KINDS if k in values]
        given = [k.value for k, _ in item.value if isinstance(k, ScalarNode)]
        kinds_given = [k for k in given if k in PROMPT_KINDS]
        if not kinds_given and any(k not in PROMPT_KINDS and k != "voice" for k in given):
            return None  # the unknown key was reported, with a suggestion
        if len(kinds_given) != 1:
            self.error(item, f"a prompt needs exactly one of: {', '.join(PROMPT_KINDS)} {inner}")
            return None
        if "voice" in given and "say" not in given:
            self.error(item, f"'voice' only applies to a 'say' prompt {inner}")
            return None
        if not chosen:
            return None  # its value was reported already
        kind = chosen[0]
        text = cast(str, values[kind])
        if kind == "sound":
            return self.sound(text, self.value_node(item, "sound") or item, noted=True)
        if kind == "say":
            if "${" in text:
                # Text is rendered to sound files ahead of time (callflow prompts build);
                # a value known only during the call cannot be in it.
                self.error(
                    self.value_node(item, "say") or item,
                    f"say: text cannot contain ${{...}} ({inner}): it is rendered ahead of time"
                    " by 'callflow prompts build'; say the value with a digits:, number:,"
                    " date: or time: prompt next to it",
                )
                return None
            return m.Say(text, cast("str | None", values.get("voice")))
        if kind in ("digits", "number"):
            literal = re.sub(r"\$\{[^}]*\}", "", text).strip()
            valid = (
                not literal.strip("0123456789*#")
                if kind == "digits"
                else re.fullmatch(r"-?[0-9]+", literal) is not None
            )
            if literal and not valid:
                expected = "digits (0-9, * and #)" if kind == "digits" else "a whole number"
                self.error(
                    self.value_node(item, kind) or item,
                    f"'{kind}:' {inner} must be {expected} or a ${{variable}}, not '{text}'",
                )
                return None
            return m.SayDigits(text) if kind == "digits" else m.SayNumber(text)
        if kind == "date":
            if "${" not in text and not self.date(text, self.value_node(item, "date") or item):
                return None
            return m.SayDate(text)
        if not re.fullmatch(r"\d{1,2}:\d{2}", text) and "${" not in text:
            self.error(
                self.value_node(item, "time") or item, f"invalid time '{text}' (expected HH:MM)"
            )
            return None
        return m.SayTime(text)

    def sound(self, name: str, value: Node, *, noted: bool = False) -> m.Prompt | None:
        kind, colon, rest = name.partition(":")
        if colon and kind in PROMPT_KINDS:
            # A plain string is a sound name; "sound:x" is an ARI media URI, not a name.
            rest = rest.strip()
            self.error(
                value,
                f"'{name}' is not a sound name; write it as a list item: - {kind}: "
                + (f'"{rest}"' if kind == "say" else rest)
                + (f" (or just {rest})" if kind == "sound" else ""),
            )
            return None
        if any(c.isspace() for c in name):
            self.error(
                value,
                f"'{name}' is not a sound name (sound names have no spaces); to speak text"
                f' write say: "{name}"',
            )
            return None
        if not noted:
            self.note_variables(name, value)
        self.state.sound_refs.append((name, where(self.path, value)))
        return m.Sound(name)

    def options(self, key: str, value: Node, what: str) -> object:
        if not isinstance(value, MappingNode) or not value.value:
            return self.wrong_type(key, what, Kind.OPTIONS, value)
        options: dict[str, str] = {}
        ok = True
        for digit, target in value.value:
            text = str(digit.value) if isinstance(digit, ScalarNode) else ""
            if len(text) != 1 or text not in PHONE_KEYS:
                self.error(
                    digit,
                    f"option '{text or describe(digit)}' {what} must be one phone key"
                    ' (0-9, * or #; quote "*" and "#")',
                )
                ok = False
                continue
            if not isinstance(target, ScalarNode) or target.tag == NULL or not target.value:
                self.error(
                    target, f"option '{text}' {what} must name a node, not {describe(target)}"
                )
                ok = False
                continue
            options[text] = self.edge(target, f"option '{text}' {what}")
        return options if ok else _BAD

    def weekly(self, key: str, value: Node, what: str) -> object:
        if not isinstance(value, MappingNode):
            return self.wrong_type(key, what, Kind.WEEKLY, value)
        hours: list[m.WeeklyHours] = []
        ok = True
        for day_node, ranges in value.value:
            day_text = str(day_node.value) if isinstance(day_node, ScalarNode) else ""
            days = parse_days(day_text)
            if days is None:
                self.error(
                    day_node,
                    f"unknown day '{day_text}' in '{key}' {what} (expected mon, tue, wed, thu,"
                    " fri, sat, sun, a range such as mon-fri, a list such as sat,sun, or daily)",
                    nearest(day_text.lower(), (*WEEKDAYS, "daily", "mon-fri")),
                )
                ok = False
                continue
            items = ranges.value if isinstance(ranges, SequenceNode) else [ranges]
            for item in items:
                if not isinstance(item, ScalarNode) or item.tag == NULL:
                    self.wrong_type(key, what, Kind.WEEKLY, item)
                    ok = False
                    continue
                if item.value.strip().lower() == "closed":
                    continue
                parsed = parse_time_range(item.value)
                if isinstance(parsed, str):
                    self.error(
                        item, f"invalid opening hours '{item.value}' in '{key}' {what}: {parsed}"
                    )
                    ok = False
                    continue
                hours.extend(m.WeeklyHours(d, parsed[0], parsed[1]) for d in days)
        return tuple(hours) if ok else _BAD

    def date(self, text: str, value: Node) -> dt.date | None:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
                raise ValueError("expected YYYY-MM-DD")
            return dt.date.fromisoformat(text.strip())
        except ValueError as exc:
            self.error(value, f"invalid date '{text}': {exc}")
            return None

    def dates(self, key: str, value: Node, what: str) -> object:
        if not isinstance(value, SequenceNode):
            return self.wrong_type(key, what, Kind.DATES, value)
        spans: list[m.DateSpan] = []
        ok = True
        for item in value.value:
            span = self.date_span(key, item, what)
            if span is None:
                ok = False
            else:
                spans.append(span)
        return tuple(spans) if ok else _BAD

    def date_span(self, key: str, item: Node, what: str) -> m.DateSpan | None:
        if isinstance(item, ScalarNode) and item.tag != NULL:
            day = self.date(item.value, item)
            return make_span(day) if day else None
        if not isinstance(item, MappingNode):
            self.wrong_type(key, what, Kind.DATES, item)
            return None
        inner = f"in '{key}' {what}"
        fields = (
            Field("date", Kind.TEXT, "One date."),
            Field("from", Kind.TEXT, "First date of a range."),
            Field("to", Kind.TEXT, "Last date of a range."),
            Field("name", Kind.TEXT, "What the day is called."),
        )
        before = len(self.state.diagnostics)
        v = Values(self.fields(item, fields, inner, at=item))
        if len(self.state.diagnostics) != before:
            return None
        name = v.text("name", "") or ""
        date_text, first_text, last_text = v.text("date"), v.text("from"), v.text("to")
        if date_text is not None and first_text is None and last_text is None:
            day = self.date(date_text, self.value_node(item, "date") or item)
            return make_span(day, None, name) if day else None
        if date_text is None and first_text is not None and last_text is not None:
            first = self.date(first_text, self.value_node(item, "from") or item)
            last = self.date(last_text, self.value_node(item, "to") or item)
            if first is None or last is None:
                return None
            if last < first:
                self.error(
                    self.value_node(item, "to") or item,
                    f"date range ends ({last}) before it starts ({first}) {inner}",
                )
                return None
            return make_span(first, last, name)
        self.error(item, f"give either 'date', or both 'from' and 'to' {inner}")
        return None

    def variables(self, value: Node, what: str) -> dict[str, str]:
        if not isinstance(value, MappingNode):
            self.error(value, f"{what} must be {EXPECTED[Kind.VARIABLES]}, not {describe(value)}")
            return {}
        variables: dict[str, str] = {}
        for key, item in value.value:
            name = str(key.value) if isinstance(key, ScalarNode) else ""
            if not _NAME.match(name):
                self.error(key, f"invalid variable name '{name}' in {what} (letters, digits and _)")
                continue
            if not isinstance(item, ScalarNode):
                self.error(item, f"variable '{name}' in {what} must be text, not {describe(item)}")
                continue
            text = "" if item.tag == NULL else str(item.value)
            self.note_variables(text, item)
            variables[name] = text
        return variables

    # --- conditions ------------------------------------------------------------------

    def rules(self, key: str, value: Node, what: str) -> object:
        if not isinstance(value, SequenceNode) or not value.value:
            return self.wrong_type(key, what, Kind.RULES, value)
        rules: list[m.Rule] = []
        fields = (
            Field("if", Kind.TEXT, "The condition.", required=True),
            Field("next", Kind.NODE, "Where to go when it is true.", required=True),
        )
        ok = True
        for item in value.value:
            if not isinstance(item, MappingNode):
                self.wrong_type(key, what, Kind.RULES, item)
                ok = False
                continue
            raw = self.fields(item, fields, f"in a rule of {what[3:]}", at=item, convert=False)
            condition = (
                self.condition(cast(Node, raw["if"]), f"in a condition of {what[3:]}")
                if "if" in raw
                else None
            )
            target = (
                self.convert(fields[1], cast(Node, raw["next"]), f"in a rule of {what[3:]}")
                if "next" in raw
                else _BAD
            )
            if condition is None or not isinstance(target, str):
                ok = False
                continue
            rules.append(m.Rule(condition, target))
        return tuple(rules) if ok else _BAD

    def condition(self, value: Node, what: str) -> m.Condition | None:
        if not isinstance(value, MappingNode):
            self.error(
                value,
                f"a condition must be a mapping such as {{var: caller_id, starts_with: '+44'}}"
                f" {what}, not {describe(value)}",
            )
            return None
        keys = {k.value: (k, v) for k, v in value.value if isinstance(k, ScalarNode)}
        allowed = ("var", "queue", *OPERATORS, *COMBINATORS)
        for name, (key, _) in keys.items():
            if name not in allowed:
                self.error(
                    key,
                    f"unknown key '{name}' {what} (expected var with one of: "
                    f"{', '.join(OPERATORS)}; or all, any, not)",
                    nearest(name, allowed),
                )
                return None
        combinators = [k for k in COMBINATORS if k in keys]
        if combinators:
            if len(keys) != 1:
                self.error(value, f"'{combinators[0]}' must be alone in its condition {what}")
                return None
            kind = combinators[0]
            inner = keys[kind][1]
            if kind == "not":
                negated = self.condition(inner, what)
                return m.Not(negated) if negated else None
            if not isinstance(inner, SequenceNode) or not inner.value:
                self.error(inner, f"'{kind}' {what} must be a list of conditions")
                return None
            parts = [self.condition(c, what) for c in inner.value]
            if any(p is None for p in parts):
                return None
            conditions = tuple(cast("list[m.Condition]", parts))
            return m.AllOf(conditions) if kind == "all" else m.AnyOf(conditions)
        if "var" not in keys:
            self.error(value, f"missing required key 'var' {what}")
            return None
        var_node = keys["var"][1]
        if not isinstance(var_node, ScalarNode) or not _VAR_REF.match(str(var_node.value)):
            self.error(var_node, f"'var' {what} must be a variable name, not {describe(var_node)}")
            return None
        variable = str(var_node.value)
        operators = [k for k in OPERATORS if k in keys]
        if len(operators) != 1:
            self.error(
                value,
                f"a condition on '{variable}' needs exactly one operator {what} "
                f"(one of: {', '.join(OPERATORS)})",
            )
            return None
        queue: str | None = None
        if variable.startswith("queue."):
            if variable not in QUEUE_FIGURES:
                self.error(
                    var_node,
                    f"unknown queue figure '{variable}' (expected one of: "
                    f"{', '.join(QUEUE_FIGURES)})",
                    nearest(variable, QUEUE_FIGURES),
                )
                return None
            queue_node = keys.get("queue", (None, None))[1]
            if not isinstance(queue_node, ScalarNode) or not queue_node.value:
                self.error(value, f"a condition on '{variable}' needs 'queue: NAME' {what}")
                return None
            queue = str(queue_node.value)
        else:
            if "queue" in keys:
                self.error(keys["queue"][0], f"'queue' only applies to queue.* figures {what}")
                return None
            self.state.variable_refs.append((variable, where(self.path, var_node)))
        operator = operators[0]
        operand = keys[operator][1]
        parsed = self.operand(operator, operand, what)
        if parsed is None:
            return None
        return m.Compare(variable, operator, parsed, queue)

    def operand(self, operator: str, value: Node, what: str) -> m.Operand | None:
        kind = OPERATORS[operator]
        if kind in ("text", "regex", "number"):
            if not isinstance(value, ScalarNode) or value.tag == NULL:
                self.error(value, f"'{operator}' {what} needs one value, not {describe(value)}")
                return None
            if kind == "number" and value.tag not in (INT, FLOAT):
                self.error(value, f"'{operator}' {what} needs a number, not {describe(value)}")
                return None
            if kind == "regex" and self.regex(value.value, value, f"'{operator}' {what}") is _BAD:
                return None
            return str(value.value)
        if kind == "boolean":
            if not isinstance(value, ScalarNode) or value.tag != BOOL:
                self.error(value, f"'{operator}' {what} needs true or false, not {describe(value)}")
                return None
            return value.value.lower() in ("true", "yes", "on", "y")
        if not isinstance(value, SequenceNode) or not all(
            isinstance(i, ScalarNode) and i.tag != NULL for i in value.value
        ):
            self.error(value, f"'{operator}' {what} needs a list of values, not {describe(value)}")
            return None
        items = tuple(str(i.value) for i in value.value)
        if kind == "pair" and len(items) != 2:
            self.error(value, f"'between' {what} needs two values [low, high], not {len(items)}")
            return None
        return items


@functools.lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


# --- whole-flow checks -----------------------------------------------------------------


def _check_graph(state: _State) -> None:
    nodes = state.nodes
    report = state.diagnostics.append
    if not nodes:
        return  # nothing to check against; the missing nodes were reported already
    graph: dict[str, list[str]] = {name: [] for name in nodes}
    # For reachability, a misspelt transition counts as going to its suggestion, so one
    # typo is not also reported as the intended node being unreachable.
    intended: dict[str | None, list[str]] = {}
    for edge in state.edges:
        target: str | None = edge.target
        if edge.target not in nodes:
            target = nearest(edge.target, nodes)
            report(
                Diagnostic(
                    edge.location,
                    Severity.ERROR,
                    f"{edge.what} goes to unknown node '{edge.target}'",
                    target,
                )
            )
        elif edge.source is not None and edge.source in graph:
            graph[edge.source].append(edge.target)
        if target is not None:
            intended.setdefault(edge.source, []).append(target)
    # A queue sends its callers on to the nodes its exit keys and overflow name.
    for source, queue, _ in state.queue_refs:
        for target in (state.queue_exits or {}).get(queue, ()):
            if target in nodes:
                intended.setdefault(source, []).append(target)
    # A node whose type is unknown has unknown transitions: reachability would guess.
    if state.has_entry and all(d.kind is not None for d in nodes.values()):
        reached: set[str] = set()
        todo = list(intended.get(None, []))
        while todo:
            name = todo.pop()
            if name not in reached:
                reached.add(name)
                todo.extend(intended.get(name, []))
        for name, definition in nodes.items():
            if name not in reached:
                report(
                    Diagnostic(
                        definition.location,
                        Severity.WARNING,
                        f"node '{name}' is never reached (no entry or transition leads to it)",
                    )
                )
    for component in _cycles(graph):
        if any((kind := nodes[n].kind) is None or kind.waits for n in component):
            continue
        ordered = sorted(component, key=lambda n: nodes[n].location)
        path = _cycle_path(graph, component, ordered[0])
        report(
            Diagnostic(
                nodes[ordered[0]].location,
                Severity.ERROR,
                f"loop that never waits for the caller: {' -> '.join(path)} (add a menu or"
                " input node to the loop, or give it a way out)",
            )
        )
    for definition in nodes.values():
        if definition.built is None:
            continue
        leads_to_person = functools.partial(_reaches_person, graph=graph, nodes=nodes)
        for message in kind_of(definition.built).warnings(definition.built, leads_to_person):
            report(Diagnostic(definition.location, Severity.WARNING, message))


def _reaches_person(
    starts: Collection[str], graph: dict[str, list[str]], nodes: dict[str, _NodeDef]
) -> bool:
    """Whether any of these nodes, or a node beyond them through nodes that pass the
    caller straight on, hands the caller to a person."""
    seen: set[str] = set()
    todo = [t for t in starts if t in nodes]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        kind = nodes[name].kind
        if kind is None:
            continue
        if kind.person:
            return True
        if kind.passes:
            todo.extend(graph[name])
    return False


def _cycles(graph: dict[str, list[str]]) -> list[set[str]]:
    """Strongly connected components that contain a cycle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            name, i = work.pop()
            if i == 0:
                index[name] = low[name] = counter
                counter += 1
                stack.append(name)
                on_stack.add(name)
            successors = graph[name]
            if i < len(successors):
                work.append((name, i + 1))
                nxt = successors[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[name] = min(low[name], index[nxt])
                continue
            if low[name] == index[name]:
                component: set[str] = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.add(top)
                    if top == name:
                        break
                if len(component) > 1 or name in graph[name]:
                    found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
    return found


def _cycle_path(graph: dict[str, list[str]], component: set[str], start: str) -> list[str]:
    """One cycle through ``start`` inside a component, as node names."""
    parents: dict[str, str] = {}
    todo = [start]
    while todo:
        name = todo.pop(0)
        for nxt in graph[name]:
            if nxt == start:
                path = [name]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return [*reversed(path), start]
            if nxt in component and nxt not in parents:
                parents[nxt] = name
                todo.append(nxt)
    return [start, start]


def _check_variables(state: _State) -> None:
    known = {*BUILTIN_VARIABLES, *state.defined_variables, *state.assigned_variables}
    for name, location in state.variable_refs:
        if name not in known:
            state.diagnostics.append(
                Diagnostic(
                    location,
                    Severity.ERROR,
                    f"unknown variable '{name}' (not set by any set or input node, nor declared"
                    " under 'variables')",
                    nearest(name, known),
                )
            )


def _check_queues(state: _State) -> None:
    """Each queue node's queue is in the queues file, and the nodes that queue may send
    callers back to (exit keys, overflows) are in this flow; reported at the ``queue:``."""
    exits = state.queue_exits
    if exits is None:
        return  # no queues given: queue nodes take their on_failure at run time
    queues_file = state.queues_path or "the queues file"
    for node, queue, location in state.queue_refs:
        if not queue or "${" in queue:
            continue
        if queue not in exits:
            state.diagnostics.append(
                Diagnostic(
                    location,
                    Severity.ERROR,
                    f"queue node '{node}' names queue '{queue}', which {queues_file} does not"
                    " define",
                    nearest(queue, exits),
                )
            )
            continue
        for target in sorted(set(exits[queue]) - set(state.nodes)):
            state.diagnostics.append(
                Diagnostic(
                    location,
                    Severity.ERROR,
                    f"queue '{queue}' may send callers to node '{target}' (exit key or overflow"
                    f" in {queues_file}), which this flow lacks",
                )
            )


def _check_sounds(state: _State, sounds: Collection[str]) -> None:
    tried = ", ".join(f".{e}" for e in ("wav", "gsm", "ulaw", "alaw", "sln16"))
    for name, location in state.sound_refs:
        if "${" in name or name in sounds:
            continue
        state.diagnostics.append(
            Diagnostic(
                location,
                Severity.ERROR,
                f"sound '{name}' not found in the sounds directory (looked for {tried}, ...)",
                nearest(name, sounds),
            )
        )


def _read(
    path: str,
    sounds: Collection[str] | None,
    queue_exits: Mapping[str, Collection[str]] | None = None,
    queues_path: str = "",
) -> _State:
    state = _State(queue_exits=queue_exits, queues_path=queues_path)
    _Reader(state).read_file(path, top=True)
    if not state.nodes and not any(d.is_error for d in state.diagnostics):
        state.diagnostics.append(
            Diagnostic(Location(path, 1, 1), Severity.ERROR, "the flow has no nodes")
        )
    elif not state.has_entry and not any(d.is_error for d in state.diagnostics):
        state.diagnostics.append(
            Diagnostic(
                Location(path, 1, 1),
                Severity.ERROR,
                "the flow has no 'entry', so no call can reach it (add entry: {\"100\": node};"
                " a sub-flow is checked through the flow that includes it)",
            )
        )
    _check_graph(state)
    _check_variables(state)
    _check_queues(state)
    if sounds is None and state.settings.sounds_dir:
        directory = os.path.join(os.path.dirname(path), state.settings.sounds_dir)
        if os.path.isdir(directory):
            sounds = scan_sounds([directory], state.settings.language)
    if sounds is not None:
        _check_sounds(state, sounds)
    state.diagnostics.sort(key=sort_key)
    return state


def load_flow(
    path: str,
    sounds: Collection[str] | None = None,
    queue_exits: Mapping[str, Collection[str]] | None = None,
    queues_path: str = "",
) -> tuple[m.Flow | None, list[Diagnostic]]:
    """Load a flow file and its includes; the flow is None when there is any error.

    ``sounds`` are the available sound names (see :func:`scan_sounds`); when None, the
    flow's ``settings.sounds_dir`` is scanned if it exists here, otherwise sound files
    are not checked. ``queue_exits`` (see ``QueueCenter.exits``, from the queues file at
    ``queues_path``) are the queues there are and the nodes each sends callers back to:
    queue nodes must name one of them, and those nodes count as reached. When it is None,
    queue names are not checked.
    """
    state = _read(path, sounds, queue_exits, queues_path)
    return _build(path, state), state.diagnostics


def _build(path: str, state: _State) -> m.Flow | None:
    if any(d.is_error for d in state.diagnostics):
        return None
    nodes = {name: d.built for name, d in state.nodes.items() if d.built is not None}
    return m.Flow(
        path=path,
        settings=state.settings,
        entries=m.frozen_map(state.entries),
        nodes=_frozen_nodes(nodes),
        variables=m.frozen_map(state.defined_variables),
        files=tuple(state.files),
        on_restart=state.on_restart,
    )


def _frozen_nodes(nodes: dict[str, m.Node]) -> Mapping[str, m.Node]:
    return MappingProxyType(nodes)


def load_flows(
    paths: Iterable[str],
    sounds: Collection[str] | None = None,
    queue_exits: Mapping[str, Collection[str]] | None = None,
    queues_path: str = "",
) -> tuple[list[m.Flow], list[Diagnostic]]:
    """Load flows that serve together: each one as :func:`load_flow` does, and a number
    served by two of them is an error at the second one's entry. Returns the flows free
    of errors and every problem (errors first); all of them are in service only when no
    diagnostic is an error."""
    flows: list[m.Flow] = []
    found: dict[Diagnostic, None] = {}
    served: dict[str, Location] = {}
    for path in paths:
        state = _read(path, sounds, queue_exits, queues_path)
        for number, location in state.entry_locations.items():
            first = served.setdefault(number, location)
            if first is not location:
                state.diagnostics.append(
                    Diagnostic(
                        location,
                        Severity.ERROR,
                        f"number '{number}' is already served by the flow at {first}",
                    )
                )
        for diagnostic in state.diagnostics:
            found.setdefault(diagnostic, None)  # an include shared by two flows reports once
        flow = _build(path, state)
        if flow is not None:
            flows.append(flow)
    return flows, sorted(found, key=sort_key)


def check(
    paths: Iterable[str],
    sounds: Collection[str] | None = None,
    queue_exits: Mapping[str, Collection[str]] | None = None,
    queues_path: str = "",
) -> list[Diagnostic]:
    """Every problem in flow files that serve together (with their includes), errors first."""
    return load_flows(paths, sounds, queue_exits, queues_path)[1]


__all__ = ["SOUND_EXTENSIONS", "check", "load_flow", "load_flows"]
