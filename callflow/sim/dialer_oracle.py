"""What pacing could reach knowing what no live dialer can: an oracle, a bound, not a policy.

:class:`OraclePacing` runs only in the simulator (:func:`callflow.sim.dialer.simulate_day`
with a :class:`~callflow.sim.dialer.SimTruth`): it reads, besides the
:class:`~callflow.dialer.pacing.PacingState` every policy gets, the simulator's truth:

- ``sees="agents"``: when each busy agent will be free for a call, exactly (the end of
  their talk plus their wrap-up, both already drawn). The calls in flight it sees as any
  policy does (stage and age), weighed with the scenario's true outcome shares and ring,
  greeting and AMD-silence distributions (not learnt: known);
- ``sees="calls"``: that too, and when each call in flight will need an agent (its
  outcome, ring time, greeting and AMD verdict, drawn at dialing): no call in flight is
  uncertain. What it cannot know is the outcome of a call not yet dialed.

Its decision has the predictive policy's shape with the forecast replaced by the truth. A
new line, if it is a person (the true share), answers at one of the true quantiles ``u`` of
the human answer delay (10 for ``agents``, 40 for ``calls``: a known future is a step
function, coarse points would miss its gaps); an agent must be free by ``u`` + 1.2 s (the
2-second rule less AMD's after-greeting silence):

- ``agents``: the line's risk is P(no agent in time for it), averaged over the quantiles,
  with the agents free by then counted exactly and the people wanting one first (calls in
  flight, a Poisson binomial: exact up to :data:`EXACT_UP_TO` calls in flight, Normal
  beyond; and the other new lines, binomial). Only the line's own abandon is counted;
- ``calls``: the line's risk is the abandons it adds (itself, or a later person whose agent
  it takes): with every agent's free time and every person's answer known, the day's
  abandons are Hall's deficit, computed exactly; the other new lines answering first are
  binomial.

It dials while that risk stays at most ``allowance``, its one parameter, held constant all
day (a Lagrange multiplier on abandons: the shape that spends an average abandon budget
best; it does not look at the windows). Progressive's lines are always dialed. Sweeping
``allowance`` traces talk share against the worst window's abandon rate; the best talk
share whose worst window stays under the cap is the frontier (``callflow bench dialer
--oracle``), compared with the predictive policy's. It is an upper reference made with more
information, not a proven optimum: a cleverer rule with the same knowledge could do better
(in particular ``agents`` is myopic: a line taking a later person's agent is not counted).

Not importable from :mod:`callflow.dialer` (the layer check forbids it): a live dialer
cannot run it.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from callflow.dialer.pacing import PacingState
from callflow.dialer.window import CONNECT_WITHIN
from callflow.sim.dialer import DialerScenario, SimTruth

Sees = Literal["agents", "calls"]
#: Calls in flight up to which the ``agents`` oracle computes the people ahead exactly.
EXACT_UP_TO = 20
#: Quantiles of the human answer delay the ``calls`` oracle checks a new line at.
DELAY_POINTS = 40


class OraclePacing:
    """Dial while a new line's abandon risk, from the simulator's truth, stays at most
    ``allowance`` (see the module docstring)."""

    def __init__(
        self,
        truth: SimTruth,
        allowance: float,
        scenario: DialerScenario,
        *,
        sees: Sees = "agents",
        max_lines_per_agent: float = 3.0,
    ) -> None:
        if not 0.0 < allowance < 1.0:
            raise ValueError(f"allowance is a probability in (0, 1), not {allowance}")
        if sees not in ("agents", "calls"):
            raise ValueError(f"an oracle sees 'agents' or 'calls', not {sees!r}")
        self.truth = truth
        self.allowance = allowance
        self.sees: Sees = sees
        self.grace = max(CONNECT_WITHIN - scenario.amd_silence, 0.0)
        # ``calls``: the true human answer delay (ring, greeting, AMD's silence) at fine
        # quantiles (a known future is a step function: five points would miss its gaps).
        points = DELAY_POINTS if sees == "calls" else DELAY_POINTS // 4
        self.levels = tuple((i + 0.5) / points for i in range(points))
        self.delays = _delay_quantiles(scenario, self.levels)
        self.scenario = scenario
        # The true chance that a new line is a person AMD passes.
        self.p_new = scenario.person * (1.0 - scenario.amd_false_positive)
        self._memo: dict[tuple[str, int], tuple[tuple[float, ...], tuple[float, ...]]] = {}
        self.max_lines_per_agent = max_lines_per_agent
        self.name = f"oracle-{sees}-{allowance:g}"

    def lines_to_dial(self, state: PacingState) -> int:
        floor = state.progressive_lines
        limit = int(self.max_lines_per_agent * len(state.agents)) - len(state.calls)
        if limit <= floor:
            return floor
        now = state.now
        idle = state.count("idle")
        busy = sorted(self.truth.busy_until.values())
        p_new = self.p_new
        if self.sees == "calls":
            displaced = self._displacement(now, busy, idle, self.delays)

            def risk(n: int) -> float:
                return _displaced_risk(n, displaced, p_new, self.levels)
        else:
            supply = [idle + _count_upto(busy, now + u + self.grace) for u in self.delays]
            calls = Counter((c.stage, int(now - c.dialed_at)) for c in state.calls)
            rows = [(self._demand_terms(stage, age), n) for (stage, age), n in calls.items()]
            ahead = _people_ahead(rows, len(state.calls), supply)

            def risk(n: int) -> float:
                return _shortfall_risk(n, supply, ahead, p_new, self.levels)

        lines = 0
        while lines < limit:
            if lines >= floor and risk(lines) > self.allowance:
                break
            lines += 1
        return lines

    def _demand_terms(self, stage: str, age: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``agents``: the true chance that a call in flight, ``age`` s after dialing, is a
        person AMD passes before each delay point from now (and its variance): from the
        scenario's outcome shares and uniform ring, greeting and silence (no drift)."""
        key = (stage, age)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        s = self.scenario
        k = len(self.delays)
        if stage == "waiting":
            means = (1.0,) * k
        elif stage == "screening":  # a person's screen is shorter than every delay point
            means = (s.person * (1.0 - s.amd_false_positive) / (s.person + s.machine),) * k
        else:
            low, high = s.ring
            ringing = max(0.0, min(1.0, (high - max(age, low)) / (high - low)))
            busy = max(
                0.0,
                min(
                    1.0,
                    (s.busy_after[1] - max(age, s.busy_after[0]))
                    / (s.busy_after[1] - s.busy_after[0]),
                ),
            )
            alive = (
                (s.person + s.machine) * ringing
                + s.busy * busy
                + (1.0 - s.person - s.machine - s.busy) * (age < s.no_answer_timeout)
            )
            g_low, g_high = s.greeting
            greetings = [g_low + (g_high - g_low) * (i + 0.5) / 8 for i in range(8)]
            out = []
            for u in self.delays:
                share = 0.0
                for g in greetings:  # P(age < ring <= age + u - g - silence)
                    top = min(high, age + u - g - s.amd_silence)
                    share += max(0.0, top - max(age, low)) / (high - low)
                person = s.person * (1.0 - s.amd_false_positive) * share / len(greetings)
                out.append(person / alive if alive > 0.0 else 0.0)
            means = tuple(out)
        hit = (means, tuple(m * (1.0 - m) for m in means))
        self._memo[key] = hit
        return hit

    def _displacement(
        self, now: float, busy: list[float], idle: int, points: Sequence[float]
    ) -> list[tuple[float, float, float, int]]:
        """For each delay quantile ``u``, what ``m`` people more answering at ``now + u``
        do to the day's abandons, everything in flight known (see :func:`_abandons_with`):
        the terms before, at and after ``u``."""
        people = sorted(self.truth.needs_agent_at.values())
        free = [now] * idle + busy  # sorted: idle agents first
        # Person k (1-based, in answer order) can have any agent free by their deadline:
        # the abandons are max(0, max_k (k - agents free by deadline k)) (Hall's deficit for
        # nested sets; the simulator's first-come first-served assignment reaches it).
        terms = [k + 1 - bisect.bisect_right(free, a + self.grace) for k, a in enumerate(people)]
        suffix = [-math.inf] * (len(terms) + 1)
        for k in range(len(terms) - 1, -1, -1):
            suffix[k] = max(terms[k], suffix[k + 1])
        prefix = [-math.inf]
        for term in terms:
            prefix.append(max(prefix[-1], term))
        out = []
        for u in points:
            at = now + u
            rank = bisect.bisect_right(people, at)
            own = rank - bisect.bisect_right(free, at + self.grace)
            out.append((prefix[rank], float(own), suffix[rank], len(terms)))
        return out


def _people_ahead(
    rows: list[tuple[tuple[tuple[float, ...], tuple[float, ...]], int]],
    n_calls: int,
    supply: list[int],
) -> list[list[float]]:
    """Per quantile, the distribution (up to the supply) of the people in flight wanting
    an agent before a new call's person would: each call a Bernoulli of the learnt
    chance."""
    k = len(supply)
    if n_calls <= EXACT_UP_TO:
        out = []
        for i in range(k):
            pmf = [1.0]
            for terms, n in rows:
                for _ in range(n):
                    pmf = _add_bernoulli(pmf, terms[0][i], supply[i] + 1)
            out.append(pmf)
        return out
    out = []
    for i in range(k):
        mean = sum(terms[0][i] * n for terms, n in rows)
        var = sum(terms[1][i] * n for terms, n in rows) + 0.25
        sd = math.sqrt(var)
        # P(D = j) for j <= supply, continuity-corrected; the rest is the tail.
        cdf = [_normal_cdf((j + 0.5 - mean) / sd) for j in range(supply[i] + 1)]
        out.append([cdf[0], *(b - a for a, b in itertools.pairwise(cdf))])
    return out


def _shortfall_risk(
    lines: int,
    supply: list[int],
    ahead: list[list[float]],
    p_new: float,
    levels: Sequence[float],
) -> float:
    """P(no agent for the (lines+1)-th new line if it is a person), averaged over the
    delay quantiles: none when the people ahead (in flight, and new lines answered
    earlier) take every agent free in time."""
    total = 0.0
    for i, q in enumerate(levels):
        new_ahead = _binomial_cdf(lines, p_new * q)
        served = 0.0  # P(in flight + new ahead <= supply - 1)
        for d, pd in enumerate(ahead[i]):
            room = supply[i] - 1 - d
            if room < 0:
                break
            served += pd * new_ahead[min(room, lines)]
        total += 1.0 - served
    return total / len(levels)


def _abandons_with(m: int, before: float, own: float, after: float) -> float:
    """The abandons with ``m`` more people answering at one moment: the deficit terms of
    the people before are unchanged, the last of the ``m`` adds ``own + m``, and everyone
    after counts ``m`` more."""
    if m == 0:
        return max(0.0, before, after)
    return max(0.0, before, own + m, after + m)


def _delay_quantiles(scenario: DialerScenario, levels: Sequence[float]) -> tuple[float, ...]:
    """Quantiles of a person's delay from dialing to AMD's verdict: ring, greeting and
    AMD's after-greeting silence (uniform ring and greeting, on a fine grid)."""
    n = 200
    rings = [
        scenario.ring[0] + (scenario.ring[1] - scenario.ring[0]) * (i + 0.5) / n for i in range(n)
    ]
    greetings = [
        scenario.greeting[0] + (scenario.greeting[1] - scenario.greeting[0]) * (i + 0.5) / 20
        for i in range(20)
    ]
    delays = sorted(r + g + scenario.amd_silence for r in rings for g in greetings)
    return tuple(delays[min(len(delays) - 1, int(q * len(delays)))] for q in levels)


def _displaced_risk(
    lines: int,
    displaced: list[tuple[float, float, float, int]],
    p_new: float,
    levels: Sequence[float],
) -> float:
    """How many more abandons the (lines+1)-th new line makes if it is a person (0 or 1:
    itself, or someone later it takes the agent of), averaged over the delay quantiles; the
    ``x`` new lines before it that are people answering first (binomial) put at the same
    moment. With ``x`` >= 1 of them the abandons are ``max(B, C + x)`` (:func:`_abandons_with`,
    ``B = max(0, before)``, ``C = max(own, after)``), so the last one adds an abandon exactly
    when ``x >= B - C``."""
    total = 0.0
    for (before, own, after, _), q in zip(displaced, levels, strict=True):
        pq = p_new * q
        floor_b = max(0.0, before)
        need = max(1, math.ceil(floor_b - max(own, after)))  # x from which each adds one
        none_ahead = (1.0 - pq) ** lines
        first = _abandons_with(1, before, own, after) - _abandons_with(0, before, own, after)
        total += first * none_ahead
        if need <= lines:
            below = none_ahead  # P(X <= x), x from 0
            term = none_ahead
            for x in range(need - 1):
                term *= (lines - x) / (x + 1) * pq / (1.0 - pq)
                below += term
            total += 1.0 - below
    return total / len(levels)


def _count_upto(xs: list[float], at: float) -> int:
    """How many of the sorted ``xs`` are at most ``at``."""
    return bisect.bisect_right(xs, at)


def _add_bernoulli(pmf: list[float], p: float, size: int) -> list[float]:
    """The distribution of ``M + B`` (``B`` Bernoulli(p)), kept to ``size`` values (the
    mass beyond is dropped: only P(M + B <= size - 1) is ever read)."""
    if p <= 0.0:
        return pmf
    out = [v * (1.0 - p) for v in pmf]
    out.append(0.0)
    for j, v in enumerate(pmf):
        out[j + 1] += v * p
    return out[:size]


def _binomial_cdf(n: int, p: float) -> list[float]:
    """P(Bin(n, p) <= k) for k = 0..n."""
    return list(
        itertools.accumulate(math.comb(n, x) * p**x * (1.0 - p) ** (n - x) for x in range(n + 1))
    )


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


__all__ = ["OraclePacing", "Sees"]
