"""The supervisor API of a real ``callflow run`` process on the sandbox Asterisk: a caller
waiting on a real call seen through GET /api/queues, an agent logged in through the API and
rung by the queue, the token refused, and /metrics scraped and parsed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from callflow.flow import load_flow
from callflow.prompts import build_prompts
from callflow.prompts.build import Speaks
from callflow.queue.config import load_queues
from callflow.sandbox import SandboxInfo
from tests.integration.conftest import PhoneFactory

pytestmark = pytest.mark.asterisk

HERE = Path(__file__).parent
FLOW = HERE / "flows" / "queues.yaml"
QUEUES = HERE / "queues.yaml"
TOKEN = "integration-token-" + os.urandom(8).hex()
LISTENING = re.compile(r"supervisor API, wallboard and metrics on (http://\S+)")


@dataclass
class Running:
    """A ``callflow run`` process with its API."""

    process: asyncio.subprocess.Process
    url: str
    lines: list[str]

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}


def write_settings(tmp_path: Path, asterisk: SandboxInfo) -> Path:
    """Settings for the test queues on the sandbox, the API on a free loopback port, the
    token from the environment."""
    path = tmp_path / "callflow.yaml"
    path.write_text(
        f"ari:\n  url: {asterisk.ari_url}\n  username: {asterisk.ari_user}\n"
        f"  password_env: TEST_ARI_PASSWORD\n  app: {asterisk.app}\n"
        f"flows: [{FLOW}]\nqueues: {QUEUES}\nsounds_dir: {asterisk.sounds_dir}\n"
        f"store: {tmp_path / 'store.sqlite3'}\n"
        "api:\n  port: 0\n  token_env: TEST_API_TOKEN\n"
    )
    return path


@contextlib.asynccontextmanager
async def callflow_run(tmp_path: Path, asterisk: SandboxInfo) -> AsyncIterator[Running]:
    """``callflow run`` in its own process until the API listens and Asterisk is connected;
    stopped with SIGTERM afterwards (and must exit 0)."""
    center = load_queues(str(QUEUES))[0]
    flow = load_flow(str(FLOW))[0]
    assert center is not None and flow is not None
    speaks: list[Speaks] = [flow, center]
    build_prompts(speaks, asterisk.sounds_dir)
    config = write_settings(tmp_path, asterisk)
    env = {**os.environ, "TEST_ARI_PASSWORD": asterisk.ari_password, "TEST_API_TOKEN": TOKEN}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callflow", "run", "--config", str(config),
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []
    url = None
    try:
        async with asyncio.timeout(20):
            while url is None or not any("connected to Asterisk" in line for line in lines):
                line = (await process.stderr.readline()).decode()
                if not line:
                    pytest.fail("callflow run ended:\n" + "".join(lines))
                lines.append(line)
                if (found := LISTENING.search(line)) is not None:
                    url = found.group(1)
        assert url is not None
        reader = asyncio.create_task(_keep_reading(process, lines))
        yield Running(process, url, lines)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                code = await process.wait()
            if "reader" in locals():
                await reader
            assert code == 0, "".join(lines[-30:])
    assert TOKEN not in "".join(lines), "the token was logged"


async def _keep_reading(process: asyncio.subprocess.Process, lines: list[str]) -> None:
    assert process.stderr is not None
    while line := await process.stderr.readline():
        lines.append(line.decode())


async def api_get(session: aiohttp.ClientSession, running: Running, path: str) -> Any:
    async with session.get(running.url + path, headers=running.auth()) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def until(check: Any, timeout: float = 10.0, step: float = 0.1) -> Any:
    """Ask ``check()`` until it returns something true; return it."""
    async with asyncio.timeout(timeout):
        while not (found := await check()):  # noqa: ASYNC110 (a remote process: ask it)
            await asyncio.sleep(step)
    return found


async def test_an_agent_logged_in_through_the_api_is_rung_for_a_real_waiting_caller(
    asterisk: SandboxInfo, phones: PhoneFactory, tmp_path: Path, no_leaks: None
) -> None:
    """A caller dials the support queue: GET /api/queues shows them waiting; the agent is
    logged in with POST /api/agents/agent1, the queue rings their phone, they talk; the
    agents, KPIs and /metrics routes then say so."""
    async with callflow_run(tmp_path, asterisk) as running, aiohttp.ClientSession() as session:
        agent = await phones("agent1", auto_answer=True)
        caller = await phones("caller1")
        mark = caller.mark()
        await caller.dial("300")
        await caller.wait_event("CALL_ESTABLISHED", since=mark)

        async def support_waiting() -> Any:
            queues = (await api_get(session, running, "/api/queues"))["queues"]
            support = next(q for q in queues if q["name"] == "support")
            return support if support["waiting"] == 1 else None

        support = await until(support_waiting)
        print("GET /api/queues, support:", json.dumps(support))
        assert support["agents"]["available"] == 0
        callers = (await api_get(session, running, "/api/queues/support/callers"))["callers"]
        print("GET /api/queues/support/callers:", json.dumps(callers))
        assert [(c["caller"], c["position"]) for c in callers] == [("+15550000001", 1)]

        async with session.post(
            running.url + "/api/agents/agent1", json={"action": "login"}, headers=running.auth()
        ) as response:
            answer = await response.json()
            print("POST /api/agents/agent1 login:", response.status, json.dumps(answer))
            assert response.status == 200 and answer["ok"]
        await agent.wait_event("CALL_ESTABLISHED", timeout=15)

        async def on_call() -> Any:
            found = await api_get(session, running, "/api/agents/agent1")
            return found if found["state"] == "on_call" else None

        print("GET /api/agents/agent1:", json.dumps(await until(on_call)))
        assert (await support_waiting()) is None
        await asyncio.sleep(0.5)
        await agent.hangup()

        async def handled() -> Any:
            report = await api_get(session, running, "/api/kpis?queue=support&interval=1d")
            [total] = report["total"]
            return total if total["handled"] == 1 else None

        total = await until(handled)
        print("GET /api/kpis support today:", {k: total[k] for k in ("offered", "handled", "sl")})
        assert total["offered"] == 1 and total["sl"] == 1.0

        async def call_over() -> Any:
            async with session.get(running.url + "/metrics", headers=running.auth()) as answer:
                assert answer.status == 200
                text = await answer.text()
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            return samples if samples[("callflow_calls_active", ())] == 0 else None

        samples = await until(call_over)
        connect = ("callflow_queue_events_total", (("event", "connect"), ("queue", "support")))
        print("/metrics, some samples:")
        for (name, labels), value in samples.items():
            if value and not name.endswith("_created") and "_bucket" not in name:
                print(f"  {name}{dict(labels) or ''} {value:g}")
        assert samples[connect] == 1
        assert samples[("callflow_calls_total", ())] == 1  # the caller (the agent's is a leg)
        assert samples[("callflow_ari_connected", ())] == 1
        assert samples[("callflow_ari_connections_total", ())] == 1
        assert samples[("callflow_store_writable", ())] == 1  # the store takes writes
        assert samples[("callflow_store_writes_held", ())] == 0
        assert samples[("callflow_calls_ended_total", (("outcome", "finish:queued"),))] == 1


async def test_the_api_refuses_a_missing_or_wrong_token(
    asterisk: SandboxInfo, tmp_path: Path
) -> None:
    """Against the running process: 401 without a token and with a wrong one, on the API
    and on /metrics; the answers as a supervisor's curl would print them."""
    async with callflow_run(tmp_path, asterisk) as running, aiohttp.ClientSession() as session:
        for path in ("/api/queues", "/api/agents", "/metrics"):
            for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
                async with session.get(running.url + path, headers=headers) as response:
                    body = await response.text()
                    shown = "no token" if not headers else "wrong token"
                    challenge = response.headers.get("WWW-Authenticate")
                    print(f"GET {path} ({shown}): {response.status} {response.reason}, "
                          f"WWW-Authenticate: {challenge}, {body}")  # fmt: skip
                    assert response.status == 401
                    assert json.loads(body)["error"] == "unauthorized"
        async with session.get(running.url + "/api/queues", headers=running.auth()) as response:
            assert response.status == 200
