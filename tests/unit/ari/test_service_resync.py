"""The service's resync on connecting: a failing Asterisk never stops callflow, and one that
restarted has none of our calls (fake ARI)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from ari_fake import FakeAri, Session, channel_json, event_json, make_config

import callflow.app.service as service_module
from callflow.app.service import Service
from callflow.call.primitives import Call, CallEnded


async def idle(call: Call) -> None:
    """A call handler for a test that places no call."""


async def test_a_server_error_during_the_resync_is_retried_not_fatal(
    fake: FakeAri, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On the first connection the service resyncs; a 500 from Asterisk then is logged and
    retried, the service keeps running, and the resync succeeds once Asterisk answers."""
    monkeypatch.setattr(service_module, "RESYNC_PAUSE", 0.05)
    caplog.set_level(logging.INFO, logger="callflow.app.service")
    fake.reply("GET", "/asterisk/info", 200, {"status": {"startup_time": "2026-01-01T00:00:00Z"}})
    fake.reply("GET", "/channels", 500, {"message": "Internal Server Error"})
    fake.reply("GET", "/bridges", 200, [])
    fake.reply("GET", "/applications/callflow", 200, {"name": "callflow"})
    service = Service(make_config(fake.base_url), idle)
    running = asyncio.create_task(service.run())
    async with asyncio.timeout(5):
        await service.ready.wait()
    assert not service.recovered.is_set()
    assert "resync with Asterisk failed" in caplog.text
    fake.reply("GET", "/channels", 200, [])
    async with asyncio.timeout(5):
        await service.recovered.wait()
    assert not running.done()
    await service.stop()
    async with asyncio.timeout(5):
        await running


async def test_after_asterisk_restarts_a_new_caller_with_an_old_calls_id_is_a_new_call(
    fake: FakeAri, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asterisk names channels <system>-<second made>.<n>, n from 0 at each start: restarted
    within a second, it can give a new caller the id of one of our calls. When we reconnect
    and find Asterisk restarted, that call is lost, even though a channel of its id is up,
    and the new caller's StasisStart starts a call of its own from the entry, not as one
    taken back after a restart of ours."""
    monkeypatch.setattr(service_module, "RESYNC_PAUSE", 0.05)
    reused = "sandbox-1796575368.0"
    fake.reply("GET", "/asterisk/info", 200, {"status": {"startup_time": "2026-01-01T00:00:00Z"}})
    fake.reply("GET", "/channels", 200, [])
    fake.reply("GET", "/bridges", 200, [])
    fake.reply("GET", "/applications/callflow", 200, {"name": "callflow", "channel_ids": []})
    start = event_json("StasisStart", args=[], channel=channel_json(reused))
    fake.sessions.append(Session(frames=[start], then="abort", hold=0.5))
    new_channel = channel_json(reused, creationtime="2026-01-01T00:00:05.000+0000")
    other = channel_json("sandbox-1796575369.1", creationtime="2026-01-01T00:00:05.000+0000")
    new_starts = [event_json("StasisStart", args=[], channel=c) for c in (new_channel, other)]
    fake.sessions.append(Session(frames=new_starts))
    calls: list[Call] = []
    ends: list[str] = []
    changed = asyncio.Event()

    async def wait_for_the_end(call: Call) -> None:
        calls.append(call)
        changed.set()
        try:
            while True:
                await call.next_event(None)
        except CallEnded as end:
            ends.append(type(end).__name__)
            changed.set()

    async def until(seen: Callable[[], bool]) -> None:
        while not seen():
            changed.clear()
            await changed.wait()

    service = Service(make_config(fake.base_url), wait_for_the_end)
    running = asyncio.create_task(service.run())
    async with asyncio.timeout(15):
        await until(lambda: bool(calls))
        # Before the socket drops: Asterisk restarts, and its first caller takes the id.
        fake.reply(
            "GET", "/asterisk/info", 200, {"status": {"startup_time": "2026-01-01T00:00:04Z"}}
        )
        # Both new callers are in Stasis when we resync; their StasisStarts come after.
        fake.reply("GET", "/channels", 200, [new_channel, other])
        fake.reply(
            "GET",
            "/applications/callflow",
            200,
            {"name": "callflow", "channel_ids": [reused, other["id"]]},
        )
        await until(lambda: len(calls) == 3 and bool(ends))
        await asyncio.sleep(0.2)  # no call more
    old, new, second = calls
    assert ends == ["CallLost"] and old.hung_up and old.lost_at is not None
    assert new is not old and new.id == reused and not new.hung_up
    # New callers, from the flow's entry: not taken back to its restart node.
    assert new.recovery is None and second.recovery is None
    assert service.calls == {reused: new, other["id"]: second}
    await service.stop()
    async with asyncio.timeout(15):
        await running
