"""Staffing: how many agents a queue needs, with impatient callers (Erlang A) or without
(Erlang C). Pure: traffic in, figures out.

The model is Palm's M/M/n+M: calls arrive at rate ``lam`` (Poisson), an agent handles one in
``h`` seconds on average (exponential: talk, hold and wrap-up), and a waiting caller hangs up
after a patience of ``p`` seconds on average (exponential; ``theta = 1/p``). Erlang C is the
same queue with nobody hanging up (``theta = 0``): it over-staffs, because the callers who
give up shorten the line everyone else waits in, and it has no answer at all once the load
reaches the agents (``lam * h >= n``), where real queues still answer most callers.

How the figures are worked out, for ``n`` agents, ``mu = 1/h``:

- The number of callers in the system is a birth-death chain: up at rate ``lam``, down at
  ``k mu`` below ``n`` and ``n mu + (k - n) theta`` above. Its stationary law ``pi_k`` is
  summed until the terms vanish (a finite sum for any ``theta > 0``, whatever the load).
- An arriving caller sees ``k`` with probability ``pi_k`` (Poisson arrivals see time
  averages). With ``j = k - n >= 0`` callers ahead, the time until an agent takes them is
  ``V_j = sum_{i=0..j} Exp(n mu + i theta)`` (the line ahead shrinks by services and by
  the hang-ups of those ahead), the same hypoexponential wait
  :mod:`callflow.queue.estimate` announces; they are answered if their patience ``tau``
  outlasts it.
- ``P(tau > V_j) = E[exp(-theta V_j)] = n mu / (n mu + (j + 1) theta)``, and tilting each
  exponential by ``exp(-theta t)`` gives ``P(V_j <= T, tau > V_j)`` as that times the
  distribution of ``sum_{i=0..j} Exp(n mu + (i + 1) theta)`` at ``T``, and the mean wait of
  those answered from the same sum's mean. A caller abandons within ``T`` with probability
  ``1 - E[exp(-theta min(V_j, T))]``.

The service level is the one ``callflow report`` counts by default: answered within ``T``
over offered calls less short abandons (hang-ups within ``short`` seconds), so the plan and
the report measure the same thing. Sources: Palm (1943); Mandelbaum & Zeltyn, "The Palm/
Erlang-A queue, with applications to call centers" (2007); Garnett, Mandelbaum & Reiman,
"Designing a call center with impatient customers" (2002).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from callflow.queue.estimate import hypoexponential_survival

MOST_AGENTS = 10_000  # the search gives up past this (or four times the load, if more)
_TAIL = 1e-15  # the chain's sum stops once a term is this small a share of it


@dataclass(frozen=True)
class Traffic:
    """What a queue is asked to carry."""

    arrival_rate: float  # calls per second
    handle_time: float  # mean seconds of an agent per call: talk, hold and wrap-up
    patience: float | None = None  # mean seconds a caller waits before hanging up; None: never

    def __post_init__(self) -> None:
        if not (math.isfinite(self.arrival_rate) and self.arrival_rate >= 0.0):
            raise ValueError(f"the arrival rate must be 0 or more, not {self.arrival_rate}")
        if not (math.isfinite(self.handle_time) and self.handle_time > 0.0):
            raise ValueError(f"the handle time must be more than 0 s, not {self.handle_time}")
        if self.patience is not None and not self.patience > 0.0:
            raise ValueError(f"the patience must be more than 0 s, not {self.patience}")

    @property
    def load(self) -> float:
        """Offered load, in erlangs: ``lam * h``."""
        return self.arrival_rate * self.handle_time

    @property
    def abandon_rate(self) -> float:
        """``theta``: hang-ups per second of one waiting caller (0 for patient callers)."""
        return 0.0 if self.patience is None or math.isinf(self.patience) else 1.0 / self.patience


@dataclass(frozen=True)
class Staffing:
    """What callers get from ``agents`` agents (shares between 0 and 1, seconds)."""

    agents: int
    model: str  # "erlang-a" or "erlang-c"
    waits: float  # share of callers who wait at all
    abandons: float  # share of callers who hang up before an answer
    service_level: float  # answered within T / (offered - short abandons)
    asa: float  # mean wait of the callers answered (inf when none are)
    occupancy: float  # share of the agents' time on calls (carried load / agents)
    stable: bool = True  # False: Erlang C with the load at or past the agents (no answer)

    def to_dict(self) -> dict[str, Any]:
        return {
            k: (None if isinstance(v, float) and math.isinf(v) else v)
            for k, v in asdict(self).items()
        }


def erlang_c_wait(agents: int, load: float) -> float:
    """Erlang C: the probability that a caller waits, ``agents`` serving ``load`` erlangs
    (1 when the agents cannot keep up: ``agents <= load``)."""
    if load <= 0.0:
        return 0.0
    if agents <= load:
        return 1.0
    b = 1.0  # Erlang B by its recursion, stable for any size
    for n in range(1, agents + 1):
        b = load * b / (n + load * b)
    return agents * b / (agents - load * (1.0 - b))


def erlang_c(agents: int, traffic: Traffic, within: float, short: float = 0.0) -> Staffing:
    """The figures with nobody hanging up (``traffic.patience`` is ignored): no short
    abandons, so the service level is ``1 - C exp(-(n mu - lam) T)``."""
    _check(agents, within, short)
    load, h = traffic.load, traffic.handle_time
    if load <= 0.0:
        return Staffing(agents, "erlang-c", 0.0, 0.0, 1.0, 0.0, 0.0)
    if agents <= load:
        return Staffing(agents, "erlang-c", 1.0, 0.0, 0.0, math.inf, 1.0, stable=False)
    waits = erlang_c_wait(agents, load)
    spare = (agents - load) / h  # n mu - lam
    return Staffing(
        agents,
        "erlang-c",
        waits=waits,
        abandons=0.0,
        service_level=1.0 - waits * math.exp(-spare * within),
        asa=waits / spare,
        occupancy=load / agents,
    )


def erlang_a(agents: int, traffic: Traffic, within: float, short: float = 0.0) -> Staffing:
    """The figures with callers who hang up after ``traffic.patience`` on average (Erlang C
    when they never do)."""
    _check(agents, within, short)
    theta = traffic.abandon_rate
    if theta == 0.0:
        return erlang_c(agents, traffic, within, short)
    lam, mu = traffic.arrival_rate, 1.0 / traffic.handle_time
    if lam == 0.0:
        return Staffing(agents, "erlang-a", 0.0, 0.0, 1.0, 0.0, 0.0)
    if agents == 0:  # nobody answers: every caller waits until they give up
        return Staffing(0, "erlang-a", 1.0, 1.0, 0.0, math.inf, 0.0)
    served = agents * mu  # n mu
    # pi_k up to a constant, in logs (the terms span hundreds of orders of magnitude).
    logs = [0.0]
    top = 0.0
    while True:
        k = len(logs) - 1
        rate_down = (k + 1) * mu if k < agents else served + (k + 1 - agents) * theta
        logs.append(logs[-1] + math.log(lam / rate_down))
        top = max(top, logs[-1])
        # Past the mode (terms falling) and negligible: the rest is smaller still.
        if k >= agents and rate_down > lam and logs[-1] - top < math.log(_TAIL):
            break
    weights = [math.exp(x - top) for x in logs]
    total = math.fsum(weights)
    pi = [w / total for w in weights]

    free = math.fsum(pi[:agents])
    waits = 1.0 - free
    abandons = answered_within = abandoned_short = wait_answered = 0.0
    parts: list[tuple[float, float, float, float]] = []
    tilted_mean = 0.0  # the mean of sum_{i=0..j} Exp(n mu + (i + 1) theta), grown with j
    for j, p in enumerate(pi[agents:]):
        tilted_mean += 1.0 / (served + (j + 1) * theta)
        if p < _TAIL * waits:
            continue
        answered = served / (served + (j + 1) * theta)  # P(tau > V_j)
        tilted_within = 1.0 - hypoexponential_survival(within, served + theta, theta, j)
        tilted_short = 1.0 - hypoexponential_survival(short, served + theta, theta, j)
        late_short = math.exp(-theta * short) * hypoexponential_survival(short, served, theta, j)
        parts.append(
            (
                p * (1.0 - answered),
                p * answered * tilted_within,
                p * (1.0 - answered * tilted_short - late_short),
                p * answered * tilted_mean,
            )
        )
    if parts:
        abandons, answered_within, abandoned_short, wait_answered = (
            math.fsum(column) for column in zip(*parts, strict=True)
        )
    answered_total = 1.0 - abandons
    counted = 1.0 - abandoned_short
    return Staffing(
        agents,
        "erlang-a",
        waits=waits,
        abandons=abandons,
        service_level=(free + answered_within) / counted if counted > 0 else 0.0,
        asa=wait_answered / answered_total if answered_total > 0 else math.inf,
        occupancy=min(1.0, lam * answered_total / served),
    )


def agents_needed(
    traffic: Traffic,
    within: float,
    goal: float,
    *,
    short: float = 0.0,
    max_abandons: float | None = None,
    patient: bool = False,
) -> int:
    """The fewest agents whose service level reaches ``goal`` (and whose share of
    abandons is at most ``max_abandons``, if given): Erlang A, or Erlang C with
    ``patient``. 0 with no calls."""
    if not 0.0 < goal < 1.0:
        raise ValueError(f"the service-level goal is a share between 0 and 1, not {goal}")
    if max_abandons is not None and not 0.0 <= max_abandons < 1.0:
        raise ValueError(f"the abandon limit is a share below 1, not {max_abandons}")
    if traffic.arrival_rate == 0.0:
        return 0
    model = erlang_c if patient else erlang_a

    def enough(n: int) -> bool:
        got = model(n, traffic, within, short)
        return got.service_level >= goal and (max_abandons is None or got.abandons <= max_abandons)

    # The figures only improve with each agent added, and no agent answers nobody: find a
    # number that is enough (from the load up, the step doubling), then bisect.
    low, high, step = 0, max(1, math.ceil(traffic.load)), 1
    bound = max(MOST_AGENTS, 4 * math.ceil(traffic.load))  # far past any answer
    while not enough(high):
        low, high, step = high, high + step, step * 2
        if low > bound:
            raise ValueError(f"more than {bound} agents would be needed")
    while high - low > 1:
        middle = (low + high) // 2
        if enough(middle):
            high = middle
        else:
            low = middle
    return high


@dataclass(frozen=True)
class Plan:
    """What one queue's traffic needs: the fewest agents for the goal by Erlang A (and by
    Erlang C), and both models' figures for the numbers around it."""

    queue: str
    traffic: Traffic
    needed: int  # Erlang A
    needed_c: int | None  # Erlang C (None: beyond any team)
    rows: list[Staffing]
    rows_c: list[Staffing]  # the same numbers of agents, Erlang C

    def to_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "calls_per_hour": round(self.traffic.arrival_rate * 3600, 3),
            "aht": round(self.traffic.handle_time, 3),
            "patience": self.traffic.patience,
            "load_erlangs": round(self.traffic.load, 3),
            "needed": self.needed,
            "needed_erlang_c": self.needed_c,
            "rows": [row.to_dict() for row in self.rows],
            "rows_erlang_c": [row.to_dict() for row in self.rows_c],
        }


def plan(
    queue: str,
    traffic: Traffic,
    *,
    within: float,
    goal: float,
    short: float = 0.0,
    max_abandons: float | None = None,
    around: int = 2,
) -> Plan:
    """The agents ``traffic`` needs for ``goal`` within ``within`` s (and at most
    ``max_abandons``), with the figures of the numbers within ``around`` of the Erlang A
    answer and of the Erlang C one (a range when they are close, two when they are not)."""
    needed = agents_needed(traffic, within, goal, short=short, max_abandons=max_abandons)
    try:
        needed_c: int | None = agents_needed(traffic, within, goal, patient=True)
    except ValueError:  # more agents than any team has
        needed_c = None
    near = {n for answer in (needed, needed_c) if answer is not None
            for n in range(answer - around, answer + around + 1) if n >= 1}  # fmt: skip
    agents = sorted(near)
    rows = [erlang_a(n, traffic, within, short) for n in agents]
    rows_c = [erlang_c(n, traffic, within) for n in agents]
    return Plan(queue, traffic, needed, needed_c, rows, rows_c)


def _check(agents: int, within: float, short: float) -> None:
    if agents < 0:
        raise ValueError(f"agents must be 0 or more, not {agents}")
    if not (within >= 0.0 and short >= 0.0):
        raise ValueError("the service-level threshold and the short abandon must be >= 0 s")


__all__ = [
    "Plan",
    "Staffing",
    "Traffic",
    "agents_needed",
    "erlang_a",
    "erlang_c",
    "erlang_c_wait",
    "plan",
]
