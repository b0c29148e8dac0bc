"""Live campaigns on Asterisk: a campaign's leads dialed at the pace its policy decides, each
answered call screened by AMD and given to a reserved agent, or the safe-harbor message.

Every decision is pure code the simulator drives too: how many lines to dial
(:mod:`callflow.dialer.pacing`, asked every second and on every change with the same
:class:`~callflow.dialer.pacing.PacingState` the simulator builds), the windows' abandon
counts (:mod:`callflow.dialer.window`), who may be called now and what an outcome makes of a
lead (:mod:`callflow.dialer.rules`). This module is the glue:

1. **claim**: the attempt's row (``dialing``) and its lead's are committed to the store before
   anything is dialed; the table holds one row per campaign, number and attempt, so a
   restart (even after ``kill -9``) never places the same attempt twice: it finds the row,
   settles it as ``lost`` and the lead's next call is a new attempt, after ``retry.lost``;
2. **ring**: the number is originated through the trunk
   (:func:`~callflow.call.outbound.originate_endpoint`) into this app, so busy, no answer,
   congestion and invalid numbers come back with their Q.850 cause;
3. **screen**: on answer the channel continues in the dialplan's ``callflow-amd`` context:
   ``AMD()`` listens, then ``Stasis(app,outbound,AMDSTATUS,AMDCAUSE)`` brings it back;
4. **connect**: a person (``HUMAN``, and ``NOTSURE``: when in doubt it is a person) gets an
   agent of the campaign reserved through the Router (marked ringing, so no inbound caller
   takes them meanwhile), rung as a leg of the call and bridged, if that happens within
   2 s of the end of the greeting (AMD's verdict less the silence it heard after it); else the
   agent's ring is dropped, the person hears the campaign's ``safe_harbor`` and the call is
   abandoned (``campaign.safe_harbor`` in the event log, with the greeting's end and the
   playback's start). A machine gets a hang-up, or ``machine_message`` once its greeting
   and beep are over (:func:`~callflow.call.outbound.wait_out_greeting`: a second of quiet in the
   dialplan, 10 s at most), so that the machine records it from its start.

Preview (``dial_mode: preview``, :mod:`callflow.dialer.preview`): nothing is dialed before
an agent says so. Each round a free agent of the campaign is reserved (marked ringing for
the presentation, so no inbound caller takes them) and shown the next due lead
(``campaign.preview.presented``, with the lead's number, time zone, CSV fields, attempt and
last outcome: :mod:`callflow.dialer.screen` reads it for the API and the CLI). The agent's
accept or skip comes as a ``campaign.preview.request`` in the store; the runner answers it
(``campaign.preview.accepted`` / ``skipped``, or ``timeout`` past ``preview.timeout``). An
accepted lead rings its agent's phone first; once they answer (and hear ringback) the
attempt is claimed and dialed as above, and a person is bridged at once to that agent, who
is already on the line: none is left for the safe harbor for want of an agent (only if the
agent hangs up meanwhile). An agent's phone that does not answer leaves the lead untouched
(``campaign.preview.unanswered``). A skipped lead is
untouched (never dialed) and shown to nobody for ``retry.skipped``. After a restart the
leads shown when callflow died are withdrawn (``campaign.preview.withdrawn``) and shown
again: an accept's attempt is claimed before it is dialed, so none is dialed twice.

Blending (:mod:`callflow.dialer.blend`): the campaign's agents may serve inbound queues too.
Each round the runner looks at those queues in the Router (callers in line, agents on their
calls) and learns their arrival rate and handle time; an agent is offered to the pacing
policy only if blending gives them to the dialer (nobody waiting in their queues, and each
queue keeps the idle agents its service level needs).

Channel ids are ``<node>.<run>-dl-<attempt>``. Events: ``campaign.attempt`` (every state of
every attempt, with its row), ``campaign.human``, ``campaign.connect``,
``campaign.safe_harbor`` (when the message was asked for), ``campaign.safe_harbor_started``
(Asterisk's time of its first playback's start), ``campaign.machine``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from callflow.ari import errors as ari_errors
from callflow.ari.dispatch import EventQueue
from callflow.ari.events import PlaybackStarted
from callflow.ari.rest import AriClient
from callflow.call.ids import LIFE
from callflow.call.outbound import (
    InvalidNumber,
    OutboundSettings,
    answer_of,
    detour,
    originate_endpoint,
    wait_out_greeting,
)
from callflow.call.primitives import Call, CallEnded, Leg
from callflow.dialer import preview as pv
from callflow.dialer import rules
from callflow.dialer.blend import InboundLoad, InboundQueue, outbound_agents
from callflow.dialer.campaign import Campaign
from callflow.dialer.pacing import (
    AgentView,
    CallStage,
    CallView,
    CapGuard,
    Experience,
    FixedRatio,
    PacingPolicy,
    PacingState,
    Predictive,
    Priors,
    Progressive,
)
from callflow.dialer.preview import PreviewDesk, PreviewError, Verdict
from callflow.dialer.window import CONNECT_WITHIN, AbandonLedger, WindowFigures
from callflow.flow.prompts import media_for
from callflow.queue.agents import Agent, AgentState, QueueError
from callflow.queue.live import QueueService
from callflow.store import EventRecord, StoreUnavailable

log = logging.getLogger(__name__)

AMD_CONTEXT = "callflow-amd"
TICK = 1.0  # seconds between pacing decisions (and looks at the campaign's state)
LEAD_PAGE = 200  # due leads read at a time (store.due_leads' default)
RING_SLACK = 5.0  # past the ring timeout, a ring whose end was missed is given up
AMD_LIMIT = 10.0  # AMD decides within 5 s of answer (amd.conf's total): a watchdog past that
#: amd.conf's after_greeting_silence: AMD says HUMAN about this long after the greeting ended
#: (the silence it heard, from AMDCAUSE, when it says).
AFTER_GREETING_SILENCE = 0.8
#: Kept from the 2 s: the bridge is made after the agent answers, and must be in time; and
#: when the agent's phone does not answer by then, the safe harbor must still start within
#: the 2 s on a loaded machine (a run with the ring given until 1.8 s started it at 2.10 s).
CONNECT_MARGIN = 0.4
#: Preview: how long the phone of an agent who accepted a lead rings before it is given up
#: (the lead is then left as it was, to be shown again).
AGENT_RING = 15.0
PAUSED, RUNNING, STOPPED = "paused", "running", "stopped"
CAMPAIGN_STATES = (RUNNING, PAUSED, STOPPED)


class Host(Protocol):
    """What a campaign needs of the Stasis service: ARI, its live calls (resynced after a
    reconnect), the events of channels it originates, and whether Asterisk has been read."""

    @property
    def ari(self) -> AriClient: ...

    calls: dict[str, Call]
    recovered: asyncio.Event

    def attach_channel(self, channel_id: str, events: EventQueue) -> None: ...


def policy_for(campaign: Campaign) -> PacingPolicy:
    """The pacing policy of a campaign's ``dial_mode`` (preview's is the runner's
    :class:`~callflow.dialer.preview.PreviewDesk`: one lead shown per free agent, dialed on
    the agent's accept; the policy returned for it is never asked)."""
    if campaign.dial_mode == "ratio":
        return CapGuard(FixedRatio(campaign.ratio))  # the cap holds in every mode
    if campaign.dial_mode == "predictive":
        return Predictive(margin=campaign.abandonment.margin)
    return Progressive()


def attempt_channel(attempt_id: str) -> str:
    """The id of an attempt's channel, this life."""
    return f"{LIFE}-dl-{attempt_id}"


@dataclass
class _Attempt:
    """One call in progress: its row, its lead's, and how far it got."""

    id: str
    lead: dict[str, Any]
    attempt: int
    dialed_at: float
    events: EventQueue
    stage: CallStage = "ringing"
    connected: bool = False
    outcome: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    agent: Agent | None = None  # preview: the agent reserved since the lead was shown
    agent_channel: str | None = None  # preview: their phone, answered, hearing ringback

    @property
    def channel_id(self) -> str:
        return attempt_channel(self.id)


class CampaignRunner:
    """One campaign, live (see the module docstring)."""

    def __init__(
        self,
        campaign: Campaign,
        queues: QueueService,
        host: Host,
        outbound: OutboundSettings,
        *,
        app: str = "callflow",
        policy: PacingPolicy | None = None,
        voice: str = "en-us",
        tick: float = TICK,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.campaign = campaign
        self.queues = queues
        self.store = queues.store
        self.host = host
        self.outbound = outbound
        self.app = app
        self.policy = policy or policy_for(campaign)
        self.voice = voice
        self.tick = tick
        self.clock = clock or queues.clock
        self.experience = Experience(Priors(amd_silence=AFTER_GREETING_SILENCE))
        self.ledger = AbandonLedger.for_rule(
            campaign.abandonment.windows,
            cap=campaign.abandonment.cap,
            amd_false_positive_share=campaign.abandonment.amd_false_positive,
        )
        self.state = PAUSED
        self.ring_timeout = max(float(outbound.ring_timeout), campaign.ring_at_least)
        self.agents = self._agent_names()
        self._flight: dict[str, _Attempt] = {}
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._dnc: tuple[float, frozenset[str]] = (-1.0, frozenset())
        self._dropping: set[asyncio.Task[None]] = set()  # agents' late rings being hung up
        # Blending: what is learnt of the agents' inbound queues, the callers seen last
        # time, and each agent's inbound call (its entry, queue and start) until they are free.
        started = self.clock()
        self.inbound = {
            queue: InboundLoad(
                started, window=campaign.blend.window, handle_time=campaign.blend.handle_time
            )
            for name in self.agents
            for queue in sorted(self.queues.router.agents[name].queues)
        }
        self._inbound_seen: set[str] = set()
        self._inbound_calls: dict[str, tuple[str, str, float]] = {}
        # Preview: who is shown what, the leads shown (by presentation), the leads a former
        # life showed (number -> agent, shown again first) and the requests answered so far.
        self.desk: PreviewDesk | None = None
        if campaign.dial_mode == "preview":
            self.desk = PreviewDesk(campaign.preview, rules.retry_delay(campaign, "skipped"))
        self._shown: dict[str, dict[str, Any]] = {}
        self._again: dict[str, str] = {}
        self._request_id = 0
        self._requests_since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)

    @property
    def name(self) -> str:
        return self.campaign.name

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Settle what a former life left, then pace the campaign while it is running."""
        self._task = asyncio.create_task(self._run(), name=f"campaign:{self.name}")

    async def stop(self, grace: float = 0.0) -> None:
        """Dial no more; calls in progress get ``grace`` seconds, then are hung up."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.desk is not None:  # no verdict: the next life shows these leads again
            for name, shown in list(self.desk.shown.items()):
                self.desk.withdraw(name)
                self._shown.pop(shown.id, None)
                self._release(self.queues.router.agents[name], self.clock(), entry=shown.id)
        tasks = [a.task for a in self._flight.values() if a.task is not None]
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, *self._dropping, return_exceptions=True)

    def kick(self) -> None:
        """Something changed (an agent is free, a call ended): decide again now."""
        self._kick.set()

    async def _run(self) -> None:
        await self.host.recovered.wait()
        for channel, answered in await asyncio.to_thread(self.restore):
            # A former life's call. Ringing, or in AMD (it would come back to an app that does
            # not know it): hung up. Answered and taken back by recovery as one of the
            # service's calls (a conversation with its agent): it goes on.
            if not answered or channel not in self.host.calls:
                with contextlib.suppress(ari_errors.AriError):
                    await self.host.ari.channels.hangup(channel)
        paused_by_store = False
        while True:
            self._kick.clear()
            try:
                states = await self.store.campaign_states_async()
                state = states.get(self.name, PAUSED)
                if state != self.state:
                    log.info("campaign %s: %s", self.name, state)
                    self.state = state
                if state != RUNNING and self.desk is not None and self.desk.shown:
                    self._withdraw_all(state)
                if state == RUNNING and self.host.recovered.is_set():
                    await self._round()
            except StoreUnavailable as exc:
                # The store refuses writes (its own log says so loudly): no attempt can be
                # recorded, so none is dialled; the next round tries again, quietly.
                if not paused_by_store:
                    log.warning(
                        "campaign %s: not dialling while the store refuses writes (%s)",
                        self.name,
                        exc,
                    )
                paused_by_store = True
            except Exception:
                log.exception("campaign %s: a pacing round failed", self.name)
            else:
                if paused_by_store:
                    log.info("campaign %s: the store takes writes again: dialling", self.name)
                paused_by_store = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), self.tick)

    def restore(self) -> list[tuple[str, bool]]:
        """Rebuild the windows from the attempts kept, and settle the attempts a former life
        left in progress as ``lost`` (their lead is called again as a new attempt); the
        channels of those attempts, and whether each had been answered."""
        attempts = self.store.campaign_attempts(self.name)
        leads = {lead["number"]: lead for lead in self.store.campaign_leads(self.name)}
        if attempts:
            start = float(attempts[0]["dialed_at"])
            self.ledger = AbandonLedger.for_rule(
                self.campaign.abandonment.windows,
                cap=self.campaign.abandonment.cap,
                campaign_start=start,
                amd_false_positive_share=self.campaign.abandonment.amd_false_positive,
            )
        now = self.clock()
        if self.desk is not None:
            self._restore_preview()
        left: list[tuple[str, bool]] = []
        for row in attempts:
            at = float(row["dialed_at"])
            self._count(row.get("outcome"), at)
            if row["state"] == "ended" or row["id"] in self._flight:
                continue
            lead = leads.get(row["number"])
            if lead is None:
                continue
            lead = {**lead, "attempts": max(int(lead["attempts"]), int(row["attempt"]))}
            # Connected, abandoned or a machine: known before the end, and kept as it was.
            outcome = str(row.get("outcome") or "lost")
            self._settle(row, lead, outcome, now)
            log.info("campaign %s: attempt %s was in progress: %s", self.name, row["id"], outcome)
            if isinstance(channel := row["data"].get("channel"), str):
                left.append((channel, row["state"] != "dialing"))
            phone = row["data"].get("agent_channel")
            if isinstance(phone, str) and row["state"] != "connected":
                left.append((phone, False))  # preview: an agent's phone waiting for the call
        return left

    # --- pacing ----------------------------------------------------------------------

    def pacing_state(self, now: float) -> PacingState:
        """What the policy sees now: the campaign's agents, the calls not yet with one, the
        windows so far, and what the campaign has learnt."""
        agents: list[AgentView] = []
        dialer_may_take = self.blended(now)
        for name in self.agents:
            agent = self.queues.router.agents[name]
            if agent.state is AgentState.AVAILABLE:
                if name in dialer_may_take:
                    agents.append(AgentView("idle", agent.since))
            elif agent.state in (AgentState.RINGING, AgentState.ON_CALL):
                agents.append(AgentView("talking", agent.since))
            elif agent.state is AgentState.WRAPUP:
                agents.append(AgentView("wrapup", agent.since))
        # A machine (its greeting waited out, its message played) will never want an agent.
        calls = [
            CallView(a.stage, a.dialed_at)
            for a in self._flight.values()
            if not a.connected and a.outcome != "machine"
        ]
        return PacingState(
            now=now,
            agents=agents,
            calls=calls,
            windows=self.ledger.figures(now),
            experience=self.experience,
        )

    def blended(self, now: float) -> frozenset[str]:
        """The available agents the dialer may take now (:mod:`callflow.dialer.blend`), after
        learning what changed in their inbound queues since the last look."""
        self._observe_inbound(now)
        router = self.queues.router
        busy = {queue: 0 for queue in self.inbound}
        for _, queue, _ in self._inbound_calls.values():
            busy[queue] += 1
        queues = {
            name: InboundQueue(
                name,
                waiting=router.callers_waiting(name),
                busy=busy[name],
                arrival_rate=load.arrival_rate(now),
                handle_time=load.handle_time,
                within=router.queues[name].service_level,
            )
            for name, load in self.inbound.items()
        }
        idle = {
            name: agent.queues
            for name in self.agents
            if (agent := router.agents[name]).state is AgentState.AVAILABLE
        }
        return outbound_agents(idle, queues, self.campaign.blend.service_level)

    def _observe_inbound(self, now: float) -> None:
        """Arrivals (callers in line or with an agent, not seen last time) and handle times
        (an agent taken by an inbound call, from its ring to their next availability)."""
        router = self.queues.router
        present: set[str] = set()
        for queue, load in self.inbound.items():
            for entry in router.entries(queue):
                present.add(entry.id)
                if entry.id not in self._inbound_seen:
                    load.arrived(now)
        for name in self.agents:
            agent = router.agents[name]
            call = self._inbound_calls.get(name)
            inbound = (
                agent.state in (AgentState.RINGING, AgentState.ON_CALL)
                and agent.entry_id is not None
                and agent.entry_id not in self._flight
                and agent.entry_id not in self._shown  # reserved for a lead shown
                and agent.queue in self.inbound
            )
            if inbound and agent.entry_id is not None and agent.queue is not None:
                present.add(agent.entry_id)
                if agent.entry_id not in self._inbound_seen:
                    self.inbound[agent.queue].arrived(now)
                if call is None or call[0] != agent.entry_id:
                    if call is not None:
                        self.inbound[call[1]].handled(now - call[2])
                    self._inbound_calls[name] = (agent.entry_id, agent.queue, now)
            elif call is not None and agent.state is not AgentState.WRAPUP:
                self.inbound[call[1]].handled(now - call[2])
                del self._inbound_calls[name]
        self._inbound_seen = present

    async def _round(self) -> None:
        now = self.clock()
        if self.desk is not None:
            await self._preview_round(self.desk, now)
            return
        lines = self.policy.lines_to_dial(self.pacing_state(now))
        if lines <= 0:
            return
        dnc = await asyncio.to_thread(self._do_not_call)
        busy = {a.lead["number"] for a in self._flight.values()}
        after = (-1, "")
        while lines > 0:
            # Due leads a page at a time: the hours and the do-not-call list may skip many.
            page = await asyncio.to_thread(self.store.due_leads, self.name, now, after=after)
            for lead in page:
                if lines <= 0:
                    return
                if lead["number"] in busy or rules.refusal(self.campaign, lead, now, dnc):
                    continue
                lines -= 1
                await self._dial(lead)
            if len(page) < LEAD_PAGE:
                return
            after = (int(page[-1]["line"]), str(page[-1]["number"]))

    def _do_not_call(self) -> frozenset[str]:
        """The do-not-call file, read again whenever it changes (checked at each dial)."""
        if self.campaign.do_not_call is None:
            return frozenset()
        path = Path(self.campaign.path).parent / self.campaign.do_not_call
        try:
            mtime = path.stat().st_mtime
            if mtime != self._dnc[0]:
                self._dnc = (mtime, rules.read_do_not_call(path.read_text(encoding="utf-8")))
        except OSError as exc:
            # No list read: nobody is called rather than someone who asked not to be.
            log.error("campaign %s: do-not-call list unreadable: %s", self.name, exc)
            raise
        return self._dnc[1]

    # --- preview ---------------------------------------------------------------------

    async def _preview_round(self, desk: PreviewDesk, now: float) -> None:
        """Answer the agents' accepts and skips and the timeouts, then show a lead to each
        free agent who is shown none (nothing is dialed but what an agent accepted)."""
        router = self.queues.router
        if desk.shown:
            for event in await asyncio.to_thread(self._requests):
                d = event.data
                try:
                    verdict = desk.answer(
                        str(d.get("agent")), str(d.get("action")), now, str(d.get("presentation"))
                    )
                except PreviewError as exc:
                    log.info("campaign %s: preview request refused: %s", self.name, exc)
                    continue
                await self._decided(verdict, request=d.get("request"))
        for verdict in desk.due(now):
            await self._decided(verdict)
        for name, shown in list(desk.shown.items()):
            agent = router.agents[name]
            if agent.state is not AgentState.RINGING or agent.entry_id != shown.id:
                self._withdraw(name, "the agent's reservation ended")  # never, as a rule
            elif agent.pending_pause is not None:  # paused while shown: paused at once
                self._withdraw(name, "the agent paused")
        may_take = self.blended(now)
        free = sorted(
            (router.agents[n] for n in desk.to_serve(self.agents) if n in may_take),
            key=lambda x: (x.idle_since, x.name),
        )
        free = [agent for agent in free if self._free(agent)]
        if not free:
            return
        dnc = await asyncio.to_thread(self._do_not_call)
        busy = {a.lead["number"] for a in self._flight.values()}
        after = (-1, "")
        while free:
            page = await asyncio.to_thread(self.store.due_leads, self.name, now, after=after)
            # The leads a former life was showing come first, to their agent if free.
            for lead in sorted(page, key=lambda x: x["number"] not in self._again):
                number = str(lead["number"])
                if not free:
                    return
                if (
                    number in busy
                    or not desk.may_show(number, now)
                    or rules.refusal(self.campaign, lead, now, dnc)
                ):
                    continue
                before = self._again.get(number)
                agent = next((x for x in free if x.name == before), free[0])
                free.remove(agent)
                self._present(desk, agent, lead, now)
            if len(page) < LEAD_PAGE:
                return
            after = (int(page[-1]["line"]), str(page[-1]["number"]))

    def _present(
        self, desk: PreviewDesk, agent: Agent, lead: Mapping[str, Any], now: float
    ) -> None:
        """Reserve ``agent`` and show them ``lead``: written to the event log."""
        number = str(lead["number"])
        pid = f"dl{secrets.token_hex(5)}"  # the attempt's id, if accepted
        shown = desk.present(pid, agent.name, number, int(lead["attempts"]) + 1, now)
        agent.ring(now, pid, self._queue_of(agent))
        self.queues.kick()
        self._shown[pid] = dict(lead)
        again = self._again.pop(number, None) is not None
        self.store.append(
            pv.PRESENTED,
            pid,
            {
                "campaign": self.name,
                "presentation": pid,
                "agent": agent.name,
                "number": number,
                "attempt": shown.attempt,
                **self._screen(lead),
                "at": now,
                "deadline": shown.deadline,
                "on_timeout": self.campaign.preview.on_timeout if shown.deadline else None,
                "again": again,
            },
        )
        log.info("campaign %s: %s shown to %s (%s)", self.name, number, agent.name, pid)

    async def _decided(self, verdict: Verdict, request: object = None) -> None:
        """Write a verdict; dial the lead for its agent (an accept, or a timeout that dials)
        if it may still be called, else free the agent for the next lead."""
        shown = verdict.presentation
        lead = self._shown.pop(shown.id, None)
        agent = self.queues.router.agents[shown.agent]
        dial, refused = verdict.dial, None
        if dial and lead is not None:
            # Checked again: the do-not-call list and the hours may have changed meanwhile.
            dnc = await asyncio.to_thread(self._do_not_call)
            refused = rules.refusal(self.campaign, lead, self.clock(), dnc)
            dial = refused is None
        self.store.append(
            verdict.kind,
            shown.id,
            {
                "campaign": self.name,
                "presentation": shown.id,
                "agent": shown.agent,
                "number": shown.number,
                "attempt": shown.attempt,
                "at": verdict.at,
                "shown_for": verdict.at - shown.at,
                "dial": dial,
                "refused": refused,
                "request": request,
            },
        )
        log.info("campaign %s: %s %s by %s", self.name, shown.number, verdict.kind, shown.agent)
        if dial and lead is not None:
            await self._dial(lead, agent=agent, attempt_id=shown.id)
        else:
            self._release(agent, self.clock(), entry=shown.id)

    def _withdraw(self, agent: str, reason: str) -> None:
        """Take back what ``agent`` is shown, without a verdict (the lead is untouched)."""
        if self.desk is None or (shown := self.desk.withdraw(agent)) is None:
            return
        self._shown.pop(shown.id, None)
        self.store.append(
            pv.WITHDRAWN,
            shown.id,
            {
                "campaign": self.name,
                "presentation": shown.id,
                "agent": agent,
                "number": shown.number,
                "at": self.clock(),
                "reason": reason,
            },
        )
        self._release(self.queues.router.agents[agent], self.clock(), entry=shown.id)

    def _withdraw_all(self, reason: str) -> None:
        if self.desk is not None:
            for agent in list(self.desk.shown):
                self._withdraw(agent, reason)

    def _requests(self) -> list[EventRecord]:
        """The accepts and skips asked for this campaign since the last look."""
        found = self.store.events(kind=pv.REQUEST, since=self._requests_since)
        new = [e for e in found if e.id > self._request_id and e.data.get("campaign") == self.name]
        if found:
            self._request_id = max(self._request_id, found[-1].id)
            self._requests_since = found[-1].at - dt.timedelta(seconds=5)
        return new

    def _restore_preview(self) -> None:
        """After a restart: the leads skipped lately are held again; those shown when the
        former life died are withdrawn, to be shown again first (to the same agent when
        free); the requests made before now are not answered."""
        if self.desk is None:
            return
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)
        events = self.store.events(kinds=["campaign.preview."], since=since)
        mine = [e for e in events if e.data.get("campaign") == self.name]
        for left in self.desk.replay((e.kind, e.data) for e in mine):
            self._again[left.number] = left.agent
            self.store.append(
                pv.WITHDRAWN,
                left.id,
                {
                    "campaign": self.name,
                    "presentation": left.id,
                    "agent": left.agent,
                    "number": left.number,
                    "at": self.clock(),
                    "reason": "restart",
                },
            )
            log.info(
                "campaign %s: %s was shown to %s: shown again", self.name, left.number, left.agent
            )
        requests = [e for e in events if e.kind == pv.REQUEST]
        if requests:
            self._request_id = requests[-1].id
            self._requests_since = requests[-1].at - dt.timedelta(seconds=5)

    # --- one attempt -----------------------------------------------------------------

    async def _dial(
        self, lead: Mapping[str, Any], agent: Agent | None = None, attempt_id: str = ""
    ) -> None:
        """Claim the lead's next attempt, then place it (for ``agent``, reserved already,
        in preview; ``attempt_id``: the presentation's id)."""
        number = str(lead["number"])
        try:
            endpoint = originate_endpoint(number, self.outbound)
        except InvalidNumber as exc:  # never: leads are checked at import
            log.error("campaign %s: %s", self.name, exc)
            if agent is not None:
                self._release(agent, self.clock(), entry=attempt_id)
            return
        attempt = int(lead["attempts"]) + 1
        now = self.clock()
        a = _Attempt(
            id=attempt_id or f"dl{secrets.token_hex(5)}",
            lead={**lead, "campaign": self.name, "attempts": attempt, "state": "dialing"},
            attempt=attempt,
            dialed_at=now,
            events=EventQueue(""),
            agent=agent,
        )
        a.events = EventQueue(a.channel_id)
        if agent is not None:  # preview: the agent's phone first, then the claim
            self._flight[a.id] = a
            a.task = asyncio.create_task(self._accepted(a, endpoint), name=f"campaign:{a.id}")
            return
        if not await self.store.claim_attempt(self._row(a, "dialing"), a.lead):
            log.warning("campaign %s: %s attempt %d already made", self.name, number, attempt)
            return
        self._flight[a.id] = a
        self.host.attach_channel(a.channel_id, a.events)
        a.task = asyncio.create_task(self._call(a, endpoint), name=f"campaign:{a.id}")

    async def _accepted(self, a: _Attempt, endpoint: str) -> None:
        """Preview, agent first: ring the phone of the agent who accepted; once they answer
        (they hear ringback), claim the attempt and dial the lead. Their phone unanswered,
        or the attempt made already: the lead is left as it was and the agent freed."""
        assert a.agent is not None
        agent, claimed, channel = a.agent, False, None
        try:
            channel = await self._ring_agent(a, agent)
            if channel is None:
                self.store.append(
                    "campaign.preview.unanswered",
                    a.id,
                    {**self._tag(a), "presentation": a.id, "agent": agent.name},
                )
                return
            a.dialed_at = self.clock()  # the customer is dialed now
            a.data.update(agent_channel=channel)
            claimed = await self.store.claim_attempt(self._row(a, "dialing"), a.lead)
            if not claimed:
                log.warning("campaign %s: %s attempt %d already made", self.name, a.id, a.attempt)
        except Exception:
            log.exception("campaign %s: attempt %s failed before its dial", self.name, a.id)
        finally:
            if not claimed:
                if channel is not None:
                    with contextlib.suppress(ari_errors.AriError):
                        await self.host.ari.channels.hangup(channel)
                self._flight.pop(a.id, None)
                self._release(agent, self.clock(), entry=a.id)
        if claimed:
            a.agent_channel = channel
            self.host.attach_channel(a.channel_id, a.events)
            await self._call(a, endpoint)

    async def _ring_agent(self, a: _Attempt, agent: Agent) -> str | None:
        """Ring the agent's phone (the lead's number as caller id): its channel, answered and
        hearing ringback; None when it did not answer."""
        # Not the customer's channel id and a suffix: Asterisk refuses a new channel whose id
        # begins another's ("Channel Unique ID ... already in use").
        channel = f"{LIFE}-dl-agent-{a.id}"
        events = EventQueue(channel)
        self.host.attach_channel(channel, events)
        ari = self.host.ari
        try:
            await ari.channels.originate(
                agent.endpoint,
                app=self.app,
                app_args="leg",
                channel_id=channel,
                caller_id=str(a.lead["number"]),
                ring_timeout=round(AGENT_RING),
            )
        except ari_errors.AriError as exc:
            log.info("campaign %s: cannot ring %s: %s", self.name, agent.endpoint, exc)
            return None
        start, cause = await answer_of(events, AGENT_RING + RING_SLACK)
        if start is None:
            log.info("campaign %s: %s did not answer (cause %s)", self.name, agent.name, cause)
            with contextlib.suppress(ari_errors.AriError):
                await ari.channels.hangup(channel)
            return None
        with contextlib.suppress(ari_errors.AriError):
            await ari.channels.play(channel, "tone:ring", playback_id=f"ringback-{channel}")
        return channel

    async def _call(self, a: _Attempt, endpoint: str) -> None:
        call: Call | None = None
        try:
            call = await self._place(a, endpoint)
            if call is not None:
                await self._screened(a, call)
        except CallEnded:
            a.outcome = a.outcome or "hung_up"
        except asyncio.CancelledError:
            a.outcome = a.outcome or "lost"
            raise
        except Exception:
            log.exception("campaign %s: attempt %s failed", self.name, a.id)
            a.outcome = a.outcome or "failed"
        finally:
            await asyncio.shield(self._finish(a, call))

    async def _place(self, a: _Attempt, endpoint: str) -> Call | None:
        """Ring the number, then have AMD screen the answered call: the call back in Stasis
        after AMD, or None (its outcome set) when it never got there."""
        ari = self.host.ari
        try:
            await ari.channels.originate(
                endpoint,
                app=self.app,
                app_args="dialer",
                channel_id=a.channel_id,
                caller_id=self.outbound.caller_id or None,
                ring_timeout=round(self.ring_timeout),
            )
        except ari_errors.AriError as exc:
            log.info("campaign %s: cannot dial: %s", self.name, exc)
            a.outcome = "failed"
            return None
        start, cause = await answer_of(a.events, self.ring_timeout + RING_SLACK)
        rang = self.clock() - a.dialed_at
        if start is None:
            a.outcome = rules.unanswered(cause)
            a.data.update(cause=cause)
            if a.outcome in ("busy", "no_answer"):
                self.experience.attempt_ended(a.outcome, rang)
            return None
        a.stage = "screening"
        a.data.update(answered_after=round(rang, 3))
        self.store.save_attempt(self._row(a, "answered"), a.lead)
        # AMD runs in the dialplan; the channel comes back into Stasis with its verdict.
        back = await detour(
            ari, a.channel_id, a.events, self.host.attach_channel, AMD_CONTEXT, AMD_LIMIT
        )
        if back is None:
            a.outcome = "hung_up"
            return None
        call = Call(ari, back, a.events, app=self.app, attach=self.host.attach_channel)
        self.host.calls[call.id] = call
        status = back.args[1] if len(back.args) > 1 else ""
        a.data.update(amd=status, amd_cause=back.args[2] if len(back.args) > 2 else "")
        verdict_after = self.clock() - a.dialed_at
        if status == "MACHINE":
            self.experience.attempt_ended("machine", rang)
        elif status in ("HUMAN", "NOTSURE"):
            self.experience.attempt_ended("human", rang, verdict_after)
        return call

    async def _screened(self, a: _Attempt, call: Call) -> None:
        status = a.data.get("amd")
        if status == "MACHINE":
            a.outcome = "machine"
            self.ledger.machine_detected(self.clock())
            self.store.save_attempt(self._row(a, "machine"), a.lead)
            media = list(media_for(self.campaign.machine_message, self.voice, lambda _: None))
            if not media:
                self.store.append("campaign.machine", a.id, {**self._tag(a), "message": media})
                return
            # The message after the greeting and its beep, when the machine records.
            end = await wait_out_greeting(
                self.host.ari, call.id, a.events, self.host.attach_channel
            )
            self.store.append(
                "campaign.machine",
                a.id,
                {
                    **self._tag(a),
                    "message": media,
                    "greeting": end.status if end is not None else "HANGUP",
                    "waited": end.waited if end is not None else None,
                },
            )
            if end is not None:
                await call.play(media)
            return
        if status not in ("HUMAN", "NOTSURE"):  # HANGUP, or AMD not run
            a.outcome = "hung_up"
            return
        # When in doubt it is a person: a NOTSURE left alone would be an abandon.
        a.stage = "waiting"
        verdict = self.clock()
        greeting_end = verdict - silence_heard(str(a.data.get("amd_cause", "")))
        deadline = greeting_end + CONNECT_WITHIN - CONNECT_MARGIN
        self.store.append(
            "campaign.human",
            a.id,
            {**self._tag(a), "verdict_at": verdict, "greeting_end": greeting_end},
        )
        if a.agent is not None and a.agent_channel is not None:  # preview: on the line
            if await self._bridge(a, call, a.agent, a.agent_channel, greeting_end):
                return
            await self._safe_harbor(a, call, greeting_end)  # the agent hung up meanwhile
            return
        agent = await self._reserve(a, deadline)
        if agent is not None and await self._connect(a, call, agent, deadline, greeting_end):
            return
        await self._safe_harbor(a, call, greeting_end)

    async def _reserve(self, a: _Attempt, deadline: float) -> Agent | None:
        """An available agent of the campaign, marked ringing for this call through the
        Router's agent state, so the queues offer them to no caller meanwhile."""
        while True:
            free = [
                agent
                for name in self.agents
                if self._free(agent := self.queues.router.agents[name])
            ]
            if free:
                agent = min(free, key=lambda x: (x.idle_since, x.name))
                agent.ring(self.clock(), a.id, self._queue_of(agent))
                self.queues.kick()
                return agent
            if self.clock() >= deadline - 0.3:
                return None
            await asyncio.sleep(0.05)

    async def _connect(
        self, a: _Attempt, call: Call, agent: Agent, deadline: float, greeting_end: float
    ) -> bool:
        """Ring the reserved agent; bridged if they answer before ``deadline`` (True)."""
        try:
            leg = await call.ring(
                agent.endpoint,
                ring_timeout=max(1.0, deadline - self.clock() + 1.0),
                caller_id=str(a.lead["number"]),
            )
        except BaseException:
            self._release(agent, self.clock(), entry=a.id)
            raise
        try:
            await call.wait_for(lambda: leg.answered or leg.ended, timeout=deadline - self.clock())
        except BaseException:  # the person hung up first (or callflow stops): free the agent
            with contextlib.suppress(ari_errors.AriError):
                await call.drop_leg(leg)
            self._release(agent, self.clock(), entry=a.id)
            raise
        if not leg.answered:
            # The person's safe harbor first: the ring is dropped alongside, not before it.
            drop = asyncio.create_task(self._drop(call, leg, agent, a.id), name=f"drop:{a.id}")
            self._dropping.add(drop)
            drop.add_done_callback(self._dropping.discard)
            return False
        await self._talk(a, call, leg, agent, greeting_end)
        return True

    async def _bridge(
        self, a: _Attempt, call: Call, agent: Agent, channel: str, greeting_end: float
    ) -> bool:
        """Preview: bridge the person with their agent, on the line since the accept (their
        phone's channel becomes a leg of the call); False if the agent hung up meanwhile."""
        leg = Leg(channel, agent.endpoint, answered=True)
        call.legs[leg.id] = leg
        self.host.attach_channel(leg.id, call.events)
        a.agent_channel = None  # the call's leg now: dropped with it
        try:  # it may have hung up before its events came to the call
            await self.host.ari.channels.get(leg.id)
        except ari_errors.NotFound:
            leg.ended = True
        if leg.ended:
            self._release(agent, self.clock(), entry=a.id)
            return False
        with contextlib.suppress(ari_errors.AriError):
            await self.host.ari.playbacks.stop(f"ringback-{channel}")
        await self._talk(a, call, leg, agent, greeting_end)
        return True

    async def _talk(
        self, a: _Attempt, call: Call, leg: Leg, agent: Agent, greeting_end: float
    ) -> None:
        """The agent (their leg answered) and the person, bridged until one hangs up."""
        now = self.clock()
        agent.answered(now)
        self.queues.kick()
        a.connected = True
        a.outcome = "connected"
        a.data.update(agent=agent.name)
        self.ledger.person_connected(now)
        self.store.save_attempt(self._row(a, "connected"), a.lead)
        self.store.append(
            "campaign.connect",
            a.id,
            {
                **self._tag(a),
                **self._screen(a.lead),
                "agent": agent.name,
                "at": now,
                "after_greeting": now - greeting_end,
            },
        )
        try:
            await call.converse(leg)
        finally:
            await call.drop_leg(leg)
            ended = self.clock()
            self.experience.talk_ended(ended - now)
            self._release(agent, ended, answered=True)

    async def _safe_harbor(self, a: _Attempt, call: Call, greeting_end: float) -> None:
        """No agent in time: the person hears who called and how to call back or opt out;
        the call is abandoned in every window."""
        a.outcome = "abandoned"
        now = self.clock()
        self.ledger.person_abandoned(now)
        self.store.save_attempt(self._row(a, "abandoned"), a.lead)
        media = list(media_for(self.campaign.safe_harbor, self.voice, lambda _: None))
        if not media:
            log.warning("campaign %s: no safe_harbor message to play", self.name)
        self.store.append(
            "campaign.safe_harbor",
            a.id,
            {**self._tag(a), "greeting_end": greeting_end, "at": now, "media": media},
        )
        if not media:
            return
        started: list[float] = []

        def first_start(event: object) -> None:
            if isinstance(event, PlaybackStarted) and event.timestamp and not started:
                started.append(event.timestamp.timestamp())

        call.on_event = first_start
        try:
            await call.play(media)
        finally:
            call.on_event = None
            if started:  # Asterisk's own time of the first sound, for the records
                # Asterisk stamps wall-clock time; the greeting's end is on this runner's
                # clock (which a test may set to another day): put the start on it too.
                start = started[0] + (self.clock() - time.time())
                self.store.append(
                    "campaign.safe_harbor_started",
                    a.id,
                    {**self._tag(a), "started": start, "after": start - greeting_end},
                )

    async def _drop(self, call: Call, leg: Leg, agent: Agent, entry: str) -> None:
        """Hang up a reserved agent's ring that came too late, and free the agent."""
        try:
            await call.drop_leg(leg)
        except ari_errors.AriError as exc:
            log.info("campaign %s: agent %s's ring: %s", self.name, agent.name, exc)
        finally:
            self._release(agent, self.clock(), entry=entry)

    def _release(
        self, agent: Agent, now: float, *, answered: bool = False, entry: str | None = None
    ) -> None:
        """Free an agent after their campaign call (``answered``), or from a reservation
        (for ``entry``, when given: not one made since for another call)."""
        try:
            if answered:
                self.queues.router.call_ended(agent.name, now)
            elif agent.state is AgentState.RINGING and entry in (None, agent.entry_id):
                agent.ring_cancelled(now)
        except QueueError as exc:  # logged out meanwhile
            log.info("campaign %s: agent %s: %s", self.name, agent.name, exc)
        self.queues.kick()
        self.kick()

    async def _finish(self, a: _Attempt, call: Call | None) -> None:
        """Hang up what is left, then write the attempt's end and its lead's next state."""
        if call is not None:
            await call.hangup()
        else:  # gone already, as a rule; a ring whose end was missed is ended here
            with contextlib.suppress(ari_errors.AriError, RuntimeError):
                await self.host.ari.channels.hangup(a.channel_id)
        now = self.clock()
        row = self._row(a, "ended")
        row.update(outcome=a.outcome or "failed", ended_at=now)
        self._settle(row, a.lead, row["outcome"], now, counted=True)
        if a.agent_channel is not None:  # preview: the agent on the line for nobody
            with contextlib.suppress(ari_errors.AriError):
                await self.host.ari.channels.hangup(a.agent_channel)
        if a.agent is not None and not a.connected:  # preview: the customer never came
            self._release(a.agent, now, entry=a.id)
        self._flight.pop(a.id, None)
        self.kick()
        if call is not None:
            # An attached channel's queue is not closed by its end: read what is left briefly.
            await call.drain(timeout=1.0)
            if self.host.calls.get(call.id) is call:
                del self.host.calls[call.id]

    def _settle(
        self,
        row: dict[str, Any],
        lead: Mapping[str, Any],
        outcome: str,
        now: float,
        *,
        counted: bool = False,
    ) -> None:
        """Write an attempt's end: its row, its lead's next state, the event."""
        if not counted:
            row = {**row, "state": "ended", "outcome": outcome, "ended_at": now}
        attempts = int(lead["attempts"])
        following = rules.after_attempt(self.campaign, outcome, attempts, now)
        new_lead = {
            **lead,
            "campaign": self.name,
            "attempts": attempts,
            "state": following.state,
            "next_at": following.next_at,
            "last_outcome": outcome,
            "abandoned_at": now if outcome == "abandoned" else None,
        }
        self.store.save_attempt(row, new_lead)

    def _count(self, outcome: object, at: float) -> None:
        if outcome == "connected":
            self.ledger.person_connected(at)
        elif outcome == "abandoned":
            self.ledger.person_abandoned(at)
        elif outcome == "machine":
            self.ledger.machine_detected(at)

    # --- helpers ---------------------------------------------------------------------

    def _agent_names(self) -> tuple[str, ...]:
        router = self.queues.router
        names = set(self.campaign.agents)
        for queue in self.campaign.queues:
            names |= set(router.members.get(queue, ()))
        if not self.campaign.agents and not self.campaign.queues:
            names = set(router.agents)
        unknown = names - set(router.agents)
        if unknown:
            raise ValueError(f"campaign {self.name}: unknown agents {sorted(unknown)}")
        if missing := set(self.campaign.queues) - set(router.members):
            # A misspelt queue would leave the campaign without agents, dialing nobody.
            raise ValueError(f"campaign {self.name}: unknown queues {sorted(missing)}")
        return tuple(sorted(names))

    def _free(self, agent: Agent) -> bool:
        """Available for the campaign: available, and no queue of theirs has anyone waiting
        (blending: inbound callers, and callbacks, come first)."""
        router = self.queues.router
        return agent.state is AgentState.AVAILABLE and not any(
            router.callers_waiting(queue) for queue in agent.queues
        )

    def _queue_of(self, agent: Agent) -> str:
        """The queue an agent's campaign call counts in (its wrap-up is that queue's)."""
        for queue in self.campaign.queues:
            if queue in agent.queues:
                return queue
        return min(agent.queues) if agent.queues else f"campaign:{self.name}"

    @staticmethod
    def _screen(lead: Mapping[str, Any]) -> dict[str, Any]:
        """What the agent's screen shows of a lead, besides its number and attempt."""
        return {
            "timezone": lead.get("timezone"),
            "fields": dict(lead.get("fields") or {}),
            "last_outcome": lead.get("last_outcome"),
        }

    def _tag(self, a: _Attempt) -> dict[str, Any]:
        return {"campaign": self.name, "number": a.lead["number"], "attempt": a.attempt}

    def _row(self, a: _Attempt, state: str) -> dict[str, Any]:
        return {
            "id": a.id,
            "campaign": self.name,
            "number": a.lead["number"],
            "attempt": a.attempt,
            "state": state,
            "outcome": a.outcome,
            "dialed_at": a.dialed_at,
            "data": {"channel": a.channel_id, **a.data},
        }

    # --- figures ---------------------------------------------------------------------

    def figures(self) -> dict[str, Any]:
        """Live figures: calls in flight, and each window's live calls, abandons and rate."""
        return {
            "campaign": self.name,
            "state": self.state,
            "in_flight": len(self._flight),
            "presented": len(self.desk.shown) if self.desk is not None else 0,
            "windows": [_window(w) for w in self.ledger.figures(self.clock())],
        }


def silence_heard(amd_cause: str) -> float:
    """Seconds of silence AMD heard after the greeting before it said HUMAN: its AMDCAUSE is
    ``HUMAN-<silence ms>-<after_greeting_silence ms>`` (Asterisk 22's app_amd); the
    configured default when it says otherwise."""
    found = re.fullmatch(r"HUMAN-(\d+)-\d+", amd_cause)
    return int(found.group(1)) / 1000.0 if found else AFTER_GREETING_SILENCE


def _window(w: WindowFigures) -> dict[str, Any]:
    return {"window": w.kind, "live": w.live, "abandoned": w.abandoned, "rate": w.rate}


__all__ = [
    "AMD_CONTEXT",
    "CAMPAIGN_STATES",
    "CampaignRunner",
    "Host",
    "attempt_channel",
    "policy_for",
    "silence_heard",
]
