"""Checker: read YAML nodes against a spec, collecting every problem rather than stopping.

:class:`Reporter` collects diagnostics for the file being read; :class:`Checker` adds the
readers every file needs (a section's keys, text, whole numbers, numbers, durations,
choices, names), each reporting a wrong value at its ``file:line:column`` and returning
None, so one pass finds every mistake. The flow checker, the queues checker and the
settings reader all report through these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TypeVar, cast

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from callflow.yamlcheck.diagnostics import Diagnostic, Location, Severity, nearest, sort_key
from callflow.yamlcheck.source import BOOL, FLOAT, INT, NULL, describe, where
from callflow.yamlcheck.spec import (
    Boolean,
    Choice,
    Duration,
    Integer,
    Number,
    Section,
    Text,
)

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_DURATION = re.compile(
    r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$"
    r"|^(?P<plain>\d+(?:\.\d+)?)$"
)
DURATION_WORDS = "a duration (seconds, or e.g. '90s', '2m', '1h30m')"

T = TypeVar("T")


class Reporter:
    """Collects diagnostics for the file being read (``path`` may change as includes are
    read); the flow checker, the queues checker and the settings reader report through it."""

    def __init__(self, path: str = "", diagnostics: list[Diagnostic] | None = None) -> None:
        self.path = path
        self.diagnostics = diagnostics if diagnostics is not None else []

    def error(self, at: Node | Location, message: str, suggestion: str | None = None) -> None:
        """Report an error at a YAML node or a location."""
        self._report(Severity.ERROR, at, message, suggestion)

    def warning(self, at: Node | Location, message: str, suggestion: str | None = None) -> None:
        """Report a warning at a YAML node or a location."""
        self._report(Severity.WARNING, at, message, suggestion)

    def _report(
        self, severity: Severity, at: Node | Location, message: str, suggestion: str | None
    ) -> None:
        location = at if isinstance(at, Location) else where(self.path, at)
        self.diagnostics.append(Diagnostic(location, severity, message, suggestion))

    @property
    def errors(self) -> int:
        """How many errors have been reported so far (to tell whether a part read cleanly)."""
        return sum(1 for d in self.diagnostics if d.is_error)

    def sorted(self) -> list[Diagnostic]:
        """Every diagnostic once, errors first, then by file and place."""
        return sorted(dict.fromkeys(self.diagnostics), key=sort_key)


class Checker(Reporter):
    """Reads values against a spec; each reader reports what is wrong and returns None."""

    def wrong(self, node: Node, what: str, expected: str) -> None:
        """Report a value of the wrong type: "``what`` must be ``expected``, not ..."."""
        self.error(node, f"{what} must be {expected}, not {describe(node)}")

    @staticmethod
    def within(what: str) -> str:
        """ "in 'announce' of queue 'support'", or "at the top level"."""
        return "at the top level" if what == "the top level" else f"in {what}"

    # --- mappings --------------------------------------------------------------------

    def section(
        self, node: Node, spec: Section | Mapping[str, str], what: str, *, at: Node
    ) -> dict[str, Node]:
        """The values of a mapping by key; unknown keys (with the nearest known one) and
        missing required keys are reported at their place."""
        known = spec.names if isinstance(spec, Section) else spec
        required = spec.required if isinstance(spec, Section) else ()
        if not isinstance(node, MappingNode):
            self.wrong(node, what, "a mapping")
            return {}
        values: dict[str, Node] = {}
        suggested: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, ScalarNode):
                self.error(
                    key, f"keys {self.within(what)} must be plain words, not {describe(key)}"
                )
                continue
            if key.value not in known:
                suggestion = nearest(key.value, known)
                self.error(
                    key,
                    f"unknown key '{key.value}' {self.within(what)} "
                    f"(expected one of: {', '.join(known)})",
                    suggestion,
                )
                if suggestion is not None:
                    suggested.add(suggestion)
                continue
            values.setdefault(key.value, value)  # duplicates: reported by read_source
        for name in required:
            # A misspelt required key was reported with its suggestion; once is enough.
            if name not in values and name not in suggested:
                self.error(at, f"missing required key '{name}' {self.within(what)}")
        return values

    def scalars(
        self,
        values: Mapping[str, Node],
        spec: Section,
        what: Callable[[str], str],
        *,
        skip: Collection[str] = (),
    ) -> dict[str, object]:
        """Read every key of ``values`` whose shape in ``spec`` is a scalar (text, number,
        duration, choice...), named in messages by ``what(key)``; keys with another shape,
        and those in ``skip``, are left to the caller. A wrong value is reported and left out.
        """
        found: dict[str, object] = {}
        for name, node in values.items():
            if name in skip:
                continue
            shape = spec[name].shape
            value: object = None
            if isinstance(shape, Text):
                value = self.text(node, what(name))
            elif isinstance(shape, Integer):
                value = self.integer(node, what(name), shape.minimum, shape.choices)
            elif isinstance(shape, Number):
                value = self.number(node, what(name), shape)
            elif isinstance(shape, Boolean):
                value = self.boolean(node, what(name))
            elif isinstance(shape, Duration):
                value = self.duration(node, what(name), zero=shape.zero)
            elif isinstance(shape, Choice):
                value = self.choice(node, what(name), shape.words)
            else:
                continue
            if value is not None:
                found[name] = value
        return found

    def named(self, node: Node, what: str) -> list[tuple[ScalarNode, Node]]:
        """Entries of a mapping of names (agents, queues) whose names are valid."""
        if not isinstance(node, MappingNode):
            self.wrong(node, what, "a mapping of names")
            return []
        found: list[tuple[ScalarNode, Node]] = []
        seen: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == NULL or not key.value:
                self.error(key, f"names in {what} must be plain words, not {describe(key)}")
                continue
            if key.value in seen:
                continue  # duplicate key, already reported
            seen.add(key.value)
            if not NAME.match(key.value):
                self.error(
                    key,
                    f"invalid name '{key.value}' in {what} (use letters, digits, '_', '-' and "
                    "'.', starting with a letter)",
                )
                continue
            found.append((key, value))
        return found

    # --- scalars ---------------------------------------------------------------------

    def text(self, node: Node, what: str) -> str | None:
        """Any non-empty scalar, as written."""
        if not isinstance(node, ScalarNode) or node.tag == NULL or node.value == "":
            self.wrong(node, what, "text")
            return None
        return str(node.value)

    def integer(
        self, node: Node, what: str, minimum: int = 0, choices: Collection[int] = ()
    ) -> int | None:
        """A whole number of at least ``minimum`` (one of ``choices``, when given)."""
        if not isinstance(node, ScalarNode) or node.tag != INT:
            self.wrong(node, what, "a whole number")
            return None
        number = int(node.value.replace("_", ""), 0 if node.value[:2] in ("0x", "0o") else 10)
        if choices and number not in choices:
            listed = ", ".join(map(str, choices))
            self.error(node, f"{what} must be one of: {listed}, not {number}")
            return None
        if number < minimum:
            self.error(node, f"{what} must be at least {minimum}, not {number}")
            return None
        return number

    def boolean(self, node: Node, what: str) -> bool | None:
        """true or false (YAML 1.1's yes/no/on/off too)."""
        if not isinstance(node, ScalarNode) or node.tag != BOOL:
            self.wrong(node, what, "true or false")
            return None
        return node.value.lower() in ("true", "yes", "on", "y")

    def number(self, node: Node, what: str, spec: Number) -> float | None:
        """A number within the spec's bounds."""
        if not isinstance(node, ScalarNode) or node.tag not in (INT, FLOAT):
            self.wrong(node, what, spec.expected())
            return None
        try:
            value = float(node.value.replace("_", ""))
        except ValueError:
            value = math.nan
        if spec.above is not None and not (value > spec.above and not math.isinf(value)):
            self.error(node, f"{what} must be more than {spec.above:g}, not {node.value}")
            return None
        low = -math.inf if spec.minimum is None else spec.minimum
        high = math.inf if spec.maximum is None else spec.maximum
        if not low <= value <= high:
            self.error(node, f"{what} must be {spec.expected()}, not '{node.value}'")
            return None
        return value

    def duration(self, node: Node, what: str, *, zero: bool = True) -> float | None:
        """Seconds, from a number or text with units; ``zero`` allows 0."""
        seconds: float | None = None
        if isinstance(node, ScalarNode) and node.tag in (INT, FLOAT):
            try:
                seconds = float(node.value.replace("_", ""))
            except ValueError:
                seconds = None
            if seconds is not None and seconds < 0:
                self.error(node, f"{what} must be {DURATION_WORDS} of 0 or more, not {node.value}")
                return None
        elif isinstance(node, ScalarNode) and node.tag not in (NULL, BOOL):
            text = node.value.strip().lower().replace(" ", "")
            match = _DURATION.match(text) if text else None
            if match is not None and match.group("plain"):
                seconds = float(match.group("plain"))
            elif match is not None and any(match.group(g) for g in "hms"):
                h, m, s = (float(match.group(g) or 0) for g in "hms")
                seconds = h * 3600 + m * 60 + s
        if seconds is None or math.isnan(seconds) or math.isinf(seconds):
            self.wrong(node, what, DURATION_WORDS)
            return None
        if not zero and seconds == 0:
            self.error(node, f"{what} must be more than 0 seconds")
            return None
        return seconds

    def choice(self, node: Node, what: str, choices: Iterable[str]) -> str | None:
        """One of ``choices``, read as written (``no`` is a word here, not false)."""
        words = list(choices)
        if not isinstance(node, ScalarNode) or node.tag == NULL:
            self.wrong(node, what, "one of: " + ", ".join(words))
            return None
        word = str(node.value).lower()
        if word not in words:
            self.error(
                node,
                f"{what} must be one of: {', '.join(words)}, not '{node.value}'",
                nearest(node.value, words),
            )
            return None
        return word

    def names(self, node: Node, what: str) -> list[tuple[str, ScalarNode]]:
        """A list of names (or one name) with their nodes."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        found: list[tuple[str, ScalarNode]] = []
        for item in items:
            if not isinstance(item, ScalarNode) or item.tag == NULL or not item.value:
                self.wrong(item, what, "a list of names")
                continue
            found.append((str(item.value), item))
        return found

    def texts(self, node: Node, what: str) -> list[tuple[str, ScalarNode]]:
        """One text or a list of them, with their nodes."""
        items = node.value if isinstance(node, SequenceNode) else [node]
        found: list[tuple[str, ScalarNode]] = []
        for item in items:
            text = self.text(item, what)
            if text is not None:
                assert isinstance(item, ScalarNode)
                found.append((text, item))
        return found


def value_of(values: Mapping[str, object], key: str, default: T) -> T:
    """A read value, or ``default`` when the key was absent or wrong (typed by the default)."""
    found = values.get(key)
    return default if found is None else cast("T", found)
