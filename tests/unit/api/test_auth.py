"""Every route asks for the token: none or a wrong one is a 401 that echoes nothing."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from callflow.api import auth
from tests.unit.api.conftest import TOKEN

ROUTES = [
    ("GET", "/api/openapi.yaml"),
    ("GET", "/api/queues"),
    ("GET", "/api/queues/support"),
    ("GET", "/api/queues/support/callers"),
    ("GET", "/api/callers"),
    ("GET", "/api/agents"),
    ("GET", "/api/agents/alice"),
    ("POST", "/api/agents/alice"),
    ("GET", "/api/callbacks"),
    ("POST", "/api/callbacks"),
    ("DELETE", "/api/callbacks/cb1"),
    ("GET", "/api/campaigns"),
    ("GET", "/api/kpis"),
    ("GET", "/metrics"),
    ("GET", "/api/no-such-route"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_refuses_a_missing_or_wrong_token(
    base: str, anonymous: aiohttp.ClientSession, method: str, path: str
) -> None:
    """No Authorization header, a wrong token, another scheme: 401, with a Bearer challenge,
    and an answer that does not repeat what was sent."""
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token-0123456789"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ):
        async with anonymous.request(method, base + path, headers=headers, json={}) as response:
            body = await response.json()
            assert response.status == 401, (method, path, headers)
            assert response.headers["WWW-Authenticate"] == 'Bearer realm="callflow"'
            assert body["error"] == "unauthorized"
            assert TOKEN not in await response.text()


async def test_the_401_answers_as_a_supervisor_sees_them(
    base: str, anonymous: aiohttp.ClientSession
) -> None:
    """What curl would show for no token and for a wrong one."""
    for headers in ({}, {"Authorization": "Bearer not-the-token-at-all"}):
        async with anonymous.get(base + "/api/queues", headers=headers) as response:
            print(response.status, response.reason, dict(response.headers)["WWW-Authenticate"])
            print(await response.text())
            assert response.status == 401


async def test_the_right_token_opens_every_read_route(
    base: str, client: aiohttp.ClientSession
) -> None:
    """With the token, the same routes answer."""
    for method, path in ROUTES:
        if method != "GET" or path.endswith("no-such-route"):
            continue
        async with client.get(base + path) as response:
            assert response.status == 200, (path, response.status, await response.text())


async def test_the_token_never_reaches_the_log(
    base: str, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Requests with the right and a wrong token log nothing that holds either."""
    caplog.set_level(logging.DEBUG)
    async with client.get(base + "/api/queues") as response:
        assert response.status == 200
    async with client.get(base + "/api/queues", headers={"Authorization": "Bearer nope"}):
        pass
    assert TOKEN not in caplog.text
    assert "nope" not in caplog.text


def test_tokens_are_compared_whole() -> None:
    """A prefix, a longer string or another case is not the token."""
    assert auth.same_token(TOKEN, TOKEN)
    for other in (TOKEN[:-1], TOKEN + "0", TOKEN.upper(), ""):
        assert not auth.same_token(other, TOKEN)


def test_the_wallboard_cookie_is_not_the_token() -> None:
    """The cookie is derived from the token: it opens the wallboard, never the API."""
    assert auth.cookie_value(TOKEN) != TOKEN
    assert TOKEN not in auth.cookie_value(TOKEN)
    assert auth.cookie_value(TOKEN) != auth.cookie_value(TOKEN + "x")


async def test_the_wallboard_cookie_does_not_open_the_api(base: str) -> None:
    """Only the Bearer header opens /api and /metrics."""
    cookies = {auth.COOKIE: auth.cookie_value(TOKEN)}
    async with aiohttp.ClientSession(cookies=cookies) as session:
        for path in ("/api/queues", "/metrics"):
            async with session.get(base + path) as response:
                assert response.status == 401
