"""The last-agent index: the agent a caller last spoke with, within a window, in one probe."""

from __future__ import annotations

import datetime as dt
import random

from store_fixtures import DAY, T0

from callflow.queue.routing import last_agent_for
from callflow.store import SqlStore


def _connect(store: SqlStore, caller: object, agent: str, at: dt.datetime) -> None:
    store.append("queue.connect", "c", {"queue": "q", "caller": caller, "agent": agent}, at=at)


def test_the_agent_within_the_window_is_found(store: SqlStore) -> None:
    """A caller answered by an agent 10 days ago is theirs within 30 days, not within 7."""
    _connect(store, "+4411", "alice", T0 - dt.timedelta(days=10))
    now = T0.timestamp()
    assert store.last_agent_sync("+4411", now - 30 * DAY) == "alice"
    assert store.last_agent_sync("+4411", now - 7 * DAY) is None


def test_the_most_recent_call_wins_whatever_the_order_written(store: SqlStore) -> None:
    """The latest answered call decides, even when an older one is written after it."""
    _connect(store, "+4411", "bob", T0)
    _connect(store, "+4411", "alice", T0 - dt.timedelta(hours=1))
    assert store.last_agent_sync("+4411", 0.0) == "bob"
    _connect(store, "+4411", "carol", T0 + dt.timedelta(seconds=1))
    assert store.last_agent_sync("+4411", 0.0) == "carol"


def test_an_unknown_or_anonymous_caller_has_no_last_agent(store: SqlStore) -> None:
    """A caller never answered has no last agent, and calls without a caller teach nothing."""
    _connect(store, "", "alice", T0)
    store.append("queue.connect", "c", {"queue": "q", "agent": "bob"}, at=T0)
    assert store.last_agent_sync("+4499", 0.0) is None
    assert store.last_agent_sync("", 0.0) is None


def test_other_events_do_not_change_the_last_agent(store: SqlStore) -> None:
    """Only a queue.connect teaches the index: a ring or a completion does not."""
    _connect(store, "+4411", "alice", T0)
    store.append("queue.ring", "c", {"caller": "+4411", "agent": "bob"}, at=T0 + dt.timedelta(1))
    store.append("queue.complete", "c", {"caller": "+4411", "agent": "bob"})
    assert store.last_agent_sync("+4411", 0.0) == "alice"


async def test_the_lookup_awaited_on_the_loop_sees_the_latest_connect(store: SqlStore) -> None:
    """``await last_agent`` right after a connect was appended from the loop finds it."""
    _connect(store, "+4411", "alice", dt.datetime.now(dt.UTC))
    assert await store.last_agent("+4411", T0.timestamp()) == "alice"


def test_the_index_agrees_with_the_scan_it_replaces(store: SqlStore) -> None:
    """For random histories, the index gives what routing.last_agent_for gives from every
    queue.connect of the window (the scan the queue made at each join)."""
    rng = random.Random(7)
    now = T0.timestamp()
    callers = [f"+44{n}" for n in range(20)]
    rows = []
    for _ in range(300):
        caller, agent = rng.choice(callers), rng.choice(["alice", "bob", "carol"])
        when = now - rng.uniform(0, 60) * DAY
        rows.append((caller, agent, when))
        _connect(store, caller, agent, dt.datetime.fromtimestamp(when, dt.UTC))
    for days in (1, 7, 30, 90):
        for caller in [*callers, "+4400"]:
            window = [r for r in rows if r[2] >= now - days * DAY]
            expected = last_agent_for(window, caller, now, days)
            assert store.last_agent_sync(caller, now - days * DAY) == expected
