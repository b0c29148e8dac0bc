"""User events: POST /events/user/{name}, the ChannelUserevent event, and who receives it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from ari_fake import FakeAri, Session, channel_json, event_json, make_config

from callflow.app.service import Service
from callflow.ari import (
    AriClient,
    BadRequest,
    ChannelUserevent,
    Dispatcher,
    EventQueue,
    GenericEvent,
    NotFound,
    StasisStart,
    Unprocessable,
    parse_event,
)

BRIDGE = {"id": "b-1", "technology": "simple_bridge", "bridge_type": "mixing", "channels": []}
PATH = "/events/user/callflow-agent"


def userevent(variables: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A ChannelUserevent frame as Asterisk 22 sends it (it adds eventname to the variables)."""
    return event_json(
        "ChannelUserevent",
        eventname="callflow-agent",
        userevent={**(variables or {}), "eventname": "callflow-agent"},
        **fields,
    )


# --- REST --------------------------------------------------------------------------


async def test_user_event_posts_variables_in_a_json_body(fake: FakeAri, client: AriClient) -> None:
    """The app goes in the query string, the variables in a JSON body under "variables"."""
    fake.reply("POST", PATH, 204)
    await client.events.user_event(
        "callflow-agent", application="callflow", variables={"agent": "agent1", "n": "2"}
    )
    (request,) = fake.received
    assert (request.method, request.path_qs) == (
        "POST",
        "/ari/events/user/callflow-agent?application=callflow",
    )
    assert json.loads(request.body) == {"variables": {"agent": "agent1", "n": "2"}}


async def test_user_event_always_sends_a_variables_object_and_joins_sources(
    fake: FakeAri, client: AriClient
) -> None:
    """Without variables an empty object is sent (Asterisk answers 500 to anything else);
    several sources are comma-joined; the event name is quoted in the path."""
    fake.reply("POST", "/events/user/a b", 204)
    await client.events.user_event(
        "a b", application="callflow", source=["channel:c1", "bridge:b-1"]
    )
    (request,) = fake.received
    assert request.path_qs.startswith("/ari/events/user/a%20b?")
    assert request.query == {"application": "callflow", "source": "channel:c1,bridge:b-1"}
    assert json.loads(request.body) == {"variables": {}}


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (404, "Application not found", NotFound),
        (422, "Event source was not found", Unprocessable),
        (400, "Invalid event source URI scheme", BadRequest),
    ],
)
async def test_user_event_errors_map_to_the_ari_error_tree(
    fake: FakeAri, client: AriClient, status: int, message: str, error: type[Exception]
) -> None:
    """404: no such app connected; 422: a source is missing; 400: a bad source."""
    fake.reply("POST", PATH, status, {"message": message})
    with pytest.raises(error, match=message):
        await client.events.user_event("callflow-agent", application="callflow", source="x:y")


# --- parsing -----------------------------------------------------------------------


def test_user_event_without_sources_concerns_no_call() -> None:
    """A user event sent to the app alone parses with its variables and routes nowhere."""
    event = parse_event(userevent({"request": "r1", "agent": "agent1", "n": 3}))
    assert isinstance(event, ChannelUserevent)
    assert event.eventname == "callflow-agent"
    assert event.userevent == {
        "request": "r1",
        "agent": "agent1",
        "n": 3,
        "eventname": "callflow-agent",
    }
    assert (event.channel, event.bridge, event.endpoint) == (None, None, None)
    assert event.channel_ids() == ()
    assert event.bridge_ids() == ()
    assert event.application == "callflow"


def test_user_event_with_sources_routes_by_them() -> None:
    """Channel, bridge and endpoint sources are typed; channel and bridge ids route."""
    event = parse_event(
        userevent(
            channel=channel_json("c1"),
            bridge=BRIDGE,
            endpoint={"technology": "PJSIP", "resource": "agent1", "state": "online"},
        )
    )
    assert isinstance(event, ChannelUserevent)
    assert event.channel_ids() == ("c1",)
    assert event.bridge_ids() == ("b-1",)
    assert event.endpoint is not None and event.endpoint.address == "PJSIP/agent1"


def test_user_event_with_odd_payloads() -> None:
    """userevent that is not an object reads as empty; a source without an id degrades the
    event to a GenericEvent (like every other event type)."""
    odd = parse_event(event_json("ChannelUserevent", eventname="x", userevent=[1, 2]))
    assert isinstance(odd, ChannelUserevent) and odd.userevent == {}
    broken = parse_event(event_json("ChannelUserevent", eventname="x", channel={"name": "n"}))
    assert type(broken) is GenericEvent


# --- who receives it ---------------------------------------------------------------


async def test_dispatcher_hands_a_callless_user_event_to_on_unrouted() -> None:
    """With no source the event reaches on_unrouted; with a watched channel, that call."""
    unrouted: list[object] = []
    seen: list[object] = []

    async def on_call(start: StasisStart, events: EventQueue) -> None:
        seen.extend([event async for event in events])

    async with Dispatcher(on_call, on_unrouted=unrouted.append) as dispatcher:
        dispatcher.dispatch(parse_event(userevent({"a": "1"})))
        dispatcher.dispatch(
            parse_event(event_json("StasisStart", args=[], channel=channel_json("c1")))
        )
        in_call = parse_event(userevent(channel=channel_json("c1")))
        dispatcher.dispatch(in_call)
        dispatcher.dispatch(parse_event(event_json("StasisEnd", channel=channel_json("c1"))))
        await asyncio.gather(*dispatcher.calls.values())
    assert [type(e) for e in unrouted] == [ChannelUserevent]
    assert in_call in seen


async def test_service_runs_registered_user_event_handlers_and_survives_failures(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    """Over a real WebSocket: a handler registered by name gets its events; one that raises
    is logged and the next event is still handled; unknown names are ignored."""
    fake.sessions.append(
        Session(
            frames=[
                userevent({"n": "1"}),
                event_json("ChannelUserevent", eventname="other", userevent={}),
                userevent({"n": "boom"}),
                userevent({"n": "3"}),
            ]
        )
    )
    handled: list[str] = []
    done = asyncio.Event()

    def handler(event: ChannelUserevent) -> None:
        handled.append(str(event.userevent["n"]))
        if event.userevent["n"] == "boom":
            raise RuntimeError("bad event")
        if event.userevent["n"] == "3":
            done.set()

    async def no_calls(call: object) -> None:
        raise AssertionError("no call expected")

    service = Service(make_config(fake.base_url), no_calls)
    service.on_user_event("callflow-agent", handler)
    task = asyncio.create_task(service.run())
    try:
        async with asyncio.timeout(5):
            await done.wait()
    finally:
        await service.stop()
        await task
    assert handled == ["1", "boom", "3"]
    assert "user event 'callflow-agent': handler failed" in caplog.text
