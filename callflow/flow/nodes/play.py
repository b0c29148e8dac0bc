"""The ``play`` node: play prompts, then go on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from callflow.flow import model as m
from callflow.flow.actions import Play, PlayDone, PlayInterrupted, Result, UnexpectedResult
from callflow.flow.labels import Look
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk
from callflow.flow.spec import BARGE_IN, PROMPT, Field, Kind


@dataclass(frozen=True)
class PlayNode(m.Node):
    """Play prompts, then go on."""

    TYPE: ClassVar[str] = "play"

    prompts: tuple[m.Prompt, ...]
    next: str
    barge_in: bool = False

    def every_prompt(self) -> tuple[m.Prompt, ...]:
        return self.prompts


class PlayType(NodeType[PlayNode]):
    node = PlayNode
    fields = (
        Field("prompt", Kind.PROMPTS, PROMPT.doc, required=True),
        BARGE_IN,
        Field("next", Kind.NODE, "Where to go after the prompts.", required=True),
    )
    look = Look("box", "#e8f1fb", "#6d9eeb")
    mermaid = ("(", ")")
    passes = True

    def build(self, b: Builder, r: Reading) -> PlayNode:
        v = r.values
        return PlayNode(
            r.name, r.at, v.prompts("prompt"), v.name("next"), v.flag("barge_in", False)
        )

    def exits(self, node: PlayNode) -> list[tuple[str, str]]:
        return [("next", node.next)]

    def enter(self, node: PlayNode, walk: Walk) -> Outcome:
        media = walk.media(node.prompts)
        if not media:
            walk.step(node, None, "nothing to play")
            return node.next
        return Play(media, node.barge_in, walk.flow.settings.language)

    def resume(self, node: PlayNode, result: Result, walk: Walk) -> Outcome:
        if isinstance(result, PlayDone):
            walk.step(node, None, "played")
        elif isinstance(result, PlayInterrupted):
            walk.step(node, result.digit, "interrupted")
            # The key is the caller's answer to whatever asks next (a menu takes it).
            walk.typeahead = result.digit if node.barge_in else None
        else:
            raise UnexpectedResult(f"play node {node.name!r} takes PlayDone, got {result!r}")
        return node.next


KIND = PlayType()
