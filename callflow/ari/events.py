"""Typed ARI events and ``parse_event``: one JSON frame from Asterisk in, one event out.

Parsing never fails on a JSON object: an event type callflow does not model, or a
known type whose payload is not what we expect, becomes a :class:`GenericEvent` that
still carries the raw dict (and still routes by the channel ids it mentions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from .errors import AriError, InvalidResponse
from .models import Bridge, Channel, Endpoint, LiveRecording, Playback, parse_timestamp

__all__ = [
    "CHANNEL_ENDS",
    "ApplicationReplaced",
    "BridgeCreated",
    "BridgeDestroyed",
    "BridgeEvent",
    "ChannelBridgeEvent",
    "ChannelConnectedLine",
    "ChannelCreated",
    "ChannelDestroyed",
    "ChannelDtmfReceived",
    "ChannelEnteredBridge",
    "ChannelEvent",
    "ChannelHangupRequest",
    "ChannelHold",
    "ChannelLeftBridge",
    "ChannelStateChange",
    "ChannelTalkingFinished",
    "ChannelTalkingStarted",
    "ChannelUnhold",
    "ChannelUserevent",
    "ChannelVarset",
    "Dial",
    "Event",
    "GenericEvent",
    "PlaybackContinuing",
    "PlaybackEvent",
    "PlaybackFinished",
    "PlaybackStarted",
    "RecordingEvent",
    "RecordingFailed",
    "RecordingFinished",
    "RecordingStarted",
    "StasisEnd",
    "StasisStart",
    "parse_event",
]

logger = logging.getLogger(__name__)

Json = Mapping[str, Any]

CHANNEL_ENDS = frozenset({"StasisEnd", "ChannelDestroyed"})
"""The event types that end a channel: its call must see them, however malformed."""


def _ids_in_uri(target_uri: object, kind: str) -> tuple[str, ...]:
    prefix = f"{kind}:"
    if isinstance(target_uri, str) and target_uri.startswith(prefix):
        return (target_uri[len(prefix) :],)
    return ()


def _unique(ids: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in ids if i))


def _raw_id(value: object) -> str | None:
    """A resource's id as a payload that did not parse may still carry it: the object's
    ``id`` (a string, or a number where it should have been a string), or a bare id."""
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What every ARI event carries: its type, app, time, Asterisk and the raw JSON."""

    type: str
    application: str = ""
    timestamp: datetime | None = None
    asterisk_id: str = ""
    raw: Json = field(default_factory=dict, compare=False, hash=False, repr=False)
    received: float | None = field(default=None, compare=False, hash=False, repr=False)
    """When callflow read the event off its socket (``time.time()``); None for an event
    callflow made up (recovery's). Against ``timestamp``: the event's way to callflow."""

    def channel_ids(self) -> tuple[str, ...]:
        """The channels this event concerns, for routing to their calls."""
        return ()

    def bridge_ids(self) -> tuple[str, ...]:
        """The bridges this event concerns, for routing to bridge listeners."""
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericEvent(Event):
    """An event type callflow does not model (or could not parse); see ``raw``."""

    def channel_ids(self) -> tuple[str, ...]:
        ids: list[str] = []
        for key in ("channel", "peer", "caller", "forwarded", "replace_channel"):
            if (channel_id := _raw_id(self.raw.get(key))) is not None:
                ids.append(channel_id)
        for key in ("playback", "recording"):
            value = self.raw.get(key)
            if isinstance(value, Mapping):
                ids.extend(_ids_in_uri(value.get("target_uri"), "channel"))
        return _unique(ids)

    def bridge_ids(self) -> tuple[str, ...]:
        ids: list[str] = []
        for key in ("bridge", "destination_bridge"):
            if (bridge_id := _raw_id(self.raw.get(key))) is not None:
                ids.append(bridge_id)
        for key in ("playback", "recording"):
            value = self.raw.get(key)
            if isinstance(value, Mapping):
                ids.extend(_ids_in_uri(value.get("target_uri"), "bridge"))
        return _unique(ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplicationReplaced(Event):
    """Another WebSocket registered our app name; this connection gets no more events."""


# --- channel events ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEvent(Event):
    """An event about one channel."""

    channel: Channel

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisStart(ChannelEvent):
    """A channel entered our Stasis app: a new call (or leg) to handle."""

    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None

    def channel_ids(self) -> tuple[str, ...]:
        replaced = [self.replace_channel.id] if self.replace_channel else []
        return _unique([self.channel.id, *replaced])


@dataclass(frozen=True, slots=True, kw_only=True)
class StasisEnd(ChannelEvent):
    """A channel left our Stasis app (hung up, or continued in the dialplan)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelCreated(ChannelEvent):
    """A channel we are subscribed to was created (e.g. by originate)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDestroyed(ChannelEvent):
    """A channel is gone; ``cause`` is the Q.850 hangup cause."""

    cause: int = 0
    cause_txt: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStateChange(ChannelEvent):
    """A channel's state changed (Ringing, Up...); see ``channel.state``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelDtmfReceived(ChannelEvent):
    """The caller pressed a key."""

    digit: str = ""
    duration_ms: int = 0


SOFTHANGUP_SHUTDOWN = 0x04
"""Asterisk's ``AST_SOFTHANGUP_SHUTDOWN``: it hangs every channel up as it stops."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHangupRequest(ChannelEvent):
    """Someone asked to hang up the channel; ``soft`` if only a soft hangup.

    For a soft hangup Asterisk sends, as ``cause``, why it asked (its ``AST_SOFTHANGUP_*``
    flags), not a Q.850 cause: on a real Asterisk 22, 4 (``SHUTDOWN``) when it is stopped
    (``core stop now``, SIGTERM) and 32 (``EXPLICIT``) for ``channel request hangup``.
    A caller's own hang-up (a SIP BYE) comes as a hard request with a Q.850 cause. After
    the StasisEnd, Asterisk also sends a soft request with 16 (either way), which is no
    call's business any more."""

    cause: int | None = None
    soft: bool = False

    @property
    def asterisk_stopping(self) -> bool:
        """Asterisk hangs the channel up because it stops: nobody on the call asked."""
        return self.soft and self.cause is not None and bool(self.cause & SOFTHANGUP_SHUTDOWN)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelHold(ChannelEvent):
    """The far end put the channel on hold."""

    musicclass: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelUnhold(ChannelEvent):
    """The far end took the channel off hold."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelConnectedLine(ChannelEvent):
    """The connected-line identity of the channel changed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelTalkingStarted(ChannelEvent):
    """TALK_DETECT saw the party start talking."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelTalkingFinished(ChannelEvent):
    """TALK_DETECT saw the party stop talking after ``duration`` ms."""

    duration: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelBridgeEvent(ChannelEvent):
    """An event about a channel and the bridge it joined or left."""

    bridge: Bridge

    def bridge_ids(self) -> tuple[str, ...]:
        return (self.bridge.id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelEnteredBridge(ChannelBridgeEvent):
    """A channel joined a bridge."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelLeftBridge(ChannelBridgeEvent):
    """A channel left a bridge."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelVarset(Event):
    """A variable was set; ``channel`` is None for a global variable."""

    variable: str = ""
    value: str = ""
    channel: Channel | None = None

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,) if self.channel else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelUserevent(Event):
    """A user event (``POST /events/user/{name}``, or UserEvent() in the dialplan).

    ``userevent`` holds the variables it was sent with, plus ``eventname`` (Asterisk
    adds it). ``channel``, ``bridge`` and ``endpoint`` are set only when the sender
    named them as sources; without them the event concerns no call.
    """

    eventname: str = ""
    userevent: Mapping[str, Any] = field(default_factory=dict, hash=False)
    channel: Channel | None = None
    bridge: Bridge | None = None
    endpoint: Endpoint | None = None

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,) if self.channel else ()

    def bridge_ids(self) -> tuple[str, ...]:
        return (self.bridge.id,) if self.bridge else ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Dial(Event):
    """Progress of a dial from ``caller`` to ``peer``; final when ``dialstatus`` is set."""

    peer: Channel
    caller: Channel | None = None
    forwarded: Channel | None = None
    dialstatus: str = ""
    dialstring: str = ""
    forward: str = ""

    def channel_ids(self) -> tuple[str, ...]:
        others = [c.id for c in (self.caller, self.forwarded) if c is not None]
        return _unique([self.peer.id, *others])


# --- bridge, playback and recording events -----------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeEvent(Event):
    """An event about one bridge."""

    bridge: Bridge

    def bridge_ids(self) -> tuple[str, ...]:
        return (self.bridge.id,)


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeCreated(BridgeEvent):
    """A bridge was created."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeDestroyed(BridgeEvent):
    """A bridge was destroyed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackEvent(Event):
    """An event about a playback; it routes by ``playback.target_uri``."""

    playback: Playback

    def channel_ids(self) -> tuple[str, ...]:
        return _ids_in_uri(self.playback.target_uri, "channel")

    def bridge_ids(self) -> tuple[str, ...]:
        return _ids_in_uri(self.playback.target_uri, "bridge")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackStarted(PlaybackEvent):
    """A playback started."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackContinuing(PlaybackEvent):
    """A multi-media playback moved on to its next media URI."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaybackFinished(PlaybackEvent):
    """A playback finished (done, stopped, or failed: see ``playback.state``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingEvent(Event):
    """An event about a live recording; it routes by ``recording.target_uri``."""

    recording: LiveRecording

    def channel_ids(self) -> tuple[str, ...]:
        return _ids_in_uri(self.recording.target_uri, "channel")

    def bridge_ids(self) -> tuple[str, ...]:
        return _ids_in_uri(self.recording.target_uri, "bridge")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingStarted(RecordingEvent):
    """A recording started."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFinished(RecordingEvent):
    """A recording finished and is now stored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordingFailed(RecordingEvent):
    """A recording failed; see ``recording.cause``."""


# --- parsing -----------------------------------------------------------------------

E = TypeVar("E", bound=Event)
_Parser = Callable[[Json, dict[str, Any]], Event]
_PARSERS: dict[str, _Parser] = {}


def _int(data: Json, key: str, default: int = 0) -> int:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _str(data: Json, key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _opt_channel(data: Json, key: str) -> Channel | None:
    value = data.get(key)
    return Channel.from_json(value) if isinstance(value, Mapping) else None


def _register(cls: type[E], parse: Callable[[type[E], Json, dict[str, Any]], Event]) -> None:
    _PARSERS[cls.__name__] = lambda data, common: parse(cls, data, common)


def _channel_only(cls: type[ChannelEvent], data: Json, common: dict[str, Any]) -> ChannelEvent:
    return cls(channel=Channel.from_json(data.get("channel")), **common)


for _cls in (
    StasisEnd,
    ChannelCreated,
    ChannelStateChange,
    ChannelUnhold,
    ChannelConnectedLine,
    ChannelTalkingStarted,
):
    _register(_cls, _channel_only)


def _playback(cls: type[PlaybackEvent], data: Json, common: dict[str, Any]) -> PlaybackEvent:
    return cls(playback=Playback.from_json(data.get("playback")), **common)


for _pcls in (PlaybackStarted, PlaybackContinuing, PlaybackFinished):
    _register(_pcls, _playback)


def _recording(cls: type[RecordingEvent], data: Json, common: dict[str, Any]) -> RecordingEvent:
    return cls(recording=LiveRecording.from_json(data.get("recording")), **common)


for _rcls in (RecordingStarted, RecordingFinished, RecordingFailed):
    _register(_rcls, _recording)


def _bridge(cls: type[BridgeEvent], data: Json, common: dict[str, Any]) -> BridgeEvent:
    return cls(bridge=Bridge.from_json(data.get("bridge")), **common)


for _bcls in (BridgeCreated, BridgeDestroyed):
    _register(_bcls, _bridge)


def _bridged(
    cls: type[ChannelBridgeEvent], data: Json, common: dict[str, Any]
) -> ChannelBridgeEvent:
    return cls(
        channel=Channel.from_json(data.get("channel")),
        bridge=Bridge.from_json(data.get("bridge")),
        **common,
    )


_register(ChannelEnteredBridge, _bridged)
_register(ChannelLeftBridge, _bridged)
_register(ApplicationReplaced, lambda cls, data, common: cls(**common))
_register(
    StasisStart,
    lambda cls, data, common: cls(
        channel=Channel.from_json(data.get("channel")),
        args=tuple(str(a) for a in data["args"]) if isinstance(data.get("args"), list) else (),
        replace_channel=_opt_channel(data, "replace_channel"),
        **common,
    ),
)
_register(
    ChannelDestroyed,
    lambda cls, data, common: cls(
        channel=Channel.from_json(data.get("channel")),
        cause=_int(data, "cause"),
        cause_txt=_str(data, "cause_txt"),
        **common,
    ),
)
_register(
    ChannelDtmfReceived,
    lambda cls, data, common: cls(
        channel=Channel.from_json(data.get("channel")),
        digit=_str(data, "digit"),
        duration_ms=_int(data, "duration_ms"),
        **common,
    ),
)
_register(
    ChannelHangupRequest,
    lambda cls, data, common: cls(
        channel=Channel.from_json(data.get("channel")),
        cause=data["cause"] if isinstance(data.get("cause"), int) else None,
        soft=data.get("soft") is True,
        **common,
    ),
)
_register(
    ChannelHold,
    lambda cls, data, common: cls(
        channel=Channel.from_json(data.get("channel")),
        musicclass=_str(data, "musicclass"),
        **common,
    ),
)
_register(
    ChannelTalkingFinished,
    lambda cls, data, common: cls(
        channel=Channel.from_json(data.get("channel")),
        duration=_int(data, "duration"),
        **common,
    ),
)
_register(
    ChannelVarset,
    lambda cls, data, common: cls(
        variable=_str(data, "variable"),
        value=_str(data, "value"),
        channel=_opt_channel(data, "channel"),
        **common,
    ),
)


def _userevent(cls: type[ChannelUserevent], data: Json, common: dict[str, Any]) -> ChannelUserevent:
    variables = data.get("userevent")
    bridge, endpoint = data.get("bridge"), data.get("endpoint")
    return cls(
        eventname=_str(data, "eventname"),
        userevent=dict(variables) if isinstance(variables, Mapping) else {},
        channel=_opt_channel(data, "channel"),
        bridge=Bridge.from_json(bridge) if isinstance(bridge, Mapping) else None,
        endpoint=Endpoint.from_json(endpoint) if isinstance(endpoint, Mapping) else None,
        **common,
    )


_register(ChannelUserevent, _userevent)
_register(
    Dial,
    lambda cls, data, common: cls(
        peer=Channel.from_json(data.get("peer")),
        caller=_opt_channel(data, "caller"),
        forwarded=_opt_channel(data, "forwarded"),
        dialstatus=_str(data, "dialstatus"),
        dialstring=_str(data, "dialstring"),
        forward=_str(data, "forward"),
        **common,
    ),
)


def parse_event(data: object, *, received: float | None = None) -> Event:
    """Turn one decoded ARI event frame into a typed event.

    Raises :class:`InvalidResponse` only when ``data`` is not a JSON object with a
    ``type``; anything else (unknown type, unexpected payload) yields a GenericEvent,
    except the end of a channel: a StasisEnd or ChannelDestroyed whose channel id can
    still be read is that event, with a channel that has only its id, so its call ends
    as a hang-up and not as a mystery.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("type"), str):
        raise InvalidResponse("ARI event frame is not a JSON object with a 'type'")
    common: dict[str, Any] = {
        "type": data["type"],
        "application": _str(data, "application"),
        "timestamp": parse_timestamp(data.get("timestamp")),
        "asterisk_id": _str(data, "asterisk_id"),
        "raw": data,
        "received": received,
    }
    parser = _PARSERS.get(data["type"])
    if parser is not None:
        try:
            return parser(data, common)
        except (AriError, TypeError, ValueError) as exc:
            logger.warning("ARI %s event has an unexpected shape (%s)", data["type"], exc)
            channel_id = _raw_id(data.get("channel"))
            if data["type"] in CHANNEL_ENDS and channel_id is not None:
                # Its channel reduced to the id: what a call needs to know it ended.
                return parser({**data, "channel": {"id": channel_id}}, common)
    return GenericEvent(**common)
