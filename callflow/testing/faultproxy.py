"""A fault-injecting HTTP and WebSocket proxy to put in front of a real Asterisk's ARI.

callflow is pointed at the proxy's ``base_url`` instead of Asterisk's; the proxy relays every
REST request and the event WebSocket to the real Asterisk, and on the way injects what
:class:`Faults` says: a share of REST requests answered 500/503 (either *before* reaching
Asterisk, so nothing happened, or *after* it, so Asterisk acted and the answer was lost), and
a delay before relaying (all requests, or those :attr:`Faults.only` picks). The event socket is
relayed as it is (a dropped upstream drops the downstream), so Asterisk's real events arrive.

It is a test and bench tool (loopback only); it never fakes Asterisk's answers beyond the
injected statuses. Counters in :attr:`FaultProxy.seen` say what was done to how many requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

import aiohttp
from aiohttp import web

__all__ = ["FaultProxy", "Faults"]

_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass(frozen=True)
class Faults:
    """What the proxy does to REST requests (the event socket is never faulted)."""

    error_share: float = 0.0  # share of requests answered ``error_status``
    error_status: int = 503
    errors_after: bool = False  # relay first (Asterisk acts), then answer the error
    delay: float = 0.0  # seconds to wait before relaying
    only: Callable[[str, str], bool] | None = field(default=None, compare=False)
    """Faults apply to requests ``only(method, path)`` accepts (all without it)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_share <= 1.0:
            raise ValueError("error_share is a share: between 0 and 1")
        if self.error_status < 500 or self.delay < 0:
            raise ValueError("error_status must be a 5xx and delay >= 0")


class FaultProxy:
    """``async with FaultProxy("http://127.0.0.1:8088") as proxy:`` then use
    ``proxy.base_url`` as ARI's URL; change ``proxy.faults`` at any time."""

    def __init__(self, target: str, faults: Faults | None = None, *, seed: int = 0) -> None:
        self.target = target.rstrip("/")
        self.faults = faults or Faults()
        self.seen: Counter[str] = Counter()  # requests, errors, delayed, sockets
        self._draw = random.Random(seed)  # noqa: S311 (fault injection, not security)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            auto_decompress=False, timeout=aiohttp.ClientTimeout(total=None)
        )
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _applies(self, request: web.Request) -> bool:
        only = self.faults.only
        return only is None or only(request.method, request.path.removeprefix("/ari"))

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        faults = self.faults
        self.seen["requests"] += 1
        faulted = self._applies(request)
        if faulted and faults.delay:
            self.seen["delayed"] += 1
            await asyncio.sleep(faults.delay)
        fail = faulted and self._draw.random() < faults.error_share
        if fail and not faults.errors_after:
            return self._error(request, "before")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            async with self._session.request(
                request.method,
                self.target + request.path_qs,
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as upstream:
                body = await upstream.read()
                status = upstream.status
                content_type = upstream.headers.get("Content-Type")
        except (aiohttp.ClientError, OSError):
            self.seen["unreachable"] += 1
            return web.json_response({"message": "Asterisk unreachable (proxy)"}, status=502)
        if fail:
            return self._error(request, "after")
        response = web.Response(status=status, body=body)
        if content_type:
            response.headers["Content-Type"] = content_type
        return response

    def _error(self, request: web.Request, when: str) -> web.Response:
        status = self.faults.error_status
        self.seen[f"errors_{when}"] += 1
        self.seen[f"errors {request.method} {_kind(request.path)}"] += 1
        return web.json_response({"message": f"injected {status} ({when})"}, status=status)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        headers = {"Authorization": request.headers.get("Authorization", "")}
        url = self.target.replace("http", "ws", 1) + request.path_qs
        try:
            upstream = await self._session.ws_connect(url, headers=headers, heartbeat=None)
        except aiohttp.WSServerHandshakeError as exc:
            return web.json_response({"message": exc.message}, status=exc.status)
        except (aiohttp.ClientError, OSError):
            return web.json_response({"message": "Asterisk unreachable (proxy)"}, status=503)
        downstream = web.WebSocketResponse(heartbeat=None)
        await downstream.prepare(request)
        self._sockets.add(downstream)
        self.seen["sockets"] += 1
        try:
            await _pump_both(upstream, downstream)
        finally:
            self._sockets.discard(downstream)
            await upstream.close()
            await downstream.close()
        return downstream


async def _pump_both(
    upstream: aiohttp.ClientWebSocketResponse, downstream: web.WebSocketResponse
) -> None:
    async def down() -> None:
        async for message in upstream:
            if message.type == aiohttp.WSMsgType.TEXT:
                await downstream.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await downstream.send_bytes(message.data)

    async def up() -> None:
        async for message in downstream:
            if message.type == aiohttp.WSMsgType.TEXT:
                await upstream.send_str(message.data)

    tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _kind(path: str) -> str:
    """A request's kind for the counters: ids left out (``/channels/*/play``)."""
    parts = [p for p in path.removeprefix("/ari").split("/") if p]
    if len(parts) >= 2:
        parts[1] = "*"
    return "/" + "/".join(parts)
