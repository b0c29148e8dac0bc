"""A real, throwaway PostgreSQL server for tests: initdb, start, SQL, restart, stop.

Each server is its own cluster in a fresh folder under /tmp, listening on a free loopback
port with ``trust`` authentication for 127.0.0.1 only, and a superuser ``callflow`` who owns
the database ``callflow``. It runs Debian's PostgreSQL (the newest under
/usr/lib/postgresql). PostgreSQL refuses to run as root, so as root every server program
runs as the ``postgres`` system user, which owns the cluster folder.

The server's log is copied to the work folder when the server stops, since the cluster
folder goes with it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresError", "PostgresServer"]

log = logging.getLogger(__name__)

USER = "callflow"
DATABASE = "callflow"
# The system user that runs the server when we are root.
SYSTEM_USER = "postgres"
STOP_TIMEOUT = 30.0


class PostgresError(Exception):
    """The server could not be set up, started, reached or stopped, or a query failed."""


def _bin_dir() -> Path:
    """The newest Debian PostgreSQL's programs, else the folder of initdb on the PATH."""
    found: list[tuple[tuple[int, ...], Path]] = []
    for path in Path("/usr/lib/postgresql").glob("*/bin"):
        version = path.parent.name
        if (path / "initdb").is_file() and all(part.isdigit() for part in version.split(".")):
            found.append((tuple(int(part) for part in version.split(".")), path))
    if found:
        return max(found)[1]
    initdb = shutil.which("initdb")
    if initdb is None:
        raise PostgresError("PostgreSQL is not installed: apt-get install postgresql")
    return Path(initdb).resolve().parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    """Our environment without libpq's PG* variables, which would otherwise override the
    host, port, user or options we pass; and in the C locale, so messages are in English."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _alive(pid: int) -> bool:
    """True while that process exists and is not a zombie waiting for a parent to reap it.

    The postmaster is started by pg_ctl in a session of its own, so it is not our child
    and we cannot reap it: once it has exited, it is gone for us even if /proc still has it.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _children(pid: int) -> list[int]:
    """The PIDs whose parent is that one: the postmaster's backends and workers."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


class PostgresServer:
    """One PostgreSQL cluster with one server on a free loopback port.

    ``start()`` returns the libpq DSN; ``stop()`` stops the server and removes the cluster.
    As a context manager it does both: ``with PostgresServer(tmp) as dsn: ...``.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._bin: Path | None = None
        self._cluster: Path | None = None
        self._port = 0
        self._pid: int | None = None
        # As root, the server programs run as the postgres user (uid, gid); else as we do.
        self._owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise PostgresError(
                    f"running as root needs the {SYSTEM_USER!r} system user to run PostgreSQL "
                    "(apt-get install postgresql creates it)"
                ) from None
            self._owner = (entry.pw_uid, entry.pw_gid)

    # -- what tests use -----------------------------------------------------------------

    @property
    def dsn(self) -> str:
        """The libpq connection string of the ``callflow`` database, as user ``callflow``."""
        if not self._port:
            raise PostgresError("the PostgreSQL server was never started")
        return f"postgresql://{USER}@127.0.0.1:{self._port}/{DATABASE}"

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1; a restart keeps it."""
        if not self._port:
            raise PostgresError("the PostgreSQL server was never started")
        return self._port

    @property
    def pid(self) -> int | None:
        """The postmaster's PID while the server runs, else None."""
        return self._pid

    @property
    def log_file(self) -> Path:
        """The server's log: in the cluster while it exists, in the work folder after."""
        if self._cluster is not None:
            return self._cluster / "postgres.log"
        return self.workdir / "postgres.log"

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server logged, for a failing test or a failed start."""
        path = self.log_file
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def create_database(self, name: str, options: str = "") -> str:
        """Create an empty database ``name`` (``options``: what follows in CREATE DATABASE,
        e.g. a locale); its DSN."""
        self.run_sql(f"CREATE DATABASE {name} {options}".rstrip())
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def run_sql(self, sql: str, *, timeout: float = 30.0) -> str:
        """Run SQL with psql in the ``callflow`` database and return what it printed.

        The output is unaligned and without headers (``psql -At``): one line a row, the
        columns separated by ``|``. The first error stops the script and raises.
        """
        return self._psql(sql, DATABASE, timeout)

    def _psql(self, sql: str, database: str, timeout: float) -> str:
        result = self._run(
            [
                str(self._program("psql")),
                "--no-psqlrc",
                "--quiet",
                "--no-align",
                "--tuples-only",
                "--set=ON_ERROR_STOP=1",
                f"--dbname=postgresql://{USER}@127.0.0.1:{self.port}/{database}",
                "--file=-",
            ],
            input=sql,
            timeout=timeout,
            as_owner=False,
        )
        if result.returncode != 0:
            raise PostgresError(f"psql failed ({result.returncode}): {result.stderr.strip()}")
        return result.stdout

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> str:
        """Create the cluster if there is none yet, start the server, and return the DSN
        once the server accepts connections (within ``timeout`` seconds).

        If the start fails, the server and the cluster are gone when the error is raised.
        """
        if self._pid is not None:
            raise PostgresError(f"the PostgreSQL server is already running (pid {self._pid})")
        try:
            if self._cluster is None:
                self._create_cluster()
                self._start_on_free_port(timeout)
                self._psql(f"CREATE DATABASE {DATABASE} OWNER {USER}", "postgres", timeout)
            else:
                self._start_server(timeout)
        except BaseException:
            self.stop()
            raise
        return self.dsn

    def restart(self, timeout: float = 30.0) -> str:
        """Stop the server and start it again on the same cluster and port: the data stays."""
        self.down()
        return self.start(timeout)

    def down(self) -> None:
        """Stop the server and keep its cluster: the database is away until :meth:`start`
        brings it back, on the same port, with its data (an outage, for tests)."""
        if self._cluster is None:
            raise PostgresError("no PostgreSQL cluster to stop: start() makes one")
        try:
            self._stop_server()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (a fast shutdown, else SIGKILL), keep its log in the work folder,
        and remove the cluster. Safe to call again, or after a failed start."""
        try:
            self._stop_server()
        finally:
            self._remove_cluster()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers ------------------------------------------------------------------------

    def _program(self, name: str) -> Path:
        if self._bin is None:
            self._bin = _bin_dir()
        return self._bin / name

    def _run(
        self,
        args: list[str],
        *,
        timeout: float,
        input: str | None = None,
        as_owner: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL program, as the cluster's owner unless ``as_owner`` is False
        (psql talks to the server over TCP and needs no access to the cluster)."""
        if as_owner and self._owner is not None:
            args = ["runuser", "-u", SYSTEM_USER, "--", *args]
        # The postgres user may not be allowed into our current folder; the cluster is its.
        cwd = self._cluster if self._cluster is not None else Path("/")
        try:
            return subprocess.run(  # noqa: S603 (our argument lists, no shell)
                args,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=cwd,
                env=_environment(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PostgresError(f"{Path(args[0]).name} did not finish within {timeout} s") from None

    def _create_cluster(self) -> None:
        """initdb in a fresh folder the server's user can reach and own.

        The folder is directly under /tmp, not in the work folder: pytest's folders under
        /tmp/pytest-of-root are closed to the postgres user, and the Unix socket's path
        must stay under 108 bytes.
        """
        self._cluster = Path(tempfile.mkdtemp(prefix="callflow-pg-", dir="/tmp"))
        if self._owner is not None:
            os.chown(self._cluster, *self._owner)
        data = self._cluster / "data"
        result = self._run(
            [
                str(self._program("initdb")),
                f"--pgdata={data}",
                f"--username={USER}",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                # initdb's own final sync only protects a fresh cluster against an OS crash,
                # which would lose this throwaway one anyway; the server keeps fsync on.
                "--no-sync",
            ],
            timeout=120,
        )
        if result.returncode != 0:
            raise PostgresError(
                f"initdb failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )
        # Only TCP from loopback, without a password; no line for the Unix socket, so
        # nobody else on the machine gets in through it.
        self._write(data / "pg_hba.conf", "host all all 127.0.0.1/32 trust\n")
        socket_dir = self._cluster / "run"
        socket_dir.mkdir(mode=0o700)
        if self._owner is not None:
            os.chown(socket_dir, *self._owner)
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# callflow.testing.postgres\ninclude 'callflow.conf'\n")

    def _write_settings(self) -> None:
        """Our settings, in a file of their own that postgresql.conf includes last."""
        assert self._cluster is not None
        self._write(
            self._cluster / "data" / "callflow.conf",
            f"listen_addresses = '127.0.0.1'\n"
            f"port = {self._port}\n"
            f"unix_socket_directories = '{self._cluster / 'run'}'\n"
            "max_connections = 100\n"
            # fsync stays on (the default): a store is tested on a server that syncs.
            "fsync = on\n",
        )

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(0o600)
        if self._owner is not None:
            os.chown(path, *self._owner)

    def _start_on_free_port(self, timeout: float) -> None:
        """Start on a free port. The port is picked before the server binds it, so another
        process may take it in between: then the server exits at once, and is started
        again on another port."""
        for attempt in range(3):
            self._port = _free_port()
            self._write_settings()
            try:
                self._start_server(timeout)
                return
            except PostgresError:
                if attempt == 2 or "Address already in use" not in self.log_tail():
                    raise
                log.info("port %d was taken before PostgreSQL bound it; retrying", self._port)
                self._stop_server()

    def _start_server(self, timeout: float) -> None:
        assert self._cluster is not None
        data = self._cluster / "data"
        deadline = time.monotonic() + timeout
        # pg_ctl starts the postmaster in a session of its own and waits (-w) until it
        # accepts connections or has exited.
        result = self._run(
            [
                str(self._program("pg_ctl")),
                "start",
                f"--pgdata={data}",
                f"--log={self._cluster / 'postgres.log'}",
                "--wait",
                f"--timeout={max(1, round(timeout))}",
                "--silent",
            ],
            timeout=timeout + 10,
        )
        self._pid = self._read_pid()
        if result.returncode != 0:
            raise PostgresError(
                f"PostgreSQL did not start on 127.0.0.1:{self._port}: "
                f"{(result.stdout + result.stderr).strip()}\n{self.log_tail()}"
            )
        # pg_ctl saw the server ready; check that it is so where tests connect: on TCP.
        while True:
            ready = self._run(
                [
                    str(self._program("pg_isready")),
                    "--host=127.0.0.1",
                    f"--port={self._port}",
                    f"--username={USER}",
                    "--dbname=postgres",
                    "--timeout=2",
                    "--quiet",
                ],
                timeout=10,
                as_owner=False,
            )
            if ready.returncode == 0:
                return
            if self._pid is None or not _alive(self._pid) or time.monotonic() > deadline:
                raise PostgresError(
                    f"PostgreSQL does not accept connections on 127.0.0.1:{self._port}\n"
                    + self.log_tail()
                )
            time.sleep(0.1)

    def _read_pid(self) -> int | None:
        """The postmaster's PID from its lock file, if it is there and the process lives."""
        if self._cluster is None:
            return None
        try:
            pid = int((self._cluster / "data" / "postmaster.pid").read_text().split("\n")[0])
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def _stop_server(self) -> None:
        """pg_ctl stop -m fast; if the server is still there after that, SIGKILL it and its
        children (they would exit on their own once they notice, but not at once)."""
        pid = self._pid if self._pid is not None else self._read_pid()
        self._pid = None
        if pid is None or self._cluster is None:
            return
        if _alive(pid):
            with contextlib.suppress(PostgresError):
                result = self._run(
                    [
                        str(self._program("pg_ctl")),
                        "stop",
                        f"--pgdata={self._cluster / 'data'}",
                        "--mode=fast",
                        "--wait",
                        f"--timeout={STOP_TIMEOUT:.0f}",
                        "--silent",
                    ],
                    timeout=STOP_TIMEOUT + 10,
                )
                if result.returncode != 0:
                    log.warning(
                        "pg_ctl stop failed (%d): %s", result.returncode, result.stderr.strip()
                    )
        if _alive(pid):
            log.warning("PostgreSQL (pid %d) did not stop; killing it", pid)
            self._kill(pid)

    def _kill(self, pid: int) -> None:
        """SIGKILL the postmaster and its children, then remove the shared memory that a
        shutdown would have removed: the SysV segment named in postmaster.pid and the
        POSIX segments (/dev/shm/PostgreSQL.*) those processes had mapped."""
        processes = (pid, *_children(pid))
        posix_segments: set[str] = set()
        for process in processes:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{process}/maps").read_text().splitlines():
                    path = line.split(maxsplit=5)[5:]
                    if path and path[0].startswith("/dev/shm/PostgreSQL."):  # noqa: S108 (read)
                        posix_segments.add(path[0].removesuffix(" (deleted)"))
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in processes) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            raise PostgresError(f"PostgreSQL (pid {pid}) survived SIGKILL")
        for segment in posix_segments:
            Path(segment).unlink(missing_ok=True)
        assert self._cluster is not None
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Line 7 of postmaster.pid: the SysV segment's key and id.
            lock = (self._cluster / "data" / "postmaster.pid").read_text().splitlines()
            shmid = int(lock[6].split()[1])
            self._run(["ipcrm", "-m", str(shmid)], timeout=10, as_owner=False)

    def _remove_cluster(self) -> None:
        if self._cluster is None:
            return
        cluster, self._cluster = self._cluster, None
        server_log = cluster / "postgres.log"
        if server_log.exists():
            with contextlib.suppress(OSError):
                self.workdir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(server_log, self.workdir / "postgres.log")
        shutil.rmtree(cluster, ignore_errors=True)
