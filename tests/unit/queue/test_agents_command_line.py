"""`callflow agents ...` without Asterisk: a small HTTP stand-in for ARI's user-event
endpoint hands each command to the real handler (a QueueService on the settings' store)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from callflow.cli import main
from callflow.queue import control
from callflow.queue.config import parse_queues
from callflow.queue.live import QueueService
from callflow.store import SqliteStore

QUEUES = """\
agents:
  agent1: {endpoint: PJSIP/agent1, queues: [support]}
  agent2: {endpoint: PJSIP/agent2, queues: [support]}
queues:
  support: {join_when_empty: yes}
"""
PASSWORD = "pw-for-tests"


class AriStandIn:
    """Answers POST /ari/events/user/callflow-agent like Asterisk with our app connected."""

    def __init__(self, queues: QueueService) -> None:
        self.queues = queues
        self.status = 204  # 404: the app is not connected
        self.answer = True  # False: the app never answers
        self.received: list[tuple[dict[str, str], dict[str, object]]] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization", "") != _basic("callflow", PASSWORD):
            return web.json_response({"error": "Authentication required"}, status=401)
        body = await request.json()
        self.received.append((dict(request.query), body))
        if self.status != 204:
            return web.json_response({"message": "Application not found"}, status=self.status)
        if self.answer:
            control.handle_agent_command(self.queues, body["variables"])
        return web.Response(status=204)


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    monkeypatch.delenv("CALLFLOW_ARI_PASSWORD", raising=False)
    (tmp_path / "queues.yaml").write_text(QUEUES)

    def write(port: int, *, queues: bool = True, password: str = PASSWORD) -> Path:
        path = tmp_path / "callflow.yaml"
        path.write_text(
            f"ari: {{url: 'http://127.0.0.1:{port}', password: {password}, app: callflow}}\n"
            f"store: store.sqlite3\n" + ("queues: queues.yaml\n" if queues else "")
        )
        return path

    return write


@pytest.fixture
async def ari(tmp_path: Path) -> AsyncIterator[AriStandIn]:
    center, diagnostics = parse_queues("queues.yaml", QUEUES)
    assert center is not None, diagnostics
    store = SqliteStore(tmp_path / "store.sqlite3")
    stand_in = AriStandIn(QueueService(center, store))
    app = web.Application()
    app.router.add_post("/ari/events/user/callflow-agent", stand_in.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stand_in.port = runner.addresses[0][1]
    yield stand_in
    await runner.cleanup()
    store.close()


async def run(*argv: str) -> int:
    """The CLI in a thread (it runs its own event loop) while the stand-in serves here."""
    return await asyncio.to_thread(main, ["agents", *argv])


async def test_login_prints_the_change_and_the_table(
    ari: AriStandIn, settings_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A login posts the user event to the settings' app and prints what callflow answered."""
    config = settings_file(ari.port)
    assert await run("login", "agent1", "--config", str(config)) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "agent1: logged in (available)",
        "",
        "AGENT   STATE       REASON",
        "agent1  available",
        "agent2  logged_out",
    ]
    [(query, body)] = ari.received
    assert query == {"application": "callflow"}
    variables = body["variables"]
    assert isinstance(variables, dict)
    assert variables["action"] == "login" and variables["agent"] == "agent1"
    assert len(str(variables["request"])) == 32 and "reason" not in variables


async def test_pause_with_reason_and_status_json(
    ari: AriStandIn, settings_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """pause carries --reason; status --json prints the answer as one JSON object."""
    config = str(settings_file(ari.port))
    assert await run("login", "agent2", "--config", config) == 0
    assert await run("pause", "agent2", "--reason", "lunch", "--config", config) == 0
    assert "agent2: paused (lunch)" in capsys.readouterr().out
    assert await run("status", "--json", "--config", config) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] is True and answer["action"] == "status"
    assert answer["agents"]["agent2"] == {"state": "paused", "reason": "lunch"}


async def test_refusal_exits_1_with_the_reason_on_stderr(
    ari: AriStandIn, settings_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown agent is refused by callflow: exit 1, one line on stderr."""
    config = str(settings_file(ari.port))
    assert await run("login", "agnet1", "--config", config) == 1
    captured = capsys.readouterr()
    assert captured.err == "callflow: refused: no agent 'agnet1'; did you mean 'agent1'?\n"
    assert captured.out == ""
    assert await run("logout", "agent1", "--json", "--config", config) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"] == "agent 'agent1' cannot log out while logged_out"
    assert "cannot log out" in captured.err


async def test_app_not_connected_exits_2(
    ari: AriStandIn, settings_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """ARI's 404 on the user event means nobody is connected as that app."""
    ari.status = 404
    assert await run("status", "--config", str(settings_file(ari.port))) == 2
    err = capsys.readouterr().err
    assert err.startswith("callflow: callflow is not connected to Asterisk as app 'callflow'")
    assert err.count("\n") == 1


async def test_no_answer_in_time_exits_2(
    ari: AriStandIn, settings_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Asterisk took the event but callflow never answered: exit 2 after --timeout."""
    ari.answer = False
    config = str(settings_file(ari.port))
    assert await run("login", "agent1", "--timeout", "0.3", "--config", config) == 2
    assert "no answer from callflow within 0.3 s" in capsys.readouterr().err


async def test_wrong_password_exits_2(
    ari: AriStandIn, settings_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused credentials are one line, without the password."""
    config = str(settings_file(ari.port, password="wrong-one"))
    assert await run("status", "--config", config) == 2
    err = capsys.readouterr().err
    assert "refused the ARI credentials of user 'callflow'" in err and "wrong-one" not in err


async def test_unreadable_store_exits_2(
    ari: AriStandIn,
    settings_file: Callable[..., Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A store path SQLite cannot open is one line, not a traceback."""
    config = settings_file(ari.port)
    (tmp_path / "a-folder").mkdir()
    config.write_text(config.read_text().replace("store.sqlite3", "a-folder"))
    assert await run("status", "--config", str(config)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"callflow: cannot read the store {tmp_path / 'a-folder'}: ")
    assert err.count("\n") == 1


def test_asterisk_unreachable_exits_2(
    settings_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listening at ari.url: exit 2, one line, no traceback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert main(["agents", "status", "--config", str(settings_file(port))]) == 2
    err = capsys.readouterr().err
    assert err == f"callflow: cannot reach Asterisk at http://127.0.0.1:{port}\n"


def test_settings_problems_exit_2(
    tmp_path: Path, settings_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing settings file, or settings without queues, stop before anything is sent."""
    assert main(["agents", "status", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "settings file not found" in capsys.readouterr().err
    config = settings_file(1, queues=False)
    assert main(["agents", "status", "--config", str(config)]) == 2
    assert "no queues configured" in capsys.readouterr().err


def test_bad_timeout_is_a_usage_error(
    settings_file: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """--timeout must be a positive number of seconds."""
    with pytest.raises(SystemExit) as exited:
        main(["agents", "status", "--timeout", "0", "--config", str(settings_file(1))])
    assert exited.value.code == 2
    assert "must be more than 0 seconds" in capsys.readouterr().err
