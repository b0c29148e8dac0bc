"""Preview's pure decisions: one lead shown per free agent, nothing dialed before an accept,
skips held back, timeouts decided by the campaign's rule, and a restart rebuilt from the
event log."""

from __future__ import annotations

import pytest

from callflow.dialer import preview as pv
from callflow.dialer.campaign import PreviewRule
from callflow.dialer.preview import PreviewDesk, PreviewError


def test_one_lead_per_free_agent_and_nothing_dialed_on_its_own() -> None:
    desk = PreviewDesk()
    assert desk.to_serve(["a1", "a2"]) == ["a1", "a2"]
    desk.present("p1", "a1", "+15550100101", 1, now=10.0)
    assert desk.to_serve(["a1", "a2"]) == ["a2"]
    assert desk.lines_to_dial() == 0
    assert not desk.may_show("+15550100101", 11.0)  # shown to a1: to nobody else
    with pytest.raises(PreviewError):
        desk.present("p2", "a2", "+15550100101", 1, now=11.0)
    with pytest.raises(PreviewError):
        desk.present("p3", "a1", "+15550100102", 1, now=11.0)


def test_an_accept_dials_and_a_skip_holds_the_lead_back_for_the_skip_delay() -> None:
    desk = PreviewDesk(skip_delay=600.0)
    desk.present("p1", "a1", "+15550100101", 2, now=0.0)
    desk.present("p2", "a2", "+15550100102", 1, now=0.0)
    accepted = desk.answer("a1", "accept", 5.0)
    assert (accepted.kind, accepted.dial, accepted.presentation.attempt) == (pv.ACCEPTED, True, 2)
    skipped = desk.answer("a2", "skip", 6.0, "p2")
    assert (skipped.kind, skipped.dial) == (pv.SKIPPED, False)
    assert desk.shown == {}
    assert not desk.may_show("+15550100102", 605.0)
    assert desk.may_show("+15550100102", 606.0)
    assert desk.may_show("+15550100101", 6.0)  # accepted: the dialer's from now on


def test_an_answer_to_nothing_or_to_another_presentation_is_refused() -> None:
    desk = PreviewDesk()
    with pytest.raises(PreviewError, match="nothing is shown to a1"):
        desk.answer("a1", "accept", 0.0)
    desk.present("p2", "a1", "+15550100102", 1, now=0.0)
    with pytest.raises(PreviewError, match="not p1"):
        desk.answer("a1", "accept", 1.0, "p1")  # a late click on the lead shown before
    with pytest.raises(PreviewError, match="accept or skip"):
        desk.answer("a1", "dial", 1.0)
    assert "a1" in desk.shown


@pytest.mark.parametrize(("on_timeout", "dial"), [("dial", True), ("skip", False)])
def test_past_the_timeout_on_timeout_decides_even_an_answer_that_comes_late(
    on_timeout: str, dial: bool
) -> None:
    desk = PreviewDesk(PreviewRule(timeout=20.0, on_timeout=on_timeout))  # type: ignore[arg-type]
    desk.present("p1", "a1", "+15550100101", 1, now=100.0)
    desk.present("p2", "a2", "+15550100102", 1, now=105.0)
    assert desk.shown["a1"].deadline == 120.0
    assert desk.due(119.9) == []
    [late] = desk.due(120.0)
    assert (late.kind, late.dial, late.presentation.id) == (pv.TIMEOUT, dial, "p1")
    # a2 skips after their deadline: the timeout's verdict, not the skip's.
    answered = desk.answer("a2", "skip", 125.0)
    assert (answered.kind, answered.dial) == (pv.TIMEOUT, dial)


def test_no_timeout_waits_for_the_agent() -> None:
    desk = PreviewDesk()
    desk.present("p1", "a1", "+15550100101", 1, now=0.0)
    assert desk.due(1e9) == []


def test_replay_returns_the_leads_left_shown_and_holds_the_skipped_ones() -> None:
    """What a restart reads back: p1 accepted, p2 skipped at 50 (held until 650), p3
    withdrawn, p4 shown when callflow died: p4 is to be shown again, nothing is shown now."""

    def shown(pid: str, agent: str, number: str, at: float) -> tuple[str, dict[str, object]]:
        data = {"presentation": pid, "agent": agent, "number": number, "attempt": 1, "at": at}
        return pv.PRESENTED, data

    def closed(kind: str, pid: str, at: float, dial: bool) -> tuple[str, dict[str, object]]:
        return kind, {"presentation": pid, "at": at, "dial": dial}

    events = [
        shown("p1", "a1", "+15550100101", 10.0),
        closed(pv.ACCEPTED, "p1", 12.0, True),
        shown("p2", "a1", "+15550100102", 40.0),
        closed(pv.SKIPPED, "p2", 50.0, False),
        shown("p3", "a2", "+15550100103", 41.0),
        closed(pv.WITHDRAWN, "p3", 60.0, False),
        shown("p4", "a2", "+15550100104", 70.0),
        (pv.REQUEST, {"presentation": "p4", "action": "accept"}),  # never answered
    ]
    desk = PreviewDesk(skip_delay=600.0)
    left = desk.replay(events)
    assert [(p.id, p.agent, p.number) for p in left] == [("p4", "a2", "+15550100104")]
    assert desk.shown == {}
    assert not desk.may_show("+15550100102", 649.0) and desk.may_show("+15550100102", 650.0)
    assert desk.may_show("+15550100103", 61.0)  # withdrawn: not a skip
