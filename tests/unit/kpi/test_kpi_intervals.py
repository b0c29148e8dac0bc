"""Reporting intervals on a time zone's wall clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from callflow.kpi.intervals import interval_start, interval_starts

PARIS = ZoneInfo("Europe/Paris")


def test_fifteen_minutes_hour_and_day_in_utc() -> None:
    """09:37:12 is in 09:30 (15m), 09:00 (1h) and midnight's day."""
    moment = dt.datetime(2026, 12, 1, 9, 37, 12, tzinfo=dt.UTC)
    assert interval_start(moment, "15m") == moment.replace(minute=30, second=0)
    assert interval_start(moment, "1h") == moment.replace(minute=0, second=0)
    assert interval_start(moment, "1d") == moment.replace(hour=0, minute=0, second=0)


def test_range_is_covered_by_whole_intervals() -> None:
    """09:10 to 10:00 in 15-minute intervals: 09:00, 09:15, 09:30, 09:45."""
    start = dt.datetime(2026, 12, 1, 9, 10, tzinfo=dt.UTC)
    end = start.replace(hour=10, minute=0)
    starts = [a.strftime("%H:%M") for a, _ in interval_starts(start, end, "15m")]
    assert starts == ["09:00", "09:15", "09:30", "09:45"]


def test_day_in_a_zone_follows_its_clock_change() -> None:
    """In Paris, 25 October 2026 lasts 25 hours (summer time ends): its day interval runs
    from local midnight to local midnight."""
    start = dt.datetime(2026, 10, 25, tzinfo=PARIS)
    ((a, b),) = list(interval_starts(start, start + dt.timedelta(hours=1), "1d", PARIS))
    assert (a.hour, b.day, b.hour) == (0, 26, 0)
    assert b.timestamp() - a.timestamp() == 25 * 3600


def test_hours_across_a_clock_change_are_all_there() -> None:
    """From 00:00 to 04:00 Paris time on 25 October 2026 there are five hourly intervals
    (02:00 happens twice)."""
    start = dt.datetime(2026, 10, 25, tzinfo=PARIS)
    end = dt.datetime(2026, 10, 25, 4, tzinfo=PARIS)
    hours = list(interval_starts(start, end, "1h", PARIS))
    assert len(hours) == 5
    assert all(b.timestamp() - a.timestamp() == 3600 for a, b in hours)


def test_unknown_interval() -> None:
    """An interval name other than 15m, 1h, 1d is refused."""
    with pytest.raises(ValueError, match="15m"):
        interval_start(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "5m")
