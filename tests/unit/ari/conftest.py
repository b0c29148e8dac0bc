"""Fixtures for the ARI client's tests: a fake ARI server and a client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from ari_fake import FakeAri, make_config

from callflow.ari import AriClient


@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    async with FakeAri() as server:
        yield server


@pytest.fixture
async def client(fake: FakeAri) -> AsyncIterator[AriClient]:
    async with AriClient(make_config(fake.base_url)) as ari:
        yield ari
