"""The ``input`` node: collect several digits into a variable, checking length and pattern."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import ClassVar

from callflow.flow import model as m
from callflow.flow.actions import Action, Digits, Result, Timeout, UnexpectedResult
from callflow.flow.labels import Look
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk, collect, retry
from callflow.flow.spec import ASKING, BARGE_IN, ON_FAILURE, PROMPT, Field, Kind


@dataclass(frozen=True)
class InputNode(m.Node):
    """Collect several digits into a variable, checking length and pattern."""

    TYPE: ClassVar[str] = "input"

    variable: str
    prompts: tuple[m.Prompt, ...]
    next: str
    on_failure: str
    timeout: float
    retries: int
    min_length: int = 1
    max_length: int = 20
    terminator: str | None = "#"
    pattern: str | None = None
    invalid_prompts: tuple[m.Prompt, ...] = ()
    timeout_prompts: tuple[m.Prompt, ...] = ()
    barge_in: bool = True

    def every_prompt(self) -> tuple[m.Prompt, ...]:
        return self.prompts + self.invalid_prompts + self.timeout_prompts


class InputType(NodeType[InputNode]):
    node = InputNode
    fields = (
        Field("variable", Kind.NAME, "The variable that receives the digits.", required=True),
        Field("prompt", Kind.PROMPTS, PROMPT.doc, required=True),
        Field("min_length", Kind.INTEGER, "Fewest digits accepted (default 1).", minimum=1),
        Field("max_length", Kind.INTEGER, "Most digits accepted (default 20).", minimum=1),
        Field("terminator", Kind.KEY, "The key that ends the entry (default '#')."),
        Field("pattern", Kind.REGEX, "A regular expression the whole entry must match."),
        *ASKING,
        Field("next", Kind.NODE, "Where to go with a valid entry.", required=True),
        Field("on_failure", Kind.NODE, ON_FAILURE.doc, required=True),
        BARGE_IN,
    )
    look = Look("box", "#fce5cd", "#b45f06", bold=True)
    mermaid = ("[/", "/]")
    waits = True

    def build(self, b: Builder, r: Reading) -> InputNode:
        v, s = r.values, b.settings
        low, high = v.integer("min_length", 1), v.integer("max_length", 20)
        if low > high:
            b.error(
                r.at_key("min_length"),
                f"'min_length' ({low}) is greater than 'max_length' ({high}) {r.what}",
            )
        variable = v.name("variable")
        b.assign([variable])
        return InputNode(
            r.name,
            r.at,
            variable=variable,
            prompts=v.prompts("prompt"),
            next=v.name("next"),
            on_failure=v.name("on_failure"),
            timeout=v.seconds("timeout", s.timeout),
            retries=v.integer("retries", s.retries),
            min_length=low,
            max_length=high,
            terminator=v.text("terminator", "#"),
            pattern=v.text("pattern"),
            invalid_prompts=v.prompts("invalid_prompt"),
            timeout_prompts=v.prompts("timeout_prompt"),
            barge_in=v.flag("barge_in", True),
        )

    def exits(self, node: InputNode) -> list[tuple[str, str]]:
        return [("next", node.next), ("on_failure", node.on_failure)]

    def detail(self, node: InputNode) -> str:
        size = (
            f"{node.min_length} digits"
            if node.min_length == node.max_length
            else f"{node.min_length}-{node.max_length} digits"
        )
        return f"{self.name} → ${{{node.variable}}} · {size}"

    def enter(self, node: InputNode, walk: Walk) -> Outcome:
        return self.ask(node, walk)

    def ask(self, node: InputNode, walk: Walk, before: tuple[m.Prompt, ...] = ()) -> Action:
        return collect(
            walk,
            before + node.prompts,
            node.timeout,
            node.barge_in,
            min_length=node.min_length,
            max_length=node.max_length,
            terminator=node.terminator,
        )

    def resume(self, node: InputNode, result: Result, walk: Walk) -> Outcome:
        if isinstance(result, Timeout) or (isinstance(result, Digits) and not result.digits):
            again = functools.partial(self.ask, node, walk, node.timeout_prompts)
            return retry(walk, node, None, "timeout", again)
        if not isinstance(result, Digits):
            raise UnexpectedResult(f"input {node.name!r} takes Digits or Timeout, got {result!r}")
        digits = result.digits
        if node.terminator and digits.endswith(node.terminator):
            digits = digits[: -len(node.terminator)]
        if not node.min_length <= len(digits) <= node.max_length:
            again = functools.partial(self.ask, node, walk, node.invalid_prompts)
            return retry(walk, node, digits, "invalid length", again)
        if node.pattern is not None and re.fullmatch(node.pattern, digits) is None:
            again = functools.partial(self.ask, node, walk, node.invalid_prompts)
            return retry(walk, node, digits, "invalid pattern", again)
        walk.variables[node.variable] = digits
        walk.step(node, digits, f"set {node.variable}")
        return node.next


KIND = InputType()
