"""Run each call through its flow: the live driver of :class:`~callflow.flow.machine.FlowMachine`.

The machine decides (sans-I/O); this module only performs its actions on a live
:class:`~callflow.app.call.Call` and feeds the results back, writing every step to the event
log. Anything that reaches a dial string (transfer targets, mailbox names) is checked here
first, since flow variables may hold what a caller typed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from callflow.app.call import Call, CallerHangup
from callflow.ari.errors import AriError
from callflow.ari.events import ChannelDtmfReceived, Event, PlaybackFinished, PlaybackStarted
from callflow.engine.registry import FlowRegistry
from callflow.flow import machine as fm
from callflow.queue.agents import QueueError
from callflow.queue.live import QueueService
from callflow.store import SqliteStore

log = logging.getLogger(__name__)

_ENDPOINT = re.compile(r"(?:PJSIP|SIP|IAX2)/[A-Za-z0-9_.+-]{1,64}")
_EXTENSION = re.compile(r"[0-9*#+]{1,32}|[A-Za-z0-9_-]{1,32}")
_MAILBOX = re.compile(r"([0-9A-Za-z_-]{1,32})(?:@([0-9A-Za-z_-]{1,32}))?")


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
        store: SqliteStore,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        queues: QueueService | None = None,
    ) -> None:
        self.flows = flows
        self.store = store
        self.queues = queues
        self.context = _LiveContext(clock or (lambda: dt.datetime.now(dt.UTC)), queues)

    async def __call__(self, call: Call) -> None:
        flow = self.flows.flow_for(call.dialled)
        if flow is None:
            log.warning("call %s: no flow serves %r", call.id, call.dialled)
            self.store.append("call.rejected", call.id, {"dialled": call.dialled})
            await call.answer()
            await call.play(["sound:ss-noservice"])
            return
        machine = fm.FlowMachine(
            flow,
            entry=call.dialled,
            call_id=call.id,
            call_vars={"caller_id": call.caller_number, "endpoint": call.endpoint},
            context=self.context,
        )
        self.store.append(
            "call.start",
            call.id,
            {"caller": call.caller_number, "dialled": call.dialled, "flow": flow.path},
        )
        call.on_event = lambda event: self._log_event(call, event)
        outcome = "unknown"
        try:
            await call.answer()
            action = machine.start()
            self._log_steps(machine)
            while not isinstance(action, fm.Hangup | fm.Finish):
                self.store.append(
                    "flow.wait", call.id, {"node": machine.current, "action": type(action).__name__}
                )
                result = await self._perform(call, action)
                action = machine.send(result)
                self._log_steps(machine)
            if isinstance(action, fm.Hangup):
                await call.play(action.media)
                outcome = f"hangup:{action.reason}"
            else:
                outcome = f"finish:{action.reason}"
        except CallerHangup:
            if not machine.finished:
                machine.send(fm.CallerHangup())
                self._log_steps(machine)
            outcome = "caller_hangup"
            raise
        finally:
            self.store.append("call.end", call.id, {"outcome": outcome})

    def _log_event(self, call: Call, event: Event) -> None:
        """Keys and finished prompts go to the event log, for tests and troubleshooting."""
        if isinstance(event, ChannelDtmfReceived):
            self.store.append("call.dtmf", call.id, {"digit": event.digit})
        elif isinstance(event, PlaybackStarted):
            self.store.append("call.playback.started", call.id, {"media": event.playback.media_uri})
        elif isinstance(event, PlaybackFinished):
            playback = event.playback
            self.store.append(
                "call.playback", call.id, {"media": playback.media_uri, "state": playback.state}
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

    async def _perform(self, call: Call, action: fm.Action) -> fm.Result:
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
            return await self.queues.serve(call, action)
        if isinstance(action, fm.AgentChange):
            return self._agent_change(call, action)
        raise TypeError(f"unexpected action {action!r}")

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
