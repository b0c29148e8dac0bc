"""Hot reload with calls in progress: valid edits apply to new calls, broken ones are refused."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import pytest

from callflow.sandbox import SandboxInfo
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events

pytestmark = pytest.mark.asterisk

IVR = Path(__file__).parent / "flows" / "ivr.yaml"


async def test_reload_applies_valid_edits_and_refuses_broken_ones(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    no_leaks: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A call in progress finishes on its flow while an edit adds a number; a broken edit
    mid-call is refused, the flow in service stays, and every call completes."""
    caplog.set_level(logging.INFO, logger="callflow.ivr.registry")
    flow = tmp_path / "ivr.yaml"
    shutil.copy(IVR, flow)
    app = await start_app([flow], watch_interval=0.1)
    first = await phones("caller1")
    second = await phones("caller2")

    # Call 1 waits in the menu of the flow as it was.
    mark1 = first.mark()
    await first.dial("200")
    await first.wait_event("CALL_ESTABLISHED", since=mark1)
    await wait_for_events(app, "call.playback")

    # A valid edit: a new number 203 that goes straight to goodbye.
    generation = app.flows.generation
    flow.write_text(
        flow.read_text().replace(
            '  "202": leave_message', '  "202": leave_message\n  "203": goodbye'
        )
    )
    async with asyncio.timeout(5):
        while app.flows.generation == generation:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    mark2 = second.mark()
    await second.dial("203")
    await second.wait_event("CALL_CLOSED", since=mark2, timeout=15)

    # A broken edit while call 1 is still in progress.
    flow.write_text(flow.read_text().replace("type: menu", "type: menuu"))
    async with asyncio.timeout(5):
        while "flow reload refused" not in caplog.text:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert "unknown node type 'menuu'" in caplog.text
    assert "did you mean 'menu'?" in caplog.text
    assert app.flows.flow_for("203") is not None  # the valid flow stays in service

    # Call 1 completes on the flow it started with.
    await first.send_dtmf("9")
    await first.wait_event("CALL_CLOSED", since=mark1, timeout=15)
    await wait_for_events(app, "call.end", count=2)
    ends = {e.call_id: e.data["outcome"] for e in app.store.events(kind="call.end")}
    assert sorted(ends.values()) == ["hangup:done", "hangup:done"]
    steps = [e.data["node"] for e in app.store.events(kind="flow.step")]
    assert "skip" in steps and steps.count("goodbye") == 2
