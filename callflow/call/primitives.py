"""One live call over ARI: answer, play with barge-in, collect digits, hang up.

A :class:`Call` is driven from the call's own task and reads that channel's ordered event
queue itself, so there is no second task per call and no lock. Keys pressed while nothing
is collecting are kept (type-ahead) for the next prompt or collection. Once the caller hangs
up, every primitive raises :class:`CallerHangup` and the call's task unwinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from callflow.ari import errors as ari_errors
from callflow.ari.dispatch import EventQueue
from callflow.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelHold,
    ChannelLeftBridge,
    ChannelUnhold,
    Event,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
)
from callflow.ari.models import Channel
from callflow.ari.rest import AriClient, HangupReason, TerminateOn
from callflow.call.ids import LIFE

log = logging.getLogger(__name__)


class CallEnded(Exception):
    """The call's task should unwind now; the subclass says why.

    ::

        CallEnded
        ├── CallerHangup      the caller's channel is gone
        │   └── CallLost      ... because Asterisk lost it (a crash, a restart, a stop)
        └── CallInterrupted   the channel is still up, but callflow lets go of it (shutdown)
    """


class CallerHangup(CallEnded):
    """The caller's channel is gone; the call's task should end."""


class CallLost(CallerHangup):
    """Asterisk lost the channel while callflow was disconnected (it crashed or restarted),
    or hung it up as it stopped.

    ``at`` is the last moment the channel was known to be up: the true end of the call,
    not the moment we found out."""

    def __init__(self, call_id: str, at: float) -> None:
        super().__init__(call_id)
        self.at = at


class CallInterrupted(CallEnded):
    """callflow lets go of a live caller (``reason``: ``shutdown``); the channel is still
    up, so the one who raised this decides what the caller hears last."""

    def __init__(self, call_id: str, reason: str) -> None:
        super().__init__(call_id)
        self.reason = reason


@dataclass
class Leg:
    """An outgoing channel of this call (an agent, a transfer target) and what became of it."""

    id: str
    endpoint: str
    answered: bool = False
    ended: bool = False
    destroyed: bool = False  # ChannelDestroyed seen: ``cause`` is final
    cause: int = 0  # Q.850 cause when it ended before answering
    hold: float = 0.0  # seconds the leg's phone held the call (ChannelHold to Unhold)
    held_since: float | None = None  # time.monotonic() of a hold not yet over

    def end_hold(self) -> None:
        """A hold is over (resumed, or the leg ended): its seconds count."""
        if self.held_since is not None:
            self.hold += time.monotonic() - self.held_since
            self.held_since = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Nudge(Event):
    """Not from Asterisk: wakes a call's task because something it waits on changed
    (the queue has an agent for it, its time in the queue is up...)."""

    type: str = "CallflowNudge"


# Past a recording's max_duration, how long to wait for its RecordingFinished before asking.
RECORDING_SLACK = 15.0
# Q.850 causes of an unanswered leg, in the words the flows and the queue use.
_UNANSWERED = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected"}
# How long to wait for an ended leg's ChannelDestroyed (and so its cause).
LEG_CAUSE_WAIT = 2.0
# Waiting this long for a playback with no PlaybackFinished of ours, ask Asterisk whether the
# playbacks still exist: a missed event must never freeze a call.
PLAYBACK_WATCHDOG = 30.0
# A request that could not reach Asterisk at all (refused, reset: it crashed or is
# restarting) waits this long for the resync's word on its call before failing it: lost
# with a restarted Asterisk, hung up when its channel is gone (service.Service._resync).
OUTAGE_VERDICT = 20.0

Attach = Callable[[str, EventQueue], None]
"""Route a new channel's events into a call's queue (``Dispatcher.attach_channel``)."""


def prompt_ids(items: int) -> list[str]:
    """Playback ids for the items of one prompt: ``pb-<token>-<index>-<items>``, so that from
    any one of them the rest of its prompt can be found (:func:`rest_of_prompt`)."""
    token = uuid.uuid4().hex
    return [f"pb-{token}-{index}-{items}" for index in range(items)]


def prompt_id_together(items: int) -> str:
    """The id of one playback holding a whole prompt of ``items`` items,
    ``pb-<token>-all-<items>`` (its rest is itself: one stop ends it all)."""
    return f"pb-{uuid.uuid4().hex}-all-{items}"


def rest_of_prompt(playback_id: str) -> list[str]:
    """This playback and the items of its prompt after it (a restarted callflow stops them:
    Asterisk plays what a former life queued, and runs no later command until it ends)."""
    parts = playback_id.rsplit("-", 2)
    if len(parts) != 3 or not (parts[1].isdigit() and parts[2].isdigit()):
        return [playback_id]
    token, index, items = parts[0], int(parts[1]), min(int(parts[2]), 1000)
    return [playback_id, *(f"{token}-{i}-{items}" for i in range(index + 1, items))]


@dataclass(frozen=True, slots=True)
class Recovery:
    """How a call taken back after a restart of callflow resumes (see app/recovery.py).

    ``queue``: back into the queue ``entry`` (the store's queue entry) describes;
    ``conversation``: the caller goes on talking to ``leg`` in ``bridge``;
    ``restart``: the caller was elsewhere in a flow and goes to its restart node.
    """

    kind: Literal["queue", "conversation", "restart"]
    entry: Mapping[str, Any] | None = None
    leg: Channel | None = None
    bridge: str | None = None


@dataclass(frozen=True)
class Collected:
    """Digits a caller typed, and whether the terminator key ended them."""

    digits: str
    terminated: bool
    timed_out: bool


class Call:
    """The live side of one caller's channel in our Stasis app."""

    def __init__(
        self,
        ari: AriClient,
        start: StasisStart,
        events: EventQueue,
        *,
        app: str = "callflow",
        attach: Attach | None = None,
    ) -> None:
        self.ari = ari
        self.app = app
        self._attach = attach
        self.legs: dict[str, Leg] = {}
        self.start = start
        self.events = events
        self.id = start.channel.id
        self.caller_number = start.channel.caller.number
        self.dialled = start.args[1] if len(start.args) > 1 else start.channel.dialplan.exten
        self.entry = start.args[0] if start.args else ""
        # The device that placed the call: the channel name without its sequence suffix
        # (PJSIP/agent1-00000014 -> PJSIP/agent1). Asterisk names it after the endpoint
        # that authenticated, so it identifies an agent's phone.
        self.endpoint = start.channel.name.rsplit("-", 1)[0]
        self.digits: deque[str] = deque()
        self.hung_up = False
        self.lost_at: float | None = None  # Asterisk lost the channel: away, or as it stopped
        self.interrupted: str | None = None  # callflow lets go of the caller (shutdown)
        self.handed_off = False  # left our app for the dialplan: not ours to hang up
        self.playbacks_finished: list[str] = []
        # The playbacks play() is waiting on; after a reconnect, those Asterisk no longer
        # has are finished (the service injects their PlaybackFinished).
        self.playing: set[str] = set()
        self.playback_watchdog = PLAYBACK_WATCHDOG
        # (terminator, deadline): an input's terminator still expected after a full entry.
        self._late_terminator: tuple[str, float] | None = None
        self.recordings_done: dict[str, str] = {}  # name -> "finished" | "failed"
        self.on_event: Callable[[Event], None] | None = None  # e.g. to write the event log
        # Told a prompt's playback ids before Asterisk is asked to play them (the event log
        # keeps them, so that a restarted callflow can stop what its former life left
        # playing, even when that life died before Asterisk said the prompt started).
        self.on_prompt: Callable[[Sequence[str]], None] | None = None
        self.recovery: Recovery | None = None  # taken back after a restart of callflow
        self.recording: str | None = None  # the live recording record() waits on
        self._bridges_left: set[str] = set()  # Asterisk said the channel left these

    def __repr__(self) -> str:
        return f"Call({self.id!r}, caller={self.caller_number!r}, dialled={self.dialled!r})"

    # -- event reading ------------------------------------------------------------------

    def _absorb(self, event: Event) -> None:
        """Book-keeping every event gets, whoever is waiting."""
        if self.on_event is not None:
            self.on_event(event)
        channel = getattr(event, "channel", None)
        if channel is not None and channel.id in self.legs:
            leg = self.legs[channel.id]
            if isinstance(event, StasisStart):
                leg.answered = True
            elif isinstance(event, ChannelHold):
                if leg.held_since is None:
                    leg.held_since = time.monotonic()
            elif isinstance(event, ChannelUnhold):
                leg.end_hold()
            elif isinstance(event, ChannelHangupRequest | ChannelDestroyed | StasisEnd):
                leg.ended = True
                leg.end_hold()
                if isinstance(event, ChannelDestroyed):
                    leg.cause = event.cause
                    leg.destroyed = True
            return
        if isinstance(event, ChannelDtmfReceived):
            if not self._is_late_terminator(event.digit):
                self.digits.append(event.digit)
        elif isinstance(event, PlaybackFinished):
            self.playbacks_finished.append(event.playback.id)
        elif isinstance(event, RecordingFinished):
            self.recordings_done[event.recording.name] = "finished"
        elif isinstance(event, RecordingFailed):
            self.recordings_done[event.recording.name] = "failed"
        elif isinstance(event, ChannelLeftBridge):
            self._bridges_left.add(event.bridge.id)
        elif isinstance(event, ChannelHangupRequest | ChannelDestroyed | StasisEnd):
            stopping = isinstance(event, ChannelHangupRequest) and event.asterisk_stopping
            if stopping and not self.hung_up:
                # Asterisk hangs every call up as it stops: the call is lost with it, as in
                # a crash, and not the caller's doing (no abandon in the KPIs).
                stamp = event.timestamp
                self.lost_at = stamp.timestamp() if stamp is not None else time.time()
            self.hung_up = True

    def left_bridge(self, bridge_id: str) -> bool:
        """Whether Asterisk said the channel left ``bridge_id`` since the last time this
        was asked of that bridge (the word is taken: a channel may be put back in)."""
        if bridge_id in self._bridges_left:
            self._bridges_left.discard(bridge_id)
            return True
        return False

    def ended(self) -> CallEnded | None:
        """Why this call's task must unwind now, if it must."""
        if self.lost_at is not None:
            return CallLost(self.id, self.lost_at)
        if self.hung_up:
            return CallerHangup(self.id)
        if self.interrupted is not None:
            return CallInterrupted(self.id, self.interrupted)
        return None

    def _check(self) -> None:
        if (ended := self.ended()) is not None:
            raise ended

    async def _next(self, timeout: float | None) -> Event | None:
        """The next event of this channel, or None on timeout; raises once the call ended."""
        self._check()
        try:
            async with asyncio.timeout(timeout):
                event = await self.events.get()
        except TimeoutError:
            return None
        if event is None:
            # The queue closes after StasisEnd (already absorbed: hung_up is set), or when the
            # dispatcher stops: then the channel may well be up, and it is not a hang-up.
            if not self.hung_up and self.interrupted is None:
                self.interrupted = "detached"
            self._check()
            raise CallInterrupted(self.id, "detached")
        self._absorb(event)
        self._check()
        return event

    def lost(self, at: float) -> None:
        """Asterisk no longer has this channel (found at a resync): end the call as lost,
        at ``at``, the last moment it was known to be up."""
        if not self.hung_up:
            self.hung_up = True
            self.lost_at = at
        self.nudge()

    def gone(self) -> None:
        """The channel ended while we were not listening (found at a resync)."""
        self.hung_up = True
        self.nudge()

    def interrupt(self, reason: str) -> None:
        """Make the call's task unwind at its next wait (from another task): callflow lets go
        of this caller, whose channel stays up for whoever handles the interruption."""
        if self.interrupted is None:
            self.interrupted = reason
        self.nudge()

    def resume(self) -> None:
        """Clear an interruption, so that the caller can still be told goodbye."""
        self.interrupted = None

    def nudge(self) -> None:
        """Wake this call's task (from another task); it re-checks what it waits on."""
        self.events.put(Nudge())

    async def next_event(self, timeout: float | None) -> Event | None:
        """Read (and book-keep) one event of this call, or None after ``timeout`` seconds."""
        return await self._next(timeout)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """Read events until ``predicate()`` holds (True) or the timeout passes (False)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            await self._next(remaining)
        return True

    # -- primitives ---------------------------------------------------------------------

    async def channel_request(
        self,
        request: Awaitable[object],
        *,
        gone: tuple[type[ari_errors.AriError], ...] = (
            ari_errors.NotFound,
            ari_errors.NotInStasis,
        ),
    ) -> None:
        """Run an ARI request; a channel that vanished under us (``gone``: the errors that
        say so for this request) is the caller hanging up, and a request that could not
        reach Asterisk ends as the resync decides (:data:`OUTAGE_VERDICT`)."""
        try:
            await request
        except gone as exc:
            self.hung_up = True
            raise self.ended() or CallerHangup(self.id) from exc
        except ari_errors.AsteriskUnreachable as exc:
            if isinstance(exc.__cause__, TimeoutError):
                raise  # a slow Asterisk, not a gone one: the call's fate is not in doubt
            # Asterisk went away under the request: once it answers again, the resync says
            # whether this call survived, and ending the call raises here (lost, hung up).
            await self.wait_for(lambda: False, timeout=OUTAGE_VERDICT)
            raise

    async def answer(self) -> None:
        """Answer the channel."""
        await self.channel_request(self.ari.channels.answer(self.id))

    async def play(
        self,
        media: Sequence[str],
        *,
        barge_in: bool = False,
        until: Callable[[], bool] | None = None,
        together: bool = False,
    ) -> str | None:
        """Play media in order; with barge-in, a key press silences all of it and is returned.

        The key stays in the type-ahead buffer so a following collection counts it.
        ``until`` stops the playback early as soon as it holds (checked on each event).

        Each item is its own ARI playback, all queued at once so that no gap opens between
        them; stopping cancels the queued items, last first, then the one playing, and the
        next prompt starts right after the key. (IVR prompts keep this form: their items are
        also ``digits:`` and ``number:`` media, for which a stop of one playback of several
        was not checked to end it whole; an earlier note here said it only skipped to the
        next item.)

        ``together``: the items go in one ARI playback instead (one request where each item
        costs one otherwise), for prompts said often, such as queue announcements. On
        Asterisk 22.10 one stop ends such a playback of ``sound:`` items whole, whether it
        is queued, playing or moving to its next item, on a channel alone or in a holding
        bridge (checked with ARI).
        """
        if barge_in and self.digits:
            return self.digits[0]
        if not media:
            return None
        playback_ids = [prompt_id_together(len(media))] if together else prompt_ids(len(media))
        if self.on_prompt is not None:
            self.on_prompt(playback_ids)
        keys_before = len(self.digits)
        self.playing.update(playback_ids)
        try:
            if together:
                await self.channel_request(
                    self.ari.channels.play(self.id, list(media), playback_id=playback_ids[0])
                )
            else:
                for playback_id, item in zip(playback_ids, media, strict=True):
                    await self.channel_request(
                        self.ari.channels.play(self.id, item, playback_id=playback_id)
                    )
            await self._wait_playbacks(
                playback_ids,
                lambda: (barge_in and len(self.digits) > keys_before) or bool(until and until()),
            )
        finally:
            if not self.hung_up:
                for playback_id in reversed(playback_ids):
                    if playback_id not in self.playbacks_finished:
                        with contextlib.suppress(ari_errors.AriError):
                            await self.ari.playbacks.stop(playback_id)
            self.playing.difference_update(playback_ids)
        if barge_in and len(self.digits) > keys_before:
            return self.digits[keys_before]
        return None

    async def _wait_playbacks(self, playback_ids: Sequence[str], stop: Callable[[], bool]) -> None:
        """Read events until every playback finished or ``stop()`` holds.

        After ``playback_watchdog`` seconds with none of them finishing, ask Asterisk for
        each: one it no longer has (404) finished while its event was lost.
        """
        finished = self.playbacks_finished

        def done() -> int:
            return sum(p in finished for p in playback_ids)

        before = 0

        def progressed() -> bool:
            return done() > before or stop()

        while True:
            before = done()
            if before == len(playback_ids) or stop():
                return
            if await self.wait_for(progressed, timeout=self.playback_watchdog):
                continue
            for playback_id in playback_ids:
                if playback_id in finished:
                    continue
                try:
                    await self.ari.playbacks.get(playback_id)
                except ari_errors.NotFound:
                    log.warning(
                        "call %s: playback %s is gone without a PlaybackFinished; "
                        "taking it as finished",
                        self.id,
                        playback_id,
                    )
                    finished.append(playback_id)
                except ari_errors.AriError as exc:
                    log.info("call %s: cannot check playback %s: %s", self.id, playback_id, exc)

    async def collect(
        self,
        *,
        max_digits: int,
        terminator: str = "#",
        first_timeout: float = 5.0,
        inter_digit_timeout: float = 3.0,
    ) -> Collected:
        """Collect keys until the terminator, ``max_digits`` keys, or a timeout.

        Keys typed ahead (during a prompt) count. The terminator is not part of the digits.
        A terminator pressed after an entry that is already complete (``max_digits`` keys)
        still belongs to it if it comes within ``inter_digit_timeout``: it is dropped, not
        kept for the next node.
        """
        got: list[str] = []
        timeout = first_timeout
        while True:
            while self.digits:
                key = self.digits.popleft()
                if terminator and key == terminator:
                    return Collected("".join(got), terminated=True, timed_out=False)
                got.append(key)
                if len(got) >= max_digits:
                    if terminator:
                        self._expect_terminator(terminator, inter_digit_timeout)
                    return Collected("".join(got), terminated=False, timed_out=False)
                timeout = inter_digit_timeout
            if not await self.wait_for(lambda: bool(self.digits), timeout):
                return Collected("".join(got), terminated=False, timed_out=True)

    def _expect_terminator(self, terminator: str, within: float) -> None:
        """A complete entry: its terminator, typed already or coming soon, is dropped."""
        if self.digits:
            if self.digits[0] == terminator:
                self.digits.popleft()
            return  # another key came first: the caller has moved on
        self._late_terminator = (terminator, asyncio.get_running_loop().time() + within)

    def _is_late_terminator(self, key: str) -> bool:
        """True for the terminator of an entry completed just before; any key ends the wait."""
        late, self._late_terminator = self._late_terminator, None
        if late is None:
            return False
        terminator, deadline = late
        return key == terminator and asyncio.get_running_loop().time() <= deadline

    async def record(
        self, name: str, *, max_duration: int, beep: bool, terminate_on: TerminateOn = "#"
    ) -> bool:
        """Record the caller into stored recording ``name``; True if a recording was kept."""
        await self.channel_request(
            self.ari.channels.record(
                self.id,
                name,
                format="wav",
                max_duration=max_duration,
                max_silence=10,
                beep=beep,
                terminate_on=terminate_on,
                if_exists="overwrite",
            )
        )
        self.recording = name
        try:
            # Asterisk ends it by max_duration at the latest; past that (plus slack), a
            # RecordingFinished was missed: ask Asterisk whether it still records.
            while not await self.wait_for(
                lambda: name in self.recordings_done, timeout=max_duration + RECORDING_SLACK
            ):
                try:
                    await self.ari.recordings.get_live(name)
                except ari_errors.NotFound:
                    log.warning("call %s: recording %s ended unseen", self.id, name)
                    self.recordings_done[name] = "finished"
        except CallerHangup:
            # Hanging up is how most people end a voicemail; Asterisk keeps what was said.
            return True
        finally:
            self.recording = None
        return self.recordings_done[name] == "finished"

    async def continue_in_dialplan(self, context: str, extension: str) -> None:
        """Hand the channel back to the dialplan; it leaves our app."""
        await self.channel_request(
            self.ari.channels.continue_in_dialplan(
                self.id, context=context, extension=extension, priority=1
            )
        )
        self.handed_off = True

    async def ring(
        self, endpoint: str, *, ring_timeout: float, caller_id: str | None = None
    ) -> Leg:
        """Start ringing ``endpoint`` as a leg of this call; its events come to this task.

        Check ``leg.answered`` / ``leg.ended`` as events arrive. A leg Asterisk refuses
        at once (unknown or unregistered endpoint) comes back already ended.
        """
        if self._attach is None:
            raise RuntimeError("this call cannot place outgoing legs (no dispatcher)")
        leg = Leg(id=f"{self.id}-leg{len(self.legs) + 1}-{LIFE}", endpoint=endpoint)
        self.legs[leg.id] = leg
        # Subscribed before it exists, so no event of the new channel is missed.
        self._attach(leg.id, self.events)
        try:
            await self.ari.channels.originate(
                endpoint,
                app=self.app,
                app_args="leg",
                channel_id=leg.id,
                caller_id=caller_id,
                ring_timeout=max(1, round(ring_timeout)),
            )
        except ari_errors.AriError as exc:
            log.info("call %s: cannot ring %s: %s", self.id, endpoint, exc)
            leg.ended = True
        return leg

    async def drop_leg(self, leg: Leg) -> None:
        """Hang up a leg that is still up (ringing or answered)."""
        if not leg.ended:
            with contextlib.suppress(ari_errors.NotFound, ari_errors.NotInStasis):
                await self.ari.channels.hangup(leg.id)
            leg.ended = True

    async def unanswered_outcome(self, leg: Leg) -> str:
        """Why a leg that ended unanswered did: its StasisEnd can come before the
        ChannelDestroyed that carries the cause, so wait (briefly) for the cause first."""
        await self.wait_for(lambda: leg.destroyed, timeout=LEG_CAUSE_WAIT)
        return self.unanswered_reason(leg)

    @staticmethod
    def unanswered_reason(leg: Leg) -> str:
        """Why a leg that never answered ended: busy, no_answer, rejected or unavailable."""
        return _UNANSWERED.get(leg.cause, "unavailable")

    async def converse(self, leg: Leg) -> None:
        """Bridge the caller with an answered leg until the leg hangs up.

        Raises CallerHangup if the caller hangs up first. The bridge never outlives this.
        Keys the caller pressed while talking were for the agent: they are dropped, so that
        none answers what the flow asks next (an after-call survey).
        """
        bridge_id = f"{self.id}-bridge{len(self.legs)}-{LIFE}"
        await self.ari.bridges.create("mixing", bridge_id=bridge_id)
        try:
            try:
                await self.ari.bridges.add_channel(bridge_id, [self.id, leg.id])
            except (ari_errors.BadRequest, ari_errors.NotFound, ari_errors.Unprocessable):
                # One side hung up between the answer and the bridge ("Channel not found").
                # If it was the caller, the next read says so; otherwise the leg is gone.
                await self.wait_for(lambda: leg.ended, timeout=1.0)
                leg.ended = True
                return
            await self.wait_for(lambda: leg.ended)
        finally:
            with self.logged(f"destroy bridge {bridge_id}"):
                await self.ari.bridges.destroy(bridge_id)
            self.digits.clear()

    async def keep_talking(self, leg: Channel, bridge_id: str) -> Leg:
        """Recovery: the caller was talking to ``leg`` in ``bridge_id`` when a former life of
        callflow stopped. Watch until one side hangs up, then end the other and the bridge.

        Raises CallerHangup if the caller hangs up first; returns the leg otherwise.
        """
        held = Leg(id=leg.id, endpoint=leg.name.rsplit("-", 1)[0], answered=True)
        self.legs[held.id] = held
        if self._attach is not None:
            self._attach(held.id, self.events)
        try:
            try:
                # It may have hung up before its events were ours to see.
                await self.ari.channels.get(held.id)
            except ari_errors.NotFound:
                held.ended = True
            await self.wait_for(lambda: held.ended)
            return held
        finally:
            with self.logged(f"drop leg {held.id}"):
                await self.drop_leg(held)
            with self.logged(f"destroy bridge {bridge_id}"):
                await self.ari.bridges.destroy(bridge_id)
            self.digits.clear()  # as after converse(): the agent's keys, not the flow's

    async def connect(
        self, endpoint: str, *, ring_timeout: float, caller_id: str | None = None
    ) -> str:
        """Ring ``endpoint``; if it answers, bridge it with the caller until one side hangs up.

        The caller hears ringback meanwhile. Returns ``"completed"`` after a conversation,
        or why there was none: ``"busy"``, ``"no_answer"``, ``"rejected"``, ``"unavailable"``.
        Raises CallerHangup if the caller hangs up; the leg and the bridge never outlive this.
        """
        ringback = f"ringback-{self.id}-{len(self.legs) + 1}-{LIFE}"
        if self.on_prompt is not None:
            self.on_prompt([ringback])  # a ring tone never ends: a restart must stop it
        with self.logged("start ringback"):
            await self.ari.channels.play(self.id, "tone:ring", playback_id=ringback)
        leg = await self.ring(endpoint, ring_timeout=ring_timeout, caller_id=caller_id)
        try:
            # Asterisk ends an unanswered ring at ring_timeout; past that and a grace, the
            # leg's end was missed: it is dropped below and counts as no answer.
            await self.wait_for(lambda: leg.answered or leg.ended, timeout=ring_timeout + 5.0)
            await self._stop_playback(ringback)
            if not leg.answered and not leg.ended:
                return "no_answer"
            if not leg.answered:
                return await self.unanswered_outcome(leg)
            await self.converse(leg)
            return "completed"
        finally:
            with self.logged(f"drop leg {leg.id}"):
                await self.drop_leg(leg)
            if not self.hung_up:
                with self.logged("stop ringback"):
                    await self._stop_playback(ringback)

    async def _stop_playback(self, playback_id: str) -> None:
        """Stop a playback and wait (briefly) until Asterisk says it has stopped."""
        if playback_id in self.playbacks_finished:
            return
        with contextlib.suppress(ari_errors.NotFound):
            await self.ari.playbacks.stop(playback_id)
        # Bridging while a tone generator still runs makes that playback "fail".
        await self.wait_for(lambda: playback_id in self.playbacks_finished, timeout=1.0)

    @contextlib.contextmanager
    def logged(self, what: str) -> Iterator[None]:
        """Carry on after an ARI error in a step that must not end the call, but say so (a
        failed music restart is dead air): a channel already gone is no news."""
        try:
            yield
        except (ari_errors.NotFound, ari_errors.NotInStasis) as exc:
            log.debug("call %s: %s: already gone (%s)", self.id, what, exc)
        except ari_errors.AriError as exc:
            log.warning("call %s: %s failed: %s", self.id, what, exc)

    async def hangup(self, reason: HangupReason = "normal") -> None:
        """Hang up the caller (a channel that is already gone is fine)."""
        if self.hung_up or self.handed_off:
            return
        self.hung_up = True
        try:
            await self.ari.channels.hangup(self.id, reason=reason)
        except (ari_errors.NotFound, ari_errors.NotInStasis):
            pass
        except ari_errors.AriError as exc:
            log.warning("call %s: hang-up failed: %s", self.id, exc)

    async def drain(self, timeout: float = 5.0) -> None:
        """After hanging up, read the channel's last events until its queue closes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while await self.events.get() is not None:
                    pass
