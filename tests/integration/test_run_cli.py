"""`callflow run` as an operator meets it: clear one-line errors, retries, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callflow.sandbox import SandboxInfo
from tests.integration.conftest import SAMPLE_FLOW

pytestmark = pytest.mark.asterisk


def write_settings(tmp_path: Path, url: str, *, app: str = "callflow", password: str) -> Path:
    path = tmp_path / "callflow.yaml"
    path.write_text(
        f"ari:\n  url: {url}\n  username: callflow\n  password: {password}\n  app: {app}\n"
        f"flows:\n  - {SAMPLE_FLOW}\nstore: {tmp_path / 'store.sqlite3'}\n"
    )
    return path


def start(config: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "CALLFLOW_ARI_PASSWORD"}
    return subprocess.Popen(
        [sys.executable, "-m", "callflow", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 20) -> list[str]:
    """Read stderr lines until one contains ``needle``; return the lines read."""
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    pytest.fail(f"no line with {needle!r} in:\n{''.join(lines)}")


def test_missing_settings_file_is_one_clear_line(tmp_path: Path) -> None:
    """A settings file that does not exist is reported in one line, exit 2."""
    code, err = finish(start(tmp_path / "nope.yaml"))
    assert code == 2
    assert err.strip() == f"callflow: {tmp_path / 'nope.yaml'}: settings file not found"


def test_fatal_start_up_errors_are_json_with_a_json_log_format(tmp_path: Path) -> None:
    """With --log-format json, a refused start is one JSON object, like the log's lines."""
    import json

    config = tmp_path / "nope.yaml"
    env = {k: v for k, v in os.environ.items() if k != "CALLFLOW_ARI_PASSWORD"}
    proc = subprocess.run(
        [sys.executable, "-m", "callflow", "run", "--config", str(config), "--log-format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
    )
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    record = json.loads(line)
    assert record["level"] == "error" and record["exit_code"] == 2
    assert record["message"] == f"{config}: settings file not found"


def test_invalid_settings_name_the_line_and_column(tmp_path: Path) -> None:
    """A misspelt settings key is reported with file:line:column and a suggestion."""
    path = tmp_path / "bad.yaml"
    path.write_text("ari:\n  url: http://127.0.0.1:1\n  pasword: x\n")
    code, err = finish(start(path))
    assert code == 2
    assert f"{path}:3:3: unknown key 'pasword'" in err
    assert "did you mean 'password'?" in err
    assert "Traceback" not in err


def test_wrong_password_is_one_clear_line(asterisk: SandboxInfo, tmp_path: Path) -> None:
    """Wrong ARI credentials stop callflow with one line that says so, and no traceback."""
    config = write_settings(tmp_path, asterisk.ari_url, password="not-the-password")
    code, err = finish(start(config))
    assert code == 1
    assert "refused the ARI credentials of user 'callflow'" in err
    assert "Traceback" not in err
    assert "not-the-password" not in err


def test_wrong_app_name_is_refused(asterisk: SandboxInfo, tmp_path: Path) -> None:
    """An app name the dialplan does not send calls to is refused with the right name."""
    config = write_settings(
        tmp_path, asterisk.ari_url, app="callfow", password=asterisk.ari_password
    )
    code, err = finish(start(config))
    assert code == 1
    assert "sends calls to Stasis app 'callflow'" in err
    assert "registers as 'callfow'" in err
    assert "Traceback" not in err


def test_asterisk_down_is_retried_until_sigterm(tmp_path: Path) -> None:
    """With Asterisk unreachable, callflow retries with growing delays and stops on SIGTERM."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    config = write_settings(tmp_path, f"http://127.0.0.1:{closed_port}", password="x")
    proc = start(config)
    lines = wait_for_line(proc, "retrying in")
    lines += wait_for_line(proc, "retrying in")
    proc.send_signal(signal.SIGTERM)
    code, rest = finish(proc)
    output = "".join(lines) + rest
    assert code == 0, output
    assert "Asterisk unavailable" in output
    assert "Traceback" not in output


def test_sigterm_stops_a_connected_service_cleanly(asterisk: SandboxInfo, tmp_path: Path) -> None:
    """A connected callflow stops on SIGTERM with exit 0 and unregisters its app."""
    config = write_settings(tmp_path, asterisk.ari_url, password=asterisk.ari_password)
    proc = start(config)
    wait_for_line(proc, "connected to Asterisk")
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert code == 0, err
    assert "SIGTERM received: stopping" in err
    assert "Traceback" not in err


def test_a_second_run_on_the_same_store_and_name_is_refused(
    asterisk: SandboxInfo, tmp_path: Path
) -> None:
    """Two `callflow run` on one store under one node name would take each other's callers
    on a restart: the second stops at once (exit 1) and names the first; once the first
    has stopped, the name is free again."""
    config = write_settings(tmp_path, asterisk.ari_url, password=asterisk.ari_password)
    first = start(config)
    wait_for_line(first, "connected to Asterisk")
    second = start(config)
    code, err = finish(second)
    assert code == 1, err
    assert f"a node with no name (node:) is already running (host {socket.gethostname()}," in err
    assert f"pid {first.pid}," in err
    assert "Traceback" not in err
    first.send_signal(signal.SIGTERM)
    assert finish(first)[0] == 0
    third = start(config)
    wait_for_line(third, "connected to Asterisk")
    third.send_signal(signal.SIGTERM)
    code, err = finish(third)
    assert code == 0, err


def test_sighup_reloads_the_flows(asterisk: SandboxInfo, tmp_path: Path) -> None:
    """SIGHUP makes a running callflow validate and reload its flows."""
    config = write_settings(tmp_path, asterisk.ari_url, password=asterisk.ari_password)
    proc = start(config)
    wait_for_line(proc, "connected to Asterisk")
    proc.send_signal(signal.SIGHUP)
    lines = wait_for_line(proc, "flows reloaded (SIGHUP)")
    assert "numbers 100, 700" in lines[-1]
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert code == 0, err
