"""The ARI REST client: typed async calls on channels, bridges, playbacks and friends.

One :class:`aiohttp.ClientSession` per client, Basic auth on the session (never in a
URL), every failure translated into :mod:`callflow.ari.errors`. Parameters go in the
query string as ARI documents them, booleans as ``true``/``false``; only ``variables``
travel in a JSON body, which is where ARI reads them for originate and user events.

Only the calls callflow makes are here. tests/unit/ari/test_ari_rest_swagger.py checks each
one's path, HTTP method and parameters against the API description Asterisk 22 ships, so
bringing back one that a feature needs (git has them all) is checked the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from .backoff import REQUEST_RETRY_DELAYS, retry_request
from .config import AriConfig
from .errors import (
    AriError,
    AsteriskUnreachable,
    InvalidResponse,
    NotFound,
    ServerError,
    error_for_status,
)
from .models import (
    Application,
    AsteriskInfo,
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    Snapshot,
)

__all__ = [
    "Applications",
    "AriClient",
    "AsteriskResource",
    "Bridges",
    "Channels",
    "Events",
    "Playbacks",
    "Recordings",
    "RequestTiming",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

QueryValue = str | int | float | bool | Sequence[str] | None


@dataclass(frozen=True, slots=True)
class RequestTiming:
    """One try of one request, as :attr:`AriClient.on_request` is told of it."""

    method: str
    path: str  # relative to /ari, quoted
    params: Mapping[str, QueryValue] | None
    sent_at: float  # time.time() as it was sent: Asterisk's event timestamps are wall time
    seconds: float  # from sent until answered, or until it failed
    status: int | None  # None: no answer (Asterisk unreachable, or no answer in time)


HangupReason = Literal[
    "normal",
    "busy",
    "congestion",
    "no_answer",
    "timeout",
    "rejected",
    "unallocated",
    "normal_unspecified",
    "number_incomplete",
    "codec_mismatch",
    "interworking",
    "failure",
    "answered_elsewhere",
]
IfExists = Literal["fail", "overwrite", "append"]
TerminateOn = Literal["none", "any", "*", "#"]
BridgeRole = str
InfoPart = Literal["build", "system", "config", "status"]


def _query(params: Mapping[str, QueryValue]) -> dict[str, str]:
    """Render ARI query parameters: drop None, booleans as true/false, lists comma-joined."""
    rendered: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            rendered[key] = "true" if value else "false"
        elif isinstance(value, str):
            rendered[key] = value
        elif isinstance(value, int | float):
            rendered[key] = str(value)
        else:
            # ARI splits allowMultiple parameters (media, channel, eventSource) on commas.
            rendered[key] = ",".join(value)
    return rendered


def _args(app_args: str | Sequence[str] | None) -> str | None:
    if app_args is None or isinstance(app_args, str):
        return app_args
    return ",".join(app_args)


def _variables(variables: Mapping[str, str] | None) -> dict[str, Any] | None:
    return {"variables": dict(variables)} if variables else None


def _path(*segments: str) -> str:
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def _list(data: object, kind: str) -> list[Any]:
    if not isinstance(data, list):
        raise InvalidResponse(f"expected a JSON list of {kind}, got {type(data).__name__}")
    return data


def _value(data: object) -> str:
    if isinstance(data, Mapping) and isinstance(data.get("value"), str):
        return str(data["value"])
    raise InvalidResponse("expected a Variable JSON object with a 'value'")


def _error_message(text: str, reason: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return reason
    if isinstance(body, Mapping):
        # Asterisk puts the reason in "message"; its 401 answer uses "error".
        for key in ("message", "error"):
            if isinstance(body.get(key), str):
                return str(body[key])
    return reason


MAX_CONNECTIONS = 64
"""HTTP connections one client opens to Asterisk at most; more requests at once wait for one.

Asterisk's HTTP server closes sessions beyond its ``sessionlimit`` (100 by default; the
sandbox and the Docker image set 1000): aiohttp's own default pool of 100, plus the event
socket, went past it under load and requests failed with ``ServerDisconnectedError``."""


class AriClient:
    """An ARI REST client; use ``async with AriClient(config) as client:``.

    Resources hang off the client: ``client.channels.answer(channel_id)``,
    ``client.bridges.add_channel(bridge_id, channel_id)``...
    """

    def __init__(self, config: AriConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        self.on_request: Callable[[RequestTiming], None] | None = None
        """Told of every try of every request once it is answered or has failed (a
        meter, :class:`callflow.ari.latency.LatencyMeter`); it must not block."""
        self.channels = Channels(self)
        self.bridges = Bridges(self)
        self.playbacks = Playbacks(self)
        self.recordings = Recordings(self)
        self.applications = Applications(self)
        self.events = Events(self)
        self.asterisk = AsteriskResource(self)

    def __repr__(self) -> str:
        return f"AriClient(base_url={self.config.base_url!r}, apps={self.config.apps!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session; the client can be reopened by the next request."""
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Created lazily: aiohttp wants its session built inside the running loop.
            # A default header rather than auth=BasicAuth, deprecated since aiohttp 3.14.
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
                timeout=aiohttp.ClientTimeout(
                    total=self.config.request_timeout, connect=self.config.connect_timeout
                ),
                headers={
                    "Accept": "application/json",
                    "Authorization": self.config.authorization(),
                },
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, QueryValue] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one ARI request and return its decoded JSON (None for an empty answer).

        ``path`` is relative to ``/ari`` and already quoted. Raises an
        :class:`~callflow.ari.errors.AriHttpError` subclass for an error status and
        :class:`~callflow.ari.errors.AsteriskUnreachable` when Asterisk cannot be reached or
        does not answer within ``request_timeout``. A request that is harmless to repeat is
        tried up to three times on a 5xx or no answer (:func:`.backoff.retry_request`).
        """
        delays = iter(REQUEST_RETRY_DELAYS)
        retried = False
        while True:
            try:
                return await self._send(method, path, params, body)
            except NotFound:
                if retried and method == "DELETE":
                    return None  # the try that failed on our side had done it
                raise
            except AriError as exc:
                delay = next(delays, None)
                if delay is None or not retry_request(method, path, exc):
                    raise
                logger.info("ARI %s %s failed (%s); trying again", method, path, exc)
                retried = True
                await asyncio.sleep(delay)

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, QueryValue] | None,
        body: Mapping[str, Any] | None,
    ) -> Any:
        url = URL(self.config.rest_url + path, encoded=True)
        query = _query(params or {})
        sent_at, started = time.time(), time.perf_counter()
        status: int | None = None
        try:
            async with self._get_session().request(
                method, url, params=query or None, json=body
            ) as response:
                status, reason = response.status, response.reason or ""
                text = await response.text()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise AsteriskUnreachable(
                f"{method} {path}: cannot reach Asterisk at {url.host}:{url.port} "
                f"({type(exc).__name__})"
            ) from exc
        finally:
            if self.on_request is not None:
                seconds = time.perf_counter() - started
                self.on_request(RequestTiming(method, path, params, sent_at, seconds, status))
        logger.debug("ARI %s %s -> %d", method, path, status)
        if status >= 400:
            raise error_for_status(status, _error_message(text, reason), method=method, path=path)
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InvalidResponse(f"{method} {path}: answer is not JSON") from exc

    async def resync(self) -> Snapshot:
        """Read the channels, bridges and our apps' subscriptions, to catch up after a reconnect."""
        channels = await self.channels.list()
        bridges = await self.bridges.list()
        applications: list[Application] = []
        for app in self.config.apps:
            try:
                applications.append(await self.applications.get(app))
            except AriError as exc:
                # The app may not be registered yet while the WebSocket reconnects.
                logger.info("resync: cannot read ARI application %r: %s", app, exc)
        return Snapshot(
            channels=tuple(channels), bridges=tuple(bridges), applications=tuple(applications)
        )


class _Resource:
    def __init__(self, client: AriClient) -> None:
        self._client = client

    async def _checked(
        self,
        send: Callable[[], Awaitable[T]],
        done: Callable[[], Awaitable[T]],
        *,
        again: bool,
        what: str,
    ) -> T:
        """Send a command that is not harmless twice but whose effect can be read back, by
        the stable id the caller gave it. On a 5xx or no answer, read it: there, it was done
        and its answer was lost (return it); gone and ``again``, send it once more (never
        done, so once is still once), as often as a request is retried; otherwise the
        failure stands."""
        pauses = iter(REQUEST_RETRY_DELAYS)
        while True:
            try:
                return await send()
            except (ServerError, AsteriskUnreachable) as exc:
                failure = exc
            try:
                found = await done()
            except NotFound:
                pause = next(pauses, None)
                if not again or pause is None:
                    raise failure from None
            except AriError:
                raise failure from None
            else:
                logger.info("%s: answer lost (%s) but it was done", what, failure)
                return found
            logger.info("%s failed (%s) and was not done; sending it again", what, failure)
            await asyncio.sleep(pause)

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, QueryValue] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        return await self._client.request(method, path, params=params, body=body)


class Channels(_Resource):
    """``/channels``: the legs of calls."""

    async def list(self) -> list[Channel]:
        """All active channels (in any app, or none)."""
        return [
            Channel.from_json(c) for c in _list(await self._call("GET", "/channels"), "Channel")
        ]

    async def get(self, channel_id: str) -> Channel:
        """One channel's current snapshot."""
        return Channel.from_json(await self._call("GET", _path("channels", channel_id)))

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | Sequence[str] | None = None,
        extension: str | None = None,
        context: str | None = None,
        priority: int | None = None,
        label: str | None = None,
        caller_id: str | None = None,
        ring_timeout: int | None = None,
        variables: Mapping[str, str] | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        formats: str | Sequence[str] | None = None,
    ) -> Channel:
        """Dial ``endpoint`` and, once answered, put it into ``app`` or the dialplan.

        Pass ``channel_id`` (and watch it in the dispatcher first) to receive every
        event of the new channel, including those before it enters Stasis.
        """
        if app is None and extension is None and context is None:
            raise ValueError("originate needs app= or an extension/context")
        params: dict[str, QueryValue] = {
            "endpoint": endpoint,
            "app": app,
            "appArgs": _args(app_args),
            "extension": extension,
            "context": context,
            "priority": priority,
            "label": label,
            "callerId": caller_id,
            # Asterisk's own "timeout": seconds to ring before giving up.
            "timeout": ring_timeout,
            "channelId": channel_id,
            "otherChannelId": other_channel_id,
            "originator": originator,
            "formats": formats,
        }

        async def send() -> Channel:
            data = await self._call("POST", "/channels", params, _variables(variables))
            return Channel.from_json(data)

        if channel_id is None:
            return await send()
        # Never dialled twice: a channel already gone may have rung; only one found is kept.
        return await self._checked(
            send, lambda: self.get(channel_id), again=False, what=f"originate {channel_id}"
        )

    async def hangup(
        self,
        channel_id: str,
        *,
        reason: HangupReason | None = None,
        reason_code: int | None = None,
    ) -> None:
        """Hang up a channel, optionally with a reason or a Q.850 cause code."""
        params: dict[str, QueryValue] = {"reason": reason, "reason_code": reason_code}
        await self._call("DELETE", _path("channels", channel_id), params)

    async def answer(self, channel_id: str) -> None:
        """Answer a ringing channel."""
        await self._call("POST", _path("channels", channel_id, "answer"))

    async def play(
        self,
        channel_id: str,
        media: str | Sequence[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
        offsetms: int | None = None,
        skipms: int | None = None,
    ) -> Playback:
        """Play one or more media URIs (``sound:``, ``recording:``, ``tone:``...) in order."""
        params: dict[str, QueryValue] = {
            "media": [media] if isinstance(media, str) else media,
            "lang": lang,
            "offsetms": offsetms,
            "skipms": skipms,
            "playbackId": playback_id,
        }

        async def send() -> Playback:
            data = await self._call("POST", _path("channels", channel_id, "play"), params)
            return Playback.from_json(data)

        if playback_id is None:
            return await send()
        # A playback that already finished reads as gone too, and would be heard twice: the
        # read follows the failure at once, so only media shorter than that round trip can.
        playbacks = Playbacks(self._client)
        return await self._checked(
            send, lambda: playbacks.get(playback_id), again=True, what=f"play {playback_id}"
        )

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        format: str = "wav",
        max_duration: int | None = None,
        max_silence: int | None = None,
        beep: bool | None = None,
        terminate_on: TerminateOn | None = None,
        if_exists: IfExists | None = None,
    ) -> LiveRecording:
        """Record the channel to stored recording ``name``; durations in seconds."""
        params: dict[str, QueryValue] = {
            "name": name,
            "format": format,
            "maxDurationSeconds": max_duration,
            "maxSilenceSeconds": max_silence,
            "beep": beep,
            "terminateOn": terminate_on,
            "ifExists": if_exists,
        }
        data = await self._call("POST", _path("channels", channel_id, "record"), params)
        return LiveRecording.from_json(data)

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        """Leave Stasis and continue in the dialplan (StasisEnd follows)."""
        params: dict[str, QueryValue] = {
            "context": context,
            "extension": extension,
            "priority": priority,
            "label": label,
        }
        await self._call("POST", _path("channels", channel_id, "continue"), params)

    async def get_variable(self, channel_id: str, variable: str) -> str:
        """Read a channel variable or function, e.g. ``CALLERID(num)``."""
        path = _path("channels", channel_id, "variable")
        return _value(await self._call("GET", path, {"variable": variable}))

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        """Set a channel variable or function."""
        path = _path("channels", channel_id, "variable")
        await self._call("POST", path, {"variable": variable, "value": value})

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        """Play music on hold to the channel."""
        await self._call("POST", _path("channels", channel_id, "moh"), {"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        """Stop music on hold."""
        await self._call("DELETE", _path("channels", channel_id, "moh"))


class Bridges(_Resource):
    """``/bridges``: where channels talk (mixing) or wait (holding)."""

    async def list(self) -> list[Bridge]:
        """All bridges."""
        return [Bridge.from_json(b) for b in _list(await self._call("GET", "/bridges"), "Bridge")]

    async def create(
        self,
        type: str | Sequence[str] = "mixing",
        *,
        bridge_id: str | None = None,
        name: str | None = None,
    ) -> Bridge:
        """Create a bridge; ``type`` is e.g. ``mixing``, ``holding`` or ``mixing,dtmf_events``."""
        params: dict[str, QueryValue] = {"type": type, "bridgeId": bridge_id, "name": name}

        async def send() -> Bridge:
            return Bridge.from_json(await self._call("POST", "/bridges", params))

        if bridge_id is None:
            return await send()
        return await self._checked(
            send, lambda: self.get(bridge_id), again=True, what=f"create bridge {bridge_id}"
        )

    async def get(self, bridge_id: str) -> Bridge:
        """One bridge's current state (its channels)."""
        return Bridge.from_json(await self._call("GET", _path("bridges", bridge_id)))

    async def destroy(self, bridge_id: str) -> None:
        """Destroy a bridge; its channels stay up, back in Stasis."""
        await self._call("DELETE", _path("bridges", bridge_id))

    async def add_channel(
        self,
        bridge_id: str,
        channel: str | Sequence[str],
        *,
        role: BridgeRole | None = None,
        absorb_dtmf: bool | None = None,
        mute: bool | None = None,
        inhibit_connected_line_updates: bool | None = None,
    ) -> None:
        """Add one or more channels; ``role`` e.g. ``announcer`` or ``participant``."""
        params: dict[str, QueryValue] = {
            "channel": [channel] if isinstance(channel, str) else channel,
            "role": role,
            "absorbDTMF": absorb_dtmf,
            "mute": mute,
            "inhibitConnectedLineUpdates": inhibit_connected_line_updates,
        }
        await self._call("POST", _path("bridges", bridge_id, "addChannel"), params)

    async def start_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        """Play music on hold to the whole bridge (one announcer channel for everyone)."""
        await self._call("POST", _path("bridges", bridge_id, "moh"), {"mohClass": moh_class})

    async def stop_moh(self, bridge_id: str) -> None:
        """Stop the bridge's music on hold."""
        await self._call("DELETE", _path("bridges", bridge_id, "moh"))

    async def remove_channel(self, bridge_id: str, channel: str | Sequence[str]) -> None:
        """Remove one or more channels from the bridge."""
        params: dict[str, QueryValue] = {
            "channel": [channel] if isinstance(channel, str) else channel
        }
        await self._call("POST", _path("bridges", bridge_id, "removeChannel"), params)


class Playbacks(_Resource):
    """``/playbacks``: media being played."""

    async def get(self, playback_id: str) -> Playback:
        """One playback's current state."""
        return Playback.from_json(await self._call("GET", _path("playbacks", playback_id)))

    async def stop(self, playback_id: str) -> None:
        """Stop a playback (PlaybackFinished follows)."""
        await self._call("DELETE", _path("playbacks", playback_id))


class Recordings(_Resource):
    """``/recordings``: recordings in progress, and stored ones."""

    async def get_live(self, name: str) -> LiveRecording:
        """A live recording's current state."""
        return LiveRecording.from_json(await self._call("GET", _path("recordings", "live", name)))

    async def delete_stored(self, name: str) -> None:
        """Delete a stored recording (its file in Asterisk's recording spool)."""
        await self._call("DELETE", _path("recordings", "stored", name))


class Applications(_Resource):
    """``/applications``: Stasis apps and their event subscriptions."""

    async def get(self, name: str) -> Application:
        """One app and what it is subscribed to."""
        return Application.from_json(await self._call("GET", _path("applications", name)))


class Events(_Resource):
    """``/events``: user events sent to a Stasis app (the event WebSocket is in stream.py)."""

    async def user_event(
        self,
        name: str,
        *,
        application: str,
        variables: Mapping[str, Any] | None = None,
        source: str | Sequence[str] | None = None,
    ) -> None:
        """Send user event ``name`` to ``application`` as a ChannelUserevent.

        ``variables`` arrive in the event's ``userevent`` object, next to ``eventname``;
        ``source`` (e.g. ``channel:<id>``, ``bridge:<id>``) attaches those snapshots.
        Raises NotFound when no such application is registered (nobody is connected as
        that app), Unprocessable when a source does not exist, BadRequest for a source
        with an unknown scheme.
        """
        params: dict[str, QueryValue] = {
            "application": application,
            "source": [source] if isinstance(source, str) else source,
        }
        # Asterisk answers 500 when "variables" is not an object: always send one.
        body = {"variables": dict(variables or {})}
        await self._call("POST", _path("events", "user", name), params, body)


class AsteriskResource(_Resource):
    """``/asterisk``: the server itself and its global variables."""

    async def info(self, only: InfoPart | Sequence[InfoPart] | None = None) -> AsteriskInfo:
        """Version, entity id and uptimes; ``only`` limits to build/system/config/status."""
        return AsteriskInfo.from_json(await self._call("GET", "/asterisk/info", {"only": only}))

    async def get_global_variable(self, variable: str) -> str:
        """Read a global dialplan variable."""
        return _value(await self._call("GET", "/asterisk/variable", {"variable": variable}))
