"""A discrete-event simulation of an outbound campaign day, paced by a real policy object.

The simulator plays the called parties, AMD and the agents; every pacing decision is the
policy's own (:mod:`callflow.dialer.pacing`), asked once a simulated second with the same
:class:`~callflow.dialer.pacing.PacingState` a live dialer builds, and the abandon windows
are :mod:`callflow.dialer.window`'s. Nothing here decides how many lines to dial.

One run is one campaign day (``hours`` long, from ``day_start`` local time), so its
``uk-24h`` window is the day. Per attempt (the reference campaign, ../shared/domain.md):

- a person answers (25 %) after 3-20 s of ringing; AMD listens to their greeting (0.2-1.7 s)
  and says "human" after its 0.8 s of after-greeting silence, or, with
  probability ``amd_false_positive``, "machine" (they are hung up on: an abandon in all but
  name, counted under the UK rule through the campaign's false-positive estimate);
- a machine answers (35 %) after 3-20 s; AMD says "machine" 2.5-5 s later;
- busy (10 %) after 1-4 s; no answer (30 %) until the 25 s timeout.

A person AMD passed is connected at once to the longest-idle agent, or to the first agent
freed within 2 s of the end of their greeting (so 1.2 s after AMD's verdict: its silence
eats the rest); otherwise the call is abandoned (they hear the safe-harbor message). Talk
is lognormal (mean 120 s, CV 1), wrap-up uniform 20-40 s.

Preview (``simulate_day(..., preview=PreviewDesk(...))``): the policy is not asked; the
desk (:mod:`callflow.dialer.preview`, the live runner's) shows a lead to each idle agent,
who answers ``accept_delay`` seconds later (skipping a ``skip_share`` of leads; past the
desk's timeout, its ``on_timeout`` decides); an accepted lead is dialed for that agent, a
person connected to them at the verdict (never abandoned), anything else frees them.

Scenarios vary it: ``answer_drift`` scales the person and machine shares by
``1 + drift * sin(2 pi t / day)`` (no-answers take up the rest), ``shift_change`` makes a
share of the agents log out at a given hour as they finish their call, and the talk mean
can be longer.

Truth (``simulate_day(..., truth=SimTruth())``), for the oracle bound of
:mod:`callflow.sim.dialer_oracle` only: the simulator keeps, in the object passed, what no
live dialer can know: when each busy agent will next be free (their talk's and wrap-up's
ends) and, for each call in flight that will need an agent, when it will (AMD's "human"
verdict). To know them ahead, each call's outcome (and each wrap-up) is drawn whole when it
begins instead of step by step: the same distributions, another order of draws, so a day
with truth is not the same day as one without. Real policies are driven without it.

History (``simulate_day(..., history=(live, abandoned))``): the day does not start fresh;
``live`` person-answered calls, ``abandoned`` of them abandoned, were made earlier in the
same day, spread evenly from midnight to ``day_start``, and are fed to the abandon windows
before the first tick, as a live campaign runner restarted mid-day rebuilds its windows from
the attempts kept. They are in the policy's windows and in ``result.windows``, not in the
day's own counts (``attempts``, ``live``, ``abandoned``, the ``today`` tally).

``talk_share`` is talk time / logged-in agent time (idle, talking and wrapping up; an agent
who has logged out adds nothing), ``occupancy`` is (talk + wrap-up) / logged-in time.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass, field

from callflow.dialer.pacing import (
    AgentView,
    CallView,
    Experience,
    PacingPolicy,
    PacingState,
    Priors,
    Tally,
)
from callflow.dialer.preview import PreviewDesk, Verdict
from callflow.dialer.window import CONNECT_WITHIN, AbandonLedger, WindowFigures


@dataclass(frozen=True, slots=True)
class DialerScenario:
    """One simulated campaign day."""

    name: str
    agents: int
    hours: float = 8.0
    day_start: float = 9 * 3600.0
    person: float = 0.25
    machine: float = 0.35
    busy: float = 0.10
    ring: tuple[float, float] = (3.0, 20.0)
    busy_after: tuple[float, float] = (1.0, 4.0)
    no_answer_timeout: float = 25.0
    greeting: tuple[float, float] = (0.2, 1.7)
    amd_silence: float = 0.8
    machine_screen: tuple[float, float] = (2.5, 5.0)
    amd_false_positive: float = 0.01
    talk_mean: float = 120.0
    talk_cv: float = 1.0
    wrapup: tuple[float, float] = (20.0, 40.0)
    answer_drift: float = 0.0
    shift_change: tuple[float, float] | None = None  # (hour into the day, share leaving)
    cap: float = 0.03
    accept_delay: tuple[float, float] = (2.0, 8.0)  # preview: the agent reads, then answers
    skip_share: float = 0.0  # preview: leads the agent skips

    @property
    def amd_false_positive_share(self) -> float:
        """The campaign's estimate of the share of "machine" verdicts that were people
        (calibrated: the simulated truth)."""
        fp = self.person * self.amd_false_positive
        return fp / (self.machine + fp)


@dataclass(slots=True)
class SimTruth:
    """What the simulator knows and no live dialer does (filled only when passed in).

    ``busy_until``: agent index -> when that talking or wrapping-up agent will be free for
    a call (talk end plus wrap-up; an agent leaving at a shift change is not listed).
    ``needs_agent_at``: call id -> when that call in flight will need an agent (AMD's
    "human" verdict, past for a person waiting); calls that never will are not listed.
    """

    busy_until: dict[int, float] = field(default_factory=dict)
    needs_agent_at: dict[int, float] = field(default_factory=dict)


@dataclass(slots=True)
class DialerResult:
    """One day's figures."""

    scenario: str
    policy: str
    agents: int
    seed: int
    logged_in: float = 0.0
    talk: float = 0.0
    wrapup: float = 0.0
    attempts: int = 0
    live: int = 0
    abandoned: int = 0
    amd_false_positives: int = 0
    machine_verdicts: int = 0
    windows: tuple[WindowFigures, ...] = ()
    max_in_flight: int = 0
    presented: int = 0  # preview: leads shown (each dialed, skipped or timed out)
    skipped: int = 0

    @property
    def talk_share(self) -> float:
        return self.talk / self.logged_in if self.logged_in else 0.0

    @property
    def occupancy(self) -> float:
        return (self.talk + self.wrapup) / self.logged_in if self.logged_in else 0.0

    def window(self, kind: str) -> WindowFigures:
        return next(w for w in self.windows if w.kind == kind)


# Event kinds, in the order they are handled at equal times.
_WRAP_END, _TALK_END, _VERDICT, _ANSWER, _END, _DEADLINE, _LOGOUT, _DECIDE, _TICK = range(9)


@dataclass(slots=True)
class _Call:
    dialed_at: float
    truth: str  # person, machine, busy, no_answer
    ring: float
    stage: str = "ringing"
    answered_at: float = 0.0
    verdict_at: float = 0.0
    human: bool = False  # with truth: drawn at dialing, else at answer
    screen: float = 0.0


@dataclass(slots=True)
class _Agent:
    activity: str = "idle"
    since: float = 0.0
    logged_in_at: float = 0.0
    leaving: bool = False
    gone: bool = False


def check_history(history: tuple[int, int]) -> tuple[int, int]:
    """``history`` if it is (live calls, abandons of them) with 0 <= abandons <= live;
    ValueError otherwise."""
    live, abandoned = history
    if live < 0 or not 0 <= abandoned <= live:
        raise ValueError(
            f"history is (live calls, abandons of them) with 0 <= abandons <= live, not {history}"
        )
    return history


def history_times(history: tuple[int, int], start: float) -> list[tuple[float, bool]]:
    """A day's history (``live`` calls, ``abandoned`` of them) as (time, abandoned) pairs,
    oldest first: spread evenly from ``start``'s midnight (day seconds, or epoch seconds: a
    UTC midnight) to ``start``, the abandons spread evenly among the live calls."""
    live, abandoned = check_history(history)
    midnight = start - start % 86_400.0
    step = (start - midnight) / live if live else 0.0
    # Abandon i of n is the call at the (i + 0.5) / n point of the history.
    marks = {int((i + 0.5) * live / abandoned) for i in range(abandoned)}
    return [(midnight + (i + 0.5) * step, i in marks) for i in range(live)]


def simulate_day(
    scenario: DialerScenario,
    policy: PacingPolicy,
    seed: int,
    *,
    preview: PreviewDesk | None = None,
    truth: SimTruth | None = None,
    history: tuple[int, int] = (0, 0),
) -> DialerResult:
    """Run one campaign day with ``policy`` deciding every second (or, with ``preview``,
    that desk showing leads to the idle agents); ``truth``, if given, is kept up to date
    (see the module docstring: for the oracle bound only); ``history``: (live calls,
    abandons) made earlier in the day, in the windows from the start (module docstring)."""
    rng = random.Random(seed)
    start = scenario.day_start
    end = start + scenario.hours * 3600.0
    if end > 86_400.0:
        raise ValueError("a simulated day ends by midnight (the policies read the clock)")
    earlier = history_times(history, start)
    ledger = AbandonLedger.for_rule(
        ("us-30d", "uk-24h"),
        cap=scenario.cap,
        campaign_start=earlier[0][0] if earlier else start,
        amd_false_positive_share=scenario.amd_false_positive_share,
    )
    for at, lost in earlier:
        if lost:
            ledger.person_abandoned(at)
        else:
            ledger.person_connected(at)
    experience = Experience(Priors(amd_silence=scenario.amd_silence))
    result = DialerResult(scenario.name, policy.name, scenario.agents, seed)
    sigma = math.sqrt(math.log(1.0 + scenario.talk_cv**2))
    mu = math.log(scenario.talk_mean) - sigma**2 / 2.0

    agents = [_Agent(since=start, logged_in_at=start) for _ in range(scenario.agents)]
    views: list[AgentView | None] = [AgentView("idle", start) for _ in agents]
    idle: deque[int] = deque(range(scenario.agents))  # longest idle first
    calls: dict[int, _Call] = {}
    call_views: dict[int, CallView] = {}
    waiting: deque[int] = deque()
    events: list[tuple[float, int, int, int]] = []
    seq = 0
    next_call = 0
    minute: deque[tuple[float, int, int, int]] = deque()  # (t, attempts, live, abandoned)
    today = [0, 0, 0]
    last_minute = [0, 0, 0]
    owner: dict[int, int] = {}  # preview: a call's agent, reserved since it was shown
    wrapups: dict[int, float] = {}  # with truth: each talking agent's wrap-up, drawn ahead

    def push(at: float, kind: int, ident: int) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, kind, seq, ident))

    def count(t: float, attempts: int = 0, live: int = 0, abandoned: int = 0) -> None:
        minute.append((t, attempts, live, abandoned))
        for totals in (today, last_minute):
            totals[0] += attempts
            totals[1] += live
            totals[2] += abandoned

    def set_agent(i: int, activity: str, t: float) -> None:
        agent = agents[i]
        if agent.activity == "talking":
            result.talk += t - agent.since
        elif agent.activity == "wrapup":
            result.wrapup += t - agent.since
        agent.activity, agent.since = activity, t
        views[i] = AgentView(activity, t)  # type: ignore[arg-type]

    def log_out(i: int, t: float) -> None:
        agent = agents[i]
        set_agent(i, "gone", t)
        agent.gone = True
        views[i] = None
        result.logged_in += t - agent.logged_in_at

    def connect(call_id: int, i: int, t: float) -> None:
        call = calls.pop(call_id)
        del call_views[call_id]
        ledger.person_connected(t)
        count(t, live=1)
        set_agent(i, "talking", t)
        talk = rng.lognormvariate(mu, sigma)
        push(t + talk, _TALK_END, i)
        del call
        if truth is not None:
            truth.needs_agent_at.pop(call_id, None)
            wrapups[i] = rng.uniform(*scenario.wrapup)
            if not agents[i].leaving:
                truth.busy_until[i] = t + talk + wrapups[i]

    def agent_free(i: int, t: float) -> None:
        if truth is not None:
            truth.busy_until.pop(i, None)
        if agents[i].leaving:
            log_out(i, t)
            return
        set_agent(i, "idle", t)
        while waiting:
            call_id = waiting.popleft()
            if call_id in calls:
                connect(call_id, i, t)
                return
        idle.append(i)

    def dial(t: float) -> int:
        nonlocal next_call
        share = 1.0
        if scenario.answer_drift:
            phase = 2.0 * math.pi * (t - start) / (end - start)
            share = 1.0 + scenario.answer_drift * math.sin(phase)
        person, machine = scenario.person * share, scenario.machine * share
        draw = rng.random()
        if draw < person:
            outcome, ring = "person", rng.uniform(*scenario.ring)
        elif draw < person + machine:
            outcome, ring = "machine", rng.uniform(*scenario.ring)
        elif draw < person + machine + scenario.busy:
            outcome, ring = "busy", rng.uniform(*scenario.busy_after)
        else:
            outcome, ring = "no_answer", scenario.no_answer_timeout
        call_id = next_call
        next_call += 1
        calls[call_id] = _Call(t, outcome, ring)
        call_views[call_id] = CallView("ringing", t)
        result.attempts += 1
        count(t, attempts=1)
        kind = _ANSWER if outcome in ("person", "machine") else _END
        push(t + ring, kind, call_id)
        if truth is not None and kind == _ANSWER:
            screen_call(calls[call_id])
            if calls[call_id].human:
                truth.needs_agent_at[call_id] = t + ring + calls[call_id].screen
        return call_id

    def screen_call(call: _Call) -> None:
        """AMD's verdict and how long it listens."""
        if call.truth == "person":
            call.human = rng.random() >= scenario.amd_false_positive
            call.screen = rng.uniform(*scenario.greeting) + scenario.amd_silence
        else:
            call.human = False
            call.screen = rng.uniform(*scenario.machine_screen)

    def show(t: float) -> None:
        """Preview: a lead to each idle agent shown none; their answer comes later."""
        assert preview is not None
        for verdict in preview.due(t):
            decided(verdict, t)
        for name in preview.to_serve([str(i) for i in idle]):
            i = int(name)
            idle.remove(i)
            set_agent(i, "previewing", t)
            result.presented += 1
            preview.present(f"p{result.presented}", name, f"lead{result.presented}", 1, t)
            push(t + rng.uniform(*scenario.accept_delay), _DECIDE, result.presented)

    def decided(verdict: Verdict, t: float) -> None:
        i = int(verdict.presentation.agent)
        if verdict.dial:
            owner[dial(t)] = i
            set_agent(i, "reserved", t)
        else:
            result.skipped += 1
            agent_free(i, t)

    push(start, _TICK, 0)
    if scenario.shift_change is not None:
        push(start + scenario.shift_change[0] * 3600.0, _LOGOUT, 0)

    while events:
        t, kind, _, ident = heapq.heappop(events)
        if t > end:
            break
        if kind == _TICK:
            while minute and minute[0][0] <= t - 60.0:
                _, attempts, live, abandoned = minute.popleft()
                last_minute[0] -= attempts
                last_minute[1] -= live
                last_minute[2] -= abandoned
            state = PacingState(
                now=t,
                agents=[v for v in views if v is not None],
                calls=list(call_views.values()),
                windows=ledger.figures(t),
                experience=experience,
                today=Tally(*today),
                last_minute=Tally(*last_minute),
            )
            if preview is not None:
                show(t)
            else:
                for _ in range(policy.lines_to_dial(state)):
                    dial(t)
            result.max_in_flight = max(result.max_in_flight, len(calls))
            push(t + 1.0, _TICK, 0)
        elif kind == _ANSWER:
            call = calls[ident]
            call.stage, call.answered_at = "screening", t
            call_views[ident] = CallView("screening", call.dialed_at)
            if truth is None:
                screen_call(call)
            call.stage = "human" if call.human else "machine"
            push(t + call.screen, _VERDICT, ident)
        elif kind == _VERDICT:
            call = calls[ident]
            if call.stage == "machine":
                experience.attempt_ended("machine", call.answered_at - call.dialed_at)
                ledger.machine_detected(t)
                result.machine_verdicts += 1
                if call.truth == "person":
                    result.amd_false_positives += 1
                del calls[ident], call_views[ident]
                if ident in owner:
                    agent_free(owner.pop(ident), t)
                continue
            experience.attempt_ended("human", call.answered_at - call.dialed_at, t - call.dialed_at)
            result.live += 1
            if ident in owner:  # preview: their agent waits for them
                connect(ident, owner.pop(ident), t)
            elif idle:
                connect(ident, idle.popleft(), t)
            else:
                call.stage, call.verdict_at = "waiting", t
                call_views[ident] = CallView("waiting", call.dialed_at)
                waiting.append(ident)
                greeting_end = t - scenario.amd_silence
                push(greeting_end + CONNECT_WITHIN, _DEADLINE, ident)
        elif kind == _DEADLINE:
            if ident in calls:
                del calls[ident], call_views[ident]
                if truth is not None:
                    truth.needs_agent_at.pop(ident, None)
                ledger.person_abandoned(t)
                count(t, live=1, abandoned=1)
                result.abandoned += 1
        elif kind == _END:
            call = calls.pop(ident)
            del call_views[ident]
            experience.attempt_ended(call.truth, call.ring)  # type: ignore[arg-type]
            if ident in owner:
                agent_free(owner.pop(ident), t)
        elif kind == _DECIDE:
            assert preview is not None
            pid = f"p{ident}"
            shown = next((p for p in preview.shown.values() if p.id == pid), None)
            if shown is not None:  # else: it timed out at a tick before
                action = "skip" if rng.random() < scenario.skip_share else "accept"
                decided(preview.answer(shown.agent, action, t, pid), t)
        elif kind == _TALK_END:
            experience.talk_ended(t - agents[ident].since)
            set_agent(ident, "wrapup", t)
            wrapup = wrapups.pop(ident) if truth is not None else rng.uniform(*scenario.wrapup)
            push(t + wrapup, _WRAP_END, ident)
        elif kind == _WRAP_END:
            experience.wrapup_ended(t - agents[ident].since)
            agent_free(ident, t)
        elif kind == _LOGOUT:
            assert scenario.shift_change is not None
            leaving = round(scenario.shift_change[1] * scenario.agents)
            for i in range(leaving):
                agents[i].leaving = True
                if truth is not None:
                    truth.busy_until.pop(i, None)
                if agents[i].activity == "idle":
                    idle.remove(i)
                    log_out(i, t)

    for i, agent in enumerate(agents):
        if not agent.gone:
            set_agent(i, "idle", end)
            result.logged_in += end - agent.logged_in_at
    result.windows = ledger.figures(end)
    return result


__all__ = [
    "DialerResult",
    "DialerScenario",
    "SimTruth",
    "check_history",
    "history_times",
    "simulate_day",
]
