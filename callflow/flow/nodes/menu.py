"""The ``menu`` node: ask the caller to press one key and go where that key leads."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import ClassVar

from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from callflow.flow import model as m
from callflow.flow.actions import Action, Digits, Result, Timeout, UnexpectedResult
from callflow.flow.labels import Look, seconds
from callflow.flow.nodes.base import (
    Builder,
    NodeType,
    Outcome,
    Reading,
    Walk,
    collect,
    retry,
    value_of,
)
from callflow.flow.spec import ASKING, BARGE_IN, ON_FAILURE, PROMPT, Field, Kind

# "press 4", "press star": the keys a menu's spoken text promises.
_PROMISED_KEY = re.compile(
    r"\bpress(?:ing)?\s+(?:the\s+)?([0-9]|star|hash|pound|zero|one|two|three|four|five|six"
    r"|seven|eight|nine)\b",
    re.IGNORECASE,
)
_KEY_WORDS = {
    "star": "*",
    "hash": "#",
    "pound": "#",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}


@dataclass(frozen=True)
class MenuNode(m.Node):
    """Ask the caller to press one key and go where that key leads."""

    TYPE: ClassVar[str] = "menu"

    prompts: tuple[m.Prompt, ...]
    options: Mapping[str, str]
    on_failure: str
    timeout: float
    retries: int
    repeat: str | None = None
    invalid_prompts: tuple[m.Prompt, ...] = ()
    timeout_prompts: tuple[m.Prompt, ...] = ()
    barge_in: bool = True

    def every_prompt(self) -> tuple[m.Prompt, ...]:
        return self.prompts + self.invalid_prompts + self.timeout_prompts


class MenuType(NodeType[MenuNode]):
    node = MenuNode
    fields = (
        Field("prompt", Kind.PROMPTS, PROMPT.doc, required=True),
        Field("options", Kind.OPTIONS, "Phone key -> node to go to.", required=True),
        Field("repeat", Kind.KEY, "The key that plays the menu again, usually '*'."),
        *ASKING,
        Field("on_failure", Kind.NODE, ON_FAILURE.doc, required=True),
        BARGE_IN,
    )
    look = Look("box", "#ffe599", "#b45f06", bold=True)
    mermaid = ("{{", "}}")
    waits = True

    # --- the checker -----------------------------------------------------------------

    def build(self, b: Builder, r: Reading) -> MenuNode:
        v, s = r.values, b.settings
        options = v.mapping("options")
        repeat = v.text("repeat")
        if "options" in v.data:
            _promised_keys(b, r, {**options, **({repeat: ""} if repeat else {})})
        if repeat is not None and repeat in options:
            b.error(
                r.at_key("repeat"), f"key '{repeat}' is both the repeat key and an option {r.what}"
            )
        return MenuNode(
            r.name,
            r.at,
            prompts=v.prompts("prompt"),
            options=m.frozen_map(options),
            on_failure=v.name("on_failure"),
            timeout=v.seconds("timeout", s.timeout),
            retries=v.integer("retries", s.retries),
            repeat=repeat,
            invalid_prompts=v.prompts("invalid_prompt"),
            timeout_prompts=v.prompts("timeout_prompt"),
            barge_in=v.flag("barge_in", True),
        )

    def warnings(
        self, node: MenuNode, leads_to_person: Callable[[Collection[str]], bool]
    ) -> list[str]:
        if leads_to_person(list(node.options.values())):
            return []
        return [
            f"menu '{node.name}' has no option that leads to a person (a transfer or queue"
            " node); give callers a way out, e.g. '0': operator"
        ]

    # --- the graph -------------------------------------------------------------------

    def exits(self, node: MenuNode) -> list[tuple[str, str]]:
        out = list(node.options.items())
        if node.repeat is not None:
            out.append((f"{node.repeat} repeat", node.name))
        out.append(("on_failure", node.on_failure))
        return out

    def detail(self, node: MenuNode) -> str:
        return f"{self.name} · {seconds(node.timeout)} timeout, {node.retries} retries"

    # --- the machine -----------------------------------------------------------------

    def enter(self, node: MenuNode, walk: Walk) -> Outcome:
        if walk.typeahead in node.options:
            # The caller pressed a key during a barge-in prompt just before the menu.
            digit, walk.typeahead = walk.typeahead or "", None
            walk.step(node, digit, f"option {digit} (typed ahead)")
            return node.options[digit]
        return self.ask(node, walk)

    def ask(self, node: MenuNode, walk: Walk, before: tuple[m.Prompt, ...] = ()) -> Action:
        return collect(walk, before + node.prompts, node.timeout, node.barge_in)

    def resume(self, node: MenuNode, result: Result, walk: Walk) -> Outcome:
        if isinstance(result, Timeout) or (isinstance(result, Digits) and not result.digits):
            again = functools.partial(self.ask, node, walk, node.timeout_prompts)
            return retry(walk, node, None, "timeout", again)
        if not isinstance(result, Digits):
            raise UnexpectedResult(f"menu {node.name!r} takes Digits or Timeout, got {result!r}")
        digit = result.digits[:1]
        if digit == node.repeat:
            walk.step(node, digit, "repeat")
            return self.ask(node, walk)
        target = node.options.get(digit)
        if target is None:
            again = functools.partial(self.ask, node, walk, node.invalid_prompts)
            return retry(walk, node, digit, "invalid", again)
        walk.step(node, digit, f"option {digit}")
        return target


def _promised_keys(b: Builder, r: Reading, options: Mapping[str, str]) -> None:
    """Warn when a menu's say: text tells callers to press a key it has no option for."""
    prompts = r.value_node("prompt")
    items = prompts.value if isinstance(prompts, SequenceNode) else [prompts]
    for item in items:
        said = value_of(item, "say") if isinstance(item, MappingNode) else None
        if not isinstance(said, ScalarNode):
            continue
        for match in _PROMISED_KEY.finditer(str(said.value)):
            word = match.group(1).lower()
            key = _KEY_WORDS.get(word, word)
            if key not in options:
                b.warning(
                    said,
                    f"the prompt {r.what} says '{match.group(0)}', but the menu has no"
                    f" option '{key}'"
                    + (' (an unquoted #: is a YAML comment; write "#":)' if key == "#" else ""),
                )


KIND = MenuType()
