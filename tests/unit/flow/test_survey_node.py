"""The post-call survey: a queue's after_call, and survey nodes that record answers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callflow.flow import (
    Collect,
    Completed,
    Digits,
    EnterQueue,
    Finish,
    Flow,
    FlowMachine,
    Hangup,
    SimpleContext,
    Timeout,
    load_flow,
)
from callflow.flow.machine import SurveyAnswer

FLOW = """
settings: {retries: 1, timeout: 3}
entry:
  "100": support
nodes:
  support:
    type: queue
    queue: support
    after_call: resolved
  resolved:
    type: survey
    question: resolved
    prompt: [{say: "Was your issue resolved? Press 1 for yes, 2 for no."}]
    answers: "12"
    invalid_prompt: pbx-invalid
    next: score
  score:
    type: survey
    survey: quality
    question: score
    prompt: [{say: "Rate the call from 1 to 5."}]
    answers: "12345"
    next: thanks
    on_failure: bye
  thanks:
    type: hangup
    prompt: [{say: "Thank you."}]
  bye:
    type: hangup
"""


@pytest.fixture
def flow(tmp_path: Path) -> Flow:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    loaded, diagnostics = load_flow(str(path))
    assert loaded is not None, [str(d) for d in diagnostics]
    return loaded


def _machine(flow: Flow) -> FlowMachine:
    context = SimpleContext(clock=lambda: dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC))
    return FlowMachine(flow, entry="100", call_id="c1", call_vars={}, context=context)


def test_after_the_agent_hangs_up_the_caller_answers_the_survey(flow: Flow) -> None:
    """The queue hands back Completed when the agent hung up first: the caller goes to
    after_call; each valid key is recorded, then the next question, then the goodbye."""
    m = _machine(flow)
    assert isinstance(m.start(), EnterQueue)
    assert isinstance(m.send(Completed("answered by agent1")), Collect)
    assert m.send(Digits("1")) == SurveyAnswer("post_call", "resolved", "1")
    assert isinstance(m.send(Completed()), Collect)
    assert m.send(Digits("4")) == SurveyAnswer("quality", "score", "4")
    assert isinstance(m.send(Completed()), Hangup)
    outcomes = [s.outcome for s in m.pop_steps()]
    assert "answered by agent1; after the call" in outcomes
    assert "answer 1" in outcomes and "answer 4" in outcomes


def test_a_wrong_key_asks_again_and_silence_gives_up_without_an_answer(flow: Flow) -> None:
    """A key that is no answer asks again after invalid_prompt; past the retries the caller
    moves on (on_failure, default next) and nothing is recorded."""
    m = _machine(flow)
    m.start()
    m.send(Completed("answered by agent1"))
    again = m.send(Digits("9"))
    assert isinstance(again, Collect) and again.media[0] == "sound:pbx-invalid"
    assert isinstance(m.send(Digits("7")), Collect)  # retries used up: on to next (score)
    assert isinstance(m.send(Timeout()), Collect)
    bye = m.send(Timeout())
    assert isinstance(bye, Hangup)


def test_without_after_call_the_flow_finishes_when_the_agent_hangs_up(tmp_path: Path) -> None:
    """A queue node with no after_call finishes the flow, as before."""
    path = tmp_path / "plain.yaml"
    path.write_text('entry: {"1": q}\nnodes:\n  q: {type: queue, queue: support}\n')
    loaded, diagnostics = load_flow(str(path))
    assert loaded is not None, [str(d) for d in diagnostics]
    m = FlowMachine(loaded, entry="1", call_id="c1", call_vars={}, context=SimpleContext())
    m.start()
    assert m.send(Completed("answered by agent1")) == Finish("queued")


@pytest.mark.parametrize("answers", ['""', '"1a"', '"yes"'])
def test_answers_must_be_phone_keys(tmp_path: Path, answers: str) -> None:
    """answers: is checked at its line and column."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        'entry: {"1": s}\nnodes:\n  s:\n    type: survey\n    question: q\n'
        f"    prompt: beep\n    answers: {answers}\n    next: e\n  e: {{type: hangup}}\n"
    )
    loaded, diagnostics = load_flow(str(path))
    assert loaded is None
    [error] = [d for d in diagnostics if "answers" in str(d)]
    assert f"{path}:7:" in str(error)
    assert answers == '""' or "phone keys" in str(error)
