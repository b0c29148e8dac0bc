"""Route ARI events to per-call queues, one asyncio task per call, in order.

A call starts when a channel enters our app (StasisStart): the dispatcher opens an
:class:`EventQueue` for that channel and starts ``on_call(start, events)`` as its own
task. Every later event that concerns the channel (``Event.channel_ids()``, which
includes playbacks and recordings targeting ``channel:<id>``) is put on that queue,
so a handler sees its call's events in order and a slow handler never delays another
call. StasisEnd or ChannelDestroyed closes the queue (even one whose payload did not
parse, as long as it names the channel); the handler's ``async for`` ends and so does
its task.

A call's other legs are routed before they exist (CyCoreSystems/ari's "staging"): call
:meth:`Dispatcher.attach_channel` with the id you will pass to ``originate`` so no event
of the new channel is missed; its StasisStart then lands on the call's queue too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from types import MappingProxyType, TracebackType
from typing import Final, Self

from .events import CHANNEL_ENDS, ChannelDestroyed, Event, StasisEnd, StasisStart

__all__ = ["MAX_PENDING", "CallHandler", "Dispatcher", "EventQueue"]

logger = logging.getLogger(__name__)

MAX_PENDING: Final = 4096
"""Events one call may have waiting before the oldest droppable ones are dropped.

A call reads its events within milliseconds; thousands waiting means its handler is stuck
or someone floods it (a caller's DTMF, a misbehaving peer). Unbounded, that is memory
taken from every other call."""

# What a call cannot do without: its legs' arrivals and every channel's end. They are
# never dropped, so a queue may exceed MAX_PENDING by these alone, and a call can have
# only a few of them.
ESSENTIAL: Final = frozenset(
    {"StasisStart", "StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"}
)

# Drops are logged at the first and then every this many, so a flood cannot flood the log.
_DROP_LOG_EVERY: Final = 1000


class EventQueue:
    """The ordered events of one call; iterate until it is closed.

    At most ``max_pending`` events wait (plus essential ones, see ``ESSENTIAL``). On
    overflow the oldest non-essential event is dropped, with a warning, rather than ending
    the call: the dispatcher cannot hang a channel up, and a closed queue would leave the
    caller in the app with nobody serving them (dead air). Dropping the *oldest* keeps the
    present, which is what a stuck handler needs once it moves again: a dropped DTMF or
    playback event costs a digit or a watchdog's wait (playbacks and recordings are
    re-checked with Asterisk), and a dropped wake-up (``Call.nudge()``) is never the last
    one: a drop only happens to make room for a newer event, and any event wakes the
    reader, which re-checks what it waits on.
    """

    def __init__(self, resource_id: str, *, max_pending: int = MAX_PENDING) -> None:
        self.resource_id = resource_id
        self.max_pending = max_pending
        self.dropped = 0  # events dropped on overflow, over the queue's life
        self._pending: deque[Event] = deque()
        self._ready = asyncio.Event()  # set while something can be read (or it closed)
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"EventQueue({self.resource_id!r}, {state}, pending={len(self._pending)})"

    @property
    def closed(self) -> bool:
        """True once no more events will be put on the queue."""
        return self._closed

    @property
    def pending(self) -> int:
        """How many events wait to be read."""
        return len(self._pending)

    def put(self, event: Event) -> None:
        """Append an event; never blocks. Events after :meth:`close` are dropped."""
        if self._closed:
            return
        if len(self._pending) >= self.max_pending:
            self._drop_oldest()
        self._pending.append(event)
        self._ready.set()

    def _drop_oldest(self) -> None:
        for index, waiting in enumerate(self._pending):
            if waiting.type not in ESSENTIAL:
                del self._pending[index]
                break
        else:
            return  # only essential events wait: let the queue grow by them
        self.dropped += 1
        if self.dropped == 1 or self.dropped % _DROP_LOG_EVERY == 0:
            logger.warning(
                "events of %s: more than %d waiting, the oldest dropped (%d so far; "
                "last dropped: %s); is its handler stuck, or is it flooded?",
                self.resource_id,
                self.max_pending,
                self.dropped,
                waiting.type,
            )

    def close(self) -> None:
        """Mark the end: readers get what is queued, then the iteration ends."""
        self._closed = True
        self._ready.set()

    async def get(self) -> Event | None:
        """The next event, or None once the queue is closed and drained."""
        while not self._pending:
            if self._closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._pending.popleft()

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
    """Fan events out to call handlers, one task each.

    Feed it with :meth:`dispatch`; use ``async with Dispatcher(...)`` or call
    :meth:`shutdown` so no task leaks.
    """

    def __init__(
        self,
        on_call: CallHandler,
        *,
        on_unrouted: Callable[[Event], None] | None = None,
    ) -> None:
        self._on_call = on_call
        self._on_unrouted = on_unrouted
        self._channels: dict[str, EventQueue] = {}
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

    @property
    def channels(self) -> Collection[str]:
        """The channel ids whose events are routed now: calls and attached channels."""
        return self._channels.keys()

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
        ends = _ended_channel(event)
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
        if not routed:
            if self._on_unrouted is not None:
                self._on_unrouted(event)
            else:
                logger.debug("no call watches %s event", event.type)

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
        for queue in self._channels.values():
            queue.close()
        self._channels.clear()
        self._attached.clear()
        tasks = list(self._tasks.values())
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


def _ended_channel(event: Event) -> str | None:
    """The channel a StasisEnd or ChannelDestroyed ends, typed or not.

    parse_event turns a payload it cannot read into a GenericEvent, and a call whose end
    is lost would wait on its watchdogs for nothing: the type and the channel id read from
    the raw JSON are enough to end it.
    """
    if event.type not in CHANNEL_ENDS:
        return None
    channel_ids = event.channel_ids()
    if isinstance(event, StasisEnd | ChannelDestroyed):
        return channel_ids[0]
    if not channel_ids:
        logger.warning(
            "malformed %s event names no channel: no call can be ended by it", event.type
        )
        return None
    logger.warning(
        "malformed %s event for channel %s: ending its call anyway", event.type, channel_ids[0]
    )
    return channel_ids[0]
