"""Schema versions: old files are upgraded in place, newer ones refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from store_fixtures import DAY, T0, write_old_file

from callflow.store import SchemaTooNew, SqliteStore
from callflow.store.schema import MIGRATIONS, VERSION


def _user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def test_a_new_file_gets_the_current_version(tmp_path: Path) -> None:
    """A store created from nothing is at the newest schema version and empty."""
    store = SqliteStore(tmp_path / "new" / "store.sqlite3")
    assert store.events() == [] and store.queue_entries() == []
    store.close()
    assert _user_version(tmp_path / "new" / "store.sqlite3") == VERSION


@pytest.mark.parametrize("user_version", [0, 1])
def test_an_older_file_is_upgraded_and_keeps_its_rows(tmp_path: Path, user_version: int) -> None:
    """A file from before versions (0) or at version 1 is upgraded: its events and waiting
    entries are still there, and last-agent routing knows its answered calls."""
    path = tmp_path / "store.sqlite3"
    write_old_file(path, user_version=user_version)
    store = SqliteStore(path)
    kinds = [e.kind for e in store.events(call_id="c1")]
    assert kinds == ["call.start", "queue.connect", "call.end"]
    assert {e.node for e in store.events()} == {""}
    assert [e["id"] for e in store.queue_entries()] == ["w1"]
    since = T0.timestamp() - DAY
    assert store.last_agent_sync("+4411", since) == "bob"  # the later of alice and bob
    assert store.last_agent_sync("+33", since) == "carol"
    assert store.last_agent_sync("", since) is None  # an anonymous caller is no one's
    first_new = store.append("call.start", "c9")
    assert first_new == max(e.id for e in store.events()) == 7
    store.close()
    assert _user_version(path) == VERSION


def test_reopening_an_upgraded_file_changes_nothing(tmp_path: Path) -> None:
    """Opening a file already at the current version runs no step again."""
    path = tmp_path / "store.sqlite3"
    write_old_file(path)
    SqliteStore(path).close()
    store = SqliteStore(path)
    assert len(store.events()) == 6 and store.last_agent_sync("+4411", 0.0) == "bob"
    store.close()


def test_a_newer_file_is_refused_untouched(tmp_path: Path) -> None:
    """A file whose schema is newer than this callflow knows is refused with a message that
    names the file and both versions, and is left as it was."""
    path = tmp_path / "store.sqlite3"
    write_old_file(path, user_version=VERSION + 1)
    with pytest.raises(SchemaTooNew) as caught:
        SqliteStore(path)
    message = str(caught.value)
    assert str(path) in message and f"version {VERSION + 1}" in message
    assert f"(version {VERSION})" in message and "upgrade callflow" in message
    assert _user_version(path) == VERSION + 1
    db = sqlite3.connect(path)
    columns = [row[1] for row in db.execute("PRAGMA table_info(event_log)")]
    db.close()
    assert "node" not in columns


@pytest.mark.parametrize("version", range(1, VERSION))
def test_a_file_at_each_older_version_is_upgraded(tmp_path: Path, version: int) -> None:
    """A file left at any older version by the steps themselves is brought to the current
    one, and an answered call in its log reaches the last-agent index (when the index was
    not built yet: step 3 builds it from the log), and the callbacks table is there."""
    path = tmp_path / "store.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:version]:
        step(db)
    db.execute(f"PRAGMA user_version = {version}")
    db.execute(
        "INSERT INTO event_log (at, kind, data) VALUES (?, 'queue.connect', ?)",
        (T0.isoformat(), '{"caller": "+4411", "agent": "alice"}'),
    )
    db.close()
    store = SqliteStore(path)
    if version < 3:
        assert store.last_agent_sync("+4411", T0.timestamp()) == "alice"
    assert store.live_callbacks() == []
    store.close()
    assert _user_version(path) == VERSION
