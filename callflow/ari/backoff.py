"""The reconnect policy: how long to wait between attempts, and which failures to retry.

Both halves are plain functions over plain data, so tests drive them without a
socket. Model: python-websockets ``client.py`` (``backoff``, ``process_exception``),
with "full jitter" (a uniform draw below the exponential ceiling) so that many
callflow workers restarted together do not reconnect to Asterisk in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from .errors import (
    AriError,
    AsteriskUnreachable,
    AuthenticationFailed,
    BadRequest,
    EventStreamClosed,
    NotFound,
    ServerError,
)

__all__ = ["backoff", "process_exception"]


def backoff(
    initial: float = 0.5,
    maximum: float = 30.0,
    factor: float = 2.0,
    *,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Yield reconnect delays in seconds: exponential ceilings, full jitter, capped.

    The n-th delay is drawn uniformly from ``[0, min(maximum, initial * factor**n))``
    so no delay ever exceeds ``maximum``. The generator is endless; start a fresh one
    after each successful connection.
    """
    if not 0 < initial <= maximum or factor < 1:
        raise ValueError("backoff needs 0 < initial <= maximum and factor >= 1")
    ceiling = initial
    while True:
        yield rng() * ceiling
        ceiling = min(maximum, ceiling * factor)


def process_exception(exc: AriError) -> AriError | None:
    """Decide what a failed or dropped event connection means.

    Return ``None`` when reconnecting with the same settings could succeed: Asterisk
    unreachable or restarting, or the socket closed under us. While Asterisk 22 starts,
    ``GET /ari/events`` answers 404 (res_ari has not registered its handler yet) for up to
    a couple of seconds, then 503, then 101: both statuses are retried. Return the error
    to raise otherwise: wrong credentials (401/403) and an app name Asterisk refuses
    (400) will fail the same way forever, so they reach the caller at once.
    """
    if isinstance(exc, (AsteriskUnreachable, EventStreamClosed, ServerError, NotFound)):
        return None
    if isinstance(exc, AuthenticationFailed):
        return AuthenticationFailed(
            exc.status,
            f"Asterisk rejected the ARI credentials ({exc.message}); check the user in ari.conf",
            method=exc.method,
            path=exc.path,
        )
    if isinstance(exc, BadRequest):
        return BadRequest(
            exc.status,
            f"Asterisk refused the event subscription ({exc.message}); check the Stasis app names",
            method=exc.method,
            path=exc.path,
        )
    return exc
