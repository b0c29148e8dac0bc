"""REST retries: what is harmless to repeat is tried again on a 5xx or no answer, what could
act twice is not, and a slow Asterisk costs at most the request timeout per try. The fault
proxy (callflow.testing.faultproxy) sits in front of the fake ARI server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from ari_fake import FakeAri, make_config

from callflow.app.settings import read_settings
from callflow.ari import (
    AriClient,
    AsteriskUnreachable,
    NotFound,
    ServerError,
    Unprocessable,
    retry_request,
)
from callflow.testing.faultproxy import FaultProxy, Faults

CHANNEL = {
    "id": "c1",
    "name": "PJSIP/caller1-00000001",
    "state": "Up",
    "caller": {"name": "", "number": "caller1"},
    "connected": {"name": "", "number": ""},
    "accountcode": "",
    "dialplan": {"context": "callflow-inbound", "exten": "100", "priority": 1},
    "creationtime": "2026-01-01T00:00:00.000+0000",
    "language": "en",
}


def first(count: int) -> Callable[[str, str], bool]:
    """A fault filter that picks the first ``count`` requests, then none."""
    left = [count]

    def pick(method: str, path: str) -> bool:
        left[0] -= 1
        return left[0] >= 0

    return pick


@pytest.fixture
async def proxy(fake: FakeAri) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(fake.base_url) as server:
        yield server


def tries(fake: FakeAri, method: str, path: str) -> int:
    return sum(1 for r in fake.received if r.method == method and r.path_qs.startswith(path))


async def test_a_read_is_tried_again_after_two_503s_and_succeeds(
    fake: FakeAri, proxy: FaultProxy
) -> None:
    """A GET answered 503 twice (the proxy's, before Asterisk) is sent a third time."""
    fake.reply("GET", "/channels", 200, [CHANNEL])
    proxy.faults = Faults(error_share=1.0, only=first(2))
    async with AriClient(make_config(proxy.base_url)) as ari:
        channels = await ari.channels.list()
    assert [c.id for c in channels] == ["c1"]
    assert proxy.seen["errors_before"] == 2 and tries(fake, "GET", "/ari/channels") == 1


async def test_a_read_gives_up_after_three_tries(fake: FakeAri, proxy: FaultProxy) -> None:
    """Three 500s in a row reach the caller as ServerError: retries are bounded."""
    proxy.faults = Faults(error_share=1.0, error_status=500)
    async with AriClient(make_config(proxy.base_url)) as ari:
        with pytest.raises(ServerError):
            await ari.channels.get("c1")
    assert proxy.seen["errors_before"] == 3


async def test_originate_is_never_sent_twice(fake: FakeAri, proxy: FaultProxy) -> None:
    """A 503 after Asterisk acted (the answer lost) reaches the caller: a second originate
    would place a second call."""
    fake.reply("POST", "/channels", 200, CHANNEL)
    proxy.faults = Faults(error_share=1.0, errors_after=True)
    async with AriClient(make_config(proxy.base_url)) as ari:
        with pytest.raises(ServerError):
            await ari.channels.originate("PJSIP/agent1", app="callflow")
        with pytest.raises(ServerError):
            await ari.channels.play("c1", "sound:hello-world")
        with pytest.raises(ServerError):
            await ari.bridges.add_channel("b1", "c1")
    assert tries(fake, "POST", "/ari/channels?") == 1
    assert tries(fake, "POST", "/ari/channels/c1/play") == 1
    assert tries(fake, "POST", "/ari/bridges/b1/addChannel") == 1


async def test_a_hangup_whose_answer_was_lost_is_tried_again_and_done(
    fake: FakeAri, proxy: FaultProxy
) -> None:
    """A hangup Asterisk did but answered 503 to is sent again; the retry's 404 (gone) means
    done. A first-try 404 is still NotFound."""
    fake.reply("DELETE", "/channels/c1", 404, {"message": "Channel not found"})
    proxy.faults = Faults(error_share=1.0, errors_after=True, only=first(1))
    async with AriClient(make_config(proxy.base_url)) as ari:
        await ari.channels.hangup("c1")
        with pytest.raises(NotFound):
            await ari.channels.hangup("c1")
    assert tries(fake, "DELETE", "/ari/channels/c1") == 3


async def test_a_slow_asterisk_costs_at_most_the_request_timeout_per_try(
    fake: FakeAri, proxy: FaultProxy
) -> None:
    """With every answer 2 s late and a 0.2 s request timeout, a read fails as unreachable after
    three tries, and a command is not repeated."""
    fake.reply("GET", "/channels", 200, [])
    fake.reply("POST", "/channels/c1/continue", 204)
    proxy.faults = Faults(delay=2.0)
    async with AriClient(make_config(proxy.base_url, request_timeout=0.2)) as ari:
        # 3 x 0.2 s + 0.3 s of pauses; under the 2 s that one try would take unbounded, with
        # room for a busy machine.
        async with asyncio.timeout(1.9):
            with pytest.raises(AsteriskUnreachable):
                await ari.channels.list()
        async with asyncio.timeout(1.9):
            with pytest.raises(AsteriskUnreachable):
                await ari.channels.continue_in_dialplan("c1")
    assert proxy.seen["delayed"] == 4


@pytest.mark.parametrize(
    ("method", "path", "retried"),
    [
        ("GET", "/channels", True),
        ("GET", "/channels/c1/variable", True),
        ("POST", "/channels/c1/answer", True),
        ("POST", "/channels/c1/variable", True),
        ("POST", "/bridges/b1/moh", True),
        ("DELETE", "/channels/c1/moh", True),
        ("DELETE", "/channels/c1", True),
        ("DELETE", "/bridges/b1", True),
        ("DELETE", "/playbacks/p1", True),
        ("POST", "/channels", False),
        ("POST", "/channels/c1/play", False),
        ("POST", "/channels/c1/record", False),
        ("POST", "/channels/c1/continue", False),
        ("POST", "/bridges", False),
        ("POST", "/bridges/b1/addChannel", False),
        ("POST", "/bridges/b1/removeChannel", False),
        ("POST", "/events/user/ping", False),
    ],
)
def test_only_what_is_harmless_twice_is_retried(method: str, path: str, retried: bool) -> None:
    """The policy, request by request, for a 503."""
    assert retry_request(method, path, ServerError(503, "x")) is retried


def test_an_answer_that_is_not_transient_is_never_retried() -> None:
    """A 4xx says the request itself is wrong for now: repeating it changes nothing."""
    assert not retry_request("GET", "/channels/c1", NotFound(404, "x"))
    assert not retry_request("POST", "/channels/c1/answer", Unprocessable(422, "x"))
    assert retry_request("GET", "/channels", AsteriskUnreachable("timeout"))


def test_the_request_timeout_is_a_setting(tmp_path: Path) -> None:
    """ari.request_timeout in the settings file bounds each ARI request; 0 is refused."""
    path = tmp_path / "callflow.yaml"
    path.write_text("ari:\n  password: pw\n  request_timeout: 2.5\nflows: []\n")
    settings, problems = read_settings(path)
    assert settings is not None and not problems
    assert settings.ari_config().request_timeout == 2.5
    path.write_text("ari:\n  password: pw\n  request_timeout: 0\nflows: []\n")
    settings, problems = read_settings(path)
    assert settings is None and "ari.request_timeout" in problems[0].line()


PLAYBACK = {"id": "pb-1", "target_uri": "channel:c1", "state": "playing", "language": "en"}
BRIDGE = {
    "id": "queue-sales",
    "technology": "holding_bridge",
    "bridge_type": "holding",
    "bridge_class": "stasis",
    "creator": "Stasis",
    "name": "sales",
    "channels": [],
    "creationtime": "2025-01-02T10:00:00.000+0000",
}


async def test_a_play_whose_answer_was_lost_is_read_back_not_played_again(
    fake: FakeAri, proxy: FaultProxy
) -> None:
    """A play Asterisk started but answered 503 to is found by its playback id: returned as
    it is, never sent twice (the caller would hear it twice)."""
    fake.reply("POST", "/channels/c1/play", 201, PLAYBACK)
    fake.reply("GET", "/playbacks/pb-1", 200, PLAYBACK)
    proxy.faults = Faults(error_share=1.0, errors_after=True, only=first(1))
    async with AriClient(make_config(proxy.base_url)) as ari:
        playback = await ari.channels.play("c1", "sound:hello", playback_id="pb-1")
    assert playback.id == "pb-1"
    assert tries(fake, "POST", "/ari/channels/c1/play") == 1
    assert tries(fake, "GET", "/ari/playbacks/pb-1") == 1


async def test_a_play_that_never_reached_asterisk_is_sent_again(
    fake: FakeAri, proxy: FaultProxy
) -> None:
    """A play answered 503 before Asterisk saw it is not found by its id: sent once more;
    without a playback id nothing can be checked and the 503 stands."""
    fake.reply("POST", "/channels/c1/play", 201, PLAYBACK)
    proxy.faults = Faults(error_share=1.0, only=first(1))
    async with AriClient(make_config(proxy.base_url)) as ari:
        playback = await ari.channels.play("c1", "sound:hello", playback_id="pb-1")
        proxy.faults = Faults(error_share=1.0, only=first(1))
        with pytest.raises(ServerError):
            await ari.channels.play("c1", "sound:hello")
    assert playback.id == "pb-1" and tries(fake, "POST", "/ari/channels/c1/play") == 1


async def test_an_originate_is_read_back_by_its_channel_id_and_never_redialled(
    fake: FakeAri, proxy: FaultProxy
) -> None:
    """An originate whose answer was lost returns the channel found by its id; not found, the
    503 stands (the channel may have rung and gone): it is never dialled a second time."""
    fake.reply("POST", "/channels", 200, CHANNEL)
    fake.reply("GET", "/channels/c1", 200, CHANNEL)
    proxy.faults = Faults(error_share=1.0, errors_after=True, only=first(1))
    async with AriClient(make_config(proxy.base_url)) as ari:
        channel = await ari.channels.originate("PJSIP/agent1", app="callflow", channel_id="c1")
        assert channel.id == "c1"
        proxy.faults = Faults(error_share=1.0, only=first(1))
        with pytest.raises(ServerError):
            await ari.channels.originate("PJSIP/agent1", app="callflow", channel_id="c2")
    assert tries(fake, "POST", "/ari/channels?") == 1


async def test_a_bridge_is_created_once_whatever_answer_was_lost(
    fake: FakeAri, proxy: FaultProxy
) -> None:
    """Creating a bridge by id: found after a lost answer, it is returned; not found after a
    503 before Asterisk, it is created once more."""
    fake.reply("POST", "/bridges", 200, BRIDGE)
    fake.reply("GET", "/bridges/queue-sales", 200, BRIDGE)
    async with AriClient(make_config(proxy.base_url)) as ari:
        proxy.faults = Faults(error_share=1.0, errors_after=True, only=first(1))
        assert (await ari.bridges.create("holding", bridge_id="queue-sales")).id == "queue-sales"
        assert tries(fake, "POST", "/ari/bridges") == 1
        fake.reply("GET", "/bridges/queue-sales", 404, {"message": "Bridge not found"})
        proxy.faults = Faults(error_share=1.0, only=first(1))
        assert (await ari.bridges.create("holding", bridge_id="queue-sales")).id == "queue-sales"
        assert tries(fake, "POST", "/ari/bridges") == 2
