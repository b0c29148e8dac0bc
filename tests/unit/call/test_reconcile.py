"""Tests for the periodic reconciliation of the app's channels with the calls callflow knows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from callflow.app.settings import load_settings
from callflow.ari import errors as ari_errors
from callflow.ari.models import Channel, DialplanLocation
from callflow.call.ids import Lifetag
from callflow.call.reconcile import Reconciler, reconcile

LIFE = Lifetag(run="a1b2c3")
APPS = ("callflow",)


def in_app(channel_id: str, data: str = "callflow,inbound,300") -> Channel:
    return Channel(
        id=channel_id,
        name=f"PJSIP/{channel_id}",
        state="Up",
        dialplan=DialplanLocation(app_name="Stasis", app_data=data),
    )


def elsewhere(channel_id: str) -> Channel:
    return Channel(id=channel_id, dialplan=DialplanLocation(app_name="Dial", app_data="x"))


def test_an_unknown_channel_in_our_app_is_an_orphan_after_the_grace() -> None:
    """A channel in our app no call knows is suspected first, and an orphan once it has
    stayed unknown for the grace period (its StasisStart may just not be read yet)."""
    channels = [in_app("c1")]
    first = reconcile(channels, apps=APPS, known=(), calls=(), suspects={}, now=100.0, grace=10)
    assert first.orphans == () and dict(first.suspects) == {"c1": 100.0}
    early = reconcile(
        channels, apps=APPS, known=(), calls=(), suspects=first.suspects, now=105.0, grace=10
    )
    assert early.orphans == ()
    late = reconcile(
        channels, apps=APPS, known=(), calls=(), suspects=early.suspects, now=110.0, grace=10
    )
    assert [c.id for c in late.orphans] == ["c1"]
    assert dict(late.suspects) == {}


def test_a_suspect_that_becomes_known_is_forgotten() -> None:
    """A channel whose call started meanwhile is no suspect any more."""
    channels = [in_app("c1")]
    first = reconcile(channels, apps=APPS, known=(), calls=(), suspects={}, now=0.0)
    later = reconcile(
        channels, apps=APPS, known={"c1"}, calls=(), suspects=first.suspects, now=60.0
    )
    assert later.orphans == () and dict(later.suspects) == {}


def test_our_own_originated_channels_and_others_are_left_alone() -> None:
    """Channels this life originated (legs, dialer, callbacks), callbacks' channels of any
    life and channels outside our app are never orphans; Asterisk's own ids that merely
    contain the run's digits are still checked."""
    channels = [
        in_app("sandbox-1.0-leg1-a1b2c3", "callflow,leg"),
        in_app("a1b2c3-dl-7", "callflow,dialer"),
        in_app("0ld123-cb-4-1", "callflow,callback"),
        in_app("x", "otherapp,inbound"),
        elsewhere("ringing-agent"),
        in_app("sandbox-a1b2c3999.4"),
    ]
    first = reconcile(channels, apps=APPS, known=(), calls=(), suspects={}, now=0.0, life=LIFE)
    assert list(first.suspects) == ["sandbox-a1b2c3999.4"]


def test_a_known_call_whose_channel_is_gone_is_ended_after_the_grace() -> None:
    """A call that existed before the list was read and is missing from it is missed
    first: a caller who has just hung up is missing while their last events are on the way,
    and their call ends by itself (forgotten). One still a call of ours once the grace is
    over has vanished; a call still listed has not."""
    listed = [in_app("c3")]
    calls = {"c1", "c2", "c3"}
    first = reconcile(listed, apps=APPS, known=calls, calls=calls, suspects={}, now=0.0, grace=10)
    assert first.vanished == () and dict(first.missing) == {"c1": 0.0, "c2": 0.0}
    calls.discard("c2")  # its hang-up was read meanwhile
    early = reconcile(
        listed, apps=APPS, known=calls, calls=calls, suspects={}, missing=first.missing, now=5.0
    )
    assert early.vanished == () and dict(early.missing) == {"c1": 0.0}
    late = reconcile(
        listed, apps=APPS, known=calls, calls=calls, suspects={}, missing=early.missing, now=10.0
    )
    assert late.vanished == ("c1",) and dict(late.missing) == {}
    assert late.orphans == ()


class _Asterisk:
    """The two ARI calls the reconciler makes, over a list of channels."""

    def __init__(self, channels: Sequence[Channel]) -> None:
        self.channels = list(channels)
        self.hung_up: list[str] = []

    async def list(self) -> Sequence[Channel]:
        return list(self.channels)

    async def hangup(self, channel_id: str) -> None:
        if channel_id == "gone":
            raise ari_errors.NotFound(404, "Channel not found")
        self.hung_up.append(channel_id)


async def test_the_reconciler_hangs_up_orphans_and_ends_vanished_calls() -> None:
    """Two rounds past the grace: the orphan is hung up (one already gone is fine), and the
    call whose channel vanished is ended through end_call, once."""
    asterisk = _Asterisk([in_app("orphan"), in_app("gone")])
    ended: list[str] = []
    clock = iter([0.0, 20.0])
    reconciler = Reconciler(
        apps=APPS,
        list_channels=asterisk.list,
        hang_up=asterisk.hangup,
        known=lambda: {"call"},
        calls=lambda: {"call"} if not ended else set(),
        end_call=ended.append,
        clock=lambda: next(clock),
        interval=30,
        grace=10,
    )
    await reconciler.round()
    assert asterisk.hung_up == [] and ended == []
    await reconciler.round()
    assert asterisk.hung_up == ["orphan"]
    assert ended == ["call"]
    assert (reconciler.reaped, reconciler.ended) == (1, 1)


def test_the_interval_is_a_setting_of_ari(tmp_path: Path) -> None:
    """ari.reconcile_interval reaches the ARI config (default 30 s; 0 turns it off)."""
    path = tmp_path / "callflow.yaml"
    path.write_text("ari: {password: x, reconcile_interval: 5}\nflows: [a.yaml]\n")
    assert load_settings(path).ari_config().reconcile_interval == 5
    path.write_text("ari: {password: x}\nflows: [a.yaml]\n")
    assert load_settings(path).ari_config().reconcile_interval == 30


async def test_no_round_while_disconnected_nor_across_a_reconnection() -> None:
    """While the event stream is down (or not yet resynced) a round does nothing, and one
    whose connection was replaced while Asterisk was being asked acts on nothing: a call
    missing from a restarted Asterisk is the resync's to end as lost, not a hang-up."""
    asterisk = _Asterisk([in_app("orphan")])
    ended: list[str] = []
    connection: list[int | None] = [None]
    reconciler = Reconciler(
        apps=APPS,
        list_channels=asterisk.list,
        hang_up=asterisk.hangup,
        known=set,
        calls=lambda: {"call"},
        end_call=ended.append,
        clock=lambda: 100.0,
        interval=30,
        grace=0,
        connection=lambda: connection[0],
    )
    await reconciler.round()
    assert (asterisk.hung_up, ended) == ([], [])

    listed = asterisk.list

    async def reconnected_meanwhile() -> Sequence[Channel]:
        connection[0] = 2
        return await listed()

    connection[0] = 1
    reconciler._list_channels = reconnected_meanwhile
    await reconciler.round()
    assert (asterisk.hung_up, ended) == ([], [])

    await reconciler.round()  # connection 2 throughout
    assert (asterisk.hung_up, ended) == (["orphan"], ["call"])
