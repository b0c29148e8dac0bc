"""After a restart, agents come back as the event log last saw them."""

from __future__ import annotations

import pytest

from callflow.queue.config import parse_queues
from callflow.queue.live import QueueService
from callflow.store import SqliteStore

QUEUES = """\
agents:
  alice: {endpoint: PJSIP/alice, queues: [support]}
  bob: {endpoint: PJSIP/bob, queues: [support]}
  carol: {endpoint: PJSIP/carol, queues: [support]}
  dave: {endpoint: PJSIP/dave, queues: [support]}
queues:
  support: {join_when_empty: yes}
"""


def service(store: SqliteStore) -> QueueService:
    center, diagnostics = parse_queues("queues.yaml", QUEUES)
    assert center is not None, diagnostics
    return QueueService(center, store, clock=lambda: 1000.0)


def states(queues: QueueService) -> dict[str, tuple[str, str | None]]:
    return {n: (a.state.value, a.pause_reason) for n, a in queues.router.agents.items()}


def test_a_restarted_service_restores_logins_and_pauses(store: SqliteStore) -> None:
    """Logged in (even mid-call) comes back available, paused keeps its reason, logged out
    stays out, and an agent gone from the configuration is skipped."""
    before = service(store)
    before.login("alice")
    before.login("bob")
    before.pause("bob", "lunch")
    before.login("carol")
    before.logout("carol")
    before.login("dave")
    before.router.agents["dave"].ring(1001.0, "call-1", "support")  # dave's phone rings
    before._agents_changed()
    store.append("agent.state", "", {"agent": "zed", "state": "available", "reason": None})
    assert states(before)["dave"][0] == "ringing"

    after = service(store)
    assert sorted(after.restore_agents()) == ["alice", "bob", "dave"]
    assert states(after) == {
        "alice": ("available", None),
        "bob": ("paused", "lunch"),
        "carol": ("logged_out", None),
        "dave": ("available", None),
    }
    # The restored states are logged too: the log shows the restart.
    tail = [(e.data["agent"], e.data["state"]) for e in store.events(kind="agent.state")[-3:]]
    assert sorted(tail) == [("alice", "available"), ("bob", "paused"), ("dave", "available")]


def test_latest_reads_the_newest_event_per_key(store: SqliteStore) -> None:
    for agent, state in [("a", "available"), ("b", "paused"), ("a", "logged_out")]:
        store.append("agent.state", "", {"agent": agent, "state": state})
    store.append("queue.enter", "c1", {"agent": "a"})
    latest = store.latest("agent.state", "agent")
    assert {k: v.data["state"] for k, v in latest.items()} == {"a": "logged_out", "b": "paused"}
    with pytest.raises(ValueError):
        store.latest("agent.state", "agent') OR 1=1 --")
