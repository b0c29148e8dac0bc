"""What the dispatcher does with the unusual: a channel's end that did not parse, and a
call whose events pile up faster than its handler reads them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import pytest
from ari_fake import channel_json, event_json
from ari_fake import dtmf_event as dtmf
from ari_fake import end_event as end
from ari_fake import start_event as start

from callflow.ari import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    Dispatcher,
    Event,
    EventQueue,
    GenericEvent,
    StasisEnd,
    StasisStart,
    parse_event,
)
from callflow.ari.dispatch import MAX_PENDING


@dataclass(frozen=True, slots=True, kw_only=True)
class Wakeup(Event):
    """Like ``Call.nudge()``'s event: not from Asterisk, it only wakes the reader."""

    type: str = "CallflowNudge"


class Calls:
    """A call handler that records every call's events, and can be held still."""

    def __init__(self) -> None:
        self.seen: dict[str, list[Event]] = {}
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, begin: StasisStart, events: EventQueue) -> None:
        seen = self.seen.setdefault(begin.channel.id, [])
        async for event in events:
            await self.release.wait()
            seen.append(event)


async def ended(dispatcher: Dispatcher, channel_id: str) -> None:
    async with asyncio.timeout(5):
        await dispatcher.calls[channel_id]


# --- a channel's end that did not parse ---------------------------------------------


def test_an_end_with_a_numeric_channel_id_is_still_a_typed_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A ChannelDestroyed whose channel id is a number still parses as a ChannelDestroyed,
    cause included, so the call it ends sees a hang-up."""
    event = parse_event(event_json("ChannelDestroyed", cause=16, channel={"id": 1712345678}))
    assert isinstance(event, ChannelDestroyed)
    assert (event.channel.id, event.cause) == ("1712345678", 16)
    assert "unexpected shape" in caplog.text


def test_an_end_naming_its_channel_by_id_alone_is_still_a_typed_end() -> None:
    """A StasisEnd whose channel is a bare id string is a StasisEnd for that channel."""
    event = parse_event(event_json("StasisEnd", channel="1712345678.42"))
    assert isinstance(event, StasisEnd)
    assert event.channel.id == "1712345678.42"


async def test_a_malformed_stasis_end_ends_its_call(caplog: pytest.LogCaptureFixture) -> None:
    """A StasisEnd that only a GenericEvent could hold still closes its call's queue, with
    a warning; the handler gets that event last and its task ends."""
    calls = Calls()
    async with Dispatcher(calls) as dispatcher:
        dispatcher.dispatch(start("a"))
        malformed = GenericEvent(type="StasisEnd", raw={"channel": {"id": "a"}})
        dispatcher.dispatch(malformed)
        await ended(dispatcher, "a")
        dispatcher.dispatch(dtmf("a", "1"))  # nothing routes to the ended call any more
    assert calls.seen["a"] == [malformed]
    assert "malformed StasisEnd event for channel a: ending its call anyway" in caplog.text


async def test_a_malformed_end_of_a_leg_detaches_it_but_keeps_the_call() -> None:
    """An agent leg's malformed ChannelDestroyed detaches the leg; its caller's call goes on."""
    queues: list[EventQueue] = []
    seen: list[str] = []

    async def handler(begin: StasisStart, events: EventQueue) -> None:
        queues.append(events)
        seen.extend([event.type async for event in events])

    async with Dispatcher(handler) as dispatcher:
        dispatcher.dispatch(start("caller"))
        await asyncio.sleep(0)
        dispatcher.attach_channel("leg", queues[0])  # as Call.ring does
        dispatcher.dispatch(GenericEvent(type="ChannelDestroyed", raw={"channel": {"id": "leg"}}))
        dispatcher.dispatch(dtmf("leg", "9"))  # detached: no longer routed
        assert not queues[0].closed
        dispatcher.dispatch(dtmf("caller", "1"))
        dispatcher.dispatch(end("caller"))
        await ended(dispatcher, "caller")
    assert seen == ["ChannelDestroyed", "ChannelDtmfReceived", "StasisEnd"]


async def test_a_malformed_end_naming_no_channel_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An end whose channel cannot be read ends nothing, and says so in the log."""
    caplog.set_level(logging.WARNING)
    calls = Calls()
    async with Dispatcher(calls, on_unrouted=lambda event: None) as dispatcher:
        dispatcher.dispatch(start("a"))
        dispatcher.dispatch(parse_event(event_json("StasisEnd", channel={"name": "PJSIP/x"})))
        assert "a" in dispatcher.calls
    assert "malformed StasisEnd event names no channel" in caplog.text


# --- a call's events piling up ------------------------------------------------------


def test_a_full_queue_drops_its_oldest_events_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Past its bound a queue drops the oldest events, keeps the newest, and warns once per
    thousand drops rather than once per event."""
    queue = EventQueue("a", max_pending=10)
    digits = "0123456789" * 3
    for digit in digits:
        queue.put(dtmf("a", digit))
    assert queue.pending == 10
    assert queue.dropped == 20
    kept = [queue._pending[i] for i in range(10)]
    assert [e.digit for e in kept if isinstance(e, ChannelDtmfReceived)] == list(digits[-10:])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "events of a: more than 10 waiting, the oldest dropped" in warnings[0].getMessage()


def test_a_full_queue_never_drops_arrivals_or_ends_of_channels() -> None:
    """StasisStart, ChannelHangupRequest, StasisEnd and ChannelDestroyed survive any flood;
    only they may take a queue past its bound."""
    queue = EventQueue("caller", max_pending=4)
    essential = [
        start("leg"),
        parse_event(event_json("ChannelHangupRequest", channel=channel_json("leg"))),
        parse_event(event_json("StasisEnd", channel=channel_json("leg"))),
        parse_event(event_json("ChannelDestroyed", cause=16, channel=channel_json("leg"))),
    ]
    for event in essential:
        queue.put(event)
        for _ in range(50):
            queue.put(dtmf("caller", "5"))
    queue.put(end("caller"))
    types = [event.type for event in queue._pending]
    assert types == [e.type for e in essential] + ["StasisEnd"]
    assert queue.pending == 5


async def test_a_wakeup_lost_in_a_flood_still_wakes_the_call() -> None:
    """A call stuck while a flood overflows its queue, then woken for a condition, sees it:
    a dropped wake-up is never the last event waiting."""
    queue = EventQueue("a", max_pending=8)
    condition = False

    async def wait_for_condition() -> None:
        while not condition:
            event = await queue.get()
            assert event is not None

    queue.put(dtmf("a", "1"))
    condition = True
    queue.put(Wakeup())
    for _ in range(100):
        queue.put(dtmf("a", "2"))
    assert queue.dropped > 0
    assert not any(isinstance(e, Wakeup) for e in queue._pending)
    async with asyncio.timeout(1):
        await wait_for_condition()


async def test_a_stuck_handler_under_a_dtmf_flood_keeps_a_bounded_queue_and_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ten thousand keys sent to a call whose handler is stuck leave at most MAX_PENDING
    events waiting; once the handler moves again it reads the newest keys, then the end."""
    calls = Calls()
    calls.release.clear()
    async with Dispatcher(calls) as dispatcher:
        dispatcher.dispatch(start("hostile"))
        await asyncio.sleep(0)
        for i in range(10_000):
            dispatcher.dispatch(dtmf("hostile", str(i % 10)))
        dispatcher.dispatch(end("hostile"))
        assert 0 < len(caplog.records) <= 10
        calls.release.set()
        await ended(dispatcher, "hostile")
    seen = calls.seen["hostile"]
    # The first key was taken before the handler got stuck; the end is essential.
    assert len(seen) <= MAX_PENDING + 2
    assert isinstance(seen[-1], StasisEnd)
    assert [e.digit for e in seen[-3:-1] if isinstance(e, ChannelDtmfReceived)] == ["8", "9"]
