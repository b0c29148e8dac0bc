"""Fixtures for the KPI tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from kpi_log import Log, day

from callflow.store import SqliteStore


@pytest.fixture
def log() -> Log:
    """An empty hand-written event log."""
    return Log()


@pytest.fixture
def store_file(tmp_path: Path, log: Log) -> Path:
    """A store holding the hand-worked day (kpi_log.day), written through SqliteStore."""
    path = tmp_path / "var" / "callflow.sqlite3"
    store = SqliteStore(path)
    for event in day(log).ordered():
        store.append(event.kind, event.call_id, event.data, at=event.at)
    store.close()
    return path
