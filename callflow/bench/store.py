"""The store benchmark: the last-agent lookup at queue join, and what ``append`` costs the loop.

``lookup``
    a store holding ``answered`` answered queue calls (``queue.connect`` events spread over
    60 days, callers calling four times on average, 50 agents), and callers joining a queue
    with ``last_agent.days: 30``. Three ways: the scan callflow made before (every
    ``queue.connect`` of the window read and decoded on the event loop, then
    ``routing.last_agent_for``; one lookup only at the largest size, where it takes
    seconds) and the index (``await store.last_agent(caller, since)``: one probe of
    ``last_agents`` in a worker thread; and, to show what the hop to that thread costs, the
    same probe made on the loop with ``last_agent_sync``). Latency as the joining call sees it,
    p50/p90/p99/max over ``lookups`` joins, half of them by callers the store knows.
    The files are generated with one ``executemany`` in one transaction (``fill_s``).

``append``
    ``events`` events appended from a coroutine, one after another, as calls do: how long
    each ``append()`` call holds the event loop (p50/p99/max), and the rate at which they are
    committed. Before: one autocommitted INSERT on the loop per event (WAL, synchronous
    NORMAL, as callflow did); now: queued to the writer thread, committed in batches.

Other events of a call (flow steps, rings...) are left out of the generated log: neither
way reads them. Files go to a temporary folder (``folder`` to choose the disk).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from callflow.queue.routing import last_agent_for
from callflow.store import SqliteStore, SqlStore, open_store
from callflow.store.schema import REMEMBER_AGENT
from callflow.testing.postgres import PostgresServer

DAY = 86_400.0
SPAN_DAYS = 60  # answered calls are spread over this many days before now
WINDOW_DAYS = 30  # the queue's last_agent.days
AGENTS = 50
CALLS_PER_CALLER = 4

SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000, 100_000)

SCAN = "scan of the window (before)"
PROBE = "index, on the loop"
AWAIT = "index (await last_agent)"


@dataclass(frozen=True)
class LookupRow:
    """One way of finding a caller's last agent, at one size of the event log."""

    way: str
    answered: int
    lookups: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    fill_s: float
    measure: str = "lookup"

    def cells(self) -> tuple[str, ...]:
        """The row as the table prints it."""
        ms = (self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms)
        figures = (f"{self.answered}", f"{self.lookups}", *(f"{m:.3f}" for m in ms))
        return (self.way, *figures, f"{self.fill_s:.2f}")


@dataclass(frozen=True)
class AppendRow:
    """One way of appending events, as the event loop sees it."""

    way: str
    events: int
    blocked_p50_us: float
    blocked_p99_us: float
    blocked_max_us: float
    events_per_s: float
    measure: str = "append"

    def cells(self) -> tuple[str, ...]:
        """The row as the table prints it."""
        us = (self.blocked_p50_us, self.blocked_p99_us, self.blocked_max_us)
        return (self.way, f"{self.events}", *(f"{u:.1f}" for u in us), f"{self.events_per_s:.0f}")


def _quantile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


@dataclass(frozen=True)
class _History:
    """``answered`` calls spread over SPAN_DAYS before now: who called, when, to whom."""

    callers: list[str]
    times: list[float]
    who: list[str]
    agents: list[str]

    @classmethod
    def of(cls, answered: int, now: float, seed: int) -> _History:
        rng = random.Random(seed)
        callers = [f"+44{7000000000 + n}" for n in range(max(1, answered // CALLS_PER_CALLER))]
        span = SPAN_DAYS * DAY
        times = sorted(now - span + span * rng.random() for _ in range(answered))
        who = rng.choices(callers, k=answered)
        agents = rng.choices([f"agent{n}" for n in range(AGENTS)], k=answered)
        return cls(callers, times, who, agents)

    def events(self) -> Iterator[tuple[int, str, str, str, str]]:
        """(id, at, kind, call id, data) of each queue.connect, in the order of the ids."""
        for n, (when, caller, agent) in enumerate(
            zip(self.times, self.who, self.agents, strict=True)
        ):
            yield (
                n + 1,
                dt.datetime.fromtimestamp(when, dt.UTC).isoformat(),
                "queue.connect",
                f"call-{n:08d}",  # in the order of the ids, as a live log's are
                f'{{"queue": "support", "agent": "{agent}", "caller": "{caller}", "waited": 12.5}}',
            )

    def last_agents(self) -> Iterator[tuple[str, str, float, str]]:
        """(caller, agent, at, node) of each caller's latest call: the index's rows."""
        latest = {
            c: (when, a) for when, c, a in zip(self.times, self.who, self.agents, strict=True)
        }
        for caller, (when, agent) in latest.items():
            yield caller, agent, when, ""


def fill(path: Path, answered: int, now: float, seed: int = 1) -> tuple[list[str], float]:
    """Write a store at ``path`` with ``answered`` answered calls; (the callers, seconds)."""
    started = time.perf_counter()
    SqliteStore(path).close()  # the current schema
    history = _History.of(answered, now, seed)
    db = sqlite3.connect(path, isolation_level=None)
    # One writer, a file nobody reads yet: no journal to keep, nothing to sync.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-131072")
    db.execute("BEGIN")
    # Indexes built once at the end, not row by row: half the time.
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event_log'"
        " AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    db.executemany(
        "INSERT INTO event_log (id, at, kind, call_id, data) VALUES (?, ?, ?, ?, ?)",
        history.events(),
    )
    for _, sql in indexes:
        db.execute(sql)
    db.executemany(REMEMBER_AGENT, history.last_agents())
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    return history.callers, time.perf_counter() - started


def fill_postgres(
    database: str, answered: int, now: float, seed: int = 1
) -> tuple[list[str], float]:
    """The same store in an empty PostgreSQL ``database`` (COPY, then ANALYZE)."""
    import psycopg  # the PostgreSQL driver, needed only here

    started = time.perf_counter()
    open_store(database).close()  # the current schema
    history = _History.of(answered, now, seed)
    with psycopg.connect(database) as db, db.cursor() as cursor:
        with cursor.copy("COPY event_log (id, at, kind, call_id, data) FROM STDIN") as copy:
            for row in history.events():
                copy.write_row(row)
        with cursor.copy("COPY last_agents (caller, agent, at, node) FROM STDIN") as copy:
            for latest in history.last_agents():
                copy.write_row(latest)
        cursor.execute("SELECT setval('event_ids', %s)", (answered + 1,))
        cursor.execute("ANALYZE")
    return history.callers, time.perf_counter() - started


def _scan(store: SqlStore, caller: str, now: float) -> str | None:
    """What QueueService did at each join before the index (``_history`` + last_agent_for)."""
    start = dt.datetime.fromtimestamp(now - WINDOW_DAYS * DAY, dt.UTC)
    history = [
        (str(e.data["caller"]), str(e.data["agent"]), e.at.timestamp())
        for e in store.events(kind="queue.connect", since=start)
        if e.data.get("caller")
    ]
    return last_agent_for(history, caller, now, WINDOW_DAYS)


async def _time_lookups(
    store: SqlStore, callers: Sequence[str], now: float, way: str
) -> list[float]:
    since = now - WINDOW_DAYS * DAY
    if way != SCAN:
        await store.last_agent(callers[0], since)  # the worker thread opens its connection
    took = []
    for caller in callers:
        started = time.perf_counter()
        if way == SCAN:
            _scan(store, caller, now)
        elif way == PROBE:
            store.last_agent_sync(caller, since)
        else:
            await store.last_agent(caller, since)
        took.append((time.perf_counter() - started) * 1000)
    return sorted(took)


def bench_lookup(
    folder: Path,
    sizes: Iterable[int],
    lookups: int,
    scans: int,
    scan_up_to: int,
    postgres: PostgresServer | None = None,
) -> list[LookupRow]:
    """Each way of finding the last agent, at each size of the event log; with a
    ``postgres`` server, the index's two ways on a PostgreSQL store of that size too."""
    rows = []
    for answered in sizes:
        path = folder / f"lookup-{answered}.sqlite3"
        now = time.time()
        known, fill_s = fill(path, answered, now)
        rng = random.Random(answered)
        joining = [rng.choice(known) if n % 2 else f"+33{600000000 + n}" for n in range(lookups)]
        store = SqliteStore(path)
        try:
            ways = [
                (SCAN, joining[: scans if answered <= scan_up_to else 1]),
                (PROBE, joining),
                (AWAIT, joining),
            ]
            rows += _lookup_rows(store, ways, answered, now, fill_s)
        finally:
            store.close()
            path.unlink()
        if postgres is None:
            continue
        database = postgres.create_database(f"lookup_{answered}")
        _, fill_s = fill_postgres(database, answered, now)
        pg = open_store(database)
        try:
            ways = [(PROBE, joining), (AWAIT, joining)]
            rows += _lookup_rows(pg, ways, answered, now, fill_s, label=", PostgreSQL")
        finally:
            pg.close()
            postgres.run_sql(f"DROP DATABASE lookup_{answered}")
    return rows


def _lookup_rows(
    store: SqlStore,
    ways: Sequence[tuple[str, Sequence[str]]],
    answered: int,
    now: float,
    fill_s: float,
    label: str = "",
) -> list[LookupRow]:
    """Time each way on ``store``; a row each, its way named with ``label`` after it."""
    rows = []
    for way, callers in ways:
        took = asyncio.run(_time_lookups(store, callers, now, way))
        rows.append(
            LookupRow(
                way=way + label,
                answered=answered,
                lookups=len(took),
                p50_ms=round(_quantile(took, 0.5), 3),
                p90_ms=round(_quantile(took, 0.9), 3),
                p99_ms=round(_quantile(took, 0.99), 3),
                max_ms=round(took[-1], 3),
                fill_s=round(fill_s, 2),
            )
        )
    return rows


def _old_append(path: Path) -> Callable[[str, str, dict[str, object]], object]:
    """callflow's append before the writer thread: an autocommitted INSERT on the caller's
    thread."""
    SqliteStore(path).close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")

    def append(kind: str, call_id: str, data: dict[str, object]) -> object:
        when = dt.datetime.now(dt.UTC).isoformat()
        return db.execute(
            "INSERT INTO event_log (at, kind, call_id, data) VALUES (?, ?, ?, ?)",
            (when, kind, call_id, json.dumps(data)),
        ).lastrowid

    return append


async def _time_appends(
    append: Callable[[str, str, dict[str, object]], object], flush: Callable[[], None], events: int
) -> tuple[list[float], float]:
    took = []
    started = time.perf_counter()
    for n in range(events):
        data: dict[str, object] = {"queue": "support", "agent": "agent7", "caller": f"+44{n}"}
        before = time.perf_counter()
        append("queue.connect" if n % 10 == 0 else "flow.step", f"call-{n // 10}", data)
        took.append((time.perf_counter() - before) * 1_000_000)
        if n % 100 == 99:
            await asyncio.sleep(0)  # calls take turns on the loop
    flush()
    return sorted(took), time.perf_counter() - started


def bench_append(folder: Path, events: int, database: str | None = None) -> list[AppendRow]:
    """Both ways of appending ``events`` events from the event loop; and, given a PostgreSQL
    ``database``, the writer thread committing to it (the multi-node store)."""
    rows = []
    old = _old_append(folder / "append-before.sqlite3")
    store = SqliteStore(folder / "append-now.sqlite3")
    stores: list[SqlStore] = [store]
    try:
        ways = [
            ("on the loop (before)", old, lambda: None),
            ("writer thread (now)", store.append, store.flush),
        ]
        if database is not None:
            stores.append(open_store(database))
            ways.append(("writer thread, PostgreSQL", stores[-1].append, stores[-1].flush))
        for way, append, flush in ways:
            took, seconds = asyncio.run(_time_appends(append, flush, events))
            rows.append(
                AppendRow(
                    way=way,
                    events=events,
                    blocked_p50_us=round(_quantile(took, 0.5), 1),
                    blocked_p99_us=round(_quantile(took, 0.99), 1),
                    blocked_max_us=round(took[-1], 1),
                    events_per_s=round(events / seconds),
                )
            )
    finally:
        for opened in stores:
            opened.close()
    return rows


def run_store_bench(
    *,
    quick: bool,
    as_json: bool,
    folder: Path | None = None,
    write: Callable[[str], None] = print,
    sizes: Sequence[int] | None = None,
    events: int | None = None,
    postgresql: bool = False,
) -> int:
    """Run the bench and print two tables (or one JSON object per line); 0 when it ran.
    ``sizes`` and ``events`` replace the default sizes (tests); ``postgresql``: appends to
    a PostgreSQL server of the run's own too."""
    sizes = sizes or (QUICK_SIZES if quick else SIZES)
    lookups, scans = (300, 3) if quick else (2000, 5)
    scan_up_to = sizes[-2] if len(sizes) > 1 else sizes[0]
    events = events or (5000 if quick else 20_000)
    with tempfile.TemporaryDirectory(prefix="callflow-bench-store-", dir=folder) as tmp:
        if postgresql:
            server = PostgresServer(Path(tmp) / "postgres")
            try:
                database = server.start()
                lookup_rows = bench_lookup(Path(tmp), sizes, lookups, scans, scan_up_to, server)
                append_rows = bench_append(Path(tmp), events, database)
            finally:
                server.stop()
        else:
            lookup_rows = bench_lookup(Path(tmp), sizes, lookups, scans, scan_up_to)
            append_rows = bench_append(Path(tmp), events)
    if as_json:
        rows: list[LookupRow | AppendRow] = [*lookup_rows, *append_rows]
        for row in rows:
            write(json.dumps(asdict(row)))
        return 0
    write(
        f"last-agent lookup at queue join: window {WINDOW_DAYS} of {SPAN_DAYS} days, "
        f"half the joining callers known; latency as the joining call sees it"
    )
    _table(
        write,
        ["answered", "lookups", "p50 ms", "p90 ms", "p99 ms", "max ms", "fill s"],
        [row.cells() for row in lookup_rows],
    )
    write("")
    write(f"append from the event loop: {events} events; how long each call holds the loop")
    _table(
        write,
        ["events", "p50 us", "p99 us", "max us", "events/s"],
        [row.cells() for row in append_rows],
    )
    return 0


def _table(write: Callable[[str], None], columns: list[str], rows: list[tuple[str, ...]]) -> None:
    """A header, a rule and the rows: the way on the left, figures right-aligned."""
    width = max([28, *(len(row[0]) for row in rows)])
    header = f"{'way':<{width}}" + "".join(f" {name:>9}" for name in columns)
    write(header)
    write("-" * len(header))
    for way, *figures in rows:
        write(f"{way:<{width}}" + "".join(f" {figure:>9}" for figure in figures))
