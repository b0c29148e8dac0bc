"""``callflow bench dialer --live``: pacing policies on real calls, next to the simulator's
prediction for the same scaled-down campaign.

The sandbox Asterisk and its PSTN are started; the PSTN is given one number per lead, each
scripted from the scenario's draws (:class:`LiveScenario`: 25 % people who answer after
1-6 s and hang up a drawn talk time after AMD has let them through, 35 % machines, 10 %
busy after 1-4 s, 30 % no answer until the network gives up after 10 s). Agents are robot
baresip phones that answer at once; the person at the far end decides when the call ends,
so a drawn talk time is a person's (lognormal, mean 12 s, CV 0.6), and wrap-up is the
queue's fixed ``wrapup``. For each policy callflow runs in this process with a fresh store,
the policy object given to the campaign's runner (:mod:`callflow.dialer.live`), for
``minutes`` of dialing; the agents' states are sampled from the Router every 0.2 s.

The campaign is in the middle of its day: ``history`` (live calls, abandons of them; 400 and
8 by default, a 2 % rate) were made earlier today. A fresh window would leave predictive no
abandon budget in a few minutes' run (its headroom counts at least 50 live calls and keeps a
reserve of 2 abandons plus what its calls in flight may cost), so it would pace as
progressive does. Live, the history is written
to the fresh store as the past attempts of leads of their own (:func:`seed_history`: one
ended attempt per live call, ``connected`` or ``abandoned``, dialed at times spread evenly
from today's UTC midnight to the run's start), which the campaign runner reads back into its
windows on start as after any restart; the simulator is given the same history
(``simulate_day(..., history=...)``, spread the same way over its day's morning).

Figures, as ``callflow bench dialer`` names them:

- ``talk_share``: time agents spent on a call / logged-in agent time;
- ``occupancy``: (on a call + wrap-up) / logged-in time;
- ``abandon_worst_24h`` and ``abandon_30d``: the ``uk-24h`` and ``us-30d`` windows at the
  run's end, the history included (what the policy is held to), from the attempts kept in
  the store; the run's own abandons (its calls only) are reported beside the table;
- ``attempts_per_agent_hour``: calls placed per logged-in agent hour.

The simulator's prediction is :func:`callflow.sim.dialer.simulate_day` run with the same
scenario (:meth:`LiveScenario.simulated`) and a fresh policy of the same name, over
``seeds`` days of ``minutes``, summarised by :func:`callflow.bench.dialer.summarize`. The
live run is one sample of a few minutes with three agents: its figures scatter around the
prediction; a gap far beyond the seeds' spread is the simulator missing something real
(AMD's timing, the agent's ring, the bridge).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from callflow.app import logs
from callflow.app.main import App
from callflow.app.settings import AriSettings, Settings
from callflow.bench.callers import refuse_if_running
from callflow.bench.dialer import Row, format_table, summarize
from callflow.call.outbound import OutboundSettings
from callflow.dialer import rules
from callflow.dialer.campaign import Campaign
from callflow.dialer.pacing import make_policy
from callflow.dialer.status import status_of
from callflow.queue.agents import AgentState
from callflow.sandbox import Sandbox, SandboxInfo
from callflow.sandbox.instance import SandboxError
from callflow.sandbox.pstn import Behaviour, PstnPlan, connect, read_plan, start_pstn
from callflow.sandbox.rootfs import RootfsError
from callflow.sim.dialer import (
    DialerResult,
    DialerScenario,
    check_history,
    history_times,
    simulate_day,
)
from callflow.store import SqlStore
from callflow.testing.softphone import SipServer, Softphone, SoftphoneError

SANDBOX_NAME = "bench-dialer-live"
POLICIES = ("progressive", "ratio-2", "predictive")
CAMPAIGN = "bench"
#: Seconds from a person's answer to AMD letting them through (the PSTN's 0.3 s wait, the
#: "hello", AMD's 0.8 s of after-greeting silence): added to a drawn talk time, since the
#: PSTN counts the person's time from their answer.
AMD_LAG = 2.0
SAMPLE = 0.2  # seconds between looks at the agents' states
DRAIN = 60.0  # seconds given to the calls in progress after the dialing stops
HISTORY = (400, 8)  # live calls and abandons earlier today: a 2 % rate


@dataclass(frozen=True, slots=True)
class LiveScenario:
    """The scaled-down campaign, live and simulated alike."""

    agents: int = 3
    minutes: float = 3.0
    person: float = 0.25
    machine: float = 0.35
    busy: float = 0.10
    ring: tuple[float, float] = (1.0, 6.0)
    busy_after: tuple[float, float] = (1.0, 4.0)
    no_answer_timeout: float = 10.0
    talk_mean: float = 12.0
    talk_cv: float = 0.6
    wrapup: float = 3.0
    history: tuple[int, int] = HISTORY  # (live calls, abandons) earlier today

    def simulated(self) -> DialerScenario:
        """The simulator's campaign day for this scenario (AMD's timing as measured on the
        sandbox: a person's greeting ends 0.6-1.2 s after the answer, a machine is called
        one 2.5-3 s after it; no AMD false positives: the PSTN's people say hello)."""
        return DialerScenario(
            "live-scaled",
            self.agents,
            hours=self.minutes / 60.0,
            person=self.person,
            machine=self.machine,
            busy=self.busy,
            ring=self.ring,
            busy_after=self.busy_after,
            no_answer_timeout=self.no_answer_timeout,
            greeting=(0.6, 1.2),
            machine_screen=(2.5, 3.0),
            amd_false_positive=0.0,
            talk_mean=self.talk_mean,
            talk_cv=self.talk_cv,
            wrapup=(self.wrapup, self.wrapup),
        )


def draw_leads(scenario: LiveScenario, count: int, seed: int) -> dict[str, Behaviour]:
    """``count`` leads, each a PSTN number scripted from the scenario's draws."""
    rng = random.Random(seed)
    sigma = math.sqrt(math.log(1.0 + scenario.talk_cv**2))
    mu = math.log(scenario.talk_mean) - sigma**2 / 2.0
    leads: dict[str, Behaviour] = {}
    for i in range(count):
        number = f"+1555070{i:04d}"
        u = rng.random()
        ring = round(rng.uniform(*scenario.ring))
        if u < scenario.person:
            talk = round(rng.lognormvariate(mu, sigma) + AMD_LAG)
            leads[number] = Behaviour("person", ring, max(3, talk))
        elif u < scenario.person + scenario.machine:
            leads[number] = Behaviour("machine", ring, 5)
        elif u < scenario.person + scenario.machine + scenario.busy:
            leads[number] = Behaviour("busy", round(rng.uniform(*scenario.busy_after)))
        else:
            leads[number] = Behaviour("no-answer", round(scenario.no_answer_timeout))
    return leads


def seed_history(
    store: SqlStore, campaign: Campaign, history: tuple[int, int], start: float
) -> list[str]:
    """Write the campaign's calls earlier today, as the runner writes its calls' ends: a
    lead of their own for each (``+1555079...``, never dialed again: done or exhausted, as
    :func:`callflow.dialer.rules.after_attempt` says) and one ended attempt, ``connected``
    or ``abandoned``, dialed at the times :func:`~callflow.sim.dialer.history_times` spreads
    from ``start``'s UTC midnight to ``start``; the history's numbers. Call before the
    runner starts: it reads them into its windows then."""
    times = history_times(history, start)
    numbers = [f"+1555079{i:05d}" for i in range(len(times))]
    store.import_leads(
        campaign.name,
        [{"number": n, "timezone": "UTC", "line": i} for i, n in enumerate(numbers, 1)],
    )
    for i, ((at, abandoned), number) in enumerate(zip(times, numbers, strict=True)):
        outcome = "abandoned" if abandoned else "connected"
        following = rules.after_attempt(campaign, outcome, 1, at + 1.0)
        attempt = {
            "id": f"history{i:05d}",
            "campaign": campaign.name,
            "number": number,
            "attempt": 1,
            "state": "ended",
            "outcome": outcome,
            "dialed_at": at,
            "ended_at": at + 1.0,
        }
        lead = {
            "campaign": campaign.name,
            "number": number,
            "attempts": 1,
            "state": following.state,
            "next_at": following.next_at,
            "last_outcome": outcome,
            "abandoned_at": at + 1.0 if abandoned else None,
        }
        store.save_attempt(attempt, lead)
    store.flush()
    return numbers


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """One policy's live run."""

    policy: str
    agents: int
    seconds: float
    on_call: float
    wrapup: float
    attempts: int
    connected: int
    abandoned: int
    abandon_24h: float
    abandon_30d: float

    @property
    def own_rate(self) -> float:
        """The run's own abandons / its own live calls (0 with none)."""
        live = self.connected + self.abandoned
        return self.abandoned / live if live else 0.0

    def row(self) -> Row:
        logged_in = self.agents * self.seconds
        return Row(
            scenario="live",  # the table's first column: live, or sim
            policy=self.policy,
            agents=self.agents,
            talk_share=self.on_call / logged_in,
            occupancy=(self.on_call + self.wrapup) / logged_in,
            abandon_worst_24h=self.abandon_24h,
            abandon_30d=self.abandon_30d,
            attempts_per_agent_hour=self.attempts / (logged_in / 3600.0),
            seeds=1,
            over_cap=int(max(self.abandon_24h, self.abandon_30d) > 0.03),
        )


def write_setup(workdir: Path, scenario: LiveScenario) -> tuple[Path, Path, Path]:
    """The queues, flow and campaign files of the live run."""
    queues = workdir / "queues.yaml"
    queues.write_text(
        "agents:\n"
        + "".join(
            f"  agent{i}: {{endpoint: PJSIP/agent{i}, queues: [outbound]}}\n"
            for i in range(1, scenario.agents + 1)
        )
        + f"queues:\n  outbound: {{ring_timeout: 10, wrapup: {scenario.wrapup:g}}}\n"
    )
    flow = workdir / "flow.yaml"
    flow.write_text("entry:\n  '700': bye\nnodes:\n  bye: {type: hangup}\n")
    campaign = workdir / "campaign.yaml"
    campaign.write_text(
        f"name: {CAMPAIGN}\ndial_mode: progressive\nqueues: [outbound]\nmax_attempts: 1\n"
        'calling_hours: {start: "00:00", end: "23:59"}\n'
        "abandonment: {cap: 3, windows: [us-30d, uk-24h]}\n"
        "safe_harbor: {sound: vm-goodbye}\n"
    )
    return queues, flow, campaign


async def run_policy(
    info: SandboxInfo,
    workdir: Path,
    policy: str,
    scenario: LiveScenario,
    leads: Sequence[str],
    progress: Callable[[str], None],
) -> LiveFigures:
    """Dial the campaign with ``policy`` for the scenario's minutes; its figures."""
    queues, flow, campaign = write_setup(workdir, scenario)
    settings = Settings(
        ari=AriSettings(
            url=info.ari_url, username=info.ari_user, password=info.ari_password, app=info.app
        ),
        flows=(flow,),
        store=workdir / f"{policy}.sqlite3",
        sounds_dir=info.sounds_dir,
        queues=queues,
        outbound=OutboundSettings(caller_id="+15550100999", ring_timeout=25),
        campaigns=(campaign,),
    )
    app = App(settings)
    if not app.load_flows().applied:
        raise RuntimeError("the bench's flow did not load")
    runner = app.campaigns[0]
    runner.policy = make_policy(policy)
    app.store.import_leads(
        CAMPAIGN, [{"number": n, "timezone": "UTC", "line": i} for i, n in enumerate(leads, 2)]
    )
    seed_history(app.store, runner.campaign, scenario.history, runner.clock())
    task = asyncio.create_task(app.run(install_signals=False))
    try:
        async with asyncio.timeout(20):
            await app.service.ready.wait()
        assert app.queues is not None
        router = app.queues.router
        names = [f"agent{i}" for i in range(1, scenario.agents + 1)]
        for name in names:
            app.queues.login(name)
        app.store.set_campaign_state(CAMPAIGN, "running")
        start = time.monotonic()
        end = start + scenario.minutes * 60.0
        on_call = wrapup = 0.0
        last = start
        while (now := time.monotonic()) < end:
            states = [router.agents[name].state for name in names]
            step = now - last
            on_call += step * sum(s is AgentState.ON_CALL for s in states)
            wrapup += step * sum(s is AgentState.WRAPUP for s in states)
            last = now
            await asyncio.sleep(SAMPLE)
        app.store.set_campaign_state(CAMPAIGN, "stopped")
        seconds = time.monotonic() - start
        progress(f"{policy}: dialing stopped after {seconds:.0f} s; calls in progress end")
        async with asyncio.timeout(DRAIN):
            while runner.figures()["in_flight"]:  # noqa: ASYNC110 (the runner is polled)
                await asyncio.sleep(0.5)
        figures = status_of(runner.campaign, app.store, runner.clock())
        held = min(w.live for w in runner.ledger.figures(runner.clock()))
        ours = set(leads)
        own = [a for a in app.store.campaign_attempts(CAMPAIGN) if a["number"] in ours]
    finally:
        await app.stop()
        await task
    if held < scenario.history[0]:
        raise RuntimeError(f"the runner's windows hold {held:g} live calls, not the history's")
    windows = {w["window"]: w for w in figures["windows"]}
    outcomes = [a["outcome"] for a in own]
    return LiveFigures(
        policy=policy,
        agents=scenario.agents,
        seconds=seconds,
        on_call=on_call,
        wrapup=wrapup,
        attempts=len(own),
        connected=outcomes.count("connected"),
        abandoned=outcomes.count("abandoned"),
        abandon_24h=float(windows["uk-24h"]["rate"]),
        abandon_30d=float(windows["us-30d"]["rate"]),
    )


async def measure_live(
    info: SandboxInfo,
    workdir: Path,
    scenario: LiveScenario,
    leads: Sequence[str],
    policies: Sequence[str],
    progress: Callable[[str], None],
) -> list[LiveFigures]:
    """Each policy in turn, with the same robot agents."""
    phones: list[Softphone] = []
    try:
        for i in range(1, scenario.agents + 1):
            account = info.phone(f"agent{i}")
            phone = Softphone(
                account.name,
                account.password,
                SipServer(info.bind, info.sip_port),
                workdir / account.name,
                auto_answer=True,
            )
            phones.append(phone)
            await phone.start()
        results = []
        for policy in policies:
            progress(f"{policy}: {scenario.minutes:g} min with {scenario.agents} agents")
            folder = workdir / policy
            folder.mkdir()
            results.append(await run_policy(info, folder, policy, scenario, leads, progress))
        return results
    finally:
        for phone in phones:
            await phone.stop()


def simulate(
    scenario: LiveScenario, policy: str, seeds: int, base_seed: int = 1
) -> list[DialerResult]:
    """The simulator's runs of the scenario under ``policy``, its history included."""
    day = scenario.simulated()
    return [
        simulate_day(day, make_policy(policy), base_seed + n, history=scenario.history)
        for n in range(seeds)
    ]


def predict(scenario: LiveScenario, policy: str, seeds: int, base_seed: int = 1) -> Row:
    """The simulator's figures for the scenario under ``policy`` over ``seeds`` runs."""
    days = simulate(scenario, policy, seeds, base_seed)
    return summarize("sim", policy, scenario.agents, days)


def header(scenario: LiveScenario) -> list[str]:
    """The table's header: the history both live and simulated windows start with."""
    live, abandoned = scenario.history
    rate = abandoned / live if live else 0.0
    return [
        f"# history: {live} live calls, {abandoned} abandoned ({rate:.1%}) earlier today, in "
        "the live run's windows (past attempts in its store) and the simulator's alike",
        "# abandon_worst_24h, abandon_30d: the windows at the end, history included; "
        "own: the run's (sim: each day's) calls only",
    ]


def own_line(policy: str, days: Sequence[DialerResult]) -> str:
    """The simulator's mean day: attempts, people, abandons, and its own abandon rate."""
    n = len(days)
    attempts = sum(d.attempts for d in days) / n
    live = sum(d.live for d in days) / n
    abandoned = sum(d.abandoned for d in days) / n
    rate = abandoned / live if live else 0.0
    return (
        f"sim {policy}: {attempts:.1f} attempts, {live - abandoned:.1f} people connected, "
        f"{abandoned:.2f} abandoned (own rate {rate:.4f}), mean of {n} runs"
    )


def run_dialer_live_bench(
    *,
    as_json: bool,
    seeds: int = 30,
    scenario: LiveScenario | None = None,
    policies: Sequence[str] = POLICIES,
    seed: int = 1,
    history: tuple[int, int] = HISTORY,
    write: Callable[[str], None] = print,
) -> int:
    """Start the sandbox and its PSTN, run each policy live, print live and simulated rows
    side by side; 0 if it ran."""
    logs.configure("warning")
    scenario = scenario or LiveScenario(history=history)
    check_history(scenario.history)  # a clear error before any sandbox

    def progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    # Enough leads for the busiest policy: a few lines per agent every ring-and-screen.
    count = int(scenario.agents * scenario.minutes * 60 / 2)
    scripted = draw_leads(scenario, count, seed)
    plan = PstnPlan(numbers=scripted, phones=read_plan().phones)
    sandbox = Sandbox(SANDBOX_NAME)
    pstn: Sandbox | None = None
    refuse_if_running(SANDBOX_NAME)
    progress("starting the sandbox Asterisk and its PSTN")
    try:
        info = sandbox.up()
        pstn = start_pstn(SANDBOX_NAME, plan)
        assert pstn.info is not None
        connect(info, pstn.info)
        with tempfile.TemporaryDirectory(prefix="callflow-bench-dialer-") as tmp:
            live = asyncio.run(
                measure_live(info, Path(tmp), scenario, list(scripted), policies, progress)
            )
    except (SandboxError, RootfsError, SoftphoneError, TimeoutError, RuntimeError) as exc:
        print(f"callflow bench dialer --live: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("callflow bench dialer --live: interrupted", file=sys.stderr)
        return 130
    finally:
        if pstn is not None:
            pstn.down()
        sandbox.down()
    rows: list[Row] = []
    sims: list[list[DialerResult]] = []
    for figures in live:
        sims.append(simulate(scenario, figures.policy, seeds, seed))
        rows += [figures.row(), summarize("sim", figures.policy, scenario.agents, sims[-1])]
    if as_json:
        for row, figures in zip(rows[::2], live, strict=True):
            data = json.loads(row.to_json())
            data.update(
                history=list(scenario.history),
                own_abandon_rate=round(figures.own_rate, 4),
                attempts=figures.attempts,
                connected=figures.connected,
                abandoned=figures.abandoned,
                seconds=round(figures.seconds, 1),
            )
            write(json.dumps(data))
        for row in rows[1::2]:
            data = json.loads(row.to_json())
            data.update(history=list(scenario.history))
            write(json.dumps(data))
        return 0
    for line in [*header(scenario), "", *format_table(rows), ""]:
        write(line)
    for figures, days in zip(live, sims, strict=True):
        write(
            f"live {figures.policy}: {figures.attempts} attempts in {figures.seconds:.0f} s, "
            f"{figures.connected} people connected, {figures.abandoned} abandoned "
            f"(own rate {figures.own_rate:.4f})"
        )
        write(own_line(figures.policy, days))
    return 0


__all__ = [
    "HISTORY",
    "LiveScenario",
    "draw_leads",
    "predict",
    "run_dialer_live_bench",
    "seed_history",
    "simulate",
]
