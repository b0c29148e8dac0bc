"""Reloading the flows in service from the event loop: in a worker thread, swapped whole."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callflow.ivr import FlowRegistry

FLOW = 'entry: {"%s": bye}\nnodes:\n  bye: {type: hangup, prompt: goodbye}\n'


async def test_reload_async_swaps_in_a_valid_edit_and_keeps_the_flows_on_a_broken_one(
    tmp_path: Path,
) -> None:
    """A valid edit is served after reload_async; a broken one leaves the old flows serving."""
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW % "100")
    registry = FlowRegistry([path])
    assert registry.load().applied
    old = registry.flow_for("100")
    path.write_text(FLOW % "200")
    result = await registry.reload_async("test")
    assert result.applied and registry.numbers == ["200"] and registry.generation == 2
    path.write_text(FLOW % "300" + "    reasn: x\n")
    refused = await registry.reload_async("test")
    assert not refused.applied and registry.numbers == ["200"]
    assert old is not None and old.entries == {"100": "bye"}  # a call's flow is never changed


async def test_reload_async_leaves_the_event_loop_free_while_it_reads(tmp_path: Path) -> None:
    """The reading and checking run off the event loop: other tasks run meanwhile."""
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW % "100")
    registry = FlowRegistry([path])
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    before = ticks
    assert (await registry.reload_async("test")).applied
    ticker.cancel()
    assert ticks > before + 1
