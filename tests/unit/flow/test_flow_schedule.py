"""Tests for opening-hours schedules across timezones, DST changes, holidays and midnight."""

from __future__ import annotations

import datetime as dt

import pytest

from callflow.flow import OpenState, is_open
from callflow.flow.model import Schedule, WeeklyHours
from callflow.flow.schedule import make_span, parse_days, parse_time_range

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    """A UTC instant from 'YYYY-MM-DD HH:MM'."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def weekly(spec: dict[str, str]) -> tuple[WeeklyHours, ...]:
    hours: list[WeeklyHours] = []
    for days, text in spec.items():
        parsed = parse_time_range(text)
        assert not isinstance(parsed, str), parsed
        found = parse_days(days)
        assert found is not None
        hours.extend(WeeklyHours(d, parsed[0], parsed[1]) for d in found)
    return tuple(hours)


OFFICE = weekly({"mon-fri": "09:00-17:00"})


@pytest.mark.parametrize(
    ("instant", "state"),
    [
        ("2025-01-15 08:59", OpenState.CLOSED),  # Wednesday, GMT = UTC
        ("2025-01-15 09:00", OpenState.OPEN),
        ("2025-07-16 08:00", OpenState.OPEN),  # BST: 09:00 local
        ("2025-07-16 07:59", OpenState.CLOSED),
        ("2025-07-16 16:00", OpenState.CLOSED),  # 17:00 BST, closing time
        ("2025-07-19 10:00", OpenState.CLOSED),  # Saturday
    ],
)
def test_london_office_hours_follow_local_clock(instant: str, state: OpenState) -> None:
    """London opening hours are wall-clock times, so the UTC opening moves with BST."""
    schedule = Schedule("Europe/London", OFFICE)
    assert is_open(schedule, at(instant))[0] is state


@pytest.mark.parametrize(
    ("instant", "state"),
    [
        ("2025-03-30 00:45", OpenState.OPEN),  # 00:45 GMT
        ("2025-03-30 01:15", OpenState.CLOSED),  # 02:15 BST; 01:00-02:00 never happened
    ],
)
def test_london_spring_forward_skips_the_missing_hour(instant: str, state: OpenState) -> None:
    """On the spring-forward Sunday a span ending inside the skipped hour closes at the jump."""
    schedule = Schedule("Europe/London", weekly({"sun": "00:30-01:30"}))
    assert is_open(schedule, at(instant))[0] is state


@pytest.mark.parametrize(
    ("instant", "state"),
    [
        ("2025-10-26 00:30", OpenState.OPEN),  # 01:30 BST, first time round
        ("2025-10-26 01:30", OpenState.OPEN),  # 01:30 GMT, second time round
        ("2025-10-26 02:00", OpenState.CLOSED),  # 02:00 GMT
    ],
)
def test_london_fall_back_repeated_hour_is_open_twice(instant: str, state: OpenState) -> None:
    """On the fall-back Sunday the repeated hour is inside the span both times it occurs."""
    schedule = Schedule("Europe/London", weekly({"sun": "01:00-02:00"}))
    assert is_open(schedule, at(instant))[0] is state


@pytest.mark.parametrize(
    ("instant", "state"),
    [
        ("2025-03-07 13:30", OpenState.CLOSED),  # Friday 08:30 EST
        ("2025-03-07 14:00", OpenState.OPEN),  # Friday 09:00 EST
        ("2025-03-10 13:00", OpenState.OPEN),  # Monday 09:00 EDT, after spring forward
        ("2025-03-10 21:00", OpenState.CLOSED),  # Monday 17:00 EDT
        ("2025-10-31 20:59", OpenState.OPEN),  # Friday 16:59 EDT
        ("2025-11-03 14:00", OpenState.OPEN),  # Monday 09:00 EST, after fall back
        ("2025-11-03 13:30", OpenState.CLOSED),  # Monday 08:30 EST
    ],
)
def test_new_york_hours_across_both_dst_changes(instant: str, state: OpenState) -> None:
    """New York hours open at 09:00 local before and after each 2025 DST change."""
    schedule = Schedule("America/New_York", OFFICE)
    assert is_open(schedule, at(instant))[0] is state


def test_holiday_is_a_local_calendar_date() -> None:
    """A holiday starts at local midnight: 03:00 UTC on the 25th is still the 24th in New York."""
    schedule = Schedule(
        "America/New_York",
        weekly({"daily": "00:00-24:00"}),
        holidays=(make_span(dt.date(2025, 12, 25), name="Christmas Day"),),
    )
    assert is_open(schedule, at("2025-12-25 03:00"))[0] is OpenState.OPEN
    assert is_open(schedule, at("2025-12-25 05:00")) == (
        OpenState.HOLIDAY,
        "holiday: Christmas Day",
    )


def test_closure_range_is_closed_on_every_day_inclusive() -> None:
    """A closure range closes its first day, its last day and every day between."""
    schedule = Schedule(
        "Europe/London",
        OFFICE,
        closures=(make_span(dt.date(2025, 12, 29), dt.date(2025, 12, 31), "Stocktake"),),
    )
    assert is_open(schedule, at("2025-12-29 10:00")) == (OpenState.CLOSED, "closure: Stocktake")
    assert is_open(schedule, at("2025-12-31 10:00"))[0] is OpenState.CLOSED
    assert is_open(schedule, at("2026-01-02 10:00"))[0] is OpenState.OPEN


def test_holiday_wins_over_closure() -> None:
    """A date that is both a holiday and a closure takes the holiday branch."""
    day = make_span(dt.date(2025, 12, 25))
    schedule = Schedule("UTC", OFFICE, holidays=(day,), closures=(day,))
    assert is_open(schedule, at("2025-12-25 10:00"))[0] is OpenState.HOLIDAY


@pytest.mark.parametrize(
    ("instant", "state"),
    [
        ("2025-06-06 21:59", OpenState.CLOSED),  # Friday
        ("2025-06-06 22:00", OpenState.OPEN),
        ("2025-06-07 01:59", OpenState.OPEN),  # Saturday, carried over from Friday
        ("2025-06-07 02:00", OpenState.CLOSED),
        ("2025-06-09 01:00", OpenState.OPEN),  # Monday, carried over from Sunday
        ("2025-06-10 01:00", OpenState.CLOSED),  # Tuesday: Monday has no night span
    ],
)
def test_overnight_hours_cross_midnight(instant: str, state: OpenState) -> None:
    """A span ending before it starts runs past midnight into the next day, Sunday into Monday."""
    schedule = Schedule("UTC", weekly({"fri": "22:00-02:00", "sun": "22:00-02:00"}))
    assert is_open(schedule, at(instant))[0] is state


def test_reason_names_local_time_and_span() -> None:
    """The reason says the local day, time and zone, for the event log."""
    schedule = Schedule("Europe/London", OFFICE)
    assert is_open(schedule, at("2025-07-16 08:00")) == (
        OpenState.OPEN,
        "open: wed 09:00 Europe/London in wed 09:00-17:00",
    )


def test_naive_datetime_is_refused() -> None:
    """A datetime without a timezone is refused rather than guessed."""
    with pytest.raises(ValueError, match="timezone-aware"):
        is_open(Schedule("UTC", OFFICE), dt.datetime(2025, 1, 1, 12, 0))


def test_day_specs_parse_ranges_lists_and_wraparound() -> None:
    """Day specs accept single days, ranges that wrap the week, lists and 'daily'."""
    assert parse_days("mon-fri") == [0, 1, 2, 3, 4]
    assert parse_days("fri-mon") == [4, 5, 6, 0]
    assert parse_days("sat,sun") == [5, 6]
    assert parse_days("daily") == list(range(7))
    assert parse_days("funday") is None


def test_time_ranges_parse_midnight_and_reject_nonsense() -> None:
    """'18:00-00:00' runs until midnight; impossible or empty ranges give a reason."""
    assert parse_time_range("18:00-00:00") == (1080, 1440)
    assert parse_time_range("00:00-24:00") == (0, 1440)
    assert parse_time_range("9:00-17:30") == (540, 1050)
    assert isinstance(parse_time_range("09:00-09:00"), str)
    assert isinstance(parse_time_range("24:00-02:00"), str)
    assert isinstance(parse_time_range("nine to five"), str)
