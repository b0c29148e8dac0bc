"""A discrete-event simulation of a live queue: the very Router, caller machines and
announcements callers get, driven in simulated time.

This simulator runs :class:`~callflow.queue.routing.Router` (strategy, priority, wrap-up,
pauses, retry delays) and one :class:`~callflow.queue.caller.QueueCaller` per caller,
exactly as :mod:`callflow.queue.live` does over ARI: the machine decides when a caller is
told their position and wait, and which :class:`~callflow.queue.wait.WaitFigure`; the
simulator only plays Asterisk and the people (agents answer, talk and take breaks, callers
lose patience). So it scores what callers actually hear.

Who is scored: callers who arrive after ``warmup`` **and find no free agent** (they are the
ones who hear a wait; callers who reach a free agent wait 0 and are never told anything,
and counting them would flatter every predictor that says "0"), and who are then answered
(an abandoner's wait is censored by their patience: nobody knows what it would have been).

Every predictor is asked at the same moments, fed the same events: at the caller's join,
and at each re-announcement of their wait. Besides the live predictor (the one whose
figures the caller hears), ``shadows`` say what they would have said. Each moment scores,
against the wait that followed it, three figures per predictor (:data:`FIGURES`): the
point estimate (``mean``), the figure it announces (``announced``), and that figure as
spoken, rounded as the queue words it (``spoken``: "about 3 minutes" is 180 s, "less than
a minute" 60 s; a predictor that would say nothing, as app_queue under a minute, is not
scored), and ``heard``: the spoken figure with a predictor's silence scored as 0 s (what a
caller told nothing may expect). The spoken figure is also scored by callers ahead
(:func:`ahead_band`) and by 5-minute window of when it was said, for the worst window.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import inspect
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from callflow.queue.agents import AgentState, QueueError
from callflow.queue.caller import (
    Announce,
    Answered,
    Command,
    Connect,
    Gone,
    Offered,
    QueueCaller,
    Rang,
    Record,
    Ring,
    Said,
    TalkEnded,
    Tick,
    TimeUp,
    agents_serving,
)
from callflow.queue.config import AgentConfig, AnnounceConfig, QueueCenter, QueueConfig
from callflow.queue.estimate import (
    AgentSnapshot,
    Estimate,
    QueueEvent,
    WaitPredictor,
    ahead_band,
)
from callflow.queue.routing import QueueEntry, Router
from callflow.queue.snapshot import agent_snapshot
from callflow.queue.wait import WaitFigure, wait_figure

QUEUE = "sim"
FIGURES = ("mean", "announced", "spoken", "heard")
WINDOW = 300.0  # seconds: the windows the worst p_over is reported over
MIN_WINDOW_FIGURES = 30  # a window with fewer figures says nothing about a worst case

Distribution = Literal["lognormal", "exponential", "bimodal", "uniform"]


@dataclass(frozen=True, slots=True)
class CenterScenario:
    """One simulated queue as the live code serves it.

    - Handle times (talk): ``mean_handle_time`` drawn ``handle_time_distribution``:
      lognormal with ``handle_time_cv``, exponential, or bimodal (70% short calls at 0.4x
      the mean, 30% long ones at 2.4x, each exponential).
    - Patience: ``mean_patience`` (None: nobody hangs up) drawn ``patience_distribution``:
      exponential, uniform within +-``patience_spread`` of the mean (near-fixed patience),
      or lognormal with ``patience_cv`` (a heavy tail).
    - Agents: ``wrapup`` after-call work, ``ring_time`` before they answer; every
      ``breaks_every`` seconds (0: never) a ``breaks_share`` of them pause for
      ``breaks_length`` seconds (those on a call when the break starts finish it first).
    - Arrivals: Poisson at the rate that makes ``load`` (talk and wrap-up count as busy),
      swinging sinusoidally by +-``arrival_swing`` over ``swing_period``, and multiplied by
      ``burst_factor`` for ``burst_length`` seconds every ``burst_every`` (0: never).
    - ``priority_share``: callers with priority 5 (served first, as the router does).
    - ``announce_every``: the queue's announce frequency (re-announcements);
      ``round_seconds`` its rounding of spoken figures.
    """

    name: str
    agents: int
    load: float
    mean_handle_time: float = 180.0
    handle_time_cv: float = 1.0
    handle_time_distribution: Distribution = "lognormal"
    mean_patience: float | None = None
    patience_distribution: Distribution = "exponential"
    patience_spread: float = 1.0 / 6.0
    patience_cv: float = 2.0
    wrapup: float = 0.0
    ring_time: float = 0.0
    priority_share: float = 0.0
    announce_every: float = 60.0
    round_seconds: int = 0
    warmup: float = 3600.0
    measured_callers: int = 2_000
    max_arrivals: int = 5_000_000
    arrival_swing: float = 0.0
    swing_period: float = 7200.0
    burst_every: float = 0.0
    burst_length: float = 600.0
    burst_factor: float = 2.0
    breaks_every: float = 0.0
    breaks_length: float = 900.0
    breaks_share: float = 0.3

    @property
    def arrival_rate(self) -> float:
        """Mean arrivals per second, outside bursts (``load`` counts talk and wrap-up)."""
        return self.load * self.agents / (self.mean_handle_time + self.wrapup)


@dataclass(slots=True)
class Score:
    """How figures compared with the waits that followed them: the ``estimate`` scored for
    error and bias, the ``promised`` figure (what the caller is led to expect) for being
    outwaited."""

    name: str
    told: int = 0  # figures scored
    sum_squared_error: float = 0.0
    sum_error: float = 0.0
    sum_wait: float = 0.0
    waited_longer: int = 0

    def record(self, estimate: float, promised: float, waited: float) -> None:
        """Score one figure against the ``waited`` seconds that followed it."""
        self.told += 1
        self.sum_squared_error += (estimate - waited) ** 2
        self.sum_error += estimate - waited
        self.sum_wait += waited
        self.waited_longer += waited > promised

    def merged(self, other: Score) -> Score:
        """Both sets of figures as one score."""
        return Score(
            self.name,
            self.told + other.told,
            self.sum_squared_error + other.sum_squared_error,
            self.sum_error + other.sum_error,
            self.sum_wait + other.sum_wait,
            self.waited_longer + other.waited_longer,
        )

    @property
    def rrase(self) -> float:
        """RMS error over the mean actual wait (nan if undefined)."""
        if not self.told or self.sum_wait <= 0:
            return math.nan
        return math.sqrt(self.sum_squared_error / self.told) / (self.sum_wait / self.told)

    @property
    def bias(self) -> float:
        """Mean of (estimate - waited), seconds: positive is pessimistic."""
        return self.sum_error / self.told if self.told else math.nan

    @property
    def p_over(self) -> float:
        """Share of promises the caller then outwaited."""
        return self.waited_longer / self.told if self.told else math.nan


# One moment's figures from one predictor: (mean, announced, spoken, heard); nan: none.
Figures = tuple[float, float, float, float]


@dataclass(slots=True)
class PredictorScores:
    """Everything one predictor's figures scored in one run."""

    name: str
    join: dict[str, Score] = field(default_factory=dict)  # by figure, at the caller's join
    again: dict[str, Score] = field(default_factory=dict)  # by figure, re-announced
    by_ahead: dict[int, Score] = field(default_factory=dict)  # spoken, by ahead band
    paired: Score = field(init=False)  # spoken, where the paired predictor spoke too
    windows: dict[int, Score] = field(default_factory=dict)  # spoken, by 5-minute window

    def __post_init__(self) -> None:
        self.paired = Score(self.name)
        for figure in FIGURES:
            self.join.setdefault(figure, Score(self.name))
            self.again.setdefault(figure, Score(self.name))

    def record(
        self,
        moment: Literal["join", "again"],
        ahead: int,
        at: float,
        figures: Figures,
        waited: float,
        paired: bool = False,
    ) -> None:
        """Score one moment's figures against the wait that followed; ``paired``: the
        paired predictor spoke at this moment too."""
        scores = self.join if moment == "join" else self.again
        for figure, value in zip(FIGURES, figures, strict=True):
            if math.isfinite(value):
                scores[figure].record(value, value, waited)
        spoken = figures[2]
        if math.isfinite(spoken):
            band = ahead_band(ahead)
            self.by_ahead.setdefault(band, Score(self.name)).record(spoken, spoken, waited)
            window = int(at // WINDOW)
            self.windows.setdefault(window, Score(self.name)).record(spoken, spoken, waited)
            if paired:
                self.paired.record(spoken, spoken, waited)

    def figure(self, figure: str) -> Score:
        """One figure's score at join and re-announced together."""
        return self.join[figure].merged(self.again[figure])

    @property
    def spoken(self) -> Score:
        """What callers heard (or would have, from this predictor), at every moment."""
        return self.figure("spoken")

    @property
    def worst_window_p_over(self) -> float:
        """The highest p_over of the spoken figure over 5-minute windows with enough of
        them (nan when none has)."""
        shares = [s.p_over for s in self.windows.values() if s.told >= MIN_WINDOW_FIGURES]
        return max(shares, default=math.nan)


@dataclass(slots=True)
class CenterResult:
    """What one run measured."""

    scenario: CenterScenario
    seed: int
    scores: list[PredictorScores]  # the live predictor first, then the shadows
    ahead_counts: Counter[int] = field(default_factory=Counter)
    """Callers ahead at join, over measured callers who were answered."""
    arrivals: int = 0
    answered: int = 0
    abandoned: int = 0
    measured: int = 0
    measured_abandoned: int = 0
    announcements: int = 0
    end_time: float = 0.0


class _Tee:
    """Feeds every queue event to the live predictor and to the shadows; passes the live
    predictor the agents' snapshot (``snapshot``: now -> views), as the live queue does."""

    def __init__(
        self,
        live: WaitPredictor,
        shadows: Sequence[WaitPredictor],
        snapshot: Callable[[float], AgentSnapshot] | None = None,
    ) -> None:
        self.live = live
        self.shadows = shadows
        self.name = live.name
        self.snapshot = snapshot

    def observe(self, event: QueueEvent) -> None:
        self.live.observe(event)
        for shadow in self.shadows:
            shadow.observe(event)

    def estimate(
        self,
        ahead: int,
        serving: int,
        now: float,
        elapsed: float = 0.0,
        *,
        caller: int | None = None,
        priority: int = 0,
        agents: AgentSnapshot | None = None,
    ) -> Estimate:
        if agents is None and self.snapshot is not None:
            agents = self.snapshot(now)
        return _ask(self.live, ahead, serving, now, elapsed, caller, priority, agents)


def _ask(
    predictor: WaitPredictor,
    ahead: int,
    serving: int,
    now: float,
    elapsed: float,
    caller: int | None,
    priority: int,
    agents: AgentSnapshot | None,
) -> Estimate:
    """``predictor.estimate``, with the agents' snapshot if it takes one (a predictor
    written before snapshots existed is asked as before)."""
    if agents is not None and _takes_snapshot(predictor):
        return predictor.estimate(
            ahead, serving, now, elapsed, caller=caller, priority=priority, agents=agents
        )
    return predictor.estimate(ahead, serving, now, elapsed, caller=caller, priority=priority)


_TAKES_SNAPSHOT: dict[type, bool] = {}


def _takes_snapshot(predictor: WaitPredictor) -> bool:
    kind = type(predictor)
    takes = _TAKES_SNAPSHOT.get(kind)
    if takes is None:
        takes = _TAKES_SNAPSHOT[kind] = "agents" in inspect.signature(predictor.estimate).parameters
    return takes


@dataclass(slots=True)
class _Told:
    at: float
    moment: Literal["join", "again"]
    ahead: int
    figures: list[Figures]


@dataclass
class _Caller:
    machine: QueueCaller
    number: int
    patience: float
    told: list[_Told] = field(default_factory=list)
    measured: bool = False
    ahead: int = 0
    wake_at: float | None = None
    talk_end: float | None = None  # when the agent's talk with them ends (once drawn)


@dataclass(frozen=True, slots=True)
class AgentNow:
    """One agent of the queue as an all-knowing observer sees them at a moment.

    ``state`` is the router's; ``busy_until`` is when the current caller's talk and
    wrap-up end, if that is already decided (talking: the drawn talk end; wrap-up: its
    end), ``ringing_until`` when a ringing phone will be answered; ``pausing``: a pause is
    due after this call; ``on_break``: one of the agents the scenario sends on breaks."""

    state: str
    busy_until: float | None = None
    ringing_until: float | None = None
    pausing: bool = False
    on_break: bool = False
    talking_since: float | None = None


@dataclass(frozen=True, slots=True)
class Waiting:
    """A caller in line (ahead of the one asking): how long they have waited, their
    priority."""

    elapsed: float
    priority: int


@dataclass(frozen=True, slots=True)
class World:
    """The exact state of the simulated queue at the moment a caller is told a wait: the
    caller (time waited, priority), the callers ahead in the router's order, every agent.
    What an oracle (:mod:`callflow.sim.oracle`) knows; no predictor sees this."""

    now: float
    elapsed: float
    priority: int
    ahead: tuple[Waiting, ...]
    agents: tuple[AgentNow, ...]


class Oracle(Protocol):
    """Figures from the exact state: one :class:`Estimate` per name in ``names``."""

    names: tuple[str, ...]

    def estimates(self, world: World) -> list[Estimate]:
        """The figures for the caller of ``world``, one per name."""
        ...


def spoken_figures(estimate: Estimate, round_seconds: int = 0) -> Figures:
    """One estimate's four scored figures: its mean, the figure announced, that figure as
    spoken (nan when nothing would be said) and as heard (silence is heard as 0 s)."""
    figure = wait_figure(estimate.announce, round_seconds)
    spoken = float(figure.total_seconds) if figure is not None else math.nan
    if figure is not None and figure.qualifier == "more_than":
        spoken = math.nan  # nothing is said for over an hour
    # Silence (a figure of zero or less) is heard as "no wait": 0 s.
    silent = figure is None and estimate.announce <= 0.0
    return (estimate.mean, estimate.announce, spoken, 0.0 if silent else spoken)


_ARRIVAL, _WAKE, _ANSWER, _TALK_END, _ABANDON, _ROUTER, _BREAK, _BREAK_END = range(8)


class _Draws:
    """A duration distribution: lognormal (mean, cv), exponential, bimodal or uniform."""

    def __init__(
        self, rng: random.Random, kind: Distribution, mean: float, cv: float, spread: float
    ) -> None:
        self._rng = rng
        self._kind = kind
        self._mean = mean
        self._spread = spread
        sigma_sq = math.log1p(cv**2)
        self._sigma = math.sqrt(sigma_sq)
        self._mu = math.log(mean) - sigma_sq / 2

    def draw(self) -> float:
        rng, mean = self._rng, self._mean
        if self._kind == "exponential":
            return rng.expovariate(1.0 / mean)
        if self._kind == "bimodal":
            short = rng.random() < 0.7
            return rng.expovariate(1.0 / (mean * (0.4 if short else 2.4)))
        if self._kind == "uniform":
            return rng.uniform(mean * (1.0 - self._spread), mean * (1.0 + self._spread))
        return rng.lognormvariate(self._mu, self._sigma)


class _Arrivals:
    """Poisson arrivals, with a sinusoidal rate and bursts by thinning (Lewis & Shedler)."""

    def __init__(self, scenario: CenterScenario, rng: random.Random) -> None:
        self._rng = rng
        self._s = scenario
        self._rate = scenario.arrival_rate
        burst = scenario.burst_factor if scenario.burst_every > 0 else 1.0
        self._peak = self._rate * (1.0 + scenario.arrival_swing) * max(1.0, burst)
        self._omega = 2.0 * math.pi / scenario.swing_period

    def rate(self, t: float) -> float:
        s = self._s
        rate = self._rate * (1.0 + s.arrival_swing * math.sin(self._omega * t))
        if s.burst_every > 0 and t >= s.burst_every and t % s.burst_every < s.burst_length:
            rate *= s.burst_factor
        return rate

    def next(self, after: float) -> float:
        t = after
        while True:
            t += self._rng.expovariate(self._peak)
            if self._rng.random() * self._peak <= self.rate(t):
                return t


def simulate_center(
    scenario: CenterScenario,
    live: WaitPredictor,
    shadows: Sequence[WaitPredictor] = (),
    seed: int = 1,
    pair_with: str = "app_queue",
    oracles: Sequence[Oracle] = (),
    snapshots: bool = True,
) -> CenterResult:
    """Run one scenario through the live queue's code; score what callers were told.

    Each predictor's spoken figures are also scored ``paired`` with the predictor named
    ``pair_with``: only at the moments when it said something too (app_queue says nothing
    under a minute), so that both are compared on the same callers at the same moments.

    ``oracles`` are asked too, for measured callers only, with the exact :class:`World`;
    their figures are scored as predictors named by their ``names`` (after the shadows).
    They draw nothing from the run's random stream: the run is the same without them.

    With ``snapshots`` every predictor is given the agents' snapshot
    (:func:`callflow.queue.snapshot.agent_snapshot`) with each question, as the live queue
    gives it to its predictor; without, none is (the predictors' models without it).
    """
    if scenario.agents < 1 or scenario.load <= 0:
        raise ValueError("a scenario needs at least one agent and a positive load")
    rng = random.Random(seed)
    handle = _Draws(
        rng,
        scenario.handle_time_distribution,
        scenario.mean_handle_time,
        scenario.handle_time_cv,
        0.0,
    )
    patience_draws = (
        _Draws(
            rng,
            scenario.patience_distribution,
            scenario.mean_patience,
            scenario.patience_cv,
            scenario.patience_spread,
        )
        if scenario.mean_patience
        else None
    )
    arrivals = _Arrivals(scenario, rng)
    queue = QueueConfig(
        QUEUE,
        ring_timeout=max(15.0, scenario.ring_time + 5.0),
        retry_delay=0.0,
        wrapup=scenario.wrapup,
        announce=AnnounceConfig(
            frequency=scenario.announce_every,
            min_frequency=min(15.0, scenario.announce_every),
            round_seconds=scenario.round_seconds,
        ),
    )
    names = [f"agent{i}" for i in range(scenario.agents)]
    center = QueueCenter.build(
        [AgentConfig(n, f"SIM/{n}", queues=(QUEUE,)) for n in names], [queue]
    )
    router = Router(center, random.Random(seed + 1))
    for name in names:
        router.login(name, 0.0)
    on_break = names[: math.ceil(scenario.breaks_share * scenario.agents)]
    predictors = [live, *shadows]
    snapshot = functools.partial(agent_snapshot, router, QUEUE) if snapshots else None
    tee = _Tee(live, shadows, snapshot)
    oracle_names = [name for oracle in oracles for name in oracle.names]
    result = CenterResult(
        scenario, seed, [PredictorScores(n) for n in [*(p.name for p in predictors), *oracle_names]]
    )
    break_names = set(on_break) if scenario.breaks_every > 0 else set()
    pair = next((i for i, p in enumerate(predictors) if p.name == pair_with), None)
    callers: dict[str, _Caller] = {}
    events: list[tuple[float, int, int, str]] = []
    seq = 0
    router_wake: float | None = None

    def push(at: float, kind: int, who: str = "") -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, who))

    def perform(who: str, commands: list[Command], now: float) -> None:
        caller = callers[who]
        todo = list(commands)
        while todo:
            command = todo.pop(0)
            if isinstance(command, Ring):
                leg = f"{who}-{command.offer.agent}"
                todo += caller.machine.send(Rang(command.offer, leg), now)
                push(now + scenario.ring_time, _ANSWER, f"{who}|{leg}")
            elif isinstance(command, Announce):
                result.announcements += 1
                heard(who, command, now)
                todo += caller.machine.send(Said(), now)
            elif isinstance(command, Connect):
                caller.talk_end = now + handle.draw()
                push(caller.talk_end, _TALK_END, who)
            elif isinstance(command, Record) and command.kind == "queue.connect":
                result.answered += 1
                settle(caller, now, float(command.data["waited"]))
            elif isinstance(command, Record) and command.kind == "queue.abandon":
                result.abandoned += 1
                if caller.measured:
                    result.measured_abandoned += 1
        if caller.machine.done:
            callers.pop(who, None)
        else:
            wake = caller.machine.next_wakeup(now)
            if wake is not None and wake != caller.wake_at:
                caller.wake_at = wake
                push(wake, _WAKE, who)

    def ask(caller: _Caller, now: float, moment: Literal["join", "again"]) -> None:
        """What every predictor says to this caller now; kept if the caller is measured."""
        entry = caller.machine.entry
        position = router.position(entry.id)
        serving = agents_serving(router, QUEUE)
        views = snapshot(now) if snapshot is not None else None
        figures: list[Figures] = []
        for predictor in predictors:
            if serving == 0:
                estimate = Estimate(math.inf, math.inf)
            else:
                estimate = _ask(
                    predictor,
                    position - 1,
                    serving,
                    now,
                    now - entry.joined_at,
                    caller.number,
                    entry.priority or 0,
                    views,
                )
            figures.append(spoken_figures(estimate, scenario.round_seconds))
        if caller.measured and oracles:
            world = world_of(caller, now)
            for oracle in oracles:
                estimates = oracle.estimates(world)
                figures += [spoken_figures(e, scenario.round_seconds) for e in estimates]
        if caller.measured:
            caller.told.append(_Told(now, moment, position - 1, figures))

    def world_of(caller: _Caller, now: float) -> World:
        entry = caller.machine.entry
        line = router.entries(QUEUE)
        mine = next(i for i, e in enumerate(line) if e.id == entry.id)
        ahead = tuple(
            Waiting(now - e.joined_at, e.priority or 0)
            for e in line[:mine]
            if not router.pending(e.id)  # an agent's phone rings for them: theirs already
        )
        agents = []
        for name in names:
            agent = router.agents[name]
            state = agent.state.value
            busy_until = ringing_until = None
            if agent.state is AgentState.WRAPUP:
                busy_until = agent.wrapup_until
            elif agent.state is AgentState.ON_CALL and agent.entry_id in callers:
                end = callers[agent.entry_id].talk_end
                busy_until = None if end is None else end + scenario.wrapup
            elif agent.state is AgentState.RINGING:
                ringing_until = agent.since + scenario.ring_time
            agents.append(
                AgentNow(
                    state,
                    busy_until,
                    ringing_until,
                    agent.pending_pause is not None,
                    name in break_names,
                    agent.since if agent.state is AgentState.ON_CALL else None,
                )
            )
        return World(now, now - entry.joined_at, entry.priority or 0, ahead, tuple(agents))

    def heard(who: str, announce: Announce, now: float) -> None:
        """A re-announcement of the wait: what every predictor would have said."""
        caller = callers[who]
        said = [s.value for s in announce.items if s.what == "wait"]
        if said and isinstance(said[0], WaitFigure) and now > caller.machine.entry.joined_at:
            ask(caller, now, "again")

    def measure(caller: _Caller, now: float) -> None:
        """A caller who found no free agent: every predictor's figures at join (scored for
        callers after the warm-up)."""
        position = router.position(caller.machine.entry.id)
        if position <= router.agents_available(QUEUE):
            return  # a free agent is theirs: no wait to tell
        if now >= scenario.warmup and result.measured < scenario.measured_callers:
            caller.measured = True
            caller.ahead = position - 1
            result.measured += 1
        ask(caller, now, "join")

    def settle(caller: _Caller, now: float, waited: float) -> None:
        if caller.measured:
            result.ahead_counts[caller.ahead] += 1
        followed = caller.machine.entry.joined_at + waited
        for told in caller.told:
            paired = pair is not None and math.isfinite(told.figures[pair][2])
            for scores, figures in zip(result.scores, told.figures, strict=True):
                scores.record(told.moment, told.ahead, told.at, figures, followed - told.at, paired)

    def schedule(now: float) -> None:
        """The live scheduler's part: offers, time-outs, and when to look again."""
        for offer in router.offers(now):
            if offer.entry_id in callers:
                perform(
                    offer.entry_id, callers[offer.entry_id].machine.send(Offered(offer), now), now
                )
            else:
                router.ring_ended(offer, "caller_gone", now)
        for entry_id, target in router.timeouts(now):
            if entry_id in callers:
                perform(
                    entry_id, callers[entry_id].machine.send(TimeUp("timeout", target), now), now
                )
        nonlocal router_wake
        wake = router.next_wakeup(now)
        if wake is not None and wake > now and wake != router_wake:
            router_wake = wake
            push(wake, _ROUTER)

    push(arrivals.next(0.0), _ARRIVAL)
    if scenario.breaks_every > 0:
        push(scenario.breaks_every, _BREAK)
    now = 0.0
    number = 0
    while events:
        now, _, kind, who = heapq.heappop(events)
        if kind == _ARRIVAL:
            result.arrivals += 1
            number += 1
            who = f"c{number}"
            priority = 5 if rng.random() < scenario.priority_share else None
            machine = QueueCaller(
                QueueEntry(who, QUEUE, "+1", priority=priority, joined_at=now),
                queue,
                router,
                tee,
                number,
            )
            patience = patience_draws.draw() if patience_draws is not None else math.inf
            newcomer = callers[who] = _Caller(machine, number, patience)
            first = machine.join(now)
            measure(newcomer, now)
            perform(who, first, now)
            if who in callers and math.isfinite(patience):
                push(now + patience, _ABANDON, who)
            if (
                result.measured < scenario.measured_callers
                and result.arrivals < scenario.max_arrivals
            ):
                push(arrivals.next(now), _ARRIVAL)
        elif kind == _WAKE:
            caller = callers.get(who)
            if caller is not None and caller.wake_at == now:
                caller.wake_at = None
                perform(who, caller.machine.send(Tick(), now), now)
        elif kind == _ANSWER:
            who, leg = who.split("|")
            if who in callers:
                perform(who, callers[who].machine.send(Answered(leg), now), now)
        elif kind == _TALK_END:
            if who in callers:
                perform(who, callers[who].machine.send(TalkEnded("agent"), now), now)
        elif kind == _ABANDON:
            caller = callers.get(who)
            if caller is not None and caller.machine.phase in ("waiting", "saying"):
                perform(who, caller.machine.send(Gone("abandon"), now), now)
        elif kind == _BREAK:
            for name in on_break:
                router.pause(name, now, "break")
            push(now + scenario.breaks_length, _BREAK_END)
            if callers or len(events) > 1:  # callers to come or to serve: breaks go on
                push(now + scenario.breaks_every, _BREAK)
        elif kind == _BREAK_END:
            for name in on_break:
                with contextlib.suppress(QueueError):  # not paused (yet): nothing to end
                    router.unpause(name, now)
        schedule(now)
    result.end_time = now
    return result


__all__ = [
    "FIGURES",
    "AgentNow",
    "CenterResult",
    "CenterScenario",
    "Oracle",
    "PredictorScores",
    "Score",
    "Waiting",
    "World",
    "simulate_center",
    "spoken_figures",
]
