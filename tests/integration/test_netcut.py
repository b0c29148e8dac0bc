"""A network cut between callflow and ARI: calls carry on once the link is back."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import AsyncIterator

import pytest

from callflow.sandbox import SandboxInfo
from callflow.testing.netcut import NetCut
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events
from tests.integration.test_queues import QUEUES

pytestmark = pytest.mark.asterisk

RECOVERY_FLOW = QUEUES.parent / "flows" / "recovery.yaml"


@pytest.fixture
async def netcut(asterisk: SandboxInfo) -> AsyncIterator[NetCut]:
    """A cuttable relay between callflow and the sandbox's ARI, on loopback."""
    relay = NetCut(asterisk.bind, asterisk.http_port)
    await relay.start()
    yield relay
    await relay.close()


async def test_a_prompt_that_ends_during_a_cut_does_not_freeze_the_call(
    asterisk: SandboxInfo,
    netcut: NetCut,
    start_app: AppFactory,
    phones: PhoneFactory,
    no_leaks: None,
) -> None:
    """The link to ARI is cut for 5 s while a prompt plays and ends: its PlaybackFinished is
    never seen, yet after the reconnect the call goes on to collect the caller's digits and
    read them back."""
    app = await start_app(
        [RECOVERY_FLOW],
        queues=QUEUES,
        ari_url=netcut.url,
        reconnect_delays=lambda: itertools.repeat(0.5),
    )
    phone = await phones("caller5")
    mark = phone.mark()
    await phone.dial("320")
    await phone.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "call.playback.started")

    cut_at = dt.datetime.now(dt.UTC)
    netcut.cut(5.0)  # hello-world lasts 1.4 s: it ends while the link is down
    async with asyncio.timeout(5):
        while app.service.ready.is_set():  # noqa: ASYNC110 (the service's own flag)
            await asyncio.sleep(0.05)
    async with asyncio.timeout(15):
        await app.service.recovered.wait()
    # Asterisk said the prompt ended ("Inactive Stasis app missed message") while the link was
    # down; callflow learnt it from the resync after the link came back.
    [ended] = app.store.events(kind="call.playback")
    assert ended.at >= cut_at + dt.timedelta(seconds=4.5)

    await phone.send_dtmf("42#")
    await wait_for_events(app, "call.end", timeout=30)
    [start] = app.store.events(kind="call.start")
    steps = app.store.events(call_id=start.call_id, kind="flow.step")
    assert [(s.data["node"], s.data["input"]) for s in steps[:2]] == [
        ("short_prompt", "42"),
        ("read_back", None),
    ]
    [end] = app.store.events(kind="call.end")
    assert end.data["outcome"] == "hangup:done"
