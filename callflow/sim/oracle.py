"""What is achievable: the wait a caller will have, forecast from the exact state.

:class:`ForwardOracle` knows what no predictor can: when every busy agent's current call
and wrap-up will end (the simulator has drawn it), which agents go on break and when, how
long each caller ahead has waited (so the distribution of their remaining patience), the
true handle-time, patience and arrival processes. From that state it runs the queue
forward many times (Monte Carlo) and reads the caller's conditional distribution of
their wait given that they are answered: the caller's own patience is left out of the
runs and each run is weighted by the chance that this patience outlasts the run's wait.

Its figures bound what any predictor can reach on the same callers: ``oracle-mean`` (the
conditional mean, the least squared error possible) and ``oracle-pNN``, the conditional
``NN``-th percentile announced (what a promise kept for ``NN``% of the answered callers
has to say, at the least).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Sequence
from statistics import NormalDist

from callflow.queue.estimate import Estimate
from callflow.sim.center import CenterScenario, World, _Arrivals, _Draws

_NORMAL = NormalDist()
LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9)


class _Patience:
    """The scenario's patience: survival and draws conditional on a time already waited."""

    def __init__(self, scenario: CenterScenario, rng: random.Random) -> None:
        self._s = scenario
        self._rng = rng
        mean = scenario.mean_patience
        self.mean = mean
        if mean is not None and scenario.patience_distribution == "lognormal":
            sigma_sq = math.log1p(scenario.patience_cv**2)
            self._sigma = math.sqrt(sigma_sq)
            self._mu = math.log(mean) - sigma_sq / 2

    def survival(self, t: float) -> float:
        """P(patience > t)."""
        s, mean = self._s, self.mean
        if mean is None:
            return 1.0
        kind = s.patience_distribution
        if kind == "uniform":
            lo, hi = mean * (1 - s.patience_spread), mean * (1 + s.patience_spread)
            return 1.0 if t <= lo else 0.0 if t >= hi else (hi - t) / (hi - lo)
        if kind == "lognormal":
            if t <= 0:
                return 1.0
            return 1.0 - _NORMAL.cdf((math.log(t) - self._mu) / self._sigma)
        return math.exp(-t / mean)  # exponential (bimodal patience is not a scenario)

    def remaining(self, waited: float) -> float:
        """A draw of the patience left to a caller who has waited ``waited`` seconds."""
        s, mean, rng = self._s, self.mean, self._rng
        if mean is None:
            return math.inf
        kind = s.patience_distribution
        if kind == "uniform":
            lo, hi = mean * (1 - s.patience_spread), mean * (1 + s.patience_spread)
            start = max(lo, waited)
            if start >= hi:
                return 0.0
            return rng.uniform(start, hi) - waited
        if kind == "lognormal":
            low = 1.0 - self.survival(waited)
            u = min(low + (1.0 - low) * rng.random(), 1.0 - 1e-12)
            u = max(u, 1e-12)
            return max(0.0, math.exp(self._mu + self._sigma * _NORMAL.inv_cdf(u)) - waited)
        return rng.expovariate(1.0 / mean)


class _Talk:
    """The scenario's talk times: fresh draws, and the talk left after ``elapsed``."""

    def __init__(self, scenario: CenterScenario, rng: random.Random) -> None:
        self._s = scenario
        self._rng = rng
        self.fresh = _Draws(
            rng,
            scenario.handle_time_distribution,
            scenario.mean_handle_time,
            scenario.handle_time_cv,
            0.0,
        )
        sigma_sq = math.log1p(scenario.handle_time_cv**2)
        self._sigma = math.sqrt(sigma_sq)
        self._mu = math.log(scenario.mean_handle_time) - sigma_sq / 2

    def left(self, elapsed: float) -> float:
        """A draw of the talk still to come after ``elapsed`` seconds of it."""
        s, rng, mean = self._s, self._rng, self._s.mean_handle_time
        kind = s.handle_time_distribution
        if kind == "exponential":
            return rng.expovariate(1.0 / mean)
        if kind == "bimodal":  # which kind of call it is, given it lasted this long
            short, long = mean * 0.4, mean * 2.4
            w_short = 0.7 * math.exp(-elapsed / short)
            w_long = 0.3 * math.exp(-elapsed / long)
            scale = short if rng.random() * (w_short + w_long) < w_short else long
            return rng.expovariate(1.0 / scale)
        if kind == "uniform":
            return max(0.0, mean - elapsed) * rng.random()
        low = _NORMAL.cdf((math.log(max(elapsed, 1e-9)) - self._mu) / self._sigma)
        u = min(max(low + (1.0 - low) * rng.random(), 1e-12), 1.0 - 1e-12)
        return max(0.0, math.exp(self._mu + self._sigma * _NORMAL.inv_cdf(u)) - elapsed)


class ForwardOracle:
    """Monte Carlo forward runs of the scenario from the exact state (``runs`` per figure).

    ``names``: ``oracle-mean`` then ``oracle-pNN`` for each level of ``levels`` (each
    Estimate's ``mean`` is the conditional mean, its ``announce`` the level's quantile;
    ``oracle-mean`` announces the mean itself). With ``knows_ends`` it knows when each
    current call will end (the simulator's draw: more than can be known; names
    ``seer-...``); without, it knows how long each has lasted and draws the rest from the
    true handle-time distribution given that (the observable state, true parameters).
    """

    def __init__(
        self,
        scenario: CenterScenario,
        runs: int = 200,
        seed: int = 7,
        levels: Sequence[float] = LEVELS,
        knows_ends: bool = False,
    ) -> None:
        self.scenario = scenario
        self.runs = runs
        self.levels = tuple(levels)
        self.knows_ends = knows_ends
        label = "seer" if knows_ends else "oracle"
        self.names = (f"{label}-mean", *(f"{label}-p{round(q * 100)}" for q in self.levels))
        self._rng = random.Random(seed)
        self._talk = _Talk(scenario, self._rng)
        self._patience = _Patience(scenario, self._rng)
        self._arrivals = _Arrivals(scenario, self._rng)

    def _free_after_break(self, at: float) -> float:
        """When an agent of the break group who is free at ``at`` can take a call."""
        s = self.scenario
        if s.breaks_every <= 0 or at < s.breaks_every:
            return at
        start = math.floor(at / s.breaks_every) * s.breaks_every
        return start + s.breaks_length if at < start + s.breaks_length else at

    def run(self, world: World) -> float:
        """One forward run: the caller's wait from now (their own patience left out)."""
        s, now, rng = self.scenario, world.now, self._rng
        handle_extra = s.ring_time + s.wrapup
        free: list[tuple[float, int, bool]] = []
        for i, agent in enumerate(world.agents):
            if agent.state == "logged_out":
                continue
            if agent.talking_since is not None and not self.knows_ends:
                at = now + self._talk.left(now - agent.talking_since) + s.wrapup
            elif agent.busy_until is not None:
                at = agent.busy_until
            elif agent.ringing_until is not None:
                at = agent.ringing_until + self._talk.fresh.draw() + s.wrapup
            elif agent.state == "paused" or agent.state == "on_call":
                at = now  # paused: back at the break's end (below); on_call: not drawn yet
            else:
                at = now
            if agent.on_break:
                at = self._free_after_break(at)
            free.append((at, i, agent.on_break))
        if not free:
            return math.inf
        heapq.heapify(free)
        high: deque[float] = deque()  # deadlines (absolute) of callers served before
        same: deque[float] = deque()
        for waiting in world.ahead:
            deadline = now + self._patience.remaining(waiting.elapsed)
            (high if waiting.priority > world.priority else same).append(deadline)
        overtake = s.priority_share if world.priority == 0 else 0.0
        next_arrival = self._arrivals.next(now) if overtake > 0 else math.inf
        while True:
            at, i, breaks = heapq.heappop(free)
            while next_arrival <= at:
                if rng.random() < overtake:
                    high.append(next_arrival + self._patience.remaining(0.0))
                next_arrival = self._arrivals.next(next_arrival)
            served = False
            for line in (high, same):
                while line:
                    if line.popleft() >= at:
                        served = True
                        break
                if served:
                    break
            if not served:
                return at + s.ring_time - now
            done = at + self._talk.fresh.draw() + handle_extra
            heapq.heappush(free, (self._free_after_break(done) if breaks else done, i, breaks))

    def estimates(self, world: World) -> list[Estimate]:
        """The conditional mean and quantiles of the answered caller's wait."""
        survival_now = self._patience.survival(world.elapsed)
        weighted = []
        for _ in range(self.runs):
            wait = self.run(world)
            if not math.isfinite(wait):
                continue
            weight = (
                self._patience.survival(world.elapsed + wait) / survival_now
                if survival_now > 0
                else 1.0
            )
            if weight > 0:
                weighted.append((wait, weight))
        if not weighted:
            return [Estimate(math.inf, math.inf)] * len(self.names)
        weighted.sort()
        total = math.fsum(w for _, w in weighted)
        mean = math.fsum(x * w for x, w in weighted) / total
        figures = [Estimate(mean, mean)]
        for level in self.levels:
            figures.append(Estimate(mean, _weighted_quantile(weighted, total, level)))
        return figures


def _weighted_quantile(ordered: list[tuple[float, float]], total: float, level: float) -> float:
    """The smallest value whose cumulative weight reaches ``level`` of ``total``."""
    target = level * total
    cumulative = 0.0
    for value, weight in ordered:
        cumulative += weight
        if cumulative >= target:
            return value
    return ordered[-1][0]


__all__ = ["LEVELS", "ForwardOracle"]
