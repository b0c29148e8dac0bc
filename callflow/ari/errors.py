"""The exceptions callflow's ARI client raises; nothing foreign leaves the package.

Every error that crosses the boundary between callflow and Asterisk is translated
where it enters (``raise ... from exc``), so callers catch one tree::

    AriError
    ├── AsteriskUnreachable       connection refused, DNS failure, timeout, socket dropped
    ├── InvalidResponse           Asterisk answered something that is not ARI JSON
    ├── EventStreamClosed         the event WebSocket closed under us (retryable)
    └── AriHttpError              Asterisk answered with an error status
        ├── BadRequest            400 missing/invalid parameter, unknown app name
        │   └── ChannelGone       400 "Channel not found" in a bridge's request (also a NotFound)
        ├── AuthenticationFailed  401 / 403 wrong credentials or read-only user
        ├── NotFound              404 channel, bridge, playback ... does not exist
        ├── Conflict              409 resource in the wrong place
        │   └── NotInStasis       409 the channel or bridge is not in a Stasis app
        ├── InvalidState          412 precondition failed (e.g. channel not answered)
        ├── Unprocessable         422 a referenced resource is missing or not in Stasis
        └── ServerError           5xx Asterisk failed internally

Messages carry the HTTP method, the path and Asterisk's own ``message``; never a
URL with a query string and never a credential.
"""

from __future__ import annotations

__all__ = [
    "AriError",
    "AriHttpError",
    "AsteriskUnreachable",
    "AuthenticationFailed",
    "BadRequest",
    "ChannelGone",
    "Conflict",
    "EventStreamClosed",
    "InvalidResponse",
    "InvalidState",
    "NotFound",
    "NotInStasis",
    "ServerError",
    "Unprocessable",
    "error_for_status",
]


class AriError(Exception):
    """Root of every error raised by :mod:`callflow.ari`."""


class AsteriskUnreachable(AriError):
    """Asterisk could not be reached: refused, unresolvable, timed out or dropped."""


class InvalidResponse(AriError):
    """Asterisk answered with a body that is not the JSON ARI documents."""


class EventStreamClosed(AriError):
    """The event WebSocket closed; Asterisk dropped events while we were away."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class AriHttpError(AriError):
    """Asterisk answered a request with an error status.

    ``message`` is the ``message`` field of Asterisk's JSON error body (or its
    ``error`` field, which the 401 answer uses), ``status`` the HTTP status.
    """

    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}{status} {message}".strip())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, "
            f"method={self.method!r}, path={self.path!r})"
        )


class BadRequest(AriHttpError):
    """400: a parameter is missing or invalid (also: an invalid app name on connect)."""


class AuthenticationFailed(AriHttpError):
    """401 / 403: the ARI user or password is wrong, or the user is read-only."""


class NotFound(AriHttpError):
    """404: the addressed channel, bridge, playback, recording... does not exist."""


class ChannelGone(BadRequest, NotFound):
    """400 "Channel not found": a bridge's addChannel or removeChannel named a channel that
    no longer exists. resource_bridges.c answers 400 for a channel of the request, not 404
    (the bridge of the path), so this is both: a bad request, and a channel not found (a
    caller who hung up a moment before)."""


class Conflict(AriHttpError):
    """409: the resource exists but is not where the operation needs it."""


class NotInStasis(Conflict):
    """409: the channel or bridge is not (or no longer) in a Stasis application."""


class InvalidState(AriHttpError):
    """412: precondition failed, e.g. the channel is not answered or already playing."""


class Unprocessable(AriHttpError):
    """422: a resource named in the request is missing or not in Stasis."""


class ServerError(AriHttpError):
    """5xx: Asterisk failed internally (or is shutting down)."""


_BY_STATUS: dict[int, type[AriHttpError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: AuthenticationFailed,
    404: NotFound,
    409: Conflict,
    412: InvalidState,
    422: Unprocessable,
}


def error_for_status(
    status: int, message: str, *, method: str = "", path: str = ""
) -> AriHttpError:
    """Build the exception that matches an ARI error status and Asterisk's message."""
    cls: type[AriHttpError]
    if status == 409 and "not in stasis" in message.lower():
        # Asterisk has no distinct status for "not in Stasis": resource_channels.c and
        # resource_bridges.c answer 409 "Channel not in Stasis application"; other 409s
        # mean "already exists". Only the message tells them apart.
        cls = NotInStasis
    elif status == 400 and message.lower() == "channel not found":
        cls = ChannelGone
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, AriHttpError)
    return cls(status, message, method=method, path=path)
