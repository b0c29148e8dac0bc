"""/metrics: Prometheus' exposition format, counters fed by the event log as it is written,
gauges read live, ARI connections and the event loop's lag."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from callflow.api.metrics import METRICS, measure_loop_lag
from callflow.api.server import ApiServer
from callflow.ari import RequestTiming
from callflow.ari.latency import LatencyMeter
from callflow.queue.live import QueueService
from callflow.queue.routing import QueueEntry
from callflow.store import SqliteStore
from tests.unit.api.conftest import Clock, FakeService


async def scrape(client: aiohttp.ClientSession, base: str) -> dict[str, list[Sample]]:
    async with client.get(base + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        text = await response.text()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    [found] = [s.value for s in samples if s.name == name and s.labels == labels]
    return found


async def test_metrics_parse_and_count_what_the_event_log_says(
    base: str,
    client: aiohttp.ClientSession,
    store: SqliteStore,
    queues: QueueService,
    service: FakeService,
    clock: Clock,
) -> None:
    """Calls, queue and callback events written to the log are counted; waiting callers,
    longest wait, agents by state, live callbacks and calls in progress are read at scrape
    time; every metric is there."""
    store.append("call.start", "c1", {"caller": "+1"})
    store.append("call.start", "c2", {"caller": "+2"})
    store.append("queue.enter", "c1", {"queue": "support"})
    store.append("queue.abandon", "c1", {"queue": "support", "waited": 12})
    store.append("call.end", "c1", {"outcome": "caller_hangup"})
    callback = {"id": "cb1", "queue": "support", "number": "+15550000009", "state": "waiting",
                "requested_at": clock.now}  # fmt: skip
    store.save_callback(callback, "callback.requested", {"callback": "cb1", "queue": "support"})
    queues.router.join(QueueEntry("c2", "support", "+2", joined_at=clock.now - 42), clock.now)
    queues.login("alice")
    service.calls["c2"] = object()
    found = await scrape(client, base)
    assert value(found["callflow_calls"], "callflow_calls_total") == 2
    assert value(found["callflow_calls_ended"], "callflow_calls_ended_total",
                 outcome="caller_hangup") == 1  # fmt: skip
    events = found["callflow_queue_events"]
    assert value(events, "callflow_queue_events_total", queue="support", event="enter") == 1
    assert value(events, "callflow_queue_events_total", queue="support", event="abandon") == 1
    assert value(events, "callflow_queue_events_total", queue="sales", event="enter") == 0
    assert value(found["callflow_calls_active"], "callflow_calls_active") == 1
    waiting = found["callflow_queue_callers_waiting"]
    assert value(waiting, "callflow_queue_callers_waiting", queue="support") == 1
    longest = found["callflow_queue_longest_wait_seconds"]
    assert value(longest, "callflow_queue_longest_wait_seconds", queue="support") == 42
    agents = found["callflow_agents"]
    assert value(agents, "callflow_agents", state="available") == 1
    assert value(agents, "callflow_agents", state="logged_out") == 1
    in_sales = found["callflow_queue_agents"]
    assert value(in_sales, "callflow_queue_agents", queue="sales", state="available") == 1
    live = found["callflow_callbacks_live"]
    assert value(live, "callflow_callbacks_live", queue="support", state="waiting") == 1
    requested = found["callflow_callback_events"]
    assert value(requested, "callflow_callback_events_total", event="requested") == 1
    # Held for the calling window's opening, a callback writes callback.requested again
    # (its state is still 'requested'): still one request.
    for reason in ("outside the calling window", "slot in the opening"):
        again = {"callback": "cb1", "queue": "support", "reason": reason}
        store.save_callback(callback, "callback.requested", again)
    found = await scrape(client, base)
    requested = found["callflow_callback_events"]
    assert value(requested, "callflow_callback_events_total", event="requested") == 1
    assert "callflow_event_loop_lag_seconds" in found
    assert "callflow_event_loop_delay_seconds" in found
    for name in METRICS:
        base_name = name.removesuffix("_total")
        assert base_name in found, name


async def test_ari_connections_are_counted_each_time_the_service_connects(
    server: ApiServer, base: str, client: aiohttp.ClientSession, service: FakeService
) -> None:
    """The service's ready event, set on each connection: first, a drop, a reconnect."""
    ready = service.ready
    ready.set()
    ready.set()  # set again while connected: the same connection
    ready.clear()
    found = await scrape(client, base)
    assert value(found["callflow_ari_connected"], "callflow_ari_connected") == 0
    ready.set()
    found = await scrape(client, base)
    assert value(found["callflow_ari_connections"], "callflow_ari_connections_total") == 2
    assert value(found["callflow_ari_connected"], "callflow_ari_connected") == 1


async def test_loop_lag_is_how_late_a_timer_fired() -> None:
    """A loop blocked for 0.2 s while the probe sleeps shows about 0.2 s of lag."""
    lags: list[float] = []
    probe = asyncio.create_task(measure_loop_lag(lags.append, 0.05))
    await asyncio.sleep(0.12)
    time.sleep(0.2)  # noqa: ASYNC251 (the loop blocked: what the probe exists to see)
    await asyncio.sleep(0.12)
    probe.cancel()
    assert max(lags) > 0.1
    assert min(lags) < 0.05


async def test_event_to_command_and_round_trips_are_histograms(
    base: str, client: aiohttp.ClientSession, latency: LatencyMeter
) -> None:
    """The service's latency meter feeds two histograms: a caller's arrival (Asterisk's
    StasisStart timestamp) to callflow's first request for it, and every answered request;
    the 50 ms target is a bucket bound, so its share is read off directly."""
    latency.arrived("c1", datetime.fromtimestamp(100.0, tz=UTC))
    latency.arrived("c2", datetime.fromtimestamp(100.0, tz=UTC))
    latency.request(RequestTiming("POST", "/channels/c1/answer", None, 100.004, 0.002, 204))
    latency.request(RequestTiming("POST", "/channels/c2/answer", None, 100.080, 0.030, 204))
    latency.request(RequestTiming("POST", "/channels/c2/play", None, 100.2, 9.0, None))
    found = await scrape(client, base)
    command = found["callflow_ari_event_to_command_seconds"]
    name = "callflow_ari_event_to_command_seconds"
    assert value(command, f"{name}_count") == 2
    assert value(command, f"{name}_bucket", le="0.005") == 1
    assert value(command, f"{name}_bucket", le="0.05") == 1
    assert value(command, f"{name}_bucket", le="0.1") == 2
    round_trip = found["callflow_ari_round_trip_seconds"]
    name = "callflow_ari_round_trip_seconds"
    assert value(round_trip, f"{name}_count") == 2  # the unanswered one is not a round trip
    assert value(round_trip, f"{name}_sum") == pytest.approx(0.032)
