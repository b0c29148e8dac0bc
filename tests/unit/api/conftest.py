"""Fixtures for the supervisor API's tests: a real server on loopback over an in-memory
queue centre (no Asterisk), a real store, and a client that carries the token or not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callflow.api.server import ApiServer
from callflow.api.settings import ApiSettings
from callflow.ari.latency import LatencyMeter
from callflow.dialer.campaign import parse_campaign
from callflow.queue.config import parse_queues
from callflow.queue.live import QueueService
from callflow.store import SqliteStore

TOKEN = "test-token-0123456789abcdef"
QUEUES = """\
agents:
  alice: {endpoint: PJSIP/alice, queues: [support, sales]}
  bob: {endpoint: PJSIP/bob, queues: [support]}
queues:
  support:
    join_when_empty: yes
    callback: {mode: agent-first, default_country: US}
  sales: {join_when_empty: yes}
"""
CAMPAIGN = """\
name: spring
dial_mode: progressive
queues: [sales]
leads: {number: phone}
"""


@dataclass
class FakeService:
    """What the server reads of the ARI service."""

    calls: dict[str, Any] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    db = SqliteStore(tmp_path / "store.sqlite3")
    yield db
    db.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queues(store: SqliteStore, clock: Clock) -> QueueService:
    center, diagnostics = parse_queues("queues.yaml", QUEUES)
    assert center is not None, diagnostics
    return QueueService(center, store, clock=clock)


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
def latency() -> LatencyMeter:
    """The meter the service keeps (``Service.latency``), as the app hands it to the API."""
    return LatencyMeter()


@pytest.fixture
async def server(
    store: SqliteStore, queues: QueueService, service: FakeService, latency: LatencyMeter
) -> AsyncIterator[ApiServer]:
    """The API on a free loopback port."""
    campaign, diagnostics = parse_campaign("spring.yaml", CAMPAIGN)
    assert campaign is not None, [str(d) for d in diagnostics]
    api = ApiServer(
        ApiSettings(port=0, token=TOKEN),
        store=store,
        queues=queues,
        service=service,
        campaigns=[campaign],
        latency=latency,
    )
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def base(server: ApiServer) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """A session that sends the token."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
        yield session


@pytest.fixture
async def anonymous() -> AsyncIterator[aiohttp.ClientSession]:
    """A session without the token."""
    async with aiohttp.ClientSession() as session:
        yield session
