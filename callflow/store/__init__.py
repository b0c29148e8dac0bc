"""Durable state: the event log, waiting queue entries and the last-agent index, behind the
:class:`Store` protocol (``SqliteStore`` for one node)."""

from callflow.store.base import EventRecord, Store
from callflow.store.errors import SchemaTooNew, StoreClosed, StoreError
from callflow.store.sqlite import SqliteStore

__all__ = ["EventRecord", "SchemaTooNew", "SqliteStore", "Store", "StoreClosed", "StoreError"]
