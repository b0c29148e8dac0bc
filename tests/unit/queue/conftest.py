"""Fixtures for the queue tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from callflow.store import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    """An empty event log and queue store."""
    db = SqliteStore(tmp_path / "store.sqlite3")
    yield db
    db.close()
