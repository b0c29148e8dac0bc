"""The recovery plan: what a (re)started callflow does with what Asterisk still holds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from callflow.ari.models import Application, Bridge, Channel, DialplanLocation, Snapshot
from callflow.call.ids import Lifetag
from callflow.call.recovery import plan_recovery, stasis_args

APPS = ("callflow",)


def channel(cid: str, data: str = "callflow,inbound,300", *, created: int = 0) -> Channel:
    return Channel(
        id=cid,
        name=f"PJSIP/{cid}-0001",
        dialplan=DialplanLocation(exten="300", app_name="Stasis", app_data=data),
        creationtime=datetime.fromtimestamp(1_800_000_000 + created, UTC),
    )


def snapshot(channels: Sequence[Channel], bridges: Sequence[Bridge] = ()) -> Snapshot:
    return Snapshot(
        channels=tuple(channels),
        bridges=tuple(bridges),
        applications=(Application(name="callflow", channel_ids=tuple(c.id for c in channels)),),
    )


def entry(cid: str, joined_at: float, priority: int = 0) -> dict[str, object]:
    return {
        "id": cid,
        "queue": "support",
        "caller": "+1555",
        "priority": priority,
        "joined_at": joined_at,
        "node": "support",
        "dialled": "300",
    }


def test_queued_callers_come_back_in_their_join_order() -> None:
    """Callers with a stored queue entry are requeued in the order they first joined."""
    snap = snapshot([channel("c3"), channel("c1"), channel("c2")])
    entries = [entry("c2", 20.0), entry("c3", 30.0), entry("c1", 10.0)]
    plan = plan_recovery(snap, apps=APPS, known=(), entries=entries)
    assert [r.caller.id for r in plan.requeue] == ["c1", "c2", "c3"]
    assert plan.requeue[0].entry["joined_at"] == 10.0
    assert not plan.restart and not plan.lost


def test_a_caller_with_no_entry_goes_to_the_restart_node() -> None:
    """A caller in our app who was not waiting in a queue resumes at the restart node."""
    plan = plan_recovery(snapshot([channel("menu")]), apps=APPS, known=(), entries=[])
    assert [c.id for c in plan.restart] == ["menu"]


def test_known_calls_and_other_apps_channels_are_left_alone() -> None:
    """Channels this process already handles, and channels of another app, are not touched."""
    mine = channel("live")
    other = channel("elsewhere", "otherapp,inbound,300")
    snap = Snapshot(channels=(mine, other), applications=(Application(name="callflow"),))
    plan = plan_recovery(snap, apps=APPS, known={"live"}, entries=[])
    assert not plan


def test_orphan_legs_are_hung_up_and_stale_bridges_destroyed() -> None:
    """An agent leg whose caller is gone is hung up; a holding bridge of a former life is
    destroyed; a bridge of this life (its id holds the run id) is kept."""
    leg = channel("c9-leg1-aaaaaa", "callflow,leg")
    old = Bridge(id="callflow-queue-support-aaaaaa-1", bridge_type="holding")
    current = Bridge(id="callflow-queue-support-bbbbbb-1", bridge_type="holding")
    plan = plan_recovery(
        snapshot([leg], [old, current]), apps=APPS, known=(), entries=[], life=Lifetag("bbbbbb")
    )
    assert [c.id for c in plan.hangup] == [leg.id]
    assert plan.destroy == ("callflow-queue-support-aaaaaa-1",)


def test_a_caller_talking_to_an_agent_keeps_talking() -> None:
    """A caller and an agent leg alone in a mixing bridge are a conversation to keep, with
    its bridge; neither is hung up nor requeued."""
    caller = channel("c1")
    leg = channel("c1-leg1-aaaaaa", "callflow,leg")
    bridge = Bridge(id="c1-bridge1-aaaaaa", bridge_type="mixing", channels=("c1", leg.id))
    plan = plan_recovery(
        snapshot([caller, leg], [bridge]), apps=APPS, known=(), entries=[entry("c1", 1.0)]
    )
    [talk] = plan.conversations
    assert (talk.caller.id, talk.leg.id, talk.bridge) == ("c1", leg.id, bridge.id)
    assert not plan.requeue and not plan.hangup and not plan.restart and not plan.destroy


def test_entries_whose_channels_are_gone_are_lost() -> None:
    """A stored queue entry with no channel in Asterisk any more was lost with the crash."""
    plan = plan_recovery(snapshot([]), apps=APPS, known=(), entries=[entry("gone", 5.0)])
    assert [e["id"] for e in plan.lost] == ["gone"]


def test_stasis_args_read_from_the_dialplan_location() -> None:
    """A channel in Stasis shows our app and its arguments as the dialplan app data."""
    assert stasis_args(channel("x", "callflow,inbound,700"), APPS) == ("inbound", "700")
    assert stasis_args(channel("x", "other,inbound"), APPS) is None
    parked = Channel(id="y", dialplan=DialplanLocation(app_name="Dial", app_data="PJSIP/a"))
    assert stasis_args(parked, APPS) is None


def test_another_nodes_bridges_are_not_ours_to_destroy() -> None:
    """Bridges tagged with another node's name belong to that node, alive or not: only this
    node's former lives are cleaned up (and bridges from before tags)."""
    mine_old = Bridge(id="callflow-queue-support-east.aaaaaa-1", bridge_type="holding")
    mine_now = Bridge(id="callflow-queue-support-east.bbbbbb-1", bridge_type="holding")
    theirs = Bridge(id="callflow-queue-support-west.cccccc-1", bridge_type="holding")
    untagged = Bridge(id="callflow-queue-support-3", bridge_type="holding")
    plan = plan_recovery(
        snapshot([], [mine_old, mine_now, theirs, untagged]),
        apps=APPS,
        known=(),
        entries=[],
        life=Lifetag("bbbbbb", node="east"),
    )
    assert sorted(plan.destroy) == sorted([mine_old.id, untagged.id])
