"""Route ARI events to per-call queues, one asyncio task per call, in order.

A call starts when a channel enters our app (StasisStart): the dispatcher opens an
:class:`EventQueue` for that channel and starts ``on_call(start, events)`` as its own
task. Every later event that concerns the channel (``Event.channel_ids()``, which
includes playbacks and recordings targeting ``channel:<id>``) is put on that queue,
so a handler sees its call's events in order and a slow handler never delays another
call. StasisEnd or ChannelDestroyed closes the queue; the handler's ``async for``
ends and so does its task. Bridges get the same treatment through
:meth:`Dispatcher.watch_bridge`, closed on BridgeDestroyed.

Resources are watched before they exist (CyCoreSystems/ari's "staging"): call
:meth:`Dispatcher.watch_channel` with the id you will pass to ``originate`` so no event
of the new channel is missed; its StasisStart then lands on that queue too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Final, Self

from .errors import AriError
from .events import BridgeDestroyed, ChannelDestroyed, Event, StasisEnd, StasisStart
from .stream import Connected, Disconnected, StreamItem

__all__ = ["CallHandler", "Dispatcher", "EventQueue"]

logger = logging.getLogger(__name__)

_CLOSED: Final = object()


class EventQueue:
    """The ordered events of one channel or bridge; iterate until it is closed."""

    def __init__(self, resource_id: str) -> None:
        self.resource_id = resource_id
        self._queue: asyncio.Queue[Event | object] = asyncio.Queue()
        self._closed = False
        self._drained = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"EventQueue({self.resource_id!r}, {state}, pending={self._queue.qsize()})"

    @property
    def closed(self) -> bool:
        """True once no more events will be put on the queue."""
        return self._closed

    def put(self, event: Event) -> None:
        """Append an event; never blocks. Events after :meth:`close` are dropped."""
        if not self._closed:
            self._queue.put_nowait(event)

    def close(self) -> None:
        """Mark the end: readers get what is queued, then the iteration ends."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(_CLOSED)

    async def get(self) -> Event | None:
        """The next event, or None once the queue is closed and drained."""
        if self._drained:
            return None
        item = await self._queue.get()
        if isinstance(item, Event):
            return item
        self._drained = True
        return None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        event = await self.get()
        if event is None:
            raise StopAsyncIteration
        return event


CallHandler = Callable[[StasisStart, EventQueue], Awaitable[None]]
"""Handles one call: gets the StasisStart and then the channel's events, in order."""


class Dispatcher:
    """Fan events out to call handlers (one task each) and bridge watchers.

    ``await dispatcher.run(stream)`` consumes an event stream; ``on_connected`` runs
    on each :class:`~callflow.ari.stream.Connected` (resync there after a reconnect).
    Use ``async with Dispatcher(...)`` or call :meth:`shutdown` so no task leaks.
    """

    def __init__(
        self,
        on_call: CallHandler,
        *,
        on_connected: Callable[[Connected], Awaitable[None]] | None = None,
        on_unrouted: Callable[[Event], None] | None = None,
    ) -> None:
        self._on_call = on_call
        self._on_connected = on_connected
        self._on_unrouted = on_unrouted
        self._channels: dict[str, EventQueue] = {}
        self._bridges: dict[str, EventQueue] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._attached: set[str] = set()
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.shutdown()

    @property
    def calls(self) -> Mapping[str, asyncio.Task[None]]:
        """The running call tasks, by channel id."""
        return MappingProxyType(self._tasks)

    def watch_channel(self, channel_id: str) -> EventQueue:
        """Queue a channel's events from now on, e.g. just before originating it."""
        queue = self._channels.get(channel_id)
        if queue is None:
            queue = EventQueue(channel_id)
            self._watch(self._channels, queue)
        return queue

    def attach_channel(self, channel_id: str, queue: EventQueue) -> None:
        """Send a channel's events to an existing queue, e.g. an agent leg into its caller's.

        Call it before originating that channel. Its StasisStart then goes to ``queue``
        instead of starting a call task, and when the channel ends it is detached without
        closing ``queue``: the call it belongs to goes on.
        """
        self._channels[channel_id] = queue
        self._attached.add(channel_id)

    def forget(self, channel_id: str) -> None:
        """Stop routing a channel's events, and its legs', and close its queue.

        For a channel Asterisk lost in a restart: Asterisk 22 names channels
        ``<system>-<startup second>.<n>``, so one restarted within the same second hands out
        the same ids again, and they must start new calls, not feed the old one.
        """
        queue = self._channels.pop(channel_id, None)
        self._attached.discard(channel_id)
        if queue is None:
            return
        for leg in [leg for leg, other in self._channels.items() if other is queue]:
            del self._channels[leg]
            self._attached.discard(leg)
        queue.close()

    def watch_bridge(self, bridge_id: str) -> EventQueue:
        """Queue a bridge's events until BridgeDestroyed (or :meth:`unwatch_bridge`)."""
        queue = self._bridges.get(bridge_id)
        if queue is None:
            queue = EventQueue(bridge_id)
            self._watch(self._bridges, queue)
        return queue

    def _watch(self, queues: dict[str, EventQueue], queue: EventQueue) -> None:
        if self._closed:
            queue.close()  # after shutdown nothing will ever arrive
        else:
            queues[queue.resource_id] = queue

    def unwatch_bridge(self, bridge_id: str) -> None:
        """Stop queueing a bridge's events and close its queue."""
        queue = self._bridges.pop(bridge_id, None)
        if queue is not None:
            queue.close()

    async def run(self, stream: AsyncIterable[StreamItem]) -> None:
        """Dispatch everything ``stream`` yields until it ends."""
        async for item in stream:
            if isinstance(item, Connected):
                if self._on_connected is not None:
                    try:
                        await self._on_connected(item)
                    except AriError as exc:
                        logger.error("on_connected failed after an ARI (re)connect: %s", exc)
            elif isinstance(item, Disconnected):
                logger.debug("ARI events paused: %s", item.error)
            else:
                self.dispatch(item)

    def dispatch(self, event: Event) -> None:
        """Route one event to the queues it concerns; never blocks, never awaits."""
        if self._closed:
            return
        routed = False
        if isinstance(event, StasisStart) and event.channel.id not in self._channels:
            self._start_call(event)
            routed = True
        elif isinstance(event, StasisStart):
            self._channels[event.channel.id].put(event)
            routed = True
        ends = event.channel.id if isinstance(event, StasisEnd | ChannelDestroyed) else None
        for channel_id in event.channel_ids():
            queue = self._channels.get(channel_id)
            if queue is None:
                continue
            if not (isinstance(event, StasisStart) and channel_id == event.channel.id):
                queue.put(event)
            routed = True
            if channel_id == ends:
                del self._channels[channel_id]
                if channel_id in self._attached:
                    self._attached.discard(channel_id)
                else:
                    queue.close()
        for bridge_id in event.bridge_ids():
            queue = self._bridges.get(bridge_id)
            if queue is None:
                continue
            queue.put(event)
            routed = True
            if isinstance(event, BridgeDestroyed):
                del self._bridges[bridge_id]
                queue.close()
        if not routed:
            if self._on_unrouted is not None:
                self._on_unrouted(event)
            else:
                logger.debug("no call or bridge watches %s event", event.type)

    def _start_call(self, start: StasisStart) -> None:
        channel_id = start.channel.id
        queue = self._channels[channel_id] = EventQueue(channel_id)
        task = asyncio.create_task(self._handle_call(start, queue), name=f"call:{channel_id}")
        self._tasks[channel_id] = task
        task.add_done_callback(lambda done: self._call_ended(channel_id, queue, done))

    async def _handle_call(self, start: StasisStart, queue: EventQueue) -> None:
        await self._on_call(start, queue)

    def _call_ended(self, channel_id: str, queue: EventQueue, task: asyncio.Task[None]) -> None:
        if self._tasks.get(channel_id) is task:
            del self._tasks[channel_id]
        if self._channels.get(channel_id) is queue:
            # The handler returned before StasisEnd: stop queueing events nobody reads.
            del self._channels[channel_id]
        for leg in [leg for leg in self._attached if self._channels.get(leg) is queue]:
            del self._channels[leg]
            self._attached.discard(leg)
        queue.close()
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error("call handler for channel %s failed", channel_id, exc_info=exc)

    async def shutdown(self, grace: float = 0.0) -> None:
        """Close every queue, give handlers ``grace`` seconds to finish, cancel the rest."""
        self._closed = True
        for queue in [*self._channels.values(), *self._bridges.values()]:
            queue.close()
        self._channels.clear()
        self._attached.clear()
        self._bridges.clear()
        tasks = list(self._tasks.values())
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
