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

Figures, as ``callflow bench dialer`` names them:

- ``talk_share``: time agents spent on a call / logged-in agent time;
- ``occupancy``: (on a call + wrap-up) / logged-in time;
- ``abandon_worst_24h`` and ``abandon_30d``: the run's ``uk-24h`` and ``us-30d`` windows
  (one short run is one window of each), from the attempts kept in the store;
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
from callflow.dialer.pacing import make_policy
from callflow.dialer.status import status_of
from callflow.queue.agents import AgentState
from callflow.sandbox import Sandbox, SandboxInfo
from callflow.sandbox.instance import SandboxError
from callflow.sandbox.pstn import Behaviour, PstnPlan, connect, read_plan, start_pstn
from callflow.sandbox.rootfs import RootfsError
from callflow.sim.dialer import DialerScenario, simulate_day
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
    finally:
        await app.stop()
        await task
    windows = {w["window"]: w for w in figures["windows"]}
    return LiveFigures(
        policy=policy,
        agents=scenario.agents,
        seconds=seconds,
        on_call=on_call,
        wrapup=wrapup,
        attempts=int(figures["attempts"]),
        connected=int(figures["contacts"]),
        abandoned=int(figures["abandoned"]),
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


def predict(scenario: LiveScenario, policy: str, seeds: int, base_seed: int = 1) -> Row:
    """The simulator's figures for the scenario under ``policy`` over ``seeds`` runs."""
    day = scenario.simulated()
    days = [simulate_day(day, make_policy(policy), base_seed + n) for n in range(seeds)]
    return summarize("sim", policy, scenario.agents, days)


def run_dialer_live_bench(
    *,
    as_json: bool,
    seeds: int = 30,
    scenario: LiveScenario | None = None,
    policies: Sequence[str] = POLICIES,
    seed: int = 1,
    write: Callable[[str], None] = print,
) -> int:
    """Start the sandbox and its PSTN, run each policy live, print live and simulated rows
    side by side; 0 if it ran."""
    logs.configure("warning")
    scenario = scenario or LiveScenario()

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
    for figures in live:
        rows += [figures.row(), predict(scenario, figures.policy, seeds, seed)]
    if as_json:
        for row, figures in zip(rows[::2], live, strict=True):
            data = json.loads(row.to_json())
            data.update(
                attempts=figures.attempts,
                connected=figures.connected,
                abandoned=figures.abandoned,
                seconds=round(figures.seconds, 1),
            )
            write(json.dumps(data))
        for row in rows[1::2]:
            write(row.to_json())
        return 0
    for line in format_table(rows):
        write(line)
    write("")
    for figures in live:
        write(
            f"{figures.policy}: {figures.attempts} attempts in {figures.seconds:.0f} s, "
            f"{figures.connected} people connected, {figures.abandoned} abandoned"
        )
    return 0


__all__ = ["LiveScenario", "draw_leads", "predict", "run_dialer_live_bench"]
