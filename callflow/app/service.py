"""The Stasis service: one ARI connection, one task per call, clean start and stop.

It owns the REST client, the reconnecting event stream and the dispatcher. Each channel that
enters the app gets a :class:`~callflow.call.primitives.Call` and its own task running the call
handler; when the handler returns or the caller hangs up, the channel is hung up and the
task ends.

On every connection, the first included, the service resyncs with Asterisk, which keeps
channels in the app while we are away but does not queue their events: calls whose channels
vanished end as lost (at the moment the connection dropped), calls still up re-check what
they wait on (a playback or a ring whose end we missed), and channels no call of this
process owns (callflow crashed, or was restarted) are recovered by the plan of
:mod:`callflow.call.recovery`.

Stopping (SIGTERM) takes no new call (they go back to the dialplan's fallback), lets the
calls in progress finish for a grace period, then tells each remaining caller goodbye as
the :class:`ShutdownPolicy` says, and records the end as ``shutdown``.

Events that concern no call (a user event sent to the app, for instance) go to the
handlers registered with :meth:`Service.on_user_event`, keyed by the user event's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from callflow.ari import AriClient, AriConfig, Dispatcher, EventQueue, EventStream
from callflow.ari import errors as ari_errors
from callflow.ari.events import (
    ChannelDestroyed,
    ChannelUserevent,
    Event,
    PlaybackFinished,
    RecordingFinished,
    StasisStart,
)
from callflow.ari.latency import LatencyMeter
from callflow.ari.models import Channel, LiveRecording, Playback, Snapshot
from callflow.ari.stream import Connected, Disconnected, StreamItem
from callflow.call.ids import LIFE
from callflow.call.primitives import (
    Call,
    CallEnded,
    CallerHangup,
    CallInterrupted,
    Recovery,
    rest_of_prompt,
)
from callflow.call.reconcile import Reconciler
from callflow.call.recovery import Plan, plan_recovery

log = logging.getLogger(__name__)

CallHandler = Callable[[Call], Awaitable[None]]
"""Runs one call to its end (a flow, a queue...)."""

UserEventHandler = Callable[[ChannelUserevent], None]
"""Handles one user event sent to the app; runs in the event loop, so it must not block."""

# The dialplan in dialplan/callflow.conf names the Stasis app through this global variable.
APP_GLOBAL = "CALLFLOW_APP"
# Set on a channel that callflow sends back to the dialplan because it is stopping.
SHUTDOWN_VARIABLE = "CALLFLOW_SHUTDOWN"
# Attempts and pause for a resync that failed (Asterisk still starting: 5xx).
RESYNC_ATTEMPTS = 10
RESYNC_PAUSE = 1.0
# Tries to stop a playback that is still queued behind another (20 ms apart).
STOP_ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class ShutdownPolicy:
    """What a caller still in a call gets when callflow stops.

    ``grace``: seconds the calls in progress may still run to their natural end.
    ``action``: ``apologise`` (play ``media``, then hang up) or ``dialplan`` (send the
    channel back to the dialplan, with ``CALLFLOW_SHUTDOWN=1``, at ``context``,
    ``extension``, ``label``; by default the fallback label ``unavailable`` of the
    context and number the call came in on, see dialplan/callflow.conf).
    ``farewell_timeout``: the longest the goodbye may take before the channel is hung up.
    """

    grace: float = 5.0
    action: Literal["apologise", "dialplan"] = "apologise"
    media: tuple[str, ...] = ("sound:sorry", "sound:please-try-call-later")
    context: str | None = None
    extension: str | None = None
    label: str | None = "unavailable"
    farewell_timeout: float = 10.0


class Recoverer(Protocol):
    """The durable side of recovery: what the store says, and the records of what was lost."""

    def waiting_entries(self) -> Sequence[Mapping[str, Any]]:
        """The queue entries that were waiting when the last process stopped."""
        ...

    def playbacks_in_progress(self, call_id: str) -> Sequence[str]:
        """The playbacks a former life asked for on this call and never saw finish, in the
        order it asked."""
        ...

    def settle(self, plan: Plan, alive: set[str], lost_at: float | None) -> None:
        """Record the ends of what was lost (queue entries, calls with no end)."""
        ...


class ServiceError(Exception):
    """A condition that retrying will not fix (wrong password, wrong app name)."""


@dataclass
class _Outage:
    """Since when the event connection is down (the true end of calls lost meanwhile)."""

    since: float | None = None
    resyncs: list[asyncio.Task[None]] = field(default_factory=list)


class Service:
    """Serve calls from Asterisk until :meth:`stop` is called."""

    def __init__(
        self,
        config: AriConfig,
        handler: CallHandler,
        *,
        shutdown: ShutdownPolicy | None = None,
        recoverer: Recoverer | None = None,
        reconnect_delays: Callable[[], Iterator[float]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.handler = handler
        self.shutdown = shutdown or ShutdownPolicy()
        self.recoverer = recoverer
        self.reconnect_delays = reconnect_delays  # None: the config's capped backoff
        self.clock = clock
        self.calls: dict[str, Call] = {}
        self.ready = asyncio.Event()
        self.recovered = asyncio.Event()  # set after each successful resync
        self._connections = 0  # event stream connections made, the first included
        self._stream: EventStream | None = None
        self._user_events: dict[str, UserEventHandler] = {}
        self._dispatcher = Dispatcher(self._on_call, on_unrouted=self._on_unrouted)
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._ari: AriClient | None = None
        self._outage = _Outage()
        self._recovery: dict[str, Recovery] = {}  # channel id -> how to take it back
        self._asterisk_started: object = None  # Asterisk's startup time, to see a restart
        self.reconciler: Reconciler | None = None  # set while running
        self.latency = LatencyMeter()  # reported on kill -USR1, with memory

    @property
    def ari(self) -> AriClient:
        """The REST client (only while running)."""
        if self._ari is None:
            raise RuntimeError("the service is not running")
        return self._ari

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stopping.is_set()

    def attach_channel(self, channel_id: str, events: EventQueue) -> None:
        """Send the events of a channel about to be originated outside any call (a
        callback's agent or customer) to ``events``; call it before the originate."""
        self._dispatcher.attach_channel(channel_id, events)

    def on_user_event(self, name: str, handler: UserEventHandler) -> None:
        """Call ``handler`` for each user event ``name`` sent to the app outside any call.

        A user event sent with a channel or bridge source that a call is watching goes to
        that call instead. A handler that raises is logged; the service goes on.
        """
        self._user_events[name] = handler

    async def run(self) -> None:
        """Connect and serve; returns after :meth:`stop`, raises ServiceError on fatal errors."""
        async with AriClient(self.config) as ari:
            self._ari = ari
            ari.on_request = self.latency.request
            stream = self._stream = EventStream(self.config, delays=self.reconnect_delays)
            dispatcher = self._dispatcher
            reconciling = self._start_reconciler(ari)
            try:
                async for item in stream:
                    await self._on_item(item, dispatcher)
            except ari_errors.AuthenticationFailed as exc:
                raise ServiceError(
                    f"Asterisk refused the ARI credentials of user {self.config.username!r} "
                    f"at {self.config.base_url} ({exc})"
                ) from None
            except ari_errors.AriError as exc:
                raise ServiceError(f"ARI error: {exc}") from None
            finally:
                if reconciling is not None:
                    reconciling.cancel()
                for task in self._outage.resyncs:
                    task.cancel()
                await dispatcher.shutdown(grace=0)
                self._ari = None
                self._stopped.set()

    def _start_reconciler(self, ari: AriClient) -> asyncio.Task[None] | None:
        """Every ``reconcile_interval`` s, compare the app's channels in Asterisk with our
        calls (see callflow.call.reconcile); None when the setting is 0."""
        if self.config.reconcile_interval <= 0:
            return None

        def known() -> set[str]:
            # Every channel whose events are routed (calls, their legs, the dialer's and
            # the callbacks' channels), and those recovery is about to adopt.
            return {*self._dispatcher.channels, *self.calls, *self._recovery}

        def end_call(call_id: str) -> None:
            if (call := self.calls.get(call_id)) is not None:
                call.gone()

        self.reconciler = Reconciler(
            apps=self.config.apps,
            list_channels=ari.channels.list,
            hang_up=ari.channels.hangup,
            known=known,
            calls=lambda: [c.id for c in self.calls.values() if not c.hung_up],
            end_call=end_call,
            clock=time.monotonic,
            interval=self.config.reconcile_interval,
            life=LIFE,
            connection=lambda: self._connections if self.recovered.is_set() else None,
        )
        return asyncio.create_task(self.reconciler.run(), name="reconcile")

    async def stop(self) -> None:
        """Take no new call, let calls finish for the grace period, then say goodbye to the
        callers still here (see :class:`ShutdownPolicy`) and close the connection."""
        if self._stopping.is_set():
            await self._stopped.wait()
            return
        self._stopping.set()
        policy = self.shutdown
        tasks = list(self._dispatcher.calls.values())
        if tasks:
            log.info(
                "stopping: %d calls in progress get %.0f s to finish", len(tasks), policy.grace
            )
            await asyncio.wait(tasks, timeout=policy.grace)
        remaining = [call for call in self.calls.values() if not call.hung_up]
        if remaining:
            log.info("stopping: %d callers still here: %s", len(remaining), policy.action)
        for call in remaining:
            call.interrupt("shutdown")
        tasks = list(self._dispatcher.calls.values())
        if tasks:
            await asyncio.wait(tasks, timeout=policy.farewell_timeout + 5.0)
        if self._stream is not None:
            await self._stream.close()

    async def _on_item(self, item: StreamItem, dispatcher: Dispatcher) -> None:
        if isinstance(item, Connected):
            self._connections += 1
            if not item.reconnect:
                await self._check_app_name()
            log.info(
                "connected to Asterisk at %s as app %s%s",
                self.config.base_url,
                ",".join(self.config.apps),
                " (reconnected)" if item.reconnect else "",
            )
            # Every connection, the first included: after a crash of ours, Asterisk still
            # holds our callers; after one of Asterisk's, our calls are gone.
            if not await self._resync():
                task = asyncio.create_task(self._resync_later(), name="resync")
                self._outage.resyncs.append(task)
                task.add_done_callback(self._outage.resyncs.remove)
            self.ready.set()
        elif isinstance(item, Disconnected):
            self.ready.clear()
            self.recovered.clear()
            if self._outage.since is None:
                self._outage.since = self.clock()
            log.warning(
                "Asterisk unavailable at %s (%s); retrying in %.1f s",
                self.config.base_url,
                item.error,
                item.retry_in,
            )
        elif isinstance(item, Event):
            dispatcher.dispatch(item)

    def _on_unrouted(self, event: Event) -> None:
        """An event no call or bridge watches: a registered user event, or nothing to do."""
        if not isinstance(event, ChannelUserevent):
            log.debug("no call or bridge watches %s event", event.type)
            return
        handler = self._user_events.get(event.eventname)
        if handler is None:
            log.info("user event %r: no handler; ignored", event.eventname)
            return
        try:
            handler(event)
        except Exception:
            # Anyone with ARI credentials can send user events: never let one stop the service.
            log.exception("user event %r: handler failed", event.eventname)

    async def _check_app_name(self) -> None:
        """Refuse to serve under a name the dialplan does not send calls to."""
        try:
            expected = await self.ari.asterisk.get_global_variable(APP_GLOBAL)
        except ari_errors.AriError:
            expected = ""
        if not expected:
            log.info("dialplan global %s is not set; not checking the app name", APP_GLOBAL)
        elif expected not in self.config.apps:
            raise ServiceError(
                f"Asterisk's dialplan sends calls to Stasis app {expected!r} "
                f"(global {APP_GLOBAL}), but callflow registers as "
                f"{','.join(self.config.apps)!r}: fix ari.app in the settings"
            )

    # --- resync and recovery -----------------------------------------------------------

    async def _resync_later(self) -> None:
        for _ in range(RESYNC_ATTEMPTS):
            await asyncio.sleep(RESYNC_PAUSE)
            try:
                if await self._resync():
                    return
            except Exception:  # a background task: say it, never leave it unretrieved
                log.exception("resync with Asterisk failed")
        log.error(
            "resync with Asterisk failed %d times; giving up until the next connection",
            RESYNC_ATTEMPTS,
        )

    async def _resync(self) -> bool:
        """Catch up with Asterisk; False if it could not be read (retry later)."""
        try:
            info = await self.ari.asterisk.info("status")
            snapshot = await self.ari.resync()
        except ari_errors.AriError as exc:
            log.warning("resync with Asterisk failed (%s); retrying", exc)
            return False
        lost_at = self._outage.since
        self._outage.since = None
        restarted = (
            self._asterisk_started is not None and info.startup_time != self._asterisk_started
        )
        self._asterisk_started = info.startup_time
        alive = {channel.id: channel for channel in snapshot.channels}
        # A restarted Asterisk has none of our calls' channels, whatever their ids: it names
        # a channel <system>-<the second it was made>.<n>, n counted from 0 at each start, so
        # a new caller's channel can bear the id of one of our calls.
        lost = [call for call in self.calls.values() if restarted or call.id not in alive]
        for call in lost:
            if restarted:
                # Asterisk went down with the call: lost when we lost Asterisk. Its id may
                # come back for a new caller (see Dispatcher.forget).
                call.lost(lost_at if lost_at is not None else self.clock())
                self._dispatcher.forget(call.id)
            else:
                # Asterisk stayed up, so someone else ended the channel: the caller.
                call.gone()
        for call in self.calls.values():
            if call.id in alive and not restarted:
                await self._catch_up(call, alive)
        try:
            await self._recover(snapshot, lost_at, restarted=restarted)
        except ari_errors.AriError as exc:
            log.error("recovery after (re)connecting failed: %s", exc)
        log.info(
            "resynced%s: %d calls still up, %d ended while disconnected%s",
            " after reconnect" if lost_at is not None else "",
            len(self.calls) - len(lost),
            len(lost),
            " (Asterisk restarted)" if restarted else "",
        )
        self.recovered.set()
        return True

    async def _catch_up(self, call: Call, alive: Mapping[str, Channel]) -> None:
        """Give a call still up the events it missed while we were away, as far as Asterisk
        can tell: playbacks that ended, legs that answered or ended."""
        for playback_id in list(getattr(call, "playing", ())):
            try:
                await self.ari.playbacks.get(playback_id)
            except ari_errors.NotFound:
                target = f"channel:{call.id}"
                self._dispatcher.dispatch(
                    PlaybackFinished(
                        type="PlaybackFinished",
                        playback=Playback(id=playback_id, target_uri=target, state="done"),
                    )
                )
            except ari_errors.AriError as exc:
                log.info("call %s: cannot read playback %s: %s", call.id, playback_id, exc)
        if call.recording is not None:
            try:
                await self.ari.recordings.get_live(call.recording)
            except ari_errors.NotFound:
                self._dispatcher.dispatch(
                    RecordingFinished(
                        type="RecordingFinished",
                        recording=LiveRecording(
                            name=call.recording, target_uri=f"channel:{call.id}", state="done"
                        ),
                    )
                )
            except ari_errors.AriError as exc:
                log.info("call %s: cannot read recording %s: %s", call.id, call.recording, exc)
        for leg in list(call.legs.values()):
            if leg.ended:
                continue
            channel = alive.get(leg.id)
            if channel is None:
                self._dispatcher.dispatch(
                    ChannelDestroyed(type="ChannelDestroyed", channel=Channel(id=leg.id))
                )
            elif not leg.answered and channel.dialplan.app_name.lower() == "stasis":
                self._dispatcher.dispatch(
                    StasisStart(type="StasisStart", channel=channel, args=("leg",))
                )
        call.nudge()

    async def _recover(
        self, snapshot: Snapshot, lost_at: float | None, *, restarted: bool = False
    ) -> None:
        """Take back what a former life of callflow left in Asterisk (see recovery.py).

        Nothing of ours is left in an Asterisk that ``restarted``: a channel in our app there
        entered it after we connected (Stasis() fails while no app of that name is
        connected), so its StasisStart is on its way and starts its call from the entry,
        not as a caller taken back to the restart node."""
        known = set(self.calls)
        for call in self.calls.values():
            known |= set(call.legs)
        if restarted:
            known |= {channel.id for channel in snapshot.channels}
        entries = self.recoverer.waiting_entries() if self.recoverer is not None else ()
        plan = plan_recovery(
            snapshot, apps=self.config.apps, known=known, entries=entries, life=LIFE
        )
        if not plan:
            return
        log.warning(
            "recovering: %d queued callers back in line, %d conversations kept, "
            "%d callers to the restart node, %d orphan legs hung up, %d bridges destroyed, "
            "%d queue entries lost",
            len(plan.requeue),
            len(plan.conversations),
            len(plan.restart),
            len(plan.hangup),
            len(plan.destroy),
            len(plan.lost),
        )
        if self.recoverer is not None:
            self.recoverer.settle(plan, set(c.id for c in snapshot.channels), lost_at)
        for bridge_id in plan.destroy:
            with _logged(f"destroy bridge {bridge_id}"):
                await self.ari.bridges.destroy(bridge_id)
        for leg in plan.hangup:
            with _logged(f"hang up orphan leg {leg.id}"):
                await self.ari.channels.hangup(leg.id)
        # In the queue's order, so that the router sees them join as they first did.
        adopt: list[tuple[Channel, Recovery]] = [
            (r.caller, Recovery("queue", entry=r.entry)) for r in plan.requeue
        ]
        adopt += [
            (c.caller, Recovery("conversation", leg=c.leg, bridge=c.bridge))
            for c in plan.conversations
        ]
        adopt += [(channel, Recovery("restart")) for channel in plan.restart]
        for channel, _ in adopt:
            # A playback the former life asked for holds up every later command on the
            # channel (bridge add, music) until it ends: stop it, and what is queued behind.
            playing = self.recoverer.playbacks_in_progress(channel.id) if self.recoverer else ()
            stopped: set[str] = set()
            for playback_id in playing:
                if playback_id not in stopped:
                    with _logged(f"stop playback {playback_id}"):
                        stopped.update(await self._stop_prompt(playback_id))
        for channel, recovery in adopt:
            self._recovery[channel.id] = recovery
            args = _args(channel, self.config.apps)
            self._dispatcher.dispatch(
                StasisStart(
                    type="StasisStart",
                    application=self.config.apps[0],
                    channel=channel,
                    args=args,
                )
            )

    async def _stop_prompt(self, playback_id: str) -> list[str]:
        """Stop a playback and the items of its prompt after it: whichever of them Asterisk
        still has, playing or queued. Return the ids it stopped or found gone."""
        stale_ids = rest_of_prompt(playback_id)
        for stale in stale_ids:
            # Asterisk 22 refuses to stop a playback still queued (500 "Could not stop
            # playback"): stop them in order, each as soon as it starts.
            for _ in range(STOP_ATTEMPTS):
                try:
                    await self.ari.playbacks.stop(stale)
                    break
                except ari_errors.NotFound:
                    break
                except ari_errors.ServerError:
                    await asyncio.sleep(0.02)
        return stale_ids

    # --- calls -------------------------------------------------------------------------

    async def _on_call(self, start: StasisStart, events: EventQueue) -> None:
        if start.args[:1] in (("leg",), ("outbound",)):
            # A leg we originated whose attachment is gone (its call ended first), or a
            # dialled customer back from AMD (Stasis(app,outbound,...)) whose dial was given
            # up meanwhile (its agent hung up, a restart): never a caller for a flow.
            log.info(
                "channel %s (%s): its call is over; hanging up", start.channel.id, start.args[0]
            )
            with contextlib.suppress(ari_errors.NotFound, ari_errors.NotInStasis):
                await self.ari.channels.hangup(start.channel.id)
            return
        call = Call(
            self.ari, start, events, app=self.config.apps[0], attach=self._dispatcher.attach_channel
        )
        call.recovery = self._recovery.pop(call.id, None)
        if call.recovery is None:  # Asterisk's arrival, not one recovery made up
            self.latency.arrived(call.id, start.timestamp, start.received)
        if self._stopping.is_set():
            await self._refuse(call)
            return
        self.calls[call.id] = call
        log.info("call %s from %r to %r", call.id, call.caller_number, call.dialled)
        try:
            await self.handler(call)
        except CallInterrupted as exc:
            log.info("call %s: %s", call.id, exc.reason)
        except CallerHangup:
            log.info("call %s: caller hung up", call.id)
        except CallEnded:
            log.info("call %s: ended", call.id)
        except asyncio.CancelledError:
            log.info("call %s: cancelled (shutdown)", call.id)
            raise
        except Exception:
            log.exception("call %s: handler failed", call.id)
        finally:
            self.latency.forget(call.id)
            if self.calls.get(call.id) is call:
                del self.calls[call.id]
            # Shielded so that a shutdown cancelling this task still leaves no channel behind.
            with contextlib.suppress(ari_errors.AriError, asyncio.CancelledError):
                await asyncio.shield(self._finish(call))

    async def _refuse(self, call: Call) -> None:
        """A call that arrives while we stop goes back to the dialplan's fallback."""
        log.info("call %s: refused, callflow is stopping", call.id)
        await self._to_dialplan(call, self.shutdown.label or "unavailable")

    async def _to_dialplan(self, call: Call, label: str | None) -> None:
        policy = self.shutdown
        channel = call.start.channel
        try:
            await self.ari.channels.set_variable(call.id, SHUTDOWN_VARIABLE, "1")
            await self.ari.channels.continue_in_dialplan(
                call.id,
                context=policy.context or channel.dialplan.context or None,
                extension=policy.extension or channel.dialplan.exten or None,
                label=label,
            )
            call.handed_off = True
        except (ari_errors.NotFound, ari_errors.NotInStasis):
            call.hung_up = True
        except ari_errors.AriError as exc:
            log.warning("call %s: cannot send back to the dialplan: %s", call.id, exc)

    async def _finish(self, call: Call) -> None:
        if call.interrupted == "shutdown" and not call.hung_up and not call.handed_off:
            await self._farewell(call)
        await call.hangup()
        await call.drain(timeout=2.0)

    async def _farewell(self, call: Call) -> None:
        """Say goodbye to a caller callflow lets go of because it is stopping."""
        policy = self.shutdown
        call.resume()
        if policy.action == "dialplan":
            await self._to_dialplan(call, policy.label)
            return
        with contextlib.suppress(CallEnded, TimeoutError):
            async with asyncio.timeout(policy.farewell_timeout):
                await call.play(list(policy.media))


@contextlib.contextmanager
def _logged(what: str) -> Iterator[None]:
    """One recovery step: a failure is logged and the next step goes on."""
    try:
        yield
    except (ari_errors.NotFound, ari_errors.NotInStasis):
        pass  # already gone
    except ari_errors.AriError as exc:
        log.warning("recovery: %s failed: %s", what, exc)


def _args(channel: Channel, apps: Sequence[str]) -> tuple[str, ...]:
    """The Stasis arguments of a channel taken back, as its StasisStart had them."""
    app, _, data = channel.dialplan.app_data.partition(",")
    if app in apps and data:
        return tuple(data.split(","))
    return ("inbound", channel.dialplan.exten)
