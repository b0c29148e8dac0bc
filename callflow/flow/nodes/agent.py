"""The ``agent`` node: change the state of the agent whose phone is calling (feature codes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from callflow.flow import model as m
from callflow.flow.actions import AgentChange, AgentChanged, Failed, Result, UnexpectedResult
from callflow.flow.labels import Look
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk
from callflow.flow.spec import Field, Kind

# What an agent node can do to the agent whose phone is calling.
AGENT_ACTIONS = ("login", "logout", "pause", "unpause")
# Variables an agent node sets when it succeeds.
AGENT_VARIABLES = ("agent", "agent_state")


@dataclass(frozen=True)
class AgentNode(m.Node):
    """Change the state of the agent whose phone is calling (feature codes)."""

    TYPE: ClassVar[str] = "agent"

    action: str  # one of AGENT_ACTIONS
    next: str
    on_failure: str
    reason: str | None = None


class AgentType(NodeType[AgentNode]):
    node = AgentNode
    fields = (
        Field(
            "action",
            Kind.TEXT,
            "What the agent on this phone does: login, logout, pause or unpause.",
            required=True,
            choices=AGENT_ACTIONS,
        ),
        Field("reason", Kind.TEXT, "Why the agent pauses (pause only), e.g. lunch."),
        Field("next", Kind.NODE, "Where to go once it is done.", required=True),
        Field(
            "on_failure",
            Kind.NODE,
            "Where to go when the phone is no agent's or the change is refused.",
            required=True,
        ),
    )
    look = Look("component", "#d9ead3", "#6aa84f")
    mermaid = ("[", "]")

    def build(self, b: Builder, r: Reading) -> AgentNode:
        v = r.values
        action = v.text("action") or ""
        reason = v.text("reason")
        if reason is not None and action in AGENT_ACTIONS and action != "pause":
            b.error(r.at_key("reason"), f"'reason' only goes with action 'pause' {r.what}")
        b.assign(AGENT_VARIABLES)
        return AgentNode(
            r.name,
            r.at,
            action=action,
            next=v.name("next"),
            on_failure=v.name("on_failure"),
            reason=reason,
        )

    def exits(self, node: AgentNode) -> list[tuple[str, str]]:
        return [("next", node.next), ("on_failure", node.on_failure)]

    def detail(self, node: AgentNode) -> str:
        return f"{self.name} · {node.action}" + (f" ({node.reason})" if node.reason else "")

    def enter(self, node: AgentNode, walk: Walk) -> Outcome:
        return AgentChange(node.action, walk.fill(node.reason) or "")

    def resume(self, node: AgentNode, result: Result, walk: Walk) -> Outcome:
        if isinstance(result, AgentChanged):
            walk.variables.update(agent=result.agent, agent_state=result.state)
            walk.step(node, None, f"{node.action}: {result.agent} {result.state}")
            return node.next
        if not isinstance(result, Failed):
            raise UnexpectedResult(
                f"agent node {node.name!r} takes AgentChanged or Failed, got {result!r}"
            )
        walk.step(node, None, f"failed: {result.reason}")
        return node.on_failure


KIND = AgentType()
