"""The ``goto`` node: jump to another node, e.g. one in an included sub-flow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from callflow.flow import model as m
from callflow.flow.labels import Look
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk
from callflow.flow.spec import Field, Kind


@dataclass(frozen=True)
class GotoNode(m.Node):
    """Jump to another node, e.g. one in an included sub-flow."""

    TYPE: ClassVar[str] = "goto"

    target: str


class GotoType(NodeType[GotoNode]):
    node = GotoNode
    fields = (Field("target", Kind.NODE, "The node to jump to.", required=True),)
    look = Look("cds", "#f3f3f3", "#999999")
    mermaid = (">", "]")
    passes = True

    def build(self, b: Builder, r: Reading) -> GotoNode:
        return GotoNode(r.name, r.at, r.values.name("target"))

    def exits(self, node: GotoNode) -> list[tuple[str, str]]:
        return [("goto", node.target)]

    def enter(self, node: GotoNode, walk: Walk) -> Outcome:
        walk.step(node, None, "goto")
        return node.target


KIND = GotoType()
