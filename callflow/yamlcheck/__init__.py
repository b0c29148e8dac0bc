"""YAML checking shared by flows, queues files and settings files: one reader, one style.

- :mod:`~callflow.yamlcheck.source` composes a file into nodes that keep their line and
  column (libyaml's parser under PyYAML's composer), reporting syntax errors, duplicate keys
  and bad merge keys.
- :mod:`~callflow.yamlcheck.diagnostics`: a problem as ``file:line:column: severity:
  message; did you mean 'word'?``, the nearest valid word, errors first.
- :mod:`~callflow.yamlcheck.spec`: a file's keys and the shape of each value, one table
  for the checker and the JSON Schema.
- :mod:`~callflow.yamlcheck.checker`: reads nodes against a spec and collects every
  problem at once rather than stopping at the first.

Pure: it imports nothing else of callflow, so every layer may use it.
"""

from __future__ import annotations

from callflow.yamlcheck.checker import Checker, Reporter, value_of
from callflow.yamlcheck.diagnostics import Diagnostic, Location, Severity, nearest, sort_key
from callflow.yamlcheck.source import Source, compose, describe, read_file, read_source, where
from callflow.yamlcheck.spec import (
    AnyOf,
    Boolean,
    Choice,
    Duration,
    Integer,
    JSONSchema,
    Key,
    ListOf,
    MapOf,
    Number,
    Raw,
    Section,
    Text,
    document_schema,
)

__all__ = [
    "AnyOf",
    "Boolean",
    "Checker",
    "Choice",
    "Diagnostic",
    "Duration",
    "Integer",
    "JSONSchema",
    "Key",
    "ListOf",
    "Location",
    "MapOf",
    "Number",
    "Raw",
    "Reporter",
    "Section",
    "Severity",
    "Source",
    "Text",
    "compose",
    "describe",
    "document_schema",
    "nearest",
    "read_file",
    "read_source",
    "sort_key",
    "value_of",
    "where",
]
