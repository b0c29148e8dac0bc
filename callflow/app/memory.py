"""What holds callflow's memory, on demand: ``kill -USR1 <pid>`` logs a report (and the
latency figures of :mod:`callflow.ari.latency`).

The report gives the process's resident size, the live objects the garbage collector
tracks counted by type (most numerous first, with the change since the previous report),
and, when Python traces allocations (``PYTHONTRACEMALLOC=15 callflow run ...``), the source
lines that allocated the most memory still held, with their growth since the previous
report. Two reports some minutes apart under steady traffic show what grows.

It walks every object once (a few tens of milliseconds per 100,000 objects, on the event
loop): a diagnostic to use when memory grows, not to schedule.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import ctypes.util
import functools
import gc
import tracemalloc
from dataclasses import dataclass, field
from inspect import isframe
from pathlib import Path

TOP = 15
"""Rows per table."""

HELD = 4
"""Of callflow's own types that grew most, how many have their holders traced."""

MIB = 1024 * 1024

TRIM_EVERY = 60.0
"""Seconds between two returns of the C allocator's free pages to the system (:func:`trim`)."""


@dataclass
class MemoryReports:
    """Successive reports, each compared with the one before."""

    types: collections.Counter[str] = field(default_factory=collections.Counter)
    snapshot: tracemalloc.Snapshot | None = None

    def report(self) -> str:
        """The report now, as text (several lines), and remember it for the next one.
        Runs a full garbage collection first."""
        # Cycles no longer reachable are freed first: what is counted is what is held.
        unreachable = gc.collect()
        lines = [
            f"memory: resident {_rss_kib() / 1024:.1f} MiB "
            f"(after a full collection, which freed {unreachable} unreachable objects)"
        ]
        lines.extend(_native())
        types = collections.Counter(_name(type(o)) for o in gc.get_objects())
        lines.append(f"objects the collector tracks: {sum(types.values())}, by type (change):")
        for name, count in types.most_common(TOP):
            lines.append(f"  {count:>9} {count - self.types.get(name, 0):+9} {name}")
        grown = sorted(types, key=lambda n: types[n] - self.types.get(n, 0), reverse=True)
        if self.types:
            lines.append("grown most since the last report:")
            for name in grown[:TOP]:
                lines.append(f"  {types[name] - self.types.get(name, 0):+9} {name}")
            owned = _callflow_samples()  # held now: not one that has gone since
            ours = [n for n in grown[:TOP] if n in owned and types[n] > self.types.get(n, 0)]
            for name in ours[:HELD]:
                lines.append(f"what holds a {name} (referrers, nearest first):")
                lines.extend(f"  {line}" for line in _holders(owned[name], {id(owned)}))
            del owned
        self.types = types
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            if self.snapshot is None:
                lines.append("allocated and still held, by line:")
                for stat in snapshot.statistics("lineno")[:TOP]:
                    lines.append(f"  {stat.size / 1024:>9.0f} KiB {stat.count:>8} {stat.traceback}")
            else:
                lines.append("grown most since the last report, by line:")
                for diff in snapshot.compare_to(self.snapshot, "lineno")[:TOP]:
                    size, count = diff.size_diff / 1024, diff.count_diff
                    lines.append(f"  {size:>+9.0f} KiB {count:>+8} {diff.traceback}")
            self.snapshot = snapshot
        else:
            lines.append("(allocation sites: run with PYTHONTRACEMALLOC=15 to see them)")
        return "\n".join(lines)


def _name(kind: type) -> str:
    """A type's name in the report: callflow's own with their module (two modules may each
    have a ``Callback``), the others by their name alone."""
    module = getattr(kind, "__module__", None)
    if isinstance(module, str) and module.startswith("callflow."):
        return f"{module}.{kind.__qualname__}"
    return kind.__qualname__


def _callflow_samples() -> dict[str, object]:
    """One live instance of each of callflow's own classes, by :func:`_name`: the last the
    collector lists, in its oldest generation (the likeliest to be kept by a leak)."""
    samples: dict[str, object] = {}
    for o in gc.get_objects():
        kind = type(o)
        module = getattr(kind, "__module__", None)
        if isinstance(module, str) and module.startswith("callflow."):
            samples[_name(kind)] = o
    return samples


class _MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (malloc.h): sizes in bytes."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def _native() -> list[str]:
    """What the C allocator and SQLite hold, memory the collector does not see: glibc's
    ``mallinfo2`` (all arenas: in use, and freed but kept) and ``sqlite3_memory_used``
    (SQLite's page caches, statements and schema, over every connection). Lines left out
    where a library lacks the call."""
    lines: list[str] = []
    libc = _libc()
    if libc is not None and hasattr(libc, "mallinfo2"):
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
        lines.append(
            f"malloc: {info.uordblks / MIB:.1f} MiB in use, {info.fordblks / MIB:.1f} MiB "
            f"freed and kept, in {info.arena / MIB:.1f} MiB of arenas; "
            f"{info.hblkhd / MIB:.1f} MiB in {info.hblks} mmapped blocks"
        )
    sqlite = _sqlite()
    if sqlite is not None:
        used, peak = sqlite.sqlite3_memory_used(), sqlite.sqlite3_memory_highwater(0)
        lines.append(f"sqlite: {used / MIB:.1f} MiB in use (peak {peak / MIB:.1f} MiB)")
    return lines


def sqlite_memory_used() -> int | None:
    """Bytes SQLite holds now, over every connection of the process (None: unknown)."""
    sqlite = _sqlite()
    return None if sqlite is None else int(sqlite.sqlite3_memory_used())


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library, loaded once (None where it cannot be)."""
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


@functools.cache
def _sqlite() -> ctypes.CDLL | None:
    """The SQLite library Python's sqlite3 uses, its memory calls typed; loaded once."""
    try:
        sqlite = ctypes.CDLL(ctypes.util.find_library("sqlite3"))
        sqlite.sqlite3_memory_used.restype = ctypes.c_int64
        sqlite.sqlite3_memory_highwater.restype = ctypes.c_int64
        sqlite.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
    except (OSError, AttributeError, TypeError):
        return None
    return sqlite


def _holders(target: object, ignore: set[int], depth: int = 5) -> list[str]:
    """Who refers to ``target``, and who to that, ``depth`` levels up: the first referrer
    each level that is not a frame nor one of the ``ignore``d (the report's own records)."""
    lines: list[str] = []
    seen = {id(target), *ignore}
    current = target
    for level in range(depth):
        found = [r for r in gc.get_referrers(current) if id(r) not in seen and not isframe(r)]
        seen.add(id(found))
        if not found:
            break
        current = found[0]
        seen.add(id(current))
        kind = type(current)
        lines.append(f"{'  ' * level}{getattr(kind, '__module__', '?')}.{kind.__qualname__}")
    return lines


def _rss_kib() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def trim() -> bool:
    """Give the pages the C allocator holds free back to the system (glibc's ``malloc_trim``);
    False where the C library has no such call.

    glibc gives a heap's free memory back by itself only from the heap's top. In the hour-long
    soak at 1a96dae, the memory malloc had in use stayed at 15.5 MiB while what it held freed
    grew from 4.6 to 7.2 MiB in 40 minutes, in the main thread's heap, and the resident size
    with it: holes between live blocks, each too small for the next block asked for.
    ``malloc_trim`` also gives back the whole pages inside those holes."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    libc.malloc_trim(0)
    return True


async def keep_trimming(every: float = TRIM_EVERY) -> None:
    """:func:`trim` every ``every`` seconds, in a worker thread (ctypes lets go of the GIL:
    the event loop runs on meanwhile), until cancelled."""
    while True:
        await asyncio.sleep(every)
        if not await asyncio.to_thread(trim):
            return
