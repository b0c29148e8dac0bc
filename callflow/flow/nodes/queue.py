"""The ``queue`` node: put the caller in a queue to wait for an agent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, cast

from callflow.flow import model as m
from callflow.flow.actions import Completed, EnterQueue, Hangup, Redirect, Result
from callflow.flow.labels import Look
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk, handed_over
from callflow.flow.spec import Field, Kind


@dataclass(frozen=True)
class QueueNode(m.Node):
    """Put the caller in a queue to wait for an agent."""

    TYPE: ClassVar[str] = "queue"

    queue: str
    skills: tuple[str, ...] = ()
    priority: int = 0
    prompts: tuple[m.Prompt, ...] = ()
    on_failure: str | None = None
    after_call: str | None = None

    def every_prompt(self) -> tuple[m.Prompt, ...]:
        return self.prompts


class QueueType(NodeType[QueueNode]):
    node = QueueNode
    fields = (
        Field("queue", Kind.TEXT, "The queue to wait in.", required=True),
        Field("skills", Kind.STRINGS, "Skills the agent needs, e.g. [spanish, billing]."),
        Field("priority", Kind.INTEGER, "Higher is answered sooner (default 0)."),
        Field("prompt", Kind.PROMPTS, "Played before joining the queue."),
        Field("on_failure", Kind.NODE, "Where to go if the queue cannot take the caller."),
        Field(
            "after_call",
            Kind.NODE,
            "Where the caller goes when the agent hangs up first, e.g. a survey "
            "(default: the call ends).",
        ),
    )
    look = Look("box", "#b6d7a8", "#38761d", bold=True, double=True)
    mermaid = ("[[", "]]")
    waits = True
    person = True

    def build(self, b: Builder, r: Reading) -> QueueNode:
        v = r.values
        queue_at = r.value_node("queue")
        b.queue_ref(r.name, v.name("queue"), b.where(queue_at) if queue_at else r.at)
        return QueueNode(
            r.name,
            r.at,
            queue=v.name("queue"),
            skills=cast("tuple[str, ...]", v.items("skills")),
            priority=v.integer("priority", 0),
            prompts=v.prompts("prompt"),
            on_failure=v.text("on_failure"),
            after_call=v.text("after_call"),
        )

    def exits(self, node: QueueNode) -> list[tuple[str, str]]:
        out = [] if node.on_failure is None else [("on_failure", node.on_failure)]
        if node.after_call is not None:
            out.append(("after_call", node.after_call))
        return out

    def detail(self, node: QueueNode) -> str:
        extra = "".join(
            [
                f" · skills {', '.join(node.skills)}" if node.skills else "",
                f" · priority {node.priority}" if node.priority else "",
            ]
        )
        return f"{self.name} → {node.queue}{extra}"

    def enter(self, node: QueueNode, walk: Walk) -> Outcome:
        return EnterQueue(
            queue=walk.fill(node.queue) or node.queue,
            skills=node.skills,
            priority=node.priority,
            media=walk.media(node.prompts),
            variables=m.frozen_map(walk.variables),
            language=walk.flow.settings.language,
        )

    def resume(self, node: QueueNode, result: Result, walk: Walk) -> Outcome:
        if isinstance(result, Redirect):
            # The queue sends the caller back into the flow: an exit key, an overflow.
            if result.node not in walk.flow.nodes:
                walk.step(node, None, f"failed: {result.reason} to unknown node {result.node}")
                return node.on_failure or Hangup("queue_failed")
            walk.step(node, None, f"{result.reason}: {result.node}")
            return result.node
        if isinstance(result, Completed) and node.after_call is not None:
            # The agent hung up first (a caller who hangs up ends the flow): on to after_call.
            walk.step(node, None, f"{result.detail or 'answered'}; after the call")
            return node.after_call
        return handed_over(
            walk, node, result, done="queued", reason="queued", on_failure=node.on_failure
        )


KIND = QueueType()
