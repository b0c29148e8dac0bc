"""Faults on real calls: Asterisk restarted under load, the store's disk full or read-only,
ARI answering 5xx or slowly (through callflow.testing.faultproxy in front of the real
Asterisk). Each test prints its figures on a ``FAULTS {json}`` line (run with ``-s``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import json
import logging
import os
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from callflow.app.main import App
from callflow.app.settings import AriSettings, Settings
from callflow.ari import AriClient, AriError
from callflow.flow.loader import load_flow
from callflow.kpi.log import read_log
from callflow.prompts import build_prompts
from callflow.prompts.build import Speaks
from callflow.queue.config import load_queues
from callflow.sandbox import Sandbox, SandboxInfo
from callflow.sandbox.pstn import connect, read_plan, start_pstn
from callflow.testing.audio import measure
from callflow.testing.faultproxy import FaultProxy, Faults
from callflow.testing.softphone import SipServer, Softphone
from tests.integration.conftest import SAMPLE_FLOW, ari_client, leaks, wait_for_events
from tests.integration.test_queues import QUEUES

pytestmark = pytest.mark.asterisk

RECOVERY_FLOW = QUEUES.parent / "flows" / "recovery.yaml"
LOAD_CALLERS = 36  # callers from the PSTN: two thirds waiting in the queue, a third in a menu
RESTART_GOAL = 5.0  # seconds from Asterisk answering again to callflow connected and resynced


def figures(test: str, **values: Any) -> None:
    """Print one test's figures for the note (``pytest -s``)."""
    print("FAULTS", json.dumps({"test": test, **values}, default=str))


async def start_callflow(
    info: SandboxInfo,
    store: Path,
    *,
    ari_url: str | None = None,
    flows: Sequence[Path] = (SAMPLE_FLOW,),
    queues: Path | None = None,
    request_timeout: float = 10.0,
) -> tuple[App, asyncio.Task[None]]:
    """callflow in this process against ``info``'s Asterisk (or a proxy in front of it)."""
    settings = Settings(
        ari=AriSettings(
            url=ari_url or info.ari_url,
            username=info.ari_user,
            password=info.ari_password,
            app=info.app,
            request_timeout=request_timeout,
        ),
        flows=tuple(flows),
        store=store,
        sounds_dir=info.sounds_dir,
        queues=queues,
    )
    parsed: list[Speaks] = [flow for path in flows if (flow := load_flow(str(path))[0])]
    if queues is not None and (center := load_queues(str(queues))[0]) is not None:
        parsed.append(center)
    build_prompts(parsed, info.sounds_dir)
    app = App(settings)
    assert app.load_flows().applied
    task = asyncio.create_task(app.run(install_signals=False))
    async with asyncio.timeout(20):
        await app.service.recovered.wait()
    return app, task


async def stop_callflow(app: App, task: asyncio.Task[None]) -> None:
    await app.stop()
    await task


def ends_per_call(app: App) -> Counter[str]:
    """How many call.end each started call has."""
    ends = Counter(e.call_id for e in app.store.events(kind="call.end"))
    return Counter({e.call_id: ends[e.call_id] for e in app.store.events(kind="call.start")})


def new_starts(app: App, known: set[str]) -> list[Any]:
    return [e for e in app.store.events(kind="call.start") if e.call_id not in known]


async def digits_call(app: App, phone: Softphone, number: str = "700") -> tuple[str, str]:
    """Dial 700 (the sample flow's digits test; 320 in the recovery flow), press 1 2 3 # once
    the prompt has played, wait for the end: the call's id and its outcome
    (``hangup:flow_finished`` when the digits were read back)."""
    known = {e.call_id for e in app.store.events(kind="call.start")}
    mark = phone.mark()
    await phone.dial(number)
    async with asyncio.timeout(30):
        while not (started := new_starts(app, known)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    call_id = started[0].call_id
    async with asyncio.timeout(40):
        while not app.store.events(call_id=call_id, kind="call.end"):
            if app.store.events(call_id=call_id, kind="call.playback") and not any(
                e.get("type") == "CALL_CLOSED" for e in phone.events[mark:]
            ):
                await phone.send_dtmf("123#")
                break
            await asyncio.sleep(0.05)
        while not app.store.events(call_id=call_id, kind="call.end"):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    with contextlib.suppress(Exception):
        await phone.wait_event("CALL_CLOSED", since=mark, timeout=10)
    [end] = app.store.events(call_id=call_id, kind="call.end")
    return call_id, str(end.data["outcome"])


async def digits_call_by_ear(app: App, phone: Softphone) -> float:
    """The same call, followed without the store (which shows nothing new while its disk
    refuses writes): keys pressed once a prompt plays; how many seconds of voice were heard."""
    mark = phone.mark()
    await phone.dial("700")
    await phone.wait_event("CALL_ESTABLISHED", since=mark, timeout=20)
    async with asyncio.timeout(20):
        while not any(getattr(call, "playing", ()) for call in app.service.calls.values()):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    await phone.send_dtmf("123#")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=40)
    recording = await phone.recording()
    return measure(recording).voiced_seconds if recording is not None else 0.0


async def no_leaks_within(info: SandboxInfo, timeout: float = 10.0) -> None:
    """Asterisk ends up holding no channel and no bridge."""
    async with asyncio.timeout(timeout):
        while any(await asyncio.to_thread(leaks, info)):  # noqa: ASYNC110
            await asyncio.sleep(0.1)


@pytest.fixture
async def caller(asterisk: SandboxInfo, tmp_path: Path) -> AsyncIterator[Softphone]:
    phone_def = asterisk.phone("caller5")
    server = SipServer(asterisk.bind, asterisk.sip_port)
    async with Softphone(phone_def.name, phone_def.password, server, tmp_path / "c5") as phone:
        yield phone


# --- ARI answering 5xx or slowly ------------------------------------------------------------


@pytest.mark.parametrize(("share", "after"), [(0.15, False), (0.3, False), (0.15, True)])
async def test_calls_through_an_ari_answering_5xx_end_cleanly_each_once(
    asterisk: SandboxInfo, caller: Softphone, tmp_path: Path, share: float, after: bool
) -> None:
    """With a share of ARI requests answered 503 (before Asterisk saw them, or after it acted),
    each call either completes or is ended cleanly: exactly one call.end, and Asterisk is left
    with no channel and no bridge; reads and repeatable commands were retried."""
    calls = 6
    async with FaultProxy(asterisk.ari_url, seed=7) as proxy:
        app, task = await start_callflow(
            asterisk, tmp_path / "store.sqlite3", ari_url=proxy.base_url
        )
        try:
            proxy.faults = Faults(error_share=share, errors_after=after)
            outcomes = [(await digits_call(app, caller))[1] for _ in range(calls)]
            proxy.faults = Faults()
            await no_leaks_within(asterisk)
            ends = ends_per_call(app)
        finally:
            await stop_callflow(app, task)
    assert set(ends.values()) == {1}, ends
    assert proxy.seen["errors_before" if not after else "errors_after"] > 0
    completed = outcomes.count("hangup:flow_finished")
    figures(
        "ari_5xx",
        share=share,
        errors_after=after,
        calls=calls,
        completed=completed,
        outcomes=dict(Counter(outcomes)),
        requests=proxy.seen["requests"],
        injected={k: v for k, v in proxy.seen.items() if k.startswith("errors ")},
    )


async def test_a_slow_ari_for_one_call_does_not_stall_another(
    asterisk: SandboxInfo, tmp_path: Path
) -> None:
    """While every request about one caller's channel is answered 3 s late (its digits read
    back slowly), another caller goes through the whole flow and ends first: calls do not
    wait for each other."""
    phones: list[Softphone] = []
    server = SipServer(asterisk.bind, asterisk.sip_port)
    async with contextlib.AsyncExitStack() as stack, FaultProxy(asterisk.ari_url) as proxy:
        for name in ("caller6", "caller7"):
            phone_def = asterisk.phone(name)
            phone = Softphone(name, phone_def.password, server, tmp_path / name)
            phones.append(await stack.enter_async_context(phone))
        app, task = await start_callflow(
            asterisk, tmp_path / "store.sqlite3", ari_url=proxy.base_url
        )
        try:
            slow_phone, quick_phone = phones
            mark = slow_phone.mark()
            await slow_phone.dial("700")
            await slow_phone.wait_event("CALL_ESTABLISHED", since=mark, timeout=20)
            [slow] = app.store.events(kind="call.start")
            await wait_for_events(app, "call.playback", call_id=slow.call_id)
            proxy.faults = Faults(delay=3.0, only=lambda method, path: slow.call_id in path)
            started = time.monotonic()
            # The slow caller's keys make its call read them back: each request 3 s late.
            keys = asyncio.create_task(slow_phone.send_dtmf("123#"))
            quick_id, outcome = await digits_call(app, quick_phone)
            quick_took = time.monotonic() - started
            await keys
            await wait_for_events(app, "call.end", call_id=slow.call_id, timeout=60)
            slow_delayed = proxy.seen["delayed"]
            proxy.faults = Faults()
            await no_leaks_within(asterisk)
            [quick_end] = app.store.events(call_id=quick_id, kind="call.end")
            [slow_end] = app.store.events(call_id=slow.call_id, kind="call.end")
            ends = ends_per_call(app)
        finally:
            await stop_callflow(app, task)
    assert outcome == "hangup:flow_finished"
    assert slow_delayed > 0
    assert quick_end.id < slow_end.id and set(ends.values()) == {1}
    figures("ari_slow", delay=3.0, slow_requests=slow_delayed, quick_call_seconds=quick_took)


async def test_a_holding_bridge_asterisk_refuses_lets_the_caller_go_on_in_the_flow(
    asterisk: SandboxInfo, tmp_path: Path
) -> None:
    """Every request to put a caller in a queue's holding bridge answered 503: the caller who
    dials the queue joins it (queue.enter), leaves it with a queue.exit of reason
    ``unavailable`` (no abandon: they did not hang up), hears the flow's on_failure node
    (goodbye), and the call ends once; the KPIs count the visit lost, not abandoned."""
    server = SipServer(asterisk.bind, asterisk.sip_port)
    queues_flow = QUEUES.parent / "flows" / "queues.yaml"
    async with contextlib.AsyncExitStack() as stack, FaultProxy(asterisk.ari_url) as proxy:
        phone = Softphone("caller5", asterisk.phone("caller5").password, server, tmp_path / "p")
        await stack.enter_async_context(phone)
        app, task = await start_callflow(
            asterisk,
            tmp_path / "store.sqlite3",
            ari_url=proxy.base_url,
            flows=(queues_flow,),
            queues=QUEUES,
        )
        try:
            proxy.faults = Faults(
                error_share=1.0,
                only=lambda method, path: (
                    method == "POST" and "/bridges/callflow-queue-" in path and "addChannel" in path
                ),
            )
            mark = phone.mark()
            await phone.dial("300")
            await phone.wait_event("CALL_CLOSED", since=mark, timeout=30)
            await wait_for_events(app, "call.end")
            refused = proxy.seen["errors_before"]
            proxy.faults = Faults()
            await no_leaks_within(asterisk)
            [start] = app.store.events(kind="call.start")
            kinds = [e.kind for e in app.store.events(call_id=start.call_id)]
            [exit_] = app.store.events(kind="queue.exit")
            steps = [
                (e.data["node"], e.data["outcome"])
                for e in app.store.events(call_id=start.call_id, kind="flow.step")
            ]
            facts = read_log(app.store.events(), dt.datetime.now(dt.UTC))
        finally:
            await stop_callflow(app, task)
    assert refused >= 1, proxy.seen
    assert "queue.enter" in kinds and "queue.abandon" not in kinds, kinds
    assert exit_.data["reason"] == "unavailable" and exit_.data["queue"] == "support", exit_
    assert ("support", "failed: queue_unavailable") in steps, steps
    assert steps[-1][0] == "goodbye", steps
    assert kinds.count("call.end") == 1, kinds
    [visit] = facts.visits
    assert (visit.queue, visit.outcome, visit.reason) == ("support", "lost", "unavailable"), visit
    figures("holding_refused", refused=refused, exit=exit_.data)


# --- the store's disk full or read-only ------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB ext4 file system, loop-mounted, for the store alone; on an error the kernel
    remounts it read-only (errors=remount-ro), as a failing disk does."""
    image, mount = tmp_path / "disk.img", tmp_path / "disk"
    mount.mkdir()
    with image.open("wb") as file:
        file.truncate(16 * 2**20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    options = "loop,errors=remount-ro"
    subprocess.run(["mount", "-o", options, str(image), str(mount)], check=True)
    try:
        yield mount
    finally:
        files = [str(p) for p in mount.glob("store.sqlite3*")]
        subprocess.run(["chattr", "-i", *files], check=False)
        subprocess.run(["umount", str(mount)], check=False)


def chattr(flag: str, files: list[str]) -> None:
    subprocess.run(["chattr", flag, *files], check=True)


def fill(disk: Path) -> Path:
    """Take every free block of the file system (root's reserve too)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (2**20, 2**12, 2**9):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
    return filler


async def test_a_full_or_read_only_store_disk_does_not_stop_calls(
    asterisk: SandboxInfo, caller: Softphone, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the store's disk full, then its files made read-only (chattr +i: write() is
    refused on the open files, as on a read-only file system), callers still get the flow;
    the fault is logged at ERROR once per fault, not per write; /metrics' health says so;
    once the disk is back every held event is committed, the call has its call.end once and
    SQLite's integrity check passes."""
    caplog.set_level(logging.INFO, "callflow.store")
    store_path = small_disk / "store.sqlite3"
    app, task = await start_callflow(asterisk, store_path)
    results: dict[str, Any] = {}
    try:
        for fault in ("disk_full", "read_only"):
            await asyncio.to_thread(app.store.flush)
            errors_before = sum(r.levelno >= logging.ERROR for r in caplog.records)
            if fault == "disk_full":
                filler = await asyncio.to_thread(fill, small_disk)
            else:
                # Not the -shm file: SQLite maps it, and a refused write there is a SIGBUS.
                files = [str(store_path), f"{store_path}-wal"]
                await asyncio.to_thread(chattr, "+i", files)
            known = {e.call_id for e in app.store.events(kind="call.start")}
            heard = await digits_call_by_ear(app, caller)
            health = app.store.health
            assert not health.writable and health.held > 0, health
            logged = [r.getMessage() for r in caplog.records[:] if r.levelno >= logging.ERROR]
            new_errors = len(logged) - errors_before
            if fault == "disk_full":
                filler.unlink()
            else:
                await asyncio.to_thread(chattr, "-i", files)
            async with asyncio.timeout(10):
                while not app.store.health.writable:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            [call_id] = [e.call_id for e in new_starts(app, known)]
            [end] = app.store.events(call_id=call_id, kind="call.end")
            steps = app.store.events(call_id=call_id, kind="flow.step")
            outcome = end.data["outcome"]
            assert outcome == "hangup:flow_finished" and len(steps) == 3 and heard > 2.0
            assert new_errors == 1, logged[errors_before:]
            results[fault] = {
                "outcome": outcome,
                "heard_s": round(heard, 2),
                "held": health.held,
                "error": health.error,
                "errors_logged": new_errors,
            }
        ends = ends_per_call(app)
    finally:
        await stop_callflow(app, task)
    db = sqlite3.connect(store_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()
    assert set(ends.values()) == {1}, ends
    figures("store_faults", **results, integrity="ok")


# --- Asterisk restarted under load -----------------------------------------------------------


@pytest.fixture
def center(asterisk: SandboxInfo) -> Iterator[tuple[Sandbox, SandboxInfo]]:
    """An Asterisk of this test's own (to restart) and a PSTN joined to it by the trunk."""
    name = f"pytest-faults-{os.getpid()}"
    sandbox = Sandbox(name)
    sandbox.up()
    pstn: Sandbox | None = None
    try:
        pstn = start_pstn(name, read_plan())
        assert sandbox.info is not None and pstn.info is not None
        connect(sandbox.info, pstn.info)
        yield sandbox, pstn.info
    finally:
        if pstn is not None:
            pstn.down()
        sandbox.down()


async def place_callers(pstn: AriClient, count: int, round_: int) -> list[str]:
    """``count`` people on the PSTN call the contact center: 300 (the support queue) for two
    in three, 310 (a menu) for the others; each talks (echo) until hung up."""
    ids = []
    for n in range(count):
        number = "310" if n % 3 == 2 else "300"
        channel = await pstn.channels.originate(
            f"PJSIP/{number}@callflow",
            context="pstn-person",
            extension="s",
            caller_id=f"+1555030{round_:02d}{n:02d}",
        )
        ids.append(channel.id)
    return ids


@pytest.mark.parametrize("crash", [True, False], ids=["crash", "graceful"])
async def test_asterisk_restarted_under_load(
    center: tuple[Sandbox, SandboxInfo], tmp_path: Path, crash: bool
) -> None:
    """With 36 PSTN callers in the queue and a menu, callflow's Asterisk is restarted (killed,
    or stopped) twice: callflow is connected and resynced within 5 s of Asterisk answering
    again, every call of the old Asterisk is ended exactly once, as lost (never as the
    caller's hang-up, never an abandon), no queue entry is left waiting, and a new caller
    goes through a flow and hears the digits back."""
    sandbox, pstn = center
    info = sandbox.info
    assert info is not None
    phone_def = info.phone("caller1")
    phone = Softphone(
        phone_def.name, phone_def.password, SipServer(info.bind, info.sip_port), tmp_path / "p"
    )
    await phone.start()
    app, task = await start_callflow(
        info, tmp_path / "store.sqlite3", flows=(RECOVERY_FLOW,), queues=QUEUES
    )
    rounds: list[dict[str, Any]] = []
    try:
        async with ari_client(pstn) as outside:
            for round_ in range(2):
                started_before = len(app.store.events(kind="call.start"))
                await place_callers(outside, LOAD_CALLERS, round_)
                await wait_for_events(
                    app, "call.start", count=started_before + LOAD_CALLERS, timeout=60
                )
                await wait_for_events(app, "flow.wait", count=1, timeout=30)
                waiting = len(app.store.queue_entries())
                ready = app.service.ready
                reconnected: list[float] = []

                async def watch(
                    ready: asyncio.Event = ready, out: list[float] = reconnected
                ) -> None:
                    while ready.is_set():  # noqa: ASYNC110
                        await asyncio.sleep(0.005)
                    await ready.wait()
                    out.append(time.monotonic())

                watcher = asyncio.create_task(watch())
                await asyncio.to_thread(sandbox.restart, crash=crash)
                answered = time.monotonic()  # restart() returns once ARI answers again
                async with asyncio.timeout(30):
                    await watcher
                    await app.service.recovered.wait()
                reconnect = reconnected[0] - answered
                async with asyncio.timeout(30):
                    while min(ends_per_call(app).values()) == 0:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                outcomes = Counter(
                    str(e.data["outcome"]) for e in app.store.events(kind="call.end")
                )
                # The PSTN's side of the old calls (a crashed Asterisk sent no BYE).
                for channel in await outside.channels.list():
                    with contextlib.suppress(AriError):
                        await outside.channels.hangup(channel.id)
                new_id, digits_outcome = await digits_call(app, phone, "320")
                typed = [
                    e.data.get("input")
                    for e in app.store.events(call_id=new_id, kind="flow.step")
                    if e.data.get("node") == "short_prompt"
                ]
                recording = await phone.recording()
                heard = measure(recording).voiced_seconds if recording is not None else 0.0
                rounds.append(
                    {
                        "reconnect_s": round(reconnect, 3),
                        "queued_at_restart": waiting,
                        "ends": dict(outcomes),
                        "new_call": digits_outcome,
                        "typed": typed,
                        "heard_s": round(heard, 2),
                    }
                )
                assert reconnect <= RESTART_GOAL, rounds
                assert set(ends_per_call(app).values()) == {1}, rounds
                assert app.store.queue_entries() == [], rounds
                # Asterisk ended the old calls, not their callers (a crash, or its stop's
                # soft hang-ups): lost, and not one abandon in the KPIs.
                assert outcomes["lost"] == LOAD_CALLERS * (round_ + 1), rounds
                assert outcomes["caller_hangup"] == 0, rounds
                assert not app.store.events(kind="queue.abandon"), rounds
                assert typed == ["123"] and digits_outcome.startswith("hangup:"), rounds
                assert heard > 1.0, rounds  # hello-world and the digits read back
    except BaseException:
        print("OWN ASTERISK LOG\n", info.log_tail(80), "\nPHONE\n", phone.log_tail(40))
        raise
    finally:
        try:
            await stop_callflow(app, task)
        finally:
            await phone.stop()  # even when stopping callflow failed
    assert app.queues is not None
    router = app.queues.router
    assert not [e.id for name in router.queues for e in router.entries(name)], "left waiting"
    figures("asterisk_restart", crash=crash, callers=LOAD_CALLERS, rounds=rounds)


async def test_a_store_disk_the_kernel_remounts_read_only_does_not_stop_calls(
    asterisk: SandboxInfo, caller: Softphone, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`mount -o remount,ro` is refused while the store's files are open for writing (EBUSY),
    so the read-only switch is the kernel's own (an ext4 error, errors=remount-ro): callers
    still get the flow, the fault is logged at ERROR once; stopping callflow logs the held
    writes as lost; everything committed before is intact (fsck clean, integrity_check ok)."""
    caplog.set_level(logging.INFO, "callflow.store")
    store_path = small_disk / "store.sqlite3"
    app, task = await start_callflow(asterisk, store_path)
    try:
        before_id, before = await digits_call(app, caller)
        await asyncio.to_thread(app.store.flush)
        refused = await asyncio.to_thread(
            subprocess.run,
            ["mount", "-o", "remount,ro", str(small_disk)],
            capture_output=True,
            text=True,
        )
        assert refused.returncode != 0 and "busy" in refused.stderr
        device = await asyncio.to_thread(
            subprocess.run,
            ["findmnt", "-no", "SOURCE", str(small_disk)],
            capture_output=True,
            text=True,
            check=True,
        )
        trigger = Path("/sys/fs/ext4") / Path(device.stdout.strip()).name / "trigger_fs_error"
        await asyncio.to_thread(trigger.write_text, "callflow test: the disk fails\n")
        heard = await digits_call_by_ear(app, caller)
        health = app.store.health
        errors = [r.getMessage() for r in caplog.records[:] if r.levelno >= logging.ERROR]
        assert not health.writable and health.held > 0 and heard > 2.0, health
        assert len(errors) == 1 and "cannot write" in errors[0], errors
    finally:
        await stop_callflow(app, task)
    lost = [r.getMessage() for r in caplog.records if "held writes are lost" in r.getMessage()]
    assert len(lost) == 1
    image = small_disk.parent / "disk.img"
    await asyncio.to_thread(subprocess.run, ["umount", str(small_disk)], check=True)
    fsck = await asyncio.to_thread(subprocess.run, ["fsck.ext4", "-fy", str(image)], check=False)
    assert fsck.returncode in (0, 1)  # clean, or errors corrected (the injected one)
    await asyncio.to_thread(
        subprocess.run, ["mount", "-o", "loop", str(image), str(small_disk)], check=True
    )
    db = sqlite3.connect(store_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        ends = db.execute(
            "SELECT count(*) FROM event_log WHERE kind = 'call.end' AND call_id = ?", (before_id,)
        ).fetchone()
    finally:
        db.close()
    assert before == "hangup:flow_finished" and ends == (1,)
    figures(
        "store_remounted_read_only",
        remount_ro=refused.stderr.strip().splitlines()[0],
        held=health.held,
        error=health.error,
        heard_s=round(heard, 2),
        lost_at_stop=lost[0],
        fsck=fsck.returncode,
        integrity="ok",
    )
