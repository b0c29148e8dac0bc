"""Blending: which idle agents of inbound queues the dialer may take for outbound calls, so
that the inbound queues keep their service level (pure, time passed in).

Inbound has priority in two ways:

1. **a caller waiting**: an agent any of whose queues has someone waiting (a caller, or a
   callback placeholder) is the queue's, never the dialer's;
2. **the hold-back**: with nobody waiting, the dialer still leaves each inbound queue as
   many idle agents as its service-level goal needs. From what the campaign has learnt of
   the queue (:class:`InboundLoad`: the arrival rate ``lam`` over the last ``window``, the
   mean handle time ``h`` of its calls, ring to the end of wrap-up) Erlang C gives the
   fewest agents ``N`` whose service level reaches the goal::

       A = lam * h                      offered load, in erlangs
       B(0) = 1,  B(n) = A B(n-1) / (n + A B(n-1))        Erlang B, by its recursion
       C(N, A) = N B(N) / (N - A (1 - B(N)))              probability of waiting (N > A)
       SL(N) = 1 - C(N, A) exp(-(N - A) T / h)            answered within T seconds

   ``T`` is the queue's own ``service_level`` threshold; the goal (a share) is the
   campaign's ``blend.service_level`` (80 % when ``blend:`` names none; a campaign without
   ``blend:`` holds nobody back). The agents already on the queue's
   calls are part of ``N``: the dialer holds back ``N - busy`` idle agents (none when
   ``lam`` is 0) and may take the others. Agents serving several queues count for each of
   them; the held-back ones are the idle agents serving the most inbound queues, then by name.

Erlang C assumes Poisson arrivals, exponential handle times and no abandonment: it errs on
the side of inbound (abandons shorten the line it fears). An agent the hold-back keeps is
still given to a person who has answered an outbound call when no other agent is free (the
2-second rule comes first: that person would be abandoned); the hold-back only paces.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from callflow.queue import staffing
from callflow.queue.estimate import HandleTimeEstimator
from callflow.queue.staffing import Traffic
from callflow.queue.staffing import erlang_c_wait as erlang_c

#: Share of inbound callers to answer within the queue's ``service_level`` seconds.
DEFAULT_GOAL = 0.8
#: Arrivals are counted over this many seconds (fewer since the campaign started, but at
#: least MIN_SPAN, so one early caller does not count as a flood).
DEFAULT_WINDOW = 900.0
MIN_SPAN = 60.0
#: Mean handle time assumed before the queue's calls are seen (worth a few calls).
DEFAULT_HANDLE_TIME = 300.0


def service_level(agents: int, arrival_rate: float, handle_time: float, within: float) -> float:
    """Share of callers answered within ``within`` seconds (Erlang C)."""
    if arrival_rate * handle_time <= 0.0:
        return 1.0
    return staffing.erlang_c(agents, Traffic(arrival_rate, handle_time), within).service_level


def agents_needed(arrival_rate: float, handle_time: float, within: float, goal: float) -> int:
    """The fewest agents whose service level reaches ``goal`` (0 with no arrivals; at most
    a bound far past any team, so that a wild estimate cannot stop the dialer)."""
    if not 0.0 < goal < 1.0:
        raise ValueError(f"the service-level goal is a share between 0 and 1, not {goal}")
    if arrival_rate * handle_time <= 0.0:
        return 0
    try:
        return staffing.agents_needed(
            Traffic(arrival_rate, handle_time), within, goal, patient=True
        )
    except ValueError:  # more agents than any team has
        return staffing.MOST_AGENTS


class InboundLoad:
    """What the dialer has learnt of one inbound queue: its arrivals over the last
    ``window`` seconds, and the mean handle time of its calls."""

    def __init__(
        self,
        started: float,
        *,
        window: float = DEFAULT_WINDOW,
        handle_time: float = DEFAULT_HANDLE_TIME,
    ) -> None:
        if window <= 0.0:
            raise ValueError("the arrival window must be positive")
        self.started = started
        self.window = window
        self.handle = HandleTimeEstimator(prior=handle_time)
        self._arrivals: deque[float] = deque()

    def arrived(self, at: float) -> None:
        """A caller joined the queue at ``at`` (in time order)."""
        self._arrivals.append(at)

    def handled(self, seconds: float) -> None:
        """An agent was taken by one of the queue's calls for ``seconds`` (ring to the end
        of wrap-up)."""
        self.handle.observe(seconds)

    def arrival_rate(self, now: float) -> float:
        """Callers per second over the window (or the time observed, at least MIN_SPAN)."""
        while self._arrivals and self._arrivals[0] <= now - self.window:
            self._arrivals.popleft()
        span = min(self.window, max(now - self.started, MIN_SPAN))
        return len(self._arrivals) / span

    @property
    def handle_time(self) -> float:
        return self.handle.mean_handle_time


@dataclass(frozen=True, slots=True)
class InboundQueue:
    """One inbound queue as the hold-back sees it now."""

    name: str
    waiting: int  # callers (and callback placeholders) in line
    busy: int  # agents ringing, talking or wrapping up on its calls
    arrival_rate: float  # callers per second
    handle_time: float  # seconds
    within: float  # the queue's service-level threshold T, seconds

    def agents_needed(self, goal: float) -> int:
        return agents_needed(self.arrival_rate, self.handle_time, self.within, goal)

    def hold_back(self, goal: float) -> int:
        """Idle agents to leave this queue: what the goal needs beyond those busy on it."""
        return max(0, self.agents_needed(goal) - self.busy)


def outbound_agents(
    idle: Mapping[str, Iterable[str]],
    queues: Mapping[str, InboundQueue],
    goal: float | None = DEFAULT_GOAL,
) -> frozenset[str]:
    """Of the idle agents (name -> the queues they serve), those the dialer may take now:
    not one whose queue has someone waiting, and each queue keeps its hold-back (none
    when ``goal`` is None: then only the callers waiting come first)."""
    serves = {name: frozenset(q for q in served if q in queues) for name, served in idle.items()}
    free = {name for name, served in serves.items() if not any(queues[q].waiting for q in served)}
    kept: set[str] = set()
    if goal is None:
        return frozenset(free)
    for queue in sorted(queues.values(), key=lambda q: q.name):
        members = [name for name in free if queue.name in serves[name]]
        short = queue.hold_back(goal) - sum(1 for name in members if name in kept)
        for name in sorted(
            (m for m in members if m not in kept), key=lambda m: (-len(serves[m]), m)
        )[: max(0, short)]:
            kept.add(name)
    return frozenset(free - kept)


__all__ = [
    "DEFAULT_GOAL",
    "InboundLoad",
    "InboundQueue",
    "agents_needed",
    "erlang_c",
    "outbound_agents",
    "service_level",
]
