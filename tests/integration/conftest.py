"""Fixtures that start real things on loopback: the sandbox Asterisk, baresip softphones, the app.

Nothing here is faked. If Asterisk or baresip cannot be started, the tests fail loudly: they
are never skipped silently (CI must show that the real-call tests ran).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from callflow.app.main import App
from callflow.app.service import ShutdownPolicy
from callflow.app.settings import AriSettings, Settings
from callflow.ari import AriClient, AriConfig
from callflow.flow.loader import load_flow
from callflow.prompts import build_prompts
from callflow.prompts.build import Speaks
from callflow.queue.config import load_queues
from callflow.sandbox import Sandbox, SandboxInfo
from callflow.sandbox.pstn import connect, pstn_name, read_plan, start_pstn
from callflow.store import SqliteStore
from callflow.store.base import EventRecord
from callflow.testing.softphone import SipServer, Softphone

PhoneFactory = Callable[..., Awaitable[Softphone]]


def ari_get(info: SandboxInfo, path: str) -> Any:
    """A blocking ARI GET for fixtures and leak checks (the app under test has its own client)."""
    auth = base64.b64encode(f"{info.ari_user}:{info.ari_password}".encode()).decode()
    request = urllib.request.Request(
        f"{info.ari_url}/ari/{path}", headers={"Authorization": f"Basic {auth}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


async def bridged(info: SandboxInfo, endpoint: str, timeout: float = 15.0) -> None:
    """Wait until Asterisk has a channel of ``endpoint`` (``agent1``) in a mixing bridge: the
    app has put the call through. An agent's phone that hangs up the moment it answers may
    beat the bridge, and callflow then (rightly) counts it as a ring that failed and rings
    again: a test that means "talk, then hang up" waits for this first."""
    async with asyncio.timeout(timeout):
        while True:
            channels, bridges = await asyncio.gather(
                asyncio.to_thread(ari_get, info, "channels"),
                asyncio.to_thread(ari_get, info, "bridges"),
            )
            names = {c["id"]: c["name"] for c in channels}
            for bridge in bridges:
                if bridge.get("bridge_type") != "mixing":
                    continue
                prefix = f"PJSIP/{endpoint}-"
                if any(names.get(c, "").startswith(prefix) for c in bridge["channels"]):
                    return
            await asyncio.sleep(0.05)


def ari_client(info: SandboxInfo, app: str | None = None) -> AriClient:
    """An ARI client of the sandbox's other than the app under test's (``app``: the Stasis
    app it names; the sandbox's own by default): an operator's script, another app."""
    return AriClient(
        AriConfig(
            base_url=info.ari_url,
            username=info.ari_user,
            password=info.ari_password,
            apps=(app or info.app,),
        )
    )


def leaks(info: SandboxInfo) -> tuple[list[str], list[str]]:
    """The channels' names and the bridges' ids Asterisk holds now (blocking)."""
    return (
        [c["name"] for c in ari_get(info, "channels")],
        [b["id"] for b in ari_get(info, "bridges")],
    )


@pytest.fixture(scope="session")
def asterisk() -> Iterator[SandboxInfo]:
    """One real Asterisk 22 for the whole test session, on free loopback ports."""
    if os.geteuid() != 0:
        pytest.fail("the integration tests start Asterisk in a chroot and need root")
    sandbox = Sandbox(f"pytest-{os.getpid()}")
    info = sandbox.up()
    try:
        yield info
    finally:
        sandbox.down()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing real-call test shows Asterisk's log, the softphones' and callflow's event log."""
    report = yield
    if report.failed and "asterisk" in getattr(item, "fixturenames", ()):
        info = Sandbox.load(f"pytest-{os.getpid()}")
        if info is not None:
            report.sections.append(("Asterisk log", info.log_tail(150)))
        if (pstn_info := Sandbox.load(pstn_name(f"pytest-{os.getpid()}"))) is not None:
            report.sections.append(("PSTN Asterisk log", pstn_info.log_tail(80)))
        for phone in getattr(item, "_callflow_phones", []):
            report.sections.append((f"baresip {phone.user}", phone.log_tail(60)))
        for app in getattr(item, "_callflow_apps", []) if report.when == "call" else []:
            # A test that stopped its app has closed the store: read the file anew.
            store = SqliteStore(app.settings.store)
            lines = [
                f"{e.at:%H:%M:%S.%f} {e.kind:<22} {e.call_id[-8:]:>8} {dict(e.data)}"
                for e in store.events()
            ]
            store.close()
            report.sections.append(("callflow event log", "\n".join(lines[-150:])))
    return report


@pytest.fixture
async def phones(
    asterisk: SandboxInfo, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[PhoneFactory]:
    """Start registered baresip softphones for sandbox endpoints; all are stopped afterwards."""
    started: list[Softphone] = []
    request.node._callflow_phones = started

    async def start(name: str, **kwargs: Any) -> Softphone:
        phone_def = asterisk.phone(name)
        phone = Softphone(
            phone_def.name,
            phone_def.password,
            SipServer(asterisk.bind, asterisk.sip_port),
            tmp_path / f"phone-{name}",
            **kwargs,
        )
        started.append(phone)
        await phone.start()
        return phone

    yield start
    for phone in started:
        await phone.stop()


@pytest.fixture
async def no_leaks(asterisk: SandboxInfo) -> AsyncIterator[None]:
    """After the test, Asterisk holds no channel and no bridge (within 5 s).

    Async, and waiting with ``asyncio.sleep``: it is torn down before ``start_app``, so the
    app under test still runs while it waits, and may finish hanging up a call whose end it
    has already logged. A blocking wait here froze the app's loop, and a hang-up still in
    flight could never complete (a flaky "leaked" channel in CI)."""
    yield
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        names, bridge_ids = await asyncio.to_thread(leaks, asterisk)
        if not names and not bridge_ids:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"leaked in Asterisk: channels {names}, bridges {bridge_ids}")
        await asyncio.sleep(0.1)


SAMPLE_FLOW = Path(__file__).resolve().parents[2] / "config" / "flows" / "main.yaml"
AppFactory = Callable[..., Awaitable[App]]


@pytest.fixture
async def start_app(
    asterisk: SandboxInfo, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[AppFactory]:
    """Run callflow in this process against the sandbox, with a fresh store; stop it after."""
    running: list[tuple[App, asyncio.Task[None]]] = []
    request.node._callflow_apps = []

    async def start(
        flows: Sequence[Path] = (SAMPLE_FLOW,),
        queues: Path | None = None,
        *,
        ari_url: str | None = None,
        shutdown: ShutdownPolicy | None = None,
        node: str = "",
        **kwargs: Any,
    ) -> App:
        settings = Settings(
            shutdown=shutdown or ShutdownPolicy(),
            node=node,
            ari=AriSettings(
                url=ari_url or asterisk.ari_url,
                username=asterisk.ari_user,
                password=asterisk.ari_password,
                app=asterisk.app,
            ),
            flows=tuple(flows),
            store=tmp_path / f"store-{len(running)}.sqlite3",
            sounds_dir=asterisk.sounds_dir,
            queues=queues,
        )
        parsed: list[Speaks] = [
            flow for path in flows if (flow := load_flow(str(path))[0]) is not None
        ]
        if queues is not None and (center := load_queues(str(queues))[0]) is not None:
            parsed.append(center)
        build_prompts(parsed, asterisk.sounds_dir)
        app = App(settings, **kwargs)
        loaded = app.load_flows()
        assert loaded.applied, loaded.errors
        task = asyncio.create_task(app.run(install_signals=False))
        running.append((app, task))
        request.node._callflow_apps.append(app)
        async with asyncio.timeout(15):
            await app.service.ready.wait()
        return app

    yield start
    for app, task in running:
        await app.stop()
        await task


async def wait_for_events(
    app: App,
    kind: str,
    *,
    count: int = 1,
    call_id: str | None = None,
    timeout: float = 20.0,
    where: Callable[[EventRecord], bool] = lambda _: True,
) -> None:
    """Wait until the app's event log holds ``count`` events of that kind (``where``: those
    that match); past the timeout, fail with what the log holds instead (of that call, or
    the last events), so that a failure in CI says where the call got to."""

    def found() -> int:
        return sum(map(where, app.store.events(kind=kind, call_id=call_id)))

    try:
        async with asyncio.timeout(timeout):
            # The store is a database, not an awaitable: poll it, bounded by the timeout.
            while found() < count:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        seen = app.store.events(call_id=call_id)[-25:]
        told = "\n".join(f"  {e.at:%H:%M:%S.%f} {e.call_id} {e.kind} {e.data}" for e in seen)
        pytest.fail(f"no {count} {kind} event(s) within {timeout} s; the log has:\n{told}")


async def drop_event_socket(app: App, *, wait_reconnect: bool = False) -> None:
    """Simulate a network drop: close the ARI event socket under the running app."""
    stream = app.service._stream
    assert stream is not None
    old = stream._websocket
    assert old is not None
    await old.close()
    if wait_reconnect:
        async with asyncio.timeout(10):
            # Polls private state on purpose: the app exposes no "reconnected" hook to tests.
            while stream._websocket in (old, None) or not app.service.ready.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)


# --- The sandbox PSTN (callflow/sandbox/pstn.py): the public network, over the trunk ------


@pytest.fixture(scope="session")
def pstn(asterisk: SandboxInfo) -> Iterator[SandboxInfo]:
    """A second real Asterisk playing the public network, joined to ``asterisk`` by the
    trunk ``pstn`` (dial ``PJSIP/+15550100200@pstn``), with the shipped numbers table."""
    sandbox = start_pstn(f"pytest-{os.getpid()}", read_plan())
    try:
        assert sandbox.info is not None
        connect(asterisk, sandbox.info)
        yield sandbox.info
    finally:
        sandbox.down()


@pytest.fixture
async def customers(
    pstn: SandboxInfo, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[PhoneFactory]:
    """Start baresip softphones registered with the PSTN as its customers (customer1...,
    each at its number); all are stopped afterwards."""
    async with contextlib.AsyncExitStack() as running:

        async def start(name: str, **kwargs: Any) -> Softphone:
            account = pstn.phone(name)
            server = SipServer(pstn.bind, pstn.sip_port)
            phone = Softphone(name, account.password, server, tmp_path / f"pstn-{name}", **kwargs)
            request.node.__dict__.setdefault("_callflow_phones", []).append(phone)
            return await running.enter_async_context(phone)

        yield start
