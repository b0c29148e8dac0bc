"""The first end-to-end call: a real softphone, the real Asterisk, our Stasis app."""

from __future__ import annotations

import pytest

from callflow.sandbox import SandboxInfo
from callflow.testing.audio import measure
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events

pytestmark = pytest.mark.asterisk


async def test_keys_arrive_in_order_and_the_app_hangs_up(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A caller dials 700, hears the prompt, presses 1 2 3 #; the app gets the keys in order,
    reads them back and hangs up."""
    app = await start_app()
    phone = await phones("caller1")
    mark = phone.mark()
    await phone.dial("700")
    await phone.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "call.playback")  # the first prompt finished playing
    await phone.send_dtmf("123#")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=30)

    [start] = app.store.events(kind="call.start")
    assert start.data["caller"] == "+15550000001"
    assert start.data["dialled"] == "700"
    digits = [e.data["digit"] for e in app.store.events(call_id=start.call_id, kind="call.dtmf")]
    assert digits == ["1", "2", "3", "#"]
    steps = [
        (e.data["node"], e.data["input"], e.data["outcome"])
        for e in app.store.events(call_id=start.call_id, kind="flow.step")
    ]
    assert steps[0] == ("test_intro", "123", "set test_digits")
    assert [s[0] for s in steps[1:]] == ["test_read_back", "goodbye"]
    playbacks = app.store.events(call_id=start.call_id, kind="call.playback")
    assert playbacks and all(p.data["state"] == "done" for p in playbacks)
    [end] = app.store.events(call_id=start.call_id, kind="call.end")
    assert end.data["outcome"] == "hangup:flow_finished"

    recording = await phone.recording()
    assert recording is not None
    heard = measure(recording)
    assert heard.voiced_seconds > 2.0, heard  # the prompt and the read-back, not silence


async def test_caller_hangs_up_mid_prompt(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A caller who hangs up while the prompt plays ends the call's task cleanly."""
    app = await start_app()
    phone = await phones("caller2")
    mark = phone.mark()
    await phone.dial("700")
    await phone.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "call.start")
    await phone.hangup()
    await wait_for_events(app, "call.end")

    [end] = app.store.events(kind="call.end")
    assert end.data["outcome"] == "caller_hangup"
    steps = [e.data for e in app.store.events(call_id=end.call_id, kind="flow.step")]
    assert steps[-1]["node"] == "test_intro"
    assert steps[-1]["outcome"] == "caller_hangup"
    assert not app.service.calls


async def test_unknown_number_hears_an_apology(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A number no flow serves is answered with a short message and hung up, not left ringing."""
    app = await start_app()
    phone = await phones("caller3")
    mark = phone.mark()
    await phone.dial("5555")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=20)
    [rejected] = app.store.events(kind="call.rejected")
    assert rejected.data == {"dialled": "5555"}
    recording = await phone.recording()
    assert recording is not None and measure(recording).voiced_seconds > 1.0


async def test_app_down_caller_gets_the_dialplan_fallback(
    asterisk: SandboxInfo, phones: PhoneFactory, no_leaks: None
) -> None:
    """With no app connected, Stasis() fails and the dialplan plays an apology instead."""
    phone = await phones("caller4")
    mark = phone.mark()
    await phone.dial("700")
    await phone.wait_event("CALL_ESTABLISHED", since=mark)
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=20)
    recording = await phone.recording()
    assert recording is not None and measure(recording).voiced_seconds > 1.0
