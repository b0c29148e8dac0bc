"""Durable state: the event log, waiting queue entries and the last-agent index, behind the
:class:`Store` protocol (``SqliteStore`` for one node)."""

from callflow.store.base import EventRecord, Store
from callflow.store.errors import SchemaTooNew, StoreClosed, StoreError, StoreUnavailable
from callflow.store.sqlite import SqliteStore
from callflow.store.writer import StoreHealth

__all__ = [
    "EventRecord",
    "SchemaTooNew",
    "SqliteStore",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreHealth",
    "StoreUnavailable",
]
