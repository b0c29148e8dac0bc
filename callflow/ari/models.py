"""Typed, immutable views of the ARI resources Asterisk sends back as JSON.

Each ``from_json`` tolerates extra fields (Asterisk adds them between versions) and
missing optional ones; a missing *identity* field (a channel without ``id``) is an
:class:`~callflow.ari.errors.InvalidResponse`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import InvalidResponse

__all__ = [
    "Application",
    "AsteriskInfo",
    "Bridge",
    "CallerId",
    "Channel",
    "DialplanLocation",
    "Endpoint",
    "LiveRecording",
    "Playback",
    "Snapshot",
    "parse_timestamp",
]

Json = Mapping[str, Any]


def parse_timestamp(value: object) -> datetime | None:
    """Parse an ARI timestamp such as ``2024-05-01T10:00:00.123+0000``; None if absent."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _str(data: Json, key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


def _opt_str(data: Json, key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _int(data: Json, key: str, default: int = 0) -> int:
    value = data.get(key)
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return default
    return default


def _strs(data: Json, key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def _obj(data: Json, key: str) -> Json:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _object(data: object, kind: str) -> Json:
    if not isinstance(data, Mapping):
        raise InvalidResponse(f"expected a {kind} JSON object, got {type(data).__name__}")
    return data


def _required(data: Json, key: str, kind: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidResponse(f"{kind} JSON has no {key!r}")
    return value


@dataclass(frozen=True, slots=True)
class CallerId:
    """A caller or connected-line identity: display name and number."""

    name: str = ""
    number: str = ""

    @classmethod
    def from_json(cls, data: Json) -> CallerId:
        return cls(name=_str(data, "name"), number=_str(data, "number"))


@dataclass(frozen=True, slots=True)
class DialplanLocation:
    """Where a channel is (or will continue) in the dialplan."""

    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, data: Json) -> DialplanLocation:
        return cls(
            context=_str(data, "context"),
            exten=_str(data, "exten"),
            priority=_int(data, "priority"),
            app_name=_str(data, "app_name"),
            app_data=_str(data, "app_data"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """A channel: one leg of a call (the caller's, an agent's, a snoop...)."""

    id: str
    name: str = ""
    state: str = ""
    caller: CallerId = CallerId()
    connected: CallerId = CallerId()
    accountcode: str = ""
    dialplan: DialplanLocation = DialplanLocation()
    creationtime: datetime | None = None
    language: str = ""
    channelvars: Mapping[str, str] = field(default_factory=dict, hash=False)
    protocol_id: str = ""

    @classmethod
    def from_json(cls, data: object) -> Channel:
        data = _object(data, "Channel")
        channel_id = _required(data, "id", "Channel")
        raw_vars = _obj(data, "channelvars")
        return cls(
            id=channel_id,
            name=_str(data, "name"),
            state=_str(data, "state"),
            caller=CallerId.from_json(_obj(data, "caller")),
            connected=CallerId.from_json(_obj(data, "connected")),
            accountcode=_str(data, "accountcode"),
            dialplan=DialplanLocation.from_json(_obj(data, "dialplan")),
            creationtime=parse_timestamp(data.get("creationtime")),
            language=_str(data, "language"),
            channelvars={str(k): "" if v is None else str(v) for k, v in raw_vars.items()},
            protocol_id=_str(data, "protocol_id"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Bridge:
    """A bridge: where channels are mixed (a conversation) or held (a queue)."""

    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    channels: tuple[str, ...] = ()
    name: str = ""
    creator: str = ""
    video_mode: str = ""
    creationtime: datetime | None = None

    @classmethod
    def from_json(cls, data: object) -> Bridge:
        data = _object(data, "Bridge")
        bridge_id = _required(data, "id", "Bridge")
        return cls(
            id=bridge_id,
            technology=_str(data, "technology"),
            bridge_type=_str(data, "bridge_type"),
            bridge_class=_str(data, "bridge_class"),
            channels=_strs(data, "channels"),
            name=_str(data, "name"),
            creator=_str(data, "creator"),
            video_mode=_str(data, "video_mode"),
            creationtime=parse_timestamp(data.get("creationtime")),
        )


def _target_id(target_uri: str, kind: str) -> str | None:
    prefix = f"{kind}:"
    return target_uri[len(prefix) :] if target_uri.startswith(prefix) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Playback:
    """Media being played to a channel or bridge (``target_uri`` says which)."""

    id: str
    media_uri: str = ""
    next_media_uri: str | None = None
    target_uri: str = ""
    language: str = ""
    state: str = ""

    @property
    def channel_id(self) -> str | None:
        """The channel this plays to, from ``target_uri`` ``channel:<id>``."""
        return _target_id(self.target_uri, "channel")

    @property
    def bridge_id(self) -> str | None:
        """The bridge this plays to, from ``target_uri`` ``bridge:<id>``."""
        return _target_id(self.target_uri, "bridge")

    @classmethod
    def from_json(cls, data: object) -> Playback:
        data = _object(data, "Playback")
        playback_id = _required(data, "id", "Playback")
        return cls(
            id=playback_id,
            media_uri=_str(data, "media_uri"),
            next_media_uri=_opt_str(data, "next_media_uri"),
            target_uri=_str(data, "target_uri"),
            language=_str(data, "language"),
            state=_str(data, "state"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveRecording:
    """A recording in progress (or just ended) on a channel or bridge."""

    name: str
    format: str = ""
    target_uri: str = ""
    state: str = ""
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str | None = None

    @property
    def channel_id(self) -> str | None:
        """The recorded channel, from ``target_uri`` ``channel:<id>``."""
        return _target_id(self.target_uri, "channel")

    @property
    def bridge_id(self) -> str | None:
        """The recorded bridge, from ``target_uri`` ``bridge:<id>``."""
        return _target_id(self.target_uri, "bridge")

    @classmethod
    def from_json(cls, data: object) -> LiveRecording:
        data = _object(data, "LiveRecording")
        name = _required(data, "name", "LiveRecording")

        def opt_int(key: str) -> int | None:
            return _int(data, key) if key in data else None

        return cls(
            name=name,
            format=_str(data, "format"),
            target_uri=_str(data, "target_uri"),
            state=_str(data, "state"),
            duration=opt_int("duration"),
            talking_duration=opt_int("talking_duration"),
            silence_duration=opt_int("silence_duration"),
            cause=_opt_str(data, "cause"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """A device or trunk Asterisk can dial, e.g. ``PJSIP/agent-1001``."""

    technology: str
    resource: str
    state: str = ""
    channel_ids: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """The dialable form ``technology/resource``."""
        return f"{self.technology}/{self.resource}"

    @classmethod
    def from_json(cls, data: object) -> Endpoint:
        data = _object(data, "Endpoint")
        technology = _required(data, "technology", "Endpoint")
        resource = _required(data, "resource", "Endpoint")
        return cls(
            technology=technology,
            resource=resource,
            state=_str(data, "state"),
            channel_ids=_strs(data, "channel_ids"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Application:
    """A Stasis application and the event sources it is subscribed to."""

    name: str
    channel_ids: tuple[str, ...] = ()
    bridge_ids: tuple[str, ...] = ()
    endpoint_ids: tuple[str, ...] = ()
    device_names: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: object) -> Application:
        data = _object(data, "Application")
        name = _required(data, "name", "Application")
        return cls(
            name=name,
            channel_ids=_strs(data, "channel_ids"),
            bridge_ids=_strs(data, "bridge_ids"),
            endpoint_ids=_strs(data, "endpoint_ids"),
            device_names=_strs(data, "device_names"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AsteriskInfo:
    """What ``GET /asterisk/info`` says about the running Asterisk."""

    version: str = ""
    entity_id: str = ""
    system_name: str = ""  # asterisk.conf's systemname: the prefix of its channel ids
    startup_time: datetime | None = None
    last_reload_time: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @classmethod
    def from_json(cls, data: object) -> AsteriskInfo:
        data = _object(data, "AsteriskInfo")
        system = _obj(data, "system")
        status = _obj(data, "status")
        config = _obj(data, "config")
        return cls(
            version=_str(system, "version"),
            entity_id=_str(system, "entity_id"),
            system_name=_str(config, "name"),
            startup_time=parse_timestamp(status.get("startup_time")),
            last_reload_time=parse_timestamp(status.get("last_reload_time")),
            raw=dict(data),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """What Asterisk holds right now, read after a (re)connect to catch up.

    Asterisk does not queue events while the WebSocket is down, so after a reconnect
    the app compares this with the calls and bridges it tracks. Channel JSON does not
    say which app a channel is in; ``applications`` lists each app's subscriptions,
    which include every channel and bridge currently in that app (unless the app was
    connected with ``subscribeAll``, which subscribes to everything).
    """

    channels: tuple[Channel, ...] = ()
    bridges: tuple[Bridge, ...] = ()
    applications: tuple[Application, ...] = ()

    def subscribed_channels(self) -> tuple[Channel, ...]:
        """The channels one of our apps is subscribed to."""
        ids = {i for app in self.applications for i in app.channel_ids}
        return tuple(c for c in self.channels if c.id in ids)

    def subscribed_bridges(self) -> tuple[Bridge, ...]:
        """The bridges one of our apps is subscribed to."""
        ids = {i for app in self.applications for i in app.bridge_ids}
        return tuple(b for b in self.bridges if b.id in ids)
