"""Tests for the router: order, strategies, skills, last agent, exclusivity and queue rules."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Mapping

import pytest

from callflow.queue.agents import AgentState
from callflow.queue.config import (
    JOIN_WORDS,
    LEAVE_WORDS,
    AgentConfig,
    LastAgentConfig,
    Overflow,
    QueueCenter,
    QueueConfig,
    Strategy,
    Target,
    Widening,
)
from callflow.queue.routing import (
    DAY,
    BadEntry,
    DuplicateEntry,
    EntryKind,
    LeaveReason,
    Offer,
    QueueEntry,
    Router,
    UnknownQueue,
    last_agent_for,
    latest_agents,
)

SUPPORT = "support"


def _router(
    *queues: QueueConfig,
    agents: Mapping[str, Mapping[str, int]] | None = None,
    rng: random.Random | None = None,
    login: bool = True,
) -> Router:
    """A center of ``agents`` (name -> skills), each serving every queue unless the queue
    lists its members; all logged in at time 0 unless ``login`` is False."""
    agents = agents if agents is not None else {"alice": {}, "bob": {}}
    queues = queues or (QueueConfig(SUPPORT),)
    configs = [
        AgentConfig(
            name,
            f"PJSIP/{name}",
            skills=skills,
            queues=tuple(q.name for q in queues if not q.members),
        )
        for name, skills in agents.items()
    ]
    router = Router(QueueCenter.build(configs, queues), rng or random.Random(7))
    if login:
        for name in agents:
            router.login(name, 0.0)
    return router


def _entry(
    entry_id: str,
    joined_at: float = 0.0,
    queue: str = SUPPORT,
    *,
    priority: int | None = None,
    skills: Mapping[str, int] | None = None,
    last_agent: str | None = None,
    kind: EntryKind = "caller",
) -> QueueEntry:
    return QueueEntry(
        entry_id,
        queue,
        f"+4420{entry_id}",
        priority=priority,
        skills=skills or {},
        joined_at=joined_at,
        last_agent=last_agent,
        kind=kind,
    )


def _pairs(offers: list[Offer]) -> list[tuple[str, str]]:
    return [(o.entry_id, o.agent) for o in offers]


def _talk(router: Router, offer: Offer, start: float, end: float) -> None:
    """The agent answers at ``start`` and hangs up at ``end``."""
    router.ring_ended(offer, "answered", start)
    router.call_ended(offer.agent, end)


# --------------------------------------------------------------------------- order


def test_callers_are_served_first_in_first_out() -> None:
    """With one agent, callers are offered in the order they joined."""
    router = _router(agents={"alice": {}})
    for i, t in enumerate((0.0, 1.0, 2.0)):
        assert router.join(_entry(f"c{i}", t), t).position == i + 1
    first = router.offers(3.0)
    assert _pairs(first) == [("c0", "alice")]
    _talk(router, first[0], 4.0, 60.0)
    assert _pairs(router.offers(60.0)) == [("c1", "alice")]
    assert router.position("c2") == 2


def test_higher_priority_overtakes_earlier_callers() -> None:
    """A later caller with a higher priority is answered first and placed ahead."""
    router = _router(agents={"alice": {}}, login=False)
    router.join(_entry("early", 0.0), 0.0)
    decision = router.join(_entry("vip", 5.0, priority=5), 5.0)
    assert decision.position == 1
    assert decision.entry is not None and decision.entry.original_position == 1
    assert router.position("early") == 2
    router.login("alice", 6.0)
    assert _pairs(router.offers(6.0)) == [("vip", "alice")]


def test_priority_defaults_to_the_queue_s() -> None:
    """An entry without a priority takes its queue's default at join."""
    router = _router(QueueConfig(SUPPORT, priority=3))
    decision = router.join(_entry("c"), 0.0)
    assert decision.entry is not None and decision.entry.priority == 3


def test_positions_count_callback_placeholders() -> None:
    """A callback placeholder holds its place: the live caller behind it is number 2."""
    router = _router(agents={"alice": {}}, login=False)
    router.join(_entry("cb", 0.0, kind="callback"), 0.0)
    router.join(_entry("live", 10.0), 10.0)
    assert router.position("live") == 2
    assert router.callers_waiting(SUPPORT) == 2
    assert router.callers_waiting(SUPPORT, kind="caller") == 1


def test_to_callback_keeps_the_callers_place() -> None:
    """A caller who asks for a callback becomes a placeholder at the same position."""
    router = _router(agents={"alice": {}}, login=False)
    router.join(_entry("a", 0.0), 0.0)
    router.join(_entry("b", 1.0), 1.0)
    departure = router.to_callback("a", 30.0)
    assert departure.reason is LeaveReason.CALLBACK
    assert departure.waited == 30.0
    placeholder = router.entry("a")
    assert placeholder is not None and placeholder.kind == "callback"
    assert router.position("a") == 1
    assert router.position("b") == 2


def test_positions_and_order_follow_every_join_and_leave() -> None:
    """Positions and service order stay those of (priority, join time, arrival) through
    random joins (resumed callers with an earlier join time too), leaves and callback
    placeholders, in two queues, checked against a plain sort after every change."""
    rng = random.Random(14)
    other = "sales"
    router = _router(QueueConfig(SUPPORT), QueueConfig(other), agents={"alice": {}}, login=False)
    arrivals: dict[str, int] = {}  # id -> arrival number (the tie-break of equal times)
    for step in range(600):
        waiting = list(arrivals)
        if waiting and rng.random() < 0.4:
            gone = rng.choice(waiting)
            if rng.random() < 0.2:
                router.to_callback(gone, float(step))
            else:
                assert router.leave(gone, float(step), "abandon") is not None
                del arrivals[gone]
        else:
            name = f"c{step}"
            joined = float(rng.choice([step, step, rng.randrange(step + 1)]))
            priority = rng.choice([None, None, 1, 5])
            queue = rng.choice([SUPPORT, other])
            assert router.join(_entry(name, joined, queue, priority=priority), joined).joined
            arrivals[name] = step
        for queue in (SUPPORT, other):
            entries = [e for e in (router.entry(i) for i in arrivals) if e and e.queue == queue]
            expected = sorted(
                entries, key=lambda e: (-(e.priority or 0), e.joined_at, arrivals[e.id])
            )
            assert [e.id for e in router.entries(queue)] == [e.id for e in expected]
            assert [router.position(e.id) for e in expected] == list(range(1, len(expected) + 1))
    everyone = sorted(
        (e for e in (router.entry(i) for i in arrivals) if e is not None),
        key=lambda e: (-(e.priority or 0), e.joined_at, arrivals[e.id]),
    )
    assert [e.id for e in router.entries()] == [e.id for e in everyone]


# --------------------------------------------------------------------------- strategies


def test_longest_idle_picks_the_agent_idle_longest() -> None:
    """longest-idle rings the agent whose last call ended earliest."""
    router = _router(
        QueueConfig(SUPPORT, strategy=Strategy.LONGEST_IDLE), agents={"alice": {}, "bob": {}}
    )
    for agent, ended in (("alice", 100.0), ("bob", 50.0)):
        a = router.agent(agent)
        a.ring(ended - 20, "old", SUPPORT)
        a.answered(ended - 19)
        a.call_ended(ended)
    router.join(_entry("c", 120.0), 120.0)
    assert _pairs(router.offers(120.0)) == [("c", "bob")]


def test_round_robin_memory_continues_after_the_last_agent_rung() -> None:
    """round-robin-memory rings the next member after the one rung last, wrapping round."""
    router = _router(
        QueueConfig(SUPPORT, strategy=Strategy.ROUND_ROBIN_MEMORY),
        agents={"alice": {}, "bob": {}, "carol": {}},
    )
    rung = []
    for i in range(4):
        router.join(_entry(f"c{i}", float(i)), float(i))
        (offer,) = router.offers(float(i))
        rung.append(offer.agent)
        _talk(router, offer, float(i), float(i) + 0.5)
    assert rung == ["alice", "bob", "carol", "alice"]


def test_fewest_calls_picks_the_agent_with_fewest_calls_in_this_queue() -> None:
    """fewest-calls counts answered calls per queue: calls from another queue do not count."""
    router = _router(
        QueueConfig(SUPPORT, strategy=Strategy.FEWEST_CALLS),
        QueueConfig("billing"),
        agents={"alice": {}, "bob": {}},
    )
    calls = {"alice": [SUPPORT, "billing", "billing"], "bob": [SUPPORT, SUPPORT]}
    for agent, queues in calls.items():
        a = router.agent(agent)
        for queue in queues:
            a.ring(1.0, "old", queue)
            a.answered(1.0)
            a.call_ended(2.0)
    router.join(_entry("c", 10.0), 10.0)
    assert _pairs(router.offers(10.0)) == [("c", "alice")]


def test_linear_always_starts_with_the_first_member() -> None:
    """linear rings members in their listed order, the first free one each time."""
    router = _router(
        QueueConfig(SUPPORT, strategy=Strategy.LINEAR, members=("carol", "alice", "bob")),
        agents={"alice": {}, "bob": {}, "carol": {}},
    )
    router.join(_entry("c1"), 0.0)
    router.join(_entry("c2", 1.0), 1.0)
    assert _pairs(router.offers(1.0)) == [("c1", "carol"), ("c2", "alice")]


def test_ring_all_rings_everyone_and_the_first_answer_stops_the_rest() -> None:
    """ring-all offers one caller to every qualifying agent; an answer cancels the others."""
    router = _router(
        QueueConfig(SUPPORT, strategy=Strategy.RING_ALL),
        agents={"alice": {}, "bob": {}, "carol": {}},
    )
    router.join(_entry("c"), 0.0)
    offers = router.offers(0.0)
    assert sorted(o.agent for o in offers) == ["alice", "bob", "carol"]
    assert router.offers(1.0) == []  # pending: not offered again
    bob = next(o for o in offers if o.agent == "bob")
    stop = router.ring_ended(bob, "answered", 3.0)
    assert sorted(o.agent for o in stop) == ["alice", "carol"]
    assert router.agent("alice").state is AgentState.AVAILABLE
    assert router.agent("bob").state is AgentState.ON_CALL
    assert router.entry("c") is None
    # a late "no answer" for a cancelled ring is ignored
    assert router.ring_ended(stop[0], "no_answer", 15.0) == []
    assert router.agent("alice").ring_no_answers == 0


def test_random_is_seeded_and_only_picks_qualifying_agents() -> None:
    """random draws from the passed-in generator among the agents who qualify."""

    def draw(seed: int) -> list[str]:
        router = _router(
            QueueConfig(SUPPORT, strategy=Strategy.RANDOM, skills={"english": 1}),
            agents={"alice": {"english": 1}, "bob": {"english": 1}, "carol": {}},
            rng=random.Random(seed),
        )
        picks = []
        for i in range(40):
            router.join(_entry(f"c{i}", float(i)), float(i))
            (offer,) = router.offers(float(i))
            picks.append(offer.agent)
            _talk(router, offer, float(i), float(i))
        return picks

    assert draw(1) == draw(1)
    assert set(draw(1)) == {"alice", "bob"}


def test_weighted_random_favours_the_more_skilled_agent() -> None:
    """weighted-random rings an agent in proportion to 1 + their level in needed skills."""
    router = _router(
        QueueConfig(SUPPORT, strategy=Strategy.WEIGHTED_RANDOM, skills={"billing": 1}),
        agents={"novice": {"billing": 1}, "expert": {"billing": 8}},
        rng=random.Random(3),
    )
    picks: Counter[str] = Counter()
    for i in range(1100):
        router.join(_entry(f"c{i}", float(i)), float(i))
        (offer,) = router.offers(float(i))
        picks[offer.agent] += 1
        _talk(router, offer, float(i), float(i))
    # weights 2 : 9 -> expect about 200 : 900
    assert 120 < picks["novice"] < 280
    assert picks["expert"] == 1100 - picks["novice"]


# --------------------------------------------------------------------------- skills


def test_skills_and_widening_over_time() -> None:
    """Only agents at the needed level qualify, until widening lowers the level."""
    queue = QueueConfig(
        SUPPORT,
        skills={"spanish": 4},
        skill_widening=(Widening(60, 2), Widening(120, 1)),
    )
    router = _router(queue, agents={"ana": {"spanish": 1}, "ben": {"spanish": 3}, "eve": {}})
    router.join(_entry("c"), 0.0)
    assert router.offers(0.0) == []
    assert router.next_wakeup(0.0) == 60.0
    assert router.required_levels(router.entry("c"), 59.9) == {"spanish": 4}  # type: ignore[arg-type]
    assert _pairs(router.offers(60.0)) == [("c", "ben")]
    router.ring_ended(router.pending("c")[0], "no_answer", 75.0)
    # ben is held back by retry_delay; at 120 s the level drops to 1 and ana qualifies
    assert router.offers(76.0) == []
    assert _pairs(router.offers(120.0)) == [("c", "ana")]
    assert router.agent("eve").state is AgentState.AVAILABLE  # never has the skill


def test_entry_skills_add_to_the_queue_s() -> None:
    """A caller's own skills (e.g. language from the flow) are required on top of the queue's."""
    router = _router(agents={"alice": {"english": 5}, "bob": {"english": 5, "german": 2}})
    router.join(_entry("c", skills={"german": 1}), 0.0)
    assert _pairs(router.offers(0.0)) == [("c", "bob")]


# --------------------------------------------------------------------------- last agent

LAST = LastAgentConfig(enabled=True, days=30, wait=20)


def test_last_agent_available_is_offered_first() -> None:
    """A returning caller rings their last agent even when another agent is idle longer
    and other callers waited longer."""
    router = _router(
        QueueConfig(SUPPORT, last_agent=LAST), agents={"alice": {}, "bob": {}}, login=False
    )
    router.login("bob", 0.0)  # bob is idle longest: "first" would get him
    router.login("alice", 1.0)
    router.join(_entry("first", 0.0), 0.0)
    router.join(_entry("returning", 5.0, last_agent="bob"), 5.0)
    assert sorted(_pairs(router.offers(5.0))) == [("first", "alice"), ("returning", "bob")]


def test_last_agent_busy_holds_the_caller_then_falls_back() -> None:
    """While the last agent is on a call the caller waits for them (up to last_agent.wait),
    callers behind are still served, and after the wait anyone may take the caller."""
    router = _router(
        QueueConfig(SUPPORT, last_agent=LAST),
        agents={"alice": {}, "bob": {}, "carol": {}},
    )
    router.join(_entry("busy"), 0.0)
    (offer,) = [o for o in router.offers(0.0) if o.entry_id == "busy"]
    router.ring_ended(offer, "answered", 1.0)  # alice is now on a call
    assert offer.agent == "alice"
    router.join(_entry("returning", 10.0, last_agent="alice"), 10.0)
    router.join(_entry("behind", 11.0), 11.0)
    assert _pairs(router.offers(11.0)) == [("behind", "bob")]  # returning is held
    assert router.next_wakeup(11.0) == 30.0
    assert router.offers(29.9) == []
    assert _pairs(router.offers(30.0)) == [("returning", "carol")]


def test_last_agent_freed_during_the_hold_takes_the_caller() -> None:
    """If the last agent's call ends within the hold, the caller rings them."""
    router = _router(QueueConfig(SUPPORT, last_agent=LAST), agents={"alice": {}, "bob": {}})
    router.join(_entry("busy"), 0.0)
    (offer,) = router.offers(0.0)
    assert offer.agent == "alice"
    router.ring_ended(offer, "answered", 1.0)
    router.join(_entry("returning", 10.0, last_agent="alice"), 10.0)
    assert router.offers(12.0) == []  # bob is free, but the caller is held for alice
    router.call_ended("alice", 15.0)
    assert _pairs(router.offers(15.0)) == [("returning", "alice")]


def test_last_agent_is_ignored_when_disabled_or_paused() -> None:
    """Without last-agent routing, or with the last agent paused, anyone takes the caller."""
    router = _router(QueueConfig(SUPPORT, last_agent=LAST), agents={"alice": {}, "bob": {}})
    router.pause("bob", 0.0, "lunch")
    router.join(_entry("returning", last_agent="bob"), 0.0)
    assert _pairs(router.offers(0.0)) == [("returning", "alice")]
    plain = _router(QueueConfig(SUPPORT), agents={"alice": {}, "bob": {}})
    plain.join(_entry("returning", last_agent="bob"), 0.0)
    assert _pairs(plain.offers(0.0)) == [("returning", "alice")]


def test_last_agent_for_expires_after_n_days() -> None:
    """The last agent is the most recent one within the window; older history is ignored."""
    now = 100 * DAY
    rows = [
        ("+441", "alice", now - 40 * DAY),
        ("+441", "bob", now - 10 * DAY),
        ("+442", "carol", now - 31 * DAY),
    ]
    assert last_agent_for(rows, "+441", now, days=30) == "bob"
    assert last_agent_for(rows, "+442", now, days=30) is None
    assert last_agent_for(rows, "+442", now, days=31) == "carol"
    assert last_agent_for(rows, "+443", now, days=30) is None
    latest = latest_agents(rows)
    assert latest["+441"] == ("bob", now - 10 * DAY)
    assert last_agent_for(latest, "+441", now, days=30) == "bob"
    assert last_agent_for(latest, "+441", now + 21 * DAY, days=30) is None


# --------------------------------------------------------------------------- exclusivity


def test_no_double_offers_across_queues_sharing_an_agent() -> None:
    """Two queues sharing one agent: the agent rings for one caller only, the other waits."""
    router = _router(QueueConfig("sales"), QueueConfig(SUPPORT), agents={"alice": {}})
    router.join(_entry("s1", 0.0, queue="sales"), 0.0)
    router.join(_entry("t1", 1.0), 1.0)
    assert _pairs(router.offers(2.0)) == [("s1", "alice")]
    assert router.offers(3.0) == []
    offer = router.pending("s1")[0]
    router.ring_ended(offer, "no_answer", 17.0)
    # s1 keeps its place but alice is held back from s1 by retry_delay: t1 rings her
    assert _pairs(router.offers(17.0)) == [("t1", "alice")]


def test_a_caller_rings_one_agent_at_a_time() -> None:
    """A caller with a ring in progress is not offered to a second agent."""
    router = _router(agents={"alice": {}, "bob": {}})
    router.join(_entry("c"), 0.0)
    assert len(router.offers(0.0)) == 1
    assert router.offers(5.0) == []
    assert router.agents_available(SUPPORT) == 1


def test_ring_no_answer_keeps_the_callers_position() -> None:
    """An unanswered ring leaves the caller first in line; the next agent rings for them,
    and the agent who missed it gets them again only after retry_delay."""
    router = _router(QueueConfig(SUPPORT, retry_delay=5), agents={"alice": {}, "bob": {}})
    router.join(_entry("c1", 0.0), 0.0)
    router.join(_entry("c2", 1.0), 1.0)
    offers = router.offers(1.0)
    assert _pairs(offers) == [("c1", "alice"), ("c2", "bob")]
    assert router.ring_ended(offers[0], "no_answer", 16.0) == []
    assert router.position("c1") == 1
    assert router.offers(16.0) == []  # alice is free but not for c1 yet
    assert router.next_wakeup(16.0) == 21.0
    assert _pairs(router.offers(21.0)) == [("c1", "alice")]


def test_auto_paused_agent_gets_no_more_offers() -> None:
    """After max_ring_no_answer unanswered rings the agent is paused and skipped."""
    router = _router(QueueConfig(SUPPORT, retry_delay=0), agents={"alice": {}})
    router.agent("alice").max_ring_no_answer = 2
    router.join(_entry("c"), 0.0)
    for t in (0.0, 20.0):
        (offer,) = router.offers(t)
        router.ring_ended(offer, "no_answer", t + 15)
    assert router.agent("alice").state is AgentState.PAUSED
    assert router.offers(40.0) == []


def test_wrapup_keeps_the_agent_until_it_ends() -> None:
    """After a call the agent is in wrap-up for the queue's wrapup seconds, then offered."""
    router = _router(QueueConfig(SUPPORT, wrapup=30), agents={"alice": {}})
    router.join(_entry("c1"), 0.0)
    router.join(_entry("c2", 1.0), 1.0)
    (offer,) = router.offers(1.0)
    _talk(router, offer, 2.0, 100.0)
    assert router.agent("alice").state is AgentState.WRAPUP
    assert router.offers(129.0) == []
    assert router.next_wakeup(129.0) == 130.0
    assert _pairs(router.offers(130.0)) == [("c2", "alice")]


def test_leave_cancels_rings_and_leaving_twice_is_harmless() -> None:
    """A caller who hangs up while ringing frees the agent; a second leave returns None."""
    router = _router(agents={"alice": {}})
    router.join(_entry("c"), 0.0)
    (offer,) = router.offers(0.0)
    gone = router.leave("c", 7.0, "abandon")
    assert gone is not None
    assert (gone.reason, gone.waited, gone.position, gone.cancelled) == (
        LeaveReason.ABANDON,
        7.0,
        1,
        (offer,),
    )
    assert router.agent("alice").state is AgentState.AVAILABLE
    assert router.leave("c", 8.0, "abandon") is None
    assert router.ring_ended(offer, "caller_gone", 8.0) == []


def test_logout_while_ringing_cancels_the_ring() -> None:
    """An agent logging out mid-ring stops that ring and the caller is offered elsewhere."""
    router = _router(agents={"alice": {}, "bob": {}})
    router.join(_entry("c"), 0.0)
    (offer,) = router.offers(0.0)
    assert router.logout(offer.agent, 2.0) == [offer]
    assert router.agent(offer.agent).state is AgentState.LOGGED_OUT
    assert [o.agent for o in router.offers(2.0)] == [
        n for n in ("alice", "bob") if n != offer.agent
    ]


# --------------------------------------------------------------------------- queue rules


def test_max_callers_refuses_with_the_full_overflow() -> None:
    """A full queue refuses the next caller and names where they go."""
    full = Target("queue", "billing")
    router = _router(QueueConfig(SUPPORT, max_callers=2, overflow=Overflow(full=full)), login=False)
    assert router.join(_entry("a"), 0.0).joined
    assert router.join(_entry("b"), 0.0).joined
    decision = router.join(_entry("c"), 0.0)
    assert (decision.joined, decision.refused, decision.overflow) == (False, "full", full)
    assert router.entry("c") is None


@pytest.mark.parametrize(
    ("rule", "agents_state", "joins"),
    [
        ("yes", "logged_out", True),
        ("no", "logged_out", True),  # app_queue: unavailable members still count
        ("no", "paused", False),
        ("strict", "logged_out", False),
        ("strict", "wrapup", True),
        ("loose", "paused", True),
    ],
)
def test_join_when_empty_follows_app_queue(rule: str, agents_state: str, joins: bool) -> None:
    """join_when_empty refuses a caller when no member in a counting state can serve them."""
    empty = Target("node", "leave_message")
    queue = QueueConfig(
        SUPPORT, join_when_empty=JOIN_WORDS[rule], overflow=Overflow(empty=empty), wrapup=60
    )
    router = _router(queue, agents={"alice": {}}, login=agents_state != "logged_out")
    if agents_state == "paused":
        router.pause("alice", 0.0, "lunch")
    if agents_state == "wrapup":
        router.join(_entry("before"), 0.0)
        _talk(router, router.offers(0.0)[0], 1.0, 2.0)
    decision = router.join(_entry("c", 3.0), 3.0)
    assert decision.joined is joins
    if not joins:
        assert (decision.refused, decision.overflow) == ("empty", empty)


def test_join_when_empty_counts_only_agents_with_the_skills() -> None:
    """An agent who lacks the skills even after widening does not make a queue non-empty."""
    queue = QueueConfig(
        SUPPORT,
        skills={"german": 3},
        skill_widening=(Widening(60, 2),),
        join_when_empty=JOIN_WORDS["strict"],
    )
    router = _router(queue, agents={"alice": {"german": 1}})
    assert not router.join(_entry("c"), 0.0).joined
    router2 = _router(queue, agents={"alice": {"german": 2}})
    assert router2.join(_entry("c"), 0.0).joined  # widening will reach level 2


def test_leave_when_empty_lists_callers_once_nobody_can_serve() -> None:
    """With leave_when_empty, waiting callers are listed to leave once every agent pauses."""
    empty = Target("node", "voicemail")
    queue = QueueConfig(
        SUPPORT, leave_when_empty=LEAVE_WORDS["strict"], overflow=Overflow(empty=empty)
    )
    router = _router(queue, agents={"alice": {}})
    router.join(_entry("c"), 0.0)
    router.join(_entry("cb", 1.0, kind="callback"), 1.0)
    assert router.empty_leavers(1.0) == []
    router.pause("alice", 2.0, "meeting")
    assert router.empty_leavers(2.0) == [("c", empty)]
    gone = router.leave("c", 2.0, LeaveReason.EMPTY)
    assert gone is not None and gone.reason is LeaveReason.EMPTY


def test_timeouts_after_max_wait() -> None:
    """Callers past max_wait are listed with the timeout overflow; placeholders are not."""
    timeout = Target("node", "voicemail")
    queue = QueueConfig(SUPPORT, max_wait=300, overflow=Overflow(timeout=timeout))
    router = _router(queue, login=False)
    router.join(_entry("a", 0.0), 0.0)
    router.join(_entry("b", 100.0), 100.0)
    router.join(_entry("cb", 0.0, kind="callback"), 0.0)
    assert router.timeouts(299.0) == []
    assert router.next_wakeup(299.0) == 300.0
    assert router.timeouts(300.0) == [("a", timeout)]
    assert router.timeouts(400.0) == [("a", timeout), ("b", timeout)]


def test_join_errors() -> None:
    """Joining an unknown queue or an id already waiting raises a QueueError."""
    router = _router(login=False)
    with pytest.raises(UnknownQueue):
        router.join(_entry("a", queue="nope"), 0.0)
    router.join(_entry("a"), 0.0)
    with pytest.raises(DuplicateEntry):
        router.join(_entry("a"), 1.0)


# --------------------------------------------------------------------------- entries


def test_queue_entry_round_trips_through_a_plain_dict() -> None:
    """An entry survives to_dict -> JSON -> from_dict unchanged, callbacks included."""
    entry = QueueEntry(
        "e1",
        SUPPORT,
        "+442071234567",
        priority=2,
        skills={"spanish": 3},
        joined_at=1234.5,
        original_position=4,
        last_agent="alice",
        kind="callback",
    )
    data = json.loads(json.dumps(entry.to_dict()))
    assert QueueEntry.from_dict(data) == entry
    assert QueueEntry.from_dict({"id": "x", "queue": "q", "caller": "c"}) == QueueEntry(
        "x", "q", "c"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "robot"}, "queue entry field 'kind' must be caller or callback, not 'robot'"),
        ({"skills": {"x": "high"}}, "queue entry field 'skills' must map names to levels"),
        ({"priority": "1"}, "queue entry field 'priority' must be a whole number, not '1'"),
        ({"id": ""}, "queue entry field 'id' must be text, not ''"),
    ],
)
def test_bad_stored_entry_raises_bad_entry(change: dict[str, object], message: str) -> None:
    """A stored entry with a wrong field type is refused with the field named."""
    data = {**QueueEntry("e", SUPPORT, "c").to_dict(), **change}
    with pytest.raises(BadEntry, match=message.replace("(", r"\(").replace(")", r"\)")):
        QueueEntry.from_dict(data)
