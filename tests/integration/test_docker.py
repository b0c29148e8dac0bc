"""The Docker deployment (docker/compose.yaml) built and run here, with a real call into it.

scripts/docker-local readies the engine, the Compose plugin and the base images imported from
debootstrap (no registry here); both images are built (cached layers: seconds), the two
containers run with host networking on ports of their own, a baresip softphone registers with
the containerised Asterisk and calls the sample flow, and ``callflow agents status`` runs inside
the callflow container. Everything is torn down after; the images stay cached.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callflow.sandbox import default_phones
from callflow.testing.audio import measure
from callflow.testing.softphone import SipServer, Softphone

pytestmark = pytest.mark.asterisk

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker" / "compose.yaml"
SETTINGS_IN_CONTAINER = "/etc/callflow-test/callflow.yaml"
# Every credential this module makes, for tests/integration/test_security.py's log audit.
SECRETS: list[str] = []

# What the container runs to read its own event log back (the store is in a volume).
READ_EVENTS = """
import json
from callflow.store import SqliteStore
store = SqliteStore("/var/lib/callflow/state/callflow.sqlite3")
print(json.dumps([[e.kind, e.call_id, dict(e.data)] for e in store.events()], default=str))
"""


@dataclass
class Deployment:
    """The running compose project: how to reach it and run commands in it."""

    project: str
    env: dict[str, str]
    override: Path
    http_port: int
    sip_port: int
    password: str
    logs: Path

    def compose(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        """Run ``docker compose`` on this project; its output (stdout)."""
        cmd = ["docker", "compose", "-f", str(COMPOSE_FILE), "-f", str(self.override)]
        result = subprocess.run(
            [*cmd, "-p", self.project, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    @contextlib.contextmanager
    def logs_on_failure(self, *more: Callable[[], str]) -> Iterator[None]:
        """A failure inside comes with the containers' logs (and ``more``, e.g. a phone's)."""
        try:
            yield
        except Exception as exc:
            tail = self.compose("logs", "--no-color", "--tail", "80", check=False)
            extra = "".join(f"\n{show()}" for show in more)
            raise AssertionError(
                f"{type(exc).__name__}: {exc}\n--- docker compose logs ---\n{tail}{extra}"
            ) from exc

    def ari(self, path: str) -> object:
        """A GET on the containerised Asterisk's ARI."""
        auth = base64.b64encode(f"callflow:{self.password}".encode()).decode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/ari/{path}",
            headers={"Authorization": f"Basic {auth}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read() or b"null")


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _local_build_args() -> dict[str, str]:
    """Run scripts/docker-local; the variables it prints (the imported base images)."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "docker-local")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/docker-local failed:\n{result.stderr[-3000:]}")
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        found[name] = value
    return found


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Both images built, ``docker compose up`` on free ports, callflow connected to ARI."""
    if os.geteuid() != 0:
        pytest.fail("the Docker test runs dockerd and needs root")
    tmp = tmp_path_factory.mktemp("docker")
    http_port = _free_port(socket.SOCK_STREAM)
    sip_port = _free_port(socket.SOCK_DGRAM)
    rtp_start = 20000 + 2 * secrets.randbelow(5000)  # the sandboxes draw theirs at random too
    password = secrets.token_urlsafe(18)
    SECRETS.append(password)
    (tmp / "settings").mkdir()
    (tmp / "settings" / "callflow.yaml").write_text(
        f"ari:\n  url: http://127.0.0.1:{http_port}\n  username: callflow\n"
        "  password_env: CALLFLOW_ARI_PASSWORD\n  app: callflow\n"
        "flows:\n  - /opt/callflow/config/flows/main.yaml\n"
        "  - /opt/callflow/config/flows/agents.yaml\n"
        "queues: /opt/callflow/config/queues.yaml\n"
        "sounds_dir: /var/lib/callflow/sounds\n"
        "store: /var/lib/callflow/state/callflow.sqlite3\n"
        "log:\n  format: json\n  level: info\n"
    )
    override = tmp / "compose.test.yaml"
    override.write_text(
        "services:\n  callflow:\n    restart: 'no'\n    volumes:\n"
        f"      - {tmp / 'settings'}:/etc/callflow-test:ro\n"
        "  asterisk:\n    restart: 'no'\n"
    )
    env = {
        **os.environ,
        **_local_build_args(),
        "ARI_PASSWORD": password,
        "ASTERISK_HTTP_PORT": str(http_port),
        "ASTERISK_SIP_PORT": str(sip_port),
        "ASTERISK_SIP_BIND": "127.0.0.1",
        "ASTERISK_RTP_START": str(rtp_start),
        "ASTERISK_RTP_END": str(rtp_start + 99),
        "CALLFLOW_CONFIG": SETTINGS_IN_CONTAINER,
    }
    deployment = Deployment(
        project=f"callflow-test-{os.getpid()}",
        env=env,
        override=override,
        http_port=http_port,
        sip_port=sip_port,
        password=password,
        logs=tmp / "compose.log",
    )
    started = time.monotonic()
    deployment.compose("build", timeout=1800)
    built = time.monotonic()
    # The images a rebuild replaced (untagged now); the build cache keeps their layers.
    subprocess.run(
        ["docker", "image", "prune", "--force", "--filter", "label=org.callflow.image"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    try:
        deployment.compose("up", "-d", "--no-build", timeout=300)
        _wait_for_app(deployment, timeout=120)
        print(f"docker: built in {built - started:.1f} s, up in {time.monotonic() - built:.1f} s")
        yield deployment
    finally:
        # Kept for a failing test's report and for the credential audit (test_security.py).
        deployment.logs.write_text(deployment.compose("logs", "--no-color", check=False))
        deployment.compose("down", "--volumes", "--remove-orphans", timeout=180, check=False)


def _wait_for_app(deployment: Deployment, timeout: float) -> None:
    """Until callflow's Stasis application is registered with the containerised Asterisk."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            deployment.ari("applications/callflow")
            return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            logs = deployment.compose("logs", "--no-color", "--tail", "60", check=False)
            pytest.fail(f"callflow did not connect to the containerised Asterisk:\n{logs}")
        time.sleep(0.5)


async def test_a_call_through_the_containers_hears_its_digits_read_back(
    deployment: Deployment, tmp_path: Path
) -> None:
    """A softphone registered with the containerised Asterisk dials 700, presses 1 2 3 #, and
    hears the containerised callflow read the digits back before it hangs up."""
    caller = next(p for p in default_phones() if p.name == "caller1")
    server = SipServer("127.0.0.1", deployment.sip_port)
    phone = Softphone(caller.name, caller.password, server, tmp_path / "phone")
    with deployment.logs_on_failure(phone.log_tail):
        async with phone:
            mark = phone.mark()
            await phone.dial("700")
            await phone.wait_event("CALL_ESTABLISHED", since=mark, timeout=20)
            await phone.send_dtmf("123#")
            await phone.wait_event("CALL_CLOSED", since=mark, timeout=40)
            recording = await phone.recording()
    assert recording is not None
    heard = measure(recording)
    assert heard.voiced_seconds > 2.0, heard  # the prompt and the read-back, not silence

    with deployment.logs_on_failure():
        events = json.loads(
            deployment.compose("exec", "-T", "callflow", "python3", "-c", READ_EVENTS)
        )
    [call_id] = [call for kind, call, _ in events if kind == "call.start"]
    digits = [data["digit"] for kind, call, data in events if kind == "call.dtmf"]
    assert digits == ["1", "2", "3", "#"]
    steps = [(data["node"], data["input"]) for kind, call, data in events if kind == "flow.step"]
    assert steps[0] == ("test_intro", "123")
    assert [node for node, _ in steps[1:]] == ["test_read_back", "goodbye"]
    played = [data["media"] for kind, call, data in events if kind == "call.playback"]
    assert [m for m in played if m.startswith("sound:digits/")] == [
        f"sound:digits/{d}" for d in "123"
    ]
    [end] = [data for kind, call, data in events if kind == "call.end" and call == call_id]
    assert end["outcome"] == "hangup:flow_finished"
    assert deployment.ari("channels") == []


def test_agents_status_runs_inside_the_callflow_container(deployment: Deployment) -> None:
    """``callflow agents status`` in the container gets the running app's answer: every agent
    of the sample queues, each logged out."""
    with deployment.logs_on_failure():
        out = deployment.compose(
            "exec", "-T", "callflow", "callflow", "agents", "status", "--json",
            "--config", SETTINGS_IN_CONTAINER,
        )  # fmt: skip
    answer = json.loads(out)
    assert answer["ok"], answer
    assert answer["agents"] == {
        name: {"state": "logged_out", "reason": None} for name in ("alice", "bob", "carmen")
    }


def test_the_callflow_image_can_use_a_postgresql_store(deployment: Deployment) -> None:
    """The image holds PostgreSQL's client library, so ``store: postgresql://...`` works in
    it: the driver loads libpq and says which version."""
    with deployment.logs_on_failure():
        out = deployment.compose(
            "exec", "-T", "callflow", "python3", "-c",
            "import psycopg; print(psycopg.pq.__impl__, psycopg.pq.version())",
        )  # fmt: skip
    implementation, version = out.split()
    assert implementation == "python" and int(version) >= 130000, out
