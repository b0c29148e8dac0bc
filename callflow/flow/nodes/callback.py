"""The ``callback`` node: take the number to call back, ask for the callback, say goodbye.

The caller confirms their caller ID (press 1) or keys another number (press 2, then the
number and #). The number goes to the driver as the caller gave it, in a
:class:`~callflow.flow.actions.RequestCallback`; the driver checks it with the queue's
number rules (:mod:`callflow.callback.number`) before anything else, and a refused number
is asked for again after ``invalid_prompt``, as many times as ``retries`` allows. Once the
callback is booked, the caller hears ``done_prompt`` and the call ends: their place in line
is kept by the callback. ``${callback_number}`` holds the caller ID's digits (for the
confirmation prompt), then the number booked.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import ClassVar

from callflow.flow import model as m
from callflow.flow.actions import (
    Action,
    Completed,
    Digits,
    Failed,
    Hangup,
    RequestCallback,
    Result,
    Timeout,
    UnexpectedResult,
)
from callflow.flow.labels import Look
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk, collect, retry
from callflow.flow.spec import ASKING, ON_FAILURE, Field, Kind

NUMBER_VARIABLE = "callback_number"
_STEP = "callback_step"  # where the node is between two results: confirm, enter, request
CONFIRM_KEY, OTHER_KEY = "1", "2"
# A caller ID worth offering: digits, maybe a +. Whether it may be called is the driver's
# check (the queue's number rules), like a typed number's.
_CALLER_ID = re.compile(r"\+?[0-9]{6,15}")


@dataclass(frozen=True)
class CallbackNode(m.Node):
    """Take a number and ask for a callback in a queue."""

    TYPE: ClassVar[str] = "callback"

    queue: str
    prompts: tuple[m.Prompt, ...]  # confirm the caller ID: 1, or 2 for another number
    number_prompts: tuple[m.Prompt, ...]
    done_prompts: tuple[m.Prompt, ...]
    on_failure: str
    timeout: float
    retries: int
    invalid_prompts: tuple[m.Prompt, ...] = ()
    timeout_prompts: tuple[m.Prompt, ...] = ()

    def every_prompt(self) -> tuple[m.Prompt, ...]:
        return (
            self.prompts
            + self.number_prompts
            + self.done_prompts
            + self.invalid_prompts
            + self.timeout_prompts
        )


class CallbackType(NodeType[CallbackNode]):
    node = CallbackNode
    fields = (
        Field("queue", Kind.TEXT, "The queue whose agent calls back.", required=True),
        Field(
            "prompt",
            Kind.PROMPTS,
            "Offers the caller ID: press 1 to confirm it, 2 to key another number"
            " (${callback_number} holds its digits).",
            required=True,
        ),
        Field(
            "number_prompt",
            Kind.PROMPTS,
            "Asks for the number to call, then #.",
            required=True,
        ),
        Field("done_prompt", Kind.PROMPTS, "Said once the callback is booked, before hanging up."),
        *ASKING,
        Field("on_failure", Kind.NODE, ON_FAILURE.doc, required=True),
    )
    look = Look("box", "#d9d2e9", "#674ea7", bold=True)
    mermaid = ("[\\", "/]")
    waits = True
    person = True

    def build(self, b: Builder, r: Reading) -> CallbackNode:
        v, s = r.values, b.settings
        queue_at = r.value_node("queue")
        b.queue_ref(r.name, v.name("queue"), b.where(queue_at) if queue_at else r.at)
        b.assign([NUMBER_VARIABLE])
        return CallbackNode(
            r.name,
            r.at,
            queue=v.name("queue"),
            prompts=v.prompts("prompt"),
            number_prompts=v.prompts("number_prompt"),
            done_prompts=v.prompts("done_prompt"),
            on_failure=v.name("on_failure"),
            timeout=v.seconds("timeout", s.timeout),
            retries=v.integer("retries", s.retries),
            invalid_prompts=v.prompts("invalid_prompt"),
            timeout_prompts=v.prompts("timeout_prompt"),
        )

    def exits(self, node: CallbackNode) -> list[tuple[str, str]]:
        return [("on_failure", node.on_failure)]

    def detail(self, node: CallbackNode) -> str:
        return f"{self.name} → {node.queue}"

    def enter(self, node: CallbackNode, walk: Walk) -> Outcome:
        caller_id = walk.variables.get("caller_id", "")
        if _CALLER_ID.fullmatch(caller_id):
            walk.variables[NUMBER_VARIABLE] = caller_id.removeprefix("+")
            return self._confirm(node, walk)
        walk.step(node, None, "no caller ID to offer")
        return self._ask_number(node, walk)

    def _confirm(self, node: CallbackNode, walk: Walk, before: tuple[m.Prompt, ...] = ()) -> Action:
        walk.variables[_STEP] = "confirm"
        return collect(walk, before + node.prompts, node.timeout, True)

    def _ask_number(
        self, node: CallbackNode, walk: Walk, before: tuple[m.Prompt, ...] = ()
    ) -> Action:
        walk.variables[_STEP] = "enter"
        return collect(
            walk, before + node.number_prompts, node.timeout, True, max_length=20, terminator="#"
        )

    def resume(self, node: CallbackNode, result: Result, walk: Walk) -> Outcome:
        step = walk.variables.get(_STEP, "")
        if step == "confirm":
            return self._confirmed(node, result, walk)
        if step == "enter":
            return self._entered(node, result, walk)
        return self._requested(node, result, walk)

    def _confirmed(self, node: CallbackNode, result: Result, walk: Walk) -> Outcome:
        if isinstance(result, Digits) and result.digits == CONFIRM_KEY:
            walk.step(node, result.digits, "caller ID confirmed")
            walk.variables[_STEP] = "request"
            return RequestCallback(node.queue, walk.variables.get("caller_id", ""))
        if isinstance(result, Digits) and result.digits == OTHER_KEY:
            walk.step(node, result.digits, "another number")
            return self._ask_number(node, walk)
        if not isinstance(result, Digits | Timeout):
            raise UnexpectedResult(
                f"callback {node.name!r} takes Digits or Timeout, got {result!r}"
            )
        given = result.digits if isinstance(result, Digits) else None
        prompts = node.timeout_prompts if given is None else node.invalid_prompts
        again = functools.partial(self._confirm, node, walk, prompts)
        return retry(walk, node, given, "timeout" if given is None else "invalid key", again)

    def _entered(self, node: CallbackNode, result: Result, walk: Walk) -> Outcome:
        if isinstance(result, Timeout) or (isinstance(result, Digits) and not result.digits):
            again = functools.partial(self._ask_number, node, walk, node.timeout_prompts)
            return retry(walk, node, None, "timeout", again)
        if not isinstance(result, Digits):
            raise UnexpectedResult(
                f"callback {node.name!r} takes Digits or Timeout, got {result!r}"
            )
        walk.step(node, result.digits, "number keyed")
        walk.variables[_STEP] = "request"
        return RequestCallback(node.queue, result.digits)

    def _requested(self, node: CallbackNode, result: Result, walk: Walk) -> Outcome:
        walk.variables.pop(_STEP, None)
        if isinstance(result, Completed):
            walk.variables[NUMBER_VARIABLE] = result.detail
            walk.step(node, result.detail, "callback booked")
            return Hangup("callback", walk.media(node.done_prompts), walk.flow.settings.language)
        if not isinstance(result, Failed):
            raise UnexpectedResult(
                f"callback {node.name!r} takes Completed or Failed, got {result!r}"
            )
        if result.reason.startswith("refused"):
            again = functools.partial(self._ask_number, node, walk, node.invalid_prompts)
            return retry(walk, node, None, result.reason, again)
        walk.step(node, None, f"failed: {result.reason}")
        return node.on_failure


KIND = CallbackType()
