"""The dialer on real calls: a campaign of scripted numbers dialed through the PSTN sandbox,
AMD in the dialplan, two agents' softphones; people connected and heard, machines given the
message, a person with no agent free given the safe-harbor message within 2 s, every attempt
a row of the store, and no attempt placed twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callflow.app.main import App
from callflow.app.settings import AriSettings, Settings
from callflow.call.outbound import OutboundSettings
from callflow.dialer.campaign import parse_campaign
from callflow.dialer.cli import status_of
from callflow.flow.loader import load_flow
from callflow.prompts import build_prompts
from callflow.prompts.build import Speaks
from callflow.queue.config import load_queues
from callflow.sandbox import SandboxInfo
from callflow.testing.audio import measure, tone_seconds, write_tone
from tests.integration.conftest import PhoneFactory

pytestmark = pytest.mark.asterisk

HERE = Path(__file__).parent
QUEUES = HERE / "dialer_queues.yaml"
CAMPAIGN = HERE / "dialer_campaign.yaml"
FLOW = HERE / "flows" / "dialer.yaml"
# +1 555 01B RR TT: B 0 person, 1 machine, 2 no answer, 3 busy, 4 congestion, 5 invalid.
LEADS = {
    "+15550100108": "person",  # rings 1 s, talks 8 s
    "+15550100208": "person",
    "+15550100110": "person",
    "+15550110105": "machine",
    "+15550130100": "busy",
    "+15550120200": "no_answer",
    "+15550140100": "congestion",
    "+15550150100": "invalid",
    "+15550100107": "dnc",  # on the do-not-call list: never dialed
    "+15550110205": "machine",
    "+15550100306": "person",
    "+15550100106": "person",
}
EXPECTED = {
    "machine": {"machine"},
    "busy": {"busy"},
    "no_answer": {"no_answer"},
    "congestion": {"congestion"},
    "invalid": {"invalid"},
    "person": {"connected", "abandoned"},
}


@pytest.fixture
async def dialer_app(
    asterisk: SandboxInfo, pstn: SandboxInfo, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[App]:
    """callflow with the test campaign, its leads imported, not yet started."""
    settings = Settings(
        ari=AriSettings(
            url=asterisk.ari_url,
            username=asterisk.ari_user,
            password=asterisk.ari_password,
            app=asterisk.app,
        ),
        flows=(FLOW,),
        store=tmp_path / "store.sqlite3",
        sounds_dir=asterisk.sounds_dir,
        queues=QUEUES,
        outbound=OutboundSettings(caller_id="+15550100999", ring_timeout=25),
        campaigns=(CAMPAIGN,),
    )
    campaign, _ = parse_campaign(str(CAMPAIGN), CAMPAIGN.read_text())
    center, _ = load_queues(str(QUEUES))
    flow, _ = load_flow(str(FLOW))
    assert campaign is not None and center is not None and flow is not None
    speaking: list[Speaks] = [flow, center, campaign]
    build_prompts(speaking, asterisk.sounds_dir)
    app = App(settings)
    assert app.load_flows().applied
    rows = [{"number": n, "timezone": "UTC", "line": i} for i, n in enumerate(LEADS, 2)]
    app.store.import_leads("sandbox", rows)
    request.node._callflow_apps = [app]
    task = asyncio.create_task(app.run(install_signals=False))
    async with asyncio.timeout(15):
        await app.service.ready.wait()
    try:
        yield app
    finally:
        await app.stop()
        await task


async def test_a_campaign_connects_people_leaves_messages_and_abandons_with_the_safe_harbor(
    dialer_app: App, phones: PhoneFactory, tmp_path: Path
) -> None:
    """Two lines per agent: people answered reach agent1 or agent2 and each hears the other
    (the person echoes the agent's 880 Hz tone); the person left over hears the safe-harbor
    message within 2 s of the end of their greeting and is counted abandoned; machines get
    the message; busy, no answer, congestion and invalid are recorded as such; the number on
    the do-not-call list is never dialed; each lead is called once, in attempt 1."""
    app = dialer_app
    tone = write_tone(tmp_path / "agent.wav", 120, 880)
    agents = [await phones(f"agent{i}", auto_answer=True, microphone=tone) for i in (1, 2)]
    for i in (1, 2):
        app.queues.login(f"agent{i}")
    app.store.set_campaign_state("sandbox", "running")
    dialable = {n for n, kind in LEADS.items() if kind != "dnc"}

    def over() -> bool:
        leads = app.store.campaign_leads("sandbox")
        return all(
            lead["state"] != "dialing" and lead["attempts"]
            for lead in leads
            if lead["number"] in dialable
        )

    async with asyncio.timeout(120):
        while not over():  # noqa: ASYNC110 (the store is a database, not an awaitable)
            await asyncio.sleep(0.5)
    app.store.set_campaign_state("sandbox", "stopped")

    attempts = app.store.campaign_attempts("sandbox")
    assert Counter((a["number"], a["attempt"]) for a in attempts) == Counter(
        (n, 1) for n in dialable
    ), attempts
    outcomes = {a["number"]: a["outcome"] for a in attempts}
    for number, outcome in outcomes.items():
        assert outcome in EXPECTED[LEADS[number]], (number, outcome, attempts)
    assert all(a["state"] == "ended" for a in attempts)
    assert "+15550100107" not in outcomes

    connected = [n for n, o in outcomes.items() if o == "connected"]
    abandoned = [n for n, o in outcomes.items() if o == "abandoned"]
    assert len(connected) >= 2 and len(abandoned) >= 1, outcomes

    # The safe harbor: from the greeting's end (AMD's verdict less its after-greeting
    # silence) to the playback's start, as logged.
    for event in app.store.events(kind="campaign.safe_harbor"):
        latency = event.data["at"] - event.data["greeting_end"]
        print(f"safe harbor for {event.data['number']}: {latency:.3f} s after the greeting")
        assert latency <= 2.0, event.data
        assert event.data["media"], event.data
    for event in app.store.events(kind="campaign.connect"):
        print(
            f"{event.data['number']} connected to {event.data['agent']}: "
            f"{event.data['after_greeting']:.3f} s after the greeting"
        )
        assert event.data["after_greeting"] <= 2.0, event.data
    machines = app.store.events(kind="campaign.machine")
    assert {e.data["number"] for e in machines} == {
        n for n, o in outcomes.items() if o == "machine"
    }
    assert all(e.data["message"] for e in machines)

    # Each agent heard their own tone come back through a person, once per call they took.
    by_agent = Counter(e.data["agent"] for e in app.store.events(kind="campaign.connect"))
    for phone in agents:
        heard = sorted(phone.recordings_dir.glob("*-dec.wav"))
        echoed = [p for p in heard if tone_seconds(p, 880) > 1.5]
        assert len(echoed) >= by_agent[phone.user], [measure(p) for p in heard]

    figures = status_of(app.campaigns[0].campaign, app.store, app.queues.clock())
    print(figures)
    assert figures["attempts"] == len(dialable)
    assert figures["contacts"] == len(connected)
    uk = next(w for w in figures["windows"] if w["window"] == "uk-24h")
    assert uk["abandoned"] == pytest.approx(len(abandoned))
