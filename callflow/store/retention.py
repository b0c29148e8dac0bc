"""Retention of the event log: prune what is older than the settings' ``retention_days``,
at start and then every hour, off the event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from callflow.store.base import Store
from callflow.store.errors import StoreError

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # seconds between two prunes; a day's retention is kept within an hour


async def keep_pruning(
    store: Store,
    days: float,
    *,
    every: float = PRUNE_EVERY,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Prune events older than ``days`` now, then every ``every`` seconds, until cancelled.
    A prune that fails is logged; the next one is tried as usual."""
    while True:
        try:
            await store.prune_async(now() - dt.timedelta(days=days))
        except StoreError as exc:
            log.error("pruning the event log failed: %s", exc)
        await sleep(every)
