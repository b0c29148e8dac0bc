"""The Stasis service: one ARI connection, one task per call, clean start and stop.

It owns the REST client, the reconnecting event stream and the dispatcher. Each channel that
enters the app gets a :class:`~callflow.app.call.Call` and its own task running the call
handler; when the handler returns or the caller hangs up, the channel is hung up and the
task ends. After a reconnect the service re-reads Asterisk's channels (Asterisk does not
queue events while we are away) and ends the calls whose channels are gone.

Events that concern no call (a user event sent to the app, for instance) go to the
handlers registered with :meth:`Service.on_user_event`, keyed by the user event's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from callflow.app.call import Call, CallerHangup
from callflow.ari import AriClient, AriConfig, Dispatcher, EventQueue, EventStream
from callflow.ari import errors as ari_errors
from callflow.ari.events import ChannelUserevent, Event, StasisStart
from callflow.ari.stream import Connected, Disconnected, StreamItem

log = logging.getLogger(__name__)

CallHandler = Callable[[Call], Awaitable[None]]
"""Runs one call to its end (a flow, a queue...)."""

UserEventHandler = Callable[[ChannelUserevent], None]
"""Handles one user event sent to the app; runs in the event loop, so it must not block."""

# The dialplan in dialplan/callflow.conf names the Stasis app through this global variable.
APP_GLOBAL = "CALLFLOW_APP"


class ServiceError(Exception):
    """A condition that retrying will not fix (wrong password, wrong app name)."""


class Service:
    """Serve calls from Asterisk until :meth:`stop` is called."""

    def __init__(
        self,
        config: AriConfig,
        handler: CallHandler,
        *,
        drain_grace: float = 5.0,
        reconnect_delays: Callable[[], Iterator[float]] | None = None,
    ) -> None:
        self.config = config
        self.handler = handler
        self.drain_grace = drain_grace
        self.reconnect_delays = reconnect_delays  # None: the config's capped backoff
        self.calls: dict[str, Call] = {}
        self.ready = asyncio.Event()
        self._stream: EventStream | None = None
        self._user_events: dict[str, UserEventHandler] = {}
        self._dispatcher = Dispatcher(self._on_call, on_unrouted=self._on_unrouted)
        self._stopping = asyncio.Event()
        self._ari: AriClient | None = None

    @property
    def ari(self) -> AriClient:
        """The REST client (only while running)."""
        if self._ari is None:
            raise RuntimeError("the service is not running")
        return self._ari

    def on_user_event(self, name: str, handler: UserEventHandler) -> None:
        """Call ``handler`` for each user event ``name`` sent to the app outside any call.

        A user event sent with a channel or bridge source that a call is watching goes to
        that call instead. A handler that raises is logged; the service goes on.
        """
        self._user_events[name] = handler

    async def run(self) -> None:
        """Connect and serve; returns after :meth:`stop`, raises ServiceError on fatal errors."""
        async with AriClient(self.config) as ari:
            self._ari = ari
            stream = self._stream = EventStream(self.config, delays=self.reconnect_delays)
            dispatcher = self._dispatcher
            try:
                async for item in stream:
                    if self._stopping.is_set():
                        break
                    await self._on_item(item, dispatcher)
            except ari_errors.AuthenticationFailed as exc:
                raise ServiceError(
                    f"Asterisk refused the ARI credentials of user {self.config.username!r} "
                    f"at {self.config.base_url} ({exc})"
                ) from None
            except ari_errors.AriError as exc:
                raise ServiceError(f"ARI error: {exc}") from None
            finally:
                await dispatcher.shutdown(grace=self.drain_grace if self._stopping.is_set() else 0)
                self._ari = None

    async def stop(self) -> None:
        """Stop taking events; calls in progress get a short grace period, then are hung up."""
        self._stopping.set()
        if self._stream is not None:
            await self._stream.close()

    async def _on_item(self, item: StreamItem, dispatcher: Dispatcher) -> None:
        if isinstance(item, Connected):
            if item.reconnect:
                await self._resync()
            else:
                await self._check_app_name()
            log.info(
                "connected to Asterisk at %s as app %s%s",
                self.config.base_url,
                ",".join(self.config.apps),
                " (reconnected)" if item.reconnect else "",
            )
            self.ready.set()
        elif isinstance(item, Disconnected):
            self.ready.clear()
            log.warning(
                "Asterisk unavailable at %s (%s); retrying in %.1f s",
                self.config.base_url,
                item.error,
                item.retry_in,
            )
        elif isinstance(item, Event):
            dispatcher.dispatch(item)

    def _on_unrouted(self, event: Event) -> None:
        """An event no call or bridge watches: a registered user event, or nothing to do."""
        if not isinstance(event, ChannelUserevent):
            log.debug("no call or bridge watches %s event", event.type)
            return
        handler = self._user_events.get(event.eventname)
        if handler is None:
            log.info("user event %r: no handler; ignored", event.eventname)
            return
        try:
            handler(event)
        except Exception:
            # Anyone with ARI credentials can send user events: never let one stop the service.
            log.exception("user event %r: handler failed", event.eventname)

    async def _check_app_name(self) -> None:
        """Refuse to serve under a name the dialplan does not send calls to."""
        try:
            expected = await self.ari.asterisk.get_global_variable(APP_GLOBAL)
        except ari_errors.AriError:
            expected = ""
        if not expected:
            log.info("dialplan global %s is not set; not checking the app name", APP_GLOBAL)
        elif expected not in self.config.apps:
            raise ServiceError(
                f"Asterisk's dialplan sends calls to Stasis app {expected!r} "
                f"(global {APP_GLOBAL}), but callflow registers as "
                f"{','.join(self.config.apps)!r}: fix ari.app in the settings"
            )

    async def _resync(self) -> None:
        """After a reconnect: end the calls whose channels vanished while we were away."""
        snapshot = await self.ari.resync()
        alive = {channel.id for channel in snapshot.channels}
        lost = [call for channel_id, call in self.calls.items() if channel_id not in alive]
        for call in lost:
            call.events.close()
        log.info(
            "resynced after reconnect: %d calls still up, %d ended while disconnected",
            len(self.calls) - len(lost),
            len(lost),
        )

    async def _on_call(self, start: StasisStart, events: EventQueue) -> None:
        if start.args[:1] == ("leg",):
            # A leg we originated whose attachment is gone (its call ended first).
            await self.ari.channels.hangup(start.channel.id)
            return
        call = Call(
            self.ari, start, events, app=self.config.apps[0], attach=self._dispatcher.attach_channel
        )
        self.calls[call.id] = call
        log.info("call %s from %r to %r", call.id, call.caller_number, call.dialled)
        try:
            await self.handler(call)
        except CallerHangup:
            log.info("call %s: caller hung up", call.id)
        except asyncio.CancelledError:
            log.info("call %s: cancelled (shutdown)", call.id)
            raise
        except Exception:
            log.exception("call %s: handler failed", call.id)
        finally:
            del self.calls[call.id]
            # Shielded so that a shutdown cancelling this task still leaves no channel behind.
            with contextlib.suppress(ari_errors.AriError, asyncio.CancelledError):
                await asyncio.shield(self._finish(call))

    @staticmethod
    async def _finish(call: Call) -> None:
        await call.hangup()
        await call.drain(timeout=2.0)
