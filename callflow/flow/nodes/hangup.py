"""The ``hangup`` node: say goodbye (optionally) and end the call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from callflow.flow import model as m
from callflow.flow.actions import Hangup
from callflow.flow.labels import Look
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk
from callflow.flow.spec import Field, Kind


@dataclass(frozen=True)
class HangupNode(m.Node):
    """Say goodbye (optionally) and end the call."""

    TYPE: ClassVar[str] = "hangup"

    prompts: tuple[m.Prompt, ...] = ()
    reason: str = "normal"

    def every_prompt(self) -> tuple[m.Prompt, ...]:
        return self.prompts


class HangupType(NodeType[HangupNode]):
    node = HangupNode
    fields = (
        Field("prompt", Kind.PROMPTS, "Played before hanging up, e.g. goodbye."),
        Field("reason", Kind.TEXT, "Why the call ends, for the event log."),
    )
    look = Look("box", "#f4cccc", "#990000", bold=True)
    mermaid = ("([", "])")
    waits = True

    def build(self, b: Builder, r: Reading) -> HangupNode:
        v = r.values
        return HangupNode(r.name, r.at, v.prompts("prompt"), v.text("reason", "normal") or "normal")

    def detail(self, node: HangupNode) -> str:
        return f"{self.name} · {node.reason}" if node.reason != "normal" else self.name

    def enter(self, node: HangupNode, walk: Walk) -> Outcome:
        walk.step(node, None, f"hangup: {node.reason}")
        return Hangup(node.reason, walk.media(node.prompts), walk.flow.settings.language)


KIND = HangupType()
