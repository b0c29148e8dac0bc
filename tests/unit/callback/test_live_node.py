"""The ``callback`` flow node, stepped by the flow machine with no call: confirm the caller ID
or key another number, ask the driver to book it, and take its refusal or its answer."""

from __future__ import annotations

from pathlib import Path

from callflow.flow import machine as fm
from callflow.flow.loader import load_flow

FLOW = """\
entry:
  "100": offer
nodes:
  offer:
    type: callback
    queue: support
    prompt: [{say: "We will call you back at"}, {digits: "${callback_number}"}]
    number_prompt: {say: "Enter the number, then hash."}
    invalid_prompt: {say: "Sorry, we cannot call that number."}
    done_prompt: {sound: goodbye}
    retries: 1
    on_failure: bye
  bye:
    type: hangup
"""


def _machine(tmp_path: Path, caller_id: str) -> tuple[fm.FlowMachine, fm.Action]:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    flow, diagnostics = load_flow(str(path))
    assert flow is not None, [str(d) for d in diagnostics]
    machine = fm.FlowMachine(flow, entry="100", call_vars={"caller_id": caller_id})
    return machine, machine.start()


def test_pressing_1_books_the_caller_id_then_says_goodbye(tmp_path: Path) -> None:
    """The caller ID's digits are read back; 1 asks the driver to book that very caller ID;
    once booked, the done prompt is played and the call hangs up."""
    machine, action = _machine(tmp_path, "+15550200001")
    assert isinstance(action, fm.Collect) and action.max_length == 1
    assert "sound:digits/1" in action.media and "sound:digits/5" in action.media
    action = machine.send(fm.Digits("1"))
    assert action == fm.RequestCallback("support", "+15550200001")
    action = machine.send(fm.Completed("+15550200001"))
    assert isinstance(action, fm.Hangup) and action.reason == "callback"
    assert action.media == ("sound:goodbye",)


def test_another_number_refused_is_asked_again_then_on_failure(tmp_path: Path) -> None:
    """2 asks for another number (up to 20 keys and #); a refusal plays the invalid prompt
    and asks again; refused once more with retries used up, the caller goes to on_failure."""
    machine, _ = _machine(tmp_path, "+15550200001")
    action = machine.send(fm.Digits("2"))
    assert isinstance(action, fm.Collect) and action.terminator == "#"
    assert action.max_length == 20
    action = machine.send(fm.Digits("911", terminated=True))
    assert action == fm.RequestCallback("support", "911")
    action = machine.send(fm.Failed("refused:emergency"))
    assert isinstance(action, fm.Collect) and len(action.media) == 2  # sorry, then ask
    action = machine.send(fm.Digits("1900*5551234", terminated=True))
    assert action == fm.RequestCallback("support", "1900*5551234")
    action = machine.send(fm.Failed("refused:bad_character"))
    assert isinstance(action, fm.Hangup) and action.reason == "normal"  # the bye node


def test_no_caller_id_asks_for_the_number_at_once(tmp_path: Path) -> None:
    """An anonymous caller (or a caller ID that is no number) is asked for a number."""
    for caller_id in ("", "anonymous", "sip:alice@example.com"):
        machine, action = _machine(tmp_path, caller_id)
        assert isinstance(action, fm.Collect) and action.terminator == "#", caller_id
        assert machine.send(fm.Digits("02079460000")) == fm.RequestCallback(
            "support", "02079460000"
        )
