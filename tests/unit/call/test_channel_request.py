"""Call.channel_request: which ARI errors of a request mean the caller is gone."""

from __future__ import annotations

import pytest

from callflow.ari import errors as ari_errors
from callflow.call.primitives import CallerHangup
from tests.unit.app.test_call_play import StubAri
from tests.unit.call.test_play_together import new_call


async def fails(error: ari_errors.AriError) -> None:
    raise error


async def test_a_channel_gone_is_the_caller_hanging_up() -> None:
    """By default a 404 or a 409 "not in Stasis" of a request on the caller's channel is
    their hang-up: the call says so from then on."""
    call = new_call(StubAri())
    with pytest.raises(CallerHangup):
        await call.channel_request(fails(ari_errors.NotFound(404, "Channel not found")))
    assert call.hung_up


async def test_a_bridge_request_names_the_errors_that_mean_the_channel_is_gone() -> None:
    """Putting the caller into a bridge: 400 "Channel not found" is their hang-up, but a
    404 is the bridge's (missing), not the caller's: the error goes up as it is."""
    gone = (ari_errors.ChannelGone,)
    call = new_call(StubAri())
    with pytest.raises(ari_errors.NotFound) as caught:
        await call.channel_request(fails(ari_errors.NotFound(404, "Bridge not found")), gone=gone)
    assert not isinstance(caught.value, ari_errors.ChannelGone) and not call.hung_up
    with pytest.raises(CallerHangup):
        await call.channel_request(
            fails(ari_errors.ChannelGone(400, "Channel not found")), gone=gone
        )
    assert call.hung_up
