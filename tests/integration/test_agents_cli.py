"""`callflow agents ...` as an operator runs it: a separate process, the running app's
settings, a real Asterisk carrying the command to the app as an ARI user event."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from callflow.app.main import App
from callflow.sandbox import SandboxInfo
from tests.integration.conftest import AppFactory, PhoneFactory, ari_get, wait_for_events

pytestmark = pytest.mark.asterisk

HERE = Path(__file__).parent
FLOW = HERE / "flows" / "queues.yaml"
QUEUES = HERE / "queues.yaml"


def write_settings(tmp_path: Path, asterisk: SandboxInfo, app: App) -> Path:
    """The settings an operator would pass: the sandbox's ARI and the app's own store."""
    path = tmp_path / "agents-cli.yaml"
    path.write_text(
        f"ari:\n  url: {asterisk.ari_url}\n  username: {asterisk.ari_user}\n"
        f"  password: {asterisk.ari_password}\n  app: {asterisk.app}\n"
        f"flows:\n  - {FLOW}\nqueues: {QUEUES}\nstore: {app.settings.store}\n"
    )
    return path


async def agents(config: Path, *argv: str) -> tuple[int, str, str]:
    """Run `callflow agents ...` as its own process; the app keeps serving meanwhile."""
    env = {k: v for k, v in os.environ.items() if k != "CALLFLOW_ARI_PASSWORD"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callflow",
        "agents",
        *argv,
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    async with asyncio.timeout(30):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_agents_cli_logs_in_pauses_and_refuses_against_the_running_app(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    no_leaks: None,
    tmp_path: Path,
) -> None:
    """A caller waits with nobody logged in; `agents login agent1` makes agent1's phone ring
    and take the call; a pause with a reason shows in `status --json`; an unknown agent is
    refused (exit 1); with callflow stopped the command exits 2."""
    app = await start_app([FLOW], queues=QUEUES)
    assert app.queues is not None
    config = write_settings(tmp_path, asterisk, app)
    agent = await phones("agent1", auto_answer=True)
    caller = await phones("caller1")

    mark = caller.mark()
    await caller.dial("300")
    await caller.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "queue.enter")
    assert not app.store.events(kind="queue.ring")  # nobody to ring yet

    code, out, err = await agents(config, "login", "agent1")
    assert code == 0, err
    assert out.splitlines()[0] == "agent1: logged in (available)"
    assert "agent2  logged_out" in out

    await agent.wait_event("CALL_ESTABLISHED", timeout=15)
    await wait_for_events(app, "queue.connect")
    [connect] = app.store.events(kind="queue.connect")
    assert (connect.data["agent"], connect.data["caller"]) == ("agent1", "+15550000001")
    await asyncio.sleep(0.5)
    await agent.hangup()
    await wait_for_events(app, "queue.complete")
    await caller.wait_event("CALL_CLOSED", since=mark)
    async with asyncio.timeout(5):
        while app.queues.router.agents["agent1"].state.value != "available":  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    code, out, err = await agents(config, "pause", "agent1", "--reason", "lunch")
    assert code == 0, err
    assert out.splitlines()[0] == "agent1: paused (lunch)"
    code, out, err = await agents(config, "status", "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["ok"] is True
    assert answer["agents"]["agent1"] == {"state": "paused", "reason": "lunch"}
    assert answer["agents"]["agent3"] == {"state": "logged_out", "reason": None}
    commands = app.store.events(kind="agent.command")
    assert [(e.data["action"], e.data["ok"]) for e in commands] == [
        ("login", True),
        ("pause", True),
        ("status", True),
    ]

    code, out, err = await agents(config, "login", "nobody")
    assert code == 1
    assert out == ""
    assert err.strip() == "callflow: refused: no agent 'nobody'"

    await app.stop()
    async with asyncio.timeout(10):
        while any(  # noqa: ASYNC110
            a["name"] == asterisk.app
            for a in await asyncio.to_thread(ari_get, asterisk, "applications")
        ):
            await asyncio.sleep(0.1)
    code, out, err = await agents(config, "status")
    assert code == 2
    assert err.strip() == (
        f"callflow: callflow is not connected to Asterisk as app '{asterisk.app}' "
        "(is 'callflow run' running with these settings?)"
    )
    assert "Traceback" not in err
