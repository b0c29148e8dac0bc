"""A discrete-event simulation of a queue that offers callbacks, through the live code:
the Router and its placeholders, one QueueCaller per caller, the callback book and machine.

The simulator plays only Asterisk and the people: callers arrive, lose patience, press 1
for a callback when it is offered; agents answer after a ring and talk; called-back
customers answer, are busy, let it ring or have a machine answer, as drawn for them. Every
decision (who is next, what a placeholder does at the front, retries, expiry) is the live
code's, so the benchmark measures what callers would get.

Arrivals are drawn once per scenario and seed (:func:`draw_arrivals`), everything about a
caller included (patience, talk time, whether they would accept an offer, how each call
back to them would go), so runs with and without callback offers see the very same
callers. The arrival rate swings sinusoidally over the horizon (a peak in the middle),
the case callbacks are for: the wait built up at the peak is moved to the trough.

An offer is made at join when the caller would wait (no free agent) and the queue's
conservative estimate (the one callers are told) is over ``offer_threshold``; the caller
accepts with their drawn probability, keys 1 and hangs up, and the callback keeps their
place (their original join time). Agent time is counted as: ringing, talking and wrap-up
for callers; for agent-first callbacks, from the agent's reservation to the end of the
call to the customer (wrap-up after a conversation only: an agent whose customer did not
answer is released at once); for customer-first ones, the agent held while the customer
is dialled.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from callflow.callback.book import CallbackBook
from callflow.callback.machine import (
    AgentAnswered,
    Answered,
    Bridge,
    Command,
    Dial,
    Ended,
    FreeAgent,
    JoinAsCaller,
    Record,
    RingAgent,
    Unanswered,
    WrapUp,
)
from callflow.callback.model import (
    CallbackPolicy,
    CallingWindow,
    DialOutcome,
    RetryPolicy,
)
from callflow.queue import caller as queue_caller
from callflow.queue.agents import AgentState
from callflow.queue.caller import (
    Announce,
    Connect,
    Done,
    Gone,
    KeyPressed,
    Offered,
    QueueCaller,
    Rang,
    Ring,
    Said,
    TalkEnded,
    Tick,
)
from callflow.queue.config import AgentConfig, AnnounceConfig, QueueCenter, QueueConfig
from callflow.queue.estimate import CalibratedPredictor
from callflow.queue.routing import CallbackMode, QueueEntry, Router

QUEUE = "sim"
CALLBACK_KEY = "1"


@dataclass(frozen=True, slots=True)
class CallbackScenario:
    """One simulated queue, with or without callback offers.

    ``load``: mean offered load (talk and wrap-up over agent time) over ``hours`` of
    arrivals, swinging by +-``swing`` (a peak at mid-horizon). ``offer_threshold``: offer a
    callback when the conservative wait is over this many seconds (None: never offer);
    ``accept_share``: the share of callers who would accept one. Called-back customers:
    ``answer_share`` answer (after ``answer_after`` s), ``busy_share`` are busy,
    ``machine_share`` have a machine answer, the rest let it ring ``no_answer_after`` s.
    """

    name: str
    agents: int
    load: float = 0.95
    hours: float = 4.0
    swing: float = 0.3
    mean_handle_time: float = 180.0
    handle_time_cv: float = 1.0
    wrapup: float = 10.0
    mean_patience: float = 180.0
    agent_ring: float = 3.0
    offer_threshold: float | None = 60.0
    accept_share: float = 0.5
    mode: CallbackMode = "agent-first"
    answer_share: float = 0.75
    busy_share: float = 0.05
    machine_share: float = 0.1
    answer_after: float = 8.0
    no_answer_after: float = 25.0
    max_attempts: int = 3
    expiry: float = 4 * 3600.0
    called_back_patience: float = 300.0  # customer-first: mean wait for an agent, answered

    @property
    def arrival_rate(self) -> float:
        """Mean arrivals per second."""
        return self.load * self.agents / (self.mean_handle_time + self.wrapup)

    def policy(self) -> CallbackPolicy:
        """The queue's callback policy for this scenario."""
        return CallbackPolicy(
            mode=self.mode,
            retry=RetryPolicy(
                self.max_attempts,
                {
                    DialOutcome.NO_ANSWER: 300.0,
                    DialOutcome.BUSY: 120.0,
                    DialOutcome.MACHINE: 600.0,
                    DialOutcome.FAILED: 120.0,
                },
            ),
            expiry=self.expiry,
            window=CallingWindow(customer_hours=None),
            handle_time=self.mean_handle_time + self.wrapup,
        )


@dataclass(frozen=True, slots=True)
class Arrival:
    """One caller, drawn once: when, how long they would talk and wait, whether they take
    a callback, and how each call back to them goes (outcome, seconds until it ends)."""

    at: float
    number: str
    handle: float
    patience: float
    accepts: bool
    attempts: tuple[tuple[DialOutcome | None, float], ...]  # None: answered
    called_back_patience: float


def draw_arrivals(scenario: CallbackScenario, seed: int) -> list[Arrival]:
    """The scenario's callers (the same for any offer setting, for one seed)."""
    rng = random.Random(seed)
    rate = scenario.arrival_rate
    horizon = scenario.hours * 3600.0
    peak = rate * (1.0 + scenario.swing)
    sigma_sq = math.log1p(scenario.handle_time_cv**2)
    mu = math.log(scenario.mean_handle_time) - sigma_sq / 2
    arrivals: list[Arrival] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= horizon:
            return arrivals
        # Lewis & Shedler thinning: rate(t) = rate * (1 - swing * cos(2 pi t / horizon)).
        now_rate = rate * (1.0 - scenario.swing * math.cos(2.0 * math.pi * t / horizon))
        if rng.random() * peak > now_rate:
            continue
        attempts = tuple(_attempt(scenario, rng) for _ in range(scenario.max_attempts))
        arrivals.append(
            Arrival(
                at=t,
                number=f"+1555{len(arrivals):07d}",
                handle=rng.lognormvariate(mu, math.sqrt(sigma_sq)),
                patience=rng.expovariate(1.0 / scenario.mean_patience),
                accepts=rng.random() < scenario.accept_share,
                attempts=attempts,
                called_back_patience=rng.expovariate(1.0 / scenario.called_back_patience),
            )
        )


def _attempt(scenario: CallbackScenario, rng: random.Random) -> tuple[DialOutcome | None, float]:
    draw = rng.random()
    if draw < scenario.answer_share:
        return None, scenario.answer_after
    draw -= scenario.answer_share
    if draw < scenario.busy_share:
        return DialOutcome.BUSY, 3.0
    draw -= scenario.busy_share
    if draw < scenario.machine_share:
        return DialOutcome.MACHINE, scenario.answer_after + 5.0
    return DialOutcome.NO_ANSWER, scenario.no_answer_after


@dataclass(slots=True)
class CallbackResult:
    """What one run measured."""

    scenario: CallbackScenario
    seed: int
    arrivals: int = 0
    answered: int = 0  # live callers who reached an agent (not called back)
    abandoned: int = 0
    total_wait_answered: float = 0.0
    offered: int = 0  # callers offered a callback
    requested: int = 0  # callbacks requested
    connected: int = 0  # callbacks where the customer answered
    completed: int = 0  # callbacks that ended in a conversation with an agent
    expired: int = 0
    failed: int = 0
    callback_waits: list[float] = field(default_factory=list)  # request -> connected
    called_back_abandoned: int = 0  # customer-first: answered, then hung up waiting
    dial_attempts: int = 0
    agent_busy: float = 0.0  # agent-seconds ringing, talking, wrapping up, reserved
    end_time: float = 0.0

    @property
    def abandon_rate(self) -> float:
        """Callers who hung up while waiting, over all callers."""
        return self.abandoned / self.arrivals if self.arrivals else math.nan

    @property
    def asa(self) -> float:
        """Average speed of answer of live callers answered (callbacks apart)."""
        return self.total_wait_answered / self.answered if self.answered else math.nan

    @property
    def occupancy(self) -> float:
        """Agent time busy (ringing, talking, wrapping up, reserved) over agent time, from
        the start until the last call (or abandon) ended."""
        span = self.scenario.agents * self.end_time
        return self.agent_busy / span if span > 0 else math.nan

    @property
    def served_share(self) -> float:
        """Callers who spoke with an agent, directly or called back, over all callers."""
        served = self.answered + self.completed
        return served / self.arrivals if self.arrivals else math.nan

    def callback_wait(self, quantile: float | None = None) -> float:
        """Mean (or a quantile of) the time from request to the customer connected."""
        waits = sorted(self.callback_waits)
        if not waits:
            return math.nan
        if quantile is None:
            return sum(waits) / len(waits)
        return waits[min(len(waits) - 1, int(quantile * len(waits)))]


_ARRIVAL, _WAKE, _PICKUP, _TALK_END, _ABANDON, _AGENT_ANSWER, _DIAL_END, _CB_TALK_END = range(8)


def simulate_callbacks(
    scenario: CallbackScenario, seed: int = 1, arrivals: list[Arrival] | None = None
) -> CallbackResult:
    """Run one scenario through the live code (see the module docstring)."""
    if scenario.agents < 1:
        raise ValueError("a scenario needs at least one agent")
    people = arrivals if arrivals is not None else draw_arrivals(scenario, seed)
    queue = QueueConfig(
        QUEUE,
        ring_timeout=max(15.0, scenario.agent_ring + 5.0),
        retry_delay=0.0,
        wrapup=scenario.wrapup,
        announce=AnnounceConfig(frequency=60.0, min_frequency=15.0),
        exit_keys={CALLBACK_KEY: "callback"},
    )
    names = [f"agent{i}" for i in range(scenario.agents)]
    center = QueueCenter.build(
        [AgentConfig(n, f"SIM/{n}", queues=(QUEUE,)) for n in names], [queue]
    )
    router = Router(center, random.Random(seed + 1))
    for name in names:
        router.login(name, 0.0)
    book = CallbackBook(router, scenario.policy())
    predictor = CalibratedPredictor()
    result = CallbackResult(scenario, seed, arrivals=len(people))
    by_number = {person.number: person for person in people}
    callers: dict[str, QueueCaller] = {}
    wakes: dict[str, float] = {}
    reserved_at: dict[str, float] = {}  # agent-first: when each agent was reserved
    held_at: dict[str, float] = {}  # customer-first: when an agent was held for a dial
    numbers = itertools.count(1)  # the predictor's id of each caller
    events: list[tuple[float, int, int, str]] = []
    seq = 0
    wake_times: set[float] = set()  # the router's and the book's wakeups already pushed

    def push(at: float, kind: int, who: str = "") -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, who))

    def perform(who: str, commands: list[queue_caller.Command], now: float) -> None:
        machine = callers[who]
        todo = list(commands)
        while todo:
            command = todo.pop(0)
            if isinstance(command, Ring):
                leg = f"{who}|{command.offer.agent}"
                todo += machine.send(Rang(command.offer, leg), now)
                push(now + scenario.agent_ring, _PICKUP, leg)
            elif isinstance(command, Announce):
                todo += machine.send(Said(), now)
            elif isinstance(command, Connect):
                handle = by_number[machine.entry.caller].handle
                push(now + handle, _TALK_END, who)
                # The agent's whole time for this caller: ring, talk, wrap-up.
                result.agent_busy += now - command.offer.started_at + handle + scenario.wrapup
            elif isinstance(command, queue_caller.Record) and command.kind == "queue.connect":
                if who in book_callers:
                    result.completed += 1
                else:
                    result.answered += 1
                    result.total_wait_answered += float(command.data["waited"])
            elif isinstance(command, queue_caller.Record) and command.kind == "queue.abandon":
                if who in book_callers:
                    result.called_back_abandoned += 1
                else:
                    result.abandoned += 1
            elif isinstance(command, Done):
                finished(who, command, now)
        if machine.done:
            callers.pop(who, None)
            return
        wake = machine.next_wakeup(now)
        if wake is not None and wake != wakes.get(who):
            wakes[who] = wake
            push(wake, _WAKE, who)

    book_callers: dict[str, str] = {}  # customer-first: caller id -> callback id

    def finished(who: str, done: Done, now: float) -> None:
        callback_id = book_callers.pop(who, None)
        if done.outcome == "exit_key" and callback_id is None:
            entry = callers[who].entry
            _, _, commands = book.request(
                QUEUE,
                entry.caller,
                now,
                joined_at=entry.joined_at,
                priority=entry.priority,
                call_id=who,
            )
            result.requested += 1
            run_book(commands, now)
        elif callback_id is not None:
            reason = "answered" if done.outcome == "answered" else "abandoned"
            run_book(book.send(callback_id, Ended(reason), now), now)

    def run_book(commands: list[Command], now: float) -> None:
        for command in commands:
            if isinstance(command, RingAgent):
                reserved_at[command.offer.agent] = now
                push(now + scenario.agent_ring, _AGENT_ANSWER, command.callback_id)
            elif isinstance(command, Dial):
                result.dial_attempts += 1
                if book.promised(command.callback_id) is not None:
                    held_at[command.callback_id] = now
                callback = book.get(command.callback_id)
                assert callback is not None
                _, after = by_number[callback.number].attempts[command.attempt - 1]
                push(now + after, _DIAL_END, f"{command.callback_id}|{command.attempt}")
            elif isinstance(command, Bridge):
                callback = book.get(command.callback_id)
                assert callback is not None
                push(now + by_number[callback.number].handle, _CB_TALK_END, command.callback_id)
            elif isinstance(command, JoinAsCaller):
                join_as_caller(command, now)
            elif isinstance(command, FreeAgent | WrapUp):
                since = reserved_at.pop(command.agent, None)
                if since is not None:
                    after = scenario.wrapup if isinstance(command, WrapUp) else 0.0
                    result.agent_busy += now - since + after
            elif isinstance(command, Record):
                note(command, now)

    def note(record: Record, now: float) -> None:
        callback = record.callback
        if record.kind == "callback.connected":
            result.connected += 1
            result.callback_waits.append(now - callback.requested_at)
        elif record.kind == "callback.expired":
            result.expired += 1
        elif record.kind == "callback.failed":
            result.failed += 1
        elif record.kind == "callback.completed" and callback.mode == "agent-first":
            result.completed += 1

    def join_as_caller(command: JoinAsCaller, now: float) -> None:
        who = command.entry.id
        book.in_line(command.callback_id, now)  # the agent held for the dial is free
        machine = QueueCaller(command.entry, queue, router, predictor, next(numbers))
        callers[who] = machine
        book_callers[who] = command.callback_id
        perform(who, machine.join(now), now)
        if who in callers:
            push(now + by_number[command.entry.caller].called_back_patience, _ABANDON, who)

    def arrive(person: Arrival, now: float) -> None:
        who = f"c{person.number}"
        machine = QueueCaller(
            QueueEntry(who, QUEUE, person.number, joined_at=now),
            queue,
            router,
            predictor,
            next(numbers),
        )
        callers[who] = machine
        commands = machine.join(now)
        if _would_wait(router, who) and scenario.offer_threshold is not None:
            position = router.position(who)
            estimate = machine.estimate(position, 0.0, now)
            if estimate > scenario.offer_threshold:
                result.offered += 1
                if person.accepts:
                    commands += machine.send(KeyPressed(CALLBACK_KEY), now)
        perform(who, commands, now)
        if who in callers:
            push(now + person.patience, _ABANDON, who)

    def schedule(now: float) -> None:
        router.tick(now)
        if any(a.state is AgentState.AVAILABLE for a in router.agents.values()):
            offers, commands = book.route(now)
            for offer in offers:
                if offer.entry_id in callers:
                    perform(offer.entry_id, callers[offer.entry_id].send(Offered(offer), now), now)
                else:
                    router.ring_ended(offer, "caller_gone", now)
            run_book(commands, now)
        for at in (router.next_wakeup(now), book.next_wakeup(now)):
            if at is not None and at > now and at not in wake_times:
                wake_times.add(at)
                push(at, _WAKE, "")

    handlers: dict[int, Callable[[str, float], None]] = {}

    def on_wake(who: str, now: float) -> None:
        if not who:
            wake_times.discard(now)
            run_book(book.tick(now), now)
            return
        machine = callers.get(who)
        if machine is not None and wakes.get(who) == now:
            wakes.pop(who, None)
            perform(who, machine.send(Tick(), now), now)

    def on_pickup(leg: str, now: float) -> None:
        who = leg.split("|")[0]
        if who in callers:
            perform(who, callers[who].send(queue_caller.Answered(leg), now), now)

    def on_talk_end(who: str, now: float) -> None:
        machine = callers.get(who)
        if machine is not None:
            result.end_time = max(result.end_time, now)
            perform(who, machine.send(TalkEnded("agent"), now), now)

    def on_abandon(who: str, now: float) -> None:
        machine = callers.get(who)
        if machine is not None and machine.phase in ("waiting", "saying"):
            result.end_time = max(result.end_time, now)
            perform(who, machine.send(Gone("abandon"), now), now)

    def on_agent_answer(callback_id: str, now: float) -> None:
        run_book(book.send(callback_id, AgentAnswered(), now), now)

    def on_dial_end(tag: str, now: float) -> None:
        callback_id, attempt = tag.split("|")
        callback = book.get(callback_id)
        if callback is None or callback.attempts != int(attempt):
            return
        result.end_time = max(result.end_time, now)
        since = held_at.pop(callback_id, None)
        if since is not None:  # the agent held for the dial (customer-first)
            result.agent_busy += now - since
        outcome, _ = by_number[callback.number].attempts[int(attempt) - 1]
        event = Answered() if outcome is None else Unanswered(outcome)
        run_book(book.send(callback_id, event, now), now)

    def on_callback_talk_end(callback_id: str, now: float) -> None:
        result.end_time = max(result.end_time, now)
        run_book(book.send(callback_id, Ended("agent"), now), now)

    handlers.update(
        {
            _WAKE: on_wake,
            _PICKUP: on_pickup,
            _TALK_END: on_talk_end,
            _ABANDON: on_abandon,
            _AGENT_ANSWER: on_agent_answer,
            _DIAL_END: on_dial_end,
            _CB_TALK_END: on_callback_talk_end,
        }
    )
    for index, person in enumerate(people):
        push(person.at, _ARRIVAL, str(index))
    now = 0.0
    while events:
        now, _, kind, who = heapq.heappop(events)
        if kind == _ARRIVAL:
            arrive(people[int(who)], now)
        else:
            handlers[kind](who, now)
        schedule(now)
    return result


def _would_wait(router: Router, entry_id: str) -> bool:
    """No free agent is there for this caller: they would hear a wait."""
    return router.position(entry_id) > router.agents_available(QUEUE)


__all__ = [
    "Arrival",
    "CallbackResult",
    "CallbackScenario",
    "draw_arrivals",
    "simulate_callbacks",
]
