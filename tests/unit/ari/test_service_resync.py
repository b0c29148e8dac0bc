"""The service's resync on connecting: a failing Asterisk never stops callflow (fake ARI)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from ari_fake import FakeAri, make_config

import callflow.app.service as service_module
from callflow.app.service import Service
from callflow.call.primitives import Call


async def idle(call: Call) -> None:
    """A call handler for a test that places no call."""


async def test_a_server_error_during_the_resync_is_retried_not_fatal(
    fake: FakeAri, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """On the first connection the service resyncs; a 500 from Asterisk then is logged and
    retried, the service keeps running, and the resync succeeds once Asterisk answers."""
    monkeypatch.setattr(service_module, "RESYNC_PAUSE", 0.05)
    caplog.set_level(logging.INFO, logger="callflow.app.service")
    fake.reply("GET", "/asterisk/info", 200, {"status": {"startup_time": "2026-01-01T00:00:00Z"}})
    fake.reply("GET", "/channels", 500, {"message": "Internal Server Error"})
    fake.reply("GET", "/bridges", 200, [])
    fake.reply("GET", "/applications/callflow", 200, {"name": "callflow"})
    service = Service(make_config(fake.base_url), idle)
    running = asyncio.create_task(service.run())
    async with asyncio.timeout(5):
        await service.ready.wait()
    assert not service.recovered.is_set()
    assert "resync with Asterisk failed" in caplog.text
    fake.reply("GET", "/channels", 200, [])
    async with asyncio.timeout(5):
        await service.recovered.wait()
    assert not running.done()
    await service.stop()
    async with asyncio.timeout(5):
        await running
