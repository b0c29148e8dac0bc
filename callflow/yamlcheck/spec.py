"""Spec: what a YAML file may hold, key by key, as one table for its checker and its schema.

A file's spec is a :class:`Section` (a mapping with known keys) whose keys hold shapes:
:class:`Text`, :class:`Integer`, :class:`Number`, :class:`Boolean`, :class:`Duration`,
:class:`Choice`, lists and mappings of them, and :class:`Raw` for a value a reader checks
by hand. :class:`~callflow.yamlcheck.checker.Checker` reads a file against the table
(unknown keys with suggestions, missing required keys, each scalar by its shape) and
:func:`document_schema` turns the same table into a JSON Schema (draft 2020-12), so the
editor's completion and ``callflow check`` never disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

JSONSchema = dict[str, Any]

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
DURATION_PATTERN = (
    r"^\s*(((\d+(\.\d+)?)h)?\s*((\d+(\.\d+)?)m)?\s*((\d+(\.\d+)?)s)?|\d+(\.\d+)?)\s*$"
)
# Words YAML 1.1 (PyYAML) reads as true/false but a spec may take as words ("wait: no").
BOOLEAN_WORDS = frozenset({"yes", "no", "on", "off", "true", "false", "y", "n"})


@dataclass(frozen=True)
class Text:
    """Any non-empty scalar, kept as written; ``pattern`` narrows the schema to strings."""

    pattern: str | None = None

    def schema(self) -> JSONSchema:
        if self.pattern is not None:
            return {"type": "string", "pattern": self.pattern}
        return {"type": ["string", "number", "boolean"]}


@dataclass(frozen=True)
class Integer:
    """A whole number of at least ``minimum``; ``choices``: the only ones allowed."""

    minimum: int = 0
    choices: tuple[int, ...] = ()

    def schema(self) -> JSONSchema:
        if self.choices:
            return {"enum": list(self.choices)}
        return {"type": "integer", "minimum": self.minimum}


@dataclass(frozen=True)
class Number:
    """A number from ``minimum`` to ``maximum`` (more than ``above``, when set), in ``unit``."""

    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    unit: str = ""

    def expected(self) -> str:
        """What a value must be, in words: "a number of days from 1 to 36500"."""
        words = f"a number of {self.unit}" if self.unit else "a number"
        if self.minimum is not None and self.maximum is not None:
            words += f" from {self.minimum:g} to {self.maximum:g}"
        return words

    def schema(self) -> JSONSchema:
        schema: JSONSchema = {"type": "number"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.above is not None:
            schema["exclusiveMinimum"] = self.above
        return schema


@dataclass(frozen=True)
class Boolean:
    """true or false."""

    def schema(self) -> JSONSchema:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Duration:
    """Seconds, as a number (``90``) or text with units (``"90s"``, ``"2m"``, ``"1h30m"``);
    ``zero`` allows 0."""

    zero: bool = True

    def schema(self) -> JSONSchema:
        bound = "minimum" if self.zero else "exclusiveMinimum"
        return {
            "anyOf": [
                {"type": "number", bound: 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ]
        }


@dataclass(frozen=True)
class Choice:
    """One of a few words, read as written (so ``no`` is the word, not false)."""

    words: tuple[str, ...]

    def schema(self) -> JSONSchema:
        schema: JSONSchema = {"enum": list(self.words)}
        if BOOLEAN_WORDS & set(self.words):
            # A YAML 1.1 reader sees yes/no as true/false; the checker reads the words.
            return {"anyOf": [schema, {"type": "boolean"}]}
        return schema


@dataclass(frozen=True)
class ListOf:
    """A list of ``item``; ``single``: one item alone is taken as a list of one."""

    item: Shape
    single: bool = False

    def schema(self) -> JSONSchema:
        many: JSONSchema = {"type": "array", "items": self.item.schema()}
        if self.single:
            return {"anyOf": [self.item.schema(), many]}
        return many


@dataclass(frozen=True)
class MapOf:
    """A mapping of keys matching ``keys`` (a pattern) to ``value``."""

    value: Shape
    keys: str | None = None

    def schema(self) -> JSONSchema:
        schema: JSONSchema = {"type": "object", "additionalProperties": self.value.schema()}
        if self.keys is not None:
            schema["propertyNames"] = {"pattern": self.keys}
        return schema


@dataclass(frozen=True)
class AnyOf:
    """Any of several shapes (``store:`` is a path, or a section)."""

    shapes: tuple[Shape, ...]

    def schema(self) -> JSONSchema:
        return {"anyOf": [s.schema() for s in self.shapes]}


@dataclass(frozen=True)
class Raw:
    """A value its reader checks by hand; ``json`` is its schema, written out."""

    json: JSONSchema = field(default_factory=dict)

    def schema(self) -> JSONSchema:
        return dict(self.json)


@dataclass(frozen=True)
class Key:
    """One key of a section: its name, the shape of its value, and what it means."""

    name: str
    shape: Shape
    doc: str
    required: bool = False


@dataclass(frozen=True)
class Section:
    """A mapping with known keys, in the order they are documented."""

    keys: tuple[Key, ...]

    def __init__(self, *keys: Key) -> None:
        object.__setattr__(self, "keys", keys)

    def __iter__(self) -> Iterator[Key]:
        return iter(self.keys)

    def __getitem__(self, name: str) -> Key:
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(name)

    @property
    def names(self) -> dict[str, str]:
        """Key -> what it means, in order: the words an unknown key is compared with."""
        return {key.name: key.doc for key in self.keys}

    @property
    def required(self) -> tuple[str, ...]:
        """The keys that must be there."""
        return tuple(key.name for key in self.keys if key.required)

    def schema(self) -> JSONSchema:
        schema: JSONSchema = {
            "type": "object",
            "properties": {
                key.name: {**key.shape.schema(), "description": key.doc} for key in self.keys
            },
            "additionalProperties": False,
        }
        if self.required:
            schema["required"] = list(self.required)
        return schema


Shape = (
    Text | Integer | Number | Boolean | Duration | Choice | ListOf | MapOf | AnyOf | Raw | Section
)
SCALARS = (Text, Integer, Number, Boolean, Duration, Choice)


def document_schema(name: str, title: str, description: str, spec: Section) -> JSONSchema:
    """The JSON Schema (draft 2020-12) of a whole file whose top level is ``spec``."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:callflow:{name}",
        "title": title,
        "description": description,
        **spec.schema(),
    }


def words(values: Sequence[object]) -> str:
    """``a, b, c``: the way a message lists what is allowed."""
    return ", ".join(str(v) for v in values)
