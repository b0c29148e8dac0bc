"""The server's life: a port already taken is one clear error, and stopping closes the
wallboards' sockets."""

from __future__ import annotations

import aiohttp
import pytest

from callflow.api.server import ApiServer, ApiServerError
from callflow.api.settings import ApiSettings
from callflow.queue.live import QueueService
from callflow.store import SqliteStore
from tests.unit.api.conftest import TOKEN, FakeService


async def test_a_port_already_taken_is_one_clear_error(
    server: ApiServer, store: SqliteStore, queues: QueueService
) -> None:
    """A second server on the first one's port says which address it could not take."""
    second = ApiServer(
        ApiSettings(port=server.port or 0, token=TOKEN),
        store=store,
        queues=queues,
        service=FakeService(),
    )
    with pytest.raises(ApiServerError, match=f"cannot listen on 127.0.0.1:{server.port}"):
        await second.start()
    await second.stop()


async def test_stopping_closes_the_open_wallboards(server: ApiServer, base: str) -> None:
    """An open page's socket is closed (1001, going away) when callflow stops."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        await session.post(base + "/wallboard/login", data={"token": TOKEN})
        async with session.ws_connect(base + "/wallboard/ws") as ws:
            await ws.receive(timeout=3)
            await server.stop()
            message = await ws.receive(timeout=3)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert ws.close_code == 1001
