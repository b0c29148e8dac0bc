"""``/metrics`` for Prometheus (the official ``prometheus_client``), and what feeds it.

Counters come from the event log as it is written: :class:`EventTap` sees every event the
app appends (the same events the KPIs are computed from), so ``callflow_calls_total`` and
``callflow_queue_events_total`` count exactly what ``callflow report`` counts. Gauges are read
at scrape time from the live objects (the Router, the calls in progress, the callbacks'
table), so a scrape never shows a stale figure. ARI connections are counted where the service
says it is connected (:class:`ConnectionCounter`); the event loop's lag is measured by a task
that sleeps a fixed time and records how late it wakes (:func:`measure_loop_lag`).

Metric names (all ``callflow_``): see :data:`METRICS`, and the Grafana dashboard in
``docker/grafana/callflow.json``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callflow.api import views
from callflow.ari.latency import Measure
from callflow.callback.machine import NEW_REQUEST
from callflow.queue.live import QueueService

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
"""Seconds: the event -> command target (50 ms) is a bucket's bound."""

LAG_INTERVAL = 0.25
"""How often the loop-lag task wakes (seconds)."""

METRICS = {
    "callflow_calls_total": "calls that started (call.start)",
    "callflow_calls_ended_total": "calls that ended, by outcome (call.end)",
    "callflow_calls_active": "calls in progress now",
    "callflow_queue_events_total": "queue events by queue and event (enter, connect, abandon...)",
    "callflow_queue_callers_waiting": "entries waiting in each queue (placeholders included)",
    "callflow_queue_longest_wait_seconds": "the longest wait now in each queue",
    "callflow_queue_agents": "each queue's members by state",
    "callflow_agents": "agents by state",
    "callflow_callbacks_live": "callbacks not yet over, by queue and state",
    "callflow_callback_events_total": "callback events by event, as appended",
    "callflow_agent_commands_total": "agent commands (API, CLI) by result",
    "callflow_ari_connections_total": "ARI event socket connections (the first one included)",
    "callflow_ari_connected": "1 while connected to Asterisk",
    "callflow_event_loop_lag_seconds": "how late the event loop ran a timer, last measure",
    "callflow_event_loop_delay_seconds": "how late the event loop ran timers (histogram)",
    "callflow_asyncio_tasks": "asyncio tasks alive in callflow's event loop (leak checks)",
    "callflow_ari_event_to_command_seconds": (
        "Asterisk's StasisStart of a caller to callflow's first request for it (histogram)"
    ),
    "callflow_ari_round_trip_seconds": "ARI requests, sent to answered by Asterisk (histogram)",
}
STORE_METRICS = {
    "callflow_store_writable": "1 while the store's disk takes writes (0: full, read-only)",
    "callflow_store_writes_held": "writes held in memory while the store's disk refuses them",
}
"""Scraped once :meth:`Metrics.watch_store` is given the store's health."""


class EventTap:
    """Sees every event written to a store (wrapping its ``append``, and ``save_callback``,
    which writes a callback's event with its row) and tells listeners.

    Listeners run on the writing thread, after the event is queued for writing; one that
    raises is logged and the write goes on, so the event log never loses an event to us.
    """

    def __init__(self, store: Any) -> None:
        self._listeners: list[Callable[[str, Mapping[str, Any]], None]] = []
        append: Callable[..., int] = store.append
        save_callback: Callable[..., int | None] | None = getattr(store, "save_callback", None)

        def appended(
            kind: str, call_id: str = "", data: Mapping[str, Any] | None = None, at: Any = None
        ) -> int:
            number = append(kind, call_id, data, at)
            self._tell(kind, data)
            return number

        store.append = appended
        if save_callback is not None:

            def saved(
                callback: Mapping[str, Any],
                kind: str = "",
                data: Mapping[str, Any] | None = None,
                at: Any = None,
            ) -> int | None:
                number = save_callback(callback, kind, data, at)
                if kind:
                    self._tell(kind, data)
                return number

            store.save_callback = saved

    def listen(self, listener: Callable[[str, Mapping[str, Any]], None]) -> None:
        """Call ``listener(kind, data)`` for every event written from now on."""
        self._listeners.append(listener)

    def _tell(self, kind: str, data: Mapping[str, Any] | None) -> None:
        for listener in self._listeners:
            try:
                listener(kind, data or {})
            except Exception:
                log.exception("listener of the event log failed on %s", kind)


class ConnectionCounter(asyncio.Event):
    """The service's ``ready`` event, counting each time it is set again after a clear:
    every connection to Asterisk, the first one included."""

    def __init__(self, was: asyncio.Event | None = None) -> None:
        super().__init__()
        self.connections = 0
        if was is not None and was.is_set():
            self.set()

    def set(self) -> None:
        if not self.is_set():
            self.connections += 1
        super().set()


class _Live(Collector):
    """The gauges read at scrape time."""

    def __init__(
        self,
        queues: QueueService | None,
        active_calls: Callable[[], int],
        connection: ConnectionCounter,
        callbacks: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self.queues = queues
        self.active_calls = active_calls
        self.connection = connection
        self.callbacks = callbacks  # the live callbacks read (off the loop) for this scrape

    def collect(self) -> Iterable[Metric]:
        yield _gauge("callflow_calls_active", [((), self.active_calls())])
        yield _gauge("callflow_ari_connected", [((), int(self.connection.is_set()))])
        yield _gauge("callflow_asyncio_tasks", [((), _tasks_alive())])
        # A counter whose value the ConnectionCounter owns.
        counter = CounterMetricFamily(
            "callflow_ari_connections", METRICS["callflow_ari_connections_total"]
        )
        counter.add_metric([], self.connection.connections)
        yield counter
        if self.queues is not None:
            router = self.queues.router
            now = self.queues.clock()
            board = views.queue_views(router, now)
            yield _gauge(
                "callflow_queue_callers_waiting",
                [((q["name"],), q["waiting"]) for q in board],
                ("queue",),
            )
            yield _gauge(
                "callflow_queue_longest_wait_seconds",
                [((q["name"],), q["longest_wait"]) for q in board],
                ("queue",),
            )
            yield _gauge(
                "callflow_queue_agents",
                [((q["name"], state), n) for q in board for state, n in q["agents"].items()],
                ("queue", "state"),
            )
            yield _gauge(
                "callflow_agents",
                [((state,), n) for state, n in views.agents_by_state(router).items()],
                ("state",),
            )
        live: dict[tuple[str, str], int] = {}
        for callback in self.callbacks():
            key = (str(callback.get("queue", "")), str(callback.get("state", "")))
            live[key] = live.get(key, 0) + 1
        yield _gauge("callflow_callbacks_live", list(live.items()), ("queue", "state"))


def _tasks_alive() -> int:
    """The asyncio tasks not yet done in the running loop (0 when collected off a loop)."""
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:
        return 0


def _gauge(
    name: str, samples: list[tuple[tuple[str, ...], float]], labels: tuple[str, ...] = ()
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, METRICS[name], labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


class Metrics:
    """The registry ``/metrics`` serves: counters fed by the event log, live gauges."""

    def __init__(
        self,
        queues: QueueService | None,
        active_calls: Callable[[], int],
        connection: ConnectionCounter,
    ) -> None:
        self.live_callbacks: list[dict[str, Any]] = []  # set before each scrape, off the loop
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls = Counter("callflow_calls", METRICS["callflow_calls_total"], registry=r)
        self.calls_ended = Counter(
            "callflow_calls_ended", METRICS["callflow_calls_ended_total"], ["outcome"], registry=r
        )
        self.queue_events = Counter(
            "callflow_queue_events",
            METRICS["callflow_queue_events_total"],
            ["queue", "event"],
            registry=r,
        )
        self.callback_events = Counter(
            "callflow_callback_events",
            METRICS["callflow_callback_events_total"],
            ["event"],
            registry=r,
        )
        self.agent_commands = Counter(
            "callflow_agent_commands",
            METRICS["callflow_agent_commands_total"],
            ["result"],
            registry=r,
        )
        self.lag = Gauge(
            "callflow_event_loop_lag_seconds",
            METRICS["callflow_event_loop_lag_seconds"],
            registry=r,
        )
        self.lag_histogram = Histogram(
            "callflow_event_loop_delay_seconds",
            METRICS["callflow_event_loop_delay_seconds"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r,
        )
        self.latency = {
            measure: Histogram(
                f"callflow_ari_{name}_seconds",
                METRICS[f"callflow_ari_{name}_seconds"],
                buckets=LATENCY_BUCKETS,
                registry=r,
            )
            for measure, name in (("command", "event_to_command"), ("round_trip", "round_trip"))
        }
        r.register(_Live(queues, active_calls, connection, lambda: self.live_callbacks))
        if queues is not None:
            for name in queues.center.queues:  # every queue's series exist from the start
                for event in ("enter", "connect", "abandon", "exit"):
                    self.queue_events.labels(name, event)

    def on_event(self, kind: str, data: Mapping[str, Any]) -> None:
        """Count one event of the log (an :class:`EventTap` listener)."""
        family, _, event = kind.partition(".")
        if kind == "call.start":
            self.calls.inc()
        elif kind == "call.end":
            self.calls_ended.labels(str(data.get("outcome", ""))).inc()
        elif family == "queue" and "." not in event:
            self.queue_events.labels(str(data.get("queue", "")), event).inc()
        elif family == "callback" and (
            event != "requested" or data.get("reason", NEW_REQUEST) == NEW_REQUEST
        ):  # a callback held for the opening writes callback.requested again (NEW_REQUEST)
            self.callback_events.labels(event).inc()
        elif kind == "agent.command":
            self.agent_commands.labels("done" if data.get("ok") else "refused").inc()

    def watch_store(self, health: Callable[[], Any]) -> None:
        """Read the store's health (``SqliteStore.health``) at each scrape."""
        for name, read in (
            ("callflow_store_writable", lambda: float(health().writable)),
            ("callflow_store_writes_held", lambda: float(health().held)),
        ):
            Gauge(name, STORE_METRICS[name], registry=self.registry).set_function(read)

    async def measure_loop_lag(self, interval: float = LAG_INTERVAL) -> None:
        """Forever: sleep ``interval`` and record how much later than asked the loop woke."""
        await measure_loop_lag(self.on_lag, interval)

    def on_latency(self, measure: Measure, seconds: float) -> None:
        """One value of :class:`~callflow.ari.latency.LatencyMeter` (a listener)."""
        self.latency[measure].observe(seconds)

    def on_lag(self, lag: float) -> None:
        self.lag.set(lag)
        self.lag_histogram.observe(lag)


async def measure_loop_lag(record: Callable[[float], None], interval: float) -> None:
    """Forever: sleep ``interval``, then ``record`` how late the loop woke (seconds)."""
    while True:
        asked = time.monotonic()
        await asyncio.sleep(interval)
        record(max(0.0, time.monotonic() - asked - interval))
