"""Queue, agent, callback, repeat-caller and FCR figures over a hand-written event log.

The day (seconds after 09:00 UTC, now = 10:00): in queue ``support``,

- c1 +111 joins at 0, answered by a1 after 10 s, talks 120 s, a1 wraps up 30 s;
- c2 +222 joins at 60, answered by a2 after 30 s, talks 60 s with 20 s on hold, wrap-up 20 s;
- c3 +111 hangs up after 3 s (a short abandon); c4 after 15 s; c5 after 40 s;
- c6 times out after 60 s and overflows to ``sales``, answered there by a1 after 5 s
  (talk 60 s, wrap-up 10 s);
- c7 leaves with an exit key; c8 leaves for a callback; c9 is let go at shutdown; c10
  (anonymous) is lost; c11 is refused (full); c12 +111 joins at 3000 and still waits.

Hand-worked, support: entered 11, offered 5 (2 handled + 3 abandoned), 1 short; abandon
rate (5-1-2)/(5-1) = 50%; answered within 20 s: c1 only, abandoned within 20 s (not short):
c4; SL = 1/4, SL1 = 1/2, SL2 = (1+1)/(2+2); ASA (10+30)/2 = 20 s; AHT ((120+30) +
(60+20+20))/2 = 125 s; longest wait 600 s (c12, at now).
"""

from __future__ import annotations

import pytest
from kpi_log import DAY, T0, Log, day

from callflow.kpi.figures import Counter, Rules, agent_figures
from callflow.kpi.log import read_log

NOW = 3600.0


def counter(log: Log, now: float = NOW, rules: Rules | None = None) -> Counter:
    return Counter(read_log(log.ordered(), log.at(now)), rules or Rules())


def test_support_queue_hand_worked(log: Log) -> None:
    """Every support figure matches the hand-worked day (module docstring)."""
    f = counter(day(log)).queue("support", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.entered, f.offered, f.handled, f.abandoned, f.short_abandons) == (11, 5, 2, 3, 1)
    assert f.abandon_rate == pytest.approx(0.5)
    assert (f.overflowed, f.callbacks, f.timeouts, f.exit_keys) == (1, 1, 0, 1)
    assert (f.shutdowns, f.lost, f.waiting, f.refused) == (1, 1, 1, 1)
    assert (f.answered_within, f.abandoned_within) == (1, 1)
    assert f.sl == pytest.approx(0.25)
    assert f.sl1 == pytest.approx(0.5)
    assert f.sl2 == pytest.approx(0.5)
    assert f.asa == pytest.approx(20.0)
    assert f.aht == pytest.approx(125.0)
    assert f.longest_wait == pytest.approx(600.0)


def test_overflowed_call_counts_where_it_was_answered(log: Log) -> None:
    """c6 is no abandon in support (it overflowed) and is handled in sales, with the 5 s it
    waited there; the all-queues row counts both visits, still one handled, no abandon."""
    c = counter(day(log))
    sales = c.queue("sales", T0.timestamp(), T0.timestamp() + 3600)
    assert (sales.entered, sales.offered, sales.handled, sales.abandoned) == (1, 1, 1, 0)
    assert sales.asa == pytest.approx(5.0)
    assert sales.sl == 1.0
    assert sales.aht == pytest.approx(70.0)  # talk 60 + wrap-up 10
    every = c.queue(None, T0.timestamp(), T0.timestamp() + 3600)
    assert (every.entered, every.offered, every.handled, every.abandoned) == (12, 6, 3, 3)
    assert every.abandon_rate == pytest.approx(2 / 5)


def test_short_abandon_threshold_is_a_rule(log: Log) -> None:
    """With a 20 s threshold c4 (15 s) is short too: (5-2-2)/(5-2) = 1/3."""
    f = counter(day(log), rules=Rules(short_abandon=20.0)).queue(
        "support", T0.timestamp(), T0.timestamp() + 3600
    )
    assert f.short_abandons == 2
    assert f.abandon_rate == pytest.approx(1 / 3)
    assert f.sl2 == pytest.approx(1 / 3)  # (1 + 0) / (2 + 1)


def test_callbacks(log: Log) -> None:
    """3 requested, 1 reached an agent after 2 attempts and 400 s, 1 failed after 1 attempt,
    1 pending: 3 attempts of settled callbacks per success."""
    f = counter(day(log)).queue("support", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.callbacks_requested, f.callbacks_completed, f.callbacks_failed) == (3, 1, 1)
    assert (f.callbacks_expired, f.callbacks_cancelled) == (0, 0)
    assert f.attempts_per_success == pytest.approx(3.0)
    assert f.time_to_callback == pytest.approx(400.0)


def test_a_callback_held_for_the_opening_is_one_request_from_its_first_moment(
    log: Log,
) -> None:
    """Requested at 100 while the calling window is closed, the callback is held (state
    still 'requested': the machine writes callback.requested again) and gets its slot at
    3000; connected at 3300. One request, in the interval it was made, and 3200 s to the
    callback, not the 300 s since its slot."""
    q, data = "support", {"callback": "cb9", "queue": "support"}
    log.add(100, "callback.requested", "c1", **data, number="+5", reason="requested")
    log.add(100, "callback.requested", "c1", **data, reason="outside the calling window")
    log.add(3000, "callback.requested", "c1", **data, reason="slot in the opening", slot=3000)
    log.add(3000, "callback.waiting", "c1", **data, reason="in line")
    log.add(3100, "callback.attempt", "c1", **data)
    log.add(3300, "callback.connected", "c1", **data, agent="a1")
    log.add(3400, "callback.completed", "c1", **data)
    c = counter(log)
    first = c.queue(q, T0.timestamp(), T0.timestamp() + 1800)
    assert first.callbacks_requested == 1
    assert first.time_to_callback == pytest.approx(3200.0)
    later = c.queue(q, T0.timestamp() + 1800, T0.timestamp() + 3600)
    assert later.callbacks_requested == 0


def test_no_callback_events_is_fine(log: Log) -> None:
    """A log with no callback.* events has no callback figures, and no error."""
    log.add(0, "queue.enter", "x", queue="q")
    f = counter(log).queue(None, T0.timestamp(), T0.timestamp() + 3600)
    assert (f.callbacks_requested, f.callbacks_completed) == (0, 0)
    assert f.attempts_per_success is None and f.time_to_callback is None


def test_repeat_callers(log: Log) -> None:
    """11 calls from a known number (c10 is anonymous); c1 and c3 are followed by another
    call from +111 within 7 days, +333's next call is 8 days on: 2/11; in support (c11 was
    refused at its door, so never in it) 2/10."""
    c = counter(day(log))
    every = c.queue(None, T0.timestamp(), T0.timestamp() + 3600)
    assert (every.calls, every.repeat_calls) == (11, 2)
    support = c.queue("support", T0.timestamp(), T0.timestamp() + 3600)
    assert (support.calls, support.repeat_calls) == (10, 2)
    assert support.repeat_rate == pytest.approx(0.2)


def test_repeat_window_is_a_rule(log: Log) -> None:
    """With a 9-day window, +333's call 8 days later makes c4 a repeat (known at 8 days)."""
    c = counter(day(log), now=9 * DAY, rules=Rules(repeat_days=9))
    every = c.queue(None, T0.timestamp(), T0.timestamp() + 3600)
    assert every.repeat_calls == 3


def test_first_call_resolution(log: Log) -> None:
    """Support: c1 yes, c2 no (its '9' is no answer): 50%; all: 2 of 3."""
    c = counter(day(log))
    assert c.queue("support", T0.timestamp(), T0.timestamp() + 3600).fcr == pytest.approx(0.5)
    every = c.queue(None, T0.timestamp(), T0.timestamp() + 3600)
    assert every.survey_answers == 3
    assert every.fcr == pytest.approx(2 / 3)


def test_agents(log: Log) -> None:
    """a1: logged in 1800 s of the hour, busy 120+30+60+10 = 220 s, 2 calls, AHT (150+70)/2;
    a2: 1200 s, busy 80 s, 1 call of AHT 100 s; FCR per agent of the surveyed calls."""
    facts = read_log(day(log).ordered(), log.at(NOW))
    a1, a2 = agent_figures(facts, Rules(), T0.timestamp(), T0.timestamp() + 3600)
    assert (a1.agent, a1.handled, a1.logged_in, a1.busy) == ("a1", 2, 1800.0, 220.0)
    assert a1.occupancy == pytest.approx(220 / 1800)
    assert a1.aht == pytest.approx(110.0)
    assert (a1.talk, a1.wrapup) == (180.0, 40.0)
    assert a1.fcr == 1.0
    assert (a2.agent, a2.handled, a2.logged_in, a2.busy) == ("a2", 1, 1200.0, 80.0)
    assert a2.occupancy == pytest.approx(80 / 1200)
    assert (a2.aht, a2.hold) == (100.0, 20.0)
    assert a2.fcr == 0.0


def test_agent_time_is_cut_at_the_interval(log: Log) -> None:
    """a1 logged in from 08:50: in 09:00-09:15 they count 900 s, 220 s of them busy; the
    sales call is counted for sales only when asked for sales."""
    facts = read_log(day(log).ordered(), log.at(NOW))
    a1, _ = agent_figures(facts, Rules(), T0.timestamp(), T0.timestamp() + 900)
    assert (a1.logged_in, a1.busy) == (900.0, 220.0)
    (a1,) = [a for a in agent_figures(facts, Rules(), T0.timestamp(), T0.timestamp() + 900,
                                     "sales") if a.agent == "a1"]  # fmt: skip
    assert a1.handled == 1


def test_interval_of_a_visit_is_its_join(log: Log) -> None:
    """Counted where the caller joined: 09:00-09:05 holds c1-c5 only."""
    f = counter(day(log)).queue("support", T0.timestamp(), T0.timestamp() + 300)
    assert (f.entered, f.handled, f.abandoned) == (4, 2, 2)


def test_resumed_enter_is_the_same_visit(log: Log) -> None:
    """After a restart the caller re-enters with resumed and their join time: one visit,
    whose wait runs from the first join."""
    log.add(0, "queue.enter", "r", queue="q", position=1)
    log.add(50, "queue.enter", "r", queue="q", resumed=True, joined_at=T0.timestamp())
    log.add(70, "queue.connect", "r", queue="q", agent="a", caller="+1", waited=70.0)
    f = counter(log).queue("q", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.entered, f.handled, f.asa) == (1, 1, 70.0)


def test_resumed_visit_of_an_old_log_keeps_its_join(log: Log) -> None:
    """A resumed enter with no visit open (the first enter is before the events read)
    counts from its stored join time."""
    log.add(50, "queue.enter", "r", queue="q", resumed=True, joined_at=T0.timestamp() + 10)
    f = counter(log, now=100).queue("q", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.entered, f.waiting, f.longest_wait) == (1, 1, 90.0)


def test_call_end_without_exit_is_lost(log: Log) -> None:
    """A visit whose call ends with no queue exit (a crash between the two) is lost."""
    log.add(0, "queue.enter", "x", queue="q")
    log.add(30, "call.end", "x", outcome="lost")
    f = counter(log).queue("q", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.lost, f.offered, f.abandon_rate) == (1, 0, None)


def test_a_caller_asterisk_would_not_hold_is_lost_not_abandoned(log: Log) -> None:
    """queue.exit ``unavailable`` (the holding bridge failed, the flow went on): the visit
    is lost, with its reason kept, and not offered."""
    log.add(0, "queue.enter", "x", queue="q")
    log.add(1, "queue.exit", "x", queue="q", reason="unavailable", waited=1.0, position=1)
    log.add(5, "call.end", "x", outcome="hangup:done")
    [visit] = read_log(log.ordered(), log.at(NOW)).visits
    assert (visit.outcome, visit.reason, visit.waited) == ("lost", "unavailable", 1.0)
    f = counter(log).queue("q", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.lost, f.shutdowns, f.abandoned, f.offered) == (1, 0, 0, 0)


def test_exit_key_to_a_callback_is_a_callback(log: Log) -> None:
    """A caller who leaves by an exit key and then asks for a callback left to be called
    back: a callback, not an exit key."""
    log.add(0, "queue.enter", "x", queue="q")
    log.add(20, "queue.exit", "x", queue="q", reason="exit_key", key="1", waited=20.0)
    log.add(30, "callback.requested", "x", callback="cb", queue="q")
    f = counter(log).queue("q", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.callbacks, f.exit_keys, f.callbacks_requested) == (1, 0, 1)


def test_events_after_now_are_not_seen(log: Log) -> None:
    """As of 09:00:30 the caller who is answered at 09:01 still waits."""
    log.add(0, "queue.enter", "x", queue="q")
    log.add(60, "queue.connect", "x", queue="q", agent="a", waited=60.0)
    f = counter(log, now=30).queue("q", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.waiting, f.handled, f.longest_wait) == (1, 0, 30.0)


def test_conversation_in_progress_has_no_handle_time(log: Log) -> None:
    """An answered caller still talking at now counts as handled, with ASA, without AHT."""
    log.add(0, "queue.enter", "x", queue="q")
    log.add(8, "queue.connect", "x", queue="q", agent="a", waited=8.0)
    f = counter(log, now=100).queue("q", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.handled, f.asa, f.aht) == (1, 8.0, None)


def test_overflow_refused_at_the_next_door_is_still_an_overflow(log: Log) -> None:
    """Timed out of q and sent to a full q2: overflowed in q, refused in q2."""
    log.add(0, "queue.enter", "x", queue="q")
    log.add(60, "queue.exit", "x", queue="q", reason="timeout", waited=60.0)
    log.add(60, "queue.exit", "x", queue="q2", reason="full", waited=0.0)
    c = counter(log)
    q = c.queue("q", T0.timestamp(), T0.timestamp() + 3600)
    q2 = c.queue("q2", T0.timestamp(), T0.timestamp() + 3600)
    assert (q.overflowed, q.timeouts, q2.refused, q2.entered) == (1, 0, 1, 0)


def test_visit_begun_before_the_events_read_is_passed_over(log: Log) -> None:
    """An exit, answer or abandon whose queue.enter is not in the log read is neither a
    refusal nor a visit."""
    log.add(10, "queue.exit", "x", queue="q", reason="timeout", waited=300.0)
    log.add(20, "queue.connect", "y", queue="q", agent="a", waited=200.0)
    log.add(30, "queue.abandon", "z", queue="q", waited=100.0)
    f = counter(log).queue("q", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.entered, f.refused, f.handled, f.abandoned) == (0, 0, 0, 0)


def test_callback_asked_while_waiting_then_exit_is_a_callback(log: Log) -> None:
    """The callback engine may log the request before the caller's exit: still a callback;
    a caller who asked, then hung up in the queue, is an abandon."""
    log.add(0, "queue.enter", "x", queue="q")
    log.add(20, "callback.requested", "x", callback="cb", queue="q")
    log.add(21, "queue.exit", "x", queue="q", reason="exit_key", key="1", waited=21.0)
    log.add(30, "queue.enter", "y", queue="q")
    log.add(40, "callback.requested", "y", callback="cb2", queue="q")
    log.add(50, "queue.abandon", "y", queue="q", waited=20.0)
    f = counter(log).queue("q", T0.timestamp(), T0.timestamp() + 3600)
    assert (f.callbacks, f.exit_keys, f.abandoned, f.callbacks_requested) == (1, 0, 1, 2)
