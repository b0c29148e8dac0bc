"""A discrete-event simulation of a live queue: the very Router, caller machines and
announcements callers get, driven in simulated time.

Where :mod:`callflow.sim.queue` keeps a FIFO line of its own (fast, for the predictor grid),
this simulator runs :class:`~callflow.queue.routing.Router` (strategy, priority, wrap-up,
retry delays) and one :class:`~callflow.queue.caller.QueueCaller` per caller, exactly as
:mod:`callflow.queue.live` does over ARI: the machine decides when a caller is told their
position and wait, and which :class:`~callflow.queue.wait.WaitFigure`; the simulator only
plays Asterisk and the people (agents answer and talk, callers lose patience). So it scores
what callers actually hear.

Who is scored: callers who arrive after ``warmup`` **and find no free agent** (they are the
ones who hear a wait; callers who reach a free agent wait 0 and are never told anything,
and counting them would flatter every predictor that says "0"). For the answered ones:

- ``joined``: each predictor's point estimate (``Estimate.mean``) and announced figure at
  join against the caller's whole wait (the predictor grid's metrics, ``bench ewt``);
- ``spoken`` / ``announced``: every figure the caller was told (at join and at each
  re-announcement), as said (rounded) and unrounded, against the wait that followed it.

Abandoners are counted apart: their wait is censored by their patience.

Besides the live predictor (the one that drives the announcements), ``shadows`` are asked at
the same moments what they would have said, fed the same events; that is how predictors are
compared on what callers would hear.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from callflow.queue.caller import (
    SERVING,
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
    queue_estimate,
)
from callflow.queue.config import AgentConfig, AnnounceConfig, QueueCenter, QueueConfig
from callflow.queue.estimate import Estimate, QueueEvent, WaitPredictor
from callflow.queue.routing import QueueEntry, Router
from callflow.queue.wait import WaitFigure, wait_figure

QUEUE = "sim"


@dataclass(frozen=True, slots=True)
class CenterScenario:
    """One simulated queue as the live code serves it.

    ``wrapup`` is each agent's after-call work; ``ring_time`` how long an agent's phone
    rings before they answer; ``priority_share`` the share of callers with priority 5
    (served first, as the router does). ``announce_every`` is the queue's announce
    frequency (re-announcements).
    """

    name: str
    agents: int
    load: float
    mean_handle_time: float = 180.0
    handle_time_cv: float = 1.0
    mean_patience: float | None = None
    wrapup: float = 0.0
    ring_time: float = 0.0
    priority_share: float = 0.0
    announce_every: float = 60.0
    round_seconds: int = 0
    warmup: float = 3600.0
    measured_callers: int = 2_000
    max_arrivals: int = 5_000_000
    handle_time_distribution: Literal["lognormal", "exponential"] = "lognormal"
    arrival_swing: float = 0.0  # sinusoidal arrival rate: +-swing around the mean
    swing_period: float = 7200.0

    @property
    def arrival_rate(self) -> float:
        """Mean arrivals per second (``load`` counts talk time and wrap-up as busy)."""
        return self.load * self.agents / (self.mean_handle_time + self.wrapup)


@dataclass(slots=True)
class Score:
    """How one predictor's figures compared with the waits that followed them, over
    answered callers: the ``estimate`` scored for error and bias, the ``promised`` figure
    (what the caller is led to expect) for being outwaited."""

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


@dataclass(slots=True)
class CenterResult:
    """What one run measured."""

    scenario: CenterScenario
    seed: int
    spoken: list[Score]  # per predictor: the spoken figure (rounded, as heard)
    announced: list[Score]  # per predictor: the unrounded figure it would announce
    joined: list[Score] = field(default_factory=list)  # per predictor: mean and announced, at join
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
    """Feeds every queue event to the live predictor and to the shadows."""

    def __init__(self, live: WaitPredictor, shadows: Sequence[WaitPredictor]) -> None:
        self.live = live
        self.shadows = shadows
        self.name = live.name

    def observe(self, event: QueueEvent) -> None:
        self.live.observe(event)
        for shadow in self.shadows:
            shadow.observe(event)

    def estimate(self, ahead: int, agents: int, now: float, elapsed: float = 0.0) -> Estimate:
        return self.live.estimate(ahead, agents, now, elapsed)


@dataclass
class _Caller:
    machine: QueueCaller
    patience: float
    told: list[tuple[float, list[float], list[float]]] = field(default_factory=list)
    measured: bool = False
    at_join: list[tuple[float, float]] = field(default_factory=list)  # (mean, announce)
    ahead: int = 0
    wake_at: float | None = None


_ARRIVAL, _WAKE, _ANSWER, _TALK_END, _ABANDON, _ROUTER = range(6)


class _HandleTimes:
    def __init__(self, scenario: CenterScenario, rng: random.Random) -> None:
        self._rng = rng
        self._mean = scenario.mean_handle_time
        self._exponential = scenario.handle_time_distribution == "exponential"
        sigma_sq = math.log1p(scenario.handle_time_cv**2)
        self._sigma = math.sqrt(sigma_sq)
        self._mu = math.log(scenario.mean_handle_time) - sigma_sq / 2

    def draw(self) -> float:
        if self._exponential:
            return self._rng.expovariate(1.0 / self._mean)
        return self._rng.lognormvariate(self._mu, self._sigma)


class _Arrivals:
    """Poisson arrivals, with a sinusoidal rate by thinning (Lewis & Shedler)."""

    def __init__(self, scenario: CenterScenario, rng: random.Random) -> None:
        self._rng = rng
        self._rate = scenario.arrival_rate
        self._swing = scenario.arrival_swing
        self._peak = self._rate * (1.0 + self._swing)
        self._omega = 2.0 * math.pi / scenario.swing_period

    def next(self, after: float) -> float:
        t = after
        while True:
            t += self._rng.expovariate(self._peak)
            if self._swing == 0.0:
                return t
            rate = self._rate * (1.0 + self._swing * math.sin(self._omega * t))
            if self._rng.random() * self._peak <= rate:
                return t


def simulate_center(
    scenario: CenterScenario,
    live: WaitPredictor,
    shadows: Sequence[WaitPredictor] = (),
    seed: int = 1,
) -> CenterResult:
    """Run one scenario through the live queue's code; score what callers were told."""
    if scenario.agents < 1 or scenario.load <= 0:
        raise ValueError("a scenario needs at least one agent and a positive load")
    rng = random.Random(seed)
    handle = _HandleTimes(scenario, rng)
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
    predictors = [live, *shadows]
    tee = _Tee(live, shadows)
    result = CenterResult(
        scenario,
        seed,
        spoken=[Score(p.name) for p in predictors],
        announced=[Score(p.name) for p in predictors],
        joined=[Score(p.name) for p in predictors],
    )
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
                push(now + handle.draw(), _TALK_END, who)
            elif isinstance(command, Record) and command.kind == "queue.connect":
                result.answered += 1
                waited = float(command.data["waited"])
                settle(caller, now, waited)
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

    def heard(who: str, announce: Announce, now: float) -> None:
        """Note what the caller was told, and what each predictor would have said."""
        caller = callers[who]
        said = [s.value for s in announce.items if s.what == "wait"]
        if not said or not isinstance(said[0], WaitFigure) or not caller.measured:
            return
        entry = caller.machine.entry
        position = router.position(entry.id)
        elapsed = now - entry.joined_at
        spoken: list[float] = []
        announced: list[float] = []
        for predictor in predictors:
            remaining = queue_estimate(router, predictor, QUEUE, position, elapsed, now)
            figure = wait_figure(remaining, scenario.round_seconds)
            announced.append(remaining)
            spoken.append(float(figure.total_seconds) if figure is not None else math.nan)
        caller.told.append((now, spoken, announced))

    def measure(caller: _Caller, now: float) -> None:
        """A caller who found no free agent, after the warm-up: ask every predictor."""
        entry = caller.machine.entry
        position = router.position(entry.id)
        if position <= router.agents_available(QUEUE):
            return  # a free agent is theirs: no wait to tell
        if now < scenario.warmup or result.measured >= scenario.measured_callers:
            return
        caller.measured = True
        caller.ahead = position - 1
        result.measured += 1
        for predictor in predictors:
            serving = _serving(router)
            if serving == 0:
                caller.at_join.append((math.inf, math.inf))
                continue
            estimate = predictor.estimate(position - 1, serving, now, 0.0)
            caller.at_join.append((estimate.mean, estimate.announce))

    def settle(caller: _Caller, now: float, waited: float) -> None:
        if caller.measured:
            result.ahead_counts[caller.ahead] += 1
            for score, (mean, told) in zip(result.joined, caller.at_join, strict=True):
                if math.isfinite(mean):
                    score.record(mean, told, waited)
        joined = caller.machine.entry.joined_at
        for at, spoken, announced in caller.told:
            still = joined + waited - at  # the wait that followed this figure
            for i, (s, a) in enumerate(zip(spoken, announced, strict=True)):
                if math.isfinite(s):
                    result.spoken[i].record(s, s, still)
                if math.isfinite(a):
                    result.announced[i].record(a, a, still)

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
            patience = (
                rng.expovariate(1.0 / scenario.mean_patience)
                if scenario.mean_patience
                else math.inf
            )
            newcomer = callers[who] = _Caller(machine, patience)
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
        schedule(now)
    result.end_time = now
    return result


def _serving(router: Router) -> int:
    """Agents who count as serving the queue (as the live estimate counts them)."""
    return sum(1 for name in router.members[QUEUE] if router.agents[name].state in SERVING)


__all__ = ["CenterResult", "CenterScenario", "Score", "simulate_center"]
