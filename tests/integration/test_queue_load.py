"""Real queues held cheaply: announcements on time, shared music, orphans reaped."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import wave
from array import array
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from callflow.ari.config import AriConfig
from callflow.ari.events import Event, PlaybackFinished, PlaybackStarted, StasisStart
from callflow.ari.stream import EventStream
from callflow.queue import live as queue_live
from callflow.sandbox import SandboxInfo
from callflow.sandbox.instance import rx
from tests.integration.conftest import AppFactory, PhoneFactory, ari_get, wait_for_events

pytestmark = pytest.mark.asterisk

HERE = Path(__file__).parent
FLOW = HERE / "flows" / "queues.yaml"
QUEUES = HERE / "queues.yaml"


@pytest.fixture
def bridge_music(asterisk: SandboxInfo) -> None:
    """Asterisk can play music to a whole bridge: its Announcer channel type is loaded."""
    # Without it a holding bridge cannot have music of its own (500 "Allocation failed")
    # and callflow falls back to per-caller MOH; an Asterisk started from an older
    # modules.conf may lack it.
    rx(asterisk, "module load chan_bridge_media.so")
    assert "chan_bridge_media.so" in rx(asterisk, "module show like chan_bridge_media")


def queues_every(tmp_path: Path, frequency: int) -> Path:
    """The test queues, with the support queue announcing every ``frequency`` seconds."""
    text = QUEUES.read_text()
    old = "      frequency: 30\n      min_frequency: 10\n"
    assert old in text
    path = tmp_path / "queues.yaml"
    path.write_text(text.replace(old, f"      frequency: {frequency}\n      min_frequency: 5\n"))
    return path


@dataclass
class Observer:
    """Every event Asterisk sends about every channel, to a second app (subscribeAll)."""

    events: list[Event] = field(default_factory=list)

    def playbacks(self, kind: type[Event], channel: str) -> list[Event]:
        return [
            e for e in self.events if isinstance(e, kind) and channel in e.channel_ids()
        ]


@contextlib.asynccontextmanager
async def observe(asterisk: SandboxInfo) -> AsyncIterator[Observer]:
    config = AriConfig(
        base_url=asterisk.ari_url,
        username=asterisk.ari_user,
        password=asterisk.ari_password,
        apps=("observer",),
        subscribe_all=True,
    )
    stream = EventStream(config)
    observer = Observer()
    connected = asyncio.Event()

    async def read() -> None:
        async for item in stream:
            if isinstance(item, Event):
                observer.events.append(item)
            else:
                connected.set()

    task = asyncio.create_task(read())
    try:
        async with asyncio.timeout(10):
            await connected.wait()
        yield observer
    finally:
        await stream.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def voiced_share(path: Path, start: float, end: float, threshold: int = 300) -> float:
    """The share of 20 ms frames louder than ``threshold`` between two offsets (s)."""
    with wave.open(str(path), "rb") as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        samples = array("h")
        samples.frombytes(wav.readframes(wav.getnframes()))
    frame = rate * channels // 50
    first, last = int(start * rate) * channels, int(end * rate) * channels
    frames = [samples[i : i + frame] for i in range(first, min(last, len(samples)), frame)]
    loud = sum(1 for f in frames if f and (sum(s * s for s in f) / len(f)) ** 0.5 > threshold)
    return loud / max(1, len(frames))


async def test_periodic_announcements_keep_their_period_and_the_music_comes_back(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    tmp_path: Path,
    bridge_music: None,
    no_leaks: None,
) -> None:
    """With frequency 10, a waiting caller's announcements start 10 s +- 1 s apart by
    Asterisk's own PlaybackStarted times (the prompt's length is not added), and between
    them the caller hears the queue's shared music again."""
    log_start = asterisk.log_file.stat().st_size
    app = await start_app([FLOW], queues=queues_every(tmp_path, 10))
    caller = await phones("caller1")
    async with observe(asterisk) as observer:
        mark = caller.mark()
        await caller.dial("300")
        await caller.wait_event("CALL_ESTABLISHED", since=mark)
        established = asyncio.get_running_loop().time()
        await wait_for_events(app, "queue.enter")
        call_id = app.store.events(kind="queue.enter")[0].call_id
        await wait_for_events(app, "queue.announce", count=4, timeout=60)
        async with asyncio.timeout(20):
            while len(observer.playbacks(PlaybackFinished, call_id)) < 4:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        finished_at = asyncio.get_running_loop().time()
        await asyncio.sleep(3.0)  # music, after the fourth announcement
        await caller.hangup()
        hung_up_at = asyncio.get_running_loop().time()
        await caller.wait_event("CALL_CLOSED", since=mark)

    first_started: dict[str, object] = {}  # each announcement's playback: its first start
    for e in observer.playbacks(PlaybackStarted, call_id):
        if isinstance(e, PlaybackStarted):
            first_started.setdefault(e.playback.id, e.timestamp)
    starts = list(first_started.values())
    assert len(starts) >= 4 and all(t is not None for t in starts)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]  # type: ignore[operator]
    assert all(9.0 <= gap <= 11.0 for gap in gaps), gaps
    # The music was the bridge's (its announcer channel), never the caller's own MOH.
    with asterisk.log_file.open(errors="replace") as file:
        file.seek(log_start)
        log = file.read()
    assert "Started music on hold, class 'default', on channel 'Announcer/ARI_MOH" in log
    assert "on hold, class 'default', on channel 'PJSIP/caller1" not in log
    heard = await caller.recording()
    assert heard is not None
    end = hung_up_at - established
    music = voiced_share(heard, finished_at - established + 0.5, end - 0.3)
    assert music > 0.8, music


async def test_a_full_holding_bridge_opens_another_with_its_own_music(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    bridge_music: None,
    no_leaks: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With one caller per holding bridge at most, a second caller of the same queue waits
    in a second bridge with its own shared music (an Announcer each); the first bridge goes
    when its caller hangs up, and the second stays for the caller still waiting."""
    monkeypatch.setattr(queue_live, "HOLDING_SHARE", 1)
    app = await start_app([FLOW], queues=QUEUES)

    def holding() -> dict[str, list[str]]:
        found = ari_get(asterisk, "bridges")
        return {b["id"]: b["channels"] for b in found if b["bridge_type"] == "holding"}

    callers = [await phones("caller1"), await phones("caller2")]
    marks = [caller.mark() for caller in callers]
    for n, caller in enumerate(callers, 1):
        await caller.dial("300")
        await caller.wait_event("CALL_ESTABLISHED", since=marks[n - 1])
        await wait_for_events(app, "queue.enter", count=n)
    ids = [e.call_id for e in app.store.events(kind="queue.enter")]
    async with asyncio.timeout(10):
        while sorted(c for cs in holding().values() for c in cs if c in ids) != sorted(ids):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    bridges = holding()
    assert len(bridges) == 2
    assert all(len([c for c in channels if c in ids]) == 1 for channels in bridges.values())
    first = next(b for b, channels in bridges.items() if ids[0] in channels)
    channels = rx(asterisk, "core show channels concise").splitlines()
    announcers = {line.split("!")[0].split(";")[0] for line in channels}  # pairs: ;1 ;2
    assert len({name for name in announcers if name.startswith("Announcer/")}) == 2

    await callers[0].hangup()
    await callers[0].wait_event("CALL_CLOSED", since=marks[0])
    async with asyncio.timeout(10):
        while first in holding():  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert [channels for channels in holding().values()] == [[ids[1]]]
    await callers[1].hangup()
    await callers[1].wait_event("CALL_CLOSED", since=marks[1])


async def test_reconciliation_reaps_an_orphan_and_ends_a_call_whose_channel_is_gone(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A caller whose StasisStart callflow never read stays in the app unknown: the
    reconciler hangs the channel up once the grace is over. A waiting caller whose hang-up
    events were all lost is ended by the reconciler (its call.end written once)."""
    app = await start_app([FLOW], queues=QUEUES)
    reconciler = app.service.reconciler
    assert reconciler is not None
    reconciler.grace = 1.0
    dispatcher = app.service._dispatcher
    dispatch = dispatcher.dispatch
    dropped: set[str] = set()
    lose_next_start = True

    def lossy(event: Event) -> None:
        nonlocal lose_next_start
        if isinstance(event, StasisStart) and lose_next_start:
            lose_next_start = False
            dropped.add(event.channel.id)
        if dropped.intersection(event.channel_ids()):
            return  # the event is lost on its way to callflow
        dispatch(event)

    dispatcher.dispatch = lossy  # type: ignore[method-assign]

    orphan_phone = await phones("caller1")
    mark = orphan_phone.mark()
    await orphan_phone.dial("300")
    async with asyncio.timeout(10):
        while not dropped:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    [orphan] = dropped
    decision = await reconciler.round()
    assert orphan in decision.suspects
    await asyncio.sleep(1.0)
    decision = await reconciler.round()
    assert [c.id for c in decision.orphans] == [orphan]
    await orphan_phone.wait_event("CALL_CLOSED", since=mark)
    assert orphan not in {c["id"] for c in ari_get(asterisk, "channels")}
    assert not app.store.events(call_id=orphan)

    caller = await phones("caller2")
    mark = caller.mark()
    await caller.dial("300")
    await caller.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "queue.enter")
    call_id = app.store.events(kind="queue.enter")[-1].call_id
    async with asyncio.timeout(10):  # waiting: in the holding bridge, with its music
        while not any(call_id in b["channels"] for b in ari_get(asterisk, "bridges")):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    dropped.add(call_id)  # from now on, nothing of this channel reaches callflow
    await caller.hangup()
    await caller.wait_event("CALL_CLOSED", since=mark)
    async with asyncio.timeout(10):
        while call_id in {c["id"] for c in ari_get(asterisk, "channels")}:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert call_id in app.service.calls  # callflow still thinks the caller waits
    decision = await reconciler.round()
    assert decision.vanished == () and call_id in decision.missing  # missed once: grace
    await asyncio.sleep(1.0)
    decision = await reconciler.round()
    assert decision.vanished == (call_id,)
    await wait_for_events(app, "call.end", call_id=call_id)
    await asyncio.sleep(1.0)
    assert len(app.store.events(kind="call.end", call_id=call_id)) == 1
    assert len(app.store.events(kind="queue.abandon", call_id=call_id)) == 1
    assert (reconciler.reaped, reconciler.ended) == (1, 1)


async def test_a_customer_back_from_amd_whose_dial_was_given_up_is_hung_up_not_served(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A dialled customer comes back from the dialplan's AMD as Stasis(app,outbound,HUMAN,..)
    after its callback or campaign gave the dial up (the agent hung up meanwhile): nobody
    waits for it, and it is hung up, never taken for a caller (before: 'no flow serves
    HUMAN', answered with ss-noservice)."""
    app = await start_app([FLOW], queues=QUEUES)
    customer = await phones("caller1", auto_answer=True)
    mark = customer.mark()
    channel = f"orphan-outbound-{id(app)}"
    await app.service.ari.channels.originate(
        "PJSIP/caller1",
        app=app.service.config.apps[0],
        app_args="outbound,HUMAN,HUMAN-1000-1000",
        channel_id=channel,
    )
    await customer.wait_event("CALL_ESTABLISHED", since=mark, timeout=20)
    await customer.wait_event("CALL_CLOSED", since=mark, timeout=20)
    async with asyncio.timeout(10):
        while channel in {c["id"] for c in ari_get(asterisk, "channels")}:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert not app.store.events(call_id=channel)
    assert not app.store.events(kind="call.rejected")
