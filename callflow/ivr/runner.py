"""Run each call through its flow: the live driver of :class:`~callflow.flow.machine.FlowMachine`.

The machine decides (sans-I/O); this module only performs its actions on a live
:class:`~callflow.call.primitives.Call` and feeds the results back, writing every step to the event
log. Anything that reaches a dial string (transfer targets, mailbox names) is checked here
first, since flow variables may hold what a caller typed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from callflow.ari.errors import AriError, AriHttpError
from callflow.ari.events import ChannelDtmfReceived, Event, PlaybackFinished, PlaybackStarted
from callflow.call.primitives import Call, CallEnded, CallInterrupted, CallLost, Recovery
from callflow.call.recovery import Plan
from callflow.callback.live import CallbackService
from callflow.flow import machine as fm
from callflow.flow.model import Flow
from callflow.flow.spec import ENDPOINT, EXTENSION, MAILBOX
from callflow.ivr.registry import FlowRegistry
from callflow.queue.agents import QueueError
from callflow.queue.live import QueueService
from callflow.store import SqlStore

log = logging.getLogger(__name__)

# The checker refuses the same in a flow's literal text (spec: one home for both).
_ENDPOINT, _EXTENSION, _MAILBOX = ENDPOINT, EXTENSION, MAILBOX


# What a caller taken back after a restart hears when the flow has no on_restart node.
RESTART_APOLOGY = ("sound:im-sorry",)
# How far back recovery looks for calls that never got an end in the event log.
RECOVERY_WINDOW = dt.timedelta(days=1)


def _ending(exc: CallEnded) -> tuple[str, dt.datetime | None]:
    """The outcome the event log records for a call that ended this way, and when."""
    if isinstance(exc, CallLost):
        return "lost", dt.datetime.fromtimestamp(exc.at, dt.UTC)
    if isinstance(exc, CallInterrupted):
        return exc.reason, None
    return "caller_hangup", None


def _failed(exc: AriError) -> str:
    """The outcome of a call that Asterisk refused, or did not answer, a command it needed
    (the client has already retried what is safe to retry): it cannot go on, and says why."""
    return f"failed:ari:{exc.status}" if isinstance(exc, AriHttpError) else "failed:ari"


def _caller_id(number: str) -> str | None:
    """The caller's number for the callee's display, if it is a plain phone number."""
    return number if re.fullmatch(r"\+?[0-9]{1,20}", number) else None


@dataclass
class _LiveContext:
    """What the flow machine asks of the world: the time, and live queue figures."""

    clock: Callable[[], dt.datetime]
    queues: QueueService | None

    def now(self) -> dt.datetime:
        return self.clock()

    def queue_figures(self, queue: str) -> fm.QueueFigures:
        return self.queues.figures(queue) if self.queues else fm.QueueFigures()


class FlowRunner:
    """The call handler that walks a call through the flow for the number it dialled."""

    def __init__(
        self,
        flows: FlowRegistry,
        store: SqlStore,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        queues: QueueService | None = None,
        callbacks: CallbackService | None = None,
    ) -> None:
        self.flows = flows
        self.store = store
        self.queues = queues
        self.callbacks = callbacks
        self.context = _LiveContext(clock or (lambda: dt.datetime.now(dt.UTC)), queues)

    async def __call__(self, call: Call) -> None:
        recovery = call.recovery
        if recovery is not None and recovery.kind == "conversation":
            await self._keep_talking(call, recovery)
            return
        dialled = call.dialled
        if recovery is not None and recovery.entry is not None:
            dialled = str(recovery.entry.get("dialled") or dialled)
        flow = self.flows.flow_for(dialled)
        if flow is None and recovery is not None:
            log.warning("call %s: taken back, but no flow serves %r now", call.id, dialled)
            self.store.append("call.end", call.id, {"outcome": "recovered_no_flow"})
            await call.play(list(RESTART_APOLOGY))
            return
        if flow is None:
            log.warning("call %s: no flow serves %r", call.id, call.dialled)
            self.store.append("call.rejected", call.id, {"dialled": call.dialled})
            await call.answer()
            await call.play(["sound:ss-noservice"])
            return
        machine = fm.FlowMachine(
            flow,
            entry=dialled,
            call_id=call.id,
            call_vars={"caller_id": call.caller_number, "endpoint": call.endpoint},
            context=self.context,
        )
        resume: Mapping[str, object] | None = None
        at: str | None = None
        if recovery is None:
            self.store.append(
                "call.start",
                call.id,
                {"caller": call.caller_number, "dialled": dialled, "flow": flow.path},
            )
        else:
            resume, at = self._resume_point(call, flow, recovery)
        call.on_event = lambda event: self._log_event(call, event)
        call.on_prompt = lambda playbacks: self._log_prompt(call, playbacks)
        outcome = "unknown"
        end_at: dt.datetime | None = None
        try:
            if recovery is None:
                await call.answer()
            elif at is None:
                # A caller taken back from a former life of callflow, with no restart node
                # of the flow's own: an apology, then the flow from its entry.
                await call.play(list(RESTART_APOLOGY))
            action = machine.start(at)
            self._log_steps(machine)
            while not isinstance(action, fm.Hangup | fm.Finish):
                self.store.append(
                    "flow.wait", call.id, {"node": machine.current, "action": type(action).__name__}
                )
                if resume is not None and isinstance(action, fm.EnterQueue):
                    result: fm.Result = await self._requeue(call, action, machine.current, resume)
                    resume = None
                else:
                    result = await self._perform(call, action, machine.current)
                action = machine.send(result)
                self._log_steps(machine)
            if isinstance(action, fm.Hangup):
                await call.play(action.media)
                outcome = f"hangup:{action.reason}"
            else:
                outcome = f"finish:{action.reason}"
        except CallEnded as exc:
            if machine.current is not None:  # started (hang-ups before answer: not yet)
                machine.send(fm.CallerHangup())
                self._log_steps(machine)
            outcome, end_at = _ending(exc)
            raise
        except AriError as exc:
            outcome = _failed(exc)
            raise
        finally:
            data: dict[str, object] = {"outcome": outcome}
            if recovery is not None:
                data["recovered"] = recovery.kind
            self.store.append("call.end", call.id, data, at=end_at)
            if self.queues is not None:
                self.queues.call_ended(call.id)
            log.info("call %s: ended (%s)", call.id, outcome)

    def _resume_point(
        self, call: Call, flow: Flow, recovery: Recovery
    ) -> tuple[Mapping[str, object] | None, str | None]:
        """Where a caller taken back after a restart of callflow resumes: the queue node
        they waited in (with their stored entry), or the flow's restart node."""
        entry = recovery.entry
        node = str(entry.get("node") or "") if entry is not None else ""
        if recovery.kind == "queue" and entry is not None and node in flow.nodes:
            where: str | None = node
            resume: Mapping[str, object] | None = entry
        else:
            where, resume = flow.on_restart, None
        self.store.append(
            "call.recovered",
            call.id,
            {"kind": recovery.kind, "node": where, "caller": call.caller_number},
        )
        log.info("call %s: taken back after a restart (%s, at %s)", call.id, recovery.kind, where)
        return resume, where

    async def _requeue(
        self, call: Call, action: fm.EnterQueue, node: str | None, resume: Mapping[str, object]
    ) -> fm.Result:
        """Back into the line the caller was in, without the queue's greeting again."""
        if self.queues is None:
            return fm.Failed("queue_unavailable")
        return await self.queues.serve(call, action, node=node, resume=resume)

    async def _keep_talking(self, call: Call, recovery: Recovery) -> None:
        """A caller who was talking to an agent when callflow stopped goes on talking."""
        assert recovery.leg is not None and recovery.bridge is not None
        self.store.append(
            "call.recovered",
            call.id,
            {"kind": "conversation", "leg": recovery.leg.id, "caller": call.caller_number},
        )
        outcome, end_at = "completed", None
        try:
            if self.queues is not None:
                await self.queues.resume_conversation(call, recovery.leg, recovery.bridge)
            else:
                await call.keep_talking(recovery.leg, recovery.bridge)
        except CallEnded as exc:
            outcome, end_at = _ending(exc)
            raise
        except AriError as exc:
            outcome = _failed(exc)
            raise
        finally:
            self.store.append(
                "call.end", call.id, {"outcome": outcome, "recovered": "conversation"}, at=end_at
            )

    def waiting_entries(self) -> list[dict[str, Any]]:
        """The queue entries in the store (callers who were waiting when we last stopped):
        this node's, where several share the store (the others' callers are theirs)."""
        return self.store.queue_entries(mine=True)

    def playbacks_in_progress(self, call_id: str) -> list[str]:
        """The playbacks a former life asked for on this call and never saw finish, in the
        order it asked: the first may be playing still, the others queued behind it.

        ``call.prompt`` is written before Asterisk is asked, so a life that died in the
        milliseconds between asking and hearing back is covered (``call.playback.started``
        alone is for logs written before that event existed)."""
        playing: dict[str, None] = {}
        for event in self.store.events(call_id=call_id):
            if event.kind == "call.prompt":
                asked = event.data.get("playbacks")
                if isinstance(asked, list):
                    playing.update((p, None) for p in asked if isinstance(p, str))
                continue
            playback = event.data.get("playback")
            if not isinstance(playback, str):
                continue
            if event.kind == "call.playback.started":
                playing[playback] = None
            elif event.kind == "call.playback":
                playing.pop(playback, None)
        return list(playing)

    def settle(self, plan: Plan, alive: set[str], lost_at: float | None) -> None:
        """Record the ends of calls the last process or Asterisk lost: their queue entries
        leave the store, and each call without an end gets one, at its last known moment."""
        for entry in plan.lost:
            entry_id = str(entry.get("id"))
            self.store.delete_queue_entry(entry_id)
            self.store.append(
                "queue.exit", entry_id, {"queue": entry.get("queue"), "reason": "lost"}
            )
        since = dt.datetime.now(dt.UTC) - RECOVERY_WINDOW
        for call_id, last_seen in self.store.unended_calls(since, mine=True).items():
            if call_id in alive:
                continue
            self.store.append("call.end", call_id, {"outcome": "lost"}, at=last_seen)

    def _log_prompt(self, call: Call, playbacks: Sequence[str]) -> None:
        """A prompt's playback ids, before Asterisk is asked to play them: a restarted
        callflow stops what its former life left playing (:meth:`playbacks_in_progress`)."""
        self.store.append("call.prompt", call.id, {"playbacks": list(playbacks)})

    def _log_event(self, call: Call, event: Event) -> None:
        """Keys and finished prompts go to the event log, for tests and troubleshooting."""
        if isinstance(event, ChannelDtmfReceived):
            self.store.append("call.dtmf", call.id, {"digit": event.digit})
        elif isinstance(event, PlaybackStarted):
            # The id too: a restarted callflow stops what its former life left playing.
            playback = event.playback
            self.store.append(
                "call.playback.started",
                call.id,
                {"media": playback.media_uri, "playback": playback.id},
            )
        elif isinstance(event, PlaybackFinished):
            playback = event.playback
            self.store.append(
                "call.playback",
                call.id,
                {"media": playback.media_uri, "state": playback.state, "playback": playback.id},
            )

    def _log_steps(self, machine: fm.FlowMachine) -> None:
        for step in machine.pop_steps():
            self.store.append(
                "flow.step",
                step.call_id,
                {
                    "node": step.node,
                    "type": step.node_type,
                    "input": step.input,
                    "outcome": step.outcome,
                },
                at=step.at,
            )

    async def _perform(self, call: Call, action: fm.Action, node: str | None = None) -> fm.Result:
        if isinstance(action, fm.Play):
            digit = await call.play(action.media, barge_in=action.barge_in)
            if digit is None:
                return fm.PlayDone()
            call.digits.popleft()  # the machine counts it as input itself
            return fm.PlayInterrupted(digit)
        if isinstance(action, fm.Collect):
            await call.play(action.media, barge_in=action.barge_in)
            got = await call.collect(
                max_digits=action.max_length,
                terminator=action.terminator or "",
                first_timeout=action.timeout,
                inter_digit_timeout=action.digit_timeout,
            )
            if not got.digits and not got.terminated:
                return fm.Timeout()
            return fm.Digits(got.digits, terminated=got.terminated)
        if isinstance(action, fm.Transfer):
            return await self._transfer(call, action)
        if isinstance(action, fm.Voicemail):
            return await self._voicemail(call, action)
        if isinstance(action, fm.EnterQueue):
            await call.play(action.media)
            if self.queues is None:
                # No queues configured: the flow's on_failure path, not silence.
                return fm.Failed("queue_unavailable")
            return await self.queues.serve(call, action, node=node)
        if isinstance(action, fm.AgentChange):
            return self._agent_change(call, action)
        if isinstance(action, fm.SurveyAnswer):
            return await self._survey_answer(call, action)
        if isinstance(action, fm.RequestCallback):
            if self.callbacks is None:
                return fm.Failed("no_callbacks")
            return await self.callbacks.request_from_call(call, action)
        raise TypeError(f"unexpected action {action!r}")

    async def _survey_answer(self, call: Call, action: fm.SurveyAnswer) -> fm.Result:
        """Record a survey answer with the agent and queue of the call's last conversation
        (none if the caller never talked to one), for first-call resolution by agent."""
        connects = await self.store.events_async(call_id=call.id, kind="queue.connect")
        last = connects[-1].data if connects else {}
        self.store.append(
            "survey.answer",
            call.id,
            {
                "survey": action.survey,
                "question": action.question,
                "value": action.value,
                "agent": last.get("agent"),
                "queue": last.get("queue"),
                "caller": call.caller_number,
            },
        )
        return fm.Completed()

    def _agent_change(self, call: Call, action: fm.AgentChange) -> fm.Result:
        """Feature codes: the agent is the one whose phone is calling, and only calls that
        came in through the agents' dialplan context (``entry == "agent"``) may change an
        agent's state, so a caller from outside cannot log anyone in or out."""
        if self.queues is None:
            return fm.Failed("no_queues")
        agent = self.queues.agent_for_endpoint(call.endpoint)
        if call.entry != "agent" or agent is None:
            log.warning("call %s: %s is no agent's phone", call.id, call.endpoint)
            return fm.Failed("not_an_agent")
        try:
            reason = action.reason or "agent"  # a feature code with no reason of its own
            state = self.queues.change_agent(agent, action.action, reason).value
        except QueueError as exc:
            log.info("agent %s: %s refused: %s", agent, action.action, exc)
            return fm.Failed("refused")
        log.info("agent %s: %s from %s; now %s", agent, action.action, call.endpoint, state)
        return fm.AgentChanged(agent, state)

    async def _transfer(self, call: Call, action: fm.Transfer) -> fm.Result:
        if action.endpoint is not None:
            target = action.endpoint
            if not _ENDPOINT.fullmatch(target):
                log.warning("call %s: refusing transfer to invalid endpoint %r", call.id, target)
                return fm.Failed("invalid_target")
            await call.play(action.media)
            outcome = await call.connect(
                target, ring_timeout=action.timeout, caller_id=_caller_id(call.caller_number)
            )
            return fm.Completed("talked") if outcome == "completed" else fm.Failed(outcome)
        else:
            extension = action.extension or ""
            if not _EXTENSION.fullmatch(extension):
                log.warning("call %s: refusing transfer to extension %r", call.id, extension)
                return fm.Failed("invalid_target")
            await call.play(action.media)
            await call.continue_in_dialplan(action.context, extension)
        return fm.Completed("handed_to_dialplan")

    async def _voicemail(self, call: Call, action: fm.Voicemail) -> fm.Result:
        mailbox = _MAILBOX.fullmatch(action.mailbox)
        if mailbox is None:
            log.warning("call %s: refusing mailbox %r", call.id, action.mailbox)
            return fm.Failed("invalid_mailbox")
        box, context = mailbox.group(1), mailbox.group(2) or "default"
        await call.play(action.media)
        at = dt.datetime.now(dt.UTC)
        # ARI makes no folders for a recording, so the mailbox goes into a flat name.
        name = f"voicemail-{context}-{box}-{at:%Y%m%dT%H%M%S}-{call.id.replace('.', '_')}"
        try:
            kept = await call.record(name, max_duration=action.max_length, beep=action.beep)
        except AriError as exc:
            log.error("call %s: cannot record voicemail: %s", call.id, exc)
            return fm.Failed("recording_failed")
        self.store.append(
            "voicemail.message",
            call.id,
            {"mailbox": action.mailbox, "caller": call.caller_number, "recording": name, "at": at},
        )
        return fm.Completed(name) if kept else fm.Failed("recording_failed")
