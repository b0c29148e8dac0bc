"""What to do with what Asterisk holds when callflow (re)connects: the recovery plan.

Asterisk keeps channels in a Stasis app while the app is away (callflow crashed, was
killed, or lost its connection), and does not queue their events. So on every connection,
the first included, callflow compares Asterisk's snapshot with what it knows (its live
calls, the queue entries in the store) and decides, here and without I/O:

- a caller who was waiting in a queue goes back into that queue, with their original join
  time and priority, so that they keep their place (``requeue``, in the queue's order);
- a caller who was talking to an agent keeps talking (``conversations``);
- a caller who was anywhere else in a flow resumes at the flow's restart node
  (``restart``);
- a leg of ours (an agent's phone) that has no caller any more is hung up (``hangup``);
- the bridges of a former life that no call of this one uses are destroyed (``destroy``);
- a queue entry whose channel Asterisk no longer has was lost with the old process or
  with Asterisk (``lost``).

The service performs the plan over ARI (see :mod:`callflow.app.service`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from callflow.ari.models import Channel, Snapshot
from callflow.call.ids import Lifetag

# Bridges and legs callflow creates: holding bridges, conversation bridges, agent legs.
_OUR_BRIDGE = re.compile(r"callflow-.*|.+-bridge\d+(-[0-9a-f]+)?")
# A callback's channels (and their bridges) carry "-cb-": the callbacks reconcile them with
# their own rows (callflow.callback.live), so this plan leaves them alone.
CALLBACK_MARK = "-cb-"


@dataclass(frozen=True, slots=True)
class Conversation:
    """A caller and the leg they were talking to, in a mixing bridge of a former life."""

    caller: Channel
    leg: Channel
    bridge: str


@dataclass(frozen=True, slots=True)
class Requeue:
    """A caller to put back into the queue they were waiting in."""

    caller: Channel
    entry: Mapping[str, Any]  # the store's queue entry (QueueEntry.to_dict() and more)


@dataclass(frozen=True, slots=True)
class Plan:
    """What recovery does, in this order: destroy, hang up, then adopt the callers."""

    requeue: tuple[Requeue, ...] = ()
    conversations: tuple[Conversation, ...] = ()
    restart: tuple[Channel, ...] = ()
    hangup: tuple[Channel, ...] = ()
    destroy: tuple[str, ...] = ()
    lost: tuple[Mapping[str, Any], ...] = ()
    kept_bridges: frozenset[str] = field(default_factory=frozenset)

    @property
    def adopted(self) -> int:
        """How many callers this plan takes back."""
        return len(self.requeue) + len(self.conversations) + len(self.restart)

    def __bool__(self) -> bool:
        return bool(
            self.requeue
            or self.conversations
            or self.restart
            or self.hangup
            or self.destroy
            or self.lost
        )


def stasis_args(channel: Channel, apps: Collection[str]) -> tuple[str, ...] | None:
    """The arguments a channel entered our Stasis app with, or None if it is not in it.

    A channel in Stasis shows ``Stasis`` as its dialplan application, with the app name
    and arguments as its data (``callflow,inbound,700``). A channel we originated into the
    app shows the same with our own arguments (``callflow,leg``).
    """
    if channel.dialplan.app_name.lower() != "stasis":
        return None
    app, *args = channel.dialplan.app_data.split(",")
    if app not in apps:
        return None
    return tuple(args)


def plan_recovery(
    snapshot: Snapshot,
    *,
    apps: Collection[str],
    known: Collection[str],
    entries: Sequence[Mapping[str, Any]],
    life: Lifetag | None = None,
) -> Plan:
    """Decide what to do with the channels and bridges no live call of ours owns.

    ``known`` are the channel ids this process already handles (calls and their legs);
    ``entries`` the store's waiting queue entries. Every id callflow makes carries its
    :class:`~callflow.call.primitives.Lifetag`: bridges of this life are this process's own,
    and those of another node are that node's, never stale to us.
    """
    subscribed = {i for app in snapshot.applications for i in app.channel_ids}
    ours: dict[str, tuple[Channel, tuple[str, ...]]] = {}
    for channel in snapshot.channels:
        if channel.id in known or CALLBACK_MARK in channel.id:
            continue
        args = stasis_args(channel, apps)
        if args is None and channel.id in subscribed:
            args = ()
        if args is not None:
            ours[channel.id] = (channel, args)
    legs = {cid for cid, (_, args) in ours.items() if args[:1] == ("leg",) or "-leg" in cid}
    callers = {cid for cid in ours if cid not in legs}

    conversations: list[Conversation] = []
    talking: set[str] = set()
    kept: set[str] = set()
    for bridge in snapshot.bridges:
        if bridge.bridge_type != "mixing" or not _stale(bridge.id, life):
            continue
        members = [cid for cid in bridge.channels if cid in ours]
        their_callers = [cid for cid in members if cid in callers]
        their_legs = [cid for cid in members if cid in legs]
        if len(members) == 2 and len(their_callers) == 1 and len(their_legs) == 1:
            caller, leg = their_callers[0], their_legs[0]
            conversations.append(Conversation(ours[caller][0], ours[leg][0], bridge.id))
            talking |= {caller, leg}
            kept.add(bridge.id)

    by_id = {str(e.get("id")): e for e in entries}
    requeue = [
        Requeue(ours[cid][0], by_id[cid]) for cid in callers if cid in by_id and cid not in talking
    ]
    requeue.sort(key=lambda r: (_number(r.entry.get("joined_at")), str(r.entry.get("id"))))
    alive = {channel.id for channel in snapshot.channels}
    lost = tuple(e for cid, e in by_id.items() if cid not in alive and cid not in known)
    restart = tuple(
        ours[cid][0]
        for cid in sorted(callers, key=lambda c: _created(ours[c][0]))
        if cid not in talking and cid not in by_id
    )
    hangup = tuple(ours[cid][0] for cid in sorted(legs) if cid not in talking)
    destroy = tuple(
        sorted(
            b.id
            for b in snapshot.bridges
            if _OUR_BRIDGE.fullmatch(b.id)
            and _stale(b.id, life)
            and b.id not in kept
            and CALLBACK_MARK not in b.id
            and not any(CALLBACK_MARK in c for c in b.channels)
        )
    )
    return Plan(
        requeue=tuple(requeue),
        conversations=tuple(conversations),
        restart=restart,
        hangup=hangup,
        destroy=destroy,
        lost=lost,
        kept_bridges=frozenset(kept),
    )


_TAG = re.compile(r"-(?:([A-Za-z0-9_]+)\.)?([0-9a-f]{6})(?:-\d+)?$")


def _stale(resource_id: str, life: Lifetag | None) -> bool:
    """Whether one of our resources is left over from another life of this node (an id
    without a tag is from before tags, so stale too)."""
    if life is None:
        return True
    found = _TAG.search(resource_id)
    if found is None:
        return True
    node, run = found.group(1) or "", found.group(2)
    return node == life.node and run != life.run


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _created(channel: Channel) -> float:
    return channel.creationtime.timestamp() if channel.creationtime is not None else 0.0
