"""Losing the ARI event socket mid-call: reconnect, resync, and no call left hanging."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from callflow.sandbox import SandboxInfo
from tests.integration.conftest import (
    AppFactory,
    PhoneFactory,
    drop_event_socket,
    wait_for_events,
)

pytestmark = pytest.mark.asterisk


async def test_call_that_ended_while_disconnected_is_closed_after_resync(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    no_leaks: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If the caller hangs up while the event socket is down, the resync after reconnecting
    finds the channel gone and ends that call's task."""
    caplog.set_level(logging.INFO, logger="callflow.app.service")
    # A fixed 2 s reconnect delay, so the hang-up surely happens while we are away.
    app = await start_app(reconnect_delays=lambda: itertools.repeat(2.0))
    phone = await phones("caller5")
    mark = phone.mark()
    await phone.dial("700")
    await phone.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "call.playback")
    assert len(app.service.calls) == 1

    await drop_event_socket(app)
    await phone.hangup()
    await phone.wait_event("CALL_CLOSED", since=mark)

    await wait_for_events(app, "call.end")
    [end] = app.store.events(kind="call.end")
    assert end.data["outcome"] == "caller_hangup"
    assert "resynced after reconnect: 0 calls still up, 1 ended while disconnected" in caplog.text
    async with asyncio.timeout(5):
        await app.service.ready.wait()
    assert not app.service.calls


async def test_calls_keep_working_after_a_reconnect(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """After the event socket drops and comes back, a call in progress still gets its keys."""
    app = await start_app(reconnect_delays=lambda: itertools.repeat(0.2))
    phone = await phones("caller6")
    mark = phone.mark()
    await phone.dial("700")
    await phone.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "call.playback")
    await drop_event_socket(app, wait_reconnect=True)
    await phone.send_dtmf("42#")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=30)
    [start] = app.store.events(kind="call.start")
    steps = app.store.events(call_id=start.call_id, kind="flow.step")
    assert steps[0].data["input"] == "42"
