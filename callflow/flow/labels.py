"""Labels: flow things as short text, and how a node type is drawn, for the flow graph.

Pure helpers the node types (:mod:`callflow.flow.nodes`) use to describe themselves, and
:mod:`callflow.flow.graph` uses to draw them.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from callflow.flow import model as m

PROMPT_WIDTH = 30  # characters of a say: text shown before it is cut with "…"
CONDITION_WIDTH = 32  # characters per line of a branch condition on its edge (2 lines)


@dataclass(frozen=True)
class Look:
    """How one node type is drawn: Graphviz shape, fill and border colours, weight."""

    shape: str
    fill: str
    border: str
    bold: bool = False
    double: bool = False


def prompt_text(prompt: m.Prompt) -> str:
    """A prompt as one short line: ``say: "Welcome to Acme…"``, ``sound: hello-world``."""
    if isinstance(prompt, m.Sound):
        return f"sound: {prompt.name}"
    if isinstance(prompt, m.Say):
        return f'say: "{abridge(prompt.text, PROMPT_WIDTH)}"'
    kind = {
        m.SayDigits: "digits",
        m.SayNumber: "number",
        m.SayDate: "date",
        m.SayTime: "time",
    }[type(prompt)]
    return f"{kind}: {abridge(prompt.value, PROMPT_WIDTH)}"


def abridge(text: str, width: int) -> str:
    """One line of at most ``width`` characters, cut at a word with "…" when longer."""
    line = " ".join(text.split())
    if len(line) <= width:
        return line
    cut = line[:width].rstrip()
    space = cut.rfind(" ")
    if space > width // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


_OPERATOR_WORDS = {
    "equals": "=",
    "not_equals": "!=",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "contains": "contains",
    "matches": "matches",
    "in": "in",
    "not_in": "not in",
    "greater_than": ">",
    "less_than": "<",
    "at_least": ">=",
    "at_most": "<=",
    "between": "between",
}


def condition_text(condition: m.Condition) -> str:
    """A branch condition in short words: ``caller_id starts with "+44" and vip = yes``."""
    if isinstance(condition, m.AllOf):
        return " and ".join(_grouped(c) for c in condition.conditions)
    if isinstance(condition, m.AnyOf):
        return " or ".join(_grouped(c) for c in condition.conditions)
    if isinstance(condition, m.Not):
        return f"not {_grouped(condition.condition)}"
    subject = condition.variable
    if condition.queue is not None:
        # "queue.estimated_wait" on queue sales reads as "sales.estimated_wait".
        subject = f"{condition.queue}.{condition.variable.removeprefix('queue.')}"
    value = condition.value
    if condition.operator == "is_set":
        return f"{subject} is set" if value is True else f"{subject} is not set"
    if isinstance(value, tuple):
        shown = " and ".join(value) if condition.operator == "between" else f"[{', '.join(value)}]"
    elif condition.operator == "matches":
        shown = f"/{value}/"
    else:
        shown = f'"{value}"' if not re.fullmatch(r"-?[0-9.]+", str(value)) else str(value)
    return f"{subject} {_OPERATOR_WORDS.get(condition.operator, condition.operator)} {shown}"


def condition_label(condition: m.Condition) -> str:
    """A condition on at most two short lines, so a branch's edges stay narrow."""
    text = abridge(condition_text(condition), 2 * CONDITION_WIDTH)
    return "\n".join(textwrap.wrap(text, CONDITION_WIDTH, break_long_words=False))


def _grouped(condition: m.Condition) -> str:
    text = condition_text(condition)
    return f"({text})" if isinstance(condition, m.AllOf | m.AnyOf) else text


def seconds(value: float) -> str:
    """A duration for a node's detail line: ``5 s``."""
    return f"{value:g} s"
