"""The queue-caller machine: every decision about one waiting caller, with time passed in."""

from __future__ import annotations

import random
import re

import pytest

from callflow.flow.model import Sound
from callflow.queue.announce import Say
from callflow.queue.caller import (
    RING_GRACE,
    Announce,
    Answered,
    Command,
    Connect,
    Done,
    Gone,
    KeyPressed,
    Offered,
    QueueCaller,
    Rang,
    Record,
    Said,
    TalkEnded,
    Tick,
    TimeUp,
    Unanswered,
    Withdrawn,
    agents_serving,
    queue_estimate,
)
from callflow.queue.config import (
    AgentConfig,
    AnnounceConfig,
    Overflow,
    PeriodicPrompt,
    QueueCenter,
    QueueConfig,
    Target,
)
from callflow.queue.estimate import (
    CallerAbandoned,
    CallerJoined,
    CallerLeft,
    ConservativePredictor,
    QueueEvent,
    ServiceCompleted,
)
from callflow.queue.routing import Offer, QueueEntry, Router
from callflow.queue.wait import WaitFigure

SUPPORT = QueueConfig(
    "support",
    ring_timeout=10,
    retry_delay=0,
    exit_keys={"0": "operator"},
    announce=AnnounceConfig(frequency=30, min_frequency=10),
)


def center(queue: QueueConfig = SUPPORT, agents: tuple[str, ...] = ("alice",)) -> Router:
    configs = [AgentConfig(a, f"PJSIP/{a}", queues=(queue.name,)) for a in agents]
    return Router(QueueCenter.build(configs, [queue]), random.Random(1))


def caller(
    router: Router, entry_id: str = "c1", at: float = 0.0, queue: QueueConfig = SUPPORT
) -> QueueCaller:
    return QueueCaller(
        QueueEntry(entry_id, queue.name, "+15551234", joined_at=at),
        queue,
        router,
        ConservativePredictor(),
        number=1,
    )


def ringing() -> tuple[Router, QueueCaller, Offer]:
    """alice logged in, a caller joined, and alice's phone ringing for them as leg1."""
    router = center()
    router.login("alice", 0.0)
    machine = caller(router)
    machine.join(0.0)
    [offer] = router.offers(0.0)
    machine.send(Offered(offer), 0.0)
    machine.send(Rang(offer, "leg1"), 0.0)
    return router, machine, offer


def kinds(commands: list[Command]) -> list[str]:
    return [c.kind if isinstance(c, Record) else type(c).__name__ for c in commands]


def test_a_caller_with_nobody_serving_hears_the_position_only() -> None:
    """With no agent logged in there is no honest wait: the first announcement, at join,
    says the position and no figure."""
    router = center()
    machine = caller(router)
    commands = machine.join(0.0)
    assert kinds(commands) == ["queue.enter", "queue.announce", "Announce"]
    [announce] = [c for c in commands if isinstance(c, Announce)]
    assert announce.items == (Say("position", 1),)
    assert machine.next_wakeup(0.0) is None  # saying: nothing due until Said


def test_an_offer_rings_the_agent_and_an_answer_connects() -> None:
    """An offer becomes a ring; the answer connects the caller, feeds the predictor their
    wait, and the end of the talk completes the caller's time in the queue."""
    router = center()
    router.login("alice", 0.0)
    machine = caller(router)
    assert kinds(machine.join(0.0)) == ["queue.enter"]  # a free agent: no wait announced
    [offer] = router.offers(0.0)
    assert kinds(machine.send(Offered(offer), 0.0)) == ["Ring", "queue.ring"]
    machine.send(Rang(offer, "leg1"), 0.1)
    assert machine.next_wakeup(0.1) == offer.ring_deadline + RING_GRACE
    commands = machine.send(Answered("leg1"), 4.0)
    assert kinds(commands) == ["queue.connect", "Connect"]
    assert commands[-1] == Connect(offer, "leg1")
    assert commands[0].data["waited"] == 4.0  # type: ignore[union-attr]
    done = machine.send(TalkEnded("agent"), 64.0)
    assert kinds(done) == ["queue.complete", "Done"]
    assert done[-1] == Done("answered", agent="alice")
    assert done[0].data["talk"] == 60.0  # type: ignore[union-attr]
    assert done[0].data["hold"] == 0.0  # type: ignore[union-attr]


def test_the_time_the_agent_held_the_caller_is_hold_not_talk() -> None:
    """60 s of conversation with 25 s on hold: talk 35, hold 25 (AHT adds them, with the
    wrap-up); a hold longer than the conversation (clocks apart) is cut to it."""
    _, machine, _ = ringing()
    machine.send(Answered("leg1"), 4.0)
    [complete, _] = machine.send(TalkEnded("agent", hold=25.0), 64.0)
    assert isinstance(complete, Record)
    assert (complete.data["talk"], complete.data["hold"]) == (35.0, 25.0)
    _, machine, _ = ringing()
    machine.send(Answered("leg1"), 4.0)
    [complete, _] = machine.send(TalkEnded("agent", hold=61.0), 64.0)
    assert isinstance(complete, Record)
    assert (complete.data["talk"], complete.data["hold"]) == (0.0, 60.0)


@pytest.mark.parametrize(
    ("gone", "hung_up_by"),
    [("abandon", "caller"), ("lost", "lost"), ("shutdown", "shutdown")],
)
def test_a_caller_gone_while_talking_completes_the_call_and_says_how(
    gone: str, hung_up_by: str
) -> None:
    """A caller who hangs up on their agent was served, not an abandon: queue.complete
    says the caller hung up (as after a restart, resume_conversation), never 'abandon'."""
    _, machine, _ = ringing()
    machine.send(Answered("leg1"), 4.0)
    done = machine.send(Gone(gone, at=30.0 if gone == "lost" else None), 30.0)
    assert kinds(done) == ["queue.complete", "Done"]
    assert done[0].data["hung_up_by"] == hung_up_by  # type: ignore[union-attr]
    assert done[-1] == Done("answered", agent="alice")


def test_a_ring_Asterisk_never_ends_is_given_up_after_its_grace() -> None:
    """A ring with no end from Asterisk is dropped RING_GRACE after its timeout, and counted
    as no answer; the caller keeps waiting."""
    _router, machine, offer = ringing()
    assert machine.send(Tick(), offer.ring_deadline) == []
    commands = machine.send(Tick(), offer.ring_deadline + RING_GRACE)
    assert kinds(commands)[:2] == ["DropLeg", "queue.ring_no_answer"]
    assert not machine.done and machine.legs() == []


def test_a_busy_agent_is_a_rejection_and_the_caller_stays() -> None:
    """An agent who declines (busy) ends that ring as a rejection; the caller stays in line."""
    router, machine, _offer = ringing()
    commands = machine.send(Unanswered("leg1", "busy", 17), 1.0)
    record = next(c for c in commands if isinstance(c, Record))
    assert (record.kind, record.data["outcome"], record.data["cause"]) == (
        "queue.ring_no_answer",
        "busy",
        17,
    )
    assert router.position("c1") == 1


def test_an_exit_key_leaves_for_its_node_and_stops_the_ring() -> None:
    """The queue's exit key takes the caller to its node, and any ring for them stops."""
    _router, machine, _offer = ringing()
    assert machine.send(KeyPressed("5"), 1.0) == []
    commands = machine.send(KeyPressed("0"), 1.0)
    assert kinds(commands) == ["DropLeg", "queue.exit", "Done"]
    assert commands[-1] == Done("exit_key", key_node="operator")


def test_time_up_waits_for_a_ring_in_progress() -> None:
    """The scheduler's timeout is ignored while an agent's phone rings for the caller, and
    taken when it is asked again without a ring."""
    _router, machine, _offer = ringing()
    target = Target("node", "sorry")
    assert machine.send(TimeUp("timeout", target), 5.0) == []
    machine.send(Unanswered("leg1", "no_answer"), 10.0)
    commands = machine.send(TimeUp("timeout", target), 11.0)
    assert commands[-1] == Done("timeout", target)


def test_a_withdrawn_offer_stops_its_ring() -> None:
    """An agent who logs out while ringing: the ring stops and is logged as cancelled."""
    _router, machine, offer = ringing()
    commands = machine.send(Withdrawn(offer), 2.0)
    assert kinds(commands)[:2] == ["DropLeg", "queue.ring_cancelled"]


def test_hanging_up_is_an_abandon_but_a_lost_call_is_not() -> None:
    """A caller who hangs up abandons (the predictor learns it); one lost in an Asterisk
    crash, let go of at shutdown, or that Asterisk would not hold, leaves with that reason
    and no abandon."""
    for reason, kind in (
        ("abandon", "queue.abandon"),
        ("lost", "queue.exit"),
        ("shutdown", "queue.exit"),
        ("unavailable", "queue.exit"),
    ):
        router = center()
        machine = caller(router)
        machine.join(0.0)
        commands = machine.send(Gone(reason, at=3.0), 5.0)
        record = next(c for c in commands if isinstance(c, Record) and c.kind != "queue.announce")
        assert record.kind == kind
        if reason != "abandon":
            assert record.data["reason"] == reason
        assert commands[-1] == Done("gone")


class Seen(ConservativePredictor):
    """The live predictor, noting what it is told."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[QueueEvent] = []

    def observe(self, event: QueueEvent) -> None:
        self.seen.append(event)
        super().observe(event)


def test_the_predictor_hears_of_every_way_out_of_the_line() -> None:
    """Hanging up is an abandon; a time limit, an exit key, a lost call and callflow letting
    the caller go are a caller who left unanswered (CallerLeft): the predictor forgets them
    and counts their wait as patience not used up."""
    ways = {
        "abandon": lambda m: m.send(Gone("abandon"), 7.0),
        "timeout": lambda m: m.send(TimeUp("timeout", Target("node", "sorry")), 7.0),
        "exit_key": lambda m: m.send(KeyPressed("0"), 7.0),
        "lost": lambda m: m.send(Gone("lost", at=7.0), 8.0),
        "shutdown": lambda m: m.send(Gone("shutdown"), 7.0),
        "unavailable": lambda m: m.send(Gone("unavailable"), 7.0),
    }
    for way, leave in ways.items():
        predictor = Seen()
        machine = QueueCaller(
            QueueEntry("c1", "support", "+15551234", joined_at=2.0),
            SUPPORT,
            center(),
            predictor,
            number=9,
        )
        machine.join(2.0)
        leave(machine)
        expected = CallerAbandoned if way == "abandon" else CallerLeft
        assert predictor.seen == [CallerJoined(9, 2.0), expected(9, 7.0, 5.0)], way


def test_a_full_queue_refuses_with_its_overflow() -> None:
    """A caller refused by a full queue leaves at once for the queue's overflow target."""
    tiny = QueueConfig("tiny", max_callers=1, overflow=Overflow(full=Target("queue", "other")))
    router = center(tiny)
    caller(router, "c1", queue=tiny).join(0.0)
    commands = caller(router, "c2", queue=tiny).join(0.0)
    assert kinds(commands) == ["queue.exit", "Done"]
    assert commands[-1] == Done("full", Target("queue", "other"))


def second_caller(queue: QueueConfig, agents: tuple[str, ...] = ("alice",)) -> QueueCaller:
    """A caller (not joined yet) who comes to ``queue`` at t=2000 while alice, its one
    agent logged in, has just answered the caller before; the predictor has seen a
    completion every 50 s."""
    router = center(queue, agents=agents)
    router.login("alice", 0.0)
    predictor = ConservativePredictor()
    for t in range(0, 2000, 50):
        predictor.observe(ServiceCompleted(float(t), 50.0))
    busy = QueueCaller(
        QueueEntry("c0", "support", "+1", joined_at=0.0), queue, router, predictor, 0
    )
    busy.join(2000.0)
    [offer] = router.offers(2000.0)
    router.ring_ended(offer, "answered", 2000.0)
    return QueueCaller(
        QueueEntry("c1", "support", "+1", joined_at=2000.0), queue, router, predictor, 1
    )


def test_round_seconds_changes_the_wait_the_caller_hears() -> None:
    """The queue's round_seconds reaches the figure said: rounded up to its step, where
    without it the step grows with the wait (15 s around two minutes)."""
    told = {}
    for step in (0, 60):
        queue = QueueConfig("support", announce=AnnounceConfig(frequency=30, round_seconds=step))
        machine = second_caller(queue, agents=("alice", "bob"))
        [announce] = [c for c in machine.join(2000.0) if isinstance(c, Announce)]
        [wait] = [s.value for s in announce.items if s.what == "wait"]
        assert isinstance(wait, WaitFigure)
        told[step] = wait
    assert told[60].seconds == 0 and told[0].seconds % 15 == 0
    # Both rounded up from the same figure: the finer step is never above the coarser one.
    assert told[0].total_seconds <= told[60].total_seconds
    assert told[0] != told[60]


def test_the_log_says_what_was_announced_in_words() -> None:
    """queue.announce's ``said``: the position, the wait as the caller hears it and the
    periodic prompt by name, never Python's text of the objects."""
    queue = QueueConfig(
        "support",
        announce=AnnounceConfig(
            frequency=30,
            round_seconds=60,
            periodic=(PeriodicPrompt(60.0, Sound("queue-periodic-announce")),),
        ),
    )
    machine = second_caller(queue)
    [record] = [
        c for c in machine.join(2000.0) if isinstance(c, Record) and c.kind == "queue.announce"
    ]
    position, wait = record.data["said"]
    assert position == "position=1"
    assert re.fullmatch(r"wait=about \d+ minutes?", wait), wait
    machine.send(Said(), 2001.0)
    periodic = [
        c
        for c in machine.send(Tick(), 2060.0)
        if isinstance(c, Record) and c.kind == "queue.announce"
    ]
    assert periodic and "prompt=sound: queue-periodic-announce" in periodic[0].data["said"], (
        periodic
    )


def test_said_resumes_waiting() -> None:
    """After an announcement the caller is waiting again and the next one is scheduled."""
    router = center()
    machine = caller(router)
    machine.join(0.0)
    assert machine.next_wakeup(0.5) is None
    machine.send(Said(), 1.0)
    assert machine.next_wakeup(1.0) == 30.0


def test_the_predictor_learns_the_agents_whole_time_for_a_caller() -> None:
    """The handle time fed is ring + talk + wrap-up: the time the estimate counts the agent
    as serving, not the talk alone."""
    queue = QueueConfig("support", ring_timeout=10, retry_delay=0, wrapup=30)
    router = center(queue)
    router.login("alice", 0.0)
    fed: list[object] = []
    predictor = ConservativePredictor()
    predictor.observe = fed.append  # type: ignore[method-assign]
    machine = QueueCaller(
        QueueEntry("c1", "support", "+1", joined_at=0.0), queue, router, predictor, 1
    )
    machine.join(0.0)
    [offer] = router.offers(0.0)
    machine.send(Offered(offer), 0.0)
    machine.send(Rang(offer, "leg1"), 0.0)
    machine.send(Answered("leg1"), 4.0)
    machine.send(TalkEnded("agent"), 64.0)
    [completed] = [e for e in fed if isinstance(e, ServiceCompleted)]
    assert completed.handle_time == 4.0 + 60.0 + 30.0


def test_an_agent_about_to_pause_does_not_count_as_serving() -> None:
    """A pause asked for during a call is a known loss: the wait told counts the agents who
    will take the next callers, not the one leaving after this call."""
    router = center(agents=("alice", "bob"))
    for name in ("alice", "bob"):
        router.login(name, 0.0)
    assert agents_serving(router, "support") == 2
    first = caller(router, "c1")
    first.join(0.0)
    [offer] = router.offers(0.0)[:1]
    router.ring_ended(offer, "answered", 1.0)
    assert not router.pause(offer.agent, 2.0, "lunch")  # pending: on a call
    assert agents_serving(router, "support") == 1
    router.unpause(offer.agent, 3.0)  # changed their mind
    assert agents_serving(router, "support") == 2
    predictor = ConservativePredictor(default_handle_time=60.0)
    both = queue_estimate(router, predictor, "support", 3, 0.0, 4.0)
    router.pause(offer.agent, 4.0, "lunch")
    assert queue_estimate(router, predictor, "support", 3, 0.0, 4.0) > both
