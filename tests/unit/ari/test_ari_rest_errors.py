"""ARI REST error translation, against the fake ARI server."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from ari_fake import PASSWORD, FakeAri, make_config

from callflow.ari import (
    AriClient,
    AriError,
    AriHttpError,
    AsteriskUnreachable,
    AuthenticationFailed,
    BadRequest,
    ChannelGone,
    Conflict,
    InvalidResponse,
    InvalidState,
    NotFound,
    NotInStasis,
    ServerError,
    Unprocessable,
)


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (400, "Missing parameter: media", BadRequest),
        (400, "Channel not found", ChannelGone),
        (401, "Authentication required", AuthenticationFailed),
        (403, "Write access denied", AuthenticationFailed),
        (404, "Channel not found", NotFound),
        (409, "Channel with given unique ID already exists", Conflict),
        (409, "Channel not in Stasis application", NotInStasis),
        (412, "Channel in invalid state", InvalidState),
        (422, "Channel not in Stasis application", Unprocessable),
        (500, "Internal Server Error", ServerError),
        (503, "Service Unavailable", ServerError),
    ],
)
async def test_error_status_maps_to_its_exception(
    fake: FakeAri, client: AriClient, status: int, message: str, expected: type[AriHttpError]
) -> None:
    """An ARI error status raises its own AriError subclass carrying Asterisk's message."""
    fake.reply("POST", "/channels/1700.1/answer", status, {"message": message})
    with pytest.raises(expected) as caught:
        await client.channels.answer("1700.1")
    assert type(caught.value) is expected
    assert caught.value.status == status
    assert caught.value.message == message
    assert caught.value.path == "/channels/1700.1/answer"
    assert message in str(caught.value)


async def test_generic_conflict_is_not_not_in_stasis(fake: FakeAri, client: AriClient) -> None:
    """A 409 that is not about Stasis is a Conflict an `except NotInStasis` does not catch."""
    fake.reply("POST", "/bridges", 409, {"message": "Bridge with given ID already exists"})
    with pytest.raises(Conflict) as caught:
        await client.bridges.create("mixing", bridge_id="queue-sales")
    assert not isinstance(caught.value, NotInStasis)


async def test_wrong_password_is_authentication_failed(fake: FakeAri) -> None:
    """Wrong credentials raise AuthenticationFailed quoting Asterisk, never the password."""
    config = make_config(fake.base_url, password="not-the-password")
    async with AriClient(config) as ari:
        with pytest.raises(AuthenticationFailed) as caught:
            await ari.channels.list()
    assert caught.value.message == "Authentication required"
    assert "not-the-password" not in str(caught.value) + repr(caught.value)


async def test_refused_connection_is_asterisk_unreachable() -> None:
    """A refused TCP connection raises AsteriskUnreachable chained to the aiohttp error."""
    async with AriClient(make_config(f"http://127.0.0.1:{unused_port()}")) as ari:
        with pytest.raises(AsteriskUnreachable) as caught:
            await ari.asterisk.info()
    assert isinstance(caught.value.__cause__, aiohttp.ClientError | OSError)
    assert PASSWORD not in str(caught.value)


async def test_request_timeout_is_asterisk_unreachable(fake: FakeAri) -> None:
    """A request Asterisk never answers raises AsteriskUnreachable after request_timeout."""
    async with AriClient(make_config(fake.base_url, request_timeout=0.2)) as ari:
        with pytest.raises(AsteriskUnreachable):
            await ari.request("GET", "/stall")


async def test_non_json_answer_is_invalid_response(fake: FakeAri, client: AriClient) -> None:
    """A 200 whose body is not JSON raises InvalidResponse, not a JSON decoder error."""
    fake.reply("GET", "/channels/1700.1", 200, "<html>proxy says hi</html>")
    with pytest.raises(InvalidResponse):
        await client.channels.get("1700.1")


async def test_wrong_json_shape_is_invalid_response(fake: FakeAri, client: AriClient) -> None:
    """A channel answer without an id raises InvalidResponse."""
    fake.reply("GET", "/channels/1700.1", 200, {"name": "PJSIP/x"})
    with pytest.raises(InvalidResponse):
        await client.channels.get("1700.1")


async def test_every_failure_is_an_ari_error(fake: FakeAri, client: AriClient) -> None:
    """Whatever goes wrong, callers catch a single root: AriError."""
    fake.reply("DELETE", "/channels/gone", 404, {"message": "Channel not found"})
    with pytest.raises(AriError):
        await client.channels.hangup("gone")


async def test_a_channel_gone_from_a_bridge_request_is_not_found(
    fake: FakeAri, client: AriClient
) -> None:
    """Asterisk answers 400 "Channel not found" when the channel of a bridge's addChannel
    or removeChannel no longer exists: a caller gone a moment before, which code that
    shrugs off a channel already gone (``except NotFound``) shrugs off too."""
    fake.reply("POST", "/bridges/hold-1/removeChannel", 400, {"message": "Channel not found"})
    with pytest.raises(NotFound) as caught:
        await client.bridges.remove_channel("hold-1", ["1700.1"])
    assert isinstance(caught.value, BadRequest) and caught.value.status == 400
    fake.reply("POST", "/bridges/hold-1/addChannel", 400, {"message": "Missing parameter: channel"})
    with pytest.raises(BadRequest) as other:
        await client.bridges.add_channel("hold-1", ["1700.1"])
    assert not isinstance(other.value, NotFound)
