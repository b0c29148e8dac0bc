"""What callflow asks of a store: the :class:`Store` protocol, and the rows it returns.

``SqliteStore`` implements it for one node; a PostgreSQL store for several nodes implements
the same methods. Their promises, whatever the database:

- Writes (``append``, ``save_queue_entry``, ``delete_queue_entry``, ``save_callback``,
  ``import_leads``, ``save_attempt``, ``set_campaign_state``) return at once and never wait for
  the database; they are applied in the order they were made. ``claim_attempt`` is the one
  write that is waited for (off the event loop): nothing is dialed before it is kept.
- A read sees every write made before it, by any thread of this process (read-your-writes).
- ``async`` reads never run the database work on the event loop.
- ``close()`` applies every write made before it.
- Errors are :class:`~callflow.store.errors.StoreError` (SQLite's own errors from opening a
  file or reading it are passed on as they are, for now).
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from callflow.store.nodes import NodeLife


@dataclass(frozen=True)
class EventRecord:
    """One row of the event log."""

    id: int
    at: dt.datetime
    kind: str
    call_id: str
    data: Mapping[str, Any]
    node: str = ""  # the callflow node that wrote it ('' with a single node)


class Store(Protocol):
    """The event log, the waiting queue entries, the last-agent index and the callbacks."""

    node: str
    """This process's node id, written with every row it adds."""

    def append(
        self,
        kind: str,
        call_id: str = "",
        data: Mapping[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> int:
        """Queue one event (``at``: now by default); its id. A ``queue.connect`` naming a
        ``caller`` and an ``agent`` also updates the last-agent index."""
        ...

    def save_queue_entry(self, entry: Mapping[str, Any]) -> None:
        """Keep a waiting entry (``QueueEntry.to_dict()``) until it leaves its queue."""
        ...

    def delete_queue_entry(self, entry_id: str) -> None:
        """Forget an entry that left its queue."""
        ...

    def save_callback(
        self,
        callback: Mapping[str, Any],
        kind: str = "",
        data: Mapping[str, Any] | None = None,
        at: dt.datetime | None = None,
    ) -> int | None:
        """Add or update a callback's row (``Callback.to_dict()``) and, with ``kind``, write
        that event (``callback.<state>``) in the same transaction: a transition is never in
        one without the other. The event's ``call_id`` is the call the callback was asked
        from (its ``call_id``), or the callback's id; its data names the callback. The
        event's id."""
        ...

    def live_callbacks(
        self, queue: str | None = None, *, mine: bool = False
    ) -> list[dict[str, Any]]:
        """Callbacks not yet over, in request order (one queue, or all): what a restart
        takes back (``mine``: this node's, on a store several nodes share)."""
        ...

    async def live_callbacks_async(
        self, queue: str | None = None, *, mine: bool = False
    ) -> list[dict[str, Any]]:
        """:meth:`live_callbacks`, read off the event loop."""
        ...

    def load_callback(self, callback_id: str) -> dict[str, Any] | None:
        """One callback's row, live or over; None if there is none."""
        ...

    def import_leads(self, campaign: str, leads: list[Mapping[str, Any]]) -> None:
        """Add a campaign's leads; a number already there keeps its state and attempts."""
        ...

    def campaign_leads(self, campaign: str) -> list[dict[str, Any]]:
        """A campaign's leads, in import order."""
        ...

    def due_leads(
        self, campaign: str, now: float, *, after: tuple[int, str] = (-1, ""), limit: int = 200
    ) -> list[dict[str, Any]]:
        """A campaign's leads ready and due at ``now``, in import order, a page at a time."""
        ...

    async def claim_attempt(
        self,
        attempt: Mapping[str, Any],
        lead: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
    ) -> bool:
        """Write a new attempt (and its lead, and its ``campaign.attempt`` event) and wait
        until it is kept; False when that attempt of that number was already written."""
        ...

    def save_attempt(
        self,
        attempt: Mapping[str, Any],
        lead: Mapping[str, Any],
        kind: str = "campaign.attempt",
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Update an attempt, its lead, and write the event, together; the event's id."""
        ...

    def campaign_attempts(self, campaign: str) -> list[dict[str, Any]]:
        """Every call a campaign placed, oldest first."""
        ...

    def set_campaign_state(self, campaign: str, state: str) -> None:
        """Mark a campaign running, paused or stopped."""
        ...

    def campaign_states(self) -> dict[str, str]:
        """Each campaign's state, by name."""
        ...

    async def campaign_states_async(self) -> dict[str, str]:
        """:meth:`campaign_states`, off the event loop."""
        ...

    def events(
        self,
        *,
        call_id: str | None = None,
        kind: str | None = None,
        since: dt.datetime | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[EventRecord]:
        """Events in order, optionally of one call, one kind, and from a time on; ``kinds``:
        only these (one ending in ``.`` stands for every kind it begins)."""
        ...

    async def events_async(
        self,
        *,
        call_id: str | None = None,
        kind: str | None = None,
        since: dt.datetime | None = None,
    ) -> list[EventRecord]:
        """:meth:`events`, read off the event loop."""
        ...

    def latest(
        self, kind: str, key: str, *, before: dt.datetime | None = None, mine: bool = False
    ) -> dict[str, EventRecord]:
        """The newest event of a kind for each value of ``data[key]`` (before a moment; of
        this node's events, on a store several nodes share)."""
        ...

    def queue_entries(
        self, queue: str | None = None, *, mine: bool = False
    ) -> list[dict[str, Any]]:
        """Waiting entries in join order (one queue, or all; this node's, with ``mine``)."""
        ...

    def unended_calls(self, since: dt.datetime, *, mine: bool = False) -> dict[str, dt.datetime]:
        """Calls started since then with no ``call.end``, each with its last event's time
        (``mine``: the calls this node started, on a store several nodes share)."""
        ...

    async def last_agent(self, caller: str, since: float) -> str | None:
        """The agent of ``caller``'s most recent answered queue call, if it was answered at
        ``since`` (seconds since the epoch) or later; read off the event loop."""
        ...

    def last_agent_sync(self, caller: str, since: float) -> str | None:
        """:meth:`last_agent` on the calling thread (one index probe, after pending writes)."""
        ...

    def prune(self, before: dt.datetime) -> int:
        """Delete events older than ``before`` except what recovery needs; how many."""
        ...

    async def prune_async(self, before: dt.datetime) -> int:
        """:meth:`prune`, off the event loop."""
        ...

    def claim_node(self, me: NodeLife) -> NodeLife | None:
        """Take ``me.name`` for this process: None once it is ours, or the running process
        that holds it (see :mod:`callflow.store.nodes`)."""
        ...

    def node_seen(self, me: NodeLife) -> concurrent.futures.Future[bool]:
        """Say this process is alive; False (in the future) if the name is no longer ours."""
        ...

    def release_node(self, me: NodeLife) -> None:
        """Let the name go (a clean stop)."""
        ...

    def nodes(self) -> list[NodeLife]:
        """Who holds which node name, by name."""
        ...

    def flush(self) -> None:
        """Return once every write made so far is applied."""
        ...

    def close(self) -> None:
        """Apply the pending writes, then release the database."""
        ...
