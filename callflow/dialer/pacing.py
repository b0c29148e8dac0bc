"""Pacing: how many outbound lines to dial now (pure policy objects, no I/O, time passed in).

The live dialer and the simulator (:mod:`callflow.sim.dialer`) drive the very same objects,
and so can any external simulator: build a :class:`PacingState` and ask a policy.

What a policy observes (:class:`PacingState`):

- ``now``: seconds since midnight of the campaign's local day (VICIdial's tapered drop
  method reads the clock);
- ``agents``: every agent logged in to the campaign and not paused, as :class:`AgentView`
  (``idle``, ``talking`` or ``wrapup``, and since when), so a
  policy can forecast when each will be free;
- ``calls``: every outbound call not yet connected to an agent, as :class:`CallView`
  (``ringing``; ``screening``: answered, AMD still listening; ``waiting``: a person, no agent
  yet), with when it was dialed. Calls connected to agents are the talking agents;
- ``windows``: each legal window's figures so far (:class:`~callflow.dialer.window.WindowFigures`:
  live calls, abandons, cap; ``us-30d``, ``uk-24h`` with AMD false positives counted);
- ``today`` and ``last_minute``: plain :class:`Tally` counts (attempts, people, abandons) as
  VICIdial keeps them;
- ``experience``: an :class:`Experience`, what the campaign has learnt so far: the outcome
  mix of attempts (human, machine, busy, no answer, exponentially weighted so a drifting
  answer rate is followed), how long each outcome rings, how long AMD takes to call a human,
  and the talk and wrap-up durations. The driver feeds it (``attempt_ended``, ``talk_ended``,
  ``wrapup_ended``); it starts from configured priors (:class:`Priors`).

What a policy returns: ``lines_to_dial(state) -> int``, how many new calls to place now
(never negative). The driver asks every second and on every change; a policy that wants a
slower rhythm (VICIdial's 15 s) keeps its own clock from ``now``.

The policies:

- :class:`Progressive`: one line per idle agent not already covered by a call in flight.
  Every person then finds an agent: no abandon, ever (unless agents leave).
- :class:`FixedRatio`: VICIdial's RATIO: ``round(ratio * (idle + talking)) - calls in flight``
  (connected calls included).
- :class:`VicidialAdaptive`: a port of VICIdial's ``AST_VDadapt.pl`` (ADAPT_HARD_LIMIT,
  ADAPT_TAPERED, ADAPT_AVERAGE) with its line count from ``AST_VDauto_dial.pl``; the
  differences are listed in its docstring.
- :class:`Predictive`: callflow's own. It forecasts, for a call dialed now, the moments a
  person would need an agent (the learnt human answer-delay distribution, at five quantiles
  ``u``) and, for each, the agents free by ``u + 2 s`` (idle ones, and each busy agent's
  probability of being free by then, from the learnt talk and wrap-up durations conditioned
  on how long they have been talking or wrapping up; the 2 s run from the end of the
  greeting, so AMD's after-greeting silence is taken off them) against the people who will want them
  first (waiting people, calls AMD is screening, ringing calls by their age's probability of
  being a person answering by then, and the other new calls). Its marginal abandon
  probability is Normal-approximated (computed exactly for a small team, where the
  approximation's tail is poor); it dials while that stays under ``lambda``, an allowance
  set from the worst window's *headroom*, the abandons it can still take under its target
  (``target = cap - margin``): ``lambda`` grows exponentially with the headroom above an
  aim a few abandons over a floor, so the budget is spent as the live calls bring it, at a
  nearly steady ``lambda``, and the window's rate settles just under the target instead of
  a margin under it. The floor is a small reserve plus what the calls in flight (and the new
  lines) may still cost, an upper quantile of the people among them no agent will be free
  for, from the same forecast; at the floor ``lambda`` is 0, and no line is dialed that
  would lift the calls in flight's cost over the headroom: only progressive's lines.
  Progressive's lines are always dialed (they cannot cause an abandon). A fresh window (no
  live call yet) has no headroom: the policy dials progressively until the live calls have
  brought some.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from callflow.dialer.window import CONNECT_WITHIN, WindowFigures

AgentActivity = Literal["idle", "talking", "wrapup"]
CallStage = Literal["ringing", "screening", "waiting"]
Outcome = Literal["human", "machine", "busy", "no_answer"]
OUTCOMES: tuple[Outcome, ...] = ("human", "machine", "busy", "no_answer")


@dataclass(frozen=True, slots=True)
class AgentView:
    """One logged-in, unpaused agent: what they are doing, and since when (the same clock as
    :attr:`PacingState.now`)."""

    activity: AgentActivity
    since: float


@dataclass(frozen=True, slots=True)
class CallView:
    """One outbound call not yet with an agent: its stage, and when it was dialed."""

    stage: CallStage
    dialed_at: float


@dataclass(frozen=True, slots=True)
class Tally:
    """Plain counts over a period: attempts placed, people answered (live), abandons."""

    attempts: int = 0
    live: int = 0
    abandoned: int = 0


@dataclass(frozen=True, slots=True)
class Priors:
    """What a campaign assumes before it has learnt anything (configured, not the truth)."""

    shares: tuple[float, float, float, float] = (0.20, 0.35, 0.10, 0.35)  # OUTCOMES order
    ring_range: tuple[float, float] = (3.0, 20.0)
    screen_time: float = 1.8
    amd_silence: float = 0.8  # AMD's after-greeting silence: it eats the 2 s budget
    no_answer_timeout: float = 25.0
    talk_mean: float = 120.0
    wrapup_mean: float = 30.0


PRIOR_POINTS = 20
#: Real samples needed before the priors are dropped.
ENOUGH = 30
#: Quantiles of the human answer delay at which a new call's need for an agent is checked.
DELAY_QUANTILES = (0.1, 0.3, 0.5, 0.7, 0.9)
WRAPUP_POINTS = 9
AGE_BIN = 2.0


def _quantile_points(low: float, high: float, k: int = PRIOR_POINTS) -> list[float]:
    return [low + (high - low) * (i + 0.5) / k for i in range(k)]


class _Samples:
    """The last ``size`` observed durations, sorted on demand, with prior points until
    enough real ones exist."""

    def __init__(self, prior: list[float], size: int) -> None:
        self._prior = sorted(prior)
        self._real: deque[float] = deque(maxlen=size)
        self.sorted: list[float] = self._prior

    def add(self, value: float) -> None:
        self._real.append(value)

    def refresh(self) -> None:
        self.sorted = sorted(self._real) if len(self._real) >= ENOUGH else self._prior

    def survival(self, x: float) -> float:
        """P(X > x)."""
        xs = self.sorted
        return (len(xs) - bisect.bisect_right(xs, x)) / len(xs)

    def cdf(self, x: float) -> float:
        xs = self.sorted
        return bisect.bisect_right(xs, x) / len(xs)

    def conditional_within(self, age: float, horizon: float) -> float:
        """P(X <= age + horizon | X > age); 0 when too few samples ever lasted ``age``
        (no evidence: count on nothing)."""
        xs = self.sorted
        above = len(xs) - bisect.bisect_right(xs, age)
        if above < 3:
            return 0.0
        return (bisect.bisect_right(xs, age + horizon) - (len(xs) - above)) / above

    def quantile(self, q: float) -> float:
        xs = self.sorted
        return xs[min(len(xs) - 1, int(q * len(xs)))]


class Experience:
    """What a campaign has learnt: outcome mix and durations, fed by the driver.

    Outcome shares are exponentially weighted over about ``memory`` attempts; durations keep
    the last ``samples`` observations. Derived tables are rebuilt every ``refresh``
    observations, and per-age answers are memoised until then (policies ask every second).
    """

    def __init__(
        self,
        priors: Priors | None = None,
        *,
        memory: int = 300,
        samples: int = 1000,
        refresh: int = 500,
    ) -> None:
        p = priors or Priors()
        self.priors = p
        self._decay = 1.0 - 1.0 / memory
        self._weights = [share * 20.0 for share in p.shares]
        low, high = p.ring_range
        rings = _quantile_points(low, high)
        self._ring: dict[Outcome, _Samples] = {
            "human": _Samples(rings, samples),
            "machine": _Samples(rings, samples),
            "busy": _Samples(_quantile_points(1.0, 4.0), samples),
            "no_answer": _Samples([p.no_answer_timeout] * 4, samples),
        }
        self._delay = _Samples([r + p.screen_time for r in rings], samples)
        self._talk = _Samples(
            [-p.talk_mean * math.log(1.0 - (i + 0.5) / PRIOR_POINTS) for i in range(20)],
            samples,
        )
        self._wrapup = _Samples(_quantile_points(0.5 * p.wrapup_mean, 1.5 * p.wrapup_mean), samples)
        self._refresh = refresh
        self._pending = refresh  # rebuild on first use
        self._memo: dict[tuple[str, int], tuple[float, ...]] = {}
        self._person_memo: dict[int, float] = {}
        self._terms: dict[tuple[str, int], tuple[tuple[float, ...], tuple[float, ...]]] = {}
        self.delay_points: tuple[float, ...] = ()
        self.horizons: tuple[float, ...] = ()
        self._wrapup_points: tuple[float, ...] = ()
        self._rebuild()

    # -- fed by the driver ------------------------------------------------------------
    def attempt_ended(
        self, outcome: Outcome, rang_for: float, verdict_after: float | None = None
    ) -> None:
        """An attempt's outcome as the dialer saw it (``human``/``machine`` are AMD's
        verdicts), how long it rang before answer, busy or timeout, and for a human how
        long from dialing to AMD's verdict."""
        self._weights = [w * self._decay for w in self._weights]
        self._weights[OUTCOMES.index(outcome)] += 1.0
        self._ring[outcome].add(rang_for)
        if outcome == "human" and verdict_after is not None:
            self._delay.add(verdict_after)
        self._tick()

    def talk_ended(self, duration: float) -> None:
        self._talk.add(duration)
        self._tick()

    def wrapup_ended(self, duration: float) -> None:
        self._wrapup.add(duration)
        self._tick()

    def _tick(self) -> None:
        self._pending += 1
        if self._pending >= self._refresh:
            self._rebuild()

    def _rebuild(self) -> None:
        self._pending = 0
        for s in (*self._ring.values(), self._delay, self._talk, self._wrapup):
            s.refresh()
        self._memo.clear()
        self._person_memo.clear()
        self._terms.clear()
        self.delay_points = tuple(self._delay.quantile(q) for q in DELAY_QUANTILES)
        # The 2 s run from the greeting's end, before AMD's verdict.
        grace = max(CONNECT_WITHIN - self.priors.amd_silence, 0.0)
        self.horizons = tuple(u + grace for u in self.delay_points)
        self._wrapup_points = tuple(
            self._wrapup.quantile((i + 0.5) / WRAPUP_POINTS) for i in range(WRAPUP_POINTS)
        )

    # -- read by policies -------------------------------------------------------------
    @property
    def shares(self) -> dict[Outcome, float]:
        """The learnt outcome mix of an attempt."""
        total = sum(self._weights)
        return {o: w / total for o, w in zip(OUTCOMES, self._weights, strict=True)}

    @property
    def person_share(self) -> float:
        """P(a new attempt ends with AMD saying human)."""
        return self._weights[0] / sum(self._weights)

    @property
    def screening_person(self) -> float:
        """P(human | answered, AMD still listening)."""
        return self._weights[0] / (self._weights[0] + self._weights[1])

    def ringing_person(self, age: float) -> float:
        """P(human | still ringing ``age`` seconds after dialing)."""
        key = int(age)
        hit = self._person_memo.get(key)
        if hit is None:
            alive = [
                w * self._ring[o].survival(key)
                for o, w in zip(OUTCOMES, self._weights, strict=True)
            ]
            total = sum(alive)
            hit = alive[0] / total if total > 0 else 0.0
            self._person_memo[key] = hit
        return hit

    def arrival_within(self, age: float) -> tuple[float, ...]:
        """For a ringing call ``age`` seconds old that will be a human: P(AMD's verdict
        comes within each of :attr:`delay_points` from now)."""
        key = ("ring", int(age))
        hit = self._memo.get(key)
        if hit is None:
            a = float(int(age))
            hit = tuple(self._delay.conditional_within(a, u) for u in self.delay_points)
            # A call older than every human delay seen still counts as arriving now.
            if self._delay.survival(a) == 0.0:
                hit = tuple(1.0 for _ in self.delay_points)
            self._memo[key] = hit
        return hit

    def free_within(self, activity: AgentActivity, age: float) -> tuple[float, ...]:
        """P(an agent ``age`` seconds into ``activity`` is free within each of
        :attr:`horizons` from now): talk's remainder plus a whole wrap-up, or wrap-up's
        remainder, each conditioned on having lasted ``age``."""
        if activity == "idle":
            return tuple(1.0 for _ in self.horizons)
        key = (activity, int(age / AGE_BIN))
        hit = self._memo.get(key)
        if hit is None:
            a = key[1] * AGE_BIN
            if activity == "wrapup":
                hit = tuple(self._wrapup.conditional_within(a, h) for h in self.horizons)
            else:
                points = self._wrapup_points
                hit = tuple(
                    sum(self._talk.conditional_within(a, h - w) for w in points if w < h)
                    / len(points)
                    for h in self.horizons
                )
            self._memo[key] = hit
        return hit

    def supply_terms(
        self, activity: AgentActivity, age: float
    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """An agent's chance of being free by each horizon, and its variance (memoised)."""
        key = ("s" + activity, int(age / AGE_BIN))
        hit = self._terms.get(key)
        if hit is None:
            q = self.free_within(activity, age)
            hit = (q, tuple(x * (1.0 - x) for x in q))
            self._terms[key] = hit
        return hit

    def demand_terms(
        self, stage: CallStage, age: float
    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """A call's chance of being a person wanting an agent before each delay point from
        now, and its variance (memoised)."""
        key = ("d" + stage, int(age))
        hit = self._terms.get(key)
        if hit is None:
            if stage == "ringing":
                p = self.ringing_person(age)
                pc = tuple(p * c for c in self.arrival_within(age))
            else:
                one = 1.0 if stage == "waiting" else self.screening_person
                pc = tuple(one for _ in self.delay_points)
            hit = (pc, tuple(x * (1.0 - x) for x in pc))
            self._terms[key] = hit
        return hit


@dataclass(frozen=True, slots=True)
class PacingState:
    """Everything a pacing policy may look at (see the module docstring)."""

    now: float
    agents: Sequence[AgentView]
    calls: Sequence[CallView]
    windows: Sequence[WindowFigures]
    experience: Experience
    today: Tally = field(default_factory=Tally)
    last_minute: Tally = field(default_factory=Tally)
    _activities: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def count(self, activity: AgentActivity) -> int:
        """Agents doing ``activity`` now."""
        return self.activities.get(activity, 0)

    @property
    def activities(self) -> dict[str, int]:
        """How many agents do what (counted once per state)."""
        counted = self._activities
        if counted is None:
            counted = dict(Counter(a.activity for a in self.agents))
            object.__setattr__(self, "_activities", counted)
        return counted

    @property
    def progressive_lines(self) -> int:
        """Idle agents not yet covered by a call in flight (one line each)."""
        return max(0, self.count("idle") - len(self.calls))


class PacingPolicy(Protocol):
    """A pacing policy: how many lines to dial now."""

    @property
    def name(self) -> str: ...

    def lines_to_dial(self, state: PacingState) -> int: ...


class Progressive:
    """One line per idle agent not already covered by a call in flight."""

    name = "progressive"

    def lines_to_dial(self, state: PacingState) -> int:
        return state.progressive_lines


class FixedRatio:
    """VICIdial's RATIO mode: keep ``ratio`` lines per idle or talking agent (connected
    calls count as lines; wrapping-up agents count for nothing)."""

    def __init__(self, ratio: float = 2.0) -> None:
        if ratio < 1.0:
            raise ValueError("a dial ratio is at least 1")
        self.ratio = ratio
        self.name = f"ratio-{ratio:g}"

    def lines_to_dial(self, state: PacingState) -> int:
        return _vicidial_lines(self.ratio, state)


class CapGuard:
    """The legal cap, whatever the policy: ``policy``'s lines while every window can still
    afford the calls in flight, progressive's otherwise.

    The predictive policy spends the abandon budget itself; a ratio or VICIdial's adaptive
    method do not look at it (RATIO abandoned 18 % on real calls), so a live campaign runs
    them behind this guard. A window's headroom is the abandons it can still take under its
    cap (over at least ``floor_live`` live calls, as :class:`Predictive` counts them). Each
    call in flight, and each line beyond progressive's, might be a person no agent is free
    for: so the lines beyond progressive's are at most the headroom less ``reserve`` and one
    per call in flight, and none when that is under one (progressive's cannot abandon).
    """

    def __init__(
        self, policy: PacingPolicy, *, reserve: float = 2.0, floor_live: float = 50.0
    ) -> None:
        self.policy = policy
        self.reserve = reserve
        self.floor_live = floor_live
        self.name = policy.name

    def lines_to_dial(self, state: PacingState) -> int:
        lines = self.policy.lines_to_dial(state)
        floor = state.progressive_lines
        if lines <= floor:
            return lines
        headroom = min(
            (w.cap * max(w.live, self.floor_live) - w.abandoned for w in state.windows),
            default=math.inf,
        )
        # Worst case, every call in flight and every line beyond progressive's is a person
        # no agent is free for: the lines beyond are at most the abandons still affordable.
        spare = headroom - self.reserve - len(state.calls)
        return floor if spare < 1.0 else min(lines, floor + int(spare))


def _vicidial_lines(level: float, state: PacingState) -> int:
    """AST_VDauto_dial.pl: goal = sprintf("%.0f", level * (READY + INCALL agents)); calls to
    place = goal - existing calls (ringing, live waiting, and those with agents)."""
    talking = state.count("talking")
    goal = round(level * (state.count("idle") + talking))
    return max(0, goal - len(state.calls) - talking)


DropMethod = Literal["HARD_LIMIT", "TAPERED", "AVERAGE"]


class VicidialAdaptive:
    """A port of VICIdial's adaptive predictive dial level (``bin/AST_VDadapt.pl``,
    ``calculate_dial_level`` and ``count_agents_lines``).

    Every second it samples ready agents (READY/DONE: ``idle`` here), calls waiting for an
    agent (LIVE: ``waiting``) and all agents; every 15 samples it sets::

        differential = mean(ready) - mean(waiting) + dl_diff_target   # last 15 samples
        level = level * (1 + differential / mean(agents) * intensity factor)
        level = min(level, maximum_level); level = max(level, 1.0)
        if calls in the last minute > 20 and drops / calls > 50 %: level /= 2
        if calls today > 50 and drops / answers today > dropped_percentage:
            HARD_LIMIT: level = 1.0;  AVERAGE: level /= 2
            TAPERED: level *= (latest_server_time - HHMM) / 1000 (capped at 1), or 1.0 past it
        level = max(level, 1.0)

    Lines come from ``AST_VDauto_dial.pl`` as in :class:`FixedRatio`, with this level.

    Differences, on purpose: VICIdial's "today" is the campaign's calendar day; here it is
    :attr:`PacingState.today` (the driver's day), and like VICIdial it ignores the UK rule's
    AMD false-positive estimate. Agents wrapping up are PAUSED in VICIdial's sense: counted
    in the divisor (all logged-in agents) but not in the line goal. The available-only tally
    and dial-level thresholds are left out (off by default in VICIdial).
    """

    def __init__(
        self,
        drop_method: DropMethod = "HARD_LIMIT",
        *,
        dropped_percentage: float = 3.0,
        maximum_level: float = 3.0,
        intensity: float = 0.0,
        dl_diff_target: float = 0.0,
        latest_server_time: int = 2100,
        initial_level: float = 1.0,
    ) -> None:
        self.drop_method: DropMethod = drop_method
        self.name = f"vicidial-{drop_method.lower().replace('_', '-')}"
        self.dropped_percentage = dropped_percentage
        self.maximum_level = maximum_level
        self.intensity = intensity
        self.dl_diff_target = dl_diff_target
        self.latest_server_time = latest_server_time
        self.level = initial_level
        self._samples: deque[tuple[int, int, int]] = deque(maxlen=15)
        self._last_second: int | None = None
        self._since_update = 0

    def lines_to_dial(self, state: PacingState) -> int:
        second = int(state.now)
        if self._last_second is None or second > self._last_second:
            self._last_second = second
            self._samples.append(
                (
                    state.count("idle"),
                    sum(1 for c in state.calls if c.stage == "waiting"),
                    len(state.agents),
                )
            )
            self._since_update += 1
            if self._since_update >= 15:
                self._since_update = 0
                self._adapt(state)
        return _vicidial_lines(self.level, state)

    def _adapt(self, state: PacingState) -> None:
        n = len(self._samples)
        ready = sum(s[0] for s in self._samples) / n
        waiting = sum(s[1] for s in self._samples) / n
        agents = sum(s[2] for s in self._samples) / n
        if agents <= 0:
            return
        target = ready - waiting + self.dl_diff_target
        diff_mul = target / agents
        intensity_mul = self.intensity / 100.0
        if diff_mul < 0:
            intensity_diff = diff_mul * abs(intensity_mul - 1.0)
        else:
            intensity_diff = diff_mul * (intensity_mul + 1.0)
        level = round(self.level * (intensity_diff + 1.0), 3)
        level = min(level, self.maximum_level)
        level = max(level, 1.0)
        minute = state.last_minute
        if minute.attempts > 20 and minute.abandoned / minute.attempts > 0.5:
            level /= 2.0
        today = state.today
        answers = max(today.live, 1)
        if today.attempts > 50 and 100.0 * today.abandoned / answers > self.dropped_percentage:
            if self.drop_method == "HARD_LIMIT":
                level = 1.0
            elif self.drop_method == "AVERAGE":
                level /= 2.0
            else:
                clock = int(state.now) // 3600 * 100 + int(state.now) % 3600 // 60
                hours_left = self.latest_server_time - clock
                level = 1.0 if hours_left < 0 else level * min(1.0, hours_left / 1000.0)
        self.level = max(level, 1.0)


class Predictive:
    """callflow's predictive policy (see the module docstring for the mechanism).

    The allowance ``lambda`` comes from the worst window's *headroom*, the abandons it can
    still take and stay at its target (``target = cap - margin``, over at least
    ``floor_live`` live calls)::

        headroom = min over windows (target * max(live, floor_live) - abandoned)
        floor    = reserve + in_flight(lines)
        scale    = scale_base + scale_share * min over windows (cap * max(live, floor_live))
        aim      = floor + cushion * sqrt(scale)
        lambda   = min(max_allowance, base_allowance * exp((headroom - aim) / scale))
        lambda   = 0 when headroom <= floor (only progressive's lines)

    ``in_flight(lines)`` is what the calls already in flight, with ``lines`` new ones, may
    still cost: at each horizon, the people wanting an agent less the agents free by then
    (the same forecast the marginal risk reads), at ``tail_z`` standard deviations over its
    mean (Normal-approximated), the worst horizon, never under 0. A new line beyond
    progressive's is dialed only while the headroom stays over ``reserve`` plus that. This
    is the guarantee: when the budget is low the policy falls back to progressive *before*
    the calls it already placed could spend what is left, whatever the team size.

    Each live call adds ``target`` to the headroom and each abandon takes 1 away, so this is
    an integral controller on the abandon rate: the headroom settles where the abandons the
    allowance causes match the budget the live calls bring (``base_allowance`` is only the
    starting guess), whatever the team size or the campaign. The scale grows with the
    window's budget, so one abandon moves ``lambda`` little in a big window (a steady
    ``lambda`` spends a budget best: a swinging one dials too much, then too little), and the
    aim keeps the headroom a few standard deviations of its noise over the floor, so the
    floor (and progressive pacing) is seldom reached. The budget left unspent at a
    window's end is about ``aim`` abandons, not a share of its calls.

    Why the floor scales with the calls in flight (bench dialer, 30 seeds): a constant
    reserve of 3 abandons (plus 0.2 per person expected in flight) let long talk times at
    100 agents end 1 day in 30 over the cap: 37 calls in flight with the headroom at 4.3,
    no agent free, and 9 people abandoned in 8 s, every person then in flight (with 2, 1
    day in 30 of 5 and of 20 agents went over when the answer rate drifts by half). With
    the floor, ``tail_z`` 3.5 and a reserve of 2: no day over in those rows, and more talk
    (long-talk at 100 agents 0.864 -> 0.873, reference at 10 0.639 -> 0.646, at 100
    0.754 -> 0.760), since a small floor where agents are about to be free lets it dial
    there. ``tail_z`` 2.33 was not enough (3 days of 30 over at long-talk/100: the
    shortfall's tail is fatter than Normal, the abandons of a busy spell come together).

    For a small team (agents and calls in flight together at most ``exact_up_to``) the
    shortfall's distribution is computed exactly (a difference of Poisson binomials) instead
    of Normal-approximated. ``max_lines_per_agent`` bounds the calls in flight whatever the
    forecast says.
    """

    name = "predictive"

    def __init__(
        self,
        *,
        margin: float = 0.0,
        reserve: float = 2.0,
        tail_z: float = 3.5,
        scale_base: float = 3.0,
        scale_share: float = 0.1,
        cushion: float = 2.0,
        base_allowance: float = 0.04,
        max_allowance: float = 0.25,
        floor_live: float = 50.0,
        max_lines_per_agent: float = 3.0,
        exact_up_to: int = 12,
    ) -> None:
        if margin < 0.0 or reserve < 0.0 or scale_base <= 0.0 or not 0.0 < max_allowance <= 1.0:
            raise ValueError("margin and reserve are >= 0, scale_base > 0, max_allowance in (0, 1]")
        self.margin = margin
        self.reserve = reserve
        self.tail_z = tail_z
        self.scale_base = scale_base
        self.scale_share = scale_share
        self.cushion = cushion
        self.base_allowance = base_allowance
        self.max_allowance = max_allowance
        self.floor_live = floor_live
        self.max_lines_per_agent = max_lines_per_agent
        self.exact_up_to = exact_up_to

    def headroom(self, windows: Sequence[WindowFigures]) -> float:
        """The worst window's abandons still affordable at its target (may be negative;
        ``-inf`` when a window's target is not above 0, 0 with no window)."""
        if not windows:
            return 0.0
        worst = math.inf
        for w in windows:
            target = w.cap - self.margin
            if target <= 0.0:
                return -math.inf
            worst = min(worst, target * max(w.live, self.floor_live) - w.abandoned)
        return worst

    def allowance(self, windows: Sequence[WindowFigures], in_flight: float = 0.0) -> float:
        """``lambda``: the marginal abandon probability a new line may carry, from the worst
        window's headroom over the floor (``reserve`` plus ``in_flight``, what the calls in
        flight may still cost): 0, progressive only, once the headroom is down to it."""
        return self._allowance(windows, self.headroom(windows), self.reserve + in_flight)

    def _allowance(self, windows: Sequence[WindowFigures], headroom: float, floor: float) -> float:
        if headroom <= floor:
            return 0.0
        budget = min(w.cap * max(w.live, self.floor_live) for w in windows)
        scale = self.scale_base + self.scale_share * budget
        aim = floor + self.cushion * math.sqrt(scale)
        return min(self.max_allowance, self.base_allowance * math.exp((headroom - aim) / scale))

    def lines_to_dial(self, state: PacingState) -> int:
        floor = state.progressive_lines
        limit = int(self.max_lines_per_agent * len(state.agents)) - len(state.calls)
        if limit <= floor:
            return floor  # progressive's lines never exceed the limit: idle <= agents
        exp = state.experience
        now = state.now
        k = len(exp.horizons)
        # Agents and calls alike (same activity and age bin) share their terms.
        calls = Counter((c.stage, int(now - c.dialed_at)) for c in state.calls)
        demand_rows = [
            (exp.demand_terms(stage, float(age)), n) for (stage, age), n in calls.items()
        ]
        demand, demand_var = _weighted_sums(demand_rows, k)
        agents = Counter((a.activity, int((now - a.since) / AGE_BIN)) for a in state.agents)
        supply_rows = [
            (exp.supply_terms(activity, age_bin * AGE_BIN), n)
            for (activity, age_bin), n in agents.items()
        ]
        supply, supply_var = _weighted_sums(supply_rows, k)
        p_new = exp.person_share
        in_flight = _tail_shortfall(supply, supply_var, demand, demand_var, p_new, self.tail_z)
        headroom = self.headroom(state.windows)
        lam = self._allowance(state.windows, headroom, self.reserve + in_flight(floor))
        if lam <= 0.0:
            return floor
        spare = headroom - self.reserve
        if len(state.agents) + len(state.calls) <= self.exact_up_to:
            risk_of = _exact_risk(
                [row[0] for row, n in supply_rows for _ in range(n)],
                [row[0] for row, n in demand_rows for _ in range(n)],
                p_new,
                k,
            )
        else:
            risk_of = _normal_risk(supply, supply_var, demand, demand_var, p_new)
        lines = 0
        while lines < limit:
            # The (lines+1)-th new call: if a person, they answer at each delay quantile u;
            # the other new calls answered before them compete for the same agents. And all
            # the calls in flight with it must fit in what the window can still take.
            if lines >= floor and (risk_of(lines) > lam or in_flight(lines + 1) >= spare):
                break
            lines += 1
        return lines


def _tail_shortfall(
    supply: list[float],
    supply_var: list[float],
    demand: list[float],
    demand_var: list[float],
    p_new: float,
    z: float,
) -> Callable[[int], float]:
    """The abandons the calls in flight plus ``lines`` new ones may still cause, at ``z``
    standard deviations: the people wanting an agent less the agents free, at the worst
    horizon (Normal-approximated; 0 when agents are sure to outnumber them)."""

    def tail(lines: int) -> float:
        worst = 0.0
        for i, q in enumerate(DELAY_QUANTILES):
            pq = p_new * q
            mean = demand[i] + lines * pq - supply[i]
            var = supply_var[i] + demand_var[i] + lines * pq * (1.0 - pq)
            worst = max(worst, mean + z * math.sqrt(var))
        return worst

    return tail


def _normal_risk(
    supply: list[float],
    supply_var: list[float],
    demand: list[float],
    demand_var: list[float],
    p_new: float,
) -> Callable[[int], float]:
    """P(no agent in time for a person on the (lines+1)-th new call), averaged over the
    delay quantiles, the shortfall Normal-approximated (continuity-corrected)."""

    def risk(lines: int) -> float:
        total = 0.0
        for i, q in enumerate(DELAY_QUANTILES):
            ahead = lines * p_new * q
            mean = supply[i] - demand[i] - ahead
            var = supply_var[i] + demand_var[i] + ahead * (1.0 - p_new * q) + 0.25
            total += _normal_cdf((0.5 - mean) / math.sqrt(var))
        return total / len(DELAY_QUANTILES)

    return risk


def _exact_risk(
    supply: list[tuple[float, ...]], demand: list[tuple[float, ...]], p_new: float, k: int
) -> Callable[[int], float]:
    """The same risk with the exact distribution of (agents free) - (people wanting one):
    each agent and each call is its own Bernoulli; the new calls ahead are binomial."""
    below: list[tuple[int, list[float]]] = []  # per quantile: offset, P(M <= offset + j)
    for i in range(k):
        pmf = [1.0]
        offset = 0  # pmf[j] = P(M = j + offset)
        for row in supply:
            pmf = _shift_mix(pmf, row[i])
        for row in demand:  # M - X = (M + (1 - X)) - 1
            pmf = _shift_mix(pmf, 1.0 - row[i])
            offset -= 1
        cumulative = list(itertools.accumulate(pmf))
        below.append((offset, cumulative))

    def risk(lines: int) -> float:
        total = 0.0
        for i, q in enumerate(DELAY_QUANTILES):
            offset, cumulative = below[i]
            pq = p_new * q
            for x in range(lines + 1):
                j = x - offset  # P(M <= x)
                if j < 0:
                    continue
                at = cumulative[min(j, len(cumulative) - 1)]
                total += math.comb(lines, x) * pq**x * (1.0 - pq) ** (lines - x) * at
        return total / len(DELAY_QUANTILES)

    return risk


def _shift_mix(pmf: list[float], p: float) -> list[float]:
    """The distribution of ``M + B`` for ``B`` Bernoulli(p) independent of ``M``."""
    if p <= 0.0:
        return pmf
    if p >= 1.0:
        return [0.0, *pmf]
    out = [v * (1.0 - p) for v in pmf]
    out.append(0.0)
    for j, v in enumerate(pmf):
        out[j + 1] += v * p
    return out


def _weighted_sums(
    rows: list[tuple[tuple[tuple[float, ...], tuple[float, ...]], int]], k: int
) -> tuple[list[float], list[float]]:
    """Column sums of (means, variances) rows, each row counted ``n`` times."""
    if not rows:
        return [0.0] * k, [0.0] * k
    means = [terms[0] for terms, n in rows for _ in range(n)]
    variances = [terms[1] for terms, n in rows for _ in range(n)]
    return [sum(c) for c in zip(*means, strict=True)], [
        sum(c) for c in zip(*variances, strict=True)
    ]


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def make_policy(name: str, *, latest_server_time: int = 2100) -> PacingPolicy:
    """A fresh policy by its bench name (``progressive``, ``ratio-2``, ``vicidial-hard-limit``,
    ``vicidial-tapered``, ``vicidial-average``, ``predictive``); ``latest_server_time`` is
    VICIdial's HHMM end of the calling day (its tapered drop method reads it)."""
    if name == "progressive":
        return Progressive()
    if name == "predictive":
        return Predictive()
    if name.startswith("ratio-"):
        return FixedRatio(float(name.removeprefix("ratio-")))
    methods: dict[str, DropMethod] = {
        "vicidial-hard-limit": "HARD_LIMIT",
        "vicidial-tapered": "TAPERED",
        "vicidial-average": "AVERAGE",
    }
    if name in methods:
        return VicidialAdaptive(methods[name], latest_server_time=latest_server_time)
    raise ValueError(f"unknown pacing policy {name!r}")


__all__ = [
    "OUTCOMES",
    "AgentView",
    "CallView",
    "CapGuard",
    "Experience",
    "FixedRatio",
    "PacingPolicy",
    "PacingState",
    "Predictive",
    "Priors",
    "Progressive",
    "Tally",
    "VicidialAdaptive",
    "make_policy",
]
