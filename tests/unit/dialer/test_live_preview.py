"""Preview on the campaign runner without Asterisk (an ARI stand-in records originates): a
lead shown to the free agent and nothing dialed, the agent's screen from the store, a skip
showing the next lead, an accept dialing it for that agent, and a restart showing again the
lead shown when callflow died, never dialing it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from callflow.ari.dispatch import EventQueue
from callflow.ari.events import parse_event
from callflow.call.outbound import OutboundSettings
from callflow.dialer import preview as pv
from callflow.dialer.campaign import Campaign, parse_campaign
from callflow.dialer.live import CampaignRunner
from callflow.dialer.screen import NothingPresented, agent_lead, ask, verdict_of
from callflow.queue.agents import AgentState
from callflow.queue.config import load_queues
from callflow.queue.live import QueueService
from callflow.store import SqliteStore
from tests.unit.dialer.test_live_runner import NOON_UTC, QUEUES, Channels, Host

AGENT1 = "PJSIP/agent1"  # agent1's phone (dialer_queues.yaml)


class Phones(Channels):
    """/channels with the ringback a preview agent hears."""

    def __init__(self) -> None:
        super().__init__()
        self.played: list[tuple[str, str]] = []

    async def play(self, channel_id: str, media: str, **_: Any) -> None:
        self.played.append((channel_id, media))


class PreviewHost(Host):
    """The host, keeping each attached channel's queue: a test answers the agent's phone."""

    def __init__(self) -> None:
        super().__init__()
        self.ari.channels = Phones()
        self.queues: dict[str, EventQueue] = {}

    def attach_channel(self, channel_id: str, events: EventQueue) -> None:
        super().attach_channel(channel_id, events)
        self.queues[channel_id] = events

    def answer(self, channel_id: str) -> None:
        self.queues[channel_id].put(
            parse_event(
                {
                    "type": "StasisStart",
                    "channel": {"id": channel_id, "name": "PJSIP/agent1-00000001"},
                    "args": ["leg"],
                }
            )
        )

    def refuse(self, channel_id: str) -> None:
        self.queues[channel_id].put(
            parse_event(
                {
                    "type": "ChannelDestroyed",
                    "channel": {"id": channel_id, "name": "PJSIP/agent1-00000001"},
                    "cause": 21,
                }
            )
        )


LEADS = [
    {"number": "+15550100103", "timezone": "UTC", "line": 2, "fields": {"name": "Ann"}},
    {"number": "+15550100104", "timezone": "Europe/Paris", "line": 3, "fields": {"name": "Bo"}},
    {"number": "+15550100105", "timezone": "UTC", "line": 4, "fields": {"name": "Cy"}},
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def preview_campaign(tmp_path: Path, extra: str = "") -> Campaign:
    campaign, diagnostics = parse_campaign(
        str(tmp_path / "p.yaml"),
        "name: p\ndial_mode: preview\nagents: [agent1]\nretry: {skipped: 1h}\n"
        "leads: {number: phone, default_timezone: UTC, fields: [name]}\n" + extra,
    )
    assert campaign is not None, diagnostics
    return campaign


def runner_for(campaign: Campaign, store: SqliteStore, host: Host) -> CampaignRunner:
    center, _ = load_queues(str(QUEUES))
    assert center is not None
    queues = QueueService(center, store, clock=lambda: NOON_UTC)
    queues.router.login("agent1", NOON_UTC)
    outbound = OutboundSettings(caller_id="+15550100999")
    return CampaignRunner(campaign, queues, host, outbound, tick=0.02)  # type: ignore[arg-type]


async def until(test: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not test():  # noqa: ASYNC110 (a stand-in and a database are polled)
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def shown_first(
    tmp_path: Path, store: SqliteStore, host: Host
) -> AsyncIterator[CampaignRunner]:
    """A running preview campaign once it has shown agent1 its first lead; stopped after."""
    store.import_leads("p", LEADS)
    runner = runner_for(preview_campaign(tmp_path), store, host)
    store.set_campaign_state("p", "running")
    runner.start()
    try:
        await until(lambda: presented(store))
        yield runner
    finally:
        await runner.stop()


def presented(store: SqliteStore) -> list[tuple[str, str]]:
    return [(e.data["agent"], e.data["number"]) for e in store.events(kind=pv.PRESENTED)]


async def test_a_lead_is_shown_and_dialed_only_on_accept_a_skip_shows_the_next(
    tmp_path: Path, store: SqliteStore
) -> None:
    host = PreviewHost()
    campaign = preview_campaign(tmp_path)
    store.import_leads("p", LEADS)
    runner = runner_for(campaign, store, host)
    store.set_campaign_state("p", "running")
    runner.start()
    try:
        await until(lambda: presented(store))
        await asyncio.sleep(0.2)  # rounds go by: still nothing dialed, nothing else shown
        assert presented(store) == [("agent1", "+15550100103")]
        assert host.ari.channels.originated == [] and store.campaign_attempts("p") == []
        agent = runner.queues.router.agents["agent1"]
        lead = agent_lead(store, [campaign], "agent1")
        assert lead is not None
        assert agent.state is AgentState.RINGING and agent.entry_id == lead["presentation"]
        assert {k: lead[k] for k in ("state", "number", "timezone", "fields", "attempt")} == {
            "state": "presented",
            "number": "+15550100103",
            "timezone": "UTC",
            "fields": {"name": "Ann"},
            "attempt": 1,
        }
        assert agent_lead(store, [campaign], "agent2") is None
        with pytest.raises(NothingPresented):
            ask(store, [campaign], "agent2", "accept", source="test")

        asked = ask(store, [campaign], "agent1", "skip", source="test")
        await until(lambda: verdict_of(store, asked["presentation"]) is not None)
        await until(lambda: len(presented(store)) == 2)
        assert presented(store)[1] == ("agent1", "+15550100104")
        verdict = verdict_of(store, asked["presentation"])
        assert verdict is not None and (verdict["kind"], verdict["dial"]) == (pv.SKIPPED, False)
        assert verdict["request"] == asked["request"]
        skipped = {x["number"]: x for x in store.campaign_leads("p")}["+15550100103"]
        assert (skipped["state"], skipped["attempts"]) == ("ready", 0)  # never dialed
        assert host.ari.channels.originated == []

        second = agent_lead(store, [campaign], "agent1")
        assert second is not None and second["fields"] == {"name": "Bo"}
        ask(store, [campaign], "agent1", "accept", source="test")
        # Agent first: agent1's phone rings (the lead's number shown), nothing else yet.
        await until(lambda: host.ari.channels.originated)
        [(endpoint, options)] = host.ari.channels.originated
        assert (endpoint, options["caller_id"]) == (AGENT1, "+15550100104")
        await asyncio.sleep(0.1)
        assert store.campaign_attempts("p") == [] and len(host.ari.channels.originated) == 1
        agent_phone = options["channel_id"]
        host.answer(agent_phone)  # agent1 picks up: ringback, then the lead is dialed
        await until(lambda: len(host.ari.channels.originated) == 2)
        assert host.ari.channels.played == [(agent_phone, "tone:ring")]
        endpoint, _ = host.ari.channels.originated[1]
        assert endpoint == "PJSIP/+15550100104@pstn"
        [row] = store.campaign_attempts("p")
        # The attempt is the presentation's, its agent still reserved for it.
        assert (row["id"], row["number"], row["attempt"]) == (
            second["presentation"],
            "+15550100104",
            1,
        )
        assert agent.state is AgentState.RINGING and agent.entry_id == row["id"]
        await asyncio.sleep(0.2)  # agent1 is reserved: nothing else shown meanwhile
        assert len(presented(store)) == 2
    finally:
        await runner.stop()
    # The ring never answered: stopped, the attempt is lost, agent1's phone hung up and
    # agent1 free again.
    assert [r["outcome"] for r in store.campaign_attempts("p")] == ["lost"]
    assert agent_phone in host.ari.channels.hung_up
    assert runner.queues.router.agents["agent1"].state is AgentState.AVAILABLE


async def test_the_timeout_dials_with_on_timeout_dial(tmp_path: Path, store: SqliteStore) -> None:
    host = PreviewHost()
    campaign = preview_campaign(tmp_path, "preview: {timeout: 1, on_timeout: dial}\n")
    store.import_leads("p", LEADS)
    runner = runner_for(campaign, store, host)
    clock = [NOON_UTC]
    runner.clock = lambda: clock[0]
    store.set_campaign_state("p", "running")
    runner.start()
    try:
        await until(lambda: presented(store))
        [shown] = store.events(kind=pv.PRESENTED)
        assert shown.data["deadline"] == NOON_UTC + 1 and shown.data["on_timeout"] == "dial"
        await asyncio.sleep(0.1)
        assert host.ari.channels.originated == []
        clock[0] += 1.0
        await until(lambda: host.ari.channels.originated)
        verdict = verdict_of(store, shown.call_id)
        assert verdict is not None and (verdict["kind"], verdict["dial"]) == (pv.TIMEOUT, True)
        host.answer(host.ari.channels.originated[0][1]["channel_id"])
        await until(lambda: len(host.ari.channels.originated) == 2)
        assert [e for e, _ in host.ari.channels.originated] == [
            AGENT1,
            "PJSIP/+15550100103@pstn",
        ]
    finally:
        await runner.stop()


async def test_after_a_crash_the_lead_shown_is_shown_again_and_never_dialed(
    tmp_path: Path, store: SqliteStore
) -> None:
    """The first runner dies while agent1 is shown a lead (its task cancelled, nothing
    cleaned up, as after kill -9); the next one withdraws that presentation, shows the same
    lead to agent1 again, dials nothing; an accept sent before the crash is not applied."""
    campaign = preview_campaign(tmp_path)
    store.import_leads("p", LEADS)
    first_host = Host()
    first = runner_for(campaign, store, first_host)
    store.set_campaign_state("p", "running")
    first.start()
    await until(lambda: presented(store))
    assert first._task is not None
    first._task.cancel()  # dies: no stop(), no withdrawal
    await asyncio.gather(first._task, return_exceptions=True)
    [old] = store.events(kind=pv.PRESENTED)
    store.append(
        pv.REQUEST,
        old.call_id,
        {"campaign": "p", "agent": "agent1", "presentation": old.call_id, "action": "accept"},
    )
    store.flush()

    host = Host()
    second = runner_for(campaign, store, host)
    second.start()
    try:
        await until(lambda: len(presented(store)) == 2)
        await asyncio.sleep(0.2)
        again = store.events(kind=pv.PRESENTED)[1]
        assert (again.data["agent"], again.data["number"], again.data["again"]) == (
            "agent1",
            "+15550100103",
            True,
        )
        [withdrawn] = store.events(kind=pv.WITHDRAWN)
        assert (withdrawn.call_id, withdrawn.data["reason"]) == (old.call_id, "restart")
        assert host.ari.channels.originated == [] and store.campaign_attempts("p") == []
        lead = agent_lead(store, [campaign], "agent1")
        assert lead is not None and lead["presentation"] == again.call_id
    finally:
        await second.stop()
    # Stopped while shown: no verdict, the next life shows it again.
    assert verdict_of(store, again.call_id) is None
    assert second.queues.router.agents["agent1"].state is AgentState.AVAILABLE


async def test_an_agent_who_pauses_while_shown_a_lead_is_paused_and_the_lead_withdrawn(
    tmp_path: Path, store: SqliteStore
) -> None:
    """A pause asked while a lead is shown (the agent is ringing to the Router, so the pause
    waits) withdraws the lead, untouched, and the agent is paused at once."""
    host = Host()
    async with shown_first(tmp_path, store, host) as runner:
        agent = runner.queues.router.agents["agent1"]
        assert agent.pause(NOON_UTC, "lunch") is False  # pending while reserved
        await until(lambda: store.events(kind=pv.WITHDRAWN))
        [withdrawn] = store.events(kind=pv.WITHDRAWN)
        assert withdrawn.data["reason"] == "the agent paused"
        assert (agent.state, agent.pause_reason) == (AgentState.PAUSED, "lunch")
        await asyncio.sleep(0.1)
        assert len(presented(store)) == 1 and host.ari.channels.originated == []
        assert agent_lead(store, [runner.campaign], "agent1") is None


async def test_an_agent_phone_that_does_not_answer_the_accept_leaves_the_lead_as_it_was(
    tmp_path: Path, store: SqliteStore
) -> None:
    """agent1 accepts, then rejects their phone's ring: no attempt is claimed, nothing is
    dialed, the lead is untouched and shown again once agent1 is free."""
    host = PreviewHost()
    async with shown_first(tmp_path, store, host) as runner:
        ask(store, [runner.campaign], "agent1", "accept", source="test")
        await until(lambda: host.ari.channels.originated)
        host.refuse(host.ari.channels.originated[0][1]["channel_id"])
        await until(lambda: len(presented(store)) == 2)
        [unanswered] = store.events(kind="campaign.preview.unanswered")
        assert unanswered.data["agent"] == "agent1"
        assert presented(store) == [("agent1", "+15550100103")] * 2
        assert store.campaign_attempts("p") == []
        assert [e for e, _ in host.ari.channels.originated] == [AGENT1]
        lead = {x["number"]: x for x in store.campaign_leads("p")}["+15550100103"]
        assert (lead["state"], lead["attempts"]) == ("ready", 0)
