"""The campaign runner's blending, without Asterisk: what it learns of the agents' inbound
queue from the Router, and the idle agents it shows its pacing policy."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callflow.call.outbound import OutboundSettings
from callflow.dialer.campaign import parse_campaign
from callflow.dialer.live import CampaignRunner
from callflow.queue.config import load_queues
from callflow.queue.live import QueueService
from callflow.queue.routing import QueueEntry
from callflow.store import SqliteStore
from tests.unit.dialer.test_live_runner import Host

QUEUES = Path(__file__).parents[2] / "integration" / "dialer_queues.yaml"
NOON_UTC = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).timestamp()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


async def test_the_runner_holds_agents_back_while_the_queue_needs_them(
    tmp_path: Path, store: SqliteStore
) -> None:
    """agent1 and agent2 serve the outbound queue and the campaign (blend: 80 %, 10 min,
    3 min a call). Idle and no caller lately: both are the dialer's. A caller waits: neither.
    agent1 answers them: one arrival in the last minute at 3 min a call needs more agents
    than agent1, so agent2 is held back too. Eleven minutes later the call is over and the
    arrival out of the window: both are the dialer's again, and the handle time is learnt."""
    campaign, found = parse_campaign(
        str(tmp_path / "c.yaml"),
        "name: c\ndial_mode: progressive\nqueues: [outbound]\n"
        "blend: {service_level: 80, window: 10m, handle_time: 3m}\n",
    )
    assert campaign is not None, found
    center, _ = load_queues(str(QUEUES))
    assert center is not None
    now = [NOON_UTC]
    queues = QueueService(center, store, clock=lambda: now[0])
    router = queues.router
    for agent in ("agent1", "agent2"):
        router.login(agent, now[0])
    runner = CampaignRunner(
        campaign,
        queues,
        Host(),  # type: ignore[arg-type]
        OutboundSettings(caller_id="+15550100999"),
    )
    assert runner.pacing_state(now[0]).count("idle") == 2

    now[0] += 30
    router.join(QueueEntry(id="c1", queue="outbound", caller="+15550200001"), now[0])
    assert runner.pacing_state(now[0]).count("idle") == 0

    now[0] += 5
    router.leave("c1", now[0], "answered")
    router.agents["agent1"].ring(now[0], "c1", "outbound")
    router.agents["agent1"].answered(now[0])
    load = runner.inbound["outbound"]
    assert load.arrival_rate(now[0]) == pytest.approx(1 / 60)
    assert runner.pacing_state(now[0]).count("idle") == 0  # agent2 is kept for the queue

    now[0] += 660
    router.call_ended("agent1", now[0])
    router.tick(now[0])
    assert runner.pacing_state(now[0]).count("idle") == 2
    assert load.arrival_rate(now[0]) == 0.0
    assert 180.0 < load.handle_time < 660.0  # the prior, moved toward the 660 s call
