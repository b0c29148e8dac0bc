"""The ``transfer`` node: connect the caller to an endpoint or a dialplan extension."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from callflow.flow import model as m
from callflow.flow.actions import Result, Transfer
from callflow.flow.labels import Look, seconds
from callflow.flow.nodes.base import (
    Builder,
    NodeType,
    Outcome,
    Reading,
    Walk,
    check_dial_string,
    handed_over,
)
from callflow.flow.spec import ENDPOINT, EXTENSION, Field, Kind

# The dialplan context (dialplan/callflow.conf) a transfer to an extension continues in.
TRANSFER_CONTEXT = "callflow-transfer"


@dataclass(frozen=True)
class TransferNode(m.Node):
    """Connect the caller to an endpoint (``PJSIP/agent1``) or a dialplan extension."""

    TYPE: ClassVar[str] = "transfer"

    endpoint: str | None
    extension: str | None
    context: str
    timeout: float
    prompts: tuple[m.Prompt, ...] = ()
    on_failure: str | None = None

    def every_prompt(self) -> tuple[m.Prompt, ...]:
        return self.prompts


class TransferType(NodeType[TransferNode]):
    node = TransferNode
    fields = (
        Field("endpoint", Kind.TEXT, "A device to ring, e.g. PJSIP/agent1."),
        Field("extension", Kind.TEXT, "A dialplan extension to send the caller to."),
        Field(
            "context",
            Kind.TEXT,
            "Dialplan context of the extension (default 'callflow-transfer', in dialplan/).",
        ),
        Field("timeout", Kind.SECONDS, "Seconds to ring before giving up (default 30)."),
        Field("prompt", Kind.PROMPTS, "Played before connecting, e.g. pls-hold-while-try."),
        Field("on_failure", Kind.NODE, "Where to go when nobody answers (default: hang up)."),
    )
    look = Look("box", "#b6d7a8", "#38761d", bold=True, double=True)
    mermaid = ("[[", "]]")
    waits = True
    person = True

    def build(self, b: Builder, r: Reading) -> TransferNode:
        v = r.values
        endpoint, extension = v.text("endpoint"), v.text("extension")
        if (endpoint is None) == (extension is None):
            both = endpoint is not None
            b.error(
                r.at_key("extension") if both else r.at,
                f"transfer node '{r.name}' needs exactly one of 'endpoint' or 'extension'"
                + (", not both" if both else ""),
            )
        for key, pattern, example in (
            ("endpoint", ENDPOINT, "PJSIP/agent1"),
            ("extension", EXTENSION, "2001"),
        ):
            check_dial_string(b, r, key, pattern, f"{r.what} (e.g. {example})")
        return TransferNode(
            r.name,
            r.at,
            endpoint=endpoint,
            extension=extension,
            context=v.text("context", TRANSFER_CONTEXT) or TRANSFER_CONTEXT,
            timeout=v.seconds("timeout", 30.0),
            prompts=v.prompts("prompt"),
            on_failure=v.text("on_failure"),
        )

    def exits(self, node: TransferNode) -> list[tuple[str, str]]:
        return [] if node.on_failure is None else [("on_failure", node.on_failure)]

    def detail(self, node: TransferNode) -> str:
        where = node.endpoint or f"{node.extension}@{node.context}"
        return f"{self.name} → {where} · {seconds(node.timeout)}"

    def enter(self, node: TransferNode, walk: Walk) -> Outcome:
        walk.step(node, None, "transfer")
        return Transfer(
            endpoint=walk.fill(node.endpoint),
            extension=walk.fill(node.extension),
            context=node.context,
            timeout=node.timeout,
            media=walk.media(node.prompts),
            language=walk.flow.settings.language,
        )

    def resume(self, node: TransferNode, result: Result, walk: Walk) -> Outcome:
        return handed_over(
            walk, node, result, done="connected", reason="transferred", on_failure=node.on_failure
        )


KIND = TransferType()
