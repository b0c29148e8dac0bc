"""Random callers at scale, for ``callflow bench fuzz`` and ``callflow bench soak``.

The rig: the sandbox Asterisk and its PSTN (a second Asterisk joined by the ``pstn`` trunk),
``callflow run`` in its own process (:class:`callflow.bench.connect._Callflow`) with the
bench's flow, queues and campaign (``config/bench-fuzz/``): the sample's menus, queues,
callback offer and mailbox; robot agents that are PSTN numbers (ring, answer, talk a while);
callbacks that dial the callers' own numbers (which answer, do not answer or are busy, as
their digits script); a progressive campaign whose leads are scripted PSTN numbers.

The callers are placed over the PSTN's ARI (an app of the bench's own): each is a
:class:`CallScript`, drawn from a seeded generator (:func:`make_script`), that says which
number to dial, the caller ID (a scripted PSTN number, so that a callback to it is answered
or not), which keys to press how long after the answer, and when to hang up, counted from
the dial (so some hang up while it rings). Many run at once, started at a capped rate.

At the end, once every call is over and the rig has drained, the leak checks
(:func:`leak_checks`): channels and bridges left in callflow's Asterisk (ARI and ``core show
channels``), playbacks started and not finished (counted on a second ARI socket subscribed
to everything), asyncio tasks in callflow beyond its idle count (``/metrics``), store rows
not in a final state (callbacks, queue entries, leads, attempts), ERROR lines and tracebacks
in callflow's log, and call ids without exactly one ``call.start`` and one ``call.end``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import re
import secrets
import signal
import socket
import sqlite3
import sys
import tempfile
import time
import urllib.request
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from callflow.app import logs
from callflow.ari import errors as ari_errors
from callflow.ari.events import (
    ChannelDestroyed,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    StasisStart,
)
from callflow.ari.stream import Connected
from callflow.bench.connect import Observer, _Callflow
from callflow.flow.loader import load_flow
from callflow.prompts import build_prompts
from callflow.prompts.build import Speaks
from callflow.queue.agents import AgentState
from callflow.queue.config import load_queues
from callflow.sandbox import Sandbox, SandboxError, SandboxInfo
from callflow.sandbox.instance import _rtp_range, rx
from callflow.sandbox.pstn import connect, read_plan, start_pstn
from callflow.sandbox.recipe import REPO_ROOT
from callflow.sandbox.rootfs import RootfsError
from callflow.store import is_postgres, open_store
from callflow.testing.postgres import PostgresServer

CONFIG_DIR = REPO_ROOT / "config" / "bench-fuzz"
FLOW = CONFIG_DIR / "fuzz.yaml"
QUEUES = CONFIG_DIR / "queues.yaml"
CAMPAIGN = CONFIG_DIR / "campaign.yaml"
CAMPAIGN_NAME = "fuzz"
CALLER_APP = "callflow-bench-callers"
TOKEN_ENV = "CALLFLOW_BENCH_API_TOKEN"  # noqa: S105 (a variable's name)
KEYS = "0123456789*#"
RTP_PORTS = 800  # each Asterisk's: 400 calls at once
DRAIN_SECONDS = 360.0  # callbacks expire 3 min after they are asked for (queues.yaml)
Progress = Callable[[str], None]


# --- the random callers (pure) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallScript:
    """One random caller: dial ``dialled`` as ``caller_id``; after the answer press each key
    ``delay`` seconds after the previous one (the first after the answer); hang up
    ``hangup_after`` seconds after dialling, unless the center has hung up first."""

    index: int
    dialled: str
    caller_id: str
    hangup_after: float
    keys: tuple[tuple[float, str], ...]


def caller_number(rng: random.Random) -> str:
    """A scripted PSTN number a callback can dial: mostly people (ring 1-4 s, talk 3-20 s),
    some who never answer, some busy lines, some machines."""
    kind = rng.random()
    if kind < 0.6:
        return f"+1555010{rng.randint(1, 4):02d}{rng.randint(3, 20):02d}"
    if kind < 0.75:
        return f"+1555012{rng.randint(3, 8):02d}00"
    if kind < 0.9:
        return f"+1555013{rng.randint(0, 2):02d}00"
    return f"+1555011{rng.randint(1, 2):02d}{rng.randint(3, 8):02d}"


def make_script(rng: random.Random, index: int, *, longest: float = 60.0) -> CallScript:
    """A random caller. One in twenty hangs up within its first second (often while it
    rings); the others after 2 s to ``longest``. Keys come every 0.2-6 s, mostly menu
    options, now and then a star, a hash or a key no menu knows."""
    dialled = "100" if rng.random() < 0.93 else "700"
    quick = rng.random() < 0.05
    hangup = rng.uniform(0.0, 1.0) if quick else rng.uniform(2.0, max(2.0, longest))
    keys: list[tuple[float, str]] = []
    spent = 0.0
    while spent < hangup:
        delay = round(rng.choice((rng.uniform(0.2, 1.0), rng.uniform(1.0, 6.0))), 2)
        weights = (3, 6, 8, 4, 4, 4, 1, 1, 1, 1, 2, 3)  # 0..9, *, #: menu keys most
        key = rng.choices(KEYS, weights=weights)[0]
        keys.append((delay, key))
        spent += delay
    return CallScript(index, dialled, caller_number(rng), hangup, tuple(keys))


def scripts(seed: int, count: int | None, *, longest: float = 60.0) -> Iterator[CallScript]:
    """``count`` random callers from ``seed`` (None: without end), the same for a seed."""
    rng = random.Random(seed)
    index = 0
    while count is None or index < count:
        yield make_script(rng, index, longest=longest)
        index += 1


MAX_LEADS = 60  # of the 93 distinct numbers caller_number() draws from


def campaign_leads(seed: int, count: int) -> list[str]:
    """``count`` distinct scripted PSTN numbers for the bench campaign's leads (at most
    MAX_LEADS: there are only so many scripted numbers)."""
    if not 0 <= count <= MAX_LEADS:
        raise ValueError(f"the bench campaign has 0 to {MAX_LEADS} leads, not {count}")
    rng = random.Random(seed + 1)
    leads: list[str] = []
    while len(leads) < count:
        number = caller_number(rng)
        if number not in leads:
            leads.append(number)
    return leads


# --- the checks (pure) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """One row of the leak table: what is counted, how many, how many are allowed."""

    name: str
    found: int
    allowed: int = 0
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.found <= self.allowed


def start_end_problems(rows: Iterable[tuple[str, str]]) -> tuple[int, list[str]]:
    """From (kind, call_id) of the event log's call.start and call.end: how many calls, and
    the ids that have not exactly one of each (with their counts)."""
    counts: dict[str, list[int]] = {}
    for kind, call_id in rows:
        pair = counts.setdefault(call_id, [0, 0])
        pair[0 if kind == "call.start" else 1] += 1
    bad = [
        f"{cid}: {s} start, {e} end" for cid, (s, e) in sorted(counts.items()) if s != 1 or e != 1
    ]
    return len(counts), bad


def log_problems(lines: Iterable[str]) -> tuple[list[str], int]:
    """ERROR and CRITICAL records of a JSON log (and any other line saying ERROR), and how
    many carry a traceback (a JSON record's ``exception``, or a 'Traceback' line)."""
    errors: list[str] = []
    tracebacks = 0
    for line in lines:
        text = line.strip()
        if not text:
            continue
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if str(record.get("level", "")).lower() in ("error", "critical"):
                errors.append(f"{record.get('logger', '')}: {record.get('message', '')}")
            if record.get("exception"):
                tracebacks += 1
        else:
            if re.search(r"\b(ERROR|CRITICAL)\b", text):
                errors.append(text)
            if text.startswith("Traceback"):
                tracebacks += 1
    return errors, tracebacks


def format_checks(checks: Sequence[Check]) -> list[str]:
    """The leak table: check, found, allowed, verdict, detail."""
    header = ("check", "found", "allowed", "ok", "detail")
    body = [
        (c.name, str(c.found), str(c.allowed), "yes" if c.ok else "NO", c.detail) for c in checks
    ]
    return _table(header, body)


def _table(header: tuple[str, ...], body: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return [
        "  ".join(
            cell.rjust(w) if cell.replace(".", "", 1).lstrip("-+").isdigit() else cell.ljust(w)
            for cell, w in zip(row, widths, strict=True)
        ).rstrip()
        for row in [header, *body]
    ]


# --- the rig ---------------------------------------------------------------------------


@dataclass
class CallerTally:
    """What the callers did, counted on the PSTN's side."""

    placed: int = 0
    answered: int = 0
    caller_hung_up: int = 0
    center_hung_up: int = 0
    unanswered: int = 0
    refused: int = 0  # the originate itself failed
    stuck: int = 0  # no end seen within the call's time and a minute
    keys: int = 0
    durations: list[float] = field(default_factory=list)

    def rows(self) -> list[tuple[str, int]]:
        return [
            ("calls placed", self.placed),
            ("answered by the center", self.answered),
            ("hung up by the caller", self.caller_hung_up),
            ("hung up by the center", self.center_hung_up),
            ("never answered", self.unanswered),
            ("refused at dial", self.refused),
            ("no end seen (stuck)", self.stuck),
            ("keys pressed", self.keys),
        ]


class Callers(Observer):
    """Places scripted calls from the PSTN's ARI into the contact center (``PJSIP/<number>@
    callflow`` on the PSTN's side), each in the bench's own app, its events routed to it by
    channel id (none are kept)."""

    def __init__(self, pstn: SandboxInfo, run_id: str) -> None:
        super().__init__(pstn, app=CALLER_APP, subscribe_all=False)
        self._calls: dict[str, asyncio.Queue[Event]] = {}
        self.run_id = run_id
        self.tally = CallerTally()
        self.active = 0

    async def _read(self) -> None:
        async for item in self._stream:
            if isinstance(item, Connected):
                self._connected.set()
            elif isinstance(item, Event):
                for channel in item.channel_ids():
                    queue = self._calls.get(channel)
                    if queue is not None:
                        queue.put_nowait(item)

    async def call(self, script: CallScript) -> None:
        """Place one caller and follow its script until its channel is gone."""
        loop = asyncio.get_running_loop()
        channel = f"{self.run_id}-{script.index}"
        events: asyncio.Queue[Event] = asyncio.Queue()
        self._calls[channel] = events
        self.tally.placed += 1
        self.active += 1
        began = loop.time()
        try:
            try:
                await self.ari.channels.originate(
                    f"PJSIP/{script.dialled}@callflow",
                    app=CALLER_APP,
                    caller_id=f'"caller {script.index}" <{script.caller_id}>',
                    ring_timeout=30,
                    channel_id=channel,
                )
            except ari_errors.AriError:
                self.tally.refused += 1
                return
            await self._follow(channel, script, events, began)
        finally:
            self.active -= 1
            self._calls.pop(channel, None)
            self.tally.durations.append(loop.time() - began)

    async def _follow(
        self, channel: str, script: CallScript, events: asyncio.Queue[Event], began: float
    ) -> None:
        loop = asyncio.get_running_loop()
        hangup_at = began + script.hangup_after
        give_up = hangup_at + 60.0
        keys = list(script.keys)
        next_key: float | None = None
        answered = hung_up = False
        while True:
            now = loop.time()
            wake = give_up if hung_up else min(hangup_at, next_key or math.inf)
            try:
                async with asyncio.timeout(max(0.0, wake - now)):
                    event = await events.get()
            except TimeoutError:
                now = loop.time()
                if hung_up and now >= give_up:
                    self.tally.stuck += 1
                    return
                if not hung_up and now >= hangup_at:
                    hung_up = True
                    with contextlib.suppress(ari_errors.AriError):
                        await self.ari.channels.hangup(channel)
                elif next_key is not None and keys:
                    _, key = keys.pop(0)
                    with contextlib.suppress(ari_errors.AriError):
                        await self.ari.request(
                            "POST", f"/channels/{channel}/dtmf", params={"dtmf": key}
                        )
                        self.tally.keys += 1
                    next_key = now + keys[0][0] if keys else None
                continue
            if isinstance(event, StasisStart) and not answered:
                answered = True
                self.tally.answered += 1
                next_key = loop.time() + keys[0][0] if keys else None
            elif isinstance(event, ChannelDestroyed):
                if not answered:
                    self.tally.unanswered += 1
                elif hung_up:
                    self.tally.caller_hung_up += 1
                else:
                    self.tally.center_hung_up += 1
                return


class PlaybackWatch(Observer):
    """callflow's Asterisk, seen on a second ARI socket subscribed to everything: counts
    playbacks started and not yet finished (ARI has no list of playbacks), keeps nothing
    else (an hour of events would not fit in memory)."""

    def __init__(self, info: SandboxInfo) -> None:
        super().__init__(info, app="callflow-bench-watch", subscribe_all=True)
        self.playing: set[str] = set()
        self.started = 0

    async def _read(self) -> None:
        async for item in self._stream:
            if isinstance(item, Connected):
                self._connected.set()
            elif isinstance(item, PlaybackStarted):
                self.playing.add(item.playback.id)
                self.started += 1
            elif isinstance(item, PlaybackFinished):
                self.playing.discard(item.playback.id)


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def widen_rtp(info: SandboxInfo, ports: int) -> str:
    """Give a running sandbox Asterisk ``ports`` RTP ports (two a call: RTP and RTCP) from a
    range free now, for the calls to come (rtp.conf, then a reload of res_rtp_asterisk): the
    sandbox's 200 hold 100 calls, and a soak keeps 100 up besides agents and callbacks.
    Returns the range Asterisk says it uses."""
    start, end = _rtp_range(ports)
    conf = Path(info.home) / "etc" / "rtp.conf"
    text = re.sub(r"(?m)^rtpstart\s*=.*$", f"rtpstart = {start}", conf.read_text())
    conf.write_text(re.sub(r"(?m)^rtpend\s*=.*$", f"rtpend = {end}", text))
    rx(info, "module reload res_rtp_asterisk.so")
    shown = rx(info, "rtp show settings")
    found = re.search(r"Port start:\s*(\d+).*?Port end:\s*(\d+)", shown, re.S)
    if found is None or (int(found.group(1)), int(found.group(2))) != (start, end):
        raise RuntimeError(f"{info.name}: RTP ports not widened: {shown.strip()[:200]}")
    return f"{start}-{end}"


def write_settings(workdir: Path, info: SandboxInfo, api_port: int, store: str) -> Path:
    """The settings ``callflow run`` reads: the bench's flow, queues and campaign; its
    store (a SQLite file's path or a PostgreSQL URL)."""
    settings = workdir / "callflow.yaml"
    settings.write_text(
        "ari:\n"
        f"  url: {info.ari_url}\n"
        f"  username: {info.ari_user}\n"
        f"  app: {info.app}\n"
        "  password_env: CALLFLOW_ARI_PASSWORD\n"
        f"flows: [{FLOW}]\n"
        f"queues: {QUEUES}\n"
        f"campaigns: [{CAMPAIGN}]\n"
        f"sounds_dir: {info.sounds_dir}\n"
        f"store: {store}\n"
        "outbound:\n"
        '  endpoint: "PJSIP/{number}@pstn"\n'
        '  caller_id: "+15550100000"\n'
        "  ring_timeout: 12\n"
        "shutdown: {grace: 2}\n"
        f"api: {{bind: 127.0.0.1, port: {api_port}, token_env: {TOKEN_ENV}}}\n"
        "log: {format: json, level: warning}\n"
    )
    return settings


def seed_store(location: str, leads: Sequence[str]) -> None:
    """Agents available (from the event log, as a restarted callflow finds them), the
    campaign's leads imported and the campaign running."""
    center, _ = load_queues(str(QUEUES))
    assert center is not None
    store = open_store(location)
    try:
        for agent in center.agents:
            state = {"agent": agent, "state": AgentState.AVAILABLE.value, "reason": None}
            store.append("agent.state", "", state)
        rows: list[Mapping[str, Any]] = [
            {"number": n, "timezone": "UTC", "fields": {}, "line": i + 2}
            for i, n in enumerate(leads)
        ]
        store.import_leads(CAMPAIGN_NAME, rows)
        store.set_campaign_state(CAMPAIGN_NAME, "running")
    finally:
        store.close()


def build_bench_prompts(info: SandboxInfo) -> None:
    """Render the bench flow's and queues' text prompts into the sandbox's sounds."""
    parsed: list[Speaks] = []
    flow, _ = load_flow(str(FLOW))
    center, _ = load_queues(str(QUEUES))
    for item in (flow, center):
        if item is None:
            raise RuntimeError(f"the bench's config in {CONFIG_DIR} does not load")
        parsed.append(item)
    build_prompts(parsed, info.sounds_dir)


@dataclass
class Rig:
    """Everything a fuzz or soak run holds while it runs."""

    info: SandboxInfo
    pstn: SandboxInfo
    workdir: Path
    callflow: _Callflow
    watch: PlaybackWatch
    callers: Callers
    token: str
    api_port: int
    store_location: str
    idle_tasks: int = 0

    def metric(self, name: str) -> float | None:
        """One unlabelled figure of callflow's ``/metrics`` (None if unreachable)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.api_port}/metrics",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                text = response.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def callflow_pid(self) -> int | None:
        proc = self.callflow.proc
        return proc.pid if proc is not None and proc.returncode is None else None


def refuse_if_running(name: str) -> None:
    """Refuse to start a bench whose sandbox name is taken (another bench's run), before
    anything that its clean-up would undo: that clean-up stops the sandbox by name, and
    stopped the other run's Asterisk (an hour-long soak lost at 35 minutes)."""
    running = Sandbox.load(name)
    if running is not None:
        raise SandboxError(
            f"sandbox {name!r} is already running (pid {running.pid}): another bench? "
            f"If not, 'callflow sandbox down --name {name}'"
        )


@contextlib.asynccontextmanager
async def rig(
    name: str,
    workdir: Path,
    *,
    leads: Sequence[str],
    progress: Progress,
    store: str = "sqlite",
) -> AsyncIterator[Rig]:
    """Start the sandbox, its PSTN, callflow with the bench config (its store a SQLite file,
    or a PostgreSQL server of the run's own: ``store``), the watch and the callers; stop
    everything after (callflow first, with SIGTERM)."""
    sandbox = Sandbox(name)
    pstn_box: Sandbox | None = None
    database: PostgresServer | None = None
    refuse_if_running(name)
    try:
        location = str(workdir / "callflow.sqlite3")
        if store == "postgresql":
            progress("starting a PostgreSQL server for the store")
            database = PostgresServer(workdir / "postgres")
            location = database.start()
        progress("starting the sandbox Asterisk and its PSTN")
        info = sandbox.up()
        pstn_box = start_pstn(name, read_plan())
        assert pstn_box.info is not None
        pstn = pstn_box.info
        connect(info, pstn)
        for box in (info, pstn):
            widen_rtp(box, RTP_PORTS)
        build_bench_prompts(info)
        api_port = _free_tcp_port()
        token = secrets.token_urlsafe(24)
        settings = write_settings(workdir, info, api_port, location)
        seed_store(location, leads)
        callflow = _Callflow(settings, info)
        os.environ[TOKEN_ENV] = token
        watch = PlaybackWatch(info)
        async with watch:
            await callflow.start(watch)
            try:
                callers = Callers(pstn, f"fz{secrets.token_hex(3)}")
                async with callers:
                    bench = Rig(
                        info, pstn, workdir, callflow, watch, callers, token, api_port, location
                    )
                    await _wait_metric(bench, "callflow_ari_connected", 1.0, 20)
                    await asyncio.sleep(2.0)  # the campaign and the queues settle
                    bench.idle_tasks = await least_tasks(bench) or 0
                    progress(
                        f"callflow pid {bench.callflow_pid()}, Asterisk pid {info.pid}, "
                        f"PSTN pid {pstn.pid}; {bench.idle_tasks} asyncio tasks when idle"
                    )
                    yield bench
            finally:
                await callflow.stop()
    finally:
        if pstn_box is not None:
            pstn_box.down()
        sandbox.down()
        if database is not None:
            database.stop()


async def _wait_metric(bench: Rig, name: str, value: float, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while bench.metric(name) != value:
        if loop.time() > deadline:
            raise RuntimeError(f"callflow's {name} is not {value} after {timeout:g} s")
        await asyncio.sleep(0.5)


async def place(
    bench: Rig,
    calls: Iterable[CallScript],
    *,
    concurrency: int,
    rate: float,
    until: float | None = None,
    progress: Progress,
    every: float = 60.0,
) -> None:
    """Keep up to ``concurrency`` callers going, started at most ``rate`` a second, until
    the scripts run out (or the loop time ``until``); then wait for the last to end."""
    loop = asyncio.get_running_loop()
    room = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()
    said = loop.time()
    tally = bench.callers.tally

    async def one(script: CallScript) -> None:
        try:
            await bench.callers.call(script)
        finally:
            room.release()

    try:
        for script in calls:
            if until is not None and loop.time() >= until:
                break
            await room.acquire()
            task = asyncio.create_task(one(script), name=f"caller-{script.index}")
            running.add(task)
            task.add_done_callback(running.discard)
            await asyncio.sleep(1.0 / rate)
            if loop.time() - said >= every:
                said = loop.time()
                progress(
                    f"{tally.placed} placed, {bench.callers.active} up, {tally.answered} "
                    f"answered, {tally.keys} keys, {tally.stuck} stuck"
                )
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    finally:
        for task in running:
            task.cancel()


# --- the end: drain, then check ------------------------------------------------------------


#: A lead at rest: final, or still ``ready`` in a stopped campaign (nothing dials it until
#: someone starts the campaign again: the drain stops it, as an operator ends a day).
_LEAD_NOT_AT_REST = (
    "state NOT IN ('done','failed','exhausted') AND NOT (state = 'ready' AND EXISTS"
    " (SELECT 1 FROM campaigns c WHERE c.name = campaign_leads.campaign"
    " AND c.state = 'stopped'))"
)


def _query(location: str, *queries: str) -> list[list[tuple[Any, ...]]]:
    """Each query's rows, read from the store as it is (not through callflow's writer): the
    SQLite file opened read-only, or the PostgreSQL database."""
    if is_postgres(location):
        import psycopg  # libpq only when used

        with psycopg.connect(location, autocommit=True) as pg:
            return [pg.execute(sql).fetchall() for sql in queries]
    db = sqlite3.connect(f"file:{location}?mode=ro", uri=True)
    try:
        return [db.execute(sql).fetchall() for sql in queries]
    finally:
        db.close()


def _store_rows(location: str) -> dict[str, int]:
    """Rows not in a final state, and the call.start/call.end problems, read from the store."""
    names = ("queue entries left", "callbacks not final", "leads not final", "attempts not ended")
    counts = _query(
        location,
        "SELECT count(*) FROM queue_entries",
        "SELECT count(*) FROM callbacks WHERE state NOT IN "
        "('completed','failed','expired','cancelled')",
        f"SELECT count(*) FROM campaign_leads WHERE {_LEAD_NOT_AT_REST}",  # noqa: S608
        "SELECT count(*) FROM campaign_attempts WHERE state != 'ended'",
    )
    return {name: int(rows[0][0]) for name, rows in zip(names, counts, strict=True)}


def _call_rows(location: str) -> list[tuple[str, str]]:
    [rows] = _query(
        location, "SELECT kind, call_id FROM event_log WHERE kind IN ('call.start','call.end')"
    )
    return [(str(k), str(c)) for k, c in rows]


def _figures(location: str) -> dict[str, int]:
    kinds, never = _query(
        location,
        "SELECT kind, count(*) FROM event_log WHERE kind IN ('queue.enter',"
        "'queue.connect','queue.abandon','callback.requested','callback.completed',"
        "'campaign.attempt') GROUP BY kind",
        "SELECT count(*) FROM campaign_leads WHERE state = 'ready' AND attempts = 0",
    )
    figures = {str(k): int(v) for k, v in kinds}
    figures["leads never dialed (campaign stopped)"] = int(never[0][0])
    return figures


def _stop_campaign(location: str) -> None:
    store = open_store(location)
    try:
        store.set_campaign_state(CAMPAIGN_NAME, "stopped")
    finally:
        store.close()


async def drain(bench: Rig, *, timeout: float, progress: Progress) -> float:
    """Stop the bench's campaign (its calls in progress go on; no lead is dialed any more:
    otherwise a campaign whose agents were busy with inbound callers all run long dials its
    last leads now, and the drain never ends), then wait until callflow's Asterisk holds no
    channel and no bridge and the store has no live callback, queue entry or lead (as
    callflow sees them); the seconds it took."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.to_thread(_stop_campaign, bench.store_location)
    while True:
        channels = await bench.watch.ari.channels.list()
        bridges = await bench.watch.ari.bridges.list()
        rows = await asyncio.to_thread(_store_rows, bench.store_location)
        if not channels and not bridges and not any(rows.values()):
            return loop.time() - began
        if loop.time() - began > timeout:
            progress(
                f"still not drained after {timeout:g} s: {len(channels)} channels, "
                f"{len(bridges)} bridges, {rows}"
            )
            return loop.time() - began
        await asyncio.sleep(2.0)


TASK_SAMPLES = 5


async def least_tasks(bench: Rig) -> int | None:
    """callflow's asyncio tasks now: the least of a few samples a second apart, so that a
    task alive for a moment (a scrape, a pacing round) is not taken for a leak."""
    seen: list[int] = []
    for i in range(TASK_SAMPLES):
        if i:
            await asyncio.sleep(1.0)
        value = await asyncio.to_thread(bench.metric, "callflow_asyncio_tasks")
        if value is not None:
            seen.append(int(value))
    return min(seen) if seen else None


async def leak_checks(bench: Rig, calls_answered: int, calls_placed: int) -> list[Check]:
    """The checks that need callflow still running (ARI, tasks), then callflow stopped
    (SIGTERM) and the ones read from its store and log."""
    channels = await bench.watch.ari.channels.list()
    bridges = await bench.watch.ari.bridges.list()
    counted = rx(bench.info, "core show channels count")
    active = re.search(r"(\d+) active channel", counted)
    tasks = await least_tasks(bench)
    checks = [
        Check("channels left (ARI)", len(channels), detail=_names(c.name for c in channels)),
        Check("bridges left (ARI)", len(bridges), detail=_names(b.id for b in bridges)),
        Check(
            "channels left (core show channels)",
            int(active.group(1)) if active else -1,
            detail="" if active else f"unreadable: {counted.strip()[:60]}",
        ),
        Check(
            "playbacks left",
            len(bench.watch.playing),
            detail=f"of {bench.watch.started} started",
        ),
        Check(
            "asyncio tasks beyond idle",
            -1 if tasks is None else max(0, int(tasks) - bench.idle_tasks),
            detail=f"{bench.idle_tasks} idle, {tasks} now (least of {TASK_SAMPLES} samples)",
        ),
    ]
    await bench.callflow.stop()
    rows = await asyncio.to_thread(_store_rows, bench.store_location)
    checks += [Check(name, found) for name, found in rows.items()]
    lines = bench.callflow.log.read_text(errors="replace").splitlines()
    errors, tracebacks = log_problems(lines)
    checks.append(Check("ERROR lines in callflow's log", len(errors), detail=_names(errors)))
    checks.append(Check("tracebacks in callflow's log", tracebacks))
    calls, bad = start_end_problems(await asyncio.to_thread(_call_rows, bench.store_location))
    checks.append(
        Check(
            "calls without 1 call.start + 1 call.end",
            len(bad),
            detail=f"of {calls} call ids; " + _names(bad),
        )
    )
    # Every call the center answered went through the flow: as many call ids, or more
    # (a caller who hung up as it was answered), never more than were placed.
    short = max(0, calls_answered - calls) + max(0, calls - calls_placed)
    checks.append(
        Check(
            "call ids outside answered..placed",
            short,
            detail=f"{calls} ids, {calls_answered} answered, {calls_placed} placed",
        )
    )
    return checks


def _names(items: Iterable[str], most: int = 3) -> str:
    listed = list(items)
    shown = "; ".join(x[:80] for x in listed[:most])
    return shown + (f" (+{len(listed) - most})" if len(listed) > most else "")


def figures_rows(bench: Rig) -> list[tuple[str, int]]:
    """What went on: the callers' tally and the store's counts of queue, callback and
    campaign events."""
    kinds = _figures(bench.store_location)
    return [
        *bench.callers.tally.rows(),
        ("playbacks started", bench.watch.started),
        *[(kind, kinds.get(kind, 0)) for kind in sorted(kinds)],
    ]


def format_figures(rows: Sequence[tuple[str, int]]) -> list[str]:
    return _table(("what", "count"), [(name, str(n)) for name, n in rows])


@contextlib.contextmanager
def work_folder(given: Path | None, prefix: str) -> Iterator[Path]:
    """The folder for callflow's settings, store and log: ``given`` (kept after the run,
    to read the log and the store), or a temporary one."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given.resolve()
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


class Outcome(Protocol):
    """What a run gives back: its table, its JSON lines and its verdict."""

    def lines(self) -> list[str]: ...

    def json_lines(self) -> list[str]: ...

    def passed(self) -> bool: ...


def run_command(
    bench: str,
    run: Callable[[Path, Progress], Coroutine[Any, Any, Outcome]],
    *,
    workdir: Path | None,
    as_json: bool,
    write: Callable[[str], None] = print,
) -> int:
    """Run one bench in ``workdir`` (or a temporary folder), progress on stderr, the table
    (or JSON lines) written; 0 if it passed, 1 if not or if it could not run, 130 if
    interrupted. SIGTERM interrupts as Ctrl-C does, so that the rig is always stopped."""
    logs.configure("warning")

    def progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with work_folder(workdir, f"callflow-bench-{bench}-") as folder:
            result = asyncio.run(run(folder, progress))
    except KeyboardInterrupt:
        print(f"callflow bench {bench}: interrupted", file=sys.stderr)
        return 130
    except (SandboxError, RootfsError, TimeoutError, RuntimeError, OSError) as exc:
        print(f"callflow bench {bench}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    for line in result.json_lines() if as_json else result.lines():
        write(line)
    return 0 if result.passed() else 1


def now_utc() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
