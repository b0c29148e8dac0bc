"""The dialer on real calls: a campaign of scripted numbers dialed through the PSTN sandbox,
AMD in the dialplan, two agents' softphones; people connected and heard, machines given the
message, a person with no agent free given the safe-harbor message within 2 s, every attempt
a row of the store, and no attempt placed twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import time
import wave
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from callflow.api.settings import ApiSettings
from callflow.app.main import App
from callflow.app.settings import AriSettings, Settings
from callflow.call.outbound import OutboundSettings
from callflow.cli import main
from callflow.dialer.campaign import parse_campaign
from callflow.dialer.status import status_of
from callflow.flow.loader import load_flow
from callflow.prompts import build_prompts
from callflow.prompts.build import Speaks
from callflow.queue.agents import AgentState
from callflow.queue.config import load_queues
from callflow.sandbox import SandboxInfo
from callflow.store import SqliteStore
from callflow.testing.audio import measure, tone_seconds, write_tone
from tests.integration.conftest import PhoneFactory, ari_get, wait_for_events
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


DialerAppFactory = Callable[..., Awaitable[App]]


@pytest.fixture
async def dialer_apps(
    asterisk: SandboxInfo, pstn: SandboxInfo, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[DialerAppFactory]:
    """Start callflow with a campaign, its leads imported, not yet started; ``clock`` (the
    runner's and the queues') stands in for the wall clock when given; ``api``: with the
    supervisor API (``app.api.port``)."""
    running: list[tuple[App, asyncio.Task[None]]] = []
    request.node._callflow_apps = []

    async def start(
        campaign_file: Path = CAMPAIGN,
        leads: Sequence[Mapping[str, Any]] = (),
        *,
        queues: Path = QUEUES,
        flow: Path = FLOW,
        clock: Callable[[], float] | None = None,
        api: ApiSettings | None = None,
    ) -> App:
        settings = Settings(
            ari=AriSettings(
                url=asterisk.ari_url,
                username=asterisk.ari_user,
                password=asterisk.ari_password,
                app=asterisk.app,
            ),
            flows=(flow,),
            store=tmp_path / f"store-{len(running)}.sqlite3",
            sounds_dir=asterisk.sounds_dir,
            queues=queues,
            outbound=OutboundSettings(caller_id="+15550100999", ring_timeout=25),
            campaigns=(campaign_file,),
            api=api,
        )
        text = await asyncio.to_thread(campaign_file.read_text)
        campaign, _ = parse_campaign(str(campaign_file), text)
        center, _ = load_queues(str(queues))
        parsed_flow, _ = load_flow(str(flow))
        assert campaign is not None and center is not None and parsed_flow is not None
        speaking: list[Speaks] = [parsed_flow, center, campaign]
        build_prompts(speaking, asterisk.sounds_dir)
        app = App(settings)
        assert app.load_flows().applied
        if clock is not None:
            assert app.queues is not None
            app.queues.clock = clock
            for runner in app.campaigns:
                runner.clock = clock
        app.store.import_leads(campaign.name, list(leads))
        request.node._callflow_apps.append(app)
        task = asyncio.create_task(app.run(install_signals=False))
        running.append((app, task))
        async with asyncio.timeout(15):
            await app.service.ready.wait()
        return app

    yield start
    for app, task in running:
        await app.stop()
        await task


@pytest.fixture
async def dialer_app(dialer_apps: DialerAppFactory) -> App:
    """callflow with the test campaign, its leads imported, not yet started."""
    rows = [{"number": n, "timezone": "UTC", "line": i} for i, n in enumerate(LEADS, 2)]
    return await dialer_apps(CAMPAIGN, rows)


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


async def terminated(*processes: Callflow) -> None:
    """Stop with SIGTERM those of ``processes`` still running."""
    for process in processes:
        if process.proc is not None and process.proc.returncode is None:
            process.kill(signal.SIGTERM)
            await process.wait()


def process_config(asterisk: SandboxInfo, tmp_path: Path, campaign_text: str) -> Path:
    """The settings of a `callflow run` process (its store ``store.sqlite3``) with the one
    campaign ``campaign.yaml`` (``campaign_text``), both in ``tmp_path``, the prompts built."""
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(campaign_text)
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
    return config


async def test_kill_9_while_a_lead_rings_then_the_restart_calls_it_again_as_a_new_attempt(
    asterisk: SandboxInfo, pstn: SandboxInfo, phones: PhoneFactory, tmp_path: Path
) -> None:
    """`callflow run` dials a person (connected to agent1), then a number that rings; it is
    killed with SIGKILL while that one rings. The restarted callflow hangs up the old ring,
    records attempt 1 as lost and calls the number again as attempt 2; no attempt is placed
    twice, and the window still holds the person connected before the kill."""
    config = process_config(
        asterisk,
        tmp_path,
        "name: killtest\ndial_mode: progressive\nagents: [agent1]\nmax_attempts: 3\n"
        'calling_hours: {start: "00:00", end: "23:59"}\n'
        "retry: {lost: 1s, no_answer: 1h}\nsafe_harbor: {sound: vm-goodbye}\n"
        "leads: {number: phone, default_timezone: UTC}\n",
    )
    campaign = tmp_path / "campaign.yaml"
    leads = tmp_path / "leads.csv"
    leads.write_text("phone\n+15550100103\n+15550120800\n")  # talks 3 s; rings 8 s
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
        await terminated(first, second)
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


# --- fifty leads, three agents ----------------------------------------------------------

#: The injected clock: a Monday at 14:00 UTC (10:00 in New York, 07:00 in Los Angeles,
#: 23:00 in Tokyo), advancing with real time.
DAY = dt.datetime(2026, 6, 15, 14, 0, tzinfo=dt.UTC).timestamp()
HOUR = 3600.0
CUSTOMER = "+15550200001"  # customer1's softphone on the PSTN: hears what it is played


class ShiftedClock:
    """Wall-clock seconds that start at ``at`` and advance with ``time.monotonic()``."""

    def __init__(self, at: float) -> None:
        self.offset = at - time.monotonic()

    def __call__(self) -> float:
        return self.offset + time.monotonic()


def fifty_leads() -> list[tuple[str, str, str]]:
    """(number, zone, what is expected) by CSV line. First three people who answer a second
    apart and talk 18-20 s, one for each agent; busy, congestion and invalid after 4 s of
    ringing; then customer1's softphone, who answers while every agent talks (an abandon);
    then the rest."""
    leads = [
        ("+15550100120", "UTC", "first"),  # rings 1 s, talks 20 s
        ("+15550100219", "UTC", "first"),
        ("+15550100318", "UTC", "first"),
        ("+15550130400", "UTC", "busy"),  # after 4 s: the first three have their agents
        ("+15550140400", "UTC", "congestion"),
        ("+15550150400", "UTC", "invalid"),
        (CUSTOMER, "UTC", "customer"),
    ]
    leads += [
        (f"+1555010{r:02d}{t:02d}", "UTC", "person") for r in (1, 2, 3, 4) for t in (8, 9, 10, 11)
    ]
    leads += [(f"+1555011{r:02d}{t:02d}", "UTC", "machine") for r in (1, 2) for t in (4, 5, 6, 7)]
    leads += [(f"+155501203{x:02d}", "UTC", "no_answer") for x in (1, 2, 3, 4)]
    leads += [(f"+155501301{x:02d}", "UTC", "busy") for x in (1, 2, 3, 4)]
    leads += [(f"+155501401{x:02d}", "UTC", "congestion") for x in (1, 2)]
    leads += [(f"+155501501{x:02d}", "UTC", "invalid") for x in (1, 2)]
    leads += [
        ("+15550100107", "UTC", "dnc"),  # on the list from the start
        ("+15550100305", "Asia/Tokyo", "night"),  # 23:00 there
        ("+15550100405", "America/Los_Angeles", "night"),  # 07:00 there
        ("+15550100505", "America/New_York", "person"),  # 10:00 there
        ("+15550100605", "UTC", "locked"),  # abandoned 71 h ago
        ("+15550100705", "UTC", "unlocked"),  # abandoned 73 h ago: called again
        ("+15550100207", "UTC", "dnc"),  # put on the list once the campaign runs
    ]
    return leads


async def test_fifty_leads_three_agents_people_heard_rules_held_machines_screened(
    dialer_apps: DialerAppFactory,
    phones: PhoneFactory,
    customers: PhoneFactory,
    tmp_path: Path,
) -> None:
    """A ratio-2 campaign of 50 scripted leads and three agents' softphones, on a clock set to
    a Monday 14:00 UTC: the first three people reach agent1-3 and each agent hears their own
    tone come back through the person they talk to; customer1's softphone answers once all
    three talk and hears the safe-harbor message (started within 2 s of the end of its
    greeting, no agent's tone), counted abandoned; every person given the message gets it
    within 2 s; machines are screened by AMD and get the message; busy,
    congestion, no answer and invalid are recorded; never dialed: the numbers on the
    do-not-call list (one added while the campaign runs), the leads where it is night (Tokyo,
    Los Angeles), and the lead abandoned 71 hours ago; the lead abandoned 73 hours ago is
    called again (attempt 2); each of the others is called once; the windows hold what was
    dialed."""
    leads = fifty_leads()
    assert len(leads) == 50
    expected = {number: kind for number, _, kind in leads}
    dnc = tmp_path / "dnc.txt"
    dnc.write_text("+15550100107\n")
    campaign_file = tmp_path / "fifty.yaml"
    campaign_file.write_text(
        "name: fifty\ndial_mode: ratio\nratio: 2\n"
        # Far above 3 %: behind the cap guard a ratio campaign abandons nobody in its first 50.
        "abandonment: {cap: 20, windows: [us-30d, uk-24h]}\n"
        "max_attempts: 3\n"
        "retry: {no_answer: 1h, busy: 1h, machine: 1h, abandoned: 1h, lost: 1h}\n"
        "queues: [outbound]\n"
        'safe_harbor: {say: "This was callflow calling. Call us back on 0 800 123. '
        'To opt out, press 9."}\n'
        'machine_message: {say: "Hello, this is callflow. Please call us back on 0 800 123."}\n'
        f"do_not_call: {dnc.name}\n"
        "leads: {number: phone, timezone: tz}\n"
    )
    queues = tmp_path / "queues.yaml"
    queues.write_text(
        "agents:\n"
        + "".join(
            f"  agent{i}: {{endpoint: PJSIP/agent{i}, queues: [outbound]}}\n" for i in (1, 2, 3)
        )
        + "queues:\n  outbound: {ring_timeout: 10, join_when_empty: yes}\n"
    )
    clock = ShiftedClock(DAY)
    rows = [{"number": n, "timezone": tz, "line": i} for i, (n, tz, _) in enumerate(leads, 2)]
    app = await dialer_apps(campaign_file, rows, queues=queues, clock=clock)
    # Two leads abandoned before (71 and 73 hours ago), their retry made due by hand: only
    # the UK lockout stands between the first and a call.
    for number, hours in (("+15550100605", 71), ("+15550100705", 73)):
        at = clock() - hours * HOUR
        lead = {
            "campaign": "fifty",
            "number": number,
            "attempts": 1,
            "state": "ready",
            "next_at": 0.0,
            "last_outcome": "abandoned",
            "abandoned_at": at,
        }
        row = {
            "id": f"seed{hours}",
            "campaign": "fifty",
            "number": number,
            "attempt": 1,
            "state": "ended",
            "outcome": "abandoned",
            "dialed_at": at,
            "ended_at": at + 30,
        }
        app.store.save_attempt(row, lead)
    tone = write_tone(tmp_path / "agent.wav", 120, 880)
    agents = [await phones(f"agent{i}", auto_answer=True, microphone=tone) for i in (1, 2, 3)]
    # customer1 says a short hello (AMD hears a person), then is quiet.
    hello = write_tone(tmp_path / "hello.wav", 0.6, 1000)
    with_silence = tmp_path / "customer.wav"
    _append_silence(hello, with_silence, 40.0)
    customer = await customers("customer1", microphone=with_silence)
    ring = customer.mark()
    assert app.queues is not None
    for i in (1, 2, 3):
        app.queues.login(f"agent{i}")
    app.store.set_campaign_state("fifty", "running")
    await until(lambda: bool(app.store.campaign_attempts("fifty")[2:]), timeout=30)
    dnc.write_text("+15550100107\n+15550100207  # asked during the campaign\n")
    # customer1 answers once all three agents talk: no agent is left for them.
    await customer.wait_event("CALL_INCOMING", since=ring, timeout=60)
    router = app.queues.router
    await until(
        lambda: all(router.agents[f"agent{i}"].state is AgentState.ON_CALL for i in (1, 2, 3)),
        timeout=25,
    )
    await customer.answer()

    never = {n for n, kind in expected.items() if kind in ("dnc", "night", "locked")}
    dialable = set(expected) - never

    def over() -> bool:
        rows = [r for r in app.store.campaign_attempts("fifty") if not r["id"].startswith("seed")]
        return {r["number"] for r in rows} >= dialable and all(r["state"] == "ended" for r in rows)

    await until(over, timeout=240)
    app.store.set_campaign_state("fifty", "stopped")

    attempts = [r for r in app.store.campaign_attempts("fifty") if not r["id"].startswith("seed")]
    assert Counter((a["number"], a["attempt"]) for a in attempts) == Counter(
        (n, 2 if expected[n] == "unlocked" else 1) for n in dialable
    ), attempts
    outcomes = {a["number"]: a["outcome"] for a in attempts}
    allowed = {**EXPECTED, "first": {"connected", "abandoned"}, "customer": {"abandoned"}}
    for number, outcome in outcomes.items():
        kind = "person" if expected[number] == "unlocked" else expected[number]
        assert outcome in allowed[kind], (number, kind, outcome, attempts)

    # People: the first three reached three agents, and each agent heard their own tone
    # come back through the person for most of that conversation (the later people talk
    # 8-11 s from their answer, AMD included: their connects are counted, not listened to).
    connects = app.store.events(kind="campaign.connect")
    firsts = {
        e.data["number"]: e.data["agent"] for e in connects if expected[e.data["number"]] == "first"
    }
    # (An agent's phone slow to answer on a loaded machine abandons a person: two at least.)
    assert len(set(firsts.values())) >= 2, connects
    for event in connects:
        print(
            f"{event.data['number']} to {event.data['agent']}: {event.data['after_greeting']:.3f} s"
        )
        assert event.data["after_greeting"] <= 2.0, event.data
    for phone in agents:
        if phone.user in firsts.values():
            heard = sorted(phone.recordings_dir.glob("*-dec.wav"))
            assert max(tone_seconds(p, 880) for p in heard) > 10.0, [measure(p) for p in heard]

    # Abandons: every one given the safe harbor within 2 s of the greeting's end, as
    # Asterisk timed the message's start; customer1 heard it, and no agent.
    abandoned = {n for n, o in outcomes.items() if o == "abandoned"}
    started = {
        e.data["number"]: e.data["after"]
        for e in app.store.events(kind="campaign.safe_harbor_started")
    }
    assert set(started) == abandoned, (started, abandoned)
    print("safe harbor started after the greeting:", sorted(round(s, 3) for s in started.values()))
    assert max(started.values()) <= 2.0, started
    heard = await customer.recording(timeout=15)
    assert heard is not None
    level = measure(heard)
    print(f"customer1 heard {level.voiced_seconds:.1f} s of sound of {level.seconds:.1f} s")
    assert level.voiced_seconds >= 2.0, level
    assert tone_seconds(heard, 880) < 0.5, level

    # Machines: AMD said so, and each got the message.
    machines = app.store.events(kind="campaign.machine")
    assert {e.data["number"] for e in machines} == {
        n for n, o in outcomes.items() if o == "machine"
    }
    assert sum(1 for o in outcomes.values() if o == "machine") >= 6, outcomes
    assert all(e.data["message"] for e in machines)

    figures = status_of(app.campaigns[0].campaign, app.store, clock())
    print(figures)
    windows = {w["window"]: w for w in figures["windows"]}
    connected = sum(1 for o in outcomes.values() if o == "connected")
    assert figures["contacts"] == connected
    # The 24 hours hold today's calls; the 30 days the two abandoned days ago too.
    assert (windows["uk-24h"]["live"], windows["uk-24h"]["abandoned"]) == (
        connected + len(abandoned),
        len(abandoned),
    )
    assert windows["us-30d"]["abandoned"] == len(abandoned) + 2


def _append_silence(source: Path, target: Path, seconds: float) -> None:
    """``source`` (mono 16-bit) then ``seconds`` of silence, as ``target``."""
    with wave.open(str(source), "rb") as wav:
        params, frames = wav.getparams(), wav.readframes(wav.getnframes())
    with wave.open(str(target), "wb") as out:
        out.setparams(params)
        out.writeframes(frames + b"\0\0" * int(seconds * params.framerate))


# --- blending ---------------------------------------------------------------------------

BLEND_QUEUES = HERE / "dialer_blend_queues.yaml"
BLEND_FLOW = HERE / "flows" / "dialer_blend.yaml"


async def test_a_blended_agent_takes_an_inbound_caller_before_the_next_outbound_call(
    dialer_apps: DialerAppFactory, phones: PhoneFactory, tmp_path: Path
) -> None:
    """agent1 serves the support queue and a progressive campaign held to an 80 % service
    level over a 20-second window. While agent1 talks to the first person, caller1 calls
    support and waits; when the person hangs up agent1 is rung for caller1, not for another
    lead (nothing is dialed while caller1 waits), and each hears the other. After caller1
    hangs up the dialer still leaves agent1 to the queue until the arrival is out of the
    window (the hold-back), then dials the next lead, who reaches agent1."""
    campaign_file = tmp_path / "blended.yaml"
    campaign_file.write_text(
        "name: blended\ndial_mode: progressive\nqueues: [support]\nmax_attempts: 1\n"
        'calling_hours: {start: "00:00", end: "23:59"}\n'
        "blend: {service_level: 80, window: 20s, handle_time: 2s}\n"
        "safe_harbor: {sound: vm-goodbye}\n"
    )
    # The first person talks 10 s; the next one 6 s.
    leads = [
        {"number": "+15550100110", "timezone": "UTC", "line": 2},
        {"number": "+15550100106", "timezone": "UTC", "line": 3},
    ]
    app = await dialer_apps(campaign_file, leads, queues=BLEND_QUEUES, flow=BLEND_FLOW)
    agent = await phones(
        "agent1", auto_answer=True, microphone=write_tone(tmp_path / "agent.wav", 120, 880)
    )
    caller = await phones("caller1", microphone=write_tone(tmp_path / "caller.wav", 60, 1000))
    assert app.queues is not None
    app.queues.login("agent1")
    app.store.set_campaign_state("blended", "running")
    await wait_for_events(app, "campaign.connect", timeout=30)
    mark = caller.mark()
    await caller.dial("300")
    await caller.wait_event("CALL_ESTABLISHED", since=mark, timeout=15)
    await wait_for_events(app, "queue.enter", timeout=15)
    await wait_for_events(app, "queue.connect", timeout=30)
    await asyncio.sleep(3.0)  # caller1 and agent1 talk
    await caller.hangup()
    await wait_for_events(app, "campaign.connect", count=2, timeout=60)
    await until(
        lambda: all(r["state"] == "ended" for r in app.store.campaign_attempts("blended")),
        timeout=30,
    )
    app.store.set_campaign_state("blended", "stopped")

    [joined] = app.store.events(kind="queue.enter")
    [answered] = app.store.events(kind="queue.connect")
    assert answered.data["agent"] == "agent1"
    first, second = app.store.events(kind="campaign.connect")
    assert (first.data["agent"], second.data["agent"]) == ("agent1", "agent1")
    dialed = {
        e.data["number"]: e.at
        for e in app.store.events(kind="campaign.attempt")
        if e.data.get("state") == "dialing"
    }
    print(
        f"caller1 joined {joined.at:%S.%f}, answered {answered.at:%S.%f}; "
        f"next lead dialed {dialed['+15550100106']:%S.%f}"
    )
    assert first.data["number"] == "+15550100110" and first.at < joined.at
    # Inbound first: agent1's next call after the first person was caller1 ...
    assert answered.at < dialed["+15550100106"]
    # ... and the hold-back kept agent1 for the queue until the arrival left the window.
    assert (dialed["+15550100106"] - joined.at).total_seconds() >= 19.0
    heard_by_caller = await caller.recording()
    assert heard_by_caller is not None and tone_seconds(heard_by_caller, 880) > 1.5
    outcomes = [(r["number"], r["outcome"]) for r in app.store.campaign_attempts("blended")]
    assert outcomes == [("+15550100110", "connected"), ("+15550100106", "connected")]
    heard_by_agent = sorted(agent.recordings_dir.glob("*-dec.wav"))
    assert max(tone_seconds(p, 1000) for p in heard_by_agent) > 1.5, heard_by_agent
