"""Call.converse against a stub ARI client: the caller and an answered leg in one mixing
bridge until the leg hangs up; what the caller pressed meanwhile is not kept for the flow."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast

from callflow.ari.dispatch import EventQueue
from callflow.ari.events import StasisStart
from callflow.ari.rest import AriClient
from callflow.call.primitives import Call, Leg
from tests.unit.app.test_call_play import CHANNEL, StubAri, dtmf, event, until
from tests.unit.ari.ari_fake import channel_json

LEG = "1700.2"


class BridgingAri(StubAri):
    """The stub with bridges: records create, addChannel and destroy."""

    def __init__(self) -> None:
        super().__init__()
        self.bridges = self

    async def create(self, bridge_type: str, *, bridge_id: str) -> None:
        self.log.append(("create", f"{bridge_type} {bridge_id}"))

    async def add_channel(self, bridge_id: str, channels: Sequence[str]) -> None:
        self.log.append(("add", " ".join(channels)))

    async def destroy(self, bridge_id: str) -> None:
        self.log.append(("destroy", bridge_id))


async def conversation(ari: BridgingAri) -> tuple[Call, Leg, asyncio.Task[None]]:
    """A call talking with its answered leg, both in the bridge by now."""
    start = event("StasisStart", args=["inbound", "100"], channel=channel_json(CHANNEL))
    assert isinstance(start, StasisStart)
    call = Call(cast(AriClient, ari), start, EventQueue(CHANNEL))
    leg = Leg(LEG, "PJSIP/agent1", answered=True)
    call.legs[LEG] = leg
    talking = asyncio.create_task(call.converse(leg))
    await until(lambda: any(kind == "add" for kind, _ in ari.log))
    return call, leg, talking


async def test_keys_pressed_while_talking_answer_nothing_after() -> None:
    """A key the caller pressed to the agent (a non-native bridge passes it to callflow) is
    dropped when the conversation ends: an after-call survey must not take it as an answer.
    The bridge is destroyed once the agent hangs up."""
    ari = BridgingAri()
    call, leg, talking = await conversation(ari)
    call.events.put(dtmf("2"))
    await until(lambda: list(call.digits) == ["2"])  # read while talking
    call.events.put(event("StasisEnd", channel=channel_json(LEG)))  # the agent hangs up
    async with asyncio.timeout(2):
        await talking
    assert leg.ended
    assert [kind for kind, _ in ari.log] == ["create", "add", "destroy"]
    assert list(call.digits) == []


async def test_the_seconds_the_agent_holds_the_caller_are_counted_on_the_leg() -> None:
    """ChannelHold to ChannelUnhold of the agent's leg is hold time; a hold still running
    when the leg hangs up ends with it."""
    ari = BridgingAri()
    call, leg, talking = await conversation(ari)
    call.events.put(event("ChannelHold", channel=channel_json(LEG)))
    await until(lambda: leg.held_since is not None)
    await asyncio.sleep(0.05)
    call.events.put(event("ChannelUnhold", channel=channel_json(LEG)))
    await until(lambda: leg.held_since is None)
    first = leg.hold
    assert first >= 0.05
    call.events.put(event("ChannelHold", channel=channel_json(LEG)))
    await until(lambda: leg.held_since is not None)
    call.events.put(event("StasisEnd", channel=channel_json(LEG)))  # hangs up while holding
    async with asyncio.timeout(2):
        await talking
    assert leg.held_since is None and leg.hold >= first
