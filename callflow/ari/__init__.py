"""callflow's ARI client: REST calls, the event stream, and per-call dispatch.

Wiring, in short::

    config = AriConfig(base_url="http://127.0.0.1:8088", username="callflow",
                       password=secret, apps=("callflow",))
    async with AriClient(config) as client, Dispatcher(handle_call) as dispatcher:
        async for item in EventStream(config):  # also Connected / Disconnected
            if isinstance(item, Event):
                dispatcher.dispatch(item)

where ``async def handle_call(start: StasisStart, events: EventQueue) -> None``
answers ``start.channel`` with ``client.channels.answer(...)`` and reads
``async for event in events`` until the call leaves the app.
"""

from __future__ import annotations

from .backoff import backoff, process_exception, retry_request
from .config import AriConfig
from .dispatch import CallHandler, Dispatcher, EventQueue
from .errors import (
    AriError,
    AriHttpError,
    AsteriskUnreachable,
    AuthenticationFailed,
    BadRequest,
    Conflict,
    EventStreamClosed,
    InvalidResponse,
    InvalidState,
    NotFound,
    NotInStasis,
    ServerError,
    Unprocessable,
)
from .events import (
    ApplicationReplaced,
    BridgeCreated,
    BridgeDestroyed,
    BridgeEvent,
    ChannelBridgeEvent,
    ChannelConnectedLine,
    ChannelCreated,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelEvent,
    ChannelHangupRequest,
    ChannelHold,
    ChannelLeftBridge,
    ChannelStateChange,
    ChannelTalkingFinished,
    ChannelTalkingStarted,
    ChannelUnhold,
    ChannelUserevent,
    ChannelVarset,
    Dial,
    Event,
    GenericEvent,
    PlaybackContinuing,
    PlaybackEvent,
    PlaybackFinished,
    PlaybackStarted,
    RecordingEvent,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
    parse_event,
)
from .models import (
    Application,
    AsteriskInfo,
    Bridge,
    CallerId,
    Channel,
    DialplanLocation,
    Endpoint,
    LiveRecording,
    Playback,
    Snapshot,
)
from .rest import AriClient
from .stream import Connected, Disconnected, EventStream, StreamItem

__all__ = [
    "Application",
    "ApplicationReplaced",
    "AriClient",
    "AriConfig",
    "AriError",
    "AriHttpError",
    "AsteriskInfo",
    "AsteriskUnreachable",
    "AuthenticationFailed",
    "BadRequest",
    "Bridge",
    "BridgeCreated",
    "BridgeDestroyed",
    "BridgeEvent",
    "CallHandler",
    "CallerId",
    "Channel",
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
    "Conflict",
    "Connected",
    "Dial",
    "DialplanLocation",
    "Disconnected",
    "Dispatcher",
    "Endpoint",
    "Event",
    "EventQueue",
    "EventStream",
    "EventStreamClosed",
    "GenericEvent",
    "InvalidResponse",
    "InvalidState",
    "LiveRecording",
    "NotFound",
    "NotInStasis",
    "Playback",
    "PlaybackContinuing",
    "PlaybackEvent",
    "PlaybackFinished",
    "PlaybackStarted",
    "RecordingEvent",
    "RecordingFailed",
    "RecordingFinished",
    "RecordingStarted",
    "ServerError",
    "Snapshot",
    "StasisEnd",
    "StasisStart",
    "StreamItem",
    "Unprocessable",
    "backoff",
    "parse_event",
    "process_exception",
    "retry_request",
]
