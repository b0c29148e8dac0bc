"""Schedule: decide from a UTC instant whether the contact center is open, closed or on holiday.

Opening hours are wall-clock times in the schedule's timezone, so DST needs no special
case: on the spring-forward day the skipped hour simply never occurs on the local clock,
and on the fall-back day the repeated hour is open (or closed) both times. Holidays and
closures are whole local calendar dates.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import re
import zoneinfo

from callflow.flow.model import DateSpan, Schedule, WeeklyHours

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class OpenState(enum.StrEnum):
    """Which way an ``hours`` node branches."""

    OPEN = "open"
    CLOSED = "closed"
    HOLIDAY = "holiday"


@functools.lru_cache(maxsize=64)
def timezone(name: str) -> zoneinfo.ZoneInfo:
    """The named IANA timezone; raises ``zoneinfo.ZoneInfoNotFoundError`` if unknown."""
    return zoneinfo.ZoneInfo(name)


def is_open(schedule: Schedule, now: dt.datetime) -> tuple[OpenState, str]:
    """Return the state at instant ``now`` (timezone-aware) and a reason for the event log."""
    if now.tzinfo is None:
        raise ValueError("is_open() needs a timezone-aware datetime, e.g. datetime.now(UTC)")
    local = now.astimezone(timezone(schedule.timezone))
    today = local.date()
    for span in schedule.holidays:
        if span.first <= today <= span.last:
            return OpenState.HOLIDAY, f"holiday: {span.name or span.first.isoformat()}"
    for span in schedule.closures:
        if span.first <= today <= span.last:
            return OpenState.CLOSED, f"closure: {span.name or span.first.isoformat()}"
    minute = local.hour * 60 + local.minute
    weekday = local.weekday()
    stamp = f"{WEEKDAYS[weekday]} {local:%H:%M} {schedule.timezone}"
    for hours in schedule.weekly:
        if _covers(hours, weekday, minute):
            return OpenState.OPEN, f"open: {stamp} in {_format(hours)}"
    return OpenState.CLOSED, f"closed: {stamp} outside opening hours"


def _covers(hours: WeeklyHours, weekday: int, minute: int) -> bool:
    if hours.end > hours.start:
        return hours.weekday == weekday and hours.start <= minute < hours.end
    # Overnight: from start on its own day until end on the next day.
    if hours.weekday == weekday and minute >= hours.start:
        return True
    return (hours.weekday + 1) % 7 == weekday and minute < hours.end


def _format(hours: WeeklyHours) -> str:
    def hhmm(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"

    return f"{WEEKDAYS[hours.weekday]} {hhmm(hours.start)}-{hhmm(hours.end)}"


def parse_days(text: str) -> list[int] | None:
    """Weekday numbers for ``mon``, ``mon-fri``, ``fri-mon`` (wraps), ``sat,sun`` or ``daily``."""
    text = text.strip().lower()
    if text in ("daily", "every day", "everyday"):
        return list(range(7))
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = (p.strip() for p in part.partition("-"))
            if first not in WEEKDAYS or last not in WEEKDAYS:
                return None
            start, stop = WEEKDAYS.index(first), WEEKDAYS.index(last)
            day = start
            days.append(day)
            while day != stop:
                day = (day + 1) % 7
                days.append(day)
        elif part in WEEKDAYS:
            days.append(WEEKDAYS.index(part))
        else:
            return None
    return days


def parse_time_range(text: str) -> tuple[int, int] | str:
    """Parse ``08:00-18:00`` into minutes; returns a reason string when invalid."""
    match = _TIME_RANGE.match(text)
    if match is None:
        return "expected a time range like '08:00-18:00'"
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59:
        return f"start time {h1:02d}:{m1:02d} is not a time of day"
    if h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        return f"end time {h2:02d}:{m2:02d} is not a time of day (use 24:00 for midnight)"
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        return "the range is empty (start equals end)"
    if end == 0:
        end = 1440  # "18:00-00:00" means until midnight
    return start, end


def make_span(first: dt.date, last: dt.date | None = None, name: str = "") -> DateSpan:
    """A holiday or closure from one date or an inclusive range."""
    return DateSpan(first, last or first, name)
