"""What a caller is told about their wait: a figure (data), its words, and its sounds.

A predictor (:mod:`callflow.queue.estimate`) gives a conservative number of seconds;
:func:`wait_figure` turns it into what is said, once, for everyone: the live queue, the
simulator and the benchmarks score the same figure. The words (:meth:`WaitFigure.words`,
for logs and reports) and the sounds (:func:`wait_sounds`, Asterisk's own queue prompts)
are both built from that figure, never from each other.

The rounding, without ``round_seconds``: a person's steps, each a small part of the
figure (so that rounding adds little to the error of what is said), and always *up*, so
that what is said never promises less than the (conservative) figure it comes from:

- under a minute: steps of 10 seconds ("about 40 seconds");
- under 3 minutes: steps of 15 seconds ("about 1 minute 45 seconds");
- under 10 minutes: steps of 30 seconds; under 20: whole minutes; under 60: steps of 5,
  and "about an hour" when that reaches 60;
- 60 min and more, or no finite figure: "more than an hour".

With the queue's ``round_seconds`` (app_queue's ``announce-round-seconds``: 5, 10, 15, 20,
30), minutes and seconds rounded *up* to the step, so a caller is never promised less than
the estimate ("about 1 minute 30 seconds", "about 45 seconds"), and more than an hour
still as such.

A figure of zero or less (the caller has waited past the estimate) is not said at all:
app_queue's ``labs()`` would announce it growing again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from callflow.flow.prompts import number_sounds

Qualifier = Literal["about", "less_than", "more_than"]

HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class WaitFigure:
    """A wait as told: ``qualifier`` ``minutes`` (and ``seconds``)."""

    minutes: int
    seconds: int = 0
    qualifier: Qualifier = "about"

    @property
    def total_seconds(self) -> int:
        """The figure in seconds (what the caller is led to expect)."""
        return self.minutes * 60 + self.seconds

    def words(self) -> str:
        """The figure in English: "about 3 minutes", "less than a minute"..."""
        if self.qualifier == "less_than":
            return "less than a minute"
        if self.qualifier == "more_than":
            return "more than an hour"
        if self.minutes == 60 and not self.seconds:
            return "about an hour"
        parts = []
        if self.minutes:
            parts.append("1 minute" if self.minutes == 1 else f"{self.minutes} minutes")
        if self.seconds:
            parts.append(f"{self.seconds} seconds")
        return "about " + " ".join(parts)

    def __str__(self) -> str:
        return self.words()


def wait_figure(seconds: float, round_seconds: int = 0) -> WaitFigure | None:
    """The figure to tell for a conservative estimate of ``seconds`` still to wait, or None
    when there is nothing honest to say (not a number, or zero or less)."""
    if math.isnan(seconds) or seconds <= 0:
        return None
    if seconds >= HOUR:  # infinity included
        return WaitFigure(60, qualifier="more_than")
    if round_seconds > 0:
        total = math.ceil(seconds / round_seconds) * round_seconds
        if total >= HOUR:
            return WaitFigure(60)
        minutes, secs = divmod(int(total), 60)
        return WaitFigure(minutes, secs)
    step = next(step for below, step in _STEPS if seconds < below)
    # A float hair above a whole step (120.0000001 s) is that step, not the next one.
    minutes, secs = divmod(min(3600, math.ceil(round(seconds / step, 9)) * step), 60)
    return WaitFigure(minutes, secs)


# (below this many seconds, round up to steps of this many), for figures under an hour.
_STEPS = ((60.0, 10), (180.0, 15), (600.0, 30), (1200.0, 60), (HOUR, 300))


def spoken_number(n: int) -> list[str]:
    """A number as English core sounds, one playback each: unlike ARI's ``number:`` media,
    a key (an exit key) or an agent becoming free can stop them (Asterisk 22)."""
    return [f"sound:{sound}" for sound in number_sounds(n)]


def wait_sounds(figure: WaitFigure) -> tuple[str, ...]:
    """Asterisk core sounds for a figure, as app_queue says a hold time.

    "More than an hour" has no core sound: nothing is said rather than a wrong figure.
    """
    if figure.qualifier == "more_than":
        return ()
    if figure.qualifier == "less_than":
        return (
            "sound:queue-holdtime",
            "sound:queue-less-than",
            *spoken_number(1),
            "sound:queue-minute",
        )
    media = ["sound:queue-holdtime"]
    if figure.minutes:
        unit = "sound:queue-minute" if figure.minutes == 1 else "sound:queue-minutes"
        media += [*spoken_number(figure.minutes), unit]
    if figure.seconds:
        media += [*spoken_number(figure.seconds), "sound:queue-seconds"]
    return tuple(media)


__all__ = ["WaitFigure", "spoken_number", "wait_figure", "wait_sounds"]
