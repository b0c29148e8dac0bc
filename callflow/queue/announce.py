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
    periodic_at: tuple[float, ...] = ()  # when each periodic prompt last played


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


def _position_due(config: AnnounceConfig, state: AnnounceState, position: int) -> float:
    if state.last_at is None:
        return state.joined_at
    if position != state.last_position:
        return state.last_at + config.min_frequency
    return state.last_at + max(config.frequency, config.min_frequency)


def _periodic_due(config: AnnounceConfig, state: AnnounceState) -> list[float]:
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
        state = replace(state, last_at=now, last_position=position, wait_said=wait_said)
    played = list(state.periodic_at) + [state.joined_at] * (
        len(config.periodic) - len(state.periodic_at)
    )
    for i, (periodic, due) in enumerate(
        zip(config.periodic, _periodic_due(config, state), strict=True)
    ):
        if now >= due:
            say.append(Say("prompt", periodic.prompt))
            played[i] = now
    if config.periodic:
        state = replace(state, periodic_at=tuple(played))
    return Announcement(tuple(say), state)


__all__ = [
    "AnnounceState",
    "Announcement",
    "Say",
    "announce",
    "next_due",
    "position_items",
]
