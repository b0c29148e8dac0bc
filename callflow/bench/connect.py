"""The connect benchmark: from an agent's answer to the caller hearing the agent, on real calls.

The queue requirement: "On answer, caller and agent are moved into a mixing bridge: the caller
hears the agent within a second of the agent's answer." This bench starts the sandbox Asterisk,
callflow with one queue, agent and caller softphones (baresip), and places calls into the
queue. For each call it measures, in milliseconds:

``answer_to_bridge_ms``
    Asterisk's timestamp of the agent leg going ``Up`` (``ChannelStateChange``) to the later
    of the caller's and the leg's ``ChannelEnteredBridge`` into the mixing bridge.
``answer_to_hear_ms``
    the same answer moment to the first RTP packet of the agent's voice reaching the caller's
    phone. The agent's microphone is a steady 1200 Hz tone (the music on hold is music, never
    one pure tone); the bench reads every RTP packet Asterisk sends on loopback
    (:class:`~callflow.testing.rtp.RtpTap`, kernel receive timestamps), decodes the G.711
    payloads sent to the caller's RTP address (``CHANNEL(rtp,dest)``) and takes the first
    that is the tone. The call counts only if the caller's phone also *decoded* the tone
    (it is in baresip's recording of what the phone heard). The phone's jitter buffer
    adds its own few tens of ms before the loudspeaker; that is the phone's, not ours.
    Why not the onset in the recording itself: baresip writes packets as they arrive, so
    a burst of late packets (audio the agent spoke while the leg waited outside the
    bridge) looks, in the file, like audio heard on time.
``answer_to_agent_rtp_ms``
    a breakdown: the answer to the first packet of the agent's voice reaching Asterisk from
    the agent's phone (``CHANNEL(rtp,dest)`` of the leg). The caller cannot hear the agent
    before that: it is the phone's start-up, not callflow's.
``answer_to_unhold_ms``
    a breakdown: the answer to the caller leaving the holding bridge (callflow reacting).

The timestamps are Asterisk's own (every ARI event carries one, in milliseconds), read on
a second ARI WebSocket with ``subscribeAll`` under its own app name, so the bench observes
without touching callflow. callflow runs as ``callflow run`` in its own process, as in
production, so that the bench's own work never delays it; its agents are logged in through
the event log, the way a restarted callflow finds them. Agents answer after ringing
``ring`` seconds, so that callers hear the music on hold first, as they would. Calls go
``parallel`` at a time (one agent per caller); each round's audio is examined after the
round, not while other calls are being connected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callflow.app import logs
from callflow.ari import AriClient, AriConfig, EventStream
from callflow.ari import errors as ari_errors
from callflow.ari.events import (
    BridgeCreated,
    ChannelCreated,
    ChannelDestroyed,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    ChannelStateChange,
    Event,
)
from callflow.ari.stream import Connected
from callflow.queue.agents import AgentState
from callflow.sandbox import Sandbox, SandboxError, SandboxInfo
from callflow.sandbox.rootfs import RootfsError
from callflow.store import SqliteStore
from callflow.testing.audio import is_tone, tone_seconds, write_tone
from callflow.testing.rtp import RtpPacket, RtpTap, RtpTapError, decode_g711
from callflow.testing.softphone import SipServer, Softphone, SoftphoneError

GOAL_MS = 1000.0
SANDBOX_NAME = "bench-connect"
OBSERVER_APP = "callflow-bench-observer"
NUMBER = "400"
AGENT_TONE_HZ = 1200.0
MAX_FAILURES = 3

BRIDGE = "answer_to_bridge_ms"
HEAR = "answer_to_hear_ms"
AGENT_RTP = "answer_to_agent_rtp_ms"
UNHOLD = "answer_to_unhold_ms"
METRICS = (BRIDGE, HEAR, AGENT_RTP, UNHOLD)
GOAL_METRICS = (BRIDGE, HEAR)

FLOW_YAML = f"""\
description: callflow bench connect - every call goes into the bench queue.
entry:
  "{NUMBER}": bench
nodes:
  bench:
    type: queue
    queue: bench
    on_failure: goodbye
  goodbye:
    type: hangup
    prompt: goodbye
    reason: done
"""


def queues_yaml(agents: int) -> str:
    """One queue served by agent1..agentN; no announcements, no wrap-up."""
    lines = ["agents:"]
    for i in range(1, agents + 1):
        lines += [f"  agent{i}:", f"    endpoint: PJSIP/agent{i}", "    queues: [bench]"]
    lines += [
        "queues:",
        "  bench:",
        "    strategy: longest-idle",
        "    ring_timeout: 15",
        "    wrapup: 0",
        "    join_when_empty: yes",
    ]
    return "\n".join(lines) + "\n"


def write_setup(workdir: Path, agents: int, info: SandboxInfo | None = None) -> Path:
    """Write the bench's flow, queues and (for a sandbox) settings files; return the settings.

    The agents are logged in the way a restarted callflow finds them: from the event log.
    The ARI password is not written: callflow reads it from ``CALLFLOW_ARI_PASSWORD``.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "bench.yaml").write_text(FLOW_YAML)
    (workdir / "queues.yaml").write_text(queues_yaml(agents))
    settings = workdir / "callflow.yaml"
    if info is not None:
        settings.write_text(
            "ari:\n"
            f"  url: {info.ari_url}\n"
            f"  username: {info.ari_user}\n"
            f"  app: {info.app}\n"
            "  password_env: CALLFLOW_ARI_PASSWORD\n"
            "flows: [bench.yaml]\n"
            "queues: queues.yaml\n"
            f"sounds_dir: {info.sounds_dir}\n"
            "store: callflow.sqlite3\n"
            "log: {format: text, level: warning}\n"
        )
        store = SqliteStore(workdir / "callflow.sqlite3")
        try:
            for i in range(1, agents + 1):
                state = {"agent": f"agent{i}", "state": AgentState.AVAILABLE.value, "reason": None}
                store.append("agent.state", "", state)
        finally:
            store.close()
    return settings


# --- statistics (pure) -----------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Summary:
    """One metric over all measured calls, in milliseconds."""

    metric: str
    calls: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    def goal_met(self, goal_ms: float = GOAL_MS) -> bool:
        """Every call under the goal (None-safe: no calls means not met)."""
        return self.calls > 0 and self.max < goal_ms

    def to_json(self, goal_ms: float | None = None) -> str:
        """The ``--json`` line (undefined figures, with no calls, are null)."""
        data: dict[str, object] = {
            "bench": "connect",
            "metric": self.metric,
            "calls": self.calls,
            "p50": _rounded(self.p50),
            "p90": _rounded(self.p90),
            "p99": _rounded(self.p99),
            "max": _rounded(self.max),
            "mean": _rounded(self.mean),
        }
        if goal_ms is not None:
            data["goal_ms"] = goal_ms
            data["goal_met"] = self.goal_met(goal_ms)
        return json.dumps(data)


def _rounded(value: float) -> float | None:
    return round(value, 1) if math.isfinite(value) else None


def summarize(metric: str, values: Sequence[float]) -> Summary:
    """p50, p90, p99, max and mean of the values (NaN for each when there are none)."""
    if not values:
        return Summary(metric, 0, math.nan, math.nan, math.nan, math.nan, math.nan)
    return Summary(
        metric=metric,
        calls=len(values),
        p50=percentile(values, 50),
        p90=percentile(values, 90),
        p99=percentile(values, 99),
        max=max(values),
        mean=sum(values) / len(values),
    )


def format_table(summaries: Sequence[Summary]) -> list[str]:
    """Aligned text table: metric, calls, p50, p90, p99, max, mean (ms)."""
    header = ("metric", "calls", "p50", "p90", "p99", "max", "mean")
    body = [
        (
            s.metric,
            str(s.calls),
            *(_ms(v) for v in (s.p50, s.p90, s.p99, s.max, s.mean)),
        )
        for s in summaries
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *body]
    ]


def _ms(value: float) -> str:
    return f"{value:.1f}" if math.isfinite(value) else "-"


def goal_lines(summaries: Sequence[Summary], goal_ms: float = GOAL_MS) -> list[str]:
    """'goal: < 1000 ms: met/not met' for the metrics the requirement is about."""
    lines = []
    for s in summaries:
        if s.metric in GOAL_METRICS:
            verdict = "met" if s.goal_met(goal_ms) else "not met"
            lines.append(
                f"goal: {s.metric} < {goal_ms:.0f} ms on every call: {verdict} "
                f"(max {_ms(s.max)} ms over {s.calls} calls)"
            )
    return lines


# --- reading one call from Asterisk's events (pure) ------------------------------------


@dataclass(frozen=True, slots=True)
class Moments:
    """Asterisk's timestamps (epoch seconds) of one queue call's connection."""

    caller: str  # the caller's channel id
    leg: str  # the answered agent leg's channel id
    answered: float  # the leg went Up
    unheld: float | None  # the caller left the holding bridge
    created: float | None  # the mixing bridge was created
    bridged: float  # caller and leg both in the mixing bridge


def _ts(event: Event) -> float | None:
    return event.timestamp.timestamp() if event.timestamp is not None else None


def find_caller_channel(events: Sequence[Event], endpoint: str) -> str | None:
    """The id of the first channel created for ``endpoint`` (``caller1``) in these events."""
    for event in events:
        if isinstance(event, ChannelCreated) and event.channel.name.startswith(
            f"PJSIP/{endpoint}-"
        ):
            return event.channel.id
    return None


def connect_moments(events: Sequence[Event], caller: str) -> Moments | None:
    """The moments of the caller's connection to an agent, or None if not (yet) bridged."""
    leg_prefix = f"{caller}-leg"
    up: dict[str, float] = {}
    entered: dict[tuple[str, str], float] = {}  # (bridge, channel) -> when
    mixing: str | None = None
    unheld: float | None = None
    created: dict[str, float] = {}
    for event in events:
        when = _ts(event)
        if when is None:
            continue
        if isinstance(event, ChannelStateChange):
            channel = event.channel
            if channel.id.startswith(leg_prefix) and channel.state == "Up":
                up.setdefault(channel.id, when)
        elif isinstance(event, BridgeCreated):
            created.setdefault(event.bridge.id, when)
        elif isinstance(event, ChannelEnteredBridge) and event.bridge.bridge_type == "mixing":
            entered.setdefault((event.bridge.id, event.channel.id), when)
            if event.channel.id == caller and mixing is None:
                mixing = event.bridge.id
        elif (
            isinstance(event, ChannelLeftBridge)
            and event.channel.id == caller
            and event.bridge.bridge_type == "holding"
            and up
            and unheld is None
        ):
            unheld = when
    if mixing is None or (mixing, caller) not in entered:
        return None
    legs = [leg for (bridge, leg) in entered if bridge == mixing and leg in up]
    if not legs:
        return None
    leg = legs[0]
    return Moments(
        caller=caller,
        leg=leg,
        answered=up[leg],
        unheld=unheld,
        created=created.get(mixing),
        bridged=max(entered[(mixing, caller)], entered[(mixing, leg)]),
    )


def gone(events: Sequence[Event], channel: str) -> bool:
    """True once the channel is destroyed."""
    return any(isinstance(e, ChannelDestroyed) and e.channel.id == channel for e in events)


# --- the live part ---------------------------------------------------------------------


class Observer:
    """A second ARI WebSocket, subscribed to everything, that only records events."""

    def __init__(
        self, info: SandboxInfo, app: str = OBSERVER_APP, *, subscribe_all: bool = True
    ) -> None:
        # subscribe_all=False: only the app's own channels (those it originates, or that
        # enter it). Asterisk 22 can deadlock ARI when an app subscribed to every device
        # state goes away while one changes (asterisk#2170): tests that connect and leave
        # once per call, right as a channel ends, should not subscribe to everything.
        self.events: list[Event] = []
        config = AriConfig(
            base_url=info.ari_url,
            username=info.ari_user,
            password=info.ari_password,
            apps=(app,),
            subscribe_all=subscribe_all,
        )
        self.ari = AriClient(config)
        self._stream = EventStream(config)
        self._changed = asyncio.Condition()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Observer:
        self._task = asyncio.create_task(self._read(), name="bench-observer")
        connected = asyncio.ensure_future(self._connected.wait())
        try:
            await asyncio.wait(
                [self._task, connected], timeout=15, return_when=asyncio.FIRST_COMPLETED
            )
            if self._task.done():
                self._task.result()  # the stream's fatal error (wrong credentials...)
                raise RuntimeError("the bench's ARI event socket closed")
            if not self._connected.is_set():
                raise TimeoutError("the bench's ARI event socket did not connect within 15 s")
        except BaseException:
            await self.__aexit__()
            raise
        finally:
            connected.cancel()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stream.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.ari.close()

    async def rtp_port(self, channel: str) -> int | None:
        """The port the channel's phone receives RTP on (None if Asterisk cannot say)."""
        try:
            dest = await self.ari.channels.get_variable(channel, "CHANNEL(rtp,dest)")
        except ari_errors.AriError:
            return None
        _, _, port = dest.rpartition(":")
        return int(port) if port.isdigit() else None

    async def _read(self) -> None:
        async for item in self._stream:
            if isinstance(item, Connected):
                self._connected.set()
            elif isinstance(item, Event):
                async with self._changed:
                    self.events.append(item)
                    self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until ``predicate()`` holds on the events seen so far (TimeoutError if not)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)


@dataclass
class CallTimes:
    """One measured call."""

    caller: str
    values: dict[str, float] = field(default_factory=dict)
    note: str = ""
    moments: Moments | None = None
    heard_at: float | None = None  # epoch seconds: the agent's first packet to the caller


@dataclass
class ConnectResult:
    """Every measured call, and the calls that could not be measured (with why)."""

    calls: list[CallTimes] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def samples(self, metric: str) -> list[float]:
        """The values of one metric, over the calls where it was measured."""
        return [c.values[metric] for c in self.calls if metric in c.values]

    def summaries(self) -> list[Summary]:
        """One summary per metric."""
        return [summarize(metric, self.samples(metric)) for metric in METRICS]


Progress = Callable[[str], None]


async def _answer_calls(agent: Softphone, ring: float) -> None:
    """An agent who answers each call after it has rung ``ring`` seconds."""
    mark = 0
    while True:
        try:
            incoming = await agent.wait_event("CALL_INCOMING", since=mark, timeout=3600)
        except SoftphoneError:
            continue
        mark = agent.events.index(incoming) + 1
        await asyncio.sleep(ring)
        with contextlib.suppress(SoftphoneError):
            await agent.answer()


@dataclass
class _Placed:
    """A call that was placed and connected, before its audio is looked at."""

    caller: Softphone
    moments: Moments
    port: int | None  # where the caller's phone receives RTP
    agent_port: int | None  # where the agent's phone receives (and sends) RTP
    dialled_at: float


async def _one_call(caller: Softphone, observer: Observer, *, talk: float) -> _Placed:
    """Dial into the queue, wait to be bridged with an agent, talk, hang up."""
    since_event = len(observer.events)
    mark = caller.mark()
    dialled_at = time.time()
    await caller.dial(NUMBER)

    def window() -> list[Event]:
        return observer.events[since_event:]

    await observer.wait_for(lambda: find_caller_channel(window(), caller.user) is not None, 15)
    channel = find_caller_channel(window(), caller.user)
    assert channel is not None
    await observer.wait_for(lambda: connect_moments(window(), channel) is not None, 30)
    bridged = connect_moments(window(), channel)
    assert bridged is not None
    port = await observer.rtp_port(channel)
    agent_port = await observer.rtp_port(bridged.leg)
    await asyncio.sleep(talk)
    await caller.hangup()
    await caller.wait_event("CALL_CLOSED", since=mark, timeout=10)
    leg = bridged.leg
    await observer.wait_for(lambda: gone(window(), channel) and gone(window(), leg), 10)
    moments = connect_moments(window(), channel)
    assert moments is not None
    return _Placed(caller, moments, port, agent_port, dialled_at)


async def _measure(placed: _Placed, tap: RtpTap | None, talk: float) -> CallTimes:
    """The intervals of one finished call (after its round, so as not to slow the others)."""
    moments = placed.moments
    times = CallTimes(placed.caller.user, moments=moments)
    times.values[BRIDGE] = (moments.bridged - moments.answered) * 1000
    if moments.unheld is not None:
        times.values[UNHOLD] = (moments.unheld - moments.answered) * 1000
    if tap is None:
        return times
    since = moments.answered - 0.001  # Asterisk's timestamps are in ms
    if placed.agent_port is not None:
        agent_rtp = first_tone_packet(tap.from_port(placed.agent_port, since=since))
        if agent_rtp is not None:
            times.values[AGENT_RTP] = (agent_rtp - moments.answered) * 1000
    if placed.port is None:
        times.note = "Asterisk did not say where the caller's RTP goes"
        return times
    times.heard_at = first_tone_packet(tap.to_port(placed.port, since=since))
    recording = await placed.caller.recording()
    if times.heard_at is None:
        times.note = "no RTP packet with the agent's tone reached the caller"
    elif recording is None or recording.stat().st_mtime < placed.dialled_at:
        times.note = "no recording of this call by the caller's phone"
    elif tone_seconds(recording, AGENT_TONE_HZ) < min(0.2, talk / 2):
        times.note = "the caller's phone did not decode the agent's tone"
    else:
        times.values[HEAR] = (times.heard_at - moments.answered) * 1000
    return times


def first_tone_packet(packets: Iterable[RtpPacket]) -> float | None:
    """When the first of these packets that carries the agent's tone arrived."""
    for packet in packets:
        samples = decode_g711(packet.payload, packet.payload_type)
        if samples is not None and is_tone(samples, 8000, AGENT_TONE_HZ):
            return packet.at
    return None


class _Callflow:
    """``callflow run`` in its own process, as in production: the bench's own work (events,
    packets, audio) then never delays the app it measures."""

    def __init__(self, settings: Path, info: SandboxInfo) -> None:
        self.settings = settings
        self.info = info
        self.log = settings.parent / "callflow.log"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, observer: Observer, timeout: float = 20.0) -> None:
        """Start it and wait until its app is registered with Asterisk."""
        env = {**os.environ, "CALLFLOW_ARI_PASSWORD": self.info.ari_password}
        with self.log.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "callflow",
                "run",
                "--config",
                str(self.settings),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                if self.proc.returncode is not None:
                    code = self.proc.returncode
                    raise RuntimeError(f"callflow exited with {code}:\n{self.tail()}")
                with contextlib.suppress(ari_errors.NotFound):
                    await observer.ari.applications.get(self.info.app)
                    return
                if loop.time() > deadline:
                    raise RuntimeError(
                        f"callflow did not connect within {timeout:g} s\n{self.tail()}"
                    )
                await asyncio.sleep(0.1)
        except BaseException:
            await self.stop()  # never left running, retrying an Asterisk that is gone
            raise

    async def stop(self) -> None:
        """SIGTERM (callflow stops cleanly), then SIGKILL if it lingers."""
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def tail(self, lines: int = 30) -> str:
        """The last lines callflow logged."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


async def measure_connect(
    info: SandboxInfo,
    *,
    calls: int,
    workdir: Path,
    parallel: int = 1,
    ring: float = 1.0,
    talk: float = 1.0,
    progress: Progress | None = None,
) -> ConnectResult:
    """Place ``calls`` calls into a queue on this running sandbox, ``parallel`` at a time
    (as many agents as callers), and measure each one's connection. Leaves nothing running."""
    say = progress or (lambda _: None)
    if not 1 <= parallel <= 6:
        raise ValueError("parallel must be within 1..6 (the sandbox has 6 agents)")
    settings = write_setup(workdir, parallel, info)
    server = SipServer(info.bind, info.sip_port)
    tone = write_tone(workdir / "agent-tone.wav", seconds=120, freq=AGENT_TONE_HZ)
    callflow = _Callflow(settings, info)
    phones: list[Softphone] = []
    workers: list[asyncio.Task[None]] = []
    result = ConnectResult()
    try:
        async with contextlib.AsyncExitStack() as stack:
            observer = await stack.enter_async_context(Observer(info))
            await callflow.start(observer)
            tap: RtpTap | None = None
            try:
                tap = await stack.enter_async_context(RtpTap(info.rtp_start, info.rtp_end))
            except RtpTapError as exc:
                say(f"{exc}: {HEAR} is not measured")
            agents, callers = [], []
            for i in range(1, parallel + 1):
                name = f"agent{i}"
                agent = Softphone(
                    name,
                    info.phone(name).password,
                    server,
                    workdir / name,
                    auto_answer=ring <= 0,
                    microphone=tone,
                )
                phones.append(agent)
                agents.append(agent)
                name = f"caller{i}"
                caller = Softphone(name, info.phone(name).password, server, workdir / name)
                phones.append(caller)
                callers.append(caller)
            started = await asyncio.gather(
                *(phone.start() for phone in phones), return_exceptions=True
            )
            for error in started:
                if isinstance(error, BaseException):
                    raise error
            if ring > 0:
                workers = [asyncio.create_task(_answer_calls(a, ring)) for a in agents]
            done, failed_in_a_row = 0, 0
            while done < calls:
                batch = callers[: min(parallel, calls - done)]
                outcomes = await asyncio.gather(
                    *(_one_call(c, observer, talk=talk) for c in batch), return_exceptions=True
                )
                for caller, outcome in zip(batch, outcomes, strict=True):
                    done += 1
                    if isinstance(outcome, BaseException):
                        if isinstance(outcome, asyncio.CancelledError):
                            raise outcome
                        why = f"call {done} ({caller.user}): {type(outcome).__name__}: {outcome}"
                        result.failures.append(why.splitlines()[0])
                        say(result.failures[-1])
                        failed_in_a_row += 1
                        with contextlib.suppress(SoftphoneError):
                            await caller.hangup()
                        continue
                    failed_in_a_row = 0
                    times = await _measure(outcome, tap, talk)
                    result.calls.append(times)
                    shown = ", ".join(f"{k} {v:.0f}" for k, v in times.values.items())
                    say(f"call {done}/{calls} ({caller.user}): {shown}" + _note(times))
                if failed_in_a_row >= MAX_FAILURES:
                    say(f"stopping after {failed_in_a_row} failed calls in a row")
                    say(f"callflow's log:\n{callflow.tail()}")
                    break
                if tap is not None:
                    tap.forget_before(time.time())
                await asyncio.sleep(0.2)  # let the agents' phones settle
    finally:
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await asyncio.gather(*(phone.stop() for phone in phones), return_exceptions=True)
        await callflow.stop()
    return result


def _note(times: CallTimes) -> str:
    return f" ({times.note})" if times.note else ""


def slowest_line(calls: Sequence[CallTimes]) -> str | None:
    """Where the time went in the call that took longest to bridge (Asterisk's clock)."""
    measured = [c for c in calls if c.moments is not None and BRIDGE in c.values]
    if not measured:
        return None
    worst = max(measured, key=lambda c: c.values[BRIDGE])
    m = worst.moments
    assert m is not None

    def since_answer(when: float | None) -> str:
        return "-" if when is None else f"+{(when - m.answered) * 1000:.0f}"

    heard = f", heard {since_answer(worst.heard_at)}" if worst.heard_at is not None else ""
    return (
        f"slowest call ({worst.caller}), ms after the agent's answer: left holding "
        f"{since_answer(m.unheld)}, mixing bridge created {since_answer(m.created)}, "
        f"both in it {since_answer(m.bridged)}{heard}"
    )


# --- the command -----------------------------------------------------------------------


def run_connect_bench(
    *,
    calls: int,
    as_json: bool,
    keep: bool,
    parallel: int = 1,
    ring: float = 1.0,
    write: Callable[[str], None] = print,
) -> int:
    """Start (or reuse) the bench's sandbox, measure, print; 0 if it ran."""
    logs.configure("warning")

    def progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    existing = Sandbox.load(SANDBOX_NAME)
    if existing is None:
        progress("starting the sandbox Asterisk (the first run builds it, ~1 min)")
    else:
        progress(f"using the running sandbox {SANDBOX_NAME!r} (left by --keep)")
    sandbox = Sandbox(SANDBOX_NAME)
    try:
        info = existing or sandbox.up()
    except (SandboxError, RootfsError) as exc:
        print(f"callflow bench connect: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # up() has stopped what it had started
        print("callflow bench connect: interrupted", file=sys.stderr)
        return 130
    progress(f"Asterisk pid {info.pid}; {calls} calls, {parallel} at a time")
    try:
        with tempfile.TemporaryDirectory(prefix="callflow-bench-connect-") as tmp:
            result = _run_async(
                measure_connect(
                    info,
                    calls=calls,
                    workdir=Path(tmp),
                    parallel=parallel,
                    ring=ring,
                    progress=progress,
                )
            )
    except KeyboardInterrupt:
        print("callflow bench connect: interrupted", file=sys.stderr)
        return 130
    except (SoftphoneError, TimeoutError, RuntimeError, OSError) as exc:
        print(f"callflow bench connect: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if keep:
            progress(f"sandbox left running: 'callflow sandbox down --name {SANDBOX_NAME}'")
        else:
            sandbox.down()
    summaries = result.summaries()
    if as_json:
        for s in summaries:
            write(s.to_json(GOAL_MS if s.metric in GOAL_METRICS else None))
    else:
        for line in format_table(summaries):
            write(line)
        write("")
        for line in goal_lines(summaries):
            write(line)
        slowest = slowest_line(result.calls)
        if slowest is not None:
            write(slowest)
    for failure in result.failures:
        progress(f"failed: {failure}")
    for c in result.calls:
        if c.note:
            progress(f"{HEAR} not measured for a call of {c.caller}: {c.note}")
    if not result.calls:
        return 1
    return 0


def _run_async(coro: Coroutine[Any, Any, ConnectResult]) -> ConnectResult:
    """asyncio.run, with SIGTERM cancelling the run like Ctrl-C does (so cleanup happens)."""

    async def main() -> ConnectResult:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if task is not None:
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            return await coro
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


__all__ = [
    "AGENT_RTP",
    "BRIDGE",
    "HEAR",
    "METRICS",
    "UNHOLD",
    "ConnectResult",
    "Moments",
    "Summary",
    "connect_moments",
    "find_caller_channel",
    "first_tone_packet",
    "format_table",
    "goal_lines",
    "measure_connect",
    "percentile",
    "queues_yaml",
    "run_connect_bench",
    "slowest_line",
    "summarize",
    "write_setup",
]
