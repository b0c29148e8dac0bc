"""Two callflow nodes, each beside its own Asterisk, sharing one PostgreSQL store: one is
killed with callers queued on both; it takes its own callers back and leaves the other
node's alone."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from callflow.ari.models import AsteriskInfo
from callflow.sandbox import Sandbox, SandboxInfo
from callflow.store import open_store
from callflow.testing.postgres import PostgresServer
from callflow.testing.softphone import SipServer, Softphone
from tests.integration.conftest import ari_get, leaks
from tests.integration.test_queues import QUEUES
from tests.integration.test_recovery import RECOVERY_FLOW, Callflow, dial, until

pytestmark = pytest.mark.asterisk


@pytest.fixture
def west() -> Iterator[SandboxInfo]:
    """A second Asterisk, the west node's, with a system name of its own: Asterisk names
    channels ``<system name>-<start time>.<n>``, and channel ids are the call ids in the
    shared store, so two Asterisks started in the same second under one name would clash."""
    sandbox = Sandbox(f"pytest-west-{os.getpid()}", system_name="callflow-west")
    info = sandbox.up()
    try:
        yield info
    finally:
        sandbox.down()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    server = PostgresServer(tmp_path / "postgres")
    try:
        yield server.start()
    finally:
        server.stop()


def settings_for(asterisk: SandboxInfo, node: str, database: str, folder: Path) -> Path:
    config = folder / f"callflow-{node}.yaml"
    config.write_text(
        f"ari:\n  url: {asterisk.ari_url}\n  username: {asterisk.ari_user}\n"
        f"  password: {asterisk.ari_password}\n  app: {asterisk.app}\n"
        f"node: {node}\nflows:\n  - {RECOVERY_FLOW}\nqueues: {QUEUES}\nstore: {database}\n"
        "shutdown:\n  grace: 1\n"
    )
    return config


@pytest.fixture
async def nodes(
    asterisk: SandboxInfo, west: SandboxInfo, database: str, tmp_path: Path
) -> AsyncIterator[dict[str, Callflow]]:
    """``callflow run`` as node east (beside the session's Asterisk) and node west (beside
    its own), on one database; both stopped afterwards."""
    started = {
        name: Callflow(settings_for(info, name, database, tmp_path), tmp_path / f"{name}.log")
        for name, info in (("east", asterisk), ("west", west))
    }
    for process in started.values():
        await process.start()
        await process.wait_for_log("connected to Asterisk")
    yield started
    for process in started.values():
        if process.proc is not None and process.proc.returncode is None:
            process.kill(signal.SIGTERM)
            await process.wait()


async def phones_of(info: SandboxInfo, folder: Path, *names: str) -> list[Softphone]:
    phones = []
    for name in names:
        phone = Softphone(
            name, info.phone(name).password, SipServer(info.bind, info.sip_port), folder / name
        )
        await phone.start()
        phones.append(phone)
    return phones


async def test_a_node_killed_takes_back_its_callers_and_leaves_the_other_nodes_alone(
    asterisk: SandboxInfo,
    west: SandboxInfo,
    nodes: dict[str, Callflow],
    database: str,
    tmp_path: Path,
) -> None:
    """Two callers wait in each node's queue; east is killed with SIGKILL and started
    again. It puts its two back in line (resumed, in their order); west's two are still
    waiting, in the store and in west's Asterisk, with no lost exit and no end; then every
    caller hangs up and each call has exactly one end, written by its own node."""
    store = open_store(database)
    # What each node reads to check that channel ids cannot clash: Asterisk's system name.
    names = {
        AsteriskInfo.from_json(ari_get(info, "asterisk/info?only=config")).system_name
        for info in (asterisk, west)
    }
    assert names == {"callflow-sandbox", "callflow-west"}
    callers = {
        "east": await phones_of(asterisk, tmp_path / "east", "caller1", "caller2"),
        "west": await phones_of(west, tmp_path / "west", "caller1", "caller2"),
    }
    try:
        for count, phone in enumerate([*callers["east"], *callers["west"]]):
            await dial(phone, "300")
            await until(lambda n=count: len(store.events(kind="queue.enter")) > n)
        entered = {e.call_id: e.node for e in store.events(kind="queue.enter")}
        assert sorted(entered.values()) == ["east", "east", "west", "west"]
        west_calls = sorted(c for c, node in entered.items() if node == "west")

        east = nodes["east"]
        east.kill(signal.SIGKILL)
        assert await east.wait() == -signal.SIGKILL
        offset = len(east.log.read_text(errors="replace"))
        await east.start()
        await east.wait_for_log("resynced", after=offset)
        await until(
            lambda: len([e for e in store.events(kind="queue.enter") if e.data.get("resumed")]) == 2
        )
        resumed = [e for e in store.events(kind="queue.enter") if e.data.get("resumed")]
        assert {e.node for e in resumed} == {"east"}
        waiting = {e["id"] for e in store.queue_entries()}
        assert set(west_calls) <= waiting, waiting
        for call_id in west_calls:
            kinds = [e.kind for e in store.events(call_id=call_id)]
            assert "queue.exit" not in kinds and "call.end" not in kinds, kinds
        west_channels = {c["id"] for c in ari_get(west, "channels")}
        assert set(west_calls) <= west_channels

        for phone in [*callers["east"], *callers["west"]]:
            await phone.hangup()
        await until(lambda: len(store.events(kind="call.end")) == 4)
        ends = {e.call_id: (e.node, e.data["outcome"]) for e in store.events(kind="call.end")}
        assert {ends[c][0] for c in west_calls} == {"west"}
        assert {outcome for _, outcome in ends.values()} == {"caller_hangup"}, ends
        assert store.queue_entries() == []
        await until(lambda: leaks(west) == ([], []) and leaks(asterisk) == ([], []))
        for process in nodes.values():  # named nodes, named Asterisks: nothing to warn of
            log = process.log.read_text(errors="replace")
            assert "no systemname" not in log and "has no name" not in log
    finally:
        for phone in [*callers["east"], *callers["west"]]:
            await phone.stop()
        store.close()
