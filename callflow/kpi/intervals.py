"""Reporting intervals: 15 minutes, an hour, a day, on the wall clock of a time zone.

An interval starts on a round local time (xx:00, xx:15..., midnight), so a day in
Europe/Paris runs from 00:00 to 00:00 Paris time, 23 or 25 hours around a clock change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Final

INTERVALS: Final = {"15m": 15 * 60, "1h": 3600, "1d": 86_400}
"""Each interval's name and nominal length in seconds."""


def interval_start(moment: dt.datetime, interval: str, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """The start (aware, in ``tz``) of the interval that holds ``moment``."""
    local = moment.astimezone(tz)
    if interval == "1d":
        floor = local.replace(hour=0, minute=0, second=0, microsecond=0)
    elif interval == "1h":
        floor = local.replace(minute=0, second=0, microsecond=0)
    elif interval == "15m":
        floor = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    else:
        raise ValueError(f"unknown interval {interval!r} (one of {', '.join(INTERVALS)})")
    # A zone's offset follows the wall time: a floor across a clock change gets its own.
    return floor


def next_start(start: dt.datetime, interval: str, tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """The start of the interval after the one starting at ``start``."""
    if interval == "1d":
        # Noon of the next calendar day, floored: a day of 23 or 25 hours ends right.
        noon = start.astimezone(tz).replace(hour=12) + dt.timedelta(days=1)
        return interval_start(noon, interval, tz)
    step = dt.timedelta(seconds=INTERVALS[interval])
    return interval_start((start.astimezone(dt.UTC) + step).astimezone(tz), interval, tz)


def interval_starts(
    start: dt.datetime, end: dt.datetime, interval: str, tz: dt.tzinfo = dt.UTC
) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Every interval ``(start, end)`` that overlaps ``[start, end)``, in order."""
    at = interval_start(start, interval, tz)
    while at < end:
        after = next_start(at, interval, tz)
        yield at, after
        at = after


def parse_moment(text: str, tz: dt.tzinfo, end: bool = False) -> dt.datetime:
    """A date is its midnight in ``tz`` (``end``: the next midnight, so the day is in); a
    moment without an offset is in ``tz``. Raises ValueError for anything else."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text) + dt.timedelta(days=1 if end else 0)
            return dt.datetime.combine(day, dt.time(), tz)
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not a date (YYYY-MM-DD) or ISO 8601 moment: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
