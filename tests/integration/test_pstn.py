"""The sandbox PSTN on real calls: callflow's Asterisk dials out over the trunk ``pstn`` and
each scripted number does what its digits (or the numbers table) say; a customer's softphone
on the PSTN and a phone on callflow's side hear each other; a customer calls in."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callflow.ari import ChannelDestroyed, ChannelStateChange, StasisEnd, StasisStart
from callflow.bench.connect import Observer
from callflow.call.outbound import OutboundSettings, originate_endpoint
from callflow.cli import main
from callflow.sandbox import Sandbox, SandboxInfo
from callflow.sandbox.instance import rx
from callflow.testing.audio import measure, tone_seconds, wav_closed, write_tone
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events
from tests.integration.test_recovery import until

pytestmark = pytest.mark.asterisk

TEST_APP = "pstn-test"
OUTBOUND = OutboundSettings(caller_id="+15550100999", ring_timeout=25)
SLACK = 0.6  # seconds: SIP on loopback and Asterisk's scheduling, either way


@pytest.fixture
async def observer(asterisk: SandboxInfo, pstn: SandboxInfo) -> AsyncIterator[Observer]:
    """An ARI connection to callflow's Asterisk that originates and records every event."""
    async with Observer(asterisk, TEST_APP, subscribe_all=False) as seen:
        yield seen


@dataclass(frozen=True)
class Outcome:
    """One outbound call as Asterisk reported it, times in seconds from its creation."""

    answered: float | None
    ended: float
    cause: int


async def call(
    observer: Observer,
    number: str,
    *,
    ring_timeout: int = OUTBOUND.ring_timeout,
    hang_up_after: float | None = None,
) -> Outcome:
    """Dial ``number`` through the trunk as the outbound settings say and wait for its end
    (hanging up ``hang_up_after`` seconds after answer, if the far end has not)."""
    channel = await observer.ari.channels.originate(
        originate_endpoint(number, OUTBOUND),
        app=TEST_APP,
        caller_id=OUTBOUND.caller_id,
        ring_timeout=ring_timeout,
    )

    def mine(kind: type) -> list[object]:
        return [e for e in observer.events if isinstance(e, kind) and e.channel.id == channel.id]

    if hang_up_after is not None:
        await observer.wait_for(lambda: bool(mine(StasisStart) or mine(ChannelDestroyed)), 40)
        if not mine(ChannelDestroyed):
            await asyncio.sleep(hang_up_after)
            if not mine(ChannelDestroyed):
                await observer.ari.channels.hangup(channel.id)
    await observer.wait_for(lambda: bool(mine(ChannelDestroyed)), 40)
    created = channel.creationtime
    [end] = mine(ChannelDestroyed)
    ups = [e for e in mine(ChannelStateChange) if e.channel.state == "Up"]
    assert isinstance(end, ChannelDestroyed) and end.timestamp and created
    answered = ups[0].timestamp if ups else None
    return Outcome(
        answered=(answered - created).total_seconds() if answered else None,
        ended=(end.timestamp - created).total_seconds(),
        cause=end.cause,
    )


async def talk(observer: Observer, outside: str, inside: str, seconds: float) -> None:
    """Once both channels are in the app, bridge them for ``seconds``, then hang up both."""

    def started(channel_id: str) -> bool:
        return any(
            isinstance(e, StasisStart) and e.channel.id == channel_id for e in observer.events
        )

    await observer.wait_for(lambda: started(outside) and started(inside), 15)
    bridge = await observer.ari.bridges.create("mixing")
    await observer.ari.bridges.add_channel(bridge.id, [outside, inside])
    await asyncio.sleep(seconds)
    for channel_id in (outside, inside):
        await observer.ari.channels.hangup(channel_id)
    await observer.ari.bridges.destroy(bridge.id)


async def test_a_person_answers_after_the_seconds_its_number_says(observer: Observer) -> None:
    """+1 555 010 02 00 rings 2 s, then a person answers and stays until we hang up."""
    outcome = await call(observer, "+15550100200", hang_up_after=1.5)
    assert outcome.answered is not None
    assert 2 - SLACK / 2 <= outcome.answered <= 2 + SLACK, outcome
    assert outcome.ended == pytest.approx(outcome.answered + 1.5, abs=SLACK), outcome


async def test_a_person_hangs_up_after_talking_the_seconds_its_number_says(
    observer: Observer,
) -> None:
    """+1 555 010 01 02 answers after 1 s and hangs up 2 s later, with normal clearing."""
    outcome = await call(observer, "+15550100102")
    assert outcome.answered == pytest.approx(1, abs=SLACK), outcome
    assert outcome.answered is not None
    assert outcome.ended - outcome.answered == pytest.approx(2, abs=SLACK), outcome
    assert outcome.cause == 16


@pytest.mark.parametrize(
    ("number", "cause", "after"),
    [
        ("+15550130000", 17, 0),  # busy
        ("+15550130100", 17, 1),  # busy after 1 s of ringing
        ("+15550140000", 34, 0),  # congestion
        ("+15550140100", 34, 1),
        ("+15550150000", 1, 0),  # unallocated
        ("+15550150100", 1, 1),
        ("+4420794600", 1, 0),  # any number outside the scripted range
        ("+442079460000", 17, 3),  # the table says: busy after 3 s, whatever the digits say
    ],
)
async def test_a_failing_number_ends_with_its_cause_unanswered(
    observer: Observer, number: str, cause: int, after: int
) -> None:
    """Busy is cause 17, congestion 34, an invalid number 1, each after its ringing."""
    outcome = await call(observer, number)
    assert outcome.answered is None
    assert outcome.cause == cause, outcome
    assert after - SLACK / 2 <= outcome.ended <= after + SLACK, outcome


async def test_no_answer_rings_until_the_ring_timeout(observer: Observer) -> None:
    """+1 555 012 00 00 rings for ever: the originator's ring timeout ends it (cause 19)."""
    outcome = await call(observer, "+15550120000", ring_timeout=3)
    assert outcome.answered is None
    assert outcome.ended == pytest.approx(3, abs=SLACK), outcome
    assert outcome.cause == 19


async def test_no_answer_can_be_the_networks_own_timeout(observer: Observer) -> None:
    """+1 555 012 02 00: the network gives up first, after 2 s, as no answer (cause 19)."""
    outcome = await call(observer, "+15550120200")
    assert outcome.answered is None
    assert outcome.ended == pytest.approx(2, abs=SLACK), outcome
    assert outcome.cause == 19


async def _amd(asterisk: SandboxInfo, number: str) -> tuple[Observer, str, tuple[str, ...]]:
    """Originate through callflow's dialplan context ``callflow-amd``: AMD() then Stasis
    with ``outbound,AMDSTATUS,AMDCAUSE``, as the dialer will. The observer takes callflow's
    app name (no callflow runs in these tests)."""
    seen = Observer(asterisk, asterisk.app, subscribe_all=False)
    await seen.__aenter__()
    channel = await seen.ari.channels.originate(
        originate_endpoint(number, OUTBOUND),
        context="callflow-amd",
        extension="s",
        priority=1,
        caller_id=OUTBOUND.caller_id,
        ring_timeout=OUTBOUND.ring_timeout,
    )

    def start() -> list[StasisStart]:
        return [e for e in seen.events if isinstance(e, StasisStart) and e.channel.id == channel.id]

    await seen.wait_for(lambda: bool(start()), 20)
    return seen, channel.id, start()[0].args


async def test_amd_in_the_dialplan_tells_a_person_from_a_machine(
    asterisk: SandboxInfo, pstn: SandboxInfo
) -> None:
    """A person's short hello is HUMAN; a machine's long greeting is MACHINE."""
    for number, status in (("+15550100100", "HUMAN"), ("+15550110100", "MACHINE")):
        seen, channel, args = await _amd(asterisk, number)
        try:
            assert args[:2] == ("outbound", status), (number, args)
            await seen.ari.channels.hangup(channel)
        finally:
            await seen.__aexit__()


async def test_a_machine_records_the_message_left_after_its_beep(
    asterisk: SandboxInfo, pstn: SandboxInfo
) -> None:
    """+1 555 011 00 03: after the greeting and the beep the machine records 3 s of what it
    hears into the PSTN's spool, then hangs up."""
    recordings = Path(pstn.home) / "state" / "spool" / "recording"
    before = set(recordings.glob("machine-*.wav"))
    seen, channel, args = await _amd(asterisk, "+15550110003")
    try:
        assert args[1] == "MACHINE"
        # Speech without a gap from now until after the machine stops recording.
        await seen.ari.channels.play(channel, ["sound:vm-intro"] * 4)
        # The machine hangs up: the channel leaves the app (in Stasis since AMD, it is the
        # app's only while there, so StasisEnd, not ChannelDestroyed, is what it sees).
        await seen.wait_for(
            lambda: any(isinstance(e, StasisEnd) and e.channel.id == channel for e in seen.events),
            25,
        )
    finally:
        await seen.__aexit__()
    [message] = set(recordings.glob("machine-*.wav")) - before
    await until(lambda: wav_closed(message), timeout=10)  # the machine's hang-up closes it
    assert message.name.startswith("machine-+15550100999-")
    heard = measure(message)
    assert 2.5 <= heard.seconds <= 4, heard
    assert heard.voiced_seconds > 1.5, heard


async def test_a_customers_softphone_and_a_phone_on_callflows_side_hear_each_other(
    observer: Observer, phones: PhoneFactory, customers: PhoneFactory, tmp_path: Path
) -> None:
    """callflow's Asterisk dials a customer's number over the trunk; the customer's baresip
    rings with our caller ID and answers; bridged with agent1's phone, each hears the other's
    tone (440 Hz from the customer, 880 Hz from the agent)."""
    customer = await customers("customer1", microphone=write_tone(tmp_path / "c.wav", 60, 440))
    agent = await phones(
        "agent1", auto_answer=True, microphone=write_tone(tmp_path / "a.wav", 60, 880)
    )
    ring = customer.mark()
    outside = await observer.ari.channels.originate(
        originate_endpoint("+15550200001", OUTBOUND),
        app=TEST_APP,
        caller_id=OUTBOUND.caller_id,
        ring_timeout=OUTBOUND.ring_timeout,
    )
    incoming = await customer.wait_event("CALL_INCOMING", since=ring)
    assert "+15550100999" in str(incoming.get("peeruri")), incoming
    await customer.answer()
    inside = await observer.ari.channels.originate("PJSIP/agent1", app=TEST_APP)
    await talk(observer, outside.id, inside.id, 4)

    heard_by_customer = await customer.recording()
    heard_by_agent = await agent.recording()
    assert heard_by_customer is not None and heard_by_agent is not None
    assert tone_seconds(heard_by_customer, 880) > 2.5, measure(heard_by_customer)
    assert tone_seconds(heard_by_agent, 440) > 2.5, measure(heard_by_agent)


async def test_a_person_echoes_what_it_hears_over_the_trunk(
    observer: Observer, phones: PhoneFactory, tmp_path: Path
) -> None:
    """A scripted person says hello then sends back what it hears: agent1's 880 Hz tone goes
    out over the trunk and comes back."""
    agent = await phones(
        "agent1", auto_answer=True, microphone=write_tone(tmp_path / "a.wav", 60, 880)
    )
    outside = await observer.ari.channels.originate(
        originate_endpoint("+15550100000", OUTBOUND), app=TEST_APP, caller_id=OUTBOUND.caller_id
    )
    inside = await observer.ari.channels.originate("PJSIP/agent1", app=TEST_APP)
    await talk(observer, outside.id, inside.id, 5)
    heard = await agent.recording()
    assert heard is not None
    assert tone_seconds(heard, 880) > 2.0, measure(heard)


async def test_a_customer_calls_the_contact_center_through_the_pstn(
    asterisk: SandboxInfo, pstn: SandboxInfo, start_app: AppFactory, customers: PhoneFactory
) -> None:
    """customer1 dials 700 on the PSTN; the call crosses the trunk into callflow-inbound
    with the customer's E.164 number as caller ID, and the flow reads the keys back."""
    app = await start_app()
    customer = await customers("customer1")
    mark = customer.mark()
    await customer.dial("700")
    await customer.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "call.playback")
    await customer.send_dtmf("42#")
    await customer.wait_event("CALL_CLOSED", since=mark, timeout=30)
    [start] = app.store.events(kind="call.start")
    assert start.data["caller"] == "+15550200001"
    assert start.data["dialled"] == "700"
    digits = [e.data["digit"] for e in app.store.events(call_id=start.call_id, kind="call.dtmf")]
    assert digits == ["4", "2", "#"]


def test_sandbox_up_pstn_starts_both_and_down_stops_both(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`callflow sandbox up --pstn` starts callflow's Asterisk and <name>-pstn joined by the
    trunk, each with its state file; `status` shows both; `down` stops both."""
    name = f"pstn-cli-{os.getpid()}"
    assert main(["sandbox", "up", "--name", name, "--pstn", "--json"]) == 0
    try:
        started = json.loads(capsys.readouterr().out)
        assert started["pstn"]["name"] == f"{name}-pstn"
        info, pstn_info = Sandbox.load(name), Sandbox.load(f"{name}-pstn")
        assert info is not None and pstn_info is not None
        assert f"Match: 127.0.0.1:{pstn_info.sip_port}/32" in rx(info, "pjsip show identifies")
        assert main(["sandbox", "status", "--name", name]) == 0
        assert "customer user me password pstn number +15550209999" in capsys.readouterr().out
    finally:
        assert main(["sandbox", "down", "--name", name]) == 0
    said = capsys.readouterr().out
    assert f"PSTN {name}-pstn stopped" in said and f"sandbox {name} stopped" in said
    assert Sandbox.load(name) is None and Sandbox.load(f"{name}-pstn") is None
