"""The latency meter behind ``kill -USR1``: event -> command, and ARI round trips."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from callflow.ari import RequestTiming
from callflow.ari import latency as latency_module
from callflow.ari.latency import (
    Figures,
    LatencyMeter,
    LogHistogram,
    channels_of,
    parse_report,
)
from callflow.ari.rest import QueryValue
from callflow.bench.connect import percentile


def timing(
    path: str,
    sent_at: float,
    *,
    seconds: float = 0.002,
    status: int | None = 204,
    params: dict[str, QueryValue] | None = None,
) -> RequestTiming:
    return RequestTiming("POST", path, params, sent_at, seconds, status)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


@pytest.mark.parametrize("seed", range(5))
def test_a_percentile_is_within_two_percent_of_the_exact_one(seed: int) -> None:
    """Values spread over five decades (20 µs to 2 s): every percentile read off the
    histogram is the exact one (numpy's) or at most 2 % above it, never below."""
    rng = random.Random(seed)
    values = [10 ** rng.uniform(-4.7, 0.3) for _ in range(5000)]
    histogram = LogHistogram()
    for value in values:
        histogram.add(value)
    ordered = sorted(values)
    for q in (1, 50, 90, 99, 99.9, 100):
        exact = ordered[max(1, math.ceil(len(values) * q / 100)) - 1]
        assert exact <= histogram.percentile(q) <= exact * 1.02 + 1e-12
    assert histogram.largest == max(values) and histogram.count == 5000
    assert histogram.percentile(100) == max(values)


def test_an_empty_histogram_has_no_percentile_and_odd_values_are_kept() -> None:
    histogram = LogHistogram()
    assert math.isnan(histogram.percentile(99))
    with pytest.raises(ValueError):
        histogram.percentile(101)
    histogram.add(-0.001)  # clocks a hair apart: counted as 0
    histogram.add(1e9)  # beyond the last bucket: counted in it
    assert histogram.count == 2
    assert histogram.percentile(50) <= LogHistogram.LOWEST  # the first bucket: up to 1 µs
    assert histogram.percentile(100) == 1e9


def test_event_to_command_is_arrival_to_the_first_request_for_that_channel() -> None:
    """From Asterisk's StasisStart timestamp to callflow's first request naming the
    channel; later requests for it, and requests for other channels, are not reactions."""
    meter = LatencyMeter()
    meter.arrived("c1", at(100.000))
    meter.arrived("c2", at(100.010))
    meter.request(timing("/channels/c1/answer", 100.004))
    meter.request(timing("/channels/c1/play", 100.900))  # not c1's first
    meter.request(timing("/bridges", 100.020))  # no channel
    meter.request(
        timing("/bridges/hold-1/addChannel", 100.040, params={"channel": ["c2"], "role": "x"})
    )
    command, _, _, round_trip = meter.figures()
    assert command.count == 2
    assert command.p50 == pytest.approx(4.0, rel=0.03)
    assert command.p99 == pytest.approx(30.0, rel=0.03)
    assert command.largest == pytest.approx(30.0, abs=0.01)
    assert round_trip.count == 4
    assert round_trip.p50 == pytest.approx(2.0, rel=0.03)


def test_the_parts_delivered_and_in_the_calls_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stamped by Asterisk at 100.000, read off the socket at 100.150 (a late event:
    Asterisk busy, or callflow's loop), the call's task starting at 100.180, the answer
    sent at 100.185: 185 ms event -> command, of which 150 ms delivering the event and
    5 ms in the call's task. Without a read time (an event made up), delivery ends when
    the task starts."""
    monkeypatch.setattr(latency_module, "time", SimpleNamespace(time=lambda: 100.180))
    meter = LatencyMeter()
    meter.arrived("c1", at(100.000), 100.150)
    meter.request(timing("/channels/c1/answer", 100.185))
    command, delivered, in_task, _ = meter.figures()
    assert command.p99 == pytest.approx(185.0, rel=0.03)
    assert delivered.p99 == pytest.approx(150.0, rel=0.03)
    assert in_task.p99 == pytest.approx(5.0, rel=0.03)
    meter.arrived("c2", at(100.100))
    assert meter.figures().delivered.largest == pytest.approx(150.0, rel=0.01)
    assert meter.figures().delivered.count == 2


def test_calls_taken_back_ended_or_unanswered_requests_are_not_counted() -> None:
    """A call recovery took back has no Asterisk arrival; a call that ended before its
    first request is forgotten; a request that got no answer has no round trip."""
    meter = LatencyMeter()
    meter.arrived("recovered", None)
    meter.request(timing("/channels/recovered/answer", 5.0))
    meter.arrived("gone", at(1.0))
    meter.forget("gone")
    meter.request(timing("/channels/gone/answer", 9.0))
    meter.arrived("c3", at(10.0))
    meter.request(timing("/channels/c3/answer", 10.003, status=None, seconds=30.0))
    command, _, _, round_trip = meter.figures()
    assert command.count == 1  # c3: sent, though never answered
    assert round_trip.count == 2  # the two answered requests


def test_a_report_gives_the_interval_since_the_last_and_parses_back() -> None:
    meter = LatencyMeter()
    meter.arrived("c1", at(50.0))
    meter.request(timing("/channels/c1/answer", 50.0123, seconds=0.0031))
    line = meter.report()
    assert line.startswith("latency since the last report: event -> command n=1 p50=")
    parsed = parse_report(f"2026-12-07 01:00:00 WARNING callflow.app.main: {line}")
    assert parsed is not None
    command, delivered, in_task, round_trip = parsed
    assert command.count == 1 and command.p99 == pytest.approx(12.3, abs=0.1)
    assert delivered.count == 1 and in_task.count == 1
    assert round_trip.count == 1 and round_trip.p50 == pytest.approx(3.1, abs=0.1)
    # Reported: the next report starts afresh.
    empty = parse_report(meter.report())
    assert empty is not None
    assert [f.count for f in empty] == [0, 0, 0, 0]
    assert all(math.isnan(f.p99) for f in empty)
    assert str(Figures.of(LogHistogram())) == "n=0"
    assert parse_report("ERROR something else") is None


def test_pending_arrivals_are_bounded() -> None:
    meter = LatencyMeter()
    for n in range(10_005):
        meter.arrived(f"c{n}", at(float(n)))
    meter.request(timing("/channels/c0/answer", 1.0))  # forgotten: the oldest went first
    meter.request(timing("/channels/c10004/answer", 10_004.5))
    assert meter.figures()[0].count == 1


@pytest.mark.parametrize(
    ("path", "params", "channels"),
    [
        ("/channels/a%20b/answer", None, ["a b"]),
        ("/channels/c1", None, ["c1"]),
        ("/channels", None, []),
        ("/bridges/b/addChannel", {"channel": ["c1", "c2"]}, ["c1", "c2"]),
        ("/bridges/b/addChannel", {"channel": "c1,c2"}, ["c1", "c2"]),
        ("/bridges/b/removeChannel", {"channel": ["c1"]}, []),
        ("/playbacks/p1", None, []),
    ],
)
def test_the_channels_a_request_acts_on(
    path: str, params: dict[str, QueryValue] | None, channels: list[str]
) -> None:
    assert channels_of(timing(path, 0.0, params=params)) == channels


def test_percentiles_agree_with_the_benchs_exact_ones_within_two_percent() -> None:
    """The same sample through the bench's exact percentile and the histogram."""
    rng = random.Random(7)
    values = [rng.expovariate(1 / 0.004) for _ in range(2000)]
    histogram = LogHistogram()
    for value in values:
        histogram.add(value)
    for q in (50, 99):
        assert histogram.percentile(q) == pytest.approx(percentile(values, q), rel=0.03)
