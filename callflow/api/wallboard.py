"""The live wallboard: one static page, and a WebSocket that pushes each queue's figures.

The page (``static/wallboard.html``, plain HTML and JavaScript, no build step) opens
``/wallboard/ws`` and gets a full snapshot at once, then a new one whenever something on the
board changed: the :class:`Board` is woken by the event log as it is written (queue events,
agent states, callbacks), waits out the rest of its debounce (at most :data:`MAX_RATE`
updates a second, whatever the traffic), and sends only when the figures differ from the
last ones sent. Waits count up in the browser between updates, so a caller's growing wait
costs no message. Nothing polls: not the browser, not the server.

"SL today" and "abandon rate today" are :mod:`callflow.kpi`'s figures since midnight on this
machine's clock, brought up to date off the loop when a caller leaves a queue, at most every
:data:`KPI_EVERY` seconds, from the events written since the last time
(:class:`callflow.api.kpis.Today`): never the whole day's log again.

Authentication: the page's login form posts the token and gets the wallboard cookie
(:mod:`callflow.api.auth`); the WebSocket is refused without it (and from another origin).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web

from callflow.api import auth, views
from callflow.api.kpis import EventSource, Today
from callflow.queue.live import QueueService

log = logging.getLogger(__name__)

MAX_RATE = 2.0
"""Updates a second, at most, to each page."""
KPI_EVERY = 5.0
"""Seconds between two computations of today's KPIs, at least."""
REFRESH = 60.0
"""Seconds after which the board is looked at again even if nothing woke it (midnight)."""
_KPI_KINDS = ("queue.connect", "queue.abandon", "queue.exit", "queue.complete", "callback.")
_BOARD_KINDS = ("queue.", "agent.", "callback.")


def page() -> str:
    """The wallboard's HTML."""
    return resources.files("callflow.api").joinpath("static/wallboard.html").read_text()


class Board:
    """The figures every open wallboard shows, and the sockets they go to."""

    def __init__(
        self,
        queues: QueueService | None,
        store: EventSource,
        *,
        tz: dt.tzinfo | None = None,
        wall: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.queues = queues
        self.store = store
        self.tz = tz or dt.datetime.now().astimezone().tzinfo or dt.UTC
        self.wall = wall or (lambda: dt.datetime.now(dt.UTC))
        self.sockets: set[web.WebSocketResponse] = set()
        self.sent = 0  # snapshots broadcast (tests and the debug log)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._today: dict[str, dict[str, Any]] = {}
        self._kpis = Today(self.tz)
        self._kpis_due = True
        self._kpis_at = 0.0
        self._last: list[Any] | None = None

    # --- what wakes it ---------------------------------------------------------------

    def on_event(self, kind: str, data: Mapping[str, Any]) -> None:
        """An event was appended to the log (an EventTap listener; any thread)."""
        if kind.startswith(_KPI_KINDS):
            self._kpis_due = True
        if kind.startswith(_BOARD_KINDS):
            self.poke()

    def poke(self) -> None:
        """Something may have changed: look again (thread-safe)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    # --- what it shows ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The board now: each queue's live figures and its KPIs today."""
        board: list[views.QueueView] = []
        agents: dict[str, int] = {}
        if self.queues is not None:
            router = self.queues.router
            board = views.queue_views(router, self.queues.clock())
            agents = views.agents_by_state(router)
        return {
            "type": "board",
            "at": self.wall().isoformat(),
            "queues": [{**q, "today": self._today.get(q["name"], {})} for q in board],
            "agents": agents,
            "today": self._today.get("*", {}),
        }

    def _key(self, snapshot: Mapping[str, Any]) -> list[Any]:
        return [views.board_key(snapshot["queues"]), snapshot["agents"], snapshot["today"]]

    async def _refresh_kpis(self) -> None:
        wait = self._kpis_at + KPI_EVERY - time.monotonic()
        if wait > 0:  # too soon: come back then
            asyncio.get_running_loop().call_later(wait, self._wake.set)
            return
        self._kpis_due = False
        self._kpis_at = time.monotonic()
        try:
            self._today = await asyncio.to_thread(self._kpis.figures, self.store, self.wall())
        except Exception:
            log.exception("wallboard: today's KPIs could not be computed")

    # --- pushing ---------------------------------------------------------------------

    async def run(self) -> None:
        """Forever: wait to be woken, then send the board if it changed; at most
        :data:`MAX_RATE` times a second."""
        self._loop = asyncio.get_running_loop()
        day = None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), REFRESH)
            self._wake.clear()
            if (now_day := self.wall().astimezone(self.tz).date()) != day:
                day, self._kpis_due = now_day, True
            if self._kpis_due:
                await self._refresh_kpis()
            snapshot = self.snapshot()
            key = self._key(snapshot)
            if key != self._last and self.sockets:
                self._last = key
                self.sent += 1
                await self._broadcast(snapshot)
            elif not self.sockets:
                self._last = None
            await asyncio.sleep(1.0 / MAX_RATE)

    async def _broadcast(self, snapshot: Mapping[str, Any]) -> None:
        text = json.dumps(snapshot)
        for socket in list(self.sockets):
            try:
                await socket.send_str(text)
            except (ConnectionError, RuntimeError):
                self.sockets.discard(socket)

    async def close(self) -> None:
        """Close every open page's socket."""
        for socket in list(self.sockets):
            await socket.close(code=1001, message=b"callflow stopping")
        self.sockets.clear()

    # --- the routes ------------------------------------------------------------------

    def routes(self, token: str) -> list[web.RouteDef]:
        """The page, its login form and its WebSocket."""

        async def show(request: web.Request) -> web.StreamResponse:
            authorised = auth.has_wallboard_cookie(request, token)
            ws = f"{'wss' if request.secure else 'ws'}://{request.host}"
            return web.Response(
                text=page().replace("__AUTHORISED__", "yes" if authorised else "no"),
                content_type="text/html",
                status=200 if authorised else 401,
                headers={**_PAGE_HEADERS, "Content-Security-Policy": _CSP.format(ws=ws)},
            )

        async def login(request: web.Request) -> web.StreamResponse:
            form = await request.post()
            given = form.get("token")
            if not isinstance(given, str) or not auth.same_token(given, token):
                raise web.HTTPSeeOther(f"{auth.WALLBOARD_PATH}?wrong=1")
            response = web.HTTPSeeOther(auth.WALLBOARD_PATH)
            response.set_cookie(
                auth.COOKIE,
                auth.cookie_value(token),
                path=auth.WALLBOARD_PATH,
                httponly=True,
                samesite="Strict",
                secure=request.secure,
            )
            raise response

        async def socket(request: web.Request) -> web.StreamResponse:
            if not auth.has_wallboard_cookie(request, token):
                return auth.unauthorized("log in on the wallboard page first")
            origin = request.headers.get("Origin")
            if origin is not None and origin != f"{request.scheme}://{request.host}":
                return web.Response(status=403, text="wrong origin")
            ws = web.WebSocketResponse(heartbeat=30.0)
            await ws.prepare(request)
            await ws.send_str(json.dumps(self.snapshot()))  # the full board at once
            self.sockets.add(ws)
            try:
                async for message in ws:  # the page sends nothing; this waits for the close
                    if message.type == WSMsgType.ERROR:
                        break
            finally:
                self.sockets.discard(ws)
            return ws

        return [
            web.get(auth.WALLBOARD_PATH, show),
            web.post(auth.WALLBOARD_PATH + "/login", login),
            web.get(auth.WALLBOARD_PATH + "/ws", socket),
        ]


_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self' {ws}; form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
