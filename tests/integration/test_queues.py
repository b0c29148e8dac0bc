"""Real queues: callers in holding bridges, agents' phones rung, positions announced."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from callflow.app.main import App
from callflow.sandbox import SandboxInfo
from callflow.testing.audio import measure
from callflow.testing.softphone import Softphone
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events

pytestmark = pytest.mark.asterisk

HERE = Path(__file__).parent
FLOW = HERE / "flows" / "queues.yaml"
QUEUES = HERE / "queues.yaml"


async def queue_app(start_app: AppFactory, *agents: str) -> App:
    """callflow with the test queues, these agents logged in."""
    app = await start_app([FLOW], queues=QUEUES)
    assert app.queues is not None
    for agent in agents:
        app.queues.login(agent)
    return app


async def join(app: App, phone: Softphone, number: str) -> str:
    """Dial into a queue and wait until the caller is in it; return the call id."""
    before = len(app.store.events(kind="queue.enter"))
    mark = phone.mark()
    await phone.dial(number)
    await phone.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "queue.enter", count=before + 1)
    return app.store.events(kind="queue.enter")[-1].call_id


def callers_connected(app: App) -> list[tuple[str, str]]:
    """(caller number, agent) of each queue.connect, in order."""
    return [(e.data["caller"], e.data["agent"]) for e in app.store.events(kind="queue.connect")]


async def test_fifo_order_with_priority_overtaking_and_positions(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Three callers wait in order and hear their own positions; a priority caller who
    joins last is served first; then the others in the order they came."""
    app = await queue_app(start_app)
    assert app.queues is not None
    callers = [await phones(f"caller{i}") for i in (1, 2, 3, 4)]
    ids = [await join(app, phone, "300") for phone in callers[:3]]
    ids.append(await join(app, callers[3], "301"))

    await wait_for_events(app, "queue.announce", count=4)
    announced = {e.call_id: e.data["position"] for e in app.store.events(kind="queue.announce")}
    assert [announced[i] for i in ids] == [1, 2, 3, 1]
    first_sounds = {}
    for call_id in ids:
        await wait_for_events(app, "call.playback.started", call_id=call_id)
        started = app.store.events(call_id=call_id, kind="call.playback.started")
        first_sounds[call_id] = started[0].data["media"]
    assert first_sounds[ids[0]] == "sound:queue-youarenext"
    assert first_sounds[ids[1]] == "sound:queue-thereare"
    assert first_sounds[ids[3]] == "sound:queue-youarenext"

    agent = await phones("agent1", auto_answer=True)
    app.queues.login("agent1")
    app.queues.kick()
    mark = 0
    for served in range(4):
        established = await agent.wait_event("CALL_ESTABLISHED", since=mark, timeout=15)
        mark = agent.events.index(established) + 1
        await wait_for_events(app, "queue.connect", count=served + 1)
        await asyncio.sleep(0.5)
        await agent.hangup()
        await wait_for_events(app, "queue.complete", count=served + 1)
    assert [caller for caller, _ in callers_connected(app)] == [
        "+15550000004",
        "+15550000001",
        "+15550000002",
        "+15550000003",
    ]
    for phone in callers:
        heard = phone.recording()
        assert heard is not None and measure(heard).voiced_seconds > 1.0, phone.user
