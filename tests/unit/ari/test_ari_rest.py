"""What the ARI REST client sends and how it types what comes back (fake ARI server)."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
from ari_fake import AUTH_TOKEN, PASSWORD, USERNAME, FakeAri, channel_json, make_config

from callflow.ari import (
    AriClient,
    AsteriskUnreachable,
    Bridge,
    Channel,
    LiveRecording,
    NotFound,
    Playback,
    RequestTiming,
)


async def test_answer_posts_to_the_channel(fake: FakeAri, client: AriClient) -> None:
    """answer() sends POST /ari/channels/<id>/answer with Basic auth in a header."""
    fake.reply("POST", "/channels/1700.1/answer", 204)
    await client.channels.answer("1700.1")
    (request,) = fake.received
    assert (request.method, request.path_qs) == ("POST", "/ari/channels/1700.1/answer")
    assert request.headers["Authorization"] == f"Basic {AUTH_TOKEN}"


async def test_get_channel_returns_a_typed_channel(fake: FakeAri, client: AriClient) -> None:
    """get() returns a frozen Channel, ignoring fields this client does not know."""
    fake.reply(
        "GET",
        "/channels/1700.1",
        200,
        channel_json("1700.1", channelvars={"QUEUE": "sales"}, tenantid="t1", brand_new=1),
    )
    channel = await client.channels.get("1700.1")
    assert isinstance(channel, Channel)
    assert channel.caller.number == "5551234"
    assert channel.dialplan.context == "from-pstn"
    assert channel.dialplan.priority == 2
    assert channel.channelvars == {"QUEUE": "sales"}
    assert channel.creationtime is not None and channel.creationtime.year == 2025
    with pytest.raises(AttributeError):
        channel.state = "Up"  # type: ignore[misc]


async def test_ids_are_quoted_in_paths(fake: FakeAri, client: AriClient) -> None:
    """Ids with reserved characters are percent-encoded, never spliced raw into the URL."""
    fake.reply("GET", "/channels/agent 1001?x", 200, channel_json("agent 1001?x"))
    channel = await client.channels.get("agent 1001?x")
    assert channel.id == "agent 1001?x"
    assert fake.received[-1].path_qs == "/ari/channels/agent%201001%3Fx"


async def test_play_joins_media_and_returns_playback(fake: FakeAri, client: AriClient) -> None:
    """play() sends all media comma-joined in one query parameter and returns a Playback."""
    fake.reply(
        "POST",
        "/channels/1700.1/play",
        201,
        {"id": "pb-1", "target_uri": "channel:1700.1", "state": "queued", "language": "en"},
    )
    playback = await client.channels.play(
        "1700.1", ["sound:hello", "digits:42"], playback_id="pb-1", lang="en", skipms=3000
    )
    assert isinstance(playback, Playback)
    assert playback.channel_id == "1700.1" and playback.bridge_id is None
    query = fake.received[-1].query
    assert query == {
        "media": "sound:hello,digits:42",
        "playbackId": "pb-1",
        "lang": "en",
        "skipms": "3000",
    }


async def test_booleans_travel_as_true_false(fake: FakeAri, client: AriClient) -> None:
    """Booleans are sent as the strings "true"/"false" and None parameters are left out."""
    fake.reply("POST", "/channels/1700.1/record", 201, {"name": "msg-1", "format": "wav"})
    recording = await client.channels.record(
        "1700.1", "msg-1", max_duration=60, beep=True, terminate_on="#", if_exists="overwrite"
    )
    assert isinstance(recording, LiveRecording)
    assert fake.received[-1].query == {
        "name": "msg-1",
        "format": "wav",
        "maxDurationSeconds": "60",
        "beep": "true",
        "terminateOn": "#",
        "ifExists": "overwrite",
    }
    fake.reply("POST", "/bridges/b-1/addChannel", 204)
    await client.bridges.add_channel("b-1", ["1700.1", "1700.2"], role="participant", mute=False)
    assert fake.received[-1].query == {
        "channel": "1700.1,1700.2",
        "role": "participant",
        "mute": "false",
    }


async def test_originate_variables_go_in_the_json_body(fake: FakeAri, client: AriClient) -> None:
    """originate() sends channel variables as a JSON body and everything else as query."""
    fake.reply("POST", "/channels", 200, channel_json("dialer-42", state="Down"))
    channel = await client.channels.originate(
        "PJSIP/5551234@trunk",
        app="callflow",
        app_args=["outbound", "campaign-7"],
        caller_id="Sales <5550000>",
        ring_timeout=25,
        channel_id="dialer-42",
        variables={"CAMPAIGN": "7"},
    )
    assert channel.id == "dialer-42"
    request = fake.received[-1]
    assert request.query == {
        "endpoint": "PJSIP/5551234@trunk",
        "app": "callflow",
        "appArgs": "outbound,campaign-7",
        "callerId": "Sales <5550000>",
        "timeout": "25",
        "channelId": "dialer-42",
    }
    assert json.loads(request.body) == {"variables": {"CAMPAIGN": "7"}}
    assert request.headers["Content-Type"].startswith("application/json")


async def test_originate_needs_a_destination(client: AriClient) -> None:
    """originate() without an app or a dialplan location is refused before any request."""
    with pytest.raises(ValueError, match="app="):
        await client.channels.originate("PJSIP/1001")


async def test_hangup_sends_the_reason(fake: FakeAri, client: AriClient) -> None:
    """hangup(reason=...) sends DELETE /channels/<id>?reason=..."""
    fake.reply("DELETE", "/channels/1700.1", 204)
    await client.channels.hangup("1700.1", reason="busy")
    assert fake.received[-1].method == "DELETE"
    assert fake.received[-1].path_qs == "/ari/channels/1700.1?reason=busy"


async def test_variables_are_read_as_strings(fake: FakeAri, client: AriClient) -> None:
    """get_variable() returns the variable's value."""
    fake.reply("GET", "/channels/1700.1/variable", 200, {"value": "sales"})
    assert await client.channels.get_variable("1700.1", "QUEUE") == "sales"
    assert fake.received[-1].query == {"variable": "QUEUE"}


async def test_bridge_create_and_list(fake: FakeAri, client: AriClient) -> None:
    """bridges.create() passes type/bridgeId/name and list() returns typed Bridges."""
    bridge = {
        "id": "queue-sales",
        "technology": "holding_bridge",
        "bridge_type": "holding",
        "bridge_class": "stasis",
        "creator": "Stasis",
        "name": "sales",
        "channels": ["1700.1"],
        "creationtime": "2025-01-02T10:00:00.000+0000",
    }
    fake.reply("POST", "/bridges", 200, bridge)
    fake.reply("GET", "/bridges", 200, [bridge])
    created = await client.bridges.create("holding", bridge_id="queue-sales", name="sales")
    query = fake.received[-1].query
    assert query == {"type": "holding", "bridgeId": "queue-sales", "name": "sales"}
    assert created == Bridge.from_json(bridge)
    (listed,) = await client.bridges.list()
    assert listed.bridge_type == "holding" and listed.channels == ("1700.1",)


async def test_resync_lists_what_our_apps_hold(fake: FakeAri, client: AriClient) -> None:
    """resync() returns channels, bridges and our apps' subscriptions to reconcile with."""
    fake.reply("GET", "/channels", 200, [channel_json("1700.1"), channel_json("other.9")])
    fake.reply("GET", "/bridges", 200, [{"id": "b-1"}, {"id": "b-other"}])
    fake.reply(
        "GET",
        "/applications/callflow",
        200,
        {"name": "callflow", "channel_ids": ["1700.1"], "bridge_ids": ["b-1"]},
    )
    snapshot = await client.resync()
    assert [c.id for c in snapshot.channels] == ["1700.1", "other.9"]
    assert [c.id for c in snapshot.subscribed_channels()] == ["1700.1"]
    assert [b.id for b in snapshot.subscribed_bridges()] == ["b-1"]


async def test_credentials_stay_out_of_urls_logs_and_reprs(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    """The password is in no request URL, no DEBUG log line, and no repr or error text."""
    caplog.set_level(logging.DEBUG)
    config = make_config(fake.base_url)
    fake.reply("GET", "/channels", 200, [])
    async with AriClient(config) as ari:
        await ari.channels.list()
        with pytest.raises(NotFound) as caught:
            await ari.channels.get("nope")
        texts = [repr(config), str(config), repr(ari), str(caught.value), repr(caught.value)]
    for request in fake.received:
        assert USERNAME not in request.path_qs and PASSWORD not in request.path_qs
        assert "api_key" not in request.query
    for text in [*texts, *(r.getMessage() for r in caplog.records)]:
        assert PASSWORD not in text and AUTH_TOKEN not in text


async def test_unreachable_error_hides_credentials(caplog: pytest.LogCaptureFixture) -> None:
    """Even a connection failure's message and chained cause carry no credentials."""
    caplog.set_level(logging.DEBUG)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AriClient(make_config(f"http://127.0.0.1:{port}")) as ari:
        with pytest.raises(AsteriskUnreachable) as caught:
            await ari.channels.list()
    assert PASSWORD not in str(caught.value) + str(caught.value.__cause__)
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


async def test_on_request_is_told_of_each_try_answered_or_not(
    fake: FakeAri, client: AriClient
) -> None:
    """Every try reaches on_request once it is over: what was sent, when, how long it took
    and Asterisk's status (an error status too); a request Asterisk never answers has none."""
    told: list[RequestTiming] = []
    client.on_request = told.append
    fake.reply("POST", "/bridges/b1/addChannel", 204)
    fake.reply("POST", "/channels/1700.1/answer", 404, {"message": "Channel not found"})
    before = time.time()
    await client.bridges.add_channel("b1", "1700.1")
    with pytest.raises(NotFound):
        await client.channels.answer("1700.1")
    added, answered = told
    assert (added.method, added.path, added.status) == ("POST", "/bridges/b1/addChannel", 204)
    assert added.params is not None and added.params["channel"] == ["1700.1"]
    assert before <= added.sent_at <= answered.sent_at <= time.time()
    assert 0 <= added.seconds < 5
    assert (answered.path, answered.status) == ("/channels/1700.1/answer", 404)

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AriClient(make_config(f"http://127.0.0.1:{port}")) as ari:
        ari.on_request = told.append
        with pytest.raises(AsteriskUnreachable):
            await ari.channels.answer("1700.2")
    assert told[-1].path == "/channels/1700.2/answer" and told[-1].status is None
