"""What holds callflow's memory, on demand: ``kill -USR1 <pid>`` logs a report.

The report gives the process's resident size, the live objects the garbage collector
tracks counted by type (most numerous first, with the change since the previous report),
and, when Python traces allocations (``PYTHONTRACEMALLOC=15 callflow run ...``), the source
lines that allocated the most memory still held, with their growth since the previous
report. Two reports some minutes apart under steady traffic show what grows.

It walks every object once (a few tens of milliseconds per 100,000 objects, on the event
loop): a diagnostic to use when memory grows, not to schedule.
"""

from __future__ import annotations

import collections
import gc
import tracemalloc
from dataclasses import dataclass, field
from inspect import isframe
from pathlib import Path

TOP = 15
"""Rows per table."""

HELD = 4
"""Of callflow's own types that grew most, how many have their holders traced."""


@dataclass
class MemoryReports:
    """Successive reports, each compared with the one before."""

    types: collections.Counter[str] = field(default_factory=collections.Counter)
    owned: dict[str, object] = field(default_factory=dict)  # one live object per type of ours
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
        types = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
        lines.append(f"objects the collector tracks: {sum(types.values())}, by type (change):")
        for name, count in types.most_common(TOP):
            lines.append(f"  {count:>9} {count - self.types.get(name, 0):+9} {name}")
        grown = sorted(types, key=lambda n: types[n] - self.types.get(n, 0), reverse=True)
        if self.types:
            lines.append("grown most since the last report:")
            for name in grown[:TOP]:
                lines.append(f"  {types[name] - self.types.get(name, 0):+9} {name}")
            ours = [n for n in grown[:TOP] if n in self.owned and types[n] > self.types[n]]
            for name in ours[:HELD]:
                lines.append(f"what holds a {name} (referrers, nearest first):")
                lines.extend(f"  {line}" for line in _holders(self.owned[name], {id(self.owned)}))
        self.types = types
        self.owned = _callflow_samples()
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


def _callflow_samples() -> dict[str, object]:
    """One live instance of each of callflow's own classes, by name: the last the collector
    lists, in its oldest generation (the likeliest to be kept by a leak)."""
    samples: dict[str, object] = {}
    for o in gc.get_objects():
        kind = type(o)
        module = getattr(kind, "__module__", None)
        if isinstance(module, str) and module.startswith("callflow."):
            samples[kind.__qualname__] = o
    return samples


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
