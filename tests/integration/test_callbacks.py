"""Callbacks on real calls, through the sandbox PSTN: a customer calls in from the public
network, presses 1 in the queue, confirms their number and hangs up; when an agent is free,
callflow calls them back over the trunk (agent-first: the agent hears a whisper first;
customer-first: the customer waits in line with their original place)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import signal
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from callflow.app.main import App
from callflow.call.outbound import OutboundSettings
from callflow.cli import main
from callflow.flow.loader import load_flow
from callflow.flow.model import Say
from callflow.flow.prompts import media_for
from callflow.prompts import build_prompts
from callflow.queue.config import load_queues
from callflow.queue.model import callback_returning
from callflow.sandbox import SandboxInfo
from callflow.store import SqliteStore
from callflow.testing.audio import measure, tone_seconds, wav_closed, write_tone
from callflow.testing.softphone import Softphone
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events
from tests.integration.test_recovery import Callflow, agents_cli, until

pytestmark = pytest.mark.asterisk

HERE = Path(__file__).parent
FLOW = HERE / "flows" / "callbacks.yaml"
QUEUES = HERE / "callback_queues.yaml"
CUSTOMER = "+15550200001"  # customer1's number on the PSTN


def person(path: Path, freq: float = 1000.0) -> Path:
    """A called-back customer's microphone that answers as a person does: a short "hello"
    (0.6 s of tone), quiet (AMD hears a person), then ``freq`` for a minute, to be heard."""
    hello = write_tone(path.with_suffix(".hello.wav"), 0.6, freq)
    tone = write_tone(path.with_suffix(".tone.wav"), 60, freq)
    with wave.open(str(hello)) as a, wave.open(str(tone)) as b, wave.open(str(path), "wb") as out:
        out.setparams(a.getparams())
        quiet = b"\0\0" * a.getframerate()
        out.writeframes(quiet[: len(quiet) * 2 // 5] + a.readframes(a.getnframes()) + quiet * 2)
        out.writeframes(b.readframes(b.getnframes()))
    return path


async def callback_app(start_app: AppFactory) -> App:
    app = await start_app([FLOW], queues=QUEUES)
    assert app.callbacks is not None
    return app


async def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    """Poll app state (the store, the book) until ``predicate()`` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def ask_for_callback(app: App, customer: Softphone, number: str = "310") -> str:
    """The customer calls in, waits in the queue, presses 1, confirms their caller ID with 1
    and is told goodbye; returns the callback's id."""
    mark = customer.mark()
    await customer.dial(number)
    await customer.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "queue.enter")
    await customer.send_dtmf("1")
    # The confirmation prompt has started (a key stops it, and counts).
    await wait_for_events(app, "call.playback.started", call_id=call_id(app))
    await customer.send_dtmf("1")
    await customer.wait_event("CALL_CLOSED", since=mark, timeout=30)
    await wait_for_events(app, "callback.requested")
    [requested] = app.store.events(kind="callback.requested")
    return str(requested.data["callback"])


def call_id(app: App) -> str:
    """The id of the last call that came in."""
    return app.store.events(kind="call.start")[-1].call_id


def states(store: SqliteStore, callback_id: str) -> list[str]:
    """Each transition of a callback, in order, from the event log."""
    return [
        e.kind.removeprefix("callback.")
        for e in store.events()
        if e.kind.startswith("callback.") and e.data.get("callback") == callback_id
    ]


async def test_agent_first_callback_whisper_then_the_customer_rings_and_both_talk(
    asterisk: SandboxInfo,
    pstn: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    customers: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """customer1 calls in from the PSTN, presses 1 in the queue and confirms their caller ID
    with 1; they hang up with their callback booked at their own number. agent1 logs in: their
    phone rings, they hear the whisper (queue, number, wait), then callflow dials customer1
    over the trunk; customer1 answers and each hears the other (1000 Hz from the customer,
    880 Hz from the agent); the callback is completed, once."""
    app = await callback_app(start_app)
    customer = await customers("customer1", microphone=person(tmp_path / "customer.wav"))
    callback_id = await ask_for_callback(app, customer)
    row = app.store.load_callback(callback_id)
    assert row is not None and row["number"] == CUSTOMER and row["state"] == "waiting", row

    agent = await phones(
        "agent1", auto_answer=True, microphone=write_tone(tmp_path / "agent.wav", 60, 880)
    )
    ring = customer.mark()
    assert app.queues is not None
    app.queues.login("agent1")
    app.queues.kick()
    await wait_for_events(app, "callback.whisper", timeout=30)
    incoming = await customer.wait_event("CALL_INCOMING", since=ring, timeout=30)
    assert "sip:" in str(incoming.get("peeruri")), incoming
    await customer.answer()
    await wait_for_events(app, "callback.connected", timeout=15)
    await asyncio.sleep(4.0)
    await customer.hangup()
    await wait_for_events(app, "callback.completed", timeout=15)

    heard_by_customer = await customer.recording()
    heard_by_agent = await agent.recording()
    assert heard_by_customer is not None and heard_by_agent is not None
    assert tone_seconds(heard_by_customer, 880) > 2.5, measure(heard_by_customer)
    assert tone_seconds(heard_by_agent, 1000) > 2.5, measure(heard_by_agent)
    assert states(app.store, callback_id) == [
        "requested",
        "waiting",
        "reserved",
        "whisper",
        "dialing",
        "amd",
        "attempt",
        "connected",
        "completed",
    ], states(app.store, callback_id)
    [amd] = app.store.events(kind="callback.amd")
    assert amd.data["status"] == "HUMAN", amd.data  # the customer said hello, then listened
    [whisper] = app.store.events(kind="callback.whisper")
    assert whisper.data["agent"] == "agent1"
    assert "digits:15550200001" in whisper.data["media"]
    final = app.store.load_callback(callback_id)
    assert final is not None and final["state"] == "completed" and final["attempts"] == 1


async def collecting(app: App, count: int) -> None:
    """Wait until the flow asks for keys the ``count``-th time on the last call."""

    def asked() -> int:
        waits = app.store.events(kind="flow.wait", call_id=call_id(app))
        return sum(1 for e in waits if e.data["action"] == "Collect")

    await wait_until(lambda: asked() >= count)
    await asyncio.sleep(0.5)


async def test_another_number_keyed_in_and_hostile_numbers_refused_with_a_prompt(
    asterisk: SandboxInfo,
    pstn: SandboxInfo,
    start_app: AppFactory,
    customers: PhoneFactory,
    no_leaks: None,
) -> None:
    """customer1 presses 1 in the queue, then 2 for another number; 911 (emergency) and
    1 900 555 1234 with a * (not a plain number) are refused, each with the prompt and
    another try; 555 020 0002 is booked as +15550200002, and nothing was dialled."""
    app = await callback_app(start_app)
    customer = await customers("customer1")
    mark = customer.mark()
    await customer.dial("310")
    await customer.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "queue.enter")
    await customer.send_dtmf("1")
    await collecting(app, 1)
    await customer.send_dtmf("2")
    await collecting(app, 2)
    await customer.send_dtmf("911#")
    await collecting(app, 3)
    await customer.send_dtmf("1900*5551234#")
    await collecting(app, 4)
    await customer.send_dtmf("5550200002#")
    await customer.wait_event("CALL_CLOSED", since=mark, timeout=30)
    await wait_for_events(app, "callback.requested")
    refused = [e.data["reason"] for e in app.store.events(kind="callback.refused")]
    assert refused == ["emergency", "bad_character"], refused
    [requested] = app.store.events(kind="callback.requested")
    assert requested.data["number"] == "+15550200002"
    steps = [e.data["outcome"] for e in app.store.events(call_id=call_id(app), kind="flow.step")]
    assert "refused:emergency" in steps and "refused:bad_character" in steps, steps
    assert steps[-1] == "callback booked", steps
    # Each refusal was told: the invalid prompt played before the number was asked again.
    [sorry] = media_for([Say("Sorry, we cannot call that number.")], "en-us", lambda _: None)
    played = [e.data["media"] for e in app.store.events(kind="call.playback.started")]
    assert played.count(sorry) == 2, played
    assert app.callbacks is not None
    assert app.callbacks.book.get(str(requested.data["callback"])) is not None
    assert not app.store.events(kind="callback.dialing")


async def test_no_answer_then_busy_then_answered_on_the_third_attempt(
    asterisk: SandboxInfo,
    pstn: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    customers: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """The first call back rings out unanswered (4 s ring timeout), the second is rejected
    (busy), both retried after the queue's 2 s delay with the agent freed at once; the third
    is answered and connected: three attempts, one conversation, completed."""
    app = await callback_app(start_app)
    assert app.callbacks is not None and app.queues is not None
    app.callbacks.outbound = OutboundSettings(ring_timeout=4)
    customer = await customers("customer1", microphone=person(tmp_path / "customer.wav"))
    callback_id = await ask_for_callback(app, customer)
    await phones("agent1", auto_answer=True)
    ring = customer.mark()
    app.queues.login("agent1")
    app.queues.kick()
    await customer.wait_event("CALL_INCOMING", since=ring, timeout=30)
    await wait_for_events(app, "callback.retry-wait", timeout=20)  # rang out
    ring = customer.mark()
    await customer.wait_event("CALL_INCOMING", since=ring, timeout=30)
    await customer.hangup()  # rejects the ringing call
    await wait_for_events(app, "callback.retry-wait", count=2, timeout=20)
    ring = customer.mark()
    await customer.wait_event("CALL_INCOMING", since=ring, timeout=30)
    await customer.answer()
    await wait_for_events(app, "callback.connected", timeout=15)
    await asyncio.sleep(1.0)
    await customer.hangup()
    await wait_for_events(app, "callback.completed", timeout=15)
    results = [e.data["result"] for e in app.store.events(kind="callback.attempt")]
    assert results == ["no_answer", "busy", "answered"], results
    final = app.store.load_callback(callback_id)
    assert final is not None and final["state"] == "completed" and final["attempts"] == 3
    assert final["outcomes"] == ["no_answer", "busy"]


async def test_customer_first_a_live_caller_counts_the_placeholder_then_the_customer_is_called(
    asterisk: SandboxInfo,
    pstn: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    customers: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """customer1 books a customer-first callback from queue callbacks_cf; caller1 then joins
    that queue and is told position 2 (the placeholder is ahead) before hanging up. agent1
    logs in: callflow dials customer1 first; on answer they hear "returning your call", wait
    in line in their original place, agent1 is rung and each hears the other."""
    app = await callback_app(start_app)
    customer = await customers("customer1", microphone=person(tmp_path / "customer.wav"))
    callback_id = await ask_for_callback(app, customer, "311")
    assert app.queues is not None
    assert app.queues.router.callers_waiting("callbacks_cf", "callback") == 1

    caller = await phones("caller1")
    mark = caller.mark()
    await caller.dial("311")
    await caller.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "queue.announce", count=2)
    [announced] = app.store.events(kind="queue.announce", call_id=call_id(app))
    assert announced.data["position"] == 2, announced.data
    assert "position=2" in announced.data["said"], announced.data
    await caller.hangup()
    await wait_for_events(app, "queue.abandon")

    agent = await phones(
        "agent1", auto_answer=True, microphone=write_tone(tmp_path / "agent.wav", 60, 880)
    )
    ring = customer.mark()
    app.queues.login("agent1")
    app.queues.kick()
    await customer.wait_event("CALL_INCOMING", since=ring, timeout=30)
    await customer.answer()
    await wait_for_events(app, "callback.connected", timeout=15)
    await wait_for_events(app, "queue.connect", timeout=30)
    await asyncio.sleep(6.0)  # an auto-answering phone's audio may take a moment to flow
    await customer.hangup()
    await wait_for_events(app, "callback.completed", timeout=15)

    heard_by_customer = await customer.recording()
    heard_by_agent = await agent.recording()
    assert heard_by_customer is not None and heard_by_agent is not None
    assert tone_seconds(heard_by_customer, 880) > 2.5, measure(heard_by_customer)
    assert tone_seconds(heard_by_agent, 1000) > 2.5, measure(heard_by_agent)
    [connect] = app.store.events(kind="queue.connect")
    assert connect.data["agent"] == "agent1"
    final = app.store.load_callback(callback_id)
    assert final is not None and final["state"] == "completed" and final["attempts"] == 1


def settings_file(asterisk: SandboxInfo, tmp_path: Path) -> Path:
    """The settings of a `callflow run` process with the callback flow and queues (their
    text prompts built), dialling out through the sandbox PSTN."""
    flow, center = load_flow(str(FLOW))[0], load_queues(str(QUEUES))[0]
    assert flow is not None and center is not None
    build_prompts([flow, center], asterisk.sounds_dir)
    config = tmp_path / "callflow.yaml"
    config.write_text(
        f"ari:\n  url: {asterisk.ari_url}\n  username: {asterisk.ari_user}\n"
        f"  password: {asterisk.ari_password}\n  app: {asterisk.app}\n"
        f"flows:\n  - {FLOW}\nqueues: {QUEUES}\nstore: {tmp_path / 'store.sqlite3'}\n"
        "outbound:\n  endpoint: PJSIP/{number}@pstn\n  ring_timeout: 40\n"
        "shutdown:\n  grace: 1\n"
    )
    return config


class Processes:
    """`callflow run` processes sharing one settings file (:func:`settings_file`) and store;
    :meth:`start` starts the next one, with the log read from where the last left off."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.store = SqliteStore(config.parent / "store.sqlite3")
        self.running: list[Callflow] = []

    async def start(self) -> Callflow:
        offset = len(self.log.read_text(errors="replace")) if self.log.exists() else 0
        process = Callflow(self.config, self.log)
        self.running.append(process)
        await process.start()
        # Generous: a loaded machine takes long to start a Python process.
        await process.wait_for_log("connected to Asterisk", after=offset, timeout=90)
        return process


@pytest.fixture
async def processes(asterisk: SandboxInfo, tmp_path: Path) -> AsyncIterator[Processes]:
    """Start `callflow run` processes (killed with SIGKILL by the tests); any still running
    is stopped with SIGTERM afterwards."""
    started = Processes(settings_file(asterisk, tmp_path), tmp_path / "callflow.log")
    yield started
    for process in started.running:
        if process.proc is not None and process.proc.returncode is None:
            process.kill(signal.SIGTERM)
            await process.wait()
    started.store.close()


async def _answer_then_hang_up(phone: Softphone, since: int, talk: float = 2.0) -> None:
    """The customer's phone rings (after ``since``): answer, talk, hang up."""
    await phone.wait_event("CALL_INCOMING", since=since, timeout=90)
    await phone.answer()
    await phone.wait_event("CALL_ESTABLISHED", since=since, timeout=10)
    await asyncio.sleep(talk)
    await phone.hangup()


def request(processes: Processes, number: str) -> str:
    """`callflow callbacks request NUMBER --queue callbacks`; the new callback's id."""
    argv = ["callbacks", "request", number, "--queue", "callbacks"]
    assert main([*argv, "--config", str(processes.config)]) == 0
    return str(processes.store.live_callbacks()[-1]["id"])


async def test_kill_9_with_callbacks_waiting_and_one_dialing_then_all_complete_once(
    pstn: SandboxInfo,
    processes: Processes,
    phones: PhoneFactory,
    customers: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """Three callbacks asked for with `callflow callbacks request`; `callflow run` is killed
    with SIGKILL while agent1 has heard the first one's whisper and customer1's phone rings,
    the other two waiting. The restarted callflow finds the ring unanswered (hung up, retried
    as lost) and the two still in line; each customer is called back and talks once: every
    callback completed exactly once, customer1's after two attempts."""
    store, config = processes.store, processes.config
    first = await processes.start()
    people = [
        await customers(f"customer{n}", microphone=person(tmp_path / f"customer{n}.wav"))
        for n in (1, 2, 3)
    ]
    await phones("agent1", auto_answer=True)
    ids = [request(processes, f"+1555020000{n}") for n in (1, 2, 3)]
    await until(lambda: len(store.events(kind="callback.waiting")) == 3)
    ringing = people[0].mark()
    assert await agents_cli(config, "login", "agent1") == 0
    await people[0].wait_event("CALL_INCOMING", since=ringing, timeout=40)
    # Its row says dialing (the store commits it in the background: a loaded machine may
    # ring the phone first).
    await until(lambda: (store.load_callback(ids[0]) or {}).get("state") == "dialing")
    first.kill(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL
    rows = {r["id"]: r["state"] for r in store.live_callbacks()}
    assert [rows[i] for i in ids] == ["dialing", "waiting", "waiting"], rows

    marks = [phone.mark() for phone in people]
    await processes.start()
    # The unanswered ring of the former life is hung up, not left to ring on.
    await people[0].wait_event("CALL_CLOSED", since=marks[0], timeout=15)
    await phones("agent2", auto_answer=True)
    assert await agents_cli(config, "login", "agent2") == 0
    again = people[0].mark()
    async with asyncio.timeout(150):
        await asyncio.gather(
            _answer_then_hang_up(people[0], again),
            _answer_then_hang_up(people[1], marks[1]),
            _answer_then_hang_up(people[2], marks[2]),
        )
    await until(lambda: len(store.events(kind="callback.completed")) >= 3, timeout=20)
    await asyncio.sleep(1.0)  # nothing more comes
    for callback_id, attempts in zip(ids, (2, 1, 1), strict=True):
        row = store.load_callback(callback_id)
        assert row is not None and row["state"] == "completed", row
        assert row["attempts"] == attempts, row
        assert states(store, callback_id).count("completed") == 1
    results = [
        e.data["result"]
        for e in store.events(kind="callback.attempt")
        if e.data["callback"] == ids[0]
    ]
    assert results == ["lost", "answered"], results
    for phone in people:
        established = [e for e in phone.events if e.get("type") == "CALL_ESTABLISHED"]
        assert len(established) == 1, phone.user


async def test_kill_9_while_connected_the_conversation_goes_on_and_completes_once(
    pstn: SandboxInfo,
    processes: Processes,
    phones: PhoneFactory,
    customers: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """callflow run is killed with SIGKILL while agent1 and customer1 talk on a callback; the
    restarted callflow leaves them talking (nobody is dialled again), and when customer1 hangs
    up the callback is completed, once, and agent1 is free for the next callback."""
    store = processes.store
    first = await processes.start()
    customer = await customers("customer1", microphone=person(tmp_path / "customer.wav"))
    agent = await phones("agent1", auto_answer=True)
    callback_id = request(processes, CUSTOMER)
    await until(lambda: bool(store.events(kind="callback.waiting")))
    ringing = customer.mark()
    assert await agents_cli(processes.config, "login", "agent1") == 0
    await customer.wait_event("CALL_INCOMING", since=ringing, timeout=40)
    await customer.answer()
    await until(lambda: bool(store.events(kind="callback.connected")), timeout=10)
    first.kill(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL

    talking = customer.mark()
    offset = len(processes.log.read_text(errors="replace"))
    second = await processes.start()
    await second.wait_for_log("was connected when callflow stopped", after=offset, timeout=60)
    await asyncio.sleep(2.0)  # they talk on: nobody is hung up by the restart
    assert not [e for e in customer.events[talking:] if e.get("type") == "CALL_CLOSED"]
    await customer.hangup()
    await agent.wait_event("CALL_CLOSED", timeout=10)
    await until(lambda: bool(store.events(kind="callback.completed")), timeout=10)
    await asyncio.sleep(1.0)
    final = store.load_callback(callback_id)
    assert final is not None and final["state"] == "completed" and final["attempts"] == 1
    assert states(store, callback_id).count("completed") == 1
    assert states(store, callback_id).count("dialing") == 1  # never dialled twice

    # agent1 is free again: the next callback reserves them.
    request(processes, "+15550200002")
    await until(lambda: len(store.events(kind="callback.reserved")) == 2, timeout=15)
    # Stopped (SIGTERM) while that agent rings: the ring ends with callflow, as a caller's.
    second.kill(signal.SIGTERM)
    assert await second.wait() == 0


async def test_kill_9_while_a_customer_first_customer_waits_they_wait_on_and_talk_once(
    pstn: SandboxInfo,
    processes: Processes,
    phones: PhoneFactory,
    customers: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """Customer-first: customer1 answered and waits in line while agent1's phone rings, when
    callflow run is killed with SIGKILL. The restarted callflow puts customer1 back in line
    (not dialled again), agent1's old ring is hung up and agent1 is rung anew; they talk, and
    the callback is completed once."""
    store = processes.store
    first = await processes.start()
    customer = await customers("customer1", microphone=person(tmp_path / "customer.wav"))
    agent = await phones("agent1")
    argv = ["callbacks", "request", CUSTOMER, "--queue", "callbacks_cf"]
    assert main([*argv, "--config", str(processes.config)]) == 0
    callback_id = str(store.live_callbacks()[-1]["id"])
    await until(lambda: bool(store.events(kind="callback.waiting")))
    ringing, agent_mark = customer.mark(), agent.mark()
    assert await agents_cli(processes.config, "login", "agent1") == 0
    await customer.wait_event("CALL_INCOMING", since=ringing, timeout=40)
    await customer.answer()
    await agent.wait_event("CALL_INCOMING", since=agent_mark, timeout=30)
    first.kill(signal.SIGKILL)
    assert await first.wait() == -signal.SIGKILL

    waiting, agent_mark = customer.mark(), agent.mark()
    offset = len(processes.log.read_text(errors="replace"))
    second = await processes.start()
    await second.wait_for_log("was connected when callflow stopped", after=offset, timeout=60)
    await agent.wait_event("CALL_CLOSED", since=agent_mark, timeout=15)  # the old ring
    ring = agent.mark()
    await agent.wait_event("CALL_INCOMING", since=ring, timeout=30)
    await agent.answer()
    await agent.wait_event("CALL_ESTABLISHED", since=ring, timeout=10)
    await asyncio.sleep(1.0)
    assert not [e for e in customer.events[waiting:] if e.get("type") == "CALL_CLOSED"]
    await customer.hangup()
    await until(lambda: bool(store.events(kind="callback.completed")), timeout=15)
    await agent.wait_event("CALL_CLOSED", since=ring, timeout=10)
    final = store.load_callback(callback_id)
    assert final is not None and final["state"] == "completed" and final["attempts"] == 1
    assert states(store, callback_id).count("dialing") == 1  # never dialled twice
    second.kill(signal.SIGTERM)
    assert await second.wait() == 0


MACHINE_QUEUE = """
  callbacks_machine:
    members: [agent1]
    ring_timeout: 10
    retry_delay: 1
    callback:
      mode: agent-first
      max_attempts: 2
      retry: {machine: 2}
      customer_hours: "00:00-24:00"
      machine_message: {say: "This is callflow returning your call. We will try again later."}
"""
MACHINE = "+15550110015"  # the PSTN's answering machine: answers at once, records 15 s


async def test_a_machine_on_every_attempt_gets_the_message_then_expired_with_the_reason(
    asterisk: SandboxInfo,
    pstn: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """Agent-first, max 2 attempts, a machine message: each call back reaches the PSTN's
    answering machine; AMD says MACHINE, agent1 is released at once (before the message),
    callflow listens until the greeting and beep are over and leaves the message, which the
    machine records; after the second machine the callback is expired, and the event log
    says why."""
    queues = tmp_path / "queues.yaml"
    queues.write_text(QUEUES.read_text() + MACHINE_QUEUE)
    app = await start_app([FLOW], queues=queues)
    assert app.callbacks is not None and app.queues is not None
    spool = Path(pstn.home) / "state" / "spool" / "recording"
    before = set(spool.glob("machine-*.wav"))
    await phones("agent1", auto_answer=True)
    app.queues.login("agent1")
    callback, created = app.callbacks.request("callbacks_machine", MACHINE)
    assert created
    app.queues.kick()
    await wait_for_events(app, "callback.expired", timeout=150)
    await wait_for_events(app, "callback.message", count=2, timeout=60)  # the last one

    results = [e.data["result"] for e in app.store.events(kind="callback.attempt")]
    assert results == ["machine", "machine"], results
    assert [e.data["status"] for e in app.store.events(kind="callback.amd")] == ["MACHINE"] * 2
    [expired] = app.store.events(kind="callback.expired")
    assert expired.data["reason"] == "out of attempts (machine, machine)", expired.data
    final = app.store.load_callback(callback.id)
    assert final is not None and final["state"] == "expired" and final["attempts"] == 2
    messages = app.store.events(kind="callback.message")
    assert len(messages) == 2 and all(m.data["media"] for m in messages), messages
    # agent1 was released at once: available again before each message was played.
    log = app.store.events()
    for attempt, message in zip(
        [e for e in log if e.kind == "callback.attempt"], messages, strict=True
    ):
        freed = [
            e
            for e in log
            if e.kind == "agent.state" and e.data["state"] == "available" and e.at >= attempt.at
        ]
        assert freed and freed[0].at <= message.at, (attempt, message)
    assert app.queues.router.agent("agent1").state.value == "available"

    # The machine recorded each message after its beep.
    # Each is read once Asterisk has closed it (the last may still be recording here).
    def recorded() -> list[Path]:
        return sorted(set(spool.glob("machine-*.wav")) - before)

    await until(lambda: len(recorded()) == 2 and all(map(wav_closed, recorded())), timeout=30)
    for recording in recorded():
        heard = measure(recording)
        assert heard.voiced_seconds > 2.0, (recording.name, heard)
    # The greeting is waited out in the dialplan (WaitForSilence), never recorded by callflow.
    ours = Path(asterisk.home) / "state" / "spool" / "recording"
    assert ours.is_dir(), ours
    assert not list(ours.glob("greeting-*")), sorted(p.name for p in ours.glob("greeting-*"))


async def test_cancel_from_the_cli_while_the_customer_rings_stops_the_dial(
    pstn: SandboxInfo,
    processes: Processes,
    phones: PhoneFactory,
    customers: PhoneFactory,
    no_leaks: None,
) -> None:
    """`callflow callbacks cancel` while callflow dials the customer (their phone rings,
    agent1 on the line hearing ringback): the ring is hung up at once, agent1 is released,
    the callback is cancelled, and nobody is called again."""
    store = processes.store
    process = await processes.start()
    customer = await customers("customer1")
    agent = await phones("agent1", auto_answer=True)
    callback_id = request(processes, CUSTOMER)
    await until(lambda: bool(store.events(kind="callback.waiting")))
    ringing, agent_mark = customer.mark(), agent.mark()
    assert await agents_cli(processes.config, "login", "agent1") == 0
    await customer.wait_event("CALL_INCOMING", since=ringing, timeout=40)
    row = store.load_callback(callback_id)
    assert row is not None and row["state"] == "dialing", row
    argv = ["callbacks", "cancel", callback_id, "--config", str(processes.config)]
    assert await asyncio.to_thread(main, argv) == 0
    await customer.wait_event("CALL_CLOSED", since=ringing, timeout=10)
    await agent.wait_event("CALL_CLOSED", since=agent_mark, timeout=10)
    await until(lambda: bool(store.events(kind="callback.cancelled")), timeout=10)
    await asyncio.sleep(2.0)  # nothing more comes
    final = store.load_callback(callback_id)
    assert final is not None and final["state"] == "cancelled", final
    assert not [e for e in customer.events[ringing:] if e.get("type") == "CALL_ESTABLISHED"]
    assert states(store, callback_id).count("dialing") == 1
    process.kill(signal.SIGTERM)
    assert await process.wait() == 0


CLOSED_QUEUE = """
  callbacks_closed:
    members: [agent1, agent2]
    ring_timeout: 10
    retry_delay: 1
    callback:
      mode: agent-first
      customer_hours: "00:00-24:00"
      hours: {timezone: UTC, weekly: {daily: "09:00-17:00"}}
      opening_spread: 6
      handle_time: 8
"""
# The PSTN's people: answer at once, say hello, hang up after 6, 7, 8 s.
PEOPLE = ("+15550100006", "+15550100007", "+15550100008")


class ShiftedClock:
    """The live code's clock (wall-clock seconds) started at another moment: ``at`` now,
    and on at the real pace, so that the test reaches 09:00 in seconds."""

    def __init__(self, at: float) -> None:
        self._offset = at - time.monotonic()

    def __call__(self) -> float:
        return self._offset + time.monotonic()


async def test_requested_while_closed_placed_after_the_opening_spread_in_order(
    asterisk: SandboxInfo,
    pstn: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """The callback hours open at 09:00 UTC; the clock of the queues and callbacks is set to
    08:59:48. Three callbacks asked for then are held for the opening (none in line); at
    09:00 they enter the line in request order, one every max(spread 6 s / 3, handle time
    8 s / 2 agents logged in) = 4 s, never faster; each person is called back, talks to an
    agent and hangs up: all three completed, once each."""
    queues = tmp_path / "queues.yaml"
    queues.write_text(QUEUES.read_text() + CLOSED_QUEUE)
    app = await start_app([FLOW], queues=queues)
    assert app.callbacks is not None and app.queues is not None
    opening = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC).timestamp()
    clock = ShiftedClock(opening - 12.0)
    # The live code's clock, injected: the queues' scheduler and the callbacks share it.
    app.queues.clock = app.callbacks.clock = clock
    app.queues.kick()
    for name in ("agent1", "agent2"):
        await phones(name, auto_answer=True)
        app.queues.login(name)
    ids = [app.callbacks.request("callbacks_closed", number)[0].id for number in PEOPLE]
    assert clock() < opening, "the requests must come before the opening"
    for callback_id in ids:
        row = app.store.load_callback(callback_id)
        assert row is not None and row["state"] == "requested", row
        assert row["not_before"] == opening and row["at_opening"], row
    assert not app.store.events(kind="callback.waiting")

    await wait_for_events(app, "callback.completed", count=3, timeout=150)
    offset = clock() - time.time()  # the test clock's lead over the event log's
    placed: dict[str, float] = {}
    for event in app.store.events(kind="callback.waiting"):
        placed.setdefault(str(event.data["callback"]), event.at.timestamp() + offset)
    times = [placed[callback_id] for callback_id in ids]
    gap = max(6 / 3, 8 / 2)
    assert opening <= times[0] < opening + 1.0, times[0] - opening
    assert all(b - a >= gap - 0.2 for a, b in itertools.pairwise(times)), times
    assert times[-1] - times[0] <= 2 * gap + 1.0, times
    slots = [
        e.data["slot"]
        for e in app.store.events(kind="callback.requested")
        if e.data["reason"] == "slot in the opening"
    ]
    assert [round(b - a, 3) for a, b in itertools.pairwise(slots)] == [gap, gap]
    for callback_id in ids:
        row = app.store.load_callback(callback_id)
        assert row is not None and row["state"] == "completed" and row["attempts"] == 1, row
        assert states(app.store, callback_id).count("completed") == 1


WAIT_QUEUE = """
  callbacks_wait:
    members: [agent1]
    ring_timeout: 10
    retry_delay: 1
    callback:
      mode: customer-first
      customer_hours: "00:00-24:00"
      customer_wait: 5
      customer_wait_then: requeue
"""


async def test_customer_first_no_agent_within_the_wait_told_and_called_again(
    asterisk: SandboxInfo,
    pstn: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    customers: PhoneFactory,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """Customer-first with customer_wait 5 s, then requeue. agent1 is found free, so
    customer1 is dialled (agent1 held for them meanwhile); agent1 pauses while it rings.
    customer1 answers, hears that an agent will come within 5 seconds or they will be
    called back, waits 5 s in line with nobody, hears so and is hung up; the callback is
    back in line. agent1 comes back: customer1 is called again, answers, and talks to
    agent1; completed after two attempts."""
    queues = tmp_path / "queues.yaml"
    queues.write_text(QUEUES.read_text() + WAIT_QUEUE)
    app = await start_app([FLOW], queues=queues)
    assert app.callbacks is not None and app.queues is not None
    customer = await customers("customer1", microphone=person(tmp_path / "customer.wav"))
    agent = await phones("agent1", auto_answer=True)
    app.queues.login("agent1")
    ring = customer.mark()
    callback, _ = app.callbacks.request("callbacks_wait", CUSTOMER)
    await customer.wait_event("CALL_INCOMING", since=ring, timeout=30)
    assert app.queues.router.agent("agent1").state.value == "ringing"  # held for the dial
    app.queues.pause("agent1", "break")
    await customer.answer()
    await wait_for_events(app, "callback.no_agent", timeout=40)
    await customer.wait_event("CALL_CLOSED", since=ring, timeout=20)
    await wait_for_events(app, "callback.waiting", count=2, timeout=10)
    [told] = app.store.events(kind="callback.no_agent")
    assert told.data["waited"] == 5, told.data
    waiting = [e.data["reason"] for e in app.store.events(kind="callback.waiting")]
    assert waiting == ["in line", "no agent within 5 s"], waiting
    row = app.store.load_callback(callback.id)
    assert row is not None and row["state"] == "waiting" and row["outcomes"] == ["no_agent"]
    assert not app.store.events(kind="queue.connect")

    again, agent_mark = customer.mark(), agent.mark()
    app.queues.unpause("agent1")
    app.queues.kick()
    await customer.wait_event("CALL_INCOMING", since=again, timeout=30)
    await customer.answer()
    await wait_for_events(app, "queue.connect", timeout=40)
    await agent.wait_event("CALL_ESTABLISHED", since=agent_mark, timeout=10)
    await asyncio.sleep(1.0)
    await customer.hangup()
    await wait_for_events(app, "callback.completed", timeout=15)
    final = app.store.load_callback(callback.id)
    assert final is not None and final["state"] == "completed" and final["attempts"] == 2
    # What customer1 was told on each answer names the limit and what follows it.
    said = media_for(
        [Say(callback_returning(app.queues.center.queues["callbacks_wait"].callback))],
        "en-us",
        lambda _: None,
    )
    assert said[0].startswith("sound:callflow-tts/")
