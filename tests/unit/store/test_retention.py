"""Retention: old events go; what recovery needs stays."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from store_fixtures import T0

from callflow.app.settings import SettingsError, load_settings
from callflow.store import SqlStore, sql
from callflow.store.retention import keep_pruning

OLD = T0 - dt.timedelta(days=100)
CUTOFF = T0 - dt.timedelta(days=30)


def _call(store: SqlStore, call_id: str, at: dt.datetime, *, ended: bool = True) -> None:
    store.append("call.start", call_id, {}, at=at)
    store.append("flow.step", call_id, {"node": "menu"}, at=at)
    if ended:
        store.append("call.end", call_id, {"outcome": "hangup"}, at=at)


def test_old_events_of_ended_calls_go_and_recent_ones_stay(store: SqlStore) -> None:
    """Events older than the cutoff of calls that ended are deleted; newer ones are kept."""
    _call(store, "old", OLD)
    _call(store, "new", T0)
    assert store.prune(CUTOFF) == 3
    assert {e.call_id for e in store.events()} == {"new"}


def test_recovery_keeps_what_it_needs(store: SqlStore) -> None:
    """A call with no end, a caller still waiting in a queue, and each agent's last state
    survive pruning however old they are; the older states of an agent do not."""
    _call(store, "open", OLD, ended=False)
    store.append("queue.enter", "waiting", {"queue": "q"}, at=OLD)
    store.save_queue_entry({"id": "waiting", "queue": "q", "joined_at": OLD.timestamp()})
    store.append("agent.state", "", {"agent": "alice", "state": "available"}, at=OLD)
    store.append("agent.state", "", {"agent": "alice", "state": "paused"}, at=OLD)
    store.append("agent.state", "", {"agent": "bob", "state": "available"}, at=OLD)
    assert store.prune(CUTOFF) == 1
    assert [e.kind for e in store.events(call_id="open")] == ["call.start", "flow.step"]
    assert [e.kind for e in store.events(call_id="waiting")] == ["queue.enter"]
    assert [e["id"] for e in store.queue_entries()] == ["waiting"]
    states = store.latest("agent.state", "agent")
    assert {name: r.data["state"] for name, r in states.items()} == {
        "alice": "paused",
        "bob": "available",
    }
    assert store.unended_calls(OLD - dt.timedelta(days=1)) == {"open": OLD}


def test_pruning_goes_chunk_by_chunk_to_the_end(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prune larger than one chunk deletes every old event, in several transactions."""
    monkeypatch.setattr(sql, "PRUNE_CHUNK", 4)
    for n in range(7):
        _call(store, f"old{n}", OLD)
    _call(store, "new", T0)
    assert store.prune(CUTOFF) == 21
    assert len(store.events()) == 3


def test_last_agents_older_than_the_cutoff_are_forgotten(store: SqlStore) -> None:
    """The last-agent index forgets calls answered before the cutoff, like the log."""
    store.append("queue.connect", "a", {"caller": "+1", "agent": "alice"}, at=OLD)
    store.append("queue.connect", "b", {"caller": "+2", "agent": "bob"}, at=T0)
    store.prune(CUTOFF)
    assert store.last_agent_sync("+1", 0.0) is None
    assert store.last_agent_sync("+2", 0.0) == "bob"


async def test_keep_pruning_prunes_at_start_then_sleeps(store: SqlStore) -> None:
    """The retention task prunes with the cutoff ``days`` before now, then waits ``every``."""
    _call(store, "old", OLD)
    _call(store, "new", T0)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        raise StopAsyncIteration

    with pytest.raises(StopAsyncIteration):
        await keep_pruning(store, 30, every=600.0, now=lambda: T0, sleep=sleep)
    assert slept == [600.0] and {e.call_id for e in store.events()} == {"new"}


def test_retention_is_read_from_the_store_section(tmp_path: Path) -> None:
    """``store:`` takes a path alone, or a section with ``path`` and ``retention_days``."""
    path = tmp_path / "callflow.yaml"
    path.write_text("flows: []\nstore: var/a.sqlite3\n")
    settings = load_settings(path)
    assert settings.store == tmp_path / "var/a.sqlite3" and settings.store_retention_days is None
    path.write_text("flows: []\nstore:\n  path: b.sqlite3\n  retention_days: 90\n")
    settings = load_settings(path)
    assert settings.store == tmp_path / "b.sqlite3" and settings.store_retention_days == 90.0


@pytest.mark.parametrize(
    ("section", "where", "message"),
    [
        ("  retention_days: soon\n", "3:19", "store.retention_days must be a number of days"),
        ("  retention_days: 0.5\n", "3:19", "from 1 to 36500, not '0.5'"),
        ("  retension_days: 9\n", "3:3", "did you mean 'retention_days'?"),
    ],
)
def test_retention_mistakes_name_file_line_and_column(
    tmp_path: Path, section: str, where: str, message: str
) -> None:
    """A wrong retention is reported at its place, saying what is expected."""
    path = tmp_path / "callflow.yaml"
    path.write_text("flows: []\nstore:\n" + section)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert f"{path}:{where}:" in str(caught.value) and message in str(caught.value)
