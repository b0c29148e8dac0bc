"""The ``branch`` node: go to the first rule whose condition is true, else to ``else``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

from callflow.flow import model as m
from callflow.flow.labels import Look, condition_label
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk
from callflow.flow.spec import Field, Kind


@dataclass(frozen=True)
class BranchNode(m.Node):
    """Go to the first rule whose condition is true, else to ``otherwise``."""

    TYPE: ClassVar[str] = "branch"

    rules: tuple[m.Rule, ...]
    otherwise: str


class BranchType(NodeType[BranchNode]):
    node = BranchNode
    fields = (
        Field("conditions", Kind.RULES, "Checked in order; the first true one wins.", True),
        Field("else", Kind.NODE, "Where to go when no condition is true.", required=True),
    )
    look = Look("hexagon", "#fff2cc", "#bf9000")
    mermaid = ("{", "}")
    passes = True
    unhappy = frozenset({"else"})

    def build(self, b: Builder, r: Reading) -> BranchNode:
        rules = cast("tuple[m.Rule, ...]", r.values.items("conditions"))
        return BranchNode(r.name, r.at, rules, r.values.name("else"))

    def exits(self, node: BranchNode) -> list[tuple[str, str]]:
        out = [(condition_label(rule.condition), rule.next) for rule in node.rules]
        out.append(("else", node.otherwise))
        return out

    def enter(self, node: BranchNode, walk: Walk) -> Outcome:
        target, outcome = node.otherwise, "else"
        for number, rule in enumerate(node.rules, start=1):
            if walk.holds(rule.condition):
                target, outcome = rule.next, f"rule {number}"
                break
        walk.step(node, None, outcome)
        return target


KIND = BranchType()
