"""Start, stop and describe one sandbox Asterisk: rendered config, bind mounts, a PID.

Each sandbox has a name; its state (PID, ports, ARI credentials) is written to
``<cache>/instances/<name>.json`` so that ``callflow sandbox down`` from another process can
stop it. Everything it mounts is unmounted when the last sandbox on that rootfs stops.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import random
import secrets
import shutil
import signal
import socket
import string
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from callflow.sandbox.recipe import DIALPLAN_DIR, ETC_TEMPLATES, cache_dir
from callflow.sandbox.rootfs import provision_rootfs

log = logging.getLogger(__name__)

ASTERISK = "/usr/sbin/asterisk"
# Seconds a stopped Asterisk may take to exit: a graceful stop waits up to 15 s for its
# channels to go, then unloads its modules (past STOP_SLOW, the time it took is logged).
STOP_TIMEOUT = 45.0
STOP_SLOW = 5.0
MOUNTS = (("proc", ["-t", "proc", "proc"]), ("dev", ["--bind", "/dev"]))


class SandboxError(Exception):
    """The sandbox Asterisk could not be started, reached or stopped."""


@dataclass(frozen=True)
class Phone:
    """A SIP phone the sandbox knows: a PJSIP endpoint with digest auth and one contact."""

    name: str
    password: str
    context: str
    caller_id: str = ""


def default_phones() -> list[Phone]:
    """The phones of the sandbox: 8 test callers, 6 agents and one for a person's softphone."""
    phones = [
        Phone(f"caller{i}", f"caller{i}-pw", "callflow-inbound", f"+1555000{i:04d}")
        for i in range(1, 9)
    ]
    phones += [Phone(f"agent{i}", f"agent{i}-pw", "callflow-agents") for i in range(1, 7)]
    phones.append(Phone("softphone", "callflow", "callflow-inbound", "+15550009999"))
    return phones


@dataclass
class SandboxInfo:
    """What a running sandbox listens on and how to reach it."""

    name: str
    rootfs: str
    pid: int
    bind: str
    http_port: int
    sip_port: int
    rtp_start: int
    rtp_end: int
    ari_user: str
    ari_password: str
    app: str
    home: str  # the instance folder, as seen from the host
    phones: list[dict[str, str]] = field(default_factory=list)

    @property
    def ari_url(self) -> str:
        """The base URL of ARI's REST interface (no credentials in it)."""
        return f"http://{self.bind}:{self.http_port}"

    @property
    def sounds_dir(self) -> Path:
        """Asterisk's sounds directory inside the rootfs, as seen from the host."""
        return Path(self.rootfs) / "usr/share/asterisk/sounds"

    @property
    def log_file(self) -> Path:
        """Asterisk's own log of this sandbox."""
        return Path(self.home) / "state" / "log" / "messages.log"

    @property
    def console_file(self) -> Path:
        """What Asterisk printed on stdout and stderr."""
        return Path(self.home) / "console.log"

    def phone(self, name: str) -> Phone:
        """The phone of that name."""
        for p in self.phones:
            if p["name"] == name:
                return Phone(**p)
        raise KeyError(name)

    def log_tail(self, lines: int = 200) -> str:
        """The last lines of Asterisk's log, for a failing test or a failed start."""
        chunks = []
        for path in (self.console_file, self.log_file):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                chunks.append(f"==> {path} <==\n" + "\n".join(text))
        return "\n".join(chunks)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _rtp_range(size: int = 200) -> tuple[int, int]:
    """A range of UDP ports that is free now, for Asterisk's RTP."""
    for _ in range(50):
        start = random.randrange(20000, 60000 - size, 2)
        try:
            for port in (start, start + size // 2, start + size - 1):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return start, start + size - 1
    raise SandboxError("no free UDP port range for RTP")


def _instances_dir() -> Path:
    return cache_dir() / "instances"


def _pid_is_our_asterisk(pid: int, name: str) -> bool:
    """True if that PID is still the Asterisk of that sandbox (PIDs get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    conf = f"/srv/callflow/{name}/etc/asterisk.conf".encode()
    return bool(cmdline) and cmdline[0].endswith(b"asterisk") and conf in cmdline


class Sandbox:
    """One Asterisk in the chroot, with its own ports, config and state."""

    def __init__(
        self,
        name: str = "default",
        *,
        app: str = "callflow",
        bind: str = "127.0.0.1",
        http_port: int = 0,
        sip_port: int = 0,
        phones: list[Phone] | None = None,
        base: Path | None = None,
        password: str | None = None,
        overlay: Path | None = None,
        files: Mapping[str, str] | None = None,
        rtp_ports: int = 200,
        system_name: str = "callflow-sandbox",
    ) -> None:
        if not name or any(c not in string.ascii_letters + string.digits + "-_" for c in name):
            raise SandboxError(f"invalid sandbox name {name!r}: use letters, digits, - and _")
        self.name = name
        self.app = app
        self.bind = bind
        self.http_port = http_port
        self.sip_port = sip_port
        self.phones = phones if phones is not None else default_phones()
        self.base = base
        self.password = password  # None: a fresh random ARI password
        self.overlay = overlay  # config templates that replace the recipe's of that name
        self.files = dict(files or {})  # more files for the config folder, as they are
        self.rtp_ports = rtp_ports  # two per call (RTP and RTCP); bench load needs more
        # asterisk.conf's systemname, the start of every channel id: two Asterisks whose
        # calls share a store (several nodes) need two names.
        self.system_name = system_name
        self.info: SandboxInfo | None = None

    # -- state file ---------------------------------------------------------------------

    @staticmethod
    def state_file(name: str) -> Path:
        """Where the running sandbox of that name is described."""
        return _instances_dir() / f"{name}.json"

    @classmethod
    def load(cls, name: str = "default") -> SandboxInfo | None:
        """The running sandbox of that name, or None (a stale state file is removed)."""
        path = cls.state_file(name)
        try:
            info = SandboxInfo(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if not _pid_is_our_asterisk(info.pid, info.name):
            path.unlink(missing_ok=True)
            return None
        return info

    # -- lifecycle ----------------------------------------------------------------------

    def up(self, timeout: float = 60.0) -> SandboxInfo:
        """Provision if needed, render the config, mount, start Asterisk, wait for ARI."""
        if os.geteuid() != 0:
            raise SandboxError("the Asterisk sandbox needs root (chroot and mount)")
        running = self.load(self.name)
        if running is not None:
            raise SandboxError(
                f"sandbox {self.name!r} is already running (pid {running.pid}); "
                f"run 'callflow sandbox down --name {self.name}' first"
            )
        rootfs = provision_rootfs(self.base)
        home_in_chroot = f"/srv/callflow/{self.name}"
        home = rootfs / home_in_chroot.lstrip("/")
        if home.exists():
            shutil.rmtree(home)
        rtp_start, rtp_end = _rtp_range(self.rtp_ports)
        info = SandboxInfo(
            name=self.name,
            rootfs=str(rootfs),
            pid=0,
            bind=self.bind,
            http_port=self.http_port or _free_port(socket.SOCK_STREAM),
            sip_port=self.sip_port or _free_port(socket.SOCK_DGRAM),
            rtp_start=rtp_start,
            rtp_end=rtp_end,
            ari_user="callflow",
            ari_password=self.password or secrets.token_urlsafe(18),
            app=self.app,
            home=str(home),
            phones=[asdict(p) for p in self.phones],
        )
        self._render(info, home, home_in_chroot)
        self._mount(rootfs)
        _relative_sound_links(rootfs)
        self._start(info, timeout)
        return info

    def restart(self, *, crash: bool = True, timeout: float = 60.0) -> SandboxInfo:
        """Stop Asterisk (``crash``: SIGKILL, as a crash; else SIGTERM) and start it again on
        the same ports with the same password and config, as an operator's restart would.
        Channels and bridges are gone; the same ARI client can connect again."""
        info = self.info or self.load(self.name)
        if info is None:
            raise SandboxError(f"sandbox {self.name!r} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL if crash else signal.SIGTERM)
        # SIGTERM is "core stop now": Asterisk hangs every call up, then waits up to 15 s
        # for their channels to be destroyed before it unloads its modules (its CLI and ARI
        # refuse requests meanwhile, so they cannot say which channel it waits for). A stop
        # that long is Asterisk's own, not a hang.
        stopping = time.monotonic()
        if not _wait_gone(info.pid, STOP_TIMEOUT):
            raise SandboxError(
                f"Asterisk (pid {info.pid}) did not stop within {STOP_TIMEOUT:.0f} s"
            )
        if (took := time.monotonic() - stopping) > STOP_SLOW:
            log.warning("Asterisk (pid %d) took %.1f s to stop", info.pid, took)
        # Asterisk names a channel <system>-<the second it was made>.<n>, n counted from 0
        # at each start: a new Asterisk making channels within the second the old one went
        # away in would give new calls the ids of old ones. Start it in a later second.
        gone = time.time()
        time.sleep(math.floor(gone) + 1.0 - gone)
        self._mount(Path(info.rootfs))
        self._start(info, timeout)
        return info

    def _start(self, info: SandboxInfo, timeout: float) -> None:
        """Start Asterisk with the rendered config and wait until ARI answers."""
        home = Path(info.home)
        conf_in_chroot = _conf_in_chroot(info)
        console = (home / "console.log").open("ab")
        try:
            proc = subprocess.Popen(
                ["chroot", info.rootfs, ASTERISK, "-f", "-C", conf_in_chroot],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            console.close()
        info.pid = proc.pid
        self.info = info
        state = self.state_file(self.name)
        state.parent.mkdir(parents=True, exist_ok=True)
        state.touch(mode=0o600)
        state.write_text(json.dumps(asdict(info), indent=2))
        try:
            self._wait_ready(info, proc, timeout)
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Stop this sandbox's Asterisk by its PID and unmount what is no longer used."""
        info = self.info or self.load(self.name)
        if info is None:
            return
        stop(info)
        self.info = None

    # -- helpers ------------------------------------------------------------------------

    def _render(self, info: SandboxInfo, home: Path, home_in_chroot: str) -> None:
        # Asterisk makes no folders under its spool: ARI recordings need spool/recording.
        for sub in ("state/db", "state/spool/recording", "state/run", "state/log"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        values = {
            "ETC_DIR": f"{home_in_chroot}/etc",
            "STATE_DIR": f"{home_in_chroot}/state",
            "BIND_ADDR": info.bind,
            "SIP_BIND": info.bind,
            "HTTP_PORT": str(info.http_port),
            "SIP_PORT": str(info.sip_port),
            "RTP_START": str(info.rtp_start),
            "RTP_END": str(info.rtp_end),
            "ARI_USER": info.ari_user,
            "ARI_PASSWORD": info.ari_password,
            "ARI_APP": info.app,
            "SYSTEM_NAME": self.system_name,
        }
        render_config(home / "etc", values, self.phones, overlay=self.overlay, files=self.files)

    @staticmethod
    def _mount(rootfs: Path) -> None:
        for sub, args in MOUNTS:
            point = rootfs / sub
            if not os.path.ismount(point):
                subprocess.run(["mount", *args, str(point)], check=True)

    @staticmethod
    def _wait_ready(info: SandboxInfo, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        auth = base64.b64encode(f"{info.ari_user}:{info.ari_password}".encode()).decode()
        request = urllib.request.Request(
            f"{info.ari_url}/ari/asterisk/ping", headers={"Authorization": f"Basic {auth}"}
        )
        while True:
            if proc.poll() is not None:
                raise SandboxError(
                    f"Asterisk exited with code {proc.returncode} during start\n{info.log_tail(40)}"
                )
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"ARI did not answer within {timeout:.0f} s\n{info.log_tail(40)}"
                )
            time.sleep(0.2)
        rx(info, "core waitfullybooted")


def render_config(
    etc: Path,
    values: dict[str, str],
    phones: list[Phone],
    *,
    overlay: Path | None = None,
    files: Mapping[str, str] | None = None,
) -> None:
    """Write Asterisk's config folder from the recipe: templates, dialplan, phones.

    Used by the sandbox and by the Docker image build (``callflow sandbox render``), so
    both run the same Asterisk configuration. ``overlay``: a folder of templates that
    replace the recipe's of the same name (the sandbox PSTN's dialplan); ``files``: more
    files (relative path -> text), written as they are, after everything else. The trunk
    file ``pjsip_trunk.conf`` is empty until a trunk is joined (callflow.sandbox.pstn).
    """
    (etc / "dialplan").mkdir(parents=True, exist_ok=True)
    templates = {t.name: t for t in ETC_TEMPLATES.glob("*.conf")}
    if overlay is not None:
        templates.update({t.name: t for t in overlay.glob("*.conf")})
    for _, template in sorted(templates.items()):
        try:
            text = string.Template(template.read_text()).substitute(values)
        except (KeyError, ValueError) as exc:
            raise SandboxError(f"{template}: unknown placeholder {exc}") from None
        (etc / template.name).write_text(text)
    for dialplan in sorted(DIALPLAN_DIR.glob("*.conf")):
        shutil.copy(dialplan, etc / "dialplan" / dialplan.name)
    (etc / "pjsip_phones.conf").write_text(render_phones(phones))
    (etc / "pjsip_trunk.conf").write_text("; no trunk\n")
    for name, text in (files or {}).items():
        (etc / name).parent.mkdir(parents=True, exist_ok=True)
        (etc / name).write_text(text)
    (etc / "ari.conf").chmod(0o600)


def render_phones(phones: list[Phone]) -> str:
    """PJSIP sections (endpoint, auth, aor) for each phone, from the templates in pjsip.conf."""
    out = []
    for p in phones:
        callerid = f"callerid = {p.caller_id} <{p.caller_id}>\n" if p.caller_id else ""
        out.append(
            f"[{p.name}](phone-endpoint)\ncontext = {p.context}\nauth = {p.name}\n"
            f"aors = {p.name}\n{callerid}\n"
            f"[{p.name}](phone-auth)\nusername = {p.name}\npassword = {p.password}\n\n"
            f"[{p.name}](phone-aor)\n\n"
        )
    return "".join(out)


def rx(info: SandboxInfo, command: str, timeout: float = 30.0) -> str:
    """Run one Asterisk CLI command in the sandbox and return what it printed."""
    result = subprocess.run(
        ["chroot", info.rootfs, ASTERISK, "-C", _conf_in_chroot(info), "-rx", command],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise SandboxError(f"asterisk -rx {command!r} failed: {result.stderr.strip()}")
    return result.stdout


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait until Asterisk's process is gone for good, not only its command line: a dying
    Asterisk still holds its control socket, and a new one would refuse to start
    ("Asterisk already running")."""
    deadline = time.monotonic() + timeout
    proc_dir = Path(f"/proc/{pid}")
    while time.monotonic() < deadline:
        # A zombie leader may still have threads holding the socket: only a reaped
        # process (ours) or one gone from /proc (someone else's) is really gone.
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            if not proc_dir.exists():
                return True
        time.sleep(0.02)
    return False


def _conf_in_chroot(info: SandboxInfo) -> str:
    return "/" + str(Path(info.home).relative_to(info.rootfs)) + "/etc/asterisk.conf"


def stop(info: SandboxInfo, timeout: float = 15.0) -> None:
    """Stop Asterisk by its PID (TERM, then KILL); unmount if no sandbox still uses the rootfs."""
    if _pid_is_our_asterisk(info.pid, info.name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_is_our_asterisk(info.pid, info.name) and time.monotonic() < deadline:
            _reap(info.pid)
            time.sleep(0.1)
        if _pid_is_our_asterisk(info.pid, info.name):
            log.warning("Asterisk (pid %d) ignored SIGTERM; killing it", info.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(info.pid, signal.SIGKILL)
            time.sleep(0.2)
        _reap(info.pid)
    Sandbox.state_file(info.name).unlink(missing_ok=True)
    # The instance folder (config, logs, recordings) goes with it; a failing test has
    # already printed the log.
    shutil.rmtree(info.home, ignore_errors=True)
    others = [
        other
        for path in _instances_dir().glob("*.json")
        if (other := Sandbox.load(path.stem)) is not None and other.rootfs == info.rootfs
    ]
    if not others:
        for sub, _ in reversed(MOUNTS):
            point = Path(info.rootfs) / sub
            if os.path.ismount(point):
                subprocess.run(["umount", str(point)], check=False)
                if os.path.ismount(point):
                    subprocess.run(["umount", "-l", str(point)], check=False)


def _relative_sound_links(rootfs: Path) -> None:
    """Make the sounds folder's language links relative (``en -> en_US_f_Allison``).

    Debian points ``sounds/en`` at ``/etc/alternatives/...``, an absolute path: right inside
    the chroot, but from the host (``callflow check --sounds``, the prompt builder) it leads
    out of the rootfs. Followed inside the rootfs, then written relative, it is right both
    ways.
    """
    sounds = rootfs / "usr/share/asterisk/sounds"
    if not sounds.is_dir():
        return
    for link in sounds.iterdir():
        if not link.is_symlink() or not os.readlink(link).startswith("/"):
            continue
        target = Path(os.readlink(link))
        for _ in range(10):  # follow the chain (alternatives) within the rootfs
            inside = rootfs / target.relative_to("/")
            if not inside.is_symlink():
                break
            nxt = Path(os.readlink(inside))
            target = nxt if nxt.is_absolute() else target.parent / nxt
        inside = rootfs / target.relative_to("/")
        if inside.is_dir() and inside.parent == sounds:
            # Atomically: another sandbox's Asterisk may be reading through it.
            fresh = sounds / f".{link.name}.{os.getpid()}"
            fresh.unlink(missing_ok=True)
            fresh.symlink_to(inside.name)
            os.replace(fresh, link)


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our child, so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
