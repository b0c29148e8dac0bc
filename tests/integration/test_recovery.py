"""kill -9 callflow with callers queued and in a menu: the next callflow takes them all back."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from callflow.call.ids import LIFE
from callflow.sandbox import SandboxInfo
from callflow.store import SqliteStore, open_store
from callflow.testing.postgres import PostgresServer
from callflow.testing.softphone import Softphone
from tests.integration.conftest import AppFactory, PhoneFactory, ari_get, bridged
from tests.integration.test_queues import QUEUES, talk_and_hang_up

pytestmark = pytest.mark.asterisk

RECOVERY_FLOW = QUEUES.parent / "flows" / "recovery.yaml"


class Callflow:
    """`callflow run` as its own process, as an operator runs it (and kills it)."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "callflow",
                "run",
                "--config",
                str(self.config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )

    async def wait_for_log(self, needle: str, *, after: int = 0, timeout: float = 20) -> int:
        """Wait until the log holds ``needle`` past offset ``after``; return the log's end."""
        async with asyncio.timeout(timeout):
            while True:
                text = self.log.read_text(errors="replace")
                if needle in text[after:]:
                    return len(text)
                await asyncio.sleep(0.05)

    def kill(self, sig: int) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    async def wait(self, timeout: float = 30) -> int:
        assert self.proc is not None
        async with asyncio.timeout(timeout):
            return await self.proc.wait()


@pytest.fixture(params=["sqlite"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where the callflow processes keep their state: a SQLite file, or (parametrized
    ``postgres``) a PostgreSQL database on a real server of the test's own."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.sqlite3")
        return
    server = PostgresServer(tmp_path / "postgres")
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
async def callflow_process(
    asterisk: SandboxInfo, tmp_path: Path, store_location: str
) -> AsyncIterator[Callable[[], Awaitable[Callflow]]]:
    """Start `callflow run` processes that share one settings file and store."""
    config = tmp_path / "callflow.yaml"
    config.write_text(
        f"ari:\n  url: {asterisk.ari_url}\n  username: {asterisk.ari_user}\n"
        f"  password: {asterisk.ari_password}\n  app: {asterisk.app}\n"
        f"flows:\n  - {RECOVERY_FLOW}\nqueues: {QUEUES}\nstore: {store_location}\n"
        "shutdown:\n  grace: 1\n"
    )
    started: list[Callflow] = []

    async def start() -> Callflow:
        process = Callflow(config, tmp_path / "callflow.log")
        await process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc is not None and process.proc.returncode is None:
            process.kill(signal.SIGTERM)
            await process.wait()


async def agents_cli(config: Path, *argv: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callflow",
        "agents",
        *argv,
        "--config",
        str(config),
    )
    return await proc.wait()


async def dial(phone: Softphone, number: str) -> None:
    mark = phone.mark()
    await phone.dial(number)
    await phone.wait_event("CALL_ESTABLISHED", since=mark)


async def crash_and_restart(
    first: Callflow, start: Callable[[], Awaitable[Callflow]], ready: str
) -> Callflow:
    """kill -9 the running callflow, start the next, and wait until its log says ``ready``."""
    first.kill(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    offset = len(first.log.read_text(errors="replace"))
    second = await start()
    await second.wait_for_log(ready, after=offset)
    return second


async def until(predicate: Callable[[], bool], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 (the store and ARI are polled, not awaited)
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("store_location", ["sqlite", "postgres"], indirect=True)
async def test_kill_9_then_restart_serves_queued_callers_in_their_original_order(
    asterisk: SandboxInfo,
    callflow_process: Callable[[], Awaitable[Callflow]],
    phones: PhoneFactory,
    store_location: str,
    no_leaks: None,
) -> None:
    """Three callers queued (one with priority) and one in a menu when callflow is killed
    with SIGKILL: the restarted callflow puts the three back in line with their join times,
    an agent who logs in serves them in their original order, the menu caller hears the
    flow's restart node, and nothing is left over in Asterisk or in the store (a SQLite
    file, or a PostgreSQL database)."""
    store = open_store(store_location)
    first = await callflow_process()
    await first.wait_for_log("connected to Asterisk")
    callers = [await phones(f"caller{i}") for i in (1, 2, 3, 4)]
    for count, (phone, number) in enumerate(zip(callers[:3], ("300", "301", "300"), strict=True)):
        await dial(phone, number)
        await until(lambda n=count: len(store.events(kind="queue.enter")) > n)
    await dial(callers[3], "310")
    await until(lambda: any(e.data["node"] == "menu" for e in store.events(kind="flow.wait")))
    queued = [e.call_id for e in store.events(kind="queue.enter")]
    [menu_call] = [e.call_id for e in store.events(kind="call.start") if e.call_id not in queued]
    old_bridges = {b["id"] for b in ari_get(asterisk, "bridges")}
    assert len(old_bridges) == 1

    first.kill(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    assert len(store.queue_entries()) == 3  # what a crash leaves for the next life

    offset = len(first.log.read_text(errors="replace"))
    second = await callflow_process()
    await second.wait_for_log("resynced", after=offset)
    # Back in a holding bridge of the new life (with music), all three, in no time.
    await until(
        lambda: any(
            b["bridge_type"] == "holding" and set(queued) <= set(b["channels"])
            for b in ari_get(asterisk, "bridges")
        ),
        timeout=2,
    )
    assert not old_bridges & {b["id"] for b in ari_get(asterisk, "bridges")}
    resumed = [e for e in store.events(kind="queue.enter") if e.data.get("resumed")]
    assert sorted(e.call_id for e in resumed) == sorted(queued)
    first_joins = {e.call_id: e.data for e in store.events(kind="queue.enter")[:3]}
    for event in resumed:
        assert event.data["priority"] == first_joins[event.call_id]["priority"]

    # The menu caller hears the restart node, then goodbye.
    await until(
        lambda: any(
            e.data["node"] == "restarted" for e in store.events(call_id=menu_call, kind="flow.step")
        )
    )
    await callers[3].wait_event("CALL_CLOSED", timeout=20)

    agent = await phones("agent1", auto_answer=True)
    assert await agents_cli(second.config, "login", "agent1") == 0
    since = 0
    for served in range(3):
        since = await talk_and_hang_up(asterisk, agent, since)
        await until(lambda n=served: len(store.events(kind="queue.complete")) > n)
    connected = [e.data["caller"] for e in store.events(kind="queue.connect")]
    assert connected == ["+15550000002", "+15550000001", "+15550000003"]
    for phone in callers[:3]:
        await phone.wait_event("CALL_CLOSED", timeout=15)

    second.kill(signal.SIGTERM)
    assert await second.wait() == 0
    assert store.queue_entries() == []
    ends = {e.call_id: e.data for e in store.events(kind="call.end")}
    assert set(ends) == {*queued, menu_call}
    assert ends[menu_call]["recovered"] == "restart"
    store.close()


async def test_kill_9_while_an_agent_rings_stops_the_ringback_and_the_ringing(
    asterisk: SandboxInfo,
    callflow_process: Callable[[], Awaitable[Callflow]],
    phones: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """callflow is killed the moment a transfer starts to ring an agent, with ringback (a
    tone that never ends) to the caller: the restarted callflow stops the ringing leg and
    the ringback, and the caller hears the flow's restart node, then goodbye."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    first = await callflow_process()
    await first.wait_for_log("connected to Asterisk")
    agent = await phones("agent1")  # rings, never answers
    caller = await phones("caller1")
    ring = agent.mark()
    await dial(caller, "330")
    # Killed as soon as the transfer is under way: maybe before Asterisk said the ringback
    # started, so only the ids written before the request tell the next life about it.
    await until(lambda: any(e.data["node"] == "operator" for e in store.events(kind="flow.wait")))
    second = await crash_and_restart(first, callflow_process, "resynced")
    [call_id] = [e.call_id for e in store.events(kind="call.start")]
    await until(
        lambda: any(
            e.data["node"] == "restarted" for e in store.events(call_id=call_id, kind="flow.step")
        )
    )
    await caller.wait_event("CALL_CLOSED", timeout=20)
    if any(e.get("type") == "CALL_INCOMING" for e in agent.events[ring:]):
        await agent.wait_event("CALL_CLOSED", since=ring, timeout=10)
    heard = [e.data["media"] for e in store.events(call_id=call_id, kind="call.playback")]
    assert "sound:tt-weasels" in heard
    second.kill(signal.SIGTERM)
    assert await second.wait() == 0
    [end] = store.events(call_id=call_id, kind="call.end")
    assert end.data["recovered"] == "restart"


async def test_kill_9_during_a_conversation_leaves_the_caller_talking(
    asterisk: SandboxInfo,
    callflow_process: Callable[[], Awaitable[Callflow]],
    phones: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """A caller talking to an agent when callflow is killed goes on talking after the
    restart; when the agent hangs up, the caller is hung up, the talk is recorded, and the
    agent is free for the next caller."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    first = await callflow_process()
    await first.wait_for_log("connected to Asterisk")
    agent = await phones("agent1", auto_answer=True)
    assert await agents_cli(first.config, "login", "agent1") == 0
    caller = await phones("caller1")
    await dial(caller, "300")
    await until(lambda: bool(store.events(kind="queue.connect")))
    [call_id] = [e.call_id for e in store.events(kind="queue.connect")]
    second = await crash_and_restart(first, callflow_process, "1 conversations kept")
    await asyncio.sleep(1.0)  # they talk on: nobody is hung up by the restart
    assert not [e for e in caller.events if e.get("type") == "CALL_CLOSED"]
    await agent.hangup()
    await caller.wait_event("CALL_CLOSED", timeout=10)
    await until(lambda: any(e.data.get("recovered") for e in store.events(kind="queue.complete")))
    [complete] = [e for e in store.events(kind="queue.complete") if e.data.get("recovered")]
    assert complete.call_id == call_id and complete.data["agent"] == "agent1"
    assert complete.data["hung_up_by"] == "agent"

    # The agent is free again: the next caller is connected to them.
    mark = agent.mark()
    second_caller = await phones("caller2")
    await dial(second_caller, "300")
    await agent.wait_event("CALL_ESTABLISHED", since=mark, timeout=15)
    await bridged(asterisk, "agent1")
    await agent.hangup()
    await second_caller.wait_event("CALL_CLOSED", timeout=10)
    second.kill(signal.SIGTERM)
    assert await second.wait() == 0


async def test_a_node_name_reaches_asterisk_ids_and_the_store(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """With node: east, the holding bridge callflow makes in Asterisk carries the node's tag,
    and the rows it writes name the node."""
    app = await start_app([RECOVERY_FLOW], queues=QUEUES, node="east")
    try:
        caller = await phones("caller1")
        mark = caller.mark()
        await caller.dial("300")
        await caller.wait_event("CALL_ESTABLISHED", since=mark)
        await until(lambda: bool(app.store.events(kind="queue.enter")))
        await until(
            lambda: any(b["bridge_type"] == "holding" for b in ari_get(asterisk, "bridges"))
        )
        [bridge] = [b["id"] for b in ari_get(asterisk, "bridges")]
        assert f"-east.{LIFE.run}-" in bridge
        assert {e.node for e in app.store.events(kind="queue.enter")} == {"east"}
        await caller.hangup()
        await caller.wait_event("CALL_CLOSED", since=mark)
    finally:
        LIFE.node = ""  # the tests share one process
