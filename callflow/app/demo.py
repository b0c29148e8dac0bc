"""`callflow demo`: a real call, end to end, that a newcomer can watch.

It starts the sandbox Asterisk, runs callflow against it with the sample flow, and has a real
SIP softphone (baresip) dial the test number, listen, press keys and wait for the app to hang
up. Then it prints what happened, from the event log and the softphone's recording.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import tempfile
from pathlib import Path

from callflow.app import logs
from callflow.app.main import App
from callflow.app.settings import AriSettings, Settings
from callflow.flow.loader import load_flow
from callflow.prompts import build_prompts
from callflow.sandbox import Sandbox, SandboxError, SandboxInfo
from callflow.sandbox.recipe import REPO_ROOT
from callflow.sandbox.rootfs import RootfsError
from callflow.store import open_store
from callflow.testing.audio import measure
from callflow.testing.softphone import SipServer, Softphone, SoftphoneError

SAMPLE_FLOW = REPO_ROOT / "config" / "flows" / "main.yaml"


def run_demo(*, flow: Path | None, number: str, keys: str, keep: bool) -> int:
    """Run the demo call; 0 if the call went as the flow says."""
    logs.configure("warning")
    print("callflow demo: starting the sandbox Asterisk (the first run builds it, ~1 min)")
    existing = Sandbox.load("demo")
    sandbox = Sandbox("demo")
    try:
        info = existing or sandbox.up()
    except (SandboxError, RootfsError) as exc:
        print(f"callflow demo: {exc}", file=sys.stderr)
        return 1
    print(f"  Asterisk pid {info.pid}, ARI {info.ari_url}, SIP udp {info.bind}:{info.sip_port}")
    try:
        with tempfile.TemporaryDirectory(prefix="callflow-demo-") as tmp:
            return asyncio.run(_call(info, flow or SAMPLE_FLOW, number, keys, Path(tmp)))
    finally:
        if keep:
            print("  sandbox left running: 'callflow sandbox down --name demo' stops it")
        else:
            sandbox.down()
            print("callflow demo: sandbox stopped")


async def _call(info: SandboxInfo, flow: Path, number: str, keys: str, tmp: Path) -> int:
    settings = Settings(
        ari=AriSettings(
            url=info.ari_url, username=info.ari_user, password=info.ari_password, app=info.app
        ),
        flows=(flow,),
        store=tmp / "callflow.sqlite3",
        sounds_dir=info.sounds_dir,
    )
    app = App(settings)
    parsed, _ = load_flow(str(flow))
    if parsed is not None:
        report = build_prompts([parsed], info.sounds_dir)
        print(f"prompts: {report.summary()} (espeak-ng)")
    loaded = app.load_flows()
    for line in [str(d) for d in loaded.diagnostics] + list(loaded.problems):
        print(f"  {line}")
    if not loaded.applied:
        print("callflow demo: the flow has errors", file=sys.stderr)
        return 2
    service = asyncio.create_task(app.run(install_signals=False))
    phone_def = info.phone("softphone")
    phone = Softphone(
        phone_def.name, phone_def.password, SipServer(info.bind, info.sip_port), tmp / "phone"
    )
    try:
        async with asyncio.timeout(15):
            await app.service.ready.wait()
        print(f"callflow: serving flow {flow} (numbers {', '.join(app.flows.numbers)})")
        await phone.start()
        print(f"softphone: registered as {phone.aor}; dialling {number}")
        mark = phone.mark()
        await phone.dial(number)
        await phone.wait_event("CALL_ESTABLISHED", since=mark)
        print("softphone: answered; listening to the prompt")
        # Let the caller hear the start of the prompt before typing (type-ahead is kept).
        await asyncio.sleep(2.0)
        print(f"softphone: pressing {' '.join(keys)} (RFC 4733)")
        await phone.send_dtmf(keys)
        closed = await phone.wait_event("CALL_CLOSED", since=mark, timeout=60)
        print(f"softphone: call closed by the app ({closed.get('param', '')})")
    except (SoftphoneError, TimeoutError) as exc:
        print(f"callflow demo: the call failed: {exc}", file=sys.stderr)
        return 1
    finally:
        await phone.stop()
        await app.stop()
        with contextlib.suppress(Exception):
            await service
    return await _report(app, phone)


async def _report(app: App, phone: Softphone) -> int:
    store = open_store(app.settings.store_location)  # the app closed its own when it stopped
    calls = store.events(kind="call.start")
    if not calls:
        print("callflow demo: the app saw no call", file=sys.stderr)
        return 1
    call_id = calls[-1].call_id
    print(f"\nevent log of call {call_id}:")
    for event in store.events(call_id=call_id):
        data = dict(event.data)
        if event.kind == "flow.step":
            node, kind, digits = data["node"], data["type"], data["input"]
            shown = f"{node:<16} {kind:<8} input={digits!r:<8} {data['outcome']}"
        else:
            shown = ", ".join(f"{k}={v}" for k, v in data.items())
        print(f"  {event.at:%H:%M:%S.%f}"[:-3] + f"  {event.kind:<10} {shown}")
    recording = await phone.recording()
    ok = True
    if recording is None:
        print("softphone: no recording of what it heard", file=sys.stderr)
        ok = False
    else:
        level = measure(recording)
        print(
            f"\nsoftphone heard {level.seconds:.1f} s of audio, {level.voiced_seconds:.1f} s "
            f"of it above silence ({level.dbfs:.1f} dBFS)"
        )
        ok = ok and level.voiced_seconds > 0.5
    inputs = [e.data.get("input") for e in store.events(call_id=call_id, kind="flow.step")]
    print(f"digits the flow received: {[i for i in inputs if i]}")
    store.close()
    logging.getLogger(__name__).debug("demo done")
    return 0 if ok else 1
