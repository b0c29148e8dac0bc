"""Real calls through every node type of a flow: the path taken, barge-in, hang-ups, no leaks."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from callflow.app.main import App
from callflow.sandbox import SandboxInfo
from callflow.testing.audio import measure
from callflow.testing.softphone import Softphone
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events

pytestmark = pytest.mark.asterisk

IVR = Path(__file__).parent / "flows" / "ivr.yaml"
LONDON = dt.timezone(dt.timedelta(0))


def path(app: App, call_id: str) -> list[tuple[str, str | None, str]]:
    """The nodes a call went through, with the input and the outcome at each."""
    return [
        (e.data["node"], e.data["input"], e.data["outcome"])
        for e in app.store.events(call_id=call_id, kind="flow.step")
    ]


async def until_started(app: App, call_id: str, media: str, *, timeout: float = 10) -> None:
    """Wait until Asterisk reports that this media started playing to the call."""
    async with asyncio.timeout(timeout):
        while media not in [  # noqa: ASYNC110
            e.data["media"] for e in app.store.events(call_id=call_id, kind="call.playback.started")
        ]:
            await asyncio.sleep(0.05)


async def until_waiting_at(app: App, call_id: str, node: str, *, timeout: float = 20) -> None:
    """Wait until the call is waiting at that node (playing it, or waiting for the caller)."""
    async with asyncio.timeout(timeout):
        while True:
            waits = app.store.events(call_id=call_id, kind="flow.wait")
            if waits and waits[-1].data["node"] == node:
                return
            await asyncio.sleep(0.05)


async def call_in(app: App, phone: Softphone, number: str) -> tuple[int, str]:
    """Dial a number and return (the phone's event mark, the app's call id)."""
    mark = phone.mark()
    before = len(app.store.events(kind="call.start"))
    await phone.dial(number)
    await phone.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "call.start", count=before + 1)
    return mark, app.store.events(kind="call.start")[-1].call_id


async def test_menu_input_and_read_back(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Play, branch, set, a menu choice, a validated input and its read-back, then goodbye."""
    app = await start_app([IVR])
    phone = await phones("caller1")
    mark, call_id = await call_in(app, phone, "200")
    await wait_for_events(app, "call.playback")  # hello-world played; the menu prompt starts
    await phone.send_dtmf("1")
    await phone.send_dtmf("4711#")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=30)
    await wait_for_events(app, "call.end")
    assert path(app, call_id) == [
        ("start", None, "played"),
        ("who_is_calling", None, "rule 1"),
        ("remember", None, "set greeted"),
        ("main_menu", "1", "option 1"),
        ("account", "4711", "set account"),
        ("read_back", None, "played"),
        ("goodbye", None, "hangup: done"),
    ]
    media = [e.data["media"] for e in app.store.events(call_id=call_id, kind="call.playback")]
    assert [m for m in media if m.startswith("sound:digits/")] == [
        f"sound:digits/{d}" for d in "4711"
    ]


async def test_barge_in_stops_the_menu_prompt(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A key pressed during the 5.7 s menu prompt stops it and counts as the choice."""
    app = await start_app([IVR])
    phone = await phones("caller1")
    mark, call_id = await call_in(app, phone, "200")
    await until_started(app, call_id, "sound:vm-intro")
    pressed = dt.datetime.now(dt.UTC)
    await phone.send_dtmf("9")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=20)
    await wait_for_events(app, "call.end")
    steps = app.store.events(call_id=call_id, kind="flow.step")
    menu = next(e for e in steps if e.data["node"] == "main_menu")
    assert menu.data["input"] == "9"
    # Decided well before the prompt's 5.7 s were over: the prompt was cut short.
    assert (menu.at - pressed).total_seconds() < 2.0
    assert [s.data["node"] for s in steps][-2:] == ["skip", "goodbye"]


async def test_invalid_key_then_silence_exhausts_the_menu(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """An invalid key replays the menu after the invalid prompt; a timeout then ends it."""
    app = await start_app([IVR])
    phone = await phones("caller1")
    mark, call_id = await call_in(app, phone, "200")
    await wait_for_events(app, "call.playback")
    await phone.send_dtmf("7")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=40)
    await wait_for_events(app, "call.end")
    menu = [(n, i, o) for n, i, o in path(app, call_id) if n == "main_menu"]
    assert menu == [
        ("main_menu", "7", "invalid"),
        ("main_menu", None, "timeout; retries exhausted"),
    ]
    assert path(app, call_id)[-1] == ("goodbye", None, "hangup: done")
    # The invalid prompt and the menu play as one playback that starts with the former.
    started = app.store.events(call_id=call_id, kind="call.playback.started")
    assert "sound:pbx-invalid" in [e.data["media"] for e in started]


async def test_input_pattern_and_length_are_checked_with_retries(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Too few digits are refused and asked again; a valid number is then accepted."""
    app = await start_app([IVR])
    phone = await phones("caller1")
    mark, call_id = await call_in(app, phone, "200")
    await wait_for_events(app, "call.playback")
    await phone.send_dtmf("1")
    await phone.send_dtmf("12#")
    await asyncio.sleep(0.5)
    await phone.send_dtmf("98765#")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=30)
    await wait_for_events(app, "call.end")
    account = [(n, i, o) for n, i, o in path(app, call_id) if n == "account"]
    assert account == [("account", "12", "invalid length"), ("account", "98765", "set account")]


async def test_branch_else_for_another_caller(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A caller ID the branch does not match takes the else path."""
    app = await start_app([IVR])
    phone = await phones("caller2")
    mark, call_id = await call_in(app, phone, "200")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=20)
    await wait_for_events(app, "call.end")
    assert [n for n, _, _ in path(app, call_id)] == ["start", "who_is_calling", "goodbye"]
    assert path(app, call_id)[1] == ("who_is_calling", None, "else")


@pytest.mark.parametrize(
    ("when", "node", "reason"),
    [
        (dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC), "open_message", "open"),
        (dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.UTC), "closed_message", "closed"),
        (dt.datetime(2026, 12, 25, 10, 0, tzinfo=dt.UTC), "holiday_message", "holiday"),
    ],
    ids=["monday-open", "sunday-closed", "christmas"],
)
async def test_hours_branch_on_the_clock(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    no_leaks: None,
    when: dt.datetime,
    node: str,
    reason: str,
) -> None:
    """The hours node sends a call to open, closed or holiday by the time of the call."""
    app = await start_app([IVR], clock=lambda: when)
    phone = await phones("caller3")
    mark, call_id = await call_in(app, phone, "201")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=20)
    await wait_for_events(app, "call.end")
    assert [n for n, _, _ in path(app, call_id)] == ["office_hours", node]
    [end] = app.store.events(call_id=call_id, kind="call.end")
    assert end.data["outcome"] == f"hangup:{reason}"


async def test_transfer_connects_caller_and_agent(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Pressing 2 rings agent1; on answer the two hear each other; the agent's hang-up ends it."""
    app = await start_app([IVR])
    agent = await phones("agent1", auto_answer=True)
    phone = await phones("caller1")
    mark, call_id = await call_in(app, phone, "200")
    await wait_for_events(app, "call.playback")
    agent_mark = agent.mark()
    await phone.send_dtmf("2")
    await agent.wait_event("CALL_ESTABLISHED", since=agent_mark, timeout=15)
    await asyncio.sleep(2.0)  # let both sides talk (their microphones play a tone)
    await agent.hangup()
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=15)
    await wait_for_events(app, "call.end")
    assert path(app, call_id)[-1] == ("operator", None, "connected")
    answered = await agent.wait_event("CALL_ESTABLISHED", since=agent_mark)
    assert answered["peeruri"].startswith("sip:+15550000001@")  # the caller's number shown
    for who in (agent, phone):
        heard = await who.recording()
        assert heard is not None and measure(heard).voiced_seconds > 1.0, who.user


async def test_transfer_to_an_absent_agent_leaves_a_voicemail(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """With agent1 not registered, the transfer fails and the caller's message is recorded."""
    app = await start_app([IVR])
    phone = await phones("caller1")
    _, call_id = await call_in(app, phone, "200")
    await wait_for_events(app, "call.playback")
    await phone.send_dtmf("2")
    await until_waiting_at(app, call_id, "leave_message")
    await asyncio.sleep(3.0)  # speak (the microphone is a tone) for a few seconds
    await phone.hangup()
    await wait_for_events(app, "call.end")
    steps = path(app, call_id)
    assert ("operator", None, "failed: unavailable") in steps
    [message] = app.store.events(call_id=call_id, kind="voicemail.message")
    assert message.data["mailbox"] == "1000@default"
    assert message.data["caller"] == "+15550000001"
    stored = Path(asterisk.home) / "state/spool/recording" / f"{message.data['recording']}.wav"
    assert stored.exists(), stored
    assert measure(stored).voiced_seconds > 1.0


async def test_queue_node_without_a_queue_service_takes_on_failure(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Until a queue serves it, a queue node fails over to its on_failure node."""
    app = await start_app([IVR])
    phone = await phones("caller1")
    mark, call_id = await call_in(app, phone, "200")
    await wait_for_events(app, "call.playback")
    await phone.send_dtmf("3")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=20)
    await wait_for_events(app, "call.end")
    assert path(app, call_id)[-2:] == [
        ("support", None, "failed: queue_unavailable"),
        ("goodbye", None, "hangup: done"),
    ]


@pytest.mark.parametrize(
    ("number", "keys", "node"),
    [
        ("200", "", "start"),
        ("200", "", "main_menu"),
        ("200", "1", "account"),
        ("200", "2", "operator"),
        ("202", "", "leave_message"),
    ],
    ids=["play", "menu", "input", "transfer-ringing", "voicemail"],
)
async def test_caller_hangs_up_at_each_node(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    no_leaks: None,
    number: str,
    keys: str,
    node: str,
) -> None:
    """Whatever node the caller is in, hanging up ends the call's task and leaves nothing."""
    app = await start_app([IVR])
    agent = await phones("agent1")  # registered, never answers: the transfer keeps ringing
    phone = await phones("caller1")
    _, call_id = await call_in(app, phone, number)
    if keys:
        await wait_for_events(app, "call.playback")
        await phone.send_dtmf(keys)
    await until_waiting_at(app, call_id, node)
    if node == "operator":
        await agent.wait_event("CALL_INCOMING", timeout=10)
    await phone.hangup()
    await wait_for_events(app, "call.end")
    [end] = app.store.events(call_id=call_id, kind="call.end")
    assert end.data["outcome"] == "caller_hangup"
    steps = path(app, call_id)
    if node == "leave_message":
        # Hanging up is how a caller ends a message: it is kept, and the flow goes on to
        # its goodbye, which nobody hears.
        assert steps[-2:] == [(node, None, "message left"), ("goodbye", None, "hangup: done")]
    else:
        assert steps[-1] == (node, None, "caller_hangup")
    if node == "operator":
        await agent.wait_event("CALL_CLOSED", timeout=10)  # the ringing stopped
    assert not app.service.calls
