"""Tests for the announcement scheduler: app_queue's timing, position and wait rules."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest

from callflow.flow.model import Say as SayPrompt
from callflow.flow.model import Sound
from callflow.queue.announce import (
    REANNOUNCE_FLOOR,
    SETTLE,
    STAGGER_SPAN,
    AnnounceState,
    Say,
    announce,
    next_due,
    note_position,
    stagger,
)
from callflow.queue.config import AnnounceConfig, PeriodicPrompt, PositionMode, WaitMode
from callflow.queue.wait import WaitFigure, wait_figure, wait_sounds

EVERY_MINUTE = AnnounceConfig(frequency=60, min_frequency=15)


def test_first_announcement_comes_at_join_then_every_frequency() -> None:
    """A caller hears position and wait on joining, then again one frequency later."""
    state = AnnounceState(joined_at=100.0)
    assert next_due(EVERY_MINUTE, state, 3) == 100.0
    first = announce(EVERY_MINUTE, state, 100.0, 3, 200.0)
    assert first.say == (("position", 3), ("wait", WaitFigure(3, 30)))  # 200 s: up
    assert next_due(EVERY_MINUTE, first.state, 3) == 160.0
    assert announce(EVERY_MINUTE, first.state, 159.0, 3, 140.0).say == ()
    again = announce(EVERY_MINUTE, first.state, 160.0, 3, 140.0)
    assert again.say == (Say("position", 3), Say("wait", WaitFigure(2, 30)))


def test_position_change_announces_early_but_not_within_min_frequency() -> None:
    """Moving up makes an announcement due min_frequency after the last one, not sooner."""
    state = announce(EVERY_MINUTE, AnnounceState(0.0), 0.0, 5, None).state
    assert next_due(EVERY_MINUTE, state, 4) == 15.0
    assert announce(EVERY_MINUTE, state, 10.0, 4, None).say == ()
    moved = announce(EVERY_MINUTE, state, 15.0, 4, None)
    assert moved.say == (("position", 4),)
    assert moved.state.last_position == 4
    assert next_due(EVERY_MINUTE, moved.state, 4) == 75.0


def test_position_one_is_said_as_next() -> None:
    """The caller at the head of the line is told position 1 ("you are next")."""
    config = AnnounceConfig(frequency=60, position=PositionMode.LIMIT, position_limit=1)
    assert announce(config, AnnounceState(0.0), 0.0, 1, None).say == (("position", 1),)


def test_position_limit_says_the_position_only_up_to_the_limit() -> None:
    """position: limit stays silent about positions above the limit, still saying the wait."""
    config = AnnounceConfig(frequency=60, position=PositionMode.LIMIT, position_limit=5)
    assert announce(config, AnnounceState(0.0), 0.0, 7, 300.0).say == (("wait", WaitFigure(5)),)
    assert announce(config, AnnounceState(0.0), 0.0, 5, None).say == (("position", 5),)


def test_position_more_says_more_than_n_above_the_limit() -> None:
    """position: more says "more than N" above the limit and the position at or below it."""
    config = AnnounceConfig(
        frequency=60, position=PositionMode.MORE, position_limit=5, wait=WaitMode.NO
    )
    assert announce(config, AnnounceState(0.0), 0.0, 9, 600.0).say == (("more_than", 5),)
    assert announce(config, AnnounceState(0.0), 0.0, 5, 600.0).say == (("position", 5),)


def test_wait_once_is_said_a_single_time() -> None:
    """wait: once says the wait in the first announcement and never again."""
    config = AnnounceConfig(frequency=60, wait=WaitMode.ONCE)
    first = announce(config, AnnounceState(0.0), 0.0, 4, 240.0)
    assert first.say == (("position", 4), ("wait", WaitFigure(4)))
    second = announce(config, first.state, 60.0, 4, 180.0)
    assert second.say == (("position", 4),)


def test_wait_once_waits_for_a_figure_worth_saying() -> None:
    """With wait: once, a first estimate with nothing to say (already passed) does not use
    up the one telling."""
    config = AnnounceConfig(frequency=60, wait=WaitMode.ONCE, position=PositionMode.NO)
    first = announce(config, AnnounceState(0.0), 0.0, 2, -10.0)
    assert first.say == ()
    assert not first.state.wait_said
    second = announce(config, first.state, 60.0, 2, 200.0)
    assert second.say == (("wait", WaitFigure(3, 30)),)
    assert next_due(config, second.state, 2) == math.inf  # nothing left to say, ever


def test_a_wait_under_a_minute_is_said_in_seconds() -> None:
    """A short wait is said in seconds, never "0 minutes" (app_queue leaves it out); a wait
    already passed is not said at all."""
    said = announce(EVERY_MINUTE, AnnounceState(0.0), 0.0, 2, 20.0).say
    assert said == (("position", 2), ("wait", WaitFigure(0, 20)))
    assert announce(EVERY_MINUTE, AnnounceState(0.0), 0.0, 2, -40.0).say == (("position", 2),)


@pytest.mark.parametrize(
    ("seconds", "step", "words"),
    [
        (150.0, 30, "about 2 minutes 30 seconds"),
        (100.0, 15, "about 1 minute 45 seconds"),  # rounded up, never down
        (40.0, 30, "about 1 minute"),
        (20.0, 10, "about 20 seconds"),
        (0.0, 10, None),
        (-5.0, 0, None),
        (20.0, 0, "about 20 seconds"),
        (21.0, 0, "about 30 seconds"),  # up, never below the figure
        (59.5, 0, "about 1 minute"),
        (89.0, 0, "about 1 minute 30 seconds"),  # steps of 15 s under 3 minutes
        (185.0, 0, "about 3 minutes 30 seconds"),  # steps of 30 s under 10 minutes
        (600.0, 0, "about 10 minutes"),
        (601.0, 0, "about 11 minutes"),  # whole minutes under 20
        (1201.0, 0, "about 25 minutes"),  # steps of 5 from 20 minutes on
        (3500.0, 0, "about an hour"),
        (3600.0, 15, "more than an hour"),
        (math.inf, 0, "more than an hour"),
    ],
)
def test_wait_figures_and_their_words(seconds: float, step: int, words: str | None) -> None:
    """round_seconds says minutes and seconds rounded up to the step; without it steps that
    stay a small part of the figure (10 s under a minute ... 5 minutes past 20), always up;
    one figure, whose words are derived from it."""
    figure = wait_figure(seconds, step)
    assert (figure.words() if figure else None) == words


@pytest.mark.parametrize(
    ("figure", "sounds"),
    [
        (
            WaitFigure(1, qualifier="less_than"),
            ["queue-holdtime", "queue-less-than", "digits/1", "queue-minute"],
        ),
        (WaitFigure(1), ["queue-holdtime", "digits/1", "queue-minute"]),
        (
            WaitFigure(2, 30),
            ["queue-holdtime", "digits/2", "queue-minutes", "digits/30", "queue-seconds"],
        ),
        (WaitFigure(0, 45), ["queue-holdtime", "digits/40", "digits/5", "queue-seconds"]),
        (WaitFigure(60, qualifier="more_than"), []),
    ],
)
def test_wait_sounds_are_built_from_the_figure(figure: WaitFigure, sounds: list[str]) -> None:
    """The sounds say exactly the figure (minutes and seconds), never a parsed phrase."""
    got = [m.removeprefix("sound:") for m in wait_sounds(figure)]
    assert got == sounds


def test_round_seconds_comes_from_the_queue() -> None:
    """The queue's round_seconds shapes the figure announced."""
    config = AnnounceConfig(frequency=60, round_seconds=15, position=PositionMode.NO)
    assert announce(config, AnnounceState(0.0), 0.0, 1, 70.0).say == (("wait", WaitFigure(1, 15)),)


def test_periodic_prompts_keep_their_own_periods_from_join() -> None:
    """Each periodic prompt plays every `every` seconds counted from join."""
    thanks, press = Sound("queue-thankyou"), SayPrompt("Press 0 to leave a message.")
    config = AnnounceConfig(
        frequency=0,
        periodic=(PeriodicPrompt(30, thanks), PeriodicPrompt(45, press)),
    )
    state = AnnounceState(joined_at=10.0)
    assert announce(config, state, 10.0, 3, 100.0).say == ()  # frequency 0: no position
    assert next_due(config, state, 3) == 40.0
    at40 = announce(config, state, 40.0, 3, None)
    assert at40.say == (("prompt", thanks),)
    assert next_due(config, at40.state, 3) == 55.0
    at55 = announce(config, at40.state, 55.0, 3, None)
    assert at55.say == (("prompt", press),)
    assert next_due(config, at55.state, 3) == 70.0


def test_nothing_to_say_means_never_due() -> None:
    """With position and wait off and no periodic prompts, no wake-up is ever needed."""
    config = AnnounceConfig(frequency=60, position=PositionMode.NO, wait=WaitMode.NO)
    assert next_due(config, AnnounceState(0.0), 1) == math.inf
    assert announce(config, AnnounceState(0.0), 0.0, 1, 300.0).say == ()


def test_a_driver_following_next_due_hears_the_expected_schedule() -> None:
    """Waking only at next_due over a 5-minute wait gives announcements at 0, 60, ... 300
    and a periodic prompt every 45 s, with no polling."""
    config = AnnounceConfig(
        frequency=60,
        min_frequency=15,
        wait=WaitMode.ONCE,
        periodic=(PeriodicPrompt(45, Sound("queue-periodic-announce")),),
    )
    state = AnnounceState(joined_at=0.0)
    heard: list[tuple[float, tuple[Say, ...]]] = []
    now, wakeups = 0.0, 0
    while now <= 300.0:
        wakeups += 1
        result = announce(config, state, now, 3, 300.0 - now)
        state = result.state
        if result.say:
            heard.append((now, result.say))
        now = next_due(config, state, 3)
    assert [t for t, _ in heard] == [0, 45, 60, 90, 120, 135, 180, 225, 240, 270, 300]
    assert wakeups == len(heard)
    assert heard[0][1] == (("position", 3), ("wait", WaitFigure(5)))
    assert sum(1 for _, say in heard for item in say if item.what == "wait") == 1


def test_late_wakeups_do_not_drift_the_schedule() -> None:
    """A driver that wakes (or finishes the prompt) seconds late still hears announcements
    on join + k*frequency: the lateness is never added to the period."""
    config = AnnounceConfig(frequency=30, min_frequency=10)
    state = AnnounceState(joined_at=0.0)
    heard = []
    now = 0.0
    for lateness in (0.4, 7.0, 0.1, 9.5, 0.0):
        result = announce(config, state, now, 3, None)
        assert result.say, now
        state = result.state
        heard.append(now)
        due = next_due(config, state, 3)
        now = due + lateness  # woke late: a loaded loop, or the prompt was still playing
    assert [round(next_due(config, state, 3))] == [150]
    assert [round(t) for t in heard] == [0, 30, 67, 90, 130]
    assert [math.floor(t / 30) for t in heard] == [0, 1, 2, 3, 4]


def test_a_wakeup_past_several_deadlines_skips_them() -> None:
    """A driver stalled past two deadlines says one announcement, then keeps the grid."""
    config = AnnounceConfig(frequency=10, min_frequency=5)
    state = announce(config, AnnounceState(joined_at=0.0), 0.0, 2, None).state
    late = announce(config, state, 25.0, 2, None)
    assert late.say == (("position", 2),)
    assert next_due(config, late.state, 2) == 30.0


def test_periodic_prompts_keep_their_deadlines_when_played_late() -> None:
    """A periodic prompt played 4 s late is next due a period after its deadline."""
    config = AnnounceConfig(periodic=(PeriodicPrompt(20, Sound("queue-thankyou")),))
    state = AnnounceState(joined_at=0.0)
    late = announce(config, state, 24.0, 3, None)
    assert late.say == (("prompt", Sound("queue-thankyou")),)
    assert next_due(config, late.state, 3) == 40.0


def test_a_burst_of_moves_is_told_once_with_the_latest_position() -> None:
    """Callers ahead hang up one after another: the position is told once, after it has
    settled for SETTLE s (plus the caller's stagger), as the latest position."""
    config = AnnounceConfig(frequency=60, min_frequency=10)
    state = announce(config, AnnounceState(joined_at=0.0), 0.0, 9, None).state
    for now, position in ((20.0, 8), (20.5, 7), (21.0, 5)):
        state = note_position(state, now, position)
        assert next_due(config, state, position) == 20.0 + SETTLE
        assert announce(config, state, now, position, None).say == ()
    told = announce(config, state, 22.0, 4, None)
    assert told.say == (("position", 4),)
    assert told.state.moved_at is None


def test_a_position_change_waits_for_the_callers_minimum_interval() -> None:
    """However fast positions move, one caller hears a change no sooner than min_frequency
    after the last announcement, and never sooner than REANNOUNCE_FLOOR."""
    config = AnnounceConfig(frequency=60, min_frequency=10)
    state = announce(config, AnnounceState(joined_at=0.0), 0.0, 9, None).state
    state = note_position(state, 1.0, 8)
    assert next_due(config, state, 8) == 10.0
    eager = AnnounceConfig(frequency=60, min_frequency=0)
    state = announce(eager, AnnounceState(joined_at=0.0), 0.0, 9, None).state
    state = note_position(state, 0.5, 8)
    assert next_due(eager, state, 8) == REANNOUNCE_FLOOR


def test_a_caller_back_at_the_told_position_hears_nothing_new() -> None:
    """A move that is undone before it is told (a priority caller came and went) is
    forgotten: the next announcement is the regular one."""
    config = AnnounceConfig(frequency=60, min_frequency=10)
    state = announce(config, AnnounceState(joined_at=0.0), 0.0, 4, None).state
    state = note_position(state, 11.0, 5)
    state = note_position(state, 12.0, 4)
    assert state.moved_at is None
    assert next_due(config, state, 4) == 60.0


def test_callers_are_staggered_over_the_span() -> None:
    """Consecutive callers' stagger offsets spread over [0, STAGGER_SPAN), so a mass move
    is told over STAGGER_SPAN seconds, not in one instant."""
    offsets = sorted(stagger(n) for n in range(1, 31))
    assert all(0.0 <= o < STAGGER_SPAN for o in offsets)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert max(gaps) < STAGGER_SPAN / 10
    config = AnnounceConfig(frequency=60, min_frequency=10)
    state = replace(announce(config, AnnounceState(0.0), 0.0, 9, None).state, stagger=1.5)
    state = note_position(state, 30.0, 8)
    assert next_due(config, state, 8) == 30.0 + SETTLE + 1.5
