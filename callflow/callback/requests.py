"""Callbacks asked for from outside a call: a web form, a CRM, the command line, the API.

The request is checked with the queue's own number rules (the same
:func:`~callflow.callback.number.normalise` as a caller's number) and becomes a
``submitted`` row in the store; the running app takes it within a second
(:meth:`~callflow.callback.live.CallbackService.poll_store`) and from then on it is a
callback like any other. Cancelling marks a live row ``cancel-asked`` (the app cancels it at
its next look), or cancels a row the app has not taken yet outright. Both the command line
(:mod:`callflow.callback.cli`) and the supervisor API use these, so they follow one set of
rules.
"""

from __future__ import annotations

import secrets
from typing import Any

from callflow.callback.live import CANCEL_ASKED, SUBMITTED, rules_of
from callflow.callback.model import FINAL, CallbackState
from callflow.callback.number import Refused, normalise
from callflow.queue.config import QueueConfig


class NoCallbacks(ValueError):
    """The queue offers no callbacks (it has no ``callback:`` block)."""


def submitted_row(
    queue: QueueConfig, number: str, now: float, *, source: str
) -> dict[str, Any] | Refused:
    """The store row asking for a callback of ``number`` in ``queue``, or why the number
    may not be called. Raises :class:`NoCallbacks` for a queue without callbacks."""
    if queue.callback is None:
        raise NoCallbacks(f"queue {queue.name!r} offers no callbacks")
    found = normalise(number, rules_of(queue.callback))
    if isinstance(found, Refused):
        return found
    return {
        "id": f"cb{secrets.token_hex(5)}",
        "queue": queue.name,
        "number": found.e164,
        "requested_at": now,
        "joined_at": now,
        "expires_at": now + queue.callback.expiry,
        "mode": queue.callback.mode,
        "state": SUBMITTED,
        "reason": f"submitted from {source}",
        "updated_at": now,
        "call_id": "",
    }


def cancel_row(row: dict[str, Any] | None, *, source: str) -> dict[str, Any] | None:
    """The row that cancels this callback (None: no such live callback): one the app has
    not taken yet is cancelled at once; a live one is marked for the app to cancel."""
    if row is None or row.get("state") in {state.value for state in FINAL}:
        return None
    if row.get("state") == SUBMITTED:
        return {**row, "state": CallbackState.CANCELLED.value, "reason": f"cancelled: {source}"}
    return {**row, "state": CANCEL_ASKED, "reason": source}


__all__ = ["NoCallbacks", "cancel_row", "submitted_row"]
