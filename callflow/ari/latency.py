"""How fast callflow reacts to a caller, and how fast Asterisk answers it.

``kill -USR1`` logs the figures below over what happened since the previous report, and
the API's ``/metrics`` has the first and the last as Prometheus histograms
(``callflow_ari_event_to_command_seconds``, ``callflow_ari_round_trip_seconds``;
:meth:`LatencyMeter.listen`):

``event -> command``
    From Asterisk's timestamp on a call's ``StasisStart`` (the moment Asterisk let the
    caller into the app) to callflow sending its first request for that channel (the
    answer, in most flows). It holds everything callflow adds: the event socket, the
    dispatcher, the call's task, the flow's first node. Asterisk's timestamps have
    millisecond resolution, truncated, so a figure may be up to 1 ms high.
``delivered``
    The first part of that: from Asterisk's timestamp to callflow reading the event off its
    socket. Asterisk's queue of events for the app, the socket, and callflow's event loop
    getting round to the read (a loaded Asterisk sends late, a busy loop reads late).
``in the call's task``
    The last part: from the call's task starting to the request, the flow's own work.
    What is left between the two is the dispatcher handing the event to a new task.
    Both parts are reported on ``kill -USR1`` only.
``ARI round trip``
    Every answered request, from sent to answered: Asterisk's own work. Under load this is
    most of the time from a caller's arrival to what they hear (``callflow bench load``
    measures that on Asterisk's clock: its join and bridge columns).

Calls taken back after a restart have no ``StasisStart`` of Asterisk's (recovery makes one
up), so they are not counted. The figures are kept in a :class:`LogHistogram`: constant
memory however long callflow runs, percentiles within 2 %.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple
from urllib.parse import unquote

from .rest import RequestTiming

Measure = Literal["command", "round_trip"]
"""event -> command, or an ARI round trip."""

PENDING_AT_MOST = 10_000
"""Arrivals waiting for their first request; beyond this the oldest are forgotten (a call
that ends before its first request is forgotten at its end anyway)."""


class LogHistogram:
    """Values counted in buckets of 2 % width, from 1 µs to about 20 minutes.

    Constant memory, and a percentile read off it is within 2 % of the exact one, which
    is what a p99 against a 50 ms target needs (HdrHistogram's idea, to one precision).
    """

    GROWTH = 1.02
    LOWEST = 1e-6  # seconds; smaller values count in the first bucket
    BUCKETS = 1_100  # LOWEST * GROWTH**1100 ~ 2.8e3 s; larger values count in the last

    def __init__(self) -> None:
        self._counts = [0] * self.BUCKETS
        self.count = 0
        self.largest = 0.0

    def add(self, seconds: float) -> None:
        """Count one value (seconds; negative ones, from clocks a hair apart, count as 0)."""
        value = max(0.0, seconds)
        index = 0
        if value > self.LOWEST:
            index = min(self.BUCKETS - 1, int(math.log(value / self.LOWEST, self.GROWTH)) + 1)
        self._counts[index] += 1
        self.count += 1
        self.largest = max(self.largest, value)

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0..100) in seconds: the upper bound of the bucket the
        value of that rank is in (never above the largest value); NaN when empty."""
        if not 0 <= q <= 100:
            raise ValueError("q must be within 0..100")
        if not self.count:
            return math.nan
        rank = max(1, math.ceil(self.count * q / 100))
        seen = 0
        for index, count in enumerate(self._counts):
            seen += count
            if seen >= rank:
                if index == self.BUCKETS - 1:  # the last bucket has no upper bound
                    return self.largest
                return min(self.LOWEST * self.GROWTH**index, self.largest)
        return self.largest  # pragma: no cover (the counts add up to count)


@dataclass(frozen=True, slots=True)
class Figures:
    """One figure over one report's interval, in milliseconds (NaN: nothing measured)."""

    count: int
    p50: float
    p99: float
    largest: float

    @classmethod
    def of(cls, histogram: LogHistogram) -> Figures:
        """The histogram's count, median, p99 and largest value, in ms."""
        return cls(
            histogram.count,
            histogram.percentile(50) * 1000,
            histogram.percentile(99) * 1000,
            histogram.largest * 1000 if histogram.count else math.nan,
        )

    def __str__(self) -> str:
        if not self.count:
            return "n=0"
        return f"n={self.count} p50={self.p50:.1f} p99={self.p99:.1f} max={self.largest:.1f} ms"


class Latency(NamedTuple):
    """One report's figures."""

    command: Figures  # event -> command
    delivered: Figures  # its part from Asterisk's timestamp to callflow reading the event
    in_task: Figures  # its part in the call's task
    round_trip: Figures  # ARI requests, sent to answered


_ONE = r"n=\d+(?: p50=\S+ p99=\S+ max=\S+ ms)?"
REPORT = re.compile(
    rf"event -> command (?P<command>{_ONE}) \(delivered (?P<delivered>{_ONE}); "
    rf"in the call's task (?P<in_task>{_ONE})\); ARI round trip (?P<round_trip>{_ONE})"
)
_FIGURES = re.compile(r"n=(\d+)(?: p50=(\S+) p99=(\S+) max=(\S+) ms)?")


def parse_figures(text: str) -> Figures:
    """:class:`Figures` back from their ``str()`` (what a report logged)."""
    match = _FIGURES.fullmatch(text)
    if match is None:
        raise ValueError(f"not latency figures: {text!r}")
    count, *values = match.groups()
    p50, p99, largest = (float(v) if v is not None else math.nan for v in values)
    return Figures(int(count), p50, p99, largest)


def parse_report(line: str) -> Latency | None:
    """The figures of a log line holding a report, else None."""
    match = REPORT.search(line)
    if match is None:
        return None
    return Latency(*(parse_figures(match[name]) for name in Latency._fields))


class LatencyMeter:
    """Fed by the service (each call's arrival) and the ARI client (each request)."""

    def __init__(self) -> None:
        self._arrived: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._command = LogHistogram()
        self._delivered = LogHistogram()
        self._in_task = LogHistogram()
        self._round_trip = LogHistogram()
        self._listeners: list[Callable[[Measure, float], None]] = []

    def listen(self, listener: Callable[[Measure, float], None]) -> None:
        """Also tell ``listener`` each value as it is measured (Prometheus histograms);
        it runs on the event loop and must not block."""
        self._listeners.append(listener)

    def _measured(self, measure: Measure, seconds: float) -> None:
        (self._command if measure == "command" else self._round_trip).add(seconds)
        for listener in self._listeners:
            listener(measure, seconds)

    def arrived(self, channel_id: str, at: datetime | None, received: float | None = None) -> None:
        """A call's channel entered the app at ``at`` (its StasisStart's timestamp; None
        for a call recovery took back, which is not counted), callflow read that event at
        ``received`` (``time.time()``; None: now), and its task starts now."""
        if at is None:
            return
        now = time.time()
        stamped = at.timestamp()
        self._delivered.add((received if received is not None else now) - stamped)
        self._arrived[channel_id] = (stamped, now)
        while len(self._arrived) > PENDING_AT_MOST:
            self._arrived.popitem(last=False)

    def forget(self, channel_id: str) -> None:
        """The call ended (if it sent nothing, it is not counted)."""
        self._arrived.pop(channel_id, None)

    def request(self, timing: RequestTiming) -> None:
        """One request's try: its round trip, and the call's first command if it is one."""
        if timing.status is not None:
            self._measured("round_trip", timing.seconds)
        if not self._arrived:
            return
        for channel in channels_of(timing):
            arrived = self._arrived.pop(channel, None)
            if arrived is not None:
                stamped, started = arrived
                self._measured("command", max(0.0, timing.sent_at - stamped))
                self._in_task.add(timing.sent_at - started)

    def figures(self) -> Latency:
        """The figures since the last report."""
        return Latency(
            Figures.of(self._command),
            Figures.of(self._delivered),
            Figures.of(self._in_task),
            Figures.of(self._round_trip),
        )

    def report(self) -> str:
        """The figures since the last report, as one line; the next report starts afresh."""
        figures = self.figures()
        self._command, self._delivered, self._in_task, self._round_trip = (
            LogHistogram() for _ in range(4)
        )
        return (
            f"latency since the last report: event -> command {figures.command}"
            f" (delivered {figures.delivered}; in the call's task {figures.in_task});"
            f" ARI round trip {figures.round_trip}"
        )


def channels_of(timing: RequestTiming) -> list[str]:
    """The channels a request acts on: ``/channels/{id}/...``, or those put into a bridge;
    none for anything else."""
    parts = timing.path.split("/")
    if len(parts) >= 3 and parts[1] == "channels" and parts[2]:
        return [unquote(parts[2])]
    if len(parts) == 4 and parts[1] == "bridges" and parts[3] == "addChannel" and timing.params:
        channel = timing.params.get("channel")
        if isinstance(channel, str):
            return channel.split(",")
        if isinstance(channel, list | tuple):
            return [str(c) for c in channel]
    return []
