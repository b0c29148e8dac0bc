"""Per-call dispatch: ordering, isolation between calls, routing and task cleanup."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from ari_fake import destroyed_event as destroyed
from ari_fake import dtmf_event as dtmf
from ari_fake import end_event as end
from ari_fake import event_json
from ari_fake import start_event as start

from callflow.ari import (
    ChannelDtmfReceived,
    Dispatcher,
    Event,
    EventQueue,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
    parse_event,
)


class Recorder:
    """A call handler that records each call's digits; calls named in `stuck` block."""

    def __init__(self, stuck: frozenset[str] = frozenset()) -> None:
        self.digits: dict[str, list[str]] = {}
        self.finished: dict[str, asyncio.Event] = {}
        self.stuck = stuck
        self.release = asyncio.Event()

    def done(self, channel_id: str) -> asyncio.Event:
        return self.finished.setdefault(channel_id, asyncio.Event())

    async def __call__(self, begin: StasisStart, events: EventQueue) -> None:
        channel_id = begin.channel.id
        self.digits[channel_id] = []
        async for event in events:
            if channel_id in self.stuck:
                await self.release.wait()
            if isinstance(event, ChannelDtmfReceived):
                self.digits[channel_id].append(event.digit)
        self.done(channel_id).set()


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    recorder = Recorder(stuck=frozenset({"slow"}))
    yield recorder
    recorder.release.set()


async def test_each_call_gets_its_own_events_in_order(recorder: Recorder) -> None:
    """Interleaved events of two calls reach each call's handler in that call's order."""
    async with Dispatcher(recorder) as dispatcher:
        for event in [
            start("a"),
            start("b"),
            dtmf("a", "1"),
            dtmf("b", "9"),
            dtmf("a", "2"),
            dtmf("b", "8"),
            dtmf("a", "3"),
            end("a"),
            end("b"),
        ]:
            dispatcher.dispatch(event)
        async with asyncio.timeout(5):
            await recorder.done("a").wait()
            await recorder.done("b").wait()
    assert recorder.digits == {"a": ["1", "2", "3"], "b": ["9", "8"]}


async def test_a_slow_call_does_not_delay_another(recorder: Recorder) -> None:
    """While one call's handler is stuck, another call is handled from start to end."""
    async with Dispatcher(recorder) as dispatcher:
        dispatcher.dispatch(start("slow"))
        dispatcher.dispatch(dtmf("slow", "1"))
        dispatcher.dispatch(start("fast"))
        for digit in "123":
            dispatcher.dispatch(dtmf("fast", digit))
        dispatcher.dispatch(end("fast"))
        async with asyncio.timeout(5):
            await dispatcher.calls["fast"]
        assert recorder.digits["fast"] == ["1", "2", "3"]
        assert recorder.digits["slow"] == []
        assert set(dispatcher.calls) == {"slow"}


async def test_call_task_ends_when_the_channel_leaves(recorder: Recorder) -> None:
    """StasisEnd (or ChannelDestroyed) closes the call's queue and its task finishes."""
    async with Dispatcher(recorder) as dispatcher:
        dispatcher.dispatch(start("a"))
        dispatcher.dispatch(start("b"))
        task_a, task_b = dispatcher.calls["a"], dispatcher.calls["b"]
        dispatcher.dispatch(end("a"))
        dispatcher.dispatch(destroyed("b"))
        async with asyncio.timeout(5):
            await asyncio.gather(task_a, task_b)
        assert dict(dispatcher.calls) == {}


async def test_shutdown_cancels_stuck_handlers_and_leaks_no_task(recorder: Recorder) -> None:
    """shutdown() cancels handlers that never finish, leaving no task behind."""
    before = asyncio.all_tasks()
    dispatcher = Dispatcher(recorder)
    dispatcher.dispatch(start("slow"))
    dispatcher.dispatch(dtmf("slow", "1"))
    dispatcher.dispatch(start("idle"))
    await asyncio.sleep(0)
    tasks = list(dispatcher.calls.values())
    async with asyncio.timeout(5):
        await dispatcher.shutdown()
    assert all(task.done() for task in tasks)
    assert tasks[0].cancelled()
    assert asyncio.all_tasks() == before
    dispatcher.dispatch(start("late"))
    assert dict(dispatcher.calls) == {}


async def test_playbacks_route_by_target_uri() -> None:
    """A PlaybackFinished reaches the call whose channel is its target_uri."""
    seen: list[Event] = []

    async def handler(begin: StasisStart, events: EventQueue) -> None:
        seen.extend([event async for event in events])

    async with Dispatcher(handler) as dispatcher:
        dispatcher.dispatch(start("a"))
        dispatcher.dispatch(
            parse_event(
                event_json(
                    "PlaybackFinished",
                    playback={"id": "p1", "target_uri": "channel:a", "state": "done"},
                )
            )
        )
        dispatcher.dispatch(end("a"))
        async with asyncio.timeout(5):
            await dispatcher.calls["a"]
    assert [type(e) for e in seen] == [PlaybackFinished, StasisEnd]


async def test_a_failing_handler_is_logged_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    """A handler that raises is logged; other calls keep being dispatched."""
    got: list[str] = []

    async def handler(begin: StasisStart, events: EventQueue) -> None:
        if begin.channel.id == "bad":
            raise RuntimeError("flow bug")
        got.extend([e.type async for e in events])

    async with Dispatcher(handler) as dispatcher:
        dispatcher.dispatch(start("bad"))
        dispatcher.dispatch(start("good"))
        bad = dispatcher.calls["bad"]
        async with asyncio.timeout(5):
            await asyncio.gather(bad, return_exceptions=True)
        dispatcher.dispatch(dtmf("bad", "1"))
        dispatcher.dispatch(end("good"))
        async with asyncio.timeout(5):
            await dispatcher.calls["good"]
    assert got == ["StasisEnd"]
    assert any("call handler for channel bad failed" in r.getMessage() for r in caplog.records)


async def test_unrouted_events_go_to_the_fallback(caplog: pytest.LogCaptureFixture) -> None:
    """An event for no known call or bridge is handed to on_unrouted."""
    caplog.set_level(logging.DEBUG)
    unrouted: list[Event] = []

    async def handler(begin: StasisStart, events: EventQueue) -> None:
        return None

    async with Dispatcher(handler, on_unrouted=unrouted.append) as dispatcher:
        dispatcher.dispatch(dtmf("stranger", "1"))
    assert [e.type for e in unrouted] == ["ChannelDtmfReceived"]


async def test_an_attached_leg_shares_its_callers_queue_and_detaches_quietly() -> None:
    """A leg attached to a call sends its events into that call's queue, starts no task of
    its own, and its end does not end the call."""
    seen: list[tuple[str, str]] = []
    call_queue: list[EventQueue] = []

    async def handler(begin: StasisStart, events: EventQueue) -> None:
        call_queue.append(events)
        async for event in events:
            channel = getattr(event, "channel", None)
            seen.append((event.type, channel.id if channel is not None else ""))

    async with Dispatcher(handler) as dispatcher:
        dispatcher.dispatch(start("caller"))
        await asyncio.sleep(0)
        dispatcher.attach_channel("leg", call_queue[0])
        for event in [start("leg"), dtmf("leg", "5"), end("leg"), destroyed("leg")]:
            dispatcher.dispatch(event)
        dispatcher.dispatch(dtmf("caller", "1"))
        assert list(dispatcher.calls) == ["caller"]
        dispatcher.dispatch(end("caller"))
        await asyncio.wait_for(dispatcher.calls["caller"], 1)

    assert seen == [
        ("StasisStart", "leg"),
        ("ChannelDtmfReceived", "leg"),
        ("StasisEnd", "leg"),
        ("ChannelDtmfReceived", "caller"),
        ("StasisEnd", "caller"),
    ]


async def test_a_forgotten_channel_id_starts_a_new_call_when_it_comes_back() -> None:
    """After forget() (Asterisk restarted and lost the channel), the old call's events end
    and a new StasisStart with the same id starts a new call instead of feeding the old one."""
    calls: list[tuple[str, list[str]]] = []

    async def handler(begin: StasisStart, events: EventQueue) -> None:
        seen: list[str] = []
        calls.append((begin.channel.id, seen))
        async for event in events:
            if isinstance(event, ChannelDtmfReceived):
                seen.append(event.digit)

    async with Dispatcher(handler) as dispatcher:
        dispatcher.dispatch(start("same.0"))
        dispatcher.dispatch(dtmf("same.0", "1"))
        await asyncio.sleep(0)
        dispatcher.forget("same.0")
        dispatcher.dispatch(start("same.0"))
        dispatcher.dispatch(dtmf("same.0", "2"))
        dispatcher.dispatch(end("same.0"))
        async with asyncio.timeout(2):
            while dispatcher.calls:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    assert calls == [("same.0", ["1"]), ("same.0", ["2"])]
