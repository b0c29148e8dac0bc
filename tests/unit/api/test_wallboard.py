"""The wallboard over HTTP: the login form and its cookie, a full board on connect, a push
on change, debounced, and nothing sent when nothing changed."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from callflow.api import auth, wallboard
from callflow.api.server import ApiServer
from callflow.queue.live import QueueService
from callflow.queue.routing import QueueEntry
from callflow.store import SqliteStore
from tests.unit.api.conftest import TOKEN, Clock


async def logged_in(base: str) -> aiohttp.ClientSession:
    # unsafe: aiohttp's jar keeps no cookie of an IP address otherwise (browsers do).
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.post(base + "/wallboard/login", data={"token": TOKEN}) as response:
        assert response.status == 200  # after the redirect, the page
        assert response.url.path == "/wallboard"
        assert 'data-authorised="yes"' in await response.text()
    return session


async def next_board(ws: aiohttp.ClientWebSocketResponse, timeout: float = 3.0) -> Any:
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    return json.loads(message.data)


async def test_the_page_asks_for_the_token_and_a_wrong_one_is_refused(
    base: str, anonymous: aiohttp.ClientSession
) -> None:
    """Without the cookie, the page is the login form (401); a wrong token sets no cookie."""
    async with anonymous.get(base + "/wallboard") as response:
        assert response.status == 401
        page = await response.text()
        assert 'data-authorised="no"' in page and 'action="/wallboard/login"' in page
        assert "connect-src 'self' ws://" in response.headers["Content-Security-Policy"]
    async with anonymous.post(base + "/wallboard/login", data={"token": "wrong"}) as response:
        assert response.url.query.get("wrong") == "1"
    assert not anonymous.cookie_jar.filter_cookies(base + "/wallboard")
    try:
        async with anonymous.ws_connect(base + "/wallboard/ws"):
            raise AssertionError("connected without the cookie")
    except aiohttp.WSServerHandshakeError as exc:
        assert exc.status == 401


async def test_login_sets_an_http_only_strict_cookie_that_is_not_the_token(base: str) -> None:
    """The cookie is HttpOnly, SameSite=Strict, scoped to /wallboard, derived from the token."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            base + "/wallboard/login", data={"token": TOKEN}, allow_redirects=False
        ) as response,
    ):
        assert response.status == 303
        cookie = response.cookies[auth.COOKIE]
        assert cookie.value == auth.cookie_value(TOKEN) != TOKEN
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        assert cookie["path"] == "/wallboard"


async def test_a_socket_gets_the_board_at_once_then_each_change(
    server: ApiServer, base: str, queues: QueueService, store: SqliteStore, clock: Clock
) -> None:
    """The full board on connect; a caller joining (queue.enter in the log) is pushed."""
    session = await logged_in(base)
    async with session, session.ws_connect(base + "/wallboard/ws") as ws:
        first = await next_board(ws)
        assert [q["name"] for q in first["queues"]] == ["support", "sales"]
        assert first["queues"][0]["waiting"] == 0
        queues.router.join(QueueEntry("c1", "support", "+1", joined_at=clock.now), clock.now)
        store.append("queue.enter", "c1", {"queue": "support", "position": 1})
        pushed = await next_board(ws)
        assert pushed["queues"][0]["waiting"] == 1


async def test_a_socket_from_another_origin_is_refused(base: str) -> None:
    """Cross-site WebSocket hijacking: the cookie alone does not do it from elsewhere."""
    session = await logged_in(base)
    async with session:
        try:
            async with session.ws_connect(
                base + "/wallboard/ws", headers={"Origin": "http://evil.example"}
            ):
                raise AssertionError("connected from another origin")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403


async def test_a_burst_of_changes_is_sent_at_most_twice_a_second(
    server: ApiServer, base: str, queues: QueueService, store: SqliteStore, clock: Clock
) -> None:
    """Twenty callers joining within a second make at most a few updates, the last one
    showing all twenty; with nothing changing after, nothing more is sent."""
    session = await logged_in(base)
    async with session, session.ws_connect(base + "/wallboard/ws") as ws:
        await next_board(ws)
        started = time.monotonic()
        for i in range(20):
            queues.router.join(QueueEntry(f"c{i}", "support", "+1", joined_at=clock.now), clock.now)
            store.append("queue.enter", f"c{i}", {"queue": "support"})
            await asyncio.sleep(0.05)
        boards = []
        while True:
            try:
                boards.append(await next_board(ws, timeout=1.5))
            except TimeoutError:
                break
        elapsed = time.monotonic() - started
        assert boards and boards[-1]["queues"][0]["waiting"] == 20
        assert len(boards) <= elapsed * wallboard.MAX_RATE + 1
        store.append("queue.announce", "c1", {"queue": "support"})  # changes no figure
        try:
            extra = await next_board(ws, timeout=1.2)
        except TimeoutError:
            extra = None
        assert extra is None
