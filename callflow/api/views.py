"""What the supervisor sees, as plain data read off the queue's Router at a moment ``now``.

No I/O: the JSON routes, the wallboard and the metrics all word these same figures, so a
number on the wallboard is the number the API returns and Prometheus scrapes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, TypedDict

from callflow.queue.agents import Agent, AgentState
from callflow.queue.routing import Router

STATES = tuple(state.value for state in AgentState)
"""Every agent state, in the state machine's order (the keys of ``agents`` below)."""


class QueueView(TypedDict):
    """One queue now."""

    name: str
    waiting: int  # entries in line, callback placeholders included
    callers: int  # callers on the line (placeholders excluded)
    callbacks: int  # callback placeholders keeping a place
    longest_wait: float  # seconds the longest-waiting entry has waited; 0 with nobody
    oldest: str | None  # that entry's id (what changes when someone else becomes the oldest)
    agents: dict[str, int]  # members by state, every state present


class AgentView(TypedDict):
    """One agent now."""

    name: str
    state: str
    reason: str | None
    since: float  # when the state began (seconds since the epoch)
    queues: list[str]
    endpoint: str
    calls_taken: int
    caller: str | None  # the entry being rung or talked to


class CallerView(TypedDict):
    """One entry waiting in a queue."""

    id: str
    queue: str
    caller: str
    kind: str  # caller, or callback (a placeholder)
    position: int
    waited: float
    priority: int | None
    ringing: list[str]  # agents being rung for them


def queue_view(router: Router, queue: str, now: float) -> QueueView:
    """One queue's figures at ``now``."""
    entries = router.entries(queue)
    oldest = min(entries, key=lambda e: e.joined_at, default=None)
    states = Counter(router.agents[name].state.value for name in router.members[queue])
    return {
        "name": queue,
        "waiting": len(entries),
        "callers": sum(1 for e in entries if e.kind == "caller"),
        "callbacks": sum(1 for e in entries if e.kind != "caller"),
        "longest_wait": round(max(0.0, now - oldest.joined_at), 3) if oldest else 0.0,
        "oldest": oldest.id if oldest else None,
        "agents": {state: states.get(state, 0) for state in STATES},
    }


def queue_views(router: Router, now: float) -> list[QueueView]:
    """Every queue's figures, in the configuration's order."""
    return [queue_view(router, name, now) for name in router.queues]


def agent_view(agent: Agent) -> AgentView:
    """One agent's state."""
    return {
        "name": agent.name,
        "state": agent.state.value,
        "reason": agent.pause_reason,
        "since": agent.since,
        "queues": sorted(agent.queues),
        "endpoint": agent.endpoint,
        "calls_taken": agent.calls_taken,
        "caller": agent.entry_id,
    }


def agent_views(router: Router) -> list[AgentView]:
    """Every agent, in the configuration's order."""
    return [agent_view(agent) for agent in router.agents.values()]


def caller_views(router: Router, now: float, queue: str | None = None) -> list[CallerView]:
    """Entries waiting (in one queue, or in all), each queue in service order."""
    queues = [queue] if queue is not None else list(router.queues)
    found: list[CallerView] = []
    for name in queues:
        for position, entry in enumerate(router.entries(name), start=1):
            found.append(
                {
                    "id": entry.id,
                    "queue": name,
                    "caller": entry.caller,
                    "kind": entry.kind,
                    "position": position,
                    "waited": round(max(0.0, now - entry.joined_at), 3),
                    "priority": entry.priority,
                    "ringing": [offer.agent for offer in router.pending(entry.id)],
                }
            )
    return found


def agents_by_state(router: Router) -> dict[str, int]:
    """How many agents are in each state, every state present."""
    states = Counter(agent.state.value for agent in router.agents.values())
    return {state: states.get(state, 0) for state in STATES}


def board_key(views: list[QueueView]) -> list[Any]:
    """What must change for the wallboard to be sent again: everything but the waits,
    which the page counts up by itself between updates."""
    return [{k: v for k, v in view.items() if k != "longest_wait"} for view in views]
