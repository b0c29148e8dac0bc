"""Asterisk crashes and comes back on the same ports: callflow reconnects every time."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from callflow.app.main import App
from callflow.app.settings import AriSettings, Settings
from callflow.sandbox import Sandbox, SandboxInfo
from callflow.testing.softphone import SipServer, Softphone
from tests.integration.conftest import wait_for_events
from tests.integration.test_queues import QUEUES

pytestmark = pytest.mark.asterisk

RECOVERY_FLOW = QUEUES.parent / "flows" / "recovery.yaml"
RESTARTS = 10


@pytest.fixture
def own_asterisk(asterisk: SandboxInfo) -> Iterator[Sandbox]:
    """An Asterisk of this test's own, to crash without disturbing the others."""
    sandbox = Sandbox(f"pytest-restart-{os.getpid()}")
    sandbox.up()
    try:
        yield sandbox
    finally:
        sandbox.down()


@pytest.fixture
async def app_on(own_asterisk: Sandbox, tmp_path: Path) -> AsyncIterator[App]:
    """callflow against that Asterisk, with the default reconnect policy."""
    info = own_asterisk.info
    assert info is not None
    settings = Settings(
        ari=AriSettings(
            url=info.ari_url, username=info.ari_user, password=info.ari_password, app=info.app
        ),
        flows=(RECOVERY_FLOW,),
        store=tmp_path / "store.sqlite3",
        queues=QUEUES,
    )
    app = App(settings)
    assert app.load_flows().applied
    task = asyncio.create_task(app.run(install_signals=False))
    async with asyncio.timeout(15):
        await app.service.recovered.wait()
    yield app
    await app.stop()
    await task


async def test_asterisk_killed_ten_times_callflow_reconnects_and_records_lost_calls(
    own_asterisk: Sandbox, app_on: App, tmp_path: Path
) -> None:
    """Asterisk is killed with a caller in a menu and started again on the same ports, ten
    times in a row: each time callflow reconnects on its own, records the call as lost at the
    moment Asterisk went away (not as a caller hang-up), and serves the next caller."""
    info = own_asterisk.info
    assert info is not None
    phone_def = info.phone("caller1")
    phone = Softphone(
        phone_def.name,
        phone_def.password,
        SipServer(info.bind, info.sip_port),
        tmp_path / "phone",
    )
    await phone.start()
    app = app_on
    reconnects: list[float] = []
    try:
        for round_ in range(RESTARTS):
            mark = phone.mark()
            await phone.dial("310")
            await phone.wait_event("CALL_ESTABLISHED", since=mark)
            await wait_for_events(app, "flow.wait", count=round_ + 1)
            crashed_at = dt.datetime.now(dt.UTC)
            await asyncio.to_thread(own_asterisk.restart, crash=True)
            answered = time.monotonic()  # restart() returns once ARI answers again
            async with asyncio.timeout(15):
                await app.service.recovered.wait()
                while len(app.store.events(kind="call.end")) <= round_:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            reconnects.append(time.monotonic() - answered)
            end = app.store.events(kind="call.end")[-1]
            assert end.data["outcome"] == "lost"
            assert end.at <= crashed_at + dt.timedelta(seconds=1)
            await phone.hangup()  # the phone never heard of the crash
    except BaseException:
        print("OWN ASTERISK LOG\n", info.log_tail(60), "\nPHONE\n", phone.log_tail(40))
        raise
    finally:
        await phone.stop()
    assert len(reconnects) == RESTARTS
    outcomes = {e.data["outcome"] for e in app.store.events(kind="call.end")}
    assert outcomes == {"lost"}
    assert not app.store.events(kind="queue.abandon")
    print("reconnect after ARI answered (s):", [round(r, 2) for r in reconnects])
