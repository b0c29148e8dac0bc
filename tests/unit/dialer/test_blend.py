"""The blending hold-back: Erlang C against its closed form, the fewest agents that keep a
service level, and which idle agents the dialer may take."""

from __future__ import annotations

import math

import pytest

from callflow.dialer.blend import (
    InboundLoad,
    InboundQueue,
    agents_needed,
    erlang_c,
    outbound_agents,
    service_level,
)
from callflow.dialer.campaign import BlendRule, parse_campaign


def closed_form_c(n: int, a: float) -> float:
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize(("n", "a"), [(3, 2.0), (11, 10.0), (20, 12.5), (1, 0.3), (60, 50.0)])
def test_erlang_c_matches_the_closed_form(n: int, a: float) -> None:
    """The recursion gives the textbook formula's probability of waiting."""
    assert erlang_c(n, a) == pytest.approx(closed_form_c(n, a), rel=1e-9)


def test_erlang_c_worked_example_and_edges() -> None:
    """Two erlangs on three agents: 4/9 wait; no load, nobody waits; an overloaded team,
    everybody does."""
    assert erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert erlang_c(3, 0.0) == 0.0
    assert erlang_c(2, 2.0) == 1.0 and service_level(2, 2 / 180, 180, 20) == 0.0


def test_agents_needed_is_the_fewest_that_reach_the_goal() -> None:
    """360 calls an hour of 180 s (18 erlangs), 80 % in 20 s: the answer reaches the goal
    and one agent fewer does not."""
    rate, aht = 360 / 3600, 180.0
    n = agents_needed(rate, aht, 20.0, 0.8)
    assert service_level(n, rate, aht, 20.0) >= 0.8 > service_level(n - 1, rate, aht, 20.0)
    assert 19 <= n <= 25, n
    assert agents_needed(0.0, aht, 20.0, 0.8) == 0
    assert agents_needed(rate, aht, 20.0, 0.95) > n
    with pytest.raises(ValueError, match="share"):
        agents_needed(rate, aht, 20.0, 80)


def queue(name: str = "support", **kw: float) -> InboundQueue:
    return InboundQueue(
        name,
        waiting=int(kw.get("waiting", 0)),
        busy=int(kw.get("busy", 0)),
        arrival_rate=kw.get("arrival_rate", 0.0),
        handle_time=kw.get("handle_time", 180.0),
        within=kw.get("within", 20.0),
    )


def test_no_inbound_traffic_leaves_every_idle_agent_to_the_dialer() -> None:
    """A queue nobody called lately needs no agent kept."""
    idle = {"a1": ["support"], "a2": ["support"]}
    assert outbound_agents(idle, {"support": queue()}) == {"a1", "a2"}


def test_a_caller_waiting_keeps_every_agent_of_that_queue() -> None:
    """Inbound first: with someone in line, none of the queue's agents dials out; an agent
    of another queue still may."""
    idle = {"a1": ["support"], "a2": ["support", "sales"], "a3": ["sales"]}
    queues = {"support": queue(waiting=1), "sales": queue("sales")}
    assert outbound_agents(idle, queues) == {"a3"}


def test_the_hold_back_counts_the_agents_busy_on_the_queue() -> None:
    """18 erlangs need 20-odd agents: with all but two of those on calls, two idle agents
    are kept (the ones serving most queues first) and the rest dial out."""
    rate = 360 / 3600
    need = agents_needed(rate, 180.0, 20.0, 0.8)
    q = queue(arrival_rate=rate, busy=need - 2)
    idle = {"a1": ["support"], "a2": ["support", "sales"], "a3": ["support"], "a4": ["sales"]}
    queues = {"support": q, "sales": queue("sales")}
    assert q.hold_back(0.8) == 2
    assert outbound_agents(idle, queues) == {"a3", "a4"}
    assert outbound_agents(idle, {**queues, "support": queue(arrival_rate=rate, busy=need)}) == {
        "a1", "a2", "a3", "a4"
    }  # fmt: skip


def test_an_agent_kept_for_one_queue_counts_for_the_other_too() -> None:
    """Two queues each needing one more agent are both served by keeping one agent of both."""
    one = 0.1 / 180  # a tenth of an erlang: one agent keeps 80 % in 20 s
    assert agents_needed(one, 180.0, 20.0, 0.8) == 1
    queues = {"a": queue("a", arrival_rate=one), "b": queue("b", arrival_rate=one)}
    idle = {"both": ["a", "b"], "x": ["a"], "y": ["b"]}
    assert outbound_agents(idle, queues) == {"x", "y"}


def test_inbound_load_learns_the_rate_over_its_window_and_the_handle_time() -> None:
    """Arrivals count over the window (at least a minute at the start), old ones drop out;
    handle times move the mean from its prior."""
    load = InboundLoad(started=0.0, window=600.0, handle_time=300.0)
    load.arrived(5.0)
    assert load.arrival_rate(10.0) == pytest.approx(1 / 60)  # not 1 in 10 s
    for t in range(100, 400, 30):
        load.arrived(float(t))
    assert load.arrival_rate(400.0) == pytest.approx(11 / 400)
    assert load.arrival_rate(700.0) == pytest.approx(9 / 600)  # after 100 s
    assert load.arrival_rate(1000.0) == 0.0
    for _ in range(50):
        load.handled(60.0)
    assert load.handle_time < 100.0


def test_without_a_goal_only_callers_waiting_come_first() -> None:
    """A campaign without blend: holds nobody back for a busy queue, but a caller in line
    still keeps the queue's agents."""
    rate = 360 / 3600
    idle = {"a1": ["support"], "a2": ["support"]}
    assert outbound_agents(idle, {"support": queue(arrival_rate=rate)}, None) == {"a1", "a2"}
    assert outbound_agents(idle, {"support": queue(waiting=1)}, None) == frozenset()


def test_a_campaign_reads_its_blend_block() -> None:
    """blend: service_level in percent, window and handle_time as durations; a goal of
    100 % or more is refused at its line and column."""
    base = "name: c\ndial_mode: progressive\n"
    campaign, _ = parse_campaign("c.yaml", base)
    assert campaign is not None and campaign.blend.service_level is None
    campaign, _ = parse_campaign(
        "c.yaml", base + "blend: {service_level: 90, window: 10m, handle_time: 2m}\n"
    )
    assert campaign is not None
    assert campaign.blend == BlendRule(service_level=0.9, window=600.0, handle_time=120.0)
    campaign, _ = parse_campaign("c.yaml", base + "blend: {}\n")
    assert campaign is not None and campaign.blend.service_level == 0.8
    campaign, found = parse_campaign("c.yaml", base + "blend: {service_level: 100}\n")
    assert campaign is None
    assert [str(d).split(": error")[0] for d in found] == ["c.yaml:3:24"], found
