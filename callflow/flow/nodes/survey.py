"""The ``survey`` node: ask one post-call question and record the answer.

A queue node's ``after_call`` sends a caller whose agent hung up first to a survey instead
of hanging up; a chain of survey nodes asks one question each ("was your issue resolved?
press 1 for yes, 2 for no"; "how would you rate the call, 1 to 5"). A key among
``answers`` is recorded (a :class:`~callflow.flow.actions.SurveyAnswer`: the driver writes a
``survey.answer`` event with the call's agent and queue, which the KPIs read for first-call
resolution) and the flow goes to ``next``. A wrong key or silence asks again, as a menu
does; once ``retries`` are used up the caller goes to ``on_failure`` (default ``next``):
nothing is recorded for a question not answered.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

from callflow.flow import model as m
from callflow.flow.actions import (
    Action,
    Completed,
    Digits,
    Result,
    SurveyAnswer,
    Timeout,
    UnexpectedResult,
)
from callflow.flow.labels import Look
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk, collect, retry
from callflow.flow.spec import ASKING, BARGE_IN, PROMPT, Field, Kind

_KEYS = frozenset("0123456789*#")


@dataclass(frozen=True)
class SurveyNode(m.Node):
    """Ask one survey question; record the key pressed."""

    TYPE: ClassVar[str] = "survey"

    survey: str
    question: str
    prompts: tuple[m.Prompt, ...]
    answers: str  # the keys that are answers, e.g. "12" or "12345"
    next: str
    on_failure: str
    timeout: float
    retries: int
    invalid_prompts: tuple[m.Prompt, ...] = ()
    timeout_prompts: tuple[m.Prompt, ...] = ()
    barge_in: bool = True

    def every_prompt(self) -> tuple[m.Prompt, ...]:
        return self.prompts + self.invalid_prompts + self.timeout_prompts


class SurveyType(NodeType[SurveyNode]):
    node = SurveyNode
    fields = (
        Field(
            "question", Kind.NAME, "The question's id in the results, e.g. resolved.", required=True
        ),
        Field("prompt", Kind.PROMPTS, PROMPT.doc, required=True),
        Field("answers", Kind.TEXT, "The keys that answer, e.g. '12' or '12345'.", required=True),
        Field("survey", Kind.NAME, "The survey's name in the results (default post_call)."),
        *ASKING,
        Field("next", Kind.NODE, "Where to go once answered.", required=True),
        Field("on_failure", Kind.NODE, "Where to go with no valid answer (default next)."),
        BARGE_IN,
    )
    look = Look("box", "#d9d2e9", "#674ea7", bold=True)
    mermaid = ("[/", "/]")
    waits = True

    def build(self, b: Builder, r: Reading) -> SurveyNode:
        v, s = r.values, b.settings
        answers = v.text("answers", "") or ""
        if "answers" in v.data and (not answers or not set(answers) <= _KEYS):
            b.error(
                r.at_key("answers"),
                f"'answers' must be phone keys (0-9, * or #), e.g. '12', not {answers!r} {r.what}",
            )
        nxt = v.name("next")
        return SurveyNode(
            r.name,
            r.at,
            survey=v.text("survey", "post_call") or "post_call",
            question=v.name("question"),
            prompts=v.prompts("prompt"),
            answers=answers,
            next=nxt,
            on_failure=v.text("on_failure") or nxt,
            timeout=v.seconds("timeout", s.timeout),
            retries=v.integer("retries", s.retries),
            invalid_prompts=v.prompts("invalid_prompt"),
            timeout_prompts=v.prompts("timeout_prompt"),
            barge_in=v.flag("barge_in", True),
        )

    def exits(self, node: SurveyNode) -> list[tuple[str, str]]:
        out = [("answered", node.next)]
        if node.on_failure != node.next:
            out.append(("on_failure", node.on_failure))
        return out

    def detail(self, node: SurveyNode) -> str:
        return f"{self.name} · {node.survey}.{node.question} · keys {node.answers}"

    def enter(self, node: SurveyNode, walk: Walk) -> Outcome:
        return self.ask(node, walk)

    def ask(self, node: SurveyNode, walk: Walk, before: tuple[m.Prompt, ...] = ()) -> Action:
        return collect(walk, before + node.prompts, node.timeout, node.barge_in)

    def resume(self, node: SurveyNode, result: Result, walk: Walk) -> Outcome:
        if isinstance(result, Completed):  # the answer is recorded
            return node.next
        if isinstance(result, Timeout) or (isinstance(result, Digits) and not result.digits):
            again = functools.partial(self.ask, node, walk, node.timeout_prompts)
            return retry(walk, node, None, "timeout", again)
        if not isinstance(result, Digits):
            raise UnexpectedResult(f"survey {node.name!r} takes Digits or Timeout, got {result!r}")
        key = result.digits[:1]
        if key not in node.answers:
            again = functools.partial(self.ask, node, walk, node.invalid_prompts)
            return retry(walk, node, key, "invalid", again)
        walk.step(node, key, f"answer {key}")
        return SurveyAnswer(node.survey, node.question, key)


KIND = SurveyType()
