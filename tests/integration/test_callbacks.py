"""Callbacks on real calls, through the sandbox PSTN: a customer calls in from the public
network, presses 1 in the queue, confirms their number and hangs up; when an agent is free,
callflow calls them back over the trunk (agent-first: the agent hears a whisper first;
customer-first: the customer waits in line with their original place)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from callflow.app.main import App
from callflow.sandbox import SandboxInfo
from callflow.testing.audio import measure, tone_seconds, write_tone
from callflow.testing.softphone import Softphone
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events

pytestmark = pytest.mark.asterisk

HERE = Path(__file__).parent
FLOW = HERE / "flows" / "callbacks.yaml"
QUEUES = HERE / "callback_queues.yaml"
CUSTOMER = "+15550200001"  # customer1's number on the PSTN


async def callback_app(start_app: AppFactory) -> App:
    app = await start_app([FLOW], queues=QUEUES)
    assert app.callbacks is not None
    return app


async def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    """Poll app state (the store, the book) until ``predicate()`` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def ask_for_callback(app: App, customer: Softphone, number: str = "310") -> str:
    """The customer calls in, waits in the queue, presses 1, confirms their caller ID with 1
    and is told goodbye; returns the callback's id."""
    mark = customer.mark()
    await customer.dial(number)
    await customer.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "queue.enter")
    await customer.send_dtmf("1")
    # The confirmation prompt has started (a key stops it, and counts).
    await wait_for_events(app, "call.playback.started", call_id=call_id(app))
    await customer.send_dtmf("1")
    await customer.wait_event("CALL_CLOSED", since=mark, timeout=30)
    await wait_for_events(app, "callback.requested")
    [requested] = app.store.events(kind="callback.requested")
    return str(requested.data["callback"])


def call_id(app: App) -> str:
    """The id of the last call that came in."""
    return app.store.events(kind="call.start")[-1].call_id


def states(app: App, callback_id: str) -> list[str]:
    """Each transition of a callback, in order, from the event log."""
    return [
        e.kind.removeprefix("callback.")
        for e in app.store.events()
        if e.kind.startswith("callback.") and e.data.get("callback") == callback_id
    ]


async def test_agent_first_callback_whisper_then_the_customer_rings_and_both_talk(
    asterisk: SandboxInfo,
    pstn: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    customers: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """customer1 calls in from the PSTN, presses 1 in the queue and confirms their caller ID
    with 1; they hang up with their callback booked at their own number. agent1 logs in: their
    phone rings, they hear the whisper (queue, number, wait), then callflow dials customer1
    over the trunk; customer1 answers and each hears the other (1000 Hz from the customer,
    880 Hz from the agent); the callback is completed, once."""
    app = await callback_app(start_app)
    customer = await customers(
        "customer1", microphone=write_tone(tmp_path / "customer.wav", 60, 1000)
    )
    callback_id = await ask_for_callback(app, customer)
    row = app.store.load_callback(callback_id)
    assert row is not None and row["number"] == CUSTOMER and row["state"] == "waiting", row

    agent = await phones(
        "agent1", auto_answer=True, microphone=write_tone(tmp_path / "agent.wav", 60, 880)
    )
    ring = customer.mark()
    assert app.queues is not None
    app.queues.login("agent1")
    app.queues.kick()
    await wait_for_events(app, "callback.whisper", timeout=30)
    incoming = await customer.wait_event("CALL_INCOMING", since=ring, timeout=30)
    assert "sip:" in str(incoming.get("peeruri")), incoming
    await customer.answer()
    await wait_for_events(app, "callback.connected", timeout=15)
    await asyncio.sleep(4.0)
    await customer.hangup()
    await wait_for_events(app, "callback.completed", timeout=15)

    heard_by_customer = await customer.recording()
    heard_by_agent = await agent.recording()
    assert heard_by_customer is not None and heard_by_agent is not None
    assert tone_seconds(heard_by_customer, 880) > 2.5, measure(heard_by_customer)
    assert tone_seconds(heard_by_agent, 1000) > 2.5, measure(heard_by_agent)
    assert states(app, callback_id) == [
        "requested",
        "waiting",
        "reserved",
        "whisper",
        "dialing",
        "attempt",
        "connected",
        "completed",
    ], states(app, callback_id)
    [whisper] = app.store.events(kind="callback.whisper")
    assert whisper.data["agent"] == "agent1"
    assert "digits:15550200001" in whisper.data["media"]
    final = app.store.load_callback(callback_id)
    assert final is not None and final["state"] == "completed" and final["attempts"] == 1
