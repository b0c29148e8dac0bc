"""The ARI event socket: typed events, reconnects, fatal errors (fake ARI server)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from ari_fake import AUTH_TOKEN, PASSWORD, USERNAME, FakeAri, Session, channel_json, event_json
from ari_fake import make_config as fake_config

from callflow.ari import (
    AriConfig,
    AsteriskUnreachable,
    AuthenticationFailed,
    BadRequest,
    ChannelDtmfReceived,
    Connected,
    Disconnected,
    EventStream,
    EventStreamClosed,
    GenericEvent,
    ServerError,
    StasisEnd,
    StasisStart,
    StreamItem,
)

CAP = 0.05


def make_config(base_url: str, **overrides: object) -> AriConfig:
    """Fast reconnects, capped at CAP, for the backoff tests."""
    fast: dict[str, object] = {"backoff_initial": 0.01, "backoff_max": CAP, "connect_timeout": 2.0}
    return fake_config(base_url, **(fast | overrides))


def dtmf(digit: str, channel_id: str = "1700.1") -> dict[str, object]:
    return event_json(
        "ChannelDtmfReceived", digit=digit, duration_ms=120, channel=channel_json(channel_id)
    )


class Reader:
    """Pull items one by one from an EventStream, never waiting more than a few seconds."""

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream
        self.items: AsyncIterator[StreamItem] = aiter(stream)

    async def take(self, count: int) -> list[StreamItem]:
        async with asyncio.timeout(5):
            return [await anext(self.items) for _ in range(count)]

    async def aclose(self) -> None:
        await self.stream.close()
        await self.items.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def reader(fake: FakeAri) -> AsyncIterator[Reader]:
    reader = Reader(EventStream(make_config(fake.base_url)))
    yield reader
    await reader.aclose()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_events_arrive_typed_and_in_order(fake: FakeAri, reader: Reader) -> None:
    """The stream yields Connected, then each frame as its typed event, in order."""
    fake.sessions.append(
        Session(
            frames=[
                event_json("StasisStart", args=["inbound"], channel=channel_json("1700.1")),
                dtmf("1"),
                event_json("StasisEnd", channel=channel_json("1700.1")),
            ]
        )
    )
    connected, start, digit, end = await reader.take(4)
    assert connected == Connected(reconnect=False)
    assert isinstance(start, StasisStart) and start.args == ("inbound",)
    assert isinstance(digit, ChannelDtmfReceived) and digit.digit == "1"
    assert isinstance(end, StasisEnd) and end.channel.id == "1700.1"


@pytest.mark.parametrize("drop", ["abort", "close"])
async def test_events_resume_in_order_after_a_drop(
    fake: FakeAri, reader: Reader, drop: str
) -> None:
    """When Asterisk drops the socket mid-stream, the stream reconnects and resumes in order."""
    fake.sessions.append(Session(frames=[dtmf("1"), dtmf("2"), dtmf("3")], then=drop))  # type: ignore[arg-type]
    fake.sessions.append(Session(frames=[dtmf("4"), dtmf("5")]))
    items = await reader.take(4 + 2 + 2)
    assert items[0] == Connected(reconnect=False)
    assert [e.digit for e in items[1:4] if isinstance(e, ChannelDtmfReceived)] == ["1", "2", "3"]
    lost = items[4]
    assert isinstance(lost, Disconnected) and isinstance(lost.error, EventStreamClosed)
    assert 0 <= lost.retry_in <= CAP
    assert items[5] == Connected(reconnect=True)
    assert [e.digit for e in items[6:] if isinstance(e, ChannelDtmfReceived)] == ["4", "5"]


async def test_server_errors_are_retried_with_bounded_delays(fake: FakeAri, reader: Reader) -> None:
    """A 503 on the handshake is retried, each wait drawn below the configured cap."""
    fake.handshake_failures.extend([503] * 6)
    items = await reader.take(7)
    failures, connected = items[:6], items[6]
    assert all(isinstance(f, Disconnected) and isinstance(f.error, ServerError) for f in failures)
    assert all(0 <= f.retry_in <= CAP for f in failures if isinstance(f, Disconnected))
    assert connected == Connected(reconnect=False)


async def test_unreachable_asterisk_is_retried_until_closed() -> None:
    """A refused connection is retryable: Disconnected items until close() ends the stream."""
    reader = Reader(EventStream(make_config(f"http://127.0.0.1:{unused_port()}")))
    items = await reader.take(3)
    assert all(
        isinstance(i, Disconnected) and isinstance(i.error, AsteriskUnreachable) for i in items
    )
    assert all(i.retry_in <= CAP for i in items if isinstance(i, Disconnected))
    await reader.stream.close()
    async with asyncio.timeout(5):
        assert [i async for i in reader.items] == []


async def test_wrong_credentials_are_fatal(fake: FakeAri) -> None:
    """A 401 on the event socket is raised at once with a clear message, without retrying."""
    reader = Reader(EventStream(make_config(fake.base_url, password="wrong-password")))
    with pytest.raises(AuthenticationFailed, match="credentials") as caught:
        await reader.take(1)
    assert len(fake.received) == 1
    assert "wrong-password" not in str(caught.value)


async def test_unknown_app_name_is_fatal(fake: FakeAri) -> None:
    """An app name Asterisk refuses (400) is raised at once, naming the app names as the cause."""
    reader = Reader(EventStream(make_config(fake.base_url, apps=("callfolw",))))
    with pytest.raises(BadRequest, match="app names") as caught:
        await reader.take(1)
    assert "Invalid application" in caught.value.message
    assert len(fake.received) == 1


async def test_bad_frames_are_skipped_and_unknown_types_kept(
    fake: FakeAri, reader: Reader, caplog: pytest.LogCaptureFixture
) -> None:
    """A non-JSON frame is logged and skipped; an unknown type arrives as a GenericEvent."""
    fake.sessions.append(
        Session(
            frames=[
                "{this is not json",
                "[1, 2, 3]",
                event_json("ChannelToneDetected", channel=channel_json("1700.1")),
                dtmf("9"),
            ]
        )
    )
    _, unknown, digit = await reader.take(3)
    assert isinstance(unknown, GenericEvent) and unknown.type == "ChannelToneDetected"
    assert unknown.channel_ids() == ("1700.1",)
    assert isinstance(digit, ChannelDtmfReceived) and digit.digit == "9"
    assert any("not JSON" in r.getMessage() for r in caplog.records)


async def test_socket_credentials_stay_out_of_urls_and_logs(
    fake: FakeAri, reader: Reader, caplog: pytest.LogCaptureFixture
) -> None:
    """The socket authenticates by header: no credential in its URL or in any DEBUG log line."""
    caplog.set_level(logging.DEBUG)
    fake.sessions.append(Session(frames=[dtmf("5")]))
    await reader.take(2)
    (request,) = fake.received
    assert request.path_qs == "/ari/events?app=callflow&subscribeAll=false"
    assert request.headers["Authorization"] == f"Basic {AUTH_TOKEN}"
    messages = [r.getMessage() for r in caplog.records]
    assert any("[redacted]" in m for m in messages), "websockets handshake logging not seen"
    assert not [m for m in messages if PASSWORD in m or AUTH_TOKEN in m or USERNAME + ":" in m]
    assert PASSWORD not in repr(reader.stream)


async def test_close_ends_a_connected_stream(fake: FakeAri) -> None:
    """close() from another task ends the iteration of a connected, idle stream."""
    stream = EventStream(make_config(fake.base_url))
    seen: list[StreamItem] = []
    connected = asyncio.Event()

    async def consume() -> None:
        async for item in stream:
            seen.append(item)
            connected.set()

    consumer = asyncio.create_task(consume())
    async with asyncio.timeout(5):
        await connected.wait()
        await stream.close()
        await consumer
    assert seen == [Connected(reconnect=False)]


async def test_not_found_then_unavailable_while_asterisk_starts_is_retried(
    fake: FakeAri, reader: Reader
) -> None:
    """While Asterisk 22 starts, /ari/events answers 404, then 503, then connects: all but
    the last are Disconnected items, never a fatal error."""
    fake.handshake_failures.extend([404, 404, 503])
    items = await reader.take(4)
    assert [type(i.error).__name__ for i in items[:3] if isinstance(i, Disconnected)] == [
        "NotFound",
        "NotFound",
        "ServerError",
    ]
    assert items[3] == Connected(reconnect=False)


async def test_backoff_starts_afresh_after_a_healthy_connection(
    fake: FakeAri, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection that stayed up resets the backoff: the first retry after its drop is the
    policy's first, short delay, not one grown by the failures before it."""
    import callflow.ari.stream as stream_module

    monkeypatch.setattr(stream_module, "HEALTHY_AFTER", 0.05)
    policies: list[int] = []

    def delays() -> Iterator[float]:
        policies.append(len(policies))
        return itertools.count(0.1 * len(policies), 0.5)  # 0.1, 0.6, ... then 0.2, 0.7, ...

    fake.handshake_failures.extend([503, 503])
    fake.sessions.append(Session(hold=0.2, then="close"))
    fake.sessions.append(Session())
    reader = Reader(EventStream(make_config(fake.base_url), delays=delays))
    try:
        items = await reader.take(5)
    finally:
        await reader.aclose()
    assert [type(i).__name__ for i in items] == [
        "Disconnected",
        "Disconnected",
        "Connected",
        "Disconnected",
        "Connected",
    ]
    drops = [i for i in items if isinstance(i, Disconnected)]
    # The first policy's 0.1 and 0.6, then after the healthy connection a new policy's 0.2.
    assert [round(d.retry_in, 2) for d in drops] == [0.1, 0.6, 0.2]
    assert len(policies) == 2
