"""Fixtures for the store tests: every store test that takes ``store`` runs on both stores,
a real SQLite file in tmp_path and a real PostgreSQL database (a server of its own for the
session, a fresh database for each test)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from callflow.store import SqliteStore, SqlStore
from callflow.testing.postgres import PostgresServer

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session's store tests, on a free loopback port."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    """A fresh, empty database on the session's server: its URL. Its collation is a
    language's (ICU ``en-US``), as a production database's often is, not the byte order of
    the C locale: the store must sort times and kinds the same either way."""
    return postgres.create_database(
        f"store_{next(_databases)}",
        "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C' TEMPLATE template0",
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """An empty store: a file of its own, or a database of its own."""
    if request.param == "sqlite":
        db: SqlStore = SqliteStore(tmp_path / "store.sqlite3")
    else:
        from callflow.store.postgres import PostgresStore

        db = PostgresStore(request.getfixturevalue("database"))
    yield db
    db.close()
