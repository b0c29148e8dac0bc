"""The retry policies: how long to wait between attempts, and which failures to retry.

The event socket reconnects (:func:`backoff`, :func:`process_exception`); a REST request is
sent again only when doing it twice is the same as doing it once (:func:`retry_request`).
All are plain functions over plain data, so tests drive them without a socket.
Model: python-websockets ``client.py`` (``backoff``, ``process_exception``), with "full
jitter" (a uniform draw below the exponential ceiling) so that many callflow workers
restarted together do not reconnect to Asterisk in lockstep.
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

__all__ = ["REQUEST_RETRY_DELAYS", "backoff", "process_exception", "retry_request"]

REQUEST_RETRY_DELAYS = (0.05, 0.25)
"""Seconds before the 2nd and 3rd try of a request :func:`retry_request` allows; each try is
bounded by ``request_timeout``, so a request gives up after at most 3 timeouts and 0.3 s."""

# The commands whose repetition changes nothing, by (method, last path segment or resource).
# Answering an answered channel, setting a variable or MOH again, or deleting what is gone
# (a 404 on the retry: the first try did it) end in the same state.
_SAME_TWICE = {
    ("POST", "answer"),
    ("POST", "variable"),
    ("POST", "moh"),
    ("DELETE", "moh"),
    ("DELETE", "channels"),
    ("DELETE", "bridges"),
    ("DELETE", "playbacks"),
}


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


def retry_request(method: str, path: str, exc: AriError) -> bool:
    """Whether a failed REST request may be sent again as it is.

    Only transient failures are retried: a 5xx, or Asterisk unreachable / too slow (which
    includes the request timeout). And only requests whose repetition is harmless: every
    ``GET``, and the commands of ``_SAME_TWICE`` (answer, set a variable, start or stop music
    on hold, hang up, destroy a bridge, stop a playback). Never retried, because a second try
    could act twice when the first one acted before failing: originate (a second call),
    play and record (heard or recorded twice), continue (a second dialplan jump), adding or
    removing bridge channels, creating a bridge, user events. Those fail to their caller,
    which ends the call cleanly, unless their effect can be read back by the id the caller
    gave (rest.py ``_checked``): a play with a ``playback_id`` or a bridge with a
    ``bridge_id`` found is done (its lost answer replaced by the read), not found is sent
    again (3 tries at most); an originate with a ``channel_id`` found is done, not found
    stays failed (it may have rung already).
    """
    if not isinstance(exc, ServerError | AsteriskUnreachable):
        return False
    if method == "GET":
        return True
    segments = [s for s in path.split("/") if s]
    if not segments:
        return False
    if method == "DELETE" and len(segments) == 2:
        return (method, segments[0]) in _SAME_TWICE
    return (method, segments[-1]) in _SAME_TWICE and len(segments) == 3


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
