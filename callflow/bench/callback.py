"""The callback benchmark: the same callers with and without callback offers.

Every run goes through the live code (:mod:`callflow.sim.callbacks`: the Router and its
placeholders, the caller machines, the callback book and machine). For 5, 20 and 100
agents, one set of callers is drawn (4 hours of arrivals at a mean load of 0.95 swinging
+-30 % to a peak mid-way; lognormal talk, mean 180 s, CV 1; 10 s wrap-up; exponential
patience, mean 180 s) and served three ways: no callback offered; offered when the
conservative wait callers are told is over 60 s, agent-first; the same, customer-first.
Half of the callers offered accept. Called-back customers answer 75 % of the time (busy
5 %, a machine 10 %, no answer 10 %), up to 3 attempts.

Columns: ``abandon``: callers who hung up while waiting, over all callers (short abandons
are not set apart here; every caller counts); ``asa``: mean wait of live callers answered
(called-back customers apart); ``occupancy``: agent time ringing, talking, in wrap-up or
reserved for a callback (agent-first: from the reservation; customer-first: the agent held
while the customer is dialled), over agent time until the last call ended; ``cb_wait``: request
to customer connected, mean and 90th percentile; ``served``: callers who spoke with an
agent, directly or called back.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from dataclasses import replace

from callflow.queue.routing import CallbackMode
from callflow.sim.callbacks import (
    CallbackResult,
    CallbackScenario,
    draw_arrivals,
    simulate_callbacks,
)

AGENTS = (5, 20, 100)
OFFER_THRESHOLD = 60.0
WAYS: tuple[tuple[str, float | None, CallbackMode], ...] = (
    ("none", None, "agent-first"),
    ("agent-first", OFFER_THRESHOLD, "agent-first"),
    ("customer-first", OFFER_THRESHOLD, "customer-first"),
)


def runs(seed: int = 1, quick: bool = False) -> Iterator[CallbackResult]:
    """Each agent count's callers, served each way (quick: one hour of arrivals)."""
    for agents in AGENTS:
        base = CallbackScenario(f"s{agents}", agents, hours=1.0 if quick else 4.0)
        people = draw_arrivals(base, seed)
        for way, threshold, mode in WAYS:
            name = f"s{agents}-{way}"
            scenario = replace(base, name=name, offer_threshold=threshold, mode=mode)
            yield simulate_callbacks(scenario, seed, people)


def row(result: CallbackResult) -> dict[str, object]:
    """One result as plain figures."""
    scenario = result.scenario

    def figure(value: float, digits: int = 1) -> float | None:
        return round(value, digits) if math.isfinite(value) else None

    return {
        "agents": scenario.agents,
        "offers": "none" if scenario.offer_threshold is None else scenario.mode,
        "callers": result.arrivals,
        "offered": result.offered,
        "accepted": result.requested,
        "abandon_rate": figure(result.abandon_rate, 4),
        "asa": figure(result.asa),
        "occupancy": figure(result.occupancy, 4),
        "callbacks_connected": result.connected,
        "callbacks_expired": result.expired + result.failed,
        "callback_wait_mean": figure(result.callback_wait()),
        "callback_wait_p90": figure(result.callback_wait(0.9)),
        "served_share": figure(result.served_share, 4),
        "dial_attempts": result.dial_attempts,
    }


_HEADER = (
    f"{'agents':>6} {'offers':<15} {'callers':>7} {'offered':>7} {'accepted':>8} "
    f"{'abandon':>8} {'asa':>6} {'occupancy':>9} {'cb_conn':>7} {'cb_lost':>7} "
    f"{'cb_wait':>8} {'cb_p90':>7} {'served':>7}"
)


def _line(data: dict[str, object]) -> str:
    def pct(key: str) -> str:
        value = data[key]
        return f"{100 * value:.1f}%" if isinstance(value, float) else "-"

    def secs(key: str) -> str:
        value = data[key]
        return f"{value:.0f}s" if isinstance(value, float) else "-"

    return (
        f"{data['agents']:>6} {data['offers']!s:<15} {data['callers']:>7} {data['offered']:>7} "
        f"{data['accepted']:>8} {pct('abandon_rate'):>8} {secs('asa'):>6} "
        f"{pct('occupancy'):>9} {data['callbacks_connected']:>7} {data['callbacks_expired']:>7} "
        f"{secs('callback_wait_mean'):>8} {secs('callback_wait_p90'):>7} {pct('served_share'):>7}"
    )


def run_callback_bench(as_json: bool = False, seed: int = 1, quick: bool = False) -> int:
    """Print the table (or one JSON object per line); 0."""
    if not as_json:
        print(
            f"callback offers at a conservative wait over {OFFER_THRESHOLD:g} s, half accept; "
            "the same callers each way"
        )
        print(_HEADER)
    for result in runs(seed, quick):
        data = row(result)
        print(json.dumps(data) if as_json else _line(data))
        sys.stdout.flush()
    return 0


__all__ = ["AGENTS", "OFFER_THRESHOLD", "row", "run_callback_bench", "runs"]
