"""Fixtures for the KPI tests."""

from __future__ import annotations

import pytest
from kpi_log import Log


@pytest.fixture
def log() -> Log:
    """An empty hand-written event log."""
    return Log()
