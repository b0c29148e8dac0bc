"""The ARI event WebSocket: connect, parse frames into events, reconnect with backoff.

Iterating an :class:`EventStream` yields :class:`Connected` each time the socket
comes up (``reconnect=True`` after the first time: resync then, because Asterisk does
not queue events while we are away), every typed event in order, and
:class:`Disconnected` each time the socket drops or a connection attempt fails,
before waiting ``retry_in`` seconds. Fatal errors (wrong credentials, an app name
Asterisk refuses) are raised out of the iteration; see :func:`.backoff.process_exception`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    WebSocketException,
)

from .backoff import backoff, process_exception
from .config import AriConfig
from .errors import (
    AriError,
    AsteriskUnreachable,
    EventStreamClosed,
    InvalidResponse,
    error_for_status,
)
from .events import Event, parse_event

__all__ = ["Connected", "Disconnected", "EventStream", "StreamItem"]

logger = logging.getLogger(__name__)

EVENTS_PATH = "/ari/events"
# Channel snapshots with many channelvars make large frames; 1 MiB (the websockets
# default) is too tight for a busy StasisStart, 16 MiB is still a sane bound.
MAX_FRAME_BYTES = 16 * 2**20
# A connection that stayed up this long resets the backoff.
HEALTHY_AFTER = 2.0


@dataclass(frozen=True, slots=True)
class Connected:
    """The event WebSocket is up; after a reconnect, re-read what the app owns."""

    reconnect: bool


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The socket dropped or could not be opened; the next attempt is in ``retry_in`` s."""

    error: AriError
    retry_in: float


StreamItem = Event | Connected | Disconnected


class _RedactingAdapter(logging.LoggerAdapter[logging.Logger]):
    """Hand websockets a logger that never writes the Authorization header.

    websockets logs every handshake header at DEBUG ("> Authorization: Basic ..."),
    and base64 is not a secret. We cannot ask it not to, so we redact on the way out.
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if args and isinstance(args[0], str) and args[0].lower() == "authorization":
            args = (args[0], "[redacted]", *args[2:])
        super().log(level, msg, *args, **kwargs)


_websockets_logger = _RedactingAdapter(logging.getLogger(f"{__name__}.websocket"))


def _rejection(exc: InvalidStatus) -> AriError:
    response = exc.response
    message = response.reason_phrase
    body = (response.body or b"").decode("utf-8", "replace")
    with contextlib.suppress(ValueError):
        data = json.loads(body)
        if isinstance(data, dict):
            message = str(data.get("message") or data.get("error") or message)
    return error_for_status(response.status_code, message, method="GET", path=EVENTS_PATH)


def translate_exception(exc: Exception) -> AriError:
    """Translate a websockets / OS error from the event socket into callflow's tree."""
    if isinstance(exc, AriError):
        return exc
    if isinstance(exc, InvalidStatus):
        return _rejection(exc)
    if isinstance(exc, ConnectionClosed):
        code = exc.rcvd.code if exc.rcvd is not None else None
        return EventStreamClosed(f"ARI event socket closed (code {code})", code=code)
    if isinstance(exc, InvalidMessage | OSError | TimeoutError):
        return AsteriskUnreachable(f"cannot open the ARI event socket ({type(exc).__name__})")
    if isinstance(exc, InvalidHandshake | WebSocketException):
        return InvalidResponse(f"ARI event socket handshake failed ({type(exc).__name__})")
    return AriError(f"unexpected error on the ARI event socket ({type(exc).__name__})")


class EventStream:
    """An endless, reconnecting stream of ARI events for the configured apps.

    ``async for item in EventStream(config): ...`` where ``item`` is an
    :class:`~callflow.ari.events.Event`, :class:`Connected` or :class:`Disconnected`.
    :meth:`close` (from another task) ends the iteration.
    """

    def __init__(
        self,
        config: AriConfig,
        *,
        delays: Callable[[], Iterator[float]] | None = None,
    ) -> None:
        self._config = config
        self._delays = delays or (
            lambda: backoff(config.backoff_initial, config.backoff_max, config.backoff_factor)
        )
        self._closing = asyncio.Event()
        self._websocket: ClientConnection | None = None

    def __repr__(self) -> str:
        return f"EventStream(apps={self._config.apps!r}, url={self._config.events_url!r})"

    def __aiter__(self) -> AsyncIterator[StreamItem]:
        return self._run()

    async def close(self) -> None:
        """Stop reconnecting and close the socket; the iteration ends."""
        self._closing.set()
        if self._websocket is not None:
            await self._websocket.close()

    async def _open(self) -> ClientConnection:
        try:
            return await connect(
                self._config.events_url,
                additional_headers={"Authorization": self._config.authorization()},
                open_timeout=self._config.connect_timeout,
                ping_interval=self._config.ping_interval,
                ping_timeout=self._config.ping_interval,
                max_size=MAX_FRAME_BYTES,
                # Connect directly, like the REST session (aiohttp ignores proxy env vars).
                proxy=None,
                logger=_websockets_logger,
            )
        except Exception as exc:
            raise translate_exception(exc) from exc

    async def _pause(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)

    async def _run(self) -> AsyncIterator[StreamItem]:
        loop = asyncio.get_running_loop()
        delays = self._delays()
        connected_before = False
        while not self._closing.is_set():
            try:
                websocket = await self._open()
            except AriError as exc:
                fatal = process_exception(exc)
                if fatal is not None:
                    if fatal is exc:
                        raise
                    raise fatal from exc
                delay = next(delays)
                # The consumer gets Disconnected and decides how loudly to report it.
                logger.debug("ARI event socket unavailable (%s); retrying in %.2fs", exc, delay)
                yield Disconnected(exc, delay)
                await self._pause(delay)
                continue

            if self._closing.is_set():
                # close() ran while the handshake was in flight.
                await websocket.close()
                break
            self._websocket = websocket
            opened_at = loop.time()
            logger.info("ARI event socket connected for apps %s", ",".join(self._config.apps))
            try:
                yield Connected(reconnect=connected_before)
                connected_before = True
                async for frame in websocket:
                    event = _decode(frame)
                    if event is not None:
                        yield event
                error: AriError = EventStreamClosed(
                    "ARI event socket closed by Asterisk", code=websocket.close_code
                )
            except ConnectionClosed as exc:
                error = translate_exception(exc)
            finally:
                self._websocket = None
                await websocket.close()
            if self._closing.is_set():
                break
            if loop.time() - opened_at >= HEALTHY_AFTER:
                # The connection worked: after a drop, the first retry comes fast (Asterisk
                # restarting is back in seconds, and callers hear ss-noservice meanwhile);
                # only a connection that drops at once keeps backing off.
                delays = self._delays()
            delay = next(delays)
            logger.info("ARI event socket lost (%s); reconnecting in %.2fs", error, delay)
            yield Disconnected(error, delay)
            await self._pause(delay)


def _decode(frame: str | bytes) -> Event | None:
    """Parse one frame (stamped with the time it was read); log and skip what is not an
    ARI event."""
    received = time.time()
    try:
        data = json.loads(frame)
    except ValueError:
        logger.warning("skipping an ARI event frame that is not JSON (%d chars)", len(frame))
        return None
    try:
        return parse_event(data, received=received)
    except InvalidResponse as exc:
        logger.warning("skipping an ARI event frame: %s", exc)
        return None
