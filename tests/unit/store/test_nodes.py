"""One running callflow per node name and store: the claim, the heartbeat, the release, and
who may take a name over (a crashed former life at once, a silent node elsewhere later)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callflow.app.main import App
from callflow.app.settings import AriSettings, Settings
from callflow.store import SqliteStore, SqlStore
from callflow.store.nodes import (
    STALE_AFTER,
    NodeInUse,
    NodeLife,
    callflow_running,
    may_claim,
    this_life,
)

NOW = 1_800_000_000.0


def life(host: str = "ci-1", pid: int = 100, tag: str = "a1", seen: float = NOW) -> NodeLife:
    return NodeLife("east", host, pid, tag, seen - 3600, seen)


def test_who_may_take_a_name() -> None:
    me = life(pid=200, tag="b2")
    alive = {100}

    def running(pid: int) -> bool:
        return pid in alive

    assert may_claim(None, me, NOW, running=running)  # nobody holds it
    assert may_claim(life(pid=200, tag="b2"), me, NOW, running=running)  # already mine
    # On this host: a live callflow keeps it; a dead one (kill -9) is a former life at once.
    assert not may_claim(life(pid=100), me, NOW, running=running)
    assert may_claim(life(pid=300), me, NOW, running=running)
    # A container restarted: callflow is pid 200 again, under a new life's tag.
    assert may_claim(life(pid=200, tag="old"), me, NOW, running=running)
    # On another host: kept while it says it is alive, taken once it has been silent long.
    assert not may_claim(life(host="ci-2", seen=NOW - STALE_AFTER + 1), me, NOW, running=running)
    assert may_claim(life(host="ci-2", seen=NOW - STALE_AFTER - 1), me, NOW, running=running)
    # A live callflow here that stopped saying so (stuck for a minute) is gone too.
    assert may_claim(life(pid=100, seen=NOW - STALE_AFTER - 1), me, NOW, running=running)


def test_a_running_callflow_is_told_from_a_dead_or_reused_pid() -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    named = subprocess.Popen([*sleeper, "callflow", "run"])
    other = subprocess.Popen(sleeper)
    try:
        assert callflow_running(named.pid)
        assert not callflow_running(other.pid)  # a pid another program reuses
    finally:
        for process in (named, other):
            process.kill()
            process.wait()
    assert not callflow_running(named.pid)  # gone


def test_a_name_is_claimed_kept_alive_taken_over_and_released(store: SqlStore) -> None:
    east = this_life("east", "east.a1", time.time())
    assert store.claim_node(east) is None
    assert store.claim_node(east) is None  # claiming again is fine
    # Another host's process under the same name is refused while east says it is alive.
    elsewhere = NodeLife("east", "other-host", 4242, "east.b2", 0.0, 0.0)
    holder = store.claim_node(elsewhere)
    assert holder is not None and (holder.host, holder.pid, holder.life) == (
        east.host,
        east.pid,
        "east.a1",
    )
    assert store.node_seen(east).result(5) is True
    # A name of its own is no clash.
    assert store.claim_node(NodeLife("west", "other-host", 4242, "west.c3", 0.0, 0.0)) is None
    assert [n.name for n in store.nodes()] == ["east", "west"]
    # East is silent too long: the other host takes the name; east hears it is no longer its.
    assert store.claim_node(elsewhere, stale_after=0.0) is None
    assert store.node_seen(east).result(5) is False
    store.release_node(east)  # not east's any more: left alone
    store.flush()
    assert [(n.name, n.life) for n in store.nodes()] == [("east", "east.b2"), ("west", "west.c3")]
    store.release_node(elsewhere)
    store.flush()
    assert [n.name for n in store.nodes()] == ["west"]


def test_a_crashed_former_life_on_this_host_is_taken_over_at_once(store: SqlStore) -> None:
    """kill -9, then a restart: the dead process's claim is no obstacle."""
    dead = subprocess.Popen([sys.executable, "-c", "pass", "callflow"])
    dead.wait()
    former = NodeLife("east", this_life("east", "x", 0).host, dead.pid, "east.old", NOW, NOW)
    assert store.claim_node(former) is None
    assert store.claim_node(this_life("east", "east.new", time.time())) is None


def make_app(tmp_path: Path, node: str) -> App:
    flow = tmp_path / "flow.yaml"
    flow.write_text('entry:\n  "100": bye\nnodes:\n  bye:\n    type: hangup\n')
    settings = Settings(
        ari=AriSettings(password="secret"),
        flows=(flow,),
        store=tmp_path / "store.sqlite3",
        node=node,
    )
    return App(settings)


def test_callflow_run_refuses_a_name_another_running_process_holds(tmp_path: Path) -> None:
    """Before anything starts (no ARI connection, no recovery), with the holder named."""
    holder = SqliteStore(tmp_path / "store.sqlite3", node="east")
    assert holder.claim_node(NodeLife("east", "ci-2", 77, "east.zz", 0.0, time.time())) is None
    holder.close()
    app = make_app(tmp_path, "east")
    app.load_flows()
    with pytest.raises(NodeInUse) as refused:
        asyncio.run(app.run(install_signals=False))
    message = str(refused.value)
    # Heard of when it claimed, a moment ago (the start in between may take a second).
    assert re.search(
        r"node 'east' is already running \(host ci-2, pid 77, heard of [01] s ago\)", message
    ), message
    assert "give this one its own node: name" in message
