"""The campaign runner's glue without Asterisk: what it dials, in what order, after what is
written, and what a stop leaves in the store (an ARI stand-in records the originates)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callflow.ari.dispatch import EventQueue
from callflow.call.outbound import OutboundSettings
from callflow.call.primitives import Call, CallerHangup, Leg
from callflow.dialer.campaign import parse_campaign
from callflow.dialer.live import CampaignRunner, _Attempt, silence_heard
from callflow.queue.agents import AgentState
from callflow.queue.config import load_queues
from callflow.queue.live import QueueService
from callflow.queue.routing import QueueEntry
from callflow.store import SqliteStore, StoreUnavailable

QUEUES = Path(__file__).parents[2] / "integration" / "dialer_queues.yaml"
NOON_UTC = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).timestamp()


class Channels:
    """ARI's /channels as far as the runner uses it: originates are recorded, never answered."""

    def __init__(self) -> None:
        self.originated: list[tuple[str, dict[str, Any]]] = []
        self.hung_up: list[str] = []

    async def originate(self, endpoint: str, **kwargs: Any) -> None:
        self.originated.append((endpoint, kwargs))

    async def hangup(self, channel_id: str, **_: Any) -> None:
        self.hung_up.append(channel_id)


class Ari:
    def __init__(self) -> None:
        self.channels = Channels()


class Host:
    """The Stasis service's side the runner needs."""

    def __init__(self) -> None:
        self.ari = Ari()
        self.calls: dict[str, Call] = {}
        self.recovered = asyncio.Event()
        self.recovered.set()
        self.attached: list[str] = []

    def attach_channel(self, channel_id: str, events: EventQueue) -> None:
        self.attached.append(channel_id)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def runner_for(tmp_path: Path, store: SqliteStore, host: Host) -> CampaignRunner:
    (tmp_path / "dnc.txt").write_text("+15550100101\n")
    campaign, diagnostics = parse_campaign(
        str(tmp_path / "c.yaml"),
        "name: c\ndial_mode: progressive\nqueues: [outbound]\ndo_not_call: dnc.txt\n"
        "retry: {lost: 10m}\nleads: {number: phone, default_timezone: UTC}\n",
    )
    assert campaign is not None, diagnostics
    center, _ = load_queues(str(QUEUES))
    assert center is not None
    queues = QueueService(center, store, clock=lambda: NOON_UTC)
    for agent in ("agent1", "agent2"):
        queues.router.login(agent, NOON_UTC)
    store.import_leads(
        "c",
        [
            {"number": "+15550100101", "timezone": "UTC", "line": 2},  # do not call
            {"number": "+15550100102", "timezone": "Asia/Tokyo", "line": 3},  # 21:00 there
            {"number": "+15550100103", "timezone": "UTC", "line": 4},
            {"number": "+15550100104", "timezone": "Europe/Paris", "line": 5},
            {"number": "+15550100105", "timezone": "UTC", "line": 6},
        ],
    )
    outbound = OutboundSettings(caller_id="+15550100999")
    return CampaignRunner(campaign, queues, host, outbound, tick=0.02)  # type: ignore[arg-type]


async def test_a_running_progressive_campaign_dials_one_line_per_idle_agent_in_lead_order(
    tmp_path: Path, store: SqliteStore
) -> None:
    """Two idle agents, two lines: the do-not-call number and the lead whose local time is
    past 21:00 are skipped, the next two are dialed, each attempt written first; stopping
    hangs them up and settles them as lost, to be called again after retry.lost."""
    host = Host()
    runner = runner_for(tmp_path, store, host)
    store.set_campaign_state("c", "running")
    runner.start()
    async with asyncio.timeout(5):
        while len(host.ari.channels.originated) < 2:  # noqa: ASYNC110 (a stand-in is polled)
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # no third line
    endpoints = [e for e, _ in host.ari.channels.originated]
    assert endpoints == ["PJSIP/+15550100103@pstn", "PJSIP/+15550100104@pstn"]
    [(_, options), _] = host.ari.channels.originated
    assert options["app_args"] == "dialer" and options["caller_id"] == "+15550100999"
    assert options["ring_timeout"] == 25 and options["channel_id"] in host.attached
    rows = store.campaign_attempts("c")  # dialed at the same (stopped) moment: by number
    assert sorted((r["number"], r["attempt"], r["state"]) for r in rows) == [
        ("+15550100103", 1, "dialing"),
        ("+15550100104", 1, "dialing"),
    ]
    await runner.stop()
    rows = store.campaign_attempts("c")
    assert [(r["state"], r["outcome"]) for r in rows] == [("ended", "lost")] * 2
    assert sorted(host.ari.channels.hung_up) == sorted(r["data"]["channel"] for r in rows)
    leads = {lead["number"]: lead for lead in store.campaign_leads("c")}
    assert leads["+15550100103"]["next_at"] == NOON_UTC + 600
    assert leads["+15550100101"]["attempts"] == 0


async def test_a_paused_campaign_dials_nothing_and_a_restart_settles_what_was_left(
    tmp_path: Path, store: SqliteStore
) -> None:
    """Never started (paused by default): no call. An attempt a former life left dialing
    is settled as lost at start, its channel hung up, and its lead's attempts kept."""
    host = Host()
    runner = runner_for(tmp_path, store, host)
    row = {"id": "dlold", "campaign": "c", "number": "+15550100105", "attempt": 1,
           "state": "dialing", "dialed_at": NOON_UTC - 5,
           "data": {"channel": "old-dl-dlold"}}  # fmt: skip
    lead = {"campaign": "c", "number": "+15550100105", "state": "dialing", "attempts": 1}
    assert await store.claim_attempt(row, lead)
    runner.start()
    await asyncio.sleep(0.3)
    await runner.stop()
    assert host.ari.channels.originated == []
    assert host.ari.channels.hung_up == ["old-dl-dlold"]
    [settled] = store.campaign_attempts("c")
    assert (settled["state"], settled["outcome"]) == ("ended", "lost")
    leads = {x["number"]: x for x in store.campaign_leads("c")}
    assert (leads["+15550100105"]["attempts"], leads["+15550100105"]["state"]) == (1, "ready")


def test_the_greetings_end_is_the_verdict_less_the_silence_amd_heard() -> None:
    """AMDCAUSE HUMAN-<silence>-<setting> gives the silence in ms; otherwise the setting."""
    assert silence_heard("HUMAN-803-800") == pytest.approx(0.803)
    assert silence_heard("NOTSURE-TOOLONG-5000") == pytest.approx(0.8)


async def test_an_inbound_caller_waiting_for_the_agents_queue_comes_before_the_campaign(
    tmp_path: Path, store: SqliteStore
) -> None:
    """Blending: while a caller waits in a queue the campaign's agents serve, those agents
    are not idle for the campaign (no line is dialed); once the caller has gone, they are."""
    host = Host()
    runner = runner_for(tmp_path, store, host)
    router = runner.queues.router
    router.join(QueueEntry(id="c1", queue="outbound", caller="+15550200001"), NOON_UTC)
    assert runner.pacing_state(NOON_UTC).count("idle") == 0
    store.set_campaign_state("c", "running")
    runner.start()
    await asyncio.sleep(0.3)
    assert host.ari.channels.originated == []
    router.leave("c1", NOON_UTC, "abandon")
    runner.kick()
    async with asyncio.timeout(5):
        while len(host.ari.channels.originated) < 2:  # noqa: ASYNC110 (a stand-in is polled)
            await asyncio.sleep(0.01)
    await runner.stop()


class HangingUpCall:
    """A person's call who hangs up while the reserved agent's phone rings."""

    def __init__(self) -> None:
        self.dropped: list[str] = []

    async def ring(self, endpoint: str, **_: Any) -> Leg:
        return Leg(id="leg1", endpoint=endpoint)

    async def wait_for(self, *_: Any, **__: Any) -> bool:
        raise CallerHangup("the person hung up")

    async def drop_leg(self, leg: Leg) -> None:
        self.dropped.append(leg.id)


async def test_a_person_who_hangs_up_while_the_agent_rings_frees_the_agent(
    tmp_path: Path, store: SqliteStore
) -> None:
    """The reserved agent's ring is dropped and they are available again, not left ringing."""
    runner = runner_for(tmp_path, store, Host())
    attempt = _Attempt("dl1", {"number": "+15550100103"}, 1, NOON_UTC, EventQueue("x"))
    agent = await runner._reserve(attempt, NOON_UTC + 1.8)
    assert agent is not None and agent.state is AgentState.RINGING
    call = HangingUpCall()
    with pytest.raises(CallerHangup):
        await runner._connect(attempt, call, agent, NOON_UTC + 1.8, NOON_UTC)  # type: ignore[arg-type]
    assert call.dropped == ["leg1"]
    assert agent.state is AgentState.AVAILABLE


async def test_while_the_store_refuses_writes_nothing_is_dialled_and_it_is_said_once(
    tmp_path: Path,
    store: SqliteStore,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An attempt that cannot be recorded is not dialled (the FTC wants every attempt kept):
    while the store refuses writes the runner skips its rounds with one warning, not a
    traceback a second, and dials again once the store takes them."""
    host = Host()
    runner = runner_for(tmp_path, store, host)
    store.set_campaign_state("c", "running")
    claim = store.claim_attempt
    refusing = True

    async def refused(row: dict[str, object], lead: dict[str, object]) -> bool:
        if refusing:
            raise StoreUnavailable("database or disk is full")
        return await claim(row, lead)

    monkeypatch.setattr(store, "claim_attempt", refused)
    with caplog.at_level(logging.INFO, logger="callflow.dialer.live"):
        runner.start()
        await asyncio.sleep(0.3)  # about 15 rounds of 0.02 s
        assert host.ari.channels.originated == []
        refusing = False
        async with asyncio.timeout(5):
            while len(host.ari.channels.originated) < 2:  # noqa: ASYNC110 (a stand-in is polled)
                await asyncio.sleep(0.01)
        await runner.stop()
    said = [r for r in caplog.records if "store" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING, logging.INFO], said
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
