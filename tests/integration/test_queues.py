"""Real queues: callers in holding bridges, agents' phones rung, positions announced."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from callflow.app.main import App
from callflow.kpi.report import build_report
from callflow.sandbox import SandboxInfo
from callflow.testing.audio import measure
from callflow.testing.softphone import Softphone, SoftphoneError
from tests.integration.conftest import (
    AppFactory,
    PhoneFactory,
    ari_client,
    ari_get,
    bridged,
    wait_for_events,
)

pytestmark = pytest.mark.asterisk

HERE = Path(__file__).parent
FLOW = HERE / "flows" / "queues.yaml"
QUEUES = HERE / "queues.yaml"
AGENTS_FLOW = HERE.parents[1] / "config" / "flows" / "agents.yaml"


async def queue_app(start_app: AppFactory, *agents: str) -> App:
    """callflow with the test queues, these agents logged in."""
    app = await start_app([FLOW], queues=QUEUES)
    assert app.queues is not None
    for agent in agents:
        app.queues.login(agent)
    return app


async def join(app: App, phone: Softphone, number: str) -> str:
    """Dial into a queue and wait until the caller is in it; return the call id."""
    before = len(app.store.events(kind="queue.enter"))
    mark = phone.mark()
    await phone.dial(number)
    await phone.wait_event("CALL_ESTABLISHED", since=mark)
    await wait_for_events(app, "queue.enter", count=before + 1)
    return app.store.events(kind="queue.enter")[-1].call_id


def callers_connected(app: App) -> list[tuple[str, str]]:
    """(caller number, agent) of each queue.connect, in order."""
    return [(e.data["caller"], e.data["agent"]) for e in app.store.events(kind="queue.connect")]


async def test_fifo_order_with_priority_overtaking_and_positions(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Three callers wait in order and hear their own positions; a priority caller who
    joins last is served first; then the others in the order they came."""
    app = await queue_app(start_app)
    assert app.queues is not None
    callers = [await phones(f"caller{i}") for i in (1, 2, 3, 4)]
    ids = [await join(app, phone, "300") for phone in callers[:3]]
    ids.append(await join(app, callers[3], "301"))

    await wait_for_events(app, "queue.announce", count=4)
    announced = {e.call_id: e.data["position"] for e in app.store.events(kind="queue.announce")}
    assert [announced[i] for i in ids] == [1, 2, 3, 1]
    first_sounds = {}
    for call_id in ids:
        await wait_for_events(app, "call.playback.started", call_id=call_id)
        started = app.store.events(call_id=call_id, kind="call.playback.started")
        first_sounds[call_id] = started[0].data["media"]
    assert first_sounds[ids[0]] == "sound:queue-youarenext"
    assert first_sounds[ids[1]] == "sound:queue-thereare"
    assert first_sounds[ids[3]] == "sound:queue-youarenext"

    agent = await phones("agent1", auto_answer=True)
    app.queues.login("agent1")
    app.queues.kick()
    mark = 0
    for served in range(4):
        established = await agent.wait_event("CALL_ESTABLISHED", since=mark, timeout=15)
        mark = agent.events.index(established) + 1
        await wait_for_events(app, "queue.connect", count=served + 1)
        await asyncio.sleep(0.5)
        await agent.hangup()
        await wait_for_events(app, "queue.complete", count=served + 1)
    assert [caller for caller, _ in callers_connected(app)] == [
        "+15550000004",
        "+15550000001",
        "+15550000002",
        "+15550000003",
    ]
    for phone in callers:  # music, their announcement, the agent: never silence
        heard = await phone.recording()
        assert heard is not None and measure(heard).voiced_seconds > 0.5, phone.user


async def talk_and_hang_up(
    asterisk: SandboxInfo, agent: Softphone, since: int = 0, talk: float = 0.5
) -> int:
    """The agent's phone answers (auto), is put through, talks briefly and hangs up; returns
    a new mark."""
    established = await agent.wait_event("CALL_ESTABLISHED", since=since, timeout=15)
    await bridged(asterisk, agent.user)
    await asyncio.sleep(talk)
    await agent.hangup()
    return agent.events.index(established) + 1


async def holding_bridges(asterisk: SandboxInfo) -> dict[str, set[str]]:
    """The holding bridges Asterisk has now, and the channels in each."""
    bridges = await asyncio.to_thread(ari_get, asterisk, "bridges")
    return {b["id"]: set(b["channels"]) for b in bridges if b["bridge_type"] == "holding"}


async def test_a_holding_bridge_destroyed_under_its_callers_holds_them_again(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Somebody else destroys the queue's holding bridge (an operator's script through ARI,
    another app): its callers are put back in a holding bridge at once and hear the music
    again, not dead air; a caller who comes next joins one; an agent then serves them in
    the order they came, and nobody left the queue."""
    app = await queue_app(start_app)
    assert app.queues is not None
    callers = [await phones(f"caller{i}") for i in (1, 2, 3)]
    ids = [await join(app, phone, "300") for phone in callers[:2]]
    for call_id in ids:  # their first announcements are over: they hear the bridge's music
        await wait_for_events(app, "queue.announce", call_id=call_id)
        started = app.store.events(call_id=call_id, kind="call.playback.started")
        await wait_for_events(
            app, "call.playback", call_id=call_id, count=len({e.data["playback"] for e in started})
        )
    [(old, members)] = (await holding_bridges(asterisk)).items()
    assert set(ids) <= members, (old, members)

    async with ari_client(asterisk, "operator") as ari:
        await ari.bridges.destroy(old)
    loop = asyncio.get_running_loop()
    destroyed = loop.time()
    while True:
        held = await holding_bridges(asterisk)
        homes = {i: [b for b, members in held.items() if i in members] for i in ids}
        if all(len(found) == 1 for found in homes.values()):
            break
        # A bound for "never", not a speed check: on a loaded machine it takes a while.
        assert loop.time() - destroyed < 10.0, ("not held again within 10 s", held)
        await asyncio.sleep(0.05)
    print(f"held again after {loop.time() - destroyed:.3f} s in {sorted(held)}")
    assert old not in held
    ids.append(await join(app, callers[2], "300"))
    assert any(ids[2] in members for members in (await holding_bridges(asterisk)).values())

    await asyncio.sleep(6.0)  # the music goes on: caller2 listens, then gives up
    await callers[1].hangup()
    await wait_for_events(app, "queue.abandon")
    heard = await callers[1].recording()
    assert heard is not None
    after = measure(heard, last=5.0)
    print(f"caller2 heard {after.voiced_seconds:.2f} s of sound in the last {after.seconds} s")
    assert after.voiced_seconds > 3.5, after

    agent = await phones("agent1", auto_answer=True)
    app.queues.login("agent1")
    app.queues.kick()
    mark = await talk_and_hang_up(asterisk, agent)
    await talk_and_hang_up(asterisk, agent, since=mark)
    await wait_for_events(app, "queue.complete", count=2)
    assert [caller for caller, _ in callers_connected(app)] == ["+15550000001", "+15550000003"]
    assert app.store.events(kind="queue.exit") == []
    [abandon] = app.store.events(kind="queue.abandon")
    assert abandon.call_id == ids[1] and abandon.data["original_position"] == 2


async def test_a_caller_who_comes_as_the_holding_bridge_is_destroyed_gets_a_new_one(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    no_leaks: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The bridge is destroyed while caller1 hears their first announcement (Asterisk takes
    them out only when it ends), and caller2 comes in that moment: callflow's books still
    list the bridge, Asterisk answers 404 to caller2's addChannel, and caller2 is held in a
    new bridge instead of leaving the queue; caller1 joins them there after the prompt."""
    app = await queue_app(start_app)
    callers = [await phones(f"caller{i}") for i in (1, 2)]
    first = await join(app, callers[0], "300")
    await wait_for_events(app, "call.playback.started", call_id=first)
    [(old, _)] = (await holding_bridges(asterisk)).items()
    async with ari_client(asterisk, "operator") as ari:
        await ari.bridges.destroy(old)
    second = await join(app, callers[1], "300")
    assert app.store.events(kind="call.playback", call_id=first) == [], "announcement over"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15.0
    while not any(
        {first, second} <= members for members in (await holding_bridges(asterisk)).values()
    ):
        assert loop.time() < deadline, await holding_bridges(asterisk)
        await asyncio.sleep(0.1)
    assert old not in await holding_bridges(asterisk)
    assert f"holding bridge {old} is gone" in caplog.text
    assert app.store.events(kind="queue.exit") == []
    await asyncio.sleep(3.0)
    for phone in callers:
        await phone.hangup()
    await wait_for_events(app, "queue.abandon", count=2)
    for phone in callers:
        heard = await phone.recording()
        assert heard is not None and measure(heard, last=2.5).voiced_seconds > 2.0, phone.user


async def test_skills_route_to_the_agent_who_has_them(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A queue that needs Spanish rings the one agent who speaks it, not the idlest one."""
    app = await queue_app(start_app)
    agents = [await phones(f"agent{i}", auto_answer=True) for i in (1, 2, 3)]
    assert app.queues is not None
    for name in ("agent1", "agent2", "agent3"):
        app.queues.login(name)
    caller = await phones("caller1")
    await join(app, caller, "302")
    await talk_and_hang_up(asterisk, agents[2])
    await wait_for_events(app, "queue.complete")
    assert callers_connected(app) == [("+15550000001", "agent3")]
    assert [e.data["agent"] for e in app.store.events(kind="queue.ring")] == ["agent3"]


async def test_last_agent_is_preferred_for_a_returning_caller(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A caller who spoke with agent2 is offered to agent2 again, though agent1 is idler."""
    app = await queue_app(start_app, "agent2")
    assert app.queues is not None
    agent1 = await phones("agent1", auto_answer=True)
    agent2 = await phones("agent2", auto_answer=True)
    caller = await phones("caller1")
    mark = caller.mark()
    await join(app, caller, "300")
    agent2_mark = await talk_and_hang_up(asterisk, agent2)
    await caller.wait_event("CALL_CLOSED", since=mark)
    await wait_for_events(app, "queue.complete")

    app.queues.login("agent1")  # idle longest now, and the longest-idle strategy's pick
    await join(app, caller, "300")
    [_, second] = app.store.events(kind="queue.enter")
    assert second.data["last_agent"] == "agent2"
    await talk_and_hang_up(asterisk, agent2, since=agent2_mark)
    await wait_for_events(app, "queue.complete", count=2)
    assert [agent for _, agent in callers_connected(app)] == ["agent2", "agent2"]
    assert not [e for e in agent1.events if e.get("type") == "CALL_ESTABLISHED"]


async def test_ring_no_answer_moves_on_and_keeps_the_place(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """agent1 lets the first caller's ring run out and (allowed one miss) is paused; the
    first caller keeps their place ahead of the second and gets agent2 when they log in."""
    app = await queue_app(start_app, "agent1")
    assert app.queues is not None
    await phones("agent1")  # registered, never answers
    agent2 = await phones("agent2", auto_answer=True)
    first, second = await phones("caller1"), await phones("caller2")
    await join(app, first, "305")
    await join(app, second, "305")
    await wait_for_events(app, "queue.ring_no_answer", timeout=15)
    [missed] = app.store.events(kind="queue.ring_no_answer")
    assert (missed.data["agent"], missed.data["outcome"]) == ("agent1", "no_answer")
    assert missed.data["ring_time"] >= 2.0
    states = [
        (e.data["state"], e.data["reason"])
        for e in app.store.events(kind="agent.state")
        if e.data["agent"] == "agent1"
    ]
    assert states[-1] == ("paused", "ring-no-answer")

    app.queues.login("agent2")
    app.queues.kick()
    mark = await talk_and_hang_up(asterisk, agent2)
    await talk_and_hang_up(asterisk, agent2, since=mark)
    await wait_for_events(app, "queue.complete", count=2)
    assert callers_connected(app) == [("+15550000001", "agent2"), ("+15550000002", "agent2")]


async def test_an_agent_who_rejects_is_rung_again_after_the_retry_delay(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """agent2 declines the ring: the agent's state follows (available again, not paused
    after one miss), the caller stays in the queue, and after the queue's retry delay the
    same agent is rung again and answers."""
    app = await queue_app(start_app, "agent2")
    assert app.queues is not None
    agent = await phones("agent2")
    caller = await phones("caller1")
    mark = agent.mark()
    call_id = await join(app, caller, "300")
    await agent.wait_event("CALL_INCOMING", since=mark, timeout=10)
    await agent.hangup()  # declines the incoming call (486)
    await wait_for_events(app, "queue.ring_no_answer")
    [declined] = app.store.events(kind="queue.ring_no_answer")
    assert declined.data["agent"] == "agent2"
    # 486 Busy Here is Q.850 cause 17, read from the leg's ChannelDestroyed.
    assert (declined.data["outcome"], declined.data["cause"]) == ("busy", 17)
    assert app.queues.router.agents["agent2"].state.value == "available"
    assert app.queues.router.position(call_id) == 1

    closed = await agent.wait_event("CALL_CLOSED", since=mark, timeout=10)
    await agent.wait_event("CALL_INCOMING", since=agent.events.index(closed) + 1, timeout=10)
    await agent.answer()
    await wait_for_events(app, "queue.connect")
    assert app.queues.router.agents["agent2"].state.value == "on_call"
    rings = app.store.events(kind="queue.ring")
    assert len(rings) == 2
    assert (rings[1].at - declined.at).total_seconds() >= 0.9  # support: retry_delay 1
    await agent.hangup()
    await wait_for_events(app, "queue.complete")
    [done] = app.store.events(kind="queue.complete")
    assert done.data["hung_up_by"] == "agent"


async def test_wrapup_is_respected_before_the_next_caller(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """After a call, the agent is not rung again until the queue's 3 s wrap-up is over."""
    app = await queue_app(start_app, "agent2")
    agent2 = await phones("agent2", auto_answer=True)
    first, second = await phones("caller1"), await phones("caller2")
    await join(app, first, "305")
    await join(app, second, "305")
    mark = await talk_and_hang_up(asterisk, agent2)
    await talk_and_hang_up(asterisk, agent2, since=mark)
    await wait_for_events(app, "queue.complete", count=2)
    [done, _] = app.store.events(kind="queue.complete")
    [_, next_ring] = app.store.events(kind="queue.ring")
    assert (next_ring.at - done.at).total_seconds() >= 3.0 - 0.05
    wrapups = [e for e in app.store.events(kind="agent.state") if e.data["state"] == "wrapup"]
    assert wrapups


async def test_abandon_is_logged_with_the_wait(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A caller who gives up is logged as an abandon with the time waited and the place."""
    app = await queue_app(start_app)
    caller = await phones("caller1")
    call_id = await join(app, caller, "300")
    [enter] = app.store.events(kind="queue.enter")
    await asyncio.sleep(1.5)
    await caller.hangup()
    await wait_for_events(app, "queue.abandon")
    [abandon] = app.store.events(kind="queue.abandon")
    assert abandon.call_id == call_id
    waited = abandon.data["waited"]
    assert 1.5 <= waited <= (abandon.at - enter.at).total_seconds() + 0.01
    assert (abandon.data["position"], abandon.data["original_position"]) == (1, 1)
    assert app.store.queue_entries() == []


async def test_max_wait_sends_the_caller_to_the_timeout_node(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Past the queue's 2 s maximum wait, the caller leaves for the configured flow node."""
    app = await queue_app(start_app)
    caller = await phones("caller1")
    mark = caller.mark()
    call_id = await join(app, caller, "303")
    await caller.wait_event("CALL_CLOSED", since=mark, timeout=15)
    await wait_for_events(app, "call.end")
    [exit_] = app.store.events(kind="queue.exit")
    assert exit_.data["reason"] == "timeout"
    assert exit_.data["waited"] >= 2.0
    steps = [
        (e.data["node"], e.data["outcome"])
        for e in app.store.events(call_id=call_id, kind="flow.step")
    ]
    assert steps == [
        ("short", "overflow: timeout_message"),
        ("timeout_message", "hangup: queue_timeout"),
    ]


async def test_a_full_queue_sends_callers_to_its_overflow(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """With one caller already waiting in a one-caller queue, the next goes to overflow."""
    app = await queue_app(start_app)
    first, second = await phones("caller1"), await phones("caller2")
    await join(app, first, "304")
    mark = second.mark()
    await second.dial("304")
    await second.wait_event("CALL_CLOSED", since=mark, timeout=15)
    await wait_for_events(app, "call.end")
    [exit_] = app.store.events(kind="queue.exit")
    assert exit_.data["reason"] == "full"
    [end] = app.store.events(kind="call.end")
    assert end.data["outcome"] == "hangup:queue_full"
    await first.hangup()
    await wait_for_events(app, "queue.abandon")


async def test_caller_hanging_up_while_an_agent_rings_frees_the_agent(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """The ringing stops when the caller hangs up, and the agent is available again."""
    app = await queue_app(start_app, "agent1")
    agent = await phones("agent1")  # rings, never answers
    caller = await phones("caller1")
    await join(app, caller, "300")
    await agent.wait_event("CALL_INCOMING", timeout=10)
    await caller.hangup()
    await agent.wait_event("CALL_CLOSED", timeout=10)
    await wait_for_events(app, "queue.abandon")
    assert app.queues is not None
    assert app.queues.router.agents["agent1"].state.value == "available"


async def test_callers_leave_when_the_last_agent_logs_out(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """leave_when_empty: the only agent logs out while their phone rings for the caller: the
    ringing stops, and the caller leaves for the queue's 'empty' overflow node."""
    app = await queue_app(start_app, "agent3")
    assert app.queues is not None
    agent = await phones("agent3")  # rings, never answers
    caller = await phones("caller1")
    mark = caller.mark()
    call_id = await join(app, caller, "306")
    await agent.wait_event("CALL_INCOMING", timeout=10)
    app.queues.logout("agent3")
    app.queues.kick()
    await agent.wait_event("CALL_CLOSED", timeout=10)
    await caller.wait_event("CALL_CLOSED", since=mark, timeout=15)
    await wait_for_events(app, "call.end")
    [exit_] = app.store.events(kind="queue.exit")
    assert exit_.data["reason"] == "empty"
    steps = [e.data["outcome"] for e in app.store.events(call_id=call_id, kind="flow.step")]
    assert steps == ["overflow: empty_message", "hangup: queue_empty"]
    [cancelled] = app.store.events(kind="queue.ring_cancelled")
    assert cancelled.data["agent"] == "agent3"
    assert app.queues.router.agents["agent3"].state.value == "logged_out"


async def test_exit_key_leaves_the_queue_for_its_node(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Pressing 0 in the support queue leaves it for the node the queue names."""
    app = await queue_app(start_app)
    caller = await phones("caller1")
    mark = caller.mark()
    call_id = await join(app, caller, "300")
    await caller.send_dtmf("0")
    await caller.wait_event("CALL_CLOSED", since=mark, timeout=15)
    await wait_for_events(app, "call.end")
    [exit_] = app.store.events(kind="queue.exit")
    assert (exit_.data["reason"], exit_.data["key"]) == ("exit_key", "0")
    steps = [e.data["outcome"] for e in app.store.events(call_id=call_id, kind="flow.step")]
    assert steps == ["exit_key: goodbye", "hangup: done"]
    assert app.queues.exited == {}  # its place, kept for a callback, let go with the call


async def test_agent_feature_codes_log_in_pause_and_out(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """An agent logs in, pauses for lunch, unpauses and logs out by dialling the sample
    feature-code flow's *1, *5, *4 and *2; a caller dialling *1 changes nobody's state."""
    app = await start_app([FLOW, AGENTS_FLOW], queues=QUEUES)
    assert app.queues is not None
    phone = await phones("agent1")
    expected = {"*1": "available", "*5": "paused", "*4": "available", "*2": "logged_out"}
    for code, state in expected.items():
        mark = phone.mark()
        await phone.dial(code)
        await phone.wait_event("CALL_CLOSED", since=mark, timeout=10)
        assert app.queues.router.agents["agent1"].state.value == state, code
    states = [(e.data["state"], e.data["reason"]) for e in app.store.events(kind="agent.state")]
    assert states == [
        ("available", None),
        ("paused", "lunch"),
        ("available", None),
        ("logged_out", None),
    ]
    outcomes = [e.data["outcome"] for e in app.store.events(kind="flow.step")]
    assert outcomes[:2] == ["login: agent1 available", "hangup: agent_login"]

    caller = await phones("caller1")  # in callflow-inbound: not an agent's phone
    mark = caller.mark()
    await caller.dial("*1")
    await caller.wait_event("CALL_CLOSED", since=mark, timeout=10)
    [refused] = [e for e in app.store.events(kind="flow.step") if e.data["node"] == "login"][-1:]
    assert refused.data["outcome"] == "failed: not_an_agent"
    assert all(a.state.value == "logged_out" for a in app.queues.router.agents.values())


async def test_eight_callers_three_agents_everyone_served_once_at_a_time(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """Eight callers share three agents: all are served, each heard their own position,
    no agent is rung for two callers at once and no caller rings two agents at once."""
    app = await queue_app(start_app)
    assert app.queues is not None
    agents = {name: await phones(name, auto_answer=True) for name in ("agent1", "agent2", "agent3")}
    callers = [await phones(f"caller{i}") for i in range(1, 9)]
    ids = [await join(app, phone, "300") for phone in callers]
    await wait_for_events(app, "queue.announce", count=8)
    announced = {e.call_id: e.data["position"] for e in app.store.events(kind="queue.announce")}
    assert [announced[i] for i in ids] == list(range(1, 9))

    async def agent_works(name: str) -> None:
        phone, mark = agents[name], 0
        while True:
            try:
                mark = await talk_and_hang_up(asterisk, phone, since=mark, talk=1.0)
            except SoftphoneError:  # no more calls for this agent
                return

    for name in agents:
        app.queues.login(name)
    app.queues.kick()
    workers = [asyncio.create_task(agent_works(name)) for name in agents]
    await wait_for_events(app, "queue.complete", count=8, timeout=60)
    for worker in workers:
        worker.cancel()
    await asyncio.gather(*workers, return_exceptions=True)

    served = [caller for caller, _ in callers_connected(app)]
    assert sorted(served) == sorted(f"+155500000{i:02d}" for i in range(1, 9))
    # Exclusivity, read back from the event log.
    busy: dict[str, str] = {}  # agent -> call it is ringing or talking to
    ringing: dict[str, str] = {}  # call -> agent ringing for it
    for e in app.store.events():
        agent = e.data.get("agent")
        if e.kind == "queue.ring":
            assert agent not in busy, f"{agent} rung while busy with {busy[agent]}"
            assert e.call_id not in ringing, f"{e.call_id} rang two agents"
            busy[agent], ringing[e.call_id] = e.call_id, agent
        elif e.kind == "queue.ring_no_answer":
            busy.pop(agent, None)
            ringing.pop(e.call_id, None)
        elif e.kind == "queue.connect":
            ringing.pop(e.call_id, None)
        elif e.kind == "queue.complete":
            busy.pop(agent, None)


async def test_returning_caller_is_held_for_their_busy_last_agent(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """While agent2 is on another call, their returning caller waits for them (up to the
    queue's 10 s) rather than going to agent1, who is free; a new caller gets agent1."""
    app = await queue_app(start_app, "agent2")
    assert app.queues is not None
    agent1 = await phones("agent1", auto_answer=True)
    agent2 = await phones("agent2", auto_answer=True)
    returning, other, newcomer = [await phones(f"caller{i}") for i in (1, 2, 3)]
    mark = returning.mark()
    await join(app, returning, "300")
    agent2_mark = await talk_and_hang_up(asterisk, agent2)  # the history: caller1 spoke with agent2
    await returning.wait_event("CALL_CLOSED", since=mark)
    await wait_for_events(app, "queue.complete")

    await join(app, other, "300")  # agent2 takes caller2 and stays on the call
    established = await agent2.wait_event("CALL_ESTABLISHED", since=agent2_mark)
    app.queues.login("agent1")
    await join(app, returning, "300")  # held for agent2
    await join(app, newcomer, "300")  # goes to agent1
    await talk_and_hang_up(asterisk, agent1, talk=0.2)
    await wait_for_events(app, "queue.complete", count=2)
    await asyncio.sleep(1.0)
    await agent2.hangup()  # agent2 is free: the held caller is theirs
    await talk_and_hang_up(asterisk, agent2, since=agent2.events.index(established) + 1)
    await wait_for_events(app, "queue.complete", count=4)
    assert callers_connected(app) == [
        ("+15550000001", "agent2"),
        ("+15550000002", "agent2"),
        ("+15550000003", "agent1"),
        ("+15550000001", "agent2"),
    ]


async def test_the_wait_told_on_a_live_call_is_the_default_predictors_figure(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """The live queue tells callflow's default figure, worded in steps that grow with the
    wait and played as Asterisk's queue sounds. With the one agent busy and nothing learnt
    yet, the caller next in line is told the 80th percentile of one 300 s handle time
    (300 ln 5 = 483 s), rounded up to 30 s: "about 8 minutes 30 seconds"."""
    app = await queue_app(start_app, "agent1")
    assert app.queues is not None
    agent = await phones("agent1", auto_answer=True)
    first, second = await phones("caller1"), await phones("caller2")
    await join(app, first, "300")
    established = await agent.wait_event("CALL_ESTABLISHED", timeout=15)
    mark = agent.events.index(established) + 1
    await wait_for_events(app, "queue.connect")
    call_id = await join(app, second, "300")
    await wait_for_events(app, "queue.announce", call_id=call_id)
    [announced] = app.store.events(call_id=call_id, kind="queue.announce")
    assert announced.data["said"] == ["position=1", "wait=about 8 minutes 30 seconds"]
    assert 480.0 < announced.data["estimated_wait"] < 486.0

    async with asyncio.timeout(20):  # the announcement plays out, sound by sound
        while True:
            media = [
                e.data["media"]
                for e in app.store.events(call_id=call_id, kind="call.playback.started")
            ]
            if "sound:queue-seconds" in media:
                break
            await asyncio.sleep(0.1)
    said = media[media.index("sound:queue-holdtime") :]
    assert said[:5] == [
        "sound:queue-holdtime",
        "sound:digits/8",
        "sound:queue-minutes",
        "sound:digits/30",
        "sound:queue-seconds",
    ]
    await agent.hangup()
    await talk_and_hang_up(asterisk, agent, since=mark)
    await wait_for_events(app, "queue.complete", count=2)


async def test_an_agent_who_holds_the_caller_has_hold_time_not_talk_time(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """The agent's phone puts the caller on hold (SIP re-INVITE) for a while, then resumes:
    the caller hears music meanwhile, and queue.complete splits the conversation into talk
    and hold, and AHT counts both."""
    console_at = asterisk.console_file.stat().st_size
    app = await queue_app(start_app, "agent1")
    agent = await phones("agent1", auto_answer=True)
    caller = await phones("caller1")
    call_id = await join(app, caller, "300")
    await agent.wait_event("CALL_ESTABLISHED", timeout=15)
    await bridged(asterisk, "agent1")
    await asyncio.sleep(0.5)
    await agent.command("hold")
    await asyncio.sleep(3.0)
    await agent.command("resume")
    await asyncio.sleep(0.5)
    await agent.hangup()
    await wait_for_events(app, "queue.complete", call_id=call_id)
    [complete] = app.store.events(call_id=call_id, kind="queue.complete")
    print(f"queue.complete: talk {complete.data['talk']} s, hold {complete.data['hold']} s")
    # Meanwhile the caller heard music: Asterisk's own, for a party held in a bridge.
    with asterisk.console_file.open("rb") as console:
        console.seek(console_at)
        said = console.read().decode(errors="replace")
    assert "Started music on hold, class 'default', on channel 'PJSIP/caller1-" in said, said
    assert "Stopped music on hold on PJSIP/caller1-" in said, said
    assert 2.0 < complete.data["hold"] < 4.5, complete.data
    assert 0.5 < complete.data["talk"] < 3.0, complete.data
    events = app.store.events()
    now = events[-1].at + dt.timedelta(seconds=1)
    report = build_report(
        events, events[0].at - dt.timedelta(minutes=1), now, interval="1d", now=now
    )
    rows = [r.figures.aht for r in report.queues if r.figures.queue == "support"]
    handled = complete.data["talk"] + complete.data["hold"]  # support has no wrap-up
    assert rows and all(aht is not None and abs(aht - handled) < 0.01 for aht in rows), rows


async def test_post_call_survey_records_the_answer_with_the_agent(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """The agent hangs up first: the caller stays on the line for the queue's after_call
    survey, presses 1 ("resolved"), and the answer is logged with the agent and queue of
    the conversation; the KPIs count it as first-call resolution for agent1."""
    app = await queue_app(start_app, "agent1")
    agent = await phones("agent1", auto_answer=True)
    caller = await phones("caller1")
    call_id = await join(app, caller, "307")
    await agent.wait_event("CALL_ESTABLISHED", timeout=15)
    await wait_for_events(app, "queue.connect", call_id=call_id)
    await bridged(asterisk, "agent1")
    await asyncio.sleep(0.5)
    await agent.hangup()
    await wait_for_events(app, "queue.complete", call_id=call_id)
    await wait_for_events(  # the survey question plays to the caller
        app,
        "call.playback.started",
        call_id=call_id,
        where=lambda e: e.data["media"] == "sound:hello-world",
    )
    await caller.send_dtmf("1")
    await wait_for_events(app, "survey.answer", call_id=call_id)
    [answer] = app.store.events(call_id=call_id, kind="survey.answer")
    assert answer.data == {
        "survey": "post_call",
        "question": "resolved",
        "value": "1",
        "agent": "agent1",
        "queue": "support",
        "caller": "+15550000001",
    }
    await wait_for_events(app, "call.end", call_id=call_id)
    [end] = app.store.events(call_id=call_id, kind="call.end")
    assert end.data["outcome"] == "hangup:survey_done"

    events = app.store.events()
    start = events[0].at - dt.timedelta(minutes=1)
    now = events[-1].at + dt.timedelta(seconds=1)
    report = build_report(events, start, now, interval="1d", now=now)
    rows = [r for r in report.agents if r.figures.agent == "agent1" and r.figures.fcr is not None]
    assert rows and all(r.figures.fcr == 1.0 for r in rows)
