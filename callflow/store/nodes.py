"""One running callflow per node name and store.

A node takes back what its former life left (its waiting callers, its calls, its callbacks,
its agents' states: the ``mine=True`` reads) under its name. Two processes running at once
under one name on one store would each take the other's callers on its next restart, and
on SQLite two processes on one file under one name are that same mistake. So a process
claims its name in the store's ``nodes`` table when it starts, says it is alive every
:data:`HEARTBEAT` seconds, and lets the name go when it stops.

The claim is refused while another process holds the name and is alive: it said so within
:data:`STALE_AFTER` seconds, and it is not a former life of this one. A former life is a
holder on this host whose process is gone (``kill -9``, a crash), or whose pid is this
process's own (a container restarted: callflow is pid 1 again); it is taken over at once,
so a restart after a crash never waits. A holder on another host that stopped saying it is
alive is gone after :data:`STALE_AFTER` seconds.

This module decides; :class:`~callflow.store.sql.SqlStore` reads and writes the rows.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import StoreError

HEARTBEAT = 10.0
"""Seconds between a running node's "still alive" writes."""
STALE_AFTER = 60.0
"""A holder not heard of for this long is gone (six heartbeats: a slow disk or a database
failover in between is not a death)."""


@dataclass(frozen=True)
class NodeLife:
    """Who holds a node name: the host and process, the process life's tag, and when it
    started and last said it was alive (Unix seconds)."""

    name: str
    host: str
    pid: int
    life: str
    started_at: float
    seen_at: float

    def describe(self, now: float) -> str:
        """``host ci-1, pid 4242, heard of 3 s ago``."""
        return (
            f"host {self.host}, pid {self.pid}, heard of {max(0.0, now - self.seen_at):.0f} s ago"
        )


def this_life(name: str, life: str, now: float) -> NodeLife:
    """This process, as the holder of ``name``."""
    return NodeLife(name, socket.gethostname(), os.getpid(), life, now, now)


def callflow_running(pid: int) -> bool:
    """Whether ``pid`` is a live callflow process on this host (not a pid reused since)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # no such process (or no /proc: then ask the kernel)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not Path("/proc").is_dir()
    return b"callflow" in command


ENDED = "ended: its process is gone"
SILENT = "silent: taken as gone"


def why_free(
    holder: NodeLife | None,
    me: NodeLife,
    now: float,
    *,
    stale_after: float = STALE_AFTER,
    running: Callable[[int], bool] = callflow_running,
) -> str | None:
    """Why ``me`` may take the name from ``holder``; None while a running process keeps it.

    ``free`` (nobody holds it), ``mine`` (this life), :data:`ENDED` (a former life on this
    host: crashed, or a restarted container whose callflow has this pid again), or
    :data:`SILENT` (not heard of for ``stale_after`` seconds)."""
    if holder is None:
        return "free"
    if holder.life == me.life:
        return "mine"
    if holder.host == me.host and (holder.pid == me.pid or not running(holder.pid)):
        return ENDED
    if now - holder.seen_at > stale_after:
        return SILENT
    return None


def may_claim(
    holder: NodeLife | None,
    me: NodeLife,
    now: float,
    *,
    stale_after: float = STALE_AFTER,
    running: Callable[[int], bool] = callflow_running,
) -> bool:
    """Whether ``me`` may take the name from ``holder`` (None: nobody holds it)."""
    return why_free(holder, me, now, stale_after=stale_after, running=running) is not None


class NodeInUse(StoreError):
    """Another running callflow holds this node name on this store."""

    def __init__(self, store: str, holder: NodeLife, now: float) -> None:
        name = f"node {holder.name!r}" if holder.name else "a node with no name (node:)"
        super().__init__(
            f"{store}: {name} is already running ({holder.describe(now)}). Two processes"
            " under one name on one store take each other's callers when either restarts:"
            " give this one its own node: name, or stop the other (one not heard of for"
            f" {STALE_AFTER:.0f} s is taken as gone)"
        )
        self.holder = holder


__all__ = [
    "ENDED",
    "HEARTBEAT",
    "SILENT",
    "STALE_AFTER",
    "NodeInUse",
    "NodeLife",
    "callflow_running",
    "may_claim",
    "this_life",
    "why_free",
]
