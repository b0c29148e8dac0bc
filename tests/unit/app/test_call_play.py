"""Call.play and Call.collect against a stub ARI client: which playbacks are started,
stopped and awaited, and which keys a collection takes. No I/O; time is scaled down."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from callflow.ari import errors as ari_errors
from callflow.ari.dispatch import EventQueue
from callflow.ari.events import Event, StasisStart, parse_event
from callflow.ari.rest import AriClient
from callflow.call import primitives
from callflow.call.primitives import Call, CallLost
from tests.unit.ari.ari_fake import channel_json, event_json

CHANNEL = "1700.1"


class StubAri:
    """Records playback requests; ``gone`` playbacks answer GET with 404."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.gone: set[str] = set()
        self.channels = self
        self.playbacks = self

    async def play(self, channel_id: str, media: str, *, playback_id: str) -> None:
        self.log.append(("play", f"{playback_id}={media}"))

    async def stop(self, playback_id: str) -> None:
        self.log.append(("stop", playback_id))

    async def get(self, playback_id: str) -> dict[str, str]:
        self.log.append(("get", playback_id))
        if playback_id in self.gone:
            raise ari_errors.NotFound(404, "Playback not found")
        return {"id": playback_id}

    def started(self) -> dict[str, str]:
        """media -> playback id of each play request."""
        return dict(reversed(e[1].split("=", 1)) for e in self.log if e[0] == "play")


def event(event_type: str, **fields: Any) -> Event:
    return parse_event(event_json(event_type, **fields))


def finished(playback_id: str) -> Event:
    return event(
        "PlaybackFinished",
        playback={
            "id": playback_id,
            "media_uri": "sound:x",
            "target_uri": f"channel:{CHANNEL}",
            "language": "en",
            "state": "done",
        },
    )


def dtmf(digit: str) -> Event:
    return event("ChannelDtmfReceived", digit=digit, duration_ms=100, channel=channel_json(CHANNEL))


@pytest.fixture
def ari() -> StubAri:
    return StubAri()


@pytest.fixture
def call(ari: StubAri) -> Call:
    start = event("StasisStart", args=["inbound", "100"], channel=channel_json(CHANNEL))
    assert isinstance(start, StasisStart)
    return Call(cast(AriClient, ari), start, EventQueue(CHANNEL))


async def until(predicate: Any) -> None:
    async with asyncio.timeout(2):
        while not predicate():  # noqa: ASYNC110 - the stub has no event to wait on
            await asyncio.sleep(0)


async def test_each_part_is_its_own_playback_and_awaited_while_in_playing(
    call: Call, ari: StubAri
) -> None:
    """Every part is queued as its own playback at once; their ids are in call.playing
    while play() waits, and gone once it returns."""
    playing = asyncio.create_task(call.play(["sound:a", "sound:b", "sound:c"]))
    await until(lambda: len(ari.started()) == 3)
    ids = ari.started()
    assert call.playing == set(ids.values())
    for media in ("sound:a", "sound:b", "sound:c"):
        call.events.put(finished(ids[media]))
    assert await playing is None
    assert call.playing == set()
    assert [kind for kind, _ in ari.log] == ["play"] * 3  # nothing left to stop


async def test_a_prompts_ids_are_told_before_asterisk_is_asked_to_play_them(
    call: Call, ari: StubAri
) -> None:
    """on_prompt hears every playback id of a prompt before the first play request, so
    that the event log has them even if callflow dies before Asterisk answers."""
    told: list[tuple[list[str], int]] = []
    call.on_prompt = lambda ids: told.append((list(ids), len(ari.log)))
    playing = asyncio.create_task(call.play(["sound:a", "sound:b"]))
    await until(lambda: len(ari.started()) == 2)
    ids = ari.started()
    assert told == [([ids["sound:a"], ids["sound:b"]], 0)]
    for media in ("sound:a", "sound:b"):
        call.events.put(finished(ids[media]))
    await playing


async def test_a_key_stops_the_queued_parts_last_first_then_the_playing_one(
    call: Call, ari: StubAri
) -> None:
    """With barge-in, a key during the first part stops the third, the second, then the
    first, and is returned while staying in the type-ahead buffer."""
    playing = asyncio.create_task(call.play(["sound:a", "sound:b", "sound:c"], barge_in=True))
    await until(lambda: len(ari.started()) == 3)
    ids = ari.started()
    call.events.put(dtmf("5"))
    assert await playing == "5"
    stops = [playback for kind, playback in ari.log if kind == "stop"]
    assert stops == [ids["sound:c"], ids["sound:b"], ids["sound:a"]]
    assert list(call.digits) == ["5"] and call.playing == set()


async def test_a_playback_whose_end_was_missed_is_checked_and_taken_as_finished(
    call: Call, ari: StubAri
) -> None:
    """No PlaybackFinished for the watchdog delay: each unfinished playback is looked up,
    one Asterisk no longer has counts as finished, and play() returns."""
    call.playback_watchdog = 0.05
    playing = asyncio.create_task(call.play(["sound:a", "sound:b"]))
    await until(lambda: len(ari.started()) == 2)
    ids = ari.started()
    call.events.put(finished(ids["sound:a"]))
    await until(lambda: ("get", ids["sound:b"]) in ari.log)  # still there: keep waiting
    assert not playing.done()
    ari.gone.add(ids["sound:b"])
    assert await asyncio.wait_for(playing, 2) is None
    assert ("get", ids["sound:a"]) not in ari.log


async def test_a_terminator_after_a_full_entry_is_dropped_and_other_keys_kept(
    call: Call,
) -> None:
    """After max_digits keys, a terminator coming within the inter-digit timeout belongs to
    the entry; the key after it, and any key that is not the terminator, stays for later."""
    for key in "2468":
        call.events.put(dtmf(key))
    got = await call.collect(max_digits=4, terminator="#", inter_digit_timeout=1.0)
    assert (got.digits, got.terminated) == ("2468", False)
    for key in "#1":
        call.events.put(dtmf(key))
    await call.wait_for(lambda: bool(call.digits), timeout=1)
    assert list(call.digits) == ["1"]

    call.digits.clear()
    for key in "13579":  # typed ahead: the fifth key is no terminator, so it is kept
        call.events.put(dtmf(key))
    got = await call.collect(max_digits=4, terminator="#", inter_digit_timeout=1.0)
    await call.wait_for(lambda: bool(call.digits), timeout=1)
    assert (got.digits, list(call.digits)) == ("1357", ["9"])


async def test_a_terminator_after_the_inter_digit_timeout_is_an_ordinary_key(
    call: Call,
) -> None:
    """A terminator that comes later than the inter-digit timeout is kept for the next node."""
    for key in "2468":
        call.events.put(dtmf(key))
    await call.collect(max_digits=4, terminator="#", inter_digit_timeout=0.01)
    await asyncio.sleep(0.05)
    call.events.put(dtmf("#"))
    await call.wait_for(lambda: bool(call.digits), timeout=1)
    assert list(call.digits) == ["#"]


class UnreachableAri(StubAri):
    """Every play fails as when Asterisk is gone (connection refused), or as a timeout."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__()
        self.cause = cause

    async def play(self, channel_id: str, media: str, *, playback_id: str) -> None:
        raise ari_errors.AsteriskUnreachable("POST /channels/x/play: cannot reach Asterisk") from (
            self.cause
        )


def call_on(ari: StubAri) -> Call:
    start = event("StasisStart", args=["inbound", "100"], channel=channel_json(CHANNEL))
    assert isinstance(start, StasisStart)
    return Call(cast(AriClient, ari), start, EventQueue(CHANNEL))


async def test_a_request_asterisk_cannot_take_ends_as_the_resync_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A play refused at the socket while Asterisk restarts: the call waits for the resync,
    which finds Asterisk restarted and ends the call as lost; the call ends lost, not as a
    failed request. Nobody deciding within the bound: the request's error after all. A
    timeout (a slow Asterisk) fails at once."""
    lost = call_on(UnreachableAri(ConnectionRefusedError()))
    playing = asyncio.create_task(lost.play(["sound:a"]))
    await asyncio.sleep(0.05)
    assert not playing.done()  # waiting for the resync's word
    lost.lost(1234.5)
    with pytest.raises(CallLost) as ended:
        await playing
    assert ended.value.at == 1234.5

    monkeypatch.setattr(primitives, "OUTAGE_VERDICT", 0.05)
    undecided = call_on(UnreachableAri(ConnectionRefusedError()))
    with pytest.raises(ari_errors.AsteriskUnreachable):
        await undecided.play(["sound:a"])
    slow = call_on(UnreachableAri(TimeoutError()))
    monkeypatch.setattr(primitives, "OUTAGE_VERDICT", 30.0)
    async with asyncio.timeout(1):
        with pytest.raises(ari_errors.AsteriskUnreachable):
            await slow.play(["sound:a"])
