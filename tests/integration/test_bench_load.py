"""`callflow bench load` on real calls: a short run of its own two Asterisks (no timing or
CPU assertions here: speed is the benchmark's business, not the tests')."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from callflow.bench.load import StepRow, format_table, measure_load, start_rig
from callflow.sandbox import Sandbox, SandboxInfo

pytestmark = pytest.mark.asterisk

CALLS = 10


@pytest.fixture
def rig() -> Iterator[tuple[SandboxInfo, SandboxInfo]]:
    """The bench's own center and generator (its trunk is not the session PSTN's)."""
    if os.geteuid() != 0:
        pytest.fail("the integration tests start Asterisk in a chroot and need root")
    center, generator = start_rig(f"pytest-load-{os.getpid()}", [CALLS])
    assert center.info is not None and generator.info is not None
    try:
        yield center.info, generator.info
    finally:
        generator.down()
        center.down()
        for sandbox in (center, generator):
            assert Sandbox.load(sandbox.name) is None


async def test_ten_callers_held_by_callflow_and_app_queue(
    rig: tuple[SandboxInfo, SandboxInfo], tmp_path: Path
) -> None:
    """Ten callers, held 35 s, into callflow's queue and into app_queue's: every call up at
    both ends, no RTP lost either way, every caller heard at least one announcement, and
    every figure of both rows measured."""
    center, generator = rig
    lines: list[str] = []
    rows = await measure_load(
        center,
        generator,
        systems=["callflow", "app_queue"],
        steps=[CALLS],
        hold=35,
        rate=5,
        workdir=tmp_path,
        progress=lines.append,
    )
    table = "\n".join([*lines, *format_table(rows)])
    assert [(r.system, r.calls) for r in rows] == [("callflow", CALLS), ("app_queue", CALLS)]
    for row in rows:
        assert row.up_generator == CALLS, table
        assert row.up_system == CALLS, table
        assert row.dropped == 0 and row.errors == 0, table
        assert row.rtp_loss_in == 0 and row.rtp_loss_out == 0, table
        assert row.announced_min >= 1, table
        assert row.clean, table
        _complete(row, table)
    callflow, app_queue = rows
    figures = ("cpu_app", "rss_mib", "join_p50", "join_p99", "bridge_p50", "bridge_p99")
    # callflow's own, from its latency report (kill -USR1) after the hold.
    figures += ("command_p50", "command_p99", "delivered_p50", "delivered_p99")
    figures += ("in_task_p50", "in_task_p99")
    figures += ("round_trip_p50", "round_trip_p99")
    for figure in figures:
        value = getattr(callflow, figure)
        assert value is not None and math.isfinite(value) and value >= 0, (figure, table)
    # app_queue runs inside Asterisk: no app process, no Stasis to measure from.
    assert app_queue.cpu_app is None and math.isnan(app_queue.join_p50), table
    assert math.isnan(app_queue.command_p99), table


def _complete(row: StepRow, table: str) -> None:
    for figure in ("cpu_asterisk", "cpu_generator", "rx_rate"):
        value = getattr(row, figure)
        assert math.isfinite(value) and value > 0, (row.system, figure, table)
    # The generator plays music into every call and the center plays back music and
    # prompts: about 50 packets a second each way.
    assert 0.8 < row.rx_rate < 1.2, table
    # Asterisk runs a thread per channel at least, and every one of them is woken for the
    # packets each way.
    assert row.asterisk_threads > CALLS, table
    assert math.isfinite(row.asterisk_switches) and row.asterisk_switches > 50, table
