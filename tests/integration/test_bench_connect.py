"""`callflow bench connect` on the session's Asterisk: it measures real calls (no timing
assertions here: speed is the benchmark's business, not the tests')."""

from __future__ import annotations

from pathlib import Path

import pytest

from callflow.bench.connect import AGENT_RTP, METRICS, measure_connect
from callflow.sandbox import SandboxInfo

pytestmark = pytest.mark.asterisk


async def test_two_calls_give_two_measurements_of_every_interval(
    asterisk: SandboxInfo, tmp_path: Path, no_leaks: None
) -> None:
    """Two calls into the bench's queue: each interval measured twice, each positive, and the
    bench leaves no channel or bridge behind."""
    lines: list[str] = []
    result = await measure_connect(
        asterisk, calls=2, workdir=tmp_path / "bench", ring=0.5, progress=lines.append
    )
    assert result.failures == [], lines
    assert len(result.calls) == 2
    for call in result.calls:
        assert not call.note, call.note
    for metric in METRICS:
        samples = result.samples(metric)
        assert len(samples) == 2, (metric, lines)
        # The agent's first packet can reach the kernel before Asterisk has handled the
        # 200 OK that made the leg Up; the others follow the answer by construction.
        low = -5.0 if metric == AGENT_RTP else 0.0
        assert all(value > low for value in samples), (metric, samples)
