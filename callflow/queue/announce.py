"""Announcements: when to tell a waiting caller their position and wait, and what to say.

A pure per-caller scheduler with app_queue's rules (``announce-frequency``,
``min-announce-frequency``, ``announce-position`` yes/no/limit/more with
``announce-position-limit``, ``announce-holdtime`` yes/no/once,
``announce-round-seconds``, ``periodic-announce``). The driver keeps one
:class:`AnnounceState` per caller, asks :func:`announce` at the time
:func:`next_due` gave (and again whenever the caller's position changes, since a move
may make an announcement due sooner), plays the :class:`Say` items, and keeps the
returned state. Nothing here sleeps or polls.

The rules, as app_queue's ``say_position()`` has them:

- the first announcement comes at join; then one every ``frequency`` seconds, or
  sooner when the position changed, but never within ``min_frequency`` of the last;
- position 1 is said as ``("position", 1)`` ("you are next"); ``limit`` says the
  position only up to ``position_limit``; ``more`` says ``("more_than", limit)`` above it;
- the wait is said in every announcement (``yes``), never, or ``once``, as the figure of
  :func:`callflow.queue.wait.wait_figure` (with the queue's ``round_seconds``).

Timing without drift: announcements are kept on absolute deadlines. The regular
announcement after one due at ``d`` is due at ``d + frequency`` (the first at join, so
``joined_at + k*frequency``), never "when the last one ended, plus frequency", and a
periodic prompt's next play is its last deadline plus ``every``: neither the prompt's
length nor a late wake-up is added to the period. A late driver skips the deadlines it
missed rather than catching up with a burst.

Position changes (several callers ahead hang up at once) are coalesced and rate-limited
per caller: a change is announced no sooner than ``min_frequency`` (at least
:data:`REANNOUNCE_FLOOR`) after the last announcement, and only once the position has
been moving for :data:`SETTLE` s plus the caller's own :func:`stagger` (so that a queue's
callers are not all told at the same instant); what is said then is the latest position,
and nothing is said if the caller is back where the last announcement left them. The
driver reports what it sees with :func:`note_position`.

Where callflow differs, on purpose: ``once`` means the first announcement that has a
wait worth saying, not strictly the first announcement; a negative estimate (the caller has
waited past it) is not said, where app_queue's ``labs()`` announces it growing again;
the figure is always rounded up, never down, so a caller is not promised less than the
estimate; under a minute it is said in seconds ("about 40 seconds") rather than not at
all. Periodic prompts each keep their own period, counted from join.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal, NamedTuple

from callflow.flow.model import Prompt
from callflow.queue.config import AnnounceConfig, PositionMode, WaitMode
from callflow.queue.wait import WaitFigure, wait_figure

SayKind = Literal["position", "more_than", "wait", "prompt"]

# A position change is announced once it has been moving this long (a burst of hang-ups
# gives one announcement with the final position, not one per hang-up)...
SETTLE = 2.0
# ... plus each caller's own offset in [0, STAGGER_SPAN), so that a queue's callers are
# spread out rather than all told in the same instant.
STAGGER_SPAN = 3.0
# Never re-announce a mere position change sooner than this after the last announcement,
# whatever min_frequency says (0 would announce every hang-up ahead).
REANNOUNCE_FLOOR = 5.0
_GOLDEN = 0.6180339887498949


class Say(NamedTuple):
    """One thing to say: ``("position", 3)``, ``("more_than", 5)``,
    ``("wait", WaitFigure(3))`` or ``("prompt", Sound(...))``."""

    what: SayKind
    value: int | WaitFigure | Prompt


@dataclass(frozen=True)
class AnnounceState:
    """What one caller has been told so far."""

    joined_at: float
    last_at: float | None = None  # last position/wait announcement
    last_position: int | None = None  # the position at that announcement
    wait_said: bool = False
    periodic_at: tuple[float, ...] = ()  # each periodic prompt's last deadline
    next_at: float | None = None  # the next regular announcement's deadline
    moved_at: float | None = None  # when the position was first seen changed since last_at
    stagger: float = 0.0  # this caller's offset past SETTLE (see :func:`stagger`)


@dataclass(frozen=True)
class Announcement:
    """What to say now (possibly nothing) and the caller's state afterwards."""

    say: tuple[Say, ...]
    state: AnnounceState


def _can_say(config: AnnounceConfig, state: AnnounceState) -> bool:
    """Whether position/wait announcements could ever say something to this caller."""
    if config.frequency <= 0:
        return False
    wait_left = config.wait is WaitMode.YES or (
        config.wait is WaitMode.ONCE and not state.wait_said
    )
    return config.position is not PositionMode.NO or wait_left


def stagger(number: int) -> float:
    """Caller ``number``'s offset in [0, STAGGER_SPAN): spread evenly over consecutive
    numbers (the golden-ratio sequence), the same every time."""
    return (number * _GOLDEN) % 1.0 * STAGGER_SPAN


def note_position(state: AnnounceState, now: float, position: int) -> AnnounceState:
    """What the driver sees of the caller's position at ``now``: the start of a move is
    remembered (for :data:`SETTLE`), a return to the position last told forgets it."""
    if state.last_at is None or position == state.last_position:
        return state if state.moved_at is None else replace(state, moved_at=None)
    if state.moved_at is None:
        return replace(state, moved_at=now)
    return state


def _period(config: AnnounceConfig) -> float:
    return max(config.frequency, config.min_frequency)


def _regular_due(config: AnnounceConfig, state: AnnounceState) -> float:
    if state.next_at is not None:
        return state.next_at
    if state.last_at is None:
        return state.joined_at
    return state.last_at + _period(config)


def _position_due(config: AnnounceConfig, state: AnnounceState, position: int) -> float:
    regular = _regular_due(config, state)
    if state.last_at is None or position == state.last_position:
        return regular
    moved_at = state.moved_at if state.moved_at is not None else state.last_at
    changed = max(
        state.last_at + max(config.min_frequency, REANNOUNCE_FLOOR),
        moved_at + SETTLE + state.stagger,
    )
    return min(regular, changed)


def _after(deadline: float, period: float, now: float) -> float:
    """The first of ``deadline + k*period`` (k >= 1) later than ``now``."""
    if period <= 0:
        return math.inf
    return deadline + max(1, math.floor((now - deadline) / period) + 1) * period


def _periodic_due(config: AnnounceConfig, state: AnnounceState) -> list[float]:
    """Each periodic prompt's next deadline (its last one plus its period)."""
    return [
        (state.periodic_at[i] if i < len(state.periodic_at) else state.joined_at) + p.every
        for i, p in enumerate(config.periodic)
    ]


def next_due(config: AnnounceConfig, state: AnnounceState, position: int) -> float:
    """When :func:`announce` next has something to do for this caller (``inf``: never).

    A time in the past means now. Ask again when the position changes.
    """
    times = _periodic_due(config, state)
    if _can_say(config, state):
        times.append(_position_due(config, state, position))
    return min(times, default=math.inf)


def position_items(config: AnnounceConfig, position: int) -> list[Say]:
    """What app_queue says about a position under ``position: yes|no|limit|more``."""
    mode, limit = config.position, config.position_limit
    if mode is PositionMode.NO:
        return []
    if position > limit and mode is PositionMode.MORE:
        return [Say("more_than", limit)]
    if position > limit and mode is PositionMode.LIMIT:
        return []
    return [Say("position", position)]


def announce(
    config: AnnounceConfig,
    state: AnnounceState,
    now: float,
    position: int,
    estimated_wait: float | None,
) -> Announcement:
    """Decide at ``now`` what to tell a caller at ``position``.

    ``estimated_wait`` (seconds still to wait, already conservative; None: unknown)
    comes from a predictor in :mod:`callflow.queue.estimate`; it is told as
    :func:`~callflow.queue.wait.wait_figure` with the queue's ``round_seconds``.
    """
    say: list[Say] = []
    if _can_say(config, state) and now >= _position_due(config, state, position):
        regular = _regular_due(config, state)
        # A regular announcement keeps the grid (its deadline plus the period); one brought
        # forward by a position change starts it anew from now.
        next_at = _after(regular, _period(config), now) if now >= regular else now + _period(config)
        say += position_items(config, position)
        wait_said = state.wait_said
        wants_wait = config.wait is WaitMode.YES or (
            config.wait is WaitMode.ONCE and not state.wait_said
        )
        if wants_wait and estimated_wait is not None:
            figure = wait_figure(estimated_wait, config.round_seconds)
            if figure is not None:
                say.append(Say("wait", figure))
                wait_said = True
        state = replace(
            state,
            last_at=now,
            last_position=position,
            wait_said=wait_said,
            next_at=next_at,
            moved_at=None,
        )
    played = list(state.periodic_at) + [state.joined_at] * (
        len(config.periodic) - len(state.periodic_at)
    )
    for i, (periodic, due) in enumerate(
        zip(config.periodic, _periodic_due(config, state), strict=True)
    ):
        if now >= due:
            say.append(Say("prompt", periodic.prompt))
            # Its deadline, not now: the next one comes a period after it was due (a late
            # wake-up skips the deadlines missed).
            played[i] = _after(due, periodic.every, now) - periodic.every
    if config.periodic:
        state = replace(state, periodic_at=tuple(played))
    return Announcement(tuple(say), state)


__all__ = [
    "REANNOUNCE_FLOOR",
    "SETTLE",
    "STAGGER_SPAN",
    "AnnounceState",
    "Announcement",
    "Say",
    "announce",
    "next_due",
    "note_position",
    "position_items",
    "stagger",
]
