"""The dialer on real calls: a campaign of scripted numbers dialed through the PSTN sandbox,
AMD in the dialplan, two agents' softphones; people connected and heard, machines given the
message, a person with no agent free given the safe-harbor message within 2 s, every attempt
a row of the store, and no attempt placed twice."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callflow.app.main import App
from callflow.app.settings import AriSettings, Settings
from callflow.call.outbound import OutboundSettings
from callflow.cli import main
from callflow.dialer.campaign import parse_campaign
from callflow.dialer.status import status_of
from callflow.flow.loader import load_flow
from callflow.prompts import build_prompts
from callflow.prompts.build import Speaks
from callflow.queue.config import load_queues
from callflow.sandbox import SandboxInfo
from callflow.store import SqliteStore
from callflow.testing.audio import measure, tone_seconds, write_tone
from tests.integration.conftest import PhoneFactory, ari_get
from tests.integration.test_recovery import Callflow, agents_cli, until

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
    asked = app.store.events(kind="campaign.safe_harbor")
    for event in asked:
        latency = event.data["at"] - event.data["greeting_end"]
        print(f"safe harbor for {event.data['number']}: asked {latency:.3f} s after the greeting")
        assert latency <= 2.0, event.data
        assert event.data["media"], event.data
    # And as Asterisk timed the message's first playback.
    started = app.store.events(kind="campaign.safe_harbor_started")
    assert {e.call_id for e in started} == {e.call_id for e in asked}
    for event in started:
        print(f"safe harbor for {event.data['number']}: started {event.data['after']:.3f} s after")
        assert event.data["after"] <= 2.0, event.data
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


async def test_kill_9_while_a_lead_rings_then_the_restart_calls_it_again_as_a_new_attempt(
    asterisk: SandboxInfo, pstn: SandboxInfo, phones: PhoneFactory, tmp_path: Path
) -> None:
    """`callflow run` dials a person (connected to agent1), then a number that rings; it is
    killed with SIGKILL while that one rings. The restarted callflow hangs up the old ring,
    records attempt 1 as lost and calls the number again as attempt 2; no attempt is placed
    twice, and the window still holds the person connected before the kill."""
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(
        "name: killtest\ndial_mode: progressive\nagents: [agent1]\nmax_attempts: 3\n"
        'calling_hours: {start: "00:00", end: "23:59"}\n'
        "retry: {lost: 1s, no_answer: 1h}\nsafe_harbor: {sound: vm-goodbye}\n"
        "leads: {number: phone, default_timezone: UTC}\n"
    )
    leads = tmp_path / "leads.csv"
    leads.write_text("phone\n+15550100103\n+15550120800\n")  # talks 3 s; rings 8 s
    flow, center = load_flow(str(FLOW))[0], load_queues(str(QUEUES))[0]
    assert flow is not None and center is not None
    build_prompts([flow, center], asterisk.sounds_dir)
    config = tmp_path / "callflow.yaml"
    config.write_text(
        f"ari:\n  url: {asterisk.ari_url}\n  username: {asterisk.ari_user}\n"
        f"  password: {asterisk.ari_password}\n  app: {asterisk.app}\n"
        f"flows:\n  - {FLOW}\nqueues: {QUEUES}\nstore: {tmp_path / 'store.sqlite3'}\n"
        f"campaigns: [{campaign}]\n"
        "outbound:\n  endpoint: PJSIP/{number}@pstn\n  caller_id: '+15550100999'\n"
        "shutdown:\n  grace: 1\n"
    )
    assert main(["campaigns", "import", "killtest", str(leads), "--config", str(config)]) == 0
    assert main(["campaigns", "start", "killtest", "--config", str(config)]) == 0
    await phones("agent1", auto_answer=True)
    store = SqliteStore(tmp_path / "store.sqlite3")
    log = tmp_path / "callflow.log"
    first, second = Callflow(config, log), Callflow(config, log)
    try:
        await first.start()
        await first.wait_for_log("connected to Asterisk")
        assert await agents_cli(config, "login", "agent1") == 0

        def ringing() -> bool:
            rows = {r["number"]: r["state"] for r in store.campaign_attempts("killtest")}
            return rows == {"+15550100103": "ended", "+15550120800": "dialing"}

        await until(ringing, timeout=60)
        await asyncio.sleep(1.0)  # the PSTN's phone rings
        first.kill(signal.SIGKILL)
        await first.wait()
        offset = len(log.read_text(errors="replace"))
        await second.start()
        await second.wait_for_log("connected to Asterisk", after=offset)

        def settled() -> bool:
            rows = store.campaign_attempts("killtest")
            return len(rows) == 3 and all(r["state"] == "ended" for r in rows)

        await until(settled, timeout=60)
    finally:
        for process in (first, second):
            if process.proc is not None and process.proc.returncode is None:
                process.kill(signal.SIGTERM)
                await process.wait()
    attempts = [
        (r["number"], r["attempt"], r["outcome"]) for r in store.campaign_attempts("killtest")
    ]
    assert attempts == [
        ("+15550100103", 1, "connected"),
        ("+15550120800", 1, "lost"),
        ("+15550120800", 2, "no_answer"),
    ], attempts
    kept = {r["number"]: r for r in store.campaign_leads("killtest")}
    assert kept["+15550120800"]["attempts"] == 2
    parsed, _ = parse_campaign(str(campaign), campaign.read_text())
    assert parsed is not None
    figures = status_of(parsed, store, time.time())
    store.close()
    assert figures["contacts"] == 1
    assert [(w["live"], w["abandoned"]) for w in figures["windows"]] == [(1.0, 0.0), (1.0, 0.0)]
    channels = ari_get(asterisk, "channels")
    assert not [c for c in channels if "-dl-" in c["id"]], channels
