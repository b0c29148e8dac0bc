"""The token every route asks for, checked in constant time, and never written anywhere.

Two ways to carry it:

- ``Authorization: Bearer <token>``: the JSON API and ``/metrics`` (scripts, Prometheus).
- The wallboard's cookie, for a browser: the page's login form posts the token once and gets
  back a cookie holding ``HMAC-SHA256(token, "callflow wallboard")``, ``HttpOnly``,
  ``SameSite=Strict``, path ``/wallboard``. A browser cannot put a header on a WebSocket,
  and a token in a URL ends up in logs and histories; the cookie is sent with the page's
  own WebSocket and nothing else, and is not the token itself (it opens the wallboard only,
  not the API). Changing the token invalidates every cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

COOKIE = "callflow_wallboard"
WALLBOARD_PATH = "/wallboard"
_COOKIE_PURPOSE = b"callflow wallboard"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def same_token(given: str, token: str) -> bool:
    """Whether ``given`` is the token, in time that does not depend on where they differ."""
    return hmac.compare_digest(given.encode(), token.encode())


def bearer(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def cookie_value(token: str) -> str:
    """What the wallboard cookie holds for this token."""
    return hmac.new(token.encode(), _COOKIE_PURPOSE, hashlib.sha256).hexdigest()


def has_wallboard_cookie(request: web.Request, token: str) -> bool:
    """Whether the request carries the wallboard cookie of this token."""
    given = request.cookies.get(COOKIE, "")
    return hmac.compare_digest(given.encode(), cookie_value(token).encode())


def unauthorized(message: str) -> web.Response:
    """A 401 saying what was wrong, never echoing what was sent."""
    return web.Response(
        status=401,
        text=json.dumps({"error": "unauthorized", "message": message}),
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="callflow"'},
    )


def token_middleware(token: str) -> Middleware:
    """Refuse every request without the token (the wallboard's paths check their cookie
    themselves: its login form must be reachable)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == WALLBOARD_PATH or request.path.startswith(WALLBOARD_PATH + "/"):
            return await handler(request)
        given = bearer(request)
        if given is None:
            return unauthorized("this route needs 'Authorization: Bearer <token>'")
        if not same_token(given, token):
            return unauthorized("wrong token")
        return await handler(request)

    return check
