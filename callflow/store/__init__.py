"""Durable state: the event log (and later queue entries, callbacks, campaign leads)."""

from callflow.store.sqlite import EventRecord, SqliteStore

__all__ = ["EventRecord", "SqliteStore"]
