"""The ``voicemail`` node: let the caller leave a message in a mailbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from callflow.flow import model as m
from callflow.flow.actions import Completed, Failed, Hangup, Result, UnexpectedResult, Voicemail
from callflow.flow.labels import Look
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk, check_dial_string
from callflow.flow.spec import MAILBOX, Field, Kind


@dataclass(frozen=True)
class VoicemailNode(m.Node):
    """Let the caller leave a message in a mailbox."""

    TYPE: ClassVar[str] = "voicemail"

    mailbox: str
    beep: bool
    max_length: int
    prompts: tuple[m.Prompt, ...] = ()
    next: str | None = None

    def every_prompt(self) -> tuple[m.Prompt, ...]:
        return self.prompts


class VoicemailType(NodeType[VoicemailNode]):
    node = VoicemailNode
    fields = (
        Field("mailbox", Kind.TEXT, "The mailbox, e.g. 1000@default.", required=True),
        Field("prompt", Kind.PROMPTS, "The greeting played before the beep."),
        Field("beep", Kind.BOOLEAN, "Play a beep before recording (default true)."),
        Field("max_length", Kind.INTEGER, "Longest message in seconds (default 120).", minimum=1),
        Field("next", Kind.NODE, "Where to go after the message (default: hang up)."),
    )
    look = Look("folder", "#d0e0e3", "#45818e")
    mermaid = ("[(", ")]")
    waits = True

    def build(self, b: Builder, r: Reading) -> VoicemailNode:
        v = r.values
        check_dial_string(b, r, "mailbox", MAILBOX, f"{r.what} (e.g. 1000@default)")
        return VoicemailNode(
            r.name,
            r.at,
            mailbox=v.name("mailbox"),
            beep=v.flag("beep", True),
            max_length=v.integer("max_length", 120),
            prompts=v.prompts("prompt"),
            next=v.text("next"),
        )

    def exits(self, node: VoicemailNode) -> list[tuple[str, str]]:
        return [] if node.next is None else [("next", node.next)]

    def detail(self, node: VoicemailNode) -> str:
        return f"{self.name} → {node.mailbox}"

    def enter(self, node: VoicemailNode, walk: Walk) -> Outcome:
        return Voicemail(
            walk.fill(node.mailbox) or node.mailbox,
            node.beep,
            node.max_length,
            walk.media(node.prompts),
            walk.flow.settings.language,
        )

    def resume(self, node: VoicemailNode, result: Result, walk: Walk) -> Outcome:
        if isinstance(result, Completed):
            walk.step(node, None, "message left")
        elif isinstance(result, Failed):
            walk.step(node, None, f"failed: {result.reason}")
        else:
            raise UnexpectedResult(f"voicemail {node.name!r} takes Completed, got {result!r}")
        if node.next is None:
            return Hangup("voicemail_done", (), walk.flow.settings.language)
        return node.next


KIND = VoicemailType()
