"""A small fake ARI server (aiohttp.web on 127.0.0.1) for the client's own tests.

It answers scripted REST replies, serves scripted event-socket sessions, checks Basic
auth like Asterisk does, and records every request line it receives so tests can
prove credentials never travel in a URL.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from aiohttp import WSCloseCode, web

from callflow.ari import AriConfig, Event, parse_event

USERNAME = "callflow"
PASSWORD = "s3cr3t-Pa55w0rd"
AUTH_TOKEN = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()

Frame = Mapping[str, Any] | str


@dataclass
class Received:
    """One request as the fake server saw it."""

    method: str
    path_qs: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Session:
    """What one event-socket connection does: send frames, then drop or stay open."""

    frames: list[Frame] = field(default_factory=list)
    then: Literal["stay", "close", "abort"] = "stay"
    hold: float = 0.0  # seconds to stay connected before ``then``


class FakeAri:
    """Fake Asterisk HTTP server: REST under /ari, events at /ari/events."""

    def __init__(self, *, apps: tuple[str, ...] = ("callflow",)) -> None:
        self.apps = apps
        self.received: list[Received] = []
        self.replies: dict[tuple[str, str], tuple[int, str]] = {}
        self.sessions: list[Session] = []
        self.handshake_failures: list[int] = []
        self.stall = asyncio.Event()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reply(self, method: str, path: str, status: int, body: object = None) -> None:
        """Answer ``method path`` (path without /ari) with ``status`` and a JSON body."""
        text = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
        self.replies[(method, path)] = (status, text)

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stall.set()
        for ws in self._sockets:
            await ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    async def _record(self, request: web.Request) -> None:
        self.received.append(
            Received(
                method=request.method,
                path_qs=request.path_qs,
                query=dict(request.query),
                headers=dict(request.headers),
                body=await request.read(),
            )
        )

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Basic {AUTH_TOKEN}"

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if not self._authorized(request):
            # Asterisk's 401 puts its reason under "error", not "message".
            return web.json_response({"error": "Authentication required"}, status=401)
        path = request.path.removeprefix("/ari")
        if (request.method, path) == ("GET", "/stall"):
            await self.stall.wait()
        status, text = self.replies.get(
            (request.method, path), (404, json.dumps({"message": "Resource not found"}))
        )
        if status == 204 or not text:
            return web.Response(status=status)
        return web.Response(status=status, text=text, content_type="application/json")

    async def _events(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        if not self._authorized(request):
            return web.json_response({"error": "Authentication required"}, status=401)
        apps = [a for a in request.query.get("app", "").split(",") if a]
        if not apps or any(app not in self.apps for app in apps):
            return web.json_response(
                {"message": "Invalid application provided in param 'app'."}, status=400
            )
        if self.handshake_failures:
            status = self.handshake_failures.pop(0)
            return web.json_response({"message": "Service Unavailable"}, status=status)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        session = self.sessions.pop(0) if self.sessions else Session()
        for frame in session.frames:
            await ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))
        if session.hold:
            await asyncio.sleep(session.hold)
        if session.then == "close":
            await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"going down")
        elif session.then == "abort":
            assert request.transport is not None
            request.transport.abort()
        else:
            async for _ in ws:
                pass
        return ws


def channel_json(channel_id: str, **extra: Any) -> dict[str, Any]:
    """A Channel JSON object shaped like Asterisk 22's."""
    return {
        "id": channel_id,
        "name": f"PJSIP/caller-{channel_id}",
        "state": "Ring",
        "protocol_id": "",
        "caller": {"name": "Alice", "number": "5551234"},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {
            "context": "from-pstn",
            "exten": "100",
            "priority": 2,
            "app_name": "Stasis",
            "app_data": "callflow",
        },
        "creationtime": "2025-01-02T10:00:00.000+0000",
        "language": "en",
        **extra,
    }


def event_json(event_type: str, **fields: Any) -> dict[str, Any]:
    """An ARI event frame with the common fields filled in."""
    return {
        "type": event_type,
        "application": "callflow",
        "timestamp": "2025-01-02T10:00:01.250+0000",
        "asterisk_id": "02:42:ac:11:00:02",
        **fields,
    }


def make_config(base_url: str, **overrides: Any) -> AriConfig:
    """Settings for a client of the fake: its credentials and short timeouts."""
    settings: dict[str, Any] = {
        "base_url": base_url,
        "username": USERNAME,
        "password": PASSWORD,
        "apps": ("callflow",),
        "request_timeout": 5.0,
        "backoff_initial": 0.05,
    }
    settings.update(overrides)
    return AriConfig(**settings)


def start_event(channel_id: str) -> Event:
    """A parsed StasisStart of a channel: a new call, or a leg's arrival."""
    return parse_event(event_json("StasisStart", args=[], channel=channel_json(channel_id)))


def dtmf_event(channel_id: str, digit: str) -> Event:
    """A parsed ChannelDtmfReceived: a key pressed on the channel."""
    return parse_event(
        event_json("ChannelDtmfReceived", digit=digit, channel=channel_json(channel_id))
    )


def end_event(channel_id: str) -> Event:
    """A parsed StasisEnd: the channel left the app."""
    return parse_event(event_json("StasisEnd", channel=channel_json(channel_id)))


def destroyed_event(channel_id: str) -> Event:
    """A parsed ChannelDestroyed, cause 16 (normal clearing)."""
    return parse_event(event_json("ChannelDestroyed", cause=16, channel=channel_json(channel_id)))
