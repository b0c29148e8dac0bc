"""Stopping callflow with callers in every state: each hears goodbye, none is left in silence."""

from __future__ import annotations

import asyncio

import pytest

from callflow.app.service import ShutdownPolicy
from callflow.sandbox import SandboxInfo
from callflow.store import SqliteStore
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events
from tests.integration.test_queues import QUEUES, join

pytestmark = pytest.mark.asterisk

RECOVERY_FLOW = QUEUES.parent / "flows" / "recovery.yaml"


async def test_stop_says_goodbye_to_every_caller_and_records_shutdown(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Stopping with a caller in a menu, two in a queue and one talking to an agent: after the
    grace, each hears the apology and is hung up; the event log says 'shutdown' for each."""
    app = await start_app([RECOVERY_FLOW], queues=QUEUES, shutdown=ShutdownPolicy(grace=1.0))
    assert app.queues is not None
    agent = await phones("agent1", auto_answer=True)
    app.queues.login("agent1")
    talking = await phones("caller1")
    talking_id = await join(app, talking, "300")
    await wait_for_events(app, "queue.connect")
    waiting = [await phones(f"caller{i}") for i in (2, 3)]
    waiting_ids = [await join(app, phone, "300") for phone in waiting]
    menu = await phones("caller4")
    mark = menu.mark()
    await menu.dial("310")
    await menu.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "call.playback.started", count=1, call_id=None)
    menu_id = next(
        e.call_id for e in app.store.events(kind="flow.wait") if e.data["node"] == "menu"
    )
    everyone = [talking, *waiting, menu]
    marks = [phone.mark() for phone in everyone]

    await app.stop()

    for phone, since in zip(everyone, marks, strict=True):
        await phone.wait_event("CALL_CLOSED", since=since, timeout=20)
    await agent.wait_event("CALL_CLOSED", timeout=5)
    store = SqliteStore(app.settings.store)  # the stopped app has closed its own
    ids = [talking_id, *waiting_ids, menu_id]
    ends = {e.call_id: e.data["outcome"] for e in store.events(kind="call.end")}
    assert [ends[i] for i in ids] == ["shutdown"] * 4
    for call_id in ids:
        heard = [e.data["media"] for e in store.events(call_id=call_id, kind="call.playback")]
        assert heard[-2:] == ["sound:sorry", "sound:please-try-call-later"], (call_id, heard)
    exits = {e.call_id: e.data["reason"] for e in store.events(kind="queue.exit")}
    assert [exits[i] for i in waiting_ids] == ["shutdown", "shutdown"]
    assert not store.events(kind="queue.abandon")
    [complete] = store.events(kind="queue.complete")
    assert complete.call_id == talking_id and complete.data["hung_up_by"] == "shutdown"
    assert store.queue_entries() == []


async def test_a_call_arriving_while_stopping_goes_to_the_dialplan_fallback(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """While callflow drains, a new caller is not taken: the dialplan's fallback answers them
    (ss-noservice) instead of a flow, and they are hung up."""
    app = await start_app([RECOVERY_FLOW], queues=QUEUES, shutdown=ShutdownPolicy(grace=8.0))
    first = await phones("caller1")
    await join(app, first, "300")
    stopping = asyncio.create_task(app.stop())
    late = await phones("caller2")
    mark = late.mark()
    await late.dial("310")
    await late.wait_event("CALL_ESTABLISHED", since=mark, timeout=10)  # the fallback answers
    await late.wait_event("CALL_CLOSED", since=mark, timeout=20)
    starts = SqliteStore(app.settings.store).events(kind="call.start")
    assert [e.data["dialled"] for e in starts] == ["300"]
    await first.hangup()
    await stopping


async def test_stop_can_send_callers_back_to_the_dialplan(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """With action 'dialplan', a caller still in a menu after the grace leaves the app for
    the dialplan's fallback, with CALLFLOW_SHUTDOWN=1 set for it to route on."""
    policy = ShutdownPolicy(grace=0.5, action="dialplan")
    app = await start_app([RECOVERY_FLOW], queues=QUEUES, shutdown=policy)
    caller = await phones("caller1")
    mark = caller.mark()
    await caller.dial("310")
    await caller.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "call.playback.started")
    await app.stop()
    await caller.wait_event("CALL_CLOSED", since=mark, timeout=20)
    [end] = SqliteStore(app.settings.store).events(kind="call.end")
    assert end.data["outcome"] == "shutdown"
    log = asterisk.log_tail(400)
    assert "unavailable (shutdown: 1)" in log
    assert 'Playback("PJSIP/caller1-' in log and "ss-noservice" in log
