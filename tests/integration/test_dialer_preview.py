"""Preview dialing on real calls: a preview campaign of three leads and agent1's softphone,
the PSTN sandbox and customer1's softphone on it. The first lead is shown to agent1 and
nothing is dialed (the PSTN sees no call); the agent's screen (``GET
/api/agents/agent1/lead``) shows the lead's CSV fields; a skip shows the next lead,
customer1; an accept dials it, customer1 answers, and agent1 and customer1 hear each other;
the third lead, left alone, is dialed when the presentation times out (``on_timeout:
dial``) and reaches agent1. And ``callflow run`` killed with SIGKILL while a lead is shown:
the restart shows it again, dials nothing until the accept, and dials it once."""

from __future__ import annotations

import asyncio
import signal
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callflow.api.settings import ApiSettings
from callflow.cli import main
from callflow.dialer import preview as pv
from callflow.dialer.campaign import LeadColumns, parse_leads
from callflow.queue.agents import AgentState
from callflow.sandbox import SandboxInfo
from callflow.store import SqliteStore
from callflow.testing.audio import measure, tone_seconds, write_tone
from tests.integration.conftest import PhoneFactory, ari_get, wait_for_events
from tests.integration.test_dialer import (
    CUSTOMER,
    DialerAppFactory,
    dialer_apps,
    process_config,
    terminated,
)
from tests.integration.test_recovery import Callflow, agents_cli, until

pytestmark = pytest.mark.asterisk
__all__ = ["dialer_apps"]  # the fixture, shared with test_dialer

TOKEN = "preview-test-token-0123456789"
TIMEOUT = 12  # seconds a lead is shown before on_timeout: dial dials it
SKIPPED_LEAD = "+15550100110"  # a scripted person: never called (skipped)
TIMED_OUT_LEAD = "+15550100106"  # a scripted person: rings 1 s, talks 6 s, echoes
LEADS_CSV = (
    "phone,name,plan\n"
    f"{SKIPPED_LEAD},Ann Skipped,gold\n"
    f"{CUSTOMER},Bo Customer,silver\n"
    f"{TIMED_OUT_LEAD},Cy Timeout,bronze\n"
)


def _join(target: Path, parts: Sequence[Path | float]) -> Path:
    """Mono 16-bit WAV files and seconds of silence, one after the other, as ``target``."""
    frames, params = b"", None
    for part in parts:
        if isinstance(part, Path):
            with wave.open(str(part), "rb") as wav:
                params = wav.getparams()
                frames += wav.readframes(wav.getnframes())
        else:
            assert params is not None, "a sound first"
            frames += b"\0\0" * int(part * params.framerate)
    assert params is not None
    with wave.open(str(target), "wb") as out:
        out.setparams(params)
        out.writeframes(frames)
    return target


async def test_preview_shows_before_dialing_skip_accept_and_timeout_on_real_calls(
    dialer_apps: DialerAppFactory,
    phones: PhoneFactory,
    customers: PhoneFactory,
    asterisk: SandboxInfo,
    pstn: SandboxInfo,
    tmp_path: Path,
) -> None:
    campaign_file = tmp_path / "preview.yaml"
    campaign_file.write_text(
        "name: preview\ndial_mode: preview\nagents: [agent1]\nmax_attempts: 2\n"
        'calling_hours: {start: "00:00", end: "23:59"}\n'
        f"preview: {{timeout: {TIMEOUT}s, on_timeout: dial}}\n"
        "retry: {skipped: 1h, no_answer: 1h, busy: 1h, machine: 1h, lost: 1h}\n"
        "safe_harbor: {sound: vm-goodbye}\n"
        "leads: {number: phone, default_timezone: America/New_York, fields: [name, plan]}\n"
    )
    columns = LeadColumns("phone", None, "America/New_York", ("name", "plan"))
    leads, diagnostics = parse_leads("leads.csv", LEADS_CSV, columns)
    assert diagnostics == []
    rows = [
        {"number": x.number, "timezone": x.timezone, "fields": dict(x.fields), "line": x.line}
        for x in leads
    ]
    api = ApiSettings(port=0, token=TOKEN)
    app = await dialer_apps(campaign_file, rows, api=api)
    assert app.api is not None and app.queues is not None
    base = f"http://127.0.0.1:{app.api.port}/api/agents/agent1"
    agent = await phones(
        "agent1", auto_answer=True, microphone=write_tone(tmp_path / "agent.wav", 120, 880)
    )
    # customer1 says a short hello (AMD hears a person), waits, then sends a 1000 Hz tone.
    hello = write_tone(tmp_path / "hello.wav", 0.6, 1000)
    tone = write_tone(tmp_path / "tone.wav", 40, 1000)
    customer = await customers(
        "customer1", microphone=_join(tmp_path / "customer.wav", [hello, 2.5, tone])
    )
    ring = customer.mark()
    app.queues.login("agent1")
    app.store.set_campaign_state("preview", "running")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def screen() -> tuple[int, dict[str, Any]]:
            async with http.get(base + "/lead") as response:
                return response.status, await response.json()

        async def answer(action: str) -> dict[str, Any]:
            async with http.post(f"{base}/preview/{action}") as response:
                assert response.status == 202, await response.text()
                answered: dict[str, Any] = await response.json()
                return answered

        async def shown(number: str) -> dict[str, Any]:
            """Wait until the agent's screen shows ``number``, presented."""
            async with asyncio.timeout(30):
                while True:
                    status, body = await screen()
                    lead = body.get("lead") or {}
                    if status == 200 and (lead["state"], lead["number"]) == ("presented", number):
                        return dict(lead)
                    await asyncio.sleep(0.2)

        # 1. The first lead is shown; nothing is dialed while agent1 does not answer.
        first = await shown(SKIPPED_LEAD)
        print("agent1's screen:", first)
        assert (first["fields"], first["timezone"], first["attempt"]) == (
            {"name": "Ann Skipped", "plan": "gold"},
            "America/New_York",
            1,
        )
        assert first["on_timeout"] == "dial" and first["deadline"] is not None
        assert app.queues.router.agents["agent1"].state is AgentState.RINGING  # reserved
        await asyncio.sleep(3.0)  # a while shown: nothing reaches the PSTN
        assert ari_get(pstn, "channels") == []
        assert app.store.campaign_attempts("preview") == []

        # 2. Skip: the next lead, customer1, is shown; still nothing dialed.
        await answer("skip")
        second = await shown(CUSTOMER)
        assert second["fields"] == {"name": "Bo Customer", "plan": "silver"}
        assert ari_get(pstn, "channels") == []
        assert not [e for e in customer.events[ring:] if e.get("type") == "CALL_INCOMING"]

        # 3. Accept: customer1 is dialed for agent1, answers, and they are bridged.
        await answer("accept")
        await customer.wait_event("CALL_INCOMING", since=ring, timeout=30)
        await customer.answer()
        await wait_for_events(app, "campaign.connect", timeout=30)
        status, talking = await screen()
        assert status == 200 and talking["lead"]["state"] == "connected", talking
        assert talking["lead"]["fields"] == {"name": "Bo Customer", "plan": "silver"}
        await asyncio.sleep(6.0)  # they talk
        await customer.hangup()

        # 4. The third lead is shown and left alone: dialed on the timeout, reaches agent1.
        third = await shown(TIMED_OUT_LEAD)
        assert third["fields"] == {"name": "Cy Timeout", "plan": "bronze"}
        await wait_for_events(app, "campaign.connect", count=2, timeout=TIMEOUT + 40)
    await until(
        lambda: [r["state"] for r in app.store.campaign_attempts("preview")] == ["ended"] * 2,
        timeout=40,
    )
    app.store.set_campaign_state("preview", "stopped")

    attempts = [
        (r["number"], r["attempt"], r["outcome"]) for r in app.store.campaign_attempts("preview")
    ]
    assert attempts == [(CUSTOMER, 1, "connected"), (TIMED_OUT_LEAD, 1, "connected")], attempts
    kept = {lead["number"]: lead for lead in app.store.campaign_leads("preview")}
    assert (kept[SKIPPED_LEAD]["state"], kept[SKIPPED_LEAD]["attempts"]) == ("ready", 0)
    presented = [e.data["number"] for e in app.store.events(kind=pv.PRESENTED)]
    assert presented[:3] == [SKIPPED_LEAD, CUSTOMER, TIMED_OUT_LEAD], presented
    verdicts = [
        (e.kind, e.data["number"], e.data["dial"])
        for e in app.store.events()
        if e.kind in pv.VERDICTS
    ]
    assert verdicts == [
        (pv.SKIPPED, SKIPPED_LEAD, False),
        (pv.ACCEPTED, CUSTOMER, True),
        (pv.TIMEOUT, TIMED_OUT_LEAD, True),
    ], verdicts
    [timed_out] = app.store.events(kind=pv.TIMEOUT)
    print(f"the third lead was dialed {timed_out.data['shown_for']:.1f} s after it was shown")
    assert timed_out.data["shown_for"] >= TIMEOUT
    connects = app.store.events(kind="campaign.connect")
    assert [(e.data["number"], e.data["agent"]) for e in connects] == [
        (CUSTOMER, "agent1"),
        (TIMED_OUT_LEAD, "agent1"),
    ]
    # agent1 was on the line, hearing ringback, before each lead was dialed: bridged at the
    # verdict (AMD's after-greeting silence is most of the 2 s).
    for event in connects:
        print(f"{event.data['number']}: bridged {event.data['after_greeting']:.3f} s after")
        assert event.data["after_greeting"] <= 2.0, event.data
    assert not app.store.events(kind="campaign.safe_harbor")
    # agent1 and customer1 heard each other: customer1 agent1's 880 Hz, agent1 the 1000 Hz.
    heard = await customer.recording(timeout=15)
    assert heard is not None
    print(f"customer1 heard 880 Hz for {tone_seconds(heard, 880):.1f} s")
    assert tone_seconds(heard, 880) > 1.5, measure(heard)
    heard_by_agent = sorted(agent.recordings_dir.glob("*-dec.wav"))
    by_agent = max(tone_seconds(p, 1000) for p in heard_by_agent)
    print(f"agent1 heard 1000 Hz for {by_agent:.1f} s")
    assert by_agent > 1.5, [measure(p) for p in heard_by_agent]
    # Nothing left in Asterisk: the customers' channels and the agent's phone are gone.
    await until(
        lambda: not [c for c in ari_get(asterisk, "channels") if "-dl-" in c["id"]], timeout=10
    )


async def test_kill_9_while_a_lead_is_shown_then_it_is_shown_again_and_dialed_once(
    asterisk: SandboxInfo, pstn: SandboxInfo, phones: PhoneFactory, tmp_path: Path
) -> None:
    """`callflow run` shows agent1 a lead and is killed with SIGKILL. The restarted callflow
    withdraws that presentation and shows the same lead to agent1 again; nothing was or is
    dialed (the PSTN sees no call) until the accept (``callflow campaigns preview agent1
    --accept``); then the lead is dialed once, as attempt 1, and reaches agent1."""
    config = process_config(
        asterisk,
        tmp_path,
        "name: killpreview\ndial_mode: preview\nagents: [agent1]\n"
        'calling_hours: {start: "00:00", end: "23:59"}\nsafe_harbor: {sound: vm-goodbye}\n'
        "leads: {number: phone, default_timezone: UTC, fields: [name]}\n",
    )
    leads = tmp_path / "leads.csv"
    leads.write_text("phone,name\n+15550100103,Ann\n")  # talks 3 s
    at = ["--config", str(config)]
    assert main(["campaigns", "import", "killpreview", str(leads), *at]) == 0
    assert main(["campaigns", "start", "killpreview", *at]) == 0
    await phones("agent1", auto_answer=True)
    store = SqliteStore(tmp_path / "store.sqlite3")
    log = tmp_path / "callflow.log"
    first, second = Callflow(config, log), Callflow(config, log)

    def presented() -> list[tuple[str, str, bool]]:
        return [
            (e.call_id, e.data["number"], bool(e.data.get("again")))
            for e in store.events(kind=pv.PRESENTED)
        ]

    try:
        await first.start()
        await first.wait_for_log("connected to Asterisk")
        assert await agents_cli(config, "login", "agent1") == 0
        await until(lambda: bool(presented()), timeout=30)
        first.kill(signal.SIGKILL)
        await first.wait()
        assert ari_get(pstn, "channels") == [] and store.campaign_attempts("killpreview") == []
        offset = len(log.read_text(errors="replace"))
        await second.start()
        await second.wait_for_log("connected to Asterisk", after=offset)
        await until(lambda: len(presented()) == 2, timeout=30)
        (old, number, _), (new, again, shown_again) = presented()
        assert (number, again, shown_again) == ("+15550100103", "+15550100103", True)
        [withdrawn] = store.events(kind=pv.WITHDRAWN)
        assert (withdrawn.call_id, withdrawn.data["reason"]) == (old, "restart")
        await asyncio.sleep(2.0)  # shown again: still nothing dialed
        assert ari_get(pstn, "channels") == [] and store.campaign_attempts("killpreview") == []
        accept = ["campaigns", "preview", "agent1", "--accept", "--wait", "15", *at]
        assert await asyncio.to_thread(main, accept) == 0
        await until(
            lambda: [r["state"] for r in store.campaign_attempts("killpreview")] == ["ended"],
            timeout=60,
        )
    finally:
        await terminated(first, second)
    attempts = [
        (r["id"], r["number"], r["attempt"], r["outcome"])
        for r in store.campaign_attempts("killpreview")
    ]
    assert attempts == [(new, "+15550100103", 1, "connected")], attempts
    [connect] = store.events(kind="campaign.connect")
    assert (connect.data["agent"], connect.data["fields"]) == ("agent1", {"name": "Ann"})
    store.close()
