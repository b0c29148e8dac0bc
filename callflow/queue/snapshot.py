"""The agent-state snapshot a wait predictor reads: each serving agent's call so far.

:func:`agent_snapshot` builds, from the router, one :class:`~callflow.queue.estimate.
AgentView` per agent who will take the queue's callers (the agents the estimate counts as
serving: logged in, not paused, no pause pending): a free agent is free now, an agent in
wrap-up is free when it ends (known), an agent ringing or talking has been busy since the
ring or the answer (the router keeps no ring start once a call is answered: a talking
agent's busy time leaves out its ring, a few seconds). The live queue and the simulator
build it with the same function; :func:`snapshot_source` is the form a
:class:`~callflow.queue.estimate.CalibratedPredictor` takes (``snapshot=``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from callflow.queue.agents import AgentState
from callflow.queue.caller import SERVING
from callflow.queue.estimate import AgentSnapshot, AgentView
from callflow.queue.routing import Router


def agent_snapshot(router: Router, queue: str, now: float) -> tuple[AgentView, ...]:
    """The agents serving ``queue`` at ``now``, as a predictor sees them."""
    views = []
    for name in router.members[queue]:
        agent = router.agents[name]
        if agent.state not in SERVING or agent.pending_pause is not None:
            continue
        if agent.state is AgentState.AVAILABLE:
            views.append(AgentView(free_in=0.0))
        elif agent.state is AgentState.WRAPUP:
            until = agent.wrapup_until if agent.wrapup_until is not None else now
            views.append(AgentView(free_in=max(0.0, until - now)))
        else:  # ringing or on a call
            views.append(AgentView(busy_for=max(0.0, now - agent.since)))
    return tuple(views)


def snapshot_source(router: Router, queue: str) -> Callable[[float], AgentSnapshot]:
    """``now -> agent_snapshot(router, queue, now)``, for a predictor's ``snapshot=``."""
    return functools.partial(agent_snapshot, router, queue)


__all__ = ["agent_snapshot", "snapshot_source"]
