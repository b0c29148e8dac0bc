"""Periodic reconciliation: the app's channels in Asterisk against the calls callflow knows.

Events can be missed under load (an ARI DELETE answered 204 and the channel stayed ``Up``
in Stasis, unbridged, after callflow had ended the call), so every so often the service
lists Asterisk's channels and compares, here and without I/O:

- a channel in our Stasis app that no call of ours knows, and that stays unknown for a
  grace period (its StasisStart may simply not be read yet), is an orphan: it is logged
  loudly and hung up (``orphans``);
- a call callflow knows whose channel Asterisk no longer has, and that is still a call
  of ours after the same grace (a caller who has just hung up is missing from the list
  while their last events are on their way: that call ends by itself), is ended
  (``vanished``): its task unwinds as a hang-up and writes its ``call.end`` once, as usual.

Left alone: channels this process originated (their ids carry its :class:`Lifetag`:
agents' legs, the dialer's and the callbacks' channels, whose owners reconcile them),
callbacks' channels of any life, and channels outside our app (ringing agents, the
dialplan, bridge music's announcers, which ARI does not list anyway). Channels of a
former life are the recovery plan's (:mod:`callflow.call.recovery`), run at each
connection; one still unknown after that is an orphan like any other.

:class:`Reconciler` is the glue: it asks Asterisk every ``interval`` seconds and performs
the decision.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from callflow.ari import errors as ari_errors
from callflow.ari.models import Channel
from callflow.call.ids import Lifetag
from callflow.call.recovery import CALLBACK_MARK, stasis_args

log = logging.getLogger(__name__)

# How long a channel in our app may stay unknown before it counts as an orphan.
ORPHAN_GRACE = 10.0


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What one round decides, and what to look at again next round: the unknown channels
    (``suspects``) and the calls without a channel (``missing``), with when each was first
    seen so."""

    orphans: tuple[Channel, ...] = ()
    vanished: tuple[str, ...] = ()
    suspects: Mapping[str, float] = field(default_factory=dict)
    missing: Mapping[str, float] = field(default_factory=dict)


def reconcile(
    channels: Sequence[Channel],
    *,
    apps: Collection[str],
    known: Collection[str],
    calls: Collection[str],
    suspects: Mapping[str, float],
    missing: Mapping[str, float] | None = None,
    now: float,
    grace: float = ORPHAN_GRACE,
    life: Lifetag | None = None,
) -> Reconciliation:
    """Compare Asterisk's ``channels`` (listed at ``now``) with what callflow knows.

    ``known``: every channel id a call of ours handles (calls and their legs), read after
    the list came back; ``calls``: the ids of the calls that existed before the list was
    asked for (a call that started since may well be missing from it); ``suspects``: the
    unknown channels of the last round, with when each was first seen; ``missing``: the
    calls of the last rounds without a channel, likewise.
    """
    listed = {channel.id for channel in channels}
    missing = missing or {}
    vanished: list[str] = []
    gone: dict[str, float] = {}
    for call_id in sorted(calls):
        if call_id in listed:
            continue
        first_missed = missing.get(call_id, now)
        if now - first_missed >= grace:
            vanished.append(call_id)
        else:
            gone[call_id] = first_missed
    mine = _originated_by(life) if life is not None else None
    orphans: list[Channel] = []
    still: dict[str, float] = {}
    for channel in channels:
        if channel.id in known or CALLBACK_MARK in channel.id:
            continue
        if mine is not None and mine(channel.id):
            continue  # originated by this process: its owner watches it
        if stasis_args(channel, apps) is None:
            continue
        first_seen = suspects.get(channel.id, now)
        if now - first_seen >= grace:
            orphans.append(channel)
        else:
            still[channel.id] = first_seen
    return Reconciliation(tuple(orphans), tuple(vanished), still, gone)


def _originated_by(life: Lifetag) -> Callable[[str], bool]:
    """Whether a channel id is one this life made: ``<life>-...`` (dialer, callbacks) or
    ``...-<life>`` (agents' legs), never a mere run of digits inside Asterisk's own ids."""
    tag = str(life)
    return lambda channel_id: channel_id.startswith(f"{tag}-") or channel_id.endswith(f"-{tag}")


ListChannels = Callable[[], Awaitable[Sequence[Channel]]]
HangUp = Callable[[str], Awaitable[None]]


class Reconciler:
    """Every ``interval`` seconds: list the channels, reconcile, hang up the orphans and end
    the vanished calls (``end_call``)."""

    def __init__(
        self,
        *,
        apps: Collection[str],
        list_channels: ListChannels,
        hang_up: HangUp,
        known: Callable[[], Collection[str]],
        calls: Callable[[], Collection[str]],
        end_call: Callable[[str], None],
        clock: Callable[[], float],
        interval: float,
        grace: float = ORPHAN_GRACE,
        life: Lifetag | None = None,
        connection: Callable[[], object | None] = lambda: 0,
    ) -> None:
        self.apps = apps
        self._connection = connection
        self.interval = interval
        self.grace = grace
        self.life = life
        self._list_channels = list_channels
        self._hang_up = hang_up
        self._known = known
        self._calls = calls
        self._end_call = end_call
        self._clock = clock
        self._suspects: Mapping[str, float] = {}
        self._missing: Mapping[str, float] = {}
        self.reaped = 0  # orphans hung up, over the reconciler's life
        self.ended = 0  # calls ended because their channel was gone

    async def run(self) -> None:
        """Reconcile every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.round()
            except ari_errors.AriError as exc:
                log.info("reconcile: cannot read Asterisk's channels: %s", exc)
            except Exception:  # a background task: say it, never stop reconciling
                log.exception("reconcile: round failed")

    async def round(self) -> Reconciliation:
        """One comparison with Asterisk, performed; nothing while the event stream is not
        connected and resynced (``connection()`` is None), nor if it was lost or replaced
        while Asterisk was being asked: a call missing from a restarted Asterisk is the
        resync's to end (as ``lost``), not a hang-up this round would make of it."""
        connection = self._connection()
        if connection is None:
            return Reconciliation(suspects=self._suspects, missing=self._missing)
        calls = set(self._calls())
        channels = await self._list_channels()
        if self._connection() != connection:
            return Reconciliation(suspects=self._suspects, missing=self._missing)
        decision = reconcile(
            channels,
            apps=self.apps,
            known=set(self._known()),
            calls=calls,
            suspects=self._suspects,
            missing=self._missing,
            now=self._clock(),
            grace=self.grace,
            life=self.life,
        )
        self._suspects, self._missing = decision.suspects, decision.missing
        for call_id in decision.vanished:
            log.warning("reconcile: call %s: its channel is gone from Asterisk; ending it", call_id)
            self._end_call(call_id)
            self.ended += 1
        for channel in decision.orphans:
            log.error(
                "reconcile: channel %s (%s, %s) is in our app but no call of ours knows it; "
                "hanging it up",
                channel.id,
                channel.name,
                channel.state,
            )
            try:
                await self._hang_up(channel.id)
            except (ari_errors.NotFound, ari_errors.NotInStasis):
                continue  # gone meanwhile
            self.reaped += 1
        return decision


__all__ = ["ORPHAN_GRACE", "Reconciler", "Reconciliation", "reconcile"]
