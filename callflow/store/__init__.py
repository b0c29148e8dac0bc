"""Durable state: the event log, waiting queue entries, the last-agent index, callbacks and
campaigns, behind the :class:`Store` protocol: :class:`SqliteStore` for one node (the
default), ``callflow.store.postgres.PostgresStore`` for several sharing one database. Open
either with :func:`open_store`."""

from __future__ import annotations

from pathlib import Path

from callflow.store.base import EventRecord, Store
from callflow.store.errors import SchemaTooNew, StoreClosed, StoreError, StoreUnavailable
from callflow.store.sql import SqlStore
from callflow.store.sqlite import SqliteStore
from callflow.store.writer import StoreHealth

__all__ = [
    "EventRecord",
    "SchemaTooNew",
    "SqlStore",
    "SqliteStore",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreHealth",
    "StoreUnavailable",
    "is_postgres",
    "open_store",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL database (a URL), not a SQLite file."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def open_store(location: str | Path, *, node: str = "") -> SqlStore:
    """The store at ``location``: a ``postgresql://`` URL, or a SQLite file's path
    (``:memory:`` for a throwaway one). PostgreSQL's driver is imported only for it."""
    if is_postgres(location):
        from callflow.store.postgres import PostgresStore  # libpq only when used

        return PostgresStore(str(location), node=node)
    return SqliteStore(location, node=node)
