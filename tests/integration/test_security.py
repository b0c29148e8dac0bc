"""Credentials stay out of logs and the event log: the sandbox's ARI password (random per
sandbox), its Basic form, the supervisor API's token and the Docker test's ARI password are
looked for in every log the integration suite makes.

Two checks. A call here, with callflow, aiohttp and websockets logging at DEBUG (the
websockets handshake logs its headers at DEBUG), looked at once. And an audit at the end of
the session: every log record of the whole run (a handler on the root logger from collection
on), every log file and event log (SQLite) under the session's temporary folder (baresip's
logs, the stores, the Docker deployment's ``compose.log``), and the sandbox Asterisks' own
logs. A credential found there fails the run at the last test's teardown, naming where.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from callflow.app.logs import JsonFormatter, TextFormatter
from callflow.sandbox import Sandbox, SandboxInfo
from callflow.sandbox.pstn import pstn_name
from tests.integration import test_docker
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events
from tests.integration.test_api import TOKEN

pytestmark = pytest.mark.asterisk

# Files whose names say they are logs, and the event logs (SQLite, with their WAL).
LOG_PATTERNS = ("*.log", "*.log.*", "*.sqlite3", "*.sqlite3-wal", "*.sqlite3-journal")


class _Recorder(logging.Handler):
    """Every record of the session, rendered both ways ``callflow run`` writes them."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.lines: list[tuple[str, str]] = []  # (logger, rendered)
        self._text, self._json = TextFormatter(), JsonFormatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            rendered = self._text.format(record) + "\n" + self._json.format(record)
        except Exception:  # a record that cannot be rendered still gets its raw parts kept
            rendered = f"{record.msg!r} {record.args!r}"
        self.lines.append((record.name, rendered))


# From collection on: the other modules' tests run after this module is imported.
RECORDER = _Recorder()
logging.getLogger().addHandler(RECORDER)


def _forms(secret: str, user: str = "callflow") -> list[str]:
    """A credential as it could leak: itself, and in a Basic Authorization header."""
    return [secret, base64.b64encode(f"{user}:{secret}".encode()).decode()]


def _secrets() -> dict[str, list[str]]:
    """Every credential the session made, by what it is (never printed itself)."""
    found: dict[str, list[str]] = {"the supervisor API's token": [TOKEN]}
    for name in (f"pytest-{os.getpid()}", pstn_name(f"pytest-{os.getpid()}")):
        if (info := Sandbox.load(name)) is not None:
            found[f"sandbox {name}'s ARI password"] = _forms(info.ari_password, info.ari_user)
    for i, password in enumerate(test_docker.SECRETS):
        found[f"the Docker deployment's ARI password #{i + 1}"] = _forms(password)
    return found


def _log_files(basetemp: Path) -> list[Path]:
    files = {p for pattern in LOG_PATTERNS for p in basetemp.rglob(pattern) if p.is_file()}
    for name in (f"pytest-{os.getpid()}", pstn_name(f"pytest-{os.getpid()}")):
        if (info := Sandbox.load(name)) is not None:
            files |= {p for p in (info.log_file, info.console_file) if p.exists()}
    return sorted(files)


def _leaks(basetemp: Path) -> list[str]:
    """Where each credential was found: records by logger, files by path."""
    leaks = []
    secrets = _secrets()
    files = {path: path.read_bytes() for path in _log_files(basetemp)}
    for what, forms in secrets.items():
        for form in forms:
            for logger, rendered in RECORDER.lines:
                if form in rendered:
                    leaks.append(f"{what} in a log record of {logger}")
            leaks += [f"{what} in {path}" for path, data in files.items() if form.encode() in data]
    return sorted(set(leaks))


@pytest.fixture(scope="session")
def session_audit(
    asterisk: SandboxInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """At the end of the session (before the sandbox stops, its log still there), no
    credential in any log of the run."""
    yield
    basetemp = tmp_path_factory.getbasetemp()
    leaks = _leaks(basetemp)
    files = _log_files(basetemp)
    print(
        f"credential audit: {len(RECORDER.lines)} log records and {len(files)} log files "
        f"searched for {sum(len(f) for f in _secrets().values())} credential forms"
    )
    if leaks:
        pytest.fail("credentials found in the suite's logs:\n" + "\n".join(leaks))


@pytest.fixture
def debug_logs() -> Iterator[None]:
    """callflow, aiohttp and websockets log everything, DEBUG included, during the test."""
    names = ("callflow", "aiohttp", "websockets")
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


async def test_a_call_at_debug_logs_no_credential(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    debug_logs: None,
    session_audit: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A call through the 700 flow with every logger at DEBUG: the ARI password is in no log
    record, no event log, no softphone log and not in Asterisk's log; nor is its Basic form;
    and the ARI URL carries no credential."""
    first = len(RECORDER.lines)
    app = await start_app()
    assert "@" not in app.settings.ari.url and asterisk.ari_password not in app.settings.ari.url
    phone = await phones("caller5")
    mark = phone.mark()
    await phone.dial("700")
    await phone.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "call.playback")
    await phone.send_dtmf("123#")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=30)
    await wait_for_events(app, "call.end")
    await app.stop()

    assert len(RECORDER.lines) - first > 20  # DEBUG really was on: the handshake, events...
    assert _leaks(tmp_path_factory.getbasetemp()) == []
