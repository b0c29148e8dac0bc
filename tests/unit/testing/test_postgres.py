"""callflow.testing.postgres: a real PostgreSQL server that keeps its data across a restart
and leaves no process and no folder behind."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest

from callflow.testing import postgres
from callflow.testing.postgres import PostgresError, PostgresServer


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (the postmaster is not our child)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _cluster_dirs() -> set[Path]:
    return set(Path("/tmp").glob("callflow-pg-*"))


def _postgres_pids() -> list[int]:
    """PIDs of postgres processes whose command line names a test cluster's data folder."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"/callflow-pg-" in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def test_a_row_survives_a_restart_and_stop_leaves_nothing(tmp_path: Path) -> None:
    before = _cluster_dirs()
    server = PostgresServer(tmp_path)
    dsn = server.start()
    try:
        assert dsn == f"postgresql://callflow@127.0.0.1:{server.port}/callflow"
        assert server.dsn == dsn
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE calls (id integer PRIMARY KEY, outcome text NOT NULL)")
            conn.execute("INSERT INTO calls VALUES (%s, %s)", (1, "answered"))
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT id, outcome FROM calls").fetchall() == [(1, "answered")]

        first_pid, port = server.pid, server.port
        assert first_pid is not None and _alive(first_pid)
        cluster = _cluster_dirs() - before
        assert len(cluster) == 1

        assert server.restart() == dsn
        assert server.port == port
        assert server.pid is not None and server.pid != first_pid
        assert not _alive(first_pid)
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT id, outcome FROM calls").fetchall() == [(1, "answered")]
        assert server.run_sql("SELECT id, outcome FROM calls") == "1|answered\n"
        assert server.run_sql("SHOW fsync; SHOW max_connections") == "on\n100\n"
    finally:
        pid = server.pid
        server.stop()
    assert pid is not None and not _alive(pid)
    assert server.pid is None
    assert not any(path.exists() for path in cluster)
    assert _cluster_dirs() <= before
    # The server's log outlives the cluster, for a failing test to show.
    assert "database system is shut down" in (tmp_path / "postgres.log").read_text()
    server.stop()  # a second stop does nothing


def test_as_a_context_manager(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path)
    with server as dsn:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT current_user, current_database()").fetchone()
        assert row == ("callflow", "callflow")
        pid = server.pid
    assert pid is not None and not _alive(pid)
    assert server.pid is None


def test_run_sql_raises_on_an_error(tmp_path: Path) -> None:
    server = PostgresServer(tmp_path)
    with server, pytest.raises(PostgresError, match="no_such_table"):
        server.run_sql("SELECT * FROM no_such_table")


def test_a_failed_start_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every port offered is taken: the server cannot listen, and the error shows its log;
    the cluster initdb made is gone, and so is any server process."""
    before = _cluster_dirs()
    running = set(_postgres_pids())  # other tests' servers (the store tests' session one)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taker:
        taker.bind(("127.0.0.1", 0))
        taker.listen()
        taken = taker.getsockname()[1]
        monkeypatch.setattr(postgres, "_free_port", lambda: taken)
        server = PostgresServer(tmp_path)
        with pytest.raises(PostgresError, match="Address already in use"):
            server.start()
    assert server.pid is None
    assert _cluster_dirs() <= before
    assert not [pid for pid in set(_postgres_pids()) - running if _alive(pid)]
