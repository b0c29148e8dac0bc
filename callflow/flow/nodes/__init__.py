"""Node types: the registry of every kind of node a flow may have, one module per kind.

Each module (``play``, ``menu``...) defines its model dataclass and a
:class:`~callflow.flow.nodes.base.NodeType` (its keys, builder, exits, graph look and
machine step; see :mod:`callflow.flow.nodes.base`). The loader, the checker, the JSON Schema,
the graph and the machine read :data:`NODE_TYPES` and never name a kind themselves. A new
kind of node is one new module here, listed in :data:`_MODULES`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType

from callflow.flow import model as m
from callflow.flow.nodes import (
    agent,
    branch,
    callback,
    goto,
    hangup,
    hours,
    input,
    menu,
    play,
    queue,
    set,
    survey,
    transfer,
    voicemail,
)
from callflow.flow.nodes.base import AnyNodeType, NodeType

# In the order the schema, the docs and the checker's messages list them.
_MODULES = (
    play,
    menu,
    input,
    hours,
    set,
    branch,
    transfer,
    voicemail,
    queue,
    survey,
    callback,
    agent,
    goto,
    hangup,
)

_registry: dict[str, AnyNodeType] = {module.KIND.name: module.KIND for module in _MODULES}
_by_class: dict[type[m.Node], AnyNodeType] = {k.node: k for k in _registry.values()}

# Every node type by the word flows write in ``type:`` (read-only; see register()).
NODE_TYPES: Mapping[str, AnyNodeType] = MappingProxyType(_registry)


def kind_of(node: m.Node) -> AnyNodeType:
    """The node type a model node belongs to."""
    return _by_class[type(node)]


def register(kind: AnyNodeType) -> None:
    """Add a node type (after the built-in ones), e.g. a test's or an extension's own."""
    if kind.name in _registry:
        raise ValueError(f"node type {kind.name!r} is already registered")
    _registry[kind.name] = kind
    _by_class[kind.node] = kind


def unregister(name: str) -> None:
    """Remove a node type added with :func:`register`."""
    kind = _registry.pop(name)
    del _by_class[kind.node]


@contextmanager
def registered(kind: AnyNodeType) -> Iterator[AnyNodeType]:
    """A node type registered for the duration of a ``with`` block."""
    register(kind)
    try:
        yield kind
    finally:
        unregister(kind.name)


__all__ = ["NODE_TYPES", "NodeType", "kind_of", "register", "registered", "unregister"]
