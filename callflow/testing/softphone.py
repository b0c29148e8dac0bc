"""Drive a real SIP softphone (baresip) over its ctrl_tcp socket: register, dial, answer,
send RFC 4733 DTMF, play a WAV file as the microphone, record what it hears, hang up.

baresip's ctrl_tcp speaks netstrings (``<len>:<json>,``): we send
``{"command": ..., "params": ..., "token": ...}`` and receive responses (``"response": true``,
matched by token) and events (``"event": true``, e.g. REGISTER_OK, CALL_ESTABLISHED,
CALL_CLOSED).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import shutil
import socket
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callflow.testing.audio import write_tone

log = logging.getLogger(__name__)

BARESIP = "baresip"
MODULES = "/usr/lib/baresip/modules"


class SoftphoneError(Exception):
    """The softphone could not be started, or a command or an expected event failed."""


@dataclass(frozen=True)
class SipServer:
    """Where the phone registers and sends calls."""

    host: str
    port: int


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _free_sip_port() -> int:
    """A port P free for UDP and TCP with P+1 free for TCP: baresip 1.0 binds its SIP port
    on UDP and TCP, and SIP/TLS on the next port, whatever sip_transports says."""
    for _ in range(100):
        port = _free_port(socket.SOCK_DGRAM)
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tls,
            ):
                tcp.bind(("127.0.0.1", port))
                tls.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise SoftphoneError("no free port for the softphone's SIP")


def _wav_rate(path: Path) -> int:
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise SoftphoneError(f"{path}: the microphone file must be mono 16-bit PCM")
        return wav.getframerate()


def _is_complete_wav(path: Path) -> bool:
    """True when the WAV header is final: it parses and its RIFF size matches the file."""
    try:
        with path.open("rb") as f:
            head = f.read(8)
        if len(head) < 8 or head[:4] != b"RIFF":
            return False
        if int.from_bytes(head[4:8], "little") + 8 != path.stat().st_size:
            return False
        with wave.open(str(path), "rb") as wav:
            wav.getnframes()
    except (OSError, EOFError, wave.Error):
        return False
    return True


class Softphone:
    """One baresip user agent with one account, in its own folder."""

    def __init__(
        self,
        user: str,
        password: str,
        server: SipServer,
        workdir: Path,
        *,
        auto_answer: bool = False,
        microphone: Path | None = None,
    ) -> None:
        self.user = user
        self.password = password
        self.server = server
        self.workdir = workdir
        self.auto_answer = auto_answer
        self.microphone = microphone
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tokens = itertools.count(1)
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None

    @property
    def aor(self) -> str:
        """The phone's address of record."""
        return f"sip:{self.user}@{self.server.host}:{self.server.port}"

    @property
    def recordings_dir(self) -> Path:
        """Where baresip's sndfile module writes what the phone heard (``*-dec.wav``)."""
        return self.workdir / "recordings"

    # -- lifecycle ----------------------------------------------------------------------

    def _write_config(self, sip_port: int, ctrl_port: int) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.recordings_dir.mkdir(exist_ok=True)
        microphone = self.microphone
        if microphone is None:
            # baresip 1.0's ausine only runs at 48 kHz; a tone file at 8 kHz needs no resampling.
            microphone = write_tone(self.workdir / "tone.wav", seconds=60, freq=440)
        rate = _wav_rate(microphone)
        source = f"aufile,{microphone}"
        config = f"""\
poll_method epoll
sip_listen 127.0.0.1:{sip_port}
sip_transports udp
call_local_timeout 120
call_max_calls 4
audio_player alsa,null
audio_alert alsa,null
audio_source {source}
ausrc_srate {rate}
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
audio_buffer 20-160
rtp_tos 0
jitter_buffer_delay 1-10
module_path {MODULES}
module g711.so
module aufile.so
module alsa.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl_port}
snd_path {self.recordings_dir}
"""
        (self.workdir / "config").write_text(config)
        answer = "auto" if self.auto_answer else "manual"
        account = (
            f"<{self.aor};transport=udp>;auth_user={self.user};auth_pass={self.password};"
            f"regint=600;answermode={answer};audio_codecs=PCMU,PCMA;ptime=20\n"
        )
        accounts = self.workdir / "accounts"
        accounts.write_text(account)
        accounts.chmod(0o600)
        (self.workdir / "contacts").write_text("")

    async def start(self, *, register: bool = True, timeout: float = 10.0) -> None:
        """Start baresip, connect to its control socket, and wait for registration.

        The free ports are picked before baresip binds them, so another process may take
        one in between: baresip then exits at once, and is started again on new ports.
        """
        if shutil.which(BARESIP) is None:
            raise SoftphoneError("baresip is not installed: apt-get install baresip")
        for attempt in range(3):
            try:
                await self._start(register=register, timeout=timeout)
                return
            except SoftphoneError:
                if attempt == 2 or "Address already in use" not in self.log_tail():
                    raise
                log.info("%s: a port was taken before baresip bound it; retrying", self.user)
                if self._proc is not None and self._proc.returncode is None:
                    self._proc.kill()
                    await self._proc.wait()

    async def _start(self, *, register: bool, timeout: float) -> None:
        sip_port = _free_sip_port()
        ctrl_port = _free_port(socket.SOCK_STREAM)
        self._write_config(sip_port, ctrl_port)
        log_file = (self.workdir / "baresip.log").open("wb")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                BARESIP,
                "-f",
                str(self.workdir),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            log_file.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", ctrl_port)
                break
            except OSError:
                if self._proc.returncode is not None or loop.time() > deadline:
                    raise SoftphoneError(
                        f"baresip for {self.user} did not open its control socket\n"
                        + self.log_tail()
                    ) from None
                await asyncio.sleep(0.05)
        self._read_task = asyncio.create_task(self._read_loop(), name=f"softphone-{self.user}")
        if register:
            await self._wait_registered(deadline)

    async def _wait_registered(self, deadline: float) -> None:
        # baresip registers as soon as it starts, often before our control connection is
        # up, so its REGISTER_OK event may be gone: ask for the registration state instead.
        loop = asyncio.get_running_loop()
        while True:
            status = await self.command("reginfo")
            if "OK" in str(status.get("data", "")):
                return
            if loop.time() > deadline:
                raise SoftphoneError(
                    f"{self.user} did not register with {self.server.host}:{self.server.port}: "
                    f"{status.get('data')}\n{self.log_tail()}"
                )
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Hang up anything, quit baresip and close the control socket."""
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(SoftphoneError, OSError, asyncio.TimeoutError):
                await asyncio.wait_for(self.command("quit"), 2)
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._read_task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def __aenter__(self) -> Softphone:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines baresip printed."""
        path = self.workdir / "baresip.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # -- protocol -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._reader is not None
        reader = self._reader
        try:
            while True:
                length = await reader.readuntil(b":")
                payload = await reader.readexactly(int(length[:-1]))
                if await reader.readexactly(1) != b",":
                    raise SoftphoneError("malformed netstring from baresip")
                message: dict[str, Any] = json.loads(payload)
                if message.get("response"):
                    future = self._pending.pop(str(message.get("token")), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif message.get("event"):
                    log.debug("%s event %s", self.user, message)
                    async with self._changed:
                        self.events.append(message)
                        self._changed.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    async def command(self, command: str, params: str = "") -> dict[str, Any]:
        """Send one ctrl_tcp command and return baresip's response."""
        if self._writer is None:
            raise SoftphoneError(f"softphone {self.user} is not started")
        token = str(next(self._tokens))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[token] = future
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        response = await asyncio.wait_for(future, 5)
        if not response.get("ok", False):
            raise SoftphoneError(
                f"{self.user}: {command} {params!r} failed: {response.get('data')}"
            )
        return response

    async def wait_event(
        self, event_type: str, *, timeout: float = 10.0, since: int = 0
    ) -> dict[str, Any]:
        """Wait for an event of that type (looking at events from index ``since`` on)."""

        def find() -> dict[str, Any] | None:
            for event in self.events[since:]:
                if event.get("type") == event_type:
                    return event
            return None

        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: find() is not None)
        except TimeoutError:
            seen = [e.get("type") for e in self.events[since:]]
            raise SoftphoneError(
                f"{self.user}: no {event_type} within {timeout} s (saw {seen})\n{self.log_tail()}"
            ) from None
        found = find()
        assert found is not None
        return found

    def mark(self) -> int:
        """An index into the event list: wait_event(since=mark) sees only later events."""
        return len(self.events)

    # -- phone actions ------------------------------------------------------------------

    async def dial(self, number: str) -> None:
        """Call a number at the SIP server."""
        await self.command("dial", f"sip:{number}@{self.server.host}:{self.server.port}")

    async def answer(self) -> None:
        """Answer the ringing call."""
        await self.command("accept")

    async def hangup(self) -> None:
        """Hang up the current call."""
        await self.command("hangup")

    async def send_dtmf(self, digits: str, gap: float = 0.3) -> None:
        """Press keys: each digit is sent as RFC 4733 telephone events, then released."""
        for digit in digits:
            await self.command("sndcode", digit)
            await asyncio.sleep(gap)

    async def recording(self, timeout: float = 5.0) -> Path | None:
        """The newest recording of what the phone heard, once baresip has finished it.

        baresip's sndfile module writes the WAV header only when the stream closes, a moment
        after the call ends; until then the file is not yet a WAV file. So wait until the
        newest file parses and has stopped growing (None if the phone recorded nothing).
        """
        deadline = asyncio.get_running_loop().time() + timeout
        last_size = -1
        while True:
            files = sorted(self.recordings_dir.glob("*-dec.wav"), key=lambda p: p.stat().st_mtime)
            if not files:
                return None
            newest = files[-1]
            size = newest.stat().st_size
            if size == last_size and _is_complete_wav(newest):
                return newest
            if asyncio.get_running_loop().time() > deadline:
                raise SoftphoneError(f"{self.user}: recording {newest} is not a finished WAV file")
            last_size = size
            await asyncio.sleep(0.2)
