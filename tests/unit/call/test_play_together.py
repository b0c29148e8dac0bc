"""Call.play(together=True): a whole prompt as one ARI playback (queue announcements)."""

from __future__ import annotations

import asyncio
from typing import cast

from callflow.ari.dispatch import EventQueue
from callflow.ari.events import StasisStart
from callflow.ari.rest import AriClient
from callflow.call.primitives import Call, rest_of_prompt
from tests.unit.app.test_call_play import CHANNEL, StubAri, dtmf, event, finished, until
from tests.unit.ari.ari_fake import channel_json


def new_call(ari: StubAri) -> Call:
    start = event("StasisStart", args=["inbound", "100"], channel=channel_json(CHANNEL))
    assert isinstance(start, StasisStart)
    return Call(cast(AriClient, ari), start, EventQueue(CHANNEL))


async def test_a_prompt_together_is_one_request_and_one_wait() -> None:
    """Three items together are one play request with all three media, awaited until its
    one PlaybackFinished; nothing is stopped after."""
    ari = StubAri()
    call = new_call(ari)
    playing = asyncio.create_task(
        call.play(["sound:a", "sound:b", "sound:c"], together=True)
    )
    await until(lambda: len(ari.log) == 1)
    [(kind, request)] = ari.log
    playback_id, media = request.split("=", 1)
    assert kind == "play" and media == str(["sound:a", "sound:b", "sound:c"])
    assert call.playing == {playback_id}
    call.events.put(finished(playback_id))
    assert await playing is None
    assert [kind for kind, _ in ari.log] == ["play"] and call.playing == set()


async def test_a_key_stops_a_prompt_together_with_one_stop() -> None:
    """With barge-in, a key stops the whole prompt with one stop (Asterisk 22 ends a
    playback of several media whole), and a restarted callflow stops it once too."""
    ari = StubAri()
    call = new_call(ari)
    playing = asyncio.create_task(
        call.play(["sound:a", "sound:b"], barge_in=True, together=True)
    )
    await until(lambda: len(ari.log) == 1)
    playback_id = ari.log[0][1].split("=", 1)[0]
    call.events.put(dtmf("0"))
    assert await playing == "0"
    assert [entry for entry in ari.log if entry[0] == "stop"] == [("stop", playback_id)]
    assert rest_of_prompt(playback_id) == [playback_id]
