"""Parsing ARI event frames and resource JSON into typed objects (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ari_fake import channel_json, event_json

from callflow.ari import (
    ApplicationReplaced,
    BridgeDestroyed,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelHangupRequest,
    ChannelStateChange,
    ChannelTalkingFinished,
    ChannelVarset,
    Dial,
    GenericEvent,
    InvalidResponse,
    LiveRecording,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    StasisStart,
    parse_event,
)

BRIDGE = {"id": "b-1", "technology": "simple_bridge", "bridge_type": "mixing", "channels": []}


def test_stasis_start_carries_args_channel_and_common_fields() -> None:
    """StasisStart parses args, the channel and the common event fields, keeping the raw dict."""
    frame = event_json(
        "StasisStart",
        args=["inbound", "sales"],
        channel=channel_json("1700.1"),
        replace_channel=channel_json("1699.9"),
    )
    event = parse_event(frame)
    assert isinstance(event, StasisStart)
    assert event.args == ("inbound", "sales")
    assert event.channel.caller.name == "Alice"
    assert event.replace_channel is not None and event.replace_channel.id == "1699.9"
    assert event.application == "callflow"
    assert event.asterisk_id == "02:42:ac:11:00:02"
    assert event.timestamp == datetime(2025, 1, 2, 10, 0, 1, 250000, tzinfo=UTC)
    assert event.raw is frame
    assert event.channel_ids() == ("1700.1", "1699.9")


@pytest.mark.parametrize(
    ("frame", "expected_type", "channel_ids", "bridge_ids"),
    [
        (
            event_json(
                "ChannelDtmfReceived", digit="#", duration_ms=80, channel=channel_json("c1")
            ),
            ChannelDtmfReceived,
            ("c1",),
            (),
        ),
        (
            event_json("ChannelStateChange", channel=channel_json("c1", state="Up")),
            ChannelStateChange,
            ("c1",),
            (),
        ),
        (
            event_json("ChannelHangupRequest", cause=16, soft=True, channel=channel_json("c1")),
            ChannelHangupRequest,
            ("c1",),
            (),
        ),
        (
            event_json(
                "ChannelDestroyed", cause=17, cause_txt="User busy", channel=channel_json("c1")
            ),
            ChannelDestroyed,
            ("c1",),
            (),
        ),
        (
            event_json("ChannelVarset", variable="GLOBAL_OPEN", value="1"),
            ChannelVarset,
            (),
            (),
        ),
        (
            event_json(
                "Dial",
                dialstatus="ANSWER",
                peer=channel_json("agent"),
                caller=channel_json("caller"),
            ),
            Dial,
            ("agent", "caller"),
            (),
        ),
        (
            event_json(
                "PlaybackStarted",
                playback={"id": "p1", "target_uri": "channel:c1", "state": "playing"},
            ),
            PlaybackStarted,
            ("c1",),
            (),
        ),
        (
            event_json(
                "PlaybackFinished",
                playback={"id": "p2", "target_uri": "bridge:b-1", "state": "done"},
            ),
            PlaybackFinished,
            (),
            ("b-1",),
        ),
        (
            event_json(
                "RecordingFailed",
                recording={"name": "r1", "target_uri": "channel:c1", "cause": "disk full"},
            ),
            RecordingFailed,
            ("c1",),
            (),
        ),
        (
            event_json("ChannelEnteredBridge", bridge=BRIDGE, channel=channel_json("c1")),
            ChannelEnteredBridge,
            ("c1",),
            ("b-1",),
        ),
        (event_json("BridgeDestroyed", bridge=BRIDGE), BridgeDestroyed, (), ("b-1",)),
        (
            event_json("ChannelTalkingFinished", duration=2300, channel=channel_json("c1")),
            ChannelTalkingFinished,
            ("c1",),
            (),
        ),
        (event_json("ApplicationReplaced"), ApplicationReplaced, (), ()),
    ],
)
def test_known_events_parse_and_route(
    frame: dict[str, object],
    expected_type: type,
    channel_ids: tuple[str, ...],
    bridge_ids: tuple[str, ...],
) -> None:
    """Each modelled event parses to its class and names the channels and bridges it concerns."""
    event = parse_event(frame)
    assert type(event) is expected_type
    assert event.channel_ids() == channel_ids
    assert event.bridge_ids() == bridge_ids


def test_event_specific_fields() -> None:
    """Event fields keep Asterisk's meaning: DTMF duration, hangup cause, dial status."""
    digit = parse_event(
        event_json("ChannelDtmfReceived", digit="5", duration_ms=90, channel=channel_json("c"))
    )
    assert isinstance(digit, ChannelDtmfReceived) and (digit.digit, digit.duration_ms) == ("5", 90)
    hangup = parse_event(event_json("ChannelHangupRequest", channel=channel_json("c")))
    assert isinstance(hangup, ChannelHangupRequest) and hangup.cause is None and not hangup.soft
    dial = parse_event(event_json("Dial", dialstatus="BUSY", peer=channel_json("a")))
    assert isinstance(dial, Dial) and dial.dialstatus == "BUSY" and dial.caller is None


def test_unknown_event_type_becomes_generic_event() -> None:
    """An event type callflow does not model is a GenericEvent that still routes by channel."""
    frame = event_json("ChannelToneDetected", channel=channel_json("c1"), bridge={"id": "b-9"})
    event = parse_event(frame)
    assert type(event) is GenericEvent
    assert event.type == "ChannelToneDetected"
    assert event.channel_ids() == ("c1",)
    assert event.bridge_ids() == ("b-9",)


def test_known_type_with_broken_payload_becomes_generic_event() -> None:
    """A StasisStart without a channel does not crash parsing; it degrades to a GenericEvent."""
    event = parse_event(event_json("StasisStart", args=[]))
    assert type(event) is GenericEvent
    assert event.type == "StasisStart"


@pytest.mark.parametrize("frame", [[1, 2], "StasisStart", {"no": "type"}, None])
def test_frames_that_are_not_events_are_rejected(frame: object) -> None:
    """Only a JSON object with a type is an event; anything else is InvalidResponse."""
    with pytest.raises(InvalidResponse):
        parse_event(frame)


def test_models_tolerate_missing_optional_and_extra_fields() -> None:
    """Resource JSON may lack optional fields or carry new ones; only the id is required."""
    channel = Channel.from_json({"id": "c1", "shiny_new_field": {"x": 1}})
    assert channel.name == "" and channel.creationtime is None and channel.channelvars == {}
    recording = LiveRecording.from_json({"name": "r1", "duration": 12})
    assert recording.duration == 12 and recording.talking_duration is None
    with pytest.raises(InvalidResponse):
        Channel.from_json({"name": "no id"})
