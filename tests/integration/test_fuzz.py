"""`callflow bench fuzz`, short: 150 random callers, 20 at a time, through the bench's
flow, queues (robot agents on the sandbox PSTN), callbacks and campaign; then every leak
check finds nothing. The bench starts its own sandbox Asterisk and PSTN (its own name), and
``callflow run`` in its own process, as the bench does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callflow.bench.fuzz import fuzz

pytestmark = pytest.mark.asterisk


async def test_150_random_callers_leave_nothing_behind(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("the integration tests start Asterisk in a chroot and need root")
    lines: list[str] = []
    result = await fuzz(
        calls=150,
        concurrency=20,
        seed=11,
        workdir=tmp_path,
        name=f"pytest-fuzz-{os.getpid()}",
        longest=40.0,
        progress=lines.append,
    )
    report = "\n".join([*lines, *result.lines()])
    log = tmp_path / "callflow.log"
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
    failed = [c for c in result.checks if not c.ok]
    assert result.checks and not failed, f"{report}\ncallflow's log:\n{tail}"
    figures = dict(result.figures)
    # The callers went everywhere they should: answered, keys pressed, queues joined and
    # connected to robot agents, the campaign dialled, hang-ups from both sides.
    assert figures["calls placed"] == 150, report
    assert figures["answered by the center"] >= 140, report
    assert figures["keys pressed"] > 150, report
    assert figures.get("queue.enter", 0) > 10 and figures.get("queue.connect", 0) > 0, report
    assert figures.get("campaign.attempt", 0) > 0, report
    assert figures["hung up by the caller"] > 0 and figures["hung up by the center"] > 0, report
