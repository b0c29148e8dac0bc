"""Who ended a call, from how Asterisk asked to hang it up: a caller's hang-up, or Asterisk
stopping (the call is lost with it, not abandoned). The soft-hangup flags are those a real
Asterisk 22 sent (probed: SIGTERM gave 4, ``channel request hangup`` gave 32)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest

from callflow.ari.dispatch import EventQueue
from callflow.ari.events import ChannelHangupRequest, Event, StasisStart, parse_event
from callflow.ari.rest import AriClient
from callflow.call.primitives import Call, CallerHangup, CallLost
from tests.unit.ari.ari_fake import channel_json, event_json

CHANNEL = "1700.1"
STAMP = "2026-12-07T01:20:00.250+0000"


def event(event_type: str, **fields: Any) -> Event:
    return parse_event(event_json(event_type, channel=channel_json(CHANNEL), **fields))


def hangup_request(**fields: Any) -> ChannelHangupRequest:
    request = event("ChannelHangupRequest", timestamp=STAMP, **fields)
    assert isinstance(request, ChannelHangupRequest)
    return request


@pytest.fixture
def call() -> Call:
    start = event("StasisStart", args=["inbound", "100"])
    assert isinstance(start, StasisStart)
    return Call(cast(AriClient, object()), start, EventQueue(CHANNEL))


@pytest.mark.parametrize(
    ("fields", "stopping"),
    [
        ({"cause": 16}, False),  # a SIP BYE: a hard request, Q.850 "normal clearing"
        ({"cause": 4, "soft": True}, True),  # core stop now / SIGTERM
        ({"cause": 16, "soft": True}, False),  # Asterisk's own, after the StasisEnd
        ({"cause": 32, "soft": True}, False),  # channel request hangup (an operator)
        ({"cause": 4 | 32, "soft": True}, True),
        ({"cause": 4}, False),  # a hard request with Q.850 cause 4: not a flag
        ({"soft": True}, False),
    ],
)
def test_a_hangup_request_says_whether_asterisk_is_stopping(
    fields: dict[str, Any], stopping: bool
) -> None:
    assert hangup_request(**fields).asterisk_stopping is stopping


async def test_a_call_asterisk_hangs_up_as_it_stops_is_lost_at_that_moment(call: Call) -> None:
    """The request, then the StasisEnd that follows: the call ends lost, at the request's
    timestamp, as a crash would have it."""
    call.events.put(hangup_request(cause=4, soft=True))
    call.events.put(event("StasisEnd"))
    with pytest.raises(CallLost) as ended:
        await call.next_event(1)
    assert ended.value.at == datetime(2026, 12, 7, 1, 20, 0, 250000, tzinfo=UTC).timestamp()


async def test_a_callers_hang_up_is_theirs_even_if_asterisk_stops_a_moment_later(
    call: Call,
) -> None:
    """The caller hung up first: their hang-up, whatever Asterisk does next."""
    call.events.put(hangup_request(cause=16))
    call.events.put(hangup_request(cause=4, soft=True))
    with pytest.raises(CallerHangup) as ended:
        await call.next_event(1)
    assert type(ended.value) is CallerHangup
    with pytest.raises(CallerHangup) as again:
        await call.next_event(1)
    assert type(again.value) is CallerHangup


async def test_an_operators_hangup_is_not_a_loss(call: Call) -> None:
    call.events.put(hangup_request(cause=32, soft=True))
    with pytest.raises(CallerHangup) as ended:
        await call.next_event(1)
    assert type(ended.value) is CallerHangup
