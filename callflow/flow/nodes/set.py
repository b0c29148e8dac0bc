"""The ``set`` node: set call variables (values may use ``${name}``), then go on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from callflow.flow import model as m
from callflow.flow.labels import PROMPT_WIDTH, Look, abridge
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk
from callflow.flow.spec import Field, Kind


@dataclass(frozen=True)
class SetNode(m.Node):
    """Set call variables (values may use ``${name}``), then go on."""

    TYPE: ClassVar[str] = "set"

    variables: Mapping[str, str]
    next: str


class SetType(NodeType[SetNode]):
    node = SetNode
    fields = (
        Field("variables", Kind.VARIABLES, "Variables to set: name: value.", required=True),
        Field("next", Kind.NODE, "Where to go next.", required=True),
    )
    look = Look("box", "#f3f3f3", "#999999")
    mermaid = ("[", "]")
    passes = True

    def build(self, b: Builder, r: Reading) -> SetNode:
        variables = r.values.mapping("variables")
        b.assign(variables)
        return SetNode(r.name, r.at, m.frozen_map(variables), r.values.name("next"))

    def exits(self, node: SetNode) -> list[tuple[str, str]]:
        return [("next", node.next)]

    def lines(self, node: SetNode) -> list[str]:
        return [
            f"{name} = {abridge(value, PROMPT_WIDTH)}" for name, value in node.variables.items()
        ]

    def enter(self, node: SetNode, walk: Walk) -> Outcome:
        for key, value in node.variables.items():
            walk.variables[key] = walk.fill(value) or ""
        walk.step(node, None, "set " + ", ".join(node.variables))
        return node.next


KIND = SetType()
