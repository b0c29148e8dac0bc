"""Schema: the JSON Schema (draft 2020-12) of flow files, for editor completion and checks.

Generated from :mod:`callflow.flow.spec` and the node types' fields
(:mod:`callflow.flow.nodes`), the same tables the checker reads. Point the
YAML language server at it with a first line such as::

    # yaml-language-server: $schema=flow.schema.json

``config/flows/flow.schema.json`` is this schema, kept current by a unit test; rewrite it
with ``callflow schema > config/flows/flow.schema.json``.
"""

from __future__ import annotations

from typing import Any

from callflow.flow.nodes import NODE_TYPES
from callflow.flow.spec import (
    COMBINATORS,
    DESCRIPTION,
    OPERATORS,
    PHONE_KEYS,
    PROMPT_KINDS,
    QUEUE_FIGURES,
    SETTINGS,
    TOP_LEVEL,
    Field,
    Kind,
)

JSONSchema = dict[str, Any]

_KEY_PATTERN = "^[" + PHONE_KEYS.replace("*", r"\*") + "]$"
_DAYS = r"(mon|tue|wed|thu|fri|sat|sun)"
_DAY_SPEC = rf"^(daily|{_DAYS}(-{_DAYS})?(,\s*{_DAYS}(-{_DAYS})?)*)$"
_TIME_RANGE = r"^\s*([01]?\d|2[0-3]):[0-5]\d\s*-\s*([01]?\d|2[0-4]):[0-5]\d\s*$|^closed$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"


def _ref(name: str) -> JSONSchema:
    return {"$ref": f"#/$defs/{name}"}


def _kind(kind: Kind, minimum: int = 0) -> JSONSchema:
    text: JSONSchema = {"type": ["string", "number", "boolean"]}
    match kind:
        case Kind.TEXT:
            return text
        case Kind.NAME:
            return {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
        case Kind.INTEGER:
            return {"type": "integer", "minimum": minimum}
        case Kind.SECONDS:
            return {"type": "number", "exclusiveMinimum": 0}
        case Kind.BOOLEAN:
            return {"type": "boolean"}
        case Kind.NODE:
            return _ref("node_name")
        case Kind.PROMPTS:
            return _ref("prompts")
        case Kind.KEY:
            return _ref("phone_key")
        case Kind.OPTIONS:
            return {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": _KEY_PATTERN},
                "additionalProperties": _ref("node_name"),
            }
        case Kind.REGEX:
            return {"type": "string", "format": "regex"}
        case Kind.TIMEZONE:
            # A pattern, not the tz database's names: the schema must not vary by machine.
            return {
                "type": "string",
                "pattern": r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$",
                "examples": ["Europe/London", "America/New_York", "UTC"],
            }
        case Kind.WEEKLY:
            hours: JSONSchema = {"type": "string", "pattern": _TIME_RANGE}
            return {
                "type": "object",
                "propertyNames": {"pattern": _DAY_SPEC},
                "additionalProperties": {
                    "oneOf": [hours, {"type": "array", "items": hours, "minItems": 1}]
                },
            }
        case Kind.DATES:
            return {"type": "array", "items": _ref("date_span")}
        case Kind.VARIABLES:
            return {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
            }
        case Kind.RULES:
            return {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {"if": _ref("condition"), "next": _ref("node_name")},
                    "required": ["if", "next"],
                    "additionalProperties": False,
                },
            }
        case Kind.STRINGS | Kind.INCLUDES:
            return {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
        case Kind.ENTRIES:
            return {"type": "object", "additionalProperties": _ref("node_name")}
        case Kind.SETTINGS:
            return _object(SETTINGS)
        case Kind.NODES:
            return {
                "type": "object",
                "propertyNames": {"pattern": r"^[A-Za-z_][A-Za-z0-9_.\-]*$"},
                "additionalProperties": _ref("node"),
            }
    raise AssertionError(kind)


def _object(fields: tuple[Field, ...], extra: JSONSchema | None = None) -> JSONSchema:
    properties = {
        f.name: {**_kind(f.kind, f.minimum), "description": f.doc}
        | ({"enum": list(f.choices)} if f.choices else {})
        for f in fields
    }
    schema: JSONSchema = {
        "type": "object",
        "properties": {**(extra or {}), **properties},
        "additionalProperties": False,
    }
    required = [f.name for f in fields if f.required]
    if required:
        schema["required"] = required
    return schema


def flow_schema() -> JSONSchema:
    """The JSON Schema of a flow file (also valid for included sub-flows)."""
    node_defs: dict[str, JSONSchema] = {}
    for name, kind in NODE_TYPES.items():
        node = _object(
            (DESCRIPTION, *kind.fields),
            extra={"type": {"const": name, "description": "What the node does."}},
        )
        node["required"] = ["type", *node.get("required", [])]
        node_defs[f"{name}_node"] = node
    prompt_object: JSONSchema = {
        "type": "object",
        "properties": {
            **{
                k: {"type": ["string", "number"], "description": d} for k, d in PROMPT_KINDS.items()
            },
            "voice": {"type": "string", "description": "Voice for a say: prompt."},
        },
        "additionalProperties": False,
        "oneOf": [{"required": [k]} for k in PROMPT_KINDS],
    }
    compare: JSONSchema = {
        "type": "object",
        "properties": {
            "var": {
                "type": "string",
                "description": "A variable, caller_id, now.*, or " + ", ".join(QUEUE_FIGURES),
            },
            "queue": {"type": "string", "description": "The queue, for queue.* figures."},
            **{op: _operand_schema(kind) for op, kind in OPERATORS.items()},
        },
        "required": ["var"],
        "additionalProperties": False,
        "oneOf": [{"required": [op]} for op in OPERATORS],
    }
    combinators: list[JSONSchema] = [
        {
            "type": "object",
            "properties": {
                name: _ref("condition")
                if name == "not"
                else {"type": "array", "items": _ref("condition"), "minItems": 1}
            },
            "required": [name],
            "additionalProperties": False,
        }
        for name in COMBINATORS
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:callflow:flow",
        "title": "callflow call flow",
        "description": "An IVR call flow for callflow: settings, entry points and nodes.",
        **_object(TOP_LEVEL),
        "$defs": {
            "node_name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_.\-]*$"},
            "phone_key": {
                "oneOf": [
                    {"type": "string", "pattern": _KEY_PATTERN},
                    {"type": "integer", "minimum": 0, "maximum": 9},
                ]
            },
            "prompt": {
                "oneOf": [
                    {"type": "string", "pattern": r"^\S+$", "description": "A sound name."},
                    prompt_object,
                ]
            },
            "prompts": {
                "oneOf": [
                    _ref("prompt"),
                    {"type": "array", "items": _ref("prompt"), "minItems": 1},
                ]
            },
            "date_span": {
                "oneOf": [
                    {"type": "string", "pattern": _DATE},
                    {
                        "type": "object",
                        "properties": {
                            "date": {"type": "string", "pattern": _DATE},
                            "name": {"type": "string"},
                        },
                        "required": ["date"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {
                            "from": {"type": "string", "pattern": _DATE},
                            "to": {"type": "string", "pattern": _DATE},
                            "name": {"type": "string"},
                        },
                        "required": ["from", "to"],
                        "additionalProperties": False,
                    },
                ]
            },
            "condition": {"oneOf": [compare, *combinators]},
            "node": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": list(NODE_TYPES)}},
                "allOf": [
                    {
                        "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                        "then": _ref(f"{name}_node"),
                    }
                    for name in NODE_TYPES
                ],
            },
            **node_defs,
        },
    }


def _operand_schema(kind: str) -> JSONSchema:
    scalar: JSONSchema = {"type": ["string", "number", "boolean"]}
    if kind == "number":
        return {"type": "number"}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "list":
        return {"type": "array", "items": scalar, "minItems": 1}
    if kind == "pair":
        return {"type": "array", "items": scalar, "minItems": 2, "maxItems": 2}
    return scalar
