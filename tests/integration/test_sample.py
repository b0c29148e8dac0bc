"""The sample flow and queues in config/, as a newcomer runs them, with real phones."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callflow.sandbox import SandboxInfo
from tests.integration.conftest import (
    SAMPLE_FLOW,
    AppFactory,
    PhoneFactory,
    bridged,
    wait_for_events,
)

pytestmark = pytest.mark.asterisk

SAMPLE_QUEUES = Path(__file__).resolve().parents[2] / "config" / "queues.yaml"
MONDAY_NOON_LONDON = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


async def test_main_line_support_reaches_alice(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Monday noon: welcome, open hours, 2 for support, and Alice's phone (agent1) answers."""
    app = await start_app([SAMPLE_FLOW], queues=SAMPLE_QUEUES, clock=lambda: MONDAY_NOON_LONDON)
    assert app.queues is not None
    app.queues.login("alice")
    alice = await phones("agent1", auto_answer=True)
    caller = await phones("caller1")
    mark = caller.mark()
    await caller.dial("100")
    await caller.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "flow.wait", count=2)  # past the welcome, in the main menu
    await caller.send_dtmf("2")
    await alice.wait_event("CALL_ESTABLISHED", timeout=15)
    await bridged(asterisk, "agent1")
    await alice.hangup()
    await caller.wait_event("CALL_CLOSED", since=mark, timeout=15)
    await wait_for_events(app, "call.end")
    [start] = app.store.events(kind="call.start")
    steps = [
        (e.data["node"], e.data["outcome"])
        for e in app.store.events(call_id=start.call_id, kind="flow.step")
    ]
    assert steps[0] == ("welcome", "played")
    assert steps[1][0] == "office_hours" and steps[1][1].startswith("open: mon 12:00")
    assert steps[2] == ("main_menu", "option 2")
    assert steps[-1] == ("support", "queued")
    [connect] = app.store.events(kind="queue.connect")
    assert (connect.data["queue"], connect.data["agent"]) == ("support", "alice")


async def test_main_line_account_number_is_read_back(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """4 asks for an account number, reads it back, and returns to the main menu."""
    app = await start_app([SAMPLE_FLOW], queues=SAMPLE_QUEUES, clock=lambda: MONDAY_NOON_LONDON)
    caller = await phones("caller2")
    mark = caller.mark()
    await caller.dial("100")
    await caller.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "flow.wait", count=2)
    await caller.send_dtmf("4")
    await wait_for_events(app, "flow.wait", count=3)  # asking for the account number
    await caller.send_dtmf("123456#")
    await wait_for_events(app, "flow.wait", count=5)  # read back, then the menu again
    await caller.hangup()
    await wait_for_events(app, "call.end")
    [start] = app.store.events(kind="call.start")
    steps = [
        (e.data["node"], e.data["input"], e.data["outcome"])
        for e in app.store.events(call_id=start.call_id, kind="flow.step")
    ]
    assert ("account_number", "123456", "set account") in steps
    assert ("read_account", None, "played") in steps
    played = [
        e.data["media"] for e in app.store.events(call_id=start.call_id, kind="call.playback")
    ]
    assert [m for m in played if m.startswith("sound:digits/")] == [
        f"sound:digits/{d}" for d in "123456"
    ]
