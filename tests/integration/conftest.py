"""Fixtures that start real things on loopback: the sandbox Asterisk, baresip softphones, the app.

Nothing here is faked. If Asterisk or baresip cannot be started, the tests fail loudly: they
are never skipped silently (CI must show that the real-call tests ran).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from callflow.sandbox import Sandbox, SandboxInfo
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
    """A failing real-call test shows Asterisk's log and the softphones' logs."""
    report = yield
    if report.failed and "asterisk" in getattr(item, "fixturenames", ()):
        info = Sandbox.load(f"pytest-{os.getpid()}")
        if info is not None:
            report.sections.append(("Asterisk log", info.log_tail(150)))
        for phone in getattr(item, "_callflow_phones", []):
            report.sections.append((f"baresip {phone.user}", phone.log_tail(60)))
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
def no_leaks(asterisk: SandboxInfo) -> Iterator[None]:
    """After the test, Asterisk holds no channel and no bridge."""
    yield
    import time

    deadline = time.monotonic() + 5
    while True:
        channels = ari_get(asterisk, "channels")
        bridges = ari_get(asterisk, "bridges")
        if not channels and not bridges:
            return
        if time.monotonic() > deadline:
            names = [c["name"] for c in channels]
            bridge_ids = [b["id"] for b in bridges]
            pytest.fail(f"leaked in Asterisk: channels {names}, bridges {bridge_ids}")
        time.sleep(0.1)
