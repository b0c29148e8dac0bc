"""The wallboard's figures of today, kept up to date from the log's new events, equal the
report's figures of the day read in one go, at every refresh."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
from kpi_log import T0, Log, day

from callflow.api.kpis import TODAY_KINDS, Today, report
from callflow.store import SqliteStore

MIDNIGHT = T0.replace(hour=0)
ENDS = tuple(f"callback.{end}" for end in ("completed", "expired", "failed", "cancelled"))


def in_one_go(store: SqliteStore, now: dt.datetime) -> dict[str, dict[str, Any]]:
    """What the board showed before Today: the day's report, read whole at each refresh."""
    start = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    found = report(
        store,
        start,
        start + dt.timedelta(days=1),
        now=now,
        interval="1d",
        lookback=dt.timedelta(0),
    )
    keys = ("offered", "handled", "abandoned", "short_abandons", "sl", "abandon_rate", "asa")
    return {
        row.figures.queue: {k: getattr(row.figures, k) for k in keys}
        for row in found.queues
        if row.whole
    }


def same(board: dict[str, dict[str, Any]], whole: dict[str, dict[str, Any]]) -> bool:
    """The board's figures are the day's, read in one go: the counts and rates exactly,
    ASA to its last bits (the board adds the answered waits up in parts: the calls settled,
    those in progress)."""
    if board.keys() != whole.keys():
        return False
    for name, figures in board.items():
        asa, other = figures["asa"], whole[name]["asa"]
        if {**figures, "asa": None} != {**whole[name], "asa": None}:
            return False
        if (asa is None) != (other is None) or (asa is not None and asa != pytest.approx(other)):
            return False
    return True


def random_day(seed: int, calls: int = 400) -> Log:
    """Callers through two queues: answered, abandoned (some short), timed out into the
    other queue, left for a callback, refused at the door, lost; in log (time) order."""
    rng = random.Random(seed)
    log = Log()
    for n in range(calls):
        call, t = f"c{n}", rng.uniform(0, 30_000)
        queue = rng.choice(("support", "sales"))
        log.add(t, "call.start", call, caller=f"+1555{rng.randrange(40):04d}")
        waited = rng.expovariate(1 / 40)
        fate = rng.random()
        if fate < 0.05:
            log.add(t + 1, "queue.exit", call, queue=queue, reason="full", waited=0.0)
            log.add(t + 2, "call.end", call, outcome="hangup")
            continue
        log.add(t + 1, "queue.enter", call, queue=queue)
        end = t + 1 + waited
        if fate < 0.55:
            log.add(end, "queue.connect", call, queue=queue, agent="a1", waited=waited)
            talk = rng.uniform(10, 300)
            log.add(end + talk, "queue.complete", call, queue=queue, agent="a1", talk=talk)
            end += talk
        elif fate < 0.8:
            log.add(end, "queue.abandon", call, queue=queue, waited=waited)
        elif fate < 0.88:
            other = "sales" if queue == "support" else "support"
            log.add(end, "queue.exit", call, queue=queue, reason="timeout", waited=waited)
            log.add(end, "queue.enter", call, queue=other)
            log.add(end + 5, "queue.abandon", call, queue=other, waited=5.0)
            end += 5
        elif fate < 0.95:
            log.add(end, "queue.exit", call, queue=queue, reason="callback", waited=waited)
            if rng.random() < 0.3:  # a number the queue's rules refuse: no callback made
                log.add(end, "callback.refused", call, queue=queue, reason="too_short")
            else:
                cb = f"cb{n}"
                log.add(end, "callback.requested", call, callback=cb, queue=queue, number="+1")
                if rng.random() < 0.9:  # the rest are still pending at the end of the log
                    over = rng.choice(("completed", "expired", "failed", "cancelled"))
                    log.add(end + rng.uniform(60, 900), f"callback.{over}", "", callback=cb)
        if fate < 0.97 or rng.random() < 0.5:  # the rest: still waiting at the end of the log
            log.add(end + 1, "call.end", call, outcome="hangup")
    return log


def write(store: SqliteStore, events: list[Any]) -> None:
    for event in events:
        store.append(event.kind, event.call_id, dict(event.data), at=event.at)
    store.flush()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_refreshed_a_little_at_a_time_it_equals_the_day_read_in_one_go(
    tmp_path: Path, seed: int
) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    events = random_day(seed).ordered()
    today = Today(dt.UTC)
    rng = random.Random(seed)
    done = 0
    while done < len(events):
        step = rng.randint(1, 60)
        write(store, events[done : done + step])
        done += step
        now = events[min(done, len(events)) - 1].at + dt.timedelta(seconds=rng.uniform(0, 30))
        assert same(today.figures(store, now), in_one_go(store, now))
    counted = [e for e in events if e.kind.startswith(TODAY_KINDS)]
    assert today.events_read == len(counted)  # each event it counts read once
    # It holds the visits of the calls in progress only: the ended calls' are added up.
    ended = {e.call_id for e in events if e.kind == "call.end"}
    going = {e.call_id for e in events if e.kind == "queue.enter"} - ended
    visits, callbacks = today.held
    assert 0 < len(going) <= visits <= 2 * len(going) < len(ended) // 10
    # ... and the callbacks not yet over: none for a refused request (it names none).
    names = {e.data["callback"] for e in events if e.kind == "callback.requested"}
    over = {e.data["callback"] for e in events if e.kind.startswith(ENDS)}
    assert any(e.kind == "callback.refused" for e in events)
    assert callbacks == len(names - over) > 0
    store.close()


def test_the_hand_worked_day_an_event_written_late_and_one_after_now(tmp_path: Path) -> None:
    """An event written after a refresh with an ``at`` before the newest read (within
    OVERLAP) is counted, once; one after ``now`` waits for the refresh whose now it is."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    log = day(Log())
    write(store, [e for e in log.ordered() if e.at < T0 + dt.timedelta(hours=2)])
    today = Today(dt.UTC)
    now = log.at(3600)
    first = today.figures(store, now)
    assert same(first, in_one_go(store, now))
    assert first["support"]["abandoned"] == 3  # c3, c4 and c5 (c3's 3 s a short abandon)
    # c12 joined at 3000 s, the newest event read; c14's visit, written now, began before it.
    late = Log().add(2990, "queue.enter", "c14", queue="support")
    late.add(2998, "queue.abandon", "c14", queue="support", waited=8.0)
    after = now.timestamp() - T0.timestamp()
    late.add(after + 60, "queue.enter", "c15", queue="sales")
    late.add(after + 65, "queue.abandon", "c15", queue="sales", waited=5.0)
    write(store, late.ordered())
    second = today.figures(store, now)
    assert second["support"]["abandoned"] == 4 and second["sales"] == first["sales"]
    assert same(second, in_one_go(store, now)) and today.figures(store, now) == second
    later = now + dt.timedelta(seconds=70)
    third = today.figures(store, later)
    assert same(third, in_one_go(store, later))
    assert third["sales"]["abandoned"] == first["sales"]["abandoned"] + 1
    counted = [e for e in log.events if e.at <= later and e.kind.startswith(TODAY_KINDS)]
    assert today.events_read == len(counted) + 4  # each read once
    store.close()


def test_at_midnight_it_starts_the_new_day(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    log = Log().add(100, "queue.enter", "c1", queue="support")
    log.add(130, "queue.abandon", "c1", queue="support", waited=30.0)
    log.add(86_400 - 9 * 3600 + 10, "queue.enter", "c2", queue="support")  # 00:00:10 next day
    write(store, log.ordered())
    today = Today(dt.UTC)
    assert today.figures(store, log.at(200))["support"]["abandoned"] == 1
    tomorrow = MIDNIGHT + dt.timedelta(days=1, seconds=20)
    figures = today.figures(store, tomorrow)
    assert same(figures, in_one_go(store, tomorrow))
    assert figures["support"]["abandoned"] == 0 and today.events_read == 1
    store.close()
