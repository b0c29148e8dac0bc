"""Source: flow files are read by the shared reader, :mod:`callflow.yamlcheck.source`."""

from __future__ import annotations

from callflow.yamlcheck import source as _shared
from callflow.yamlcheck.checker import Reporter
from callflow.yamlcheck.source import (
    BOOL,
    FLOAT,
    INT,
    MERGE,
    NULL,
    STR,
    TIMESTAMP,
    Source,
    _Loader,
    compose,
    describe,
    where,
)


def read_source(path: str, text: str) -> Source:
    """Compose a flow file's text into nodes (see :func:`callflow.yamlcheck.read_source`)."""
    return _shared.read_source(path, text, "flow")


__all__ = [
    "BOOL",
    "FLOAT",
    "INT",
    "MERGE",
    "NULL",
    "STR",
    "TIMESTAMP",
    "Reporter",
    "Source",
    "_Loader",
    "compose",
    "describe",
    "read_source",
    "where",
]
