"""The callback simulator: the same callers with and without offers, every caller
accounted for, through the live Router and callback machine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from callflow.bench.callback import row
from callflow.sim.callbacks import CallbackScenario, draw_arrivals, simulate_callbacks

BASE = CallbackScenario("s5", agents=5, hours=1.5, load=1.0)


def test_arrivals_are_the_same_whatever_the_offer() -> None:
    """One seed, one set of callers: offers and modes do not change who arrives."""
    first = draw_arrivals(BASE, 3)
    assert first == draw_arrivals(replace(BASE, offer_threshold=None), 3)
    assert first == draw_arrivals(replace(BASE, mode="customer-first"), 3)
    assert first != draw_arrivals(BASE, 4)


@pytest.mark.parametrize("mode", ["agent-first", "customer-first"])
def test_every_caller_is_accounted_for(mode: str) -> None:
    """Each caller is answered, abandons, or takes a callback; each callback connects,
    or expires or fails; the figures are those of a queue that made offers."""
    scenario = replace(BASE, mode=mode)  # type: ignore[arg-type]
    result = simulate_callbacks(scenario, seed=2)
    assert result.requested > 0 and result.offered >= result.requested
    assert result.answered + result.abandoned + result.requested == result.arrivals
    assert result.connected + result.expired + result.failed == result.requested
    assert result.completed + result.called_back_abandoned <= result.connected
    assert result.dial_attempts >= result.connected
    assert 0 < result.occupancy <= 1 and result.callback_wait() > 0
    assert result.callback_wait(0.9) >= result.callback_wait(0.1)


def test_without_offers_nobody_is_called_back() -> None:
    """No threshold: no offer, no callback; the same callers are answered or abandon."""
    people = draw_arrivals(BASE, 2)
    plain = simulate_callbacks(replace(BASE, offer_threshold=None), 2, people)
    assert plain.offered == plain.requested == plain.connected == 0
    assert plain.answered + plain.abandoned == plain.arrivals == len(people)
    data = row(plain)
    assert data["offers"] == "none" and data["callback_wait_mean"] is None


def test_the_simulation_is_deterministic() -> None:
    """The same scenario and seed give the same figures."""
    one = row(simulate_callbacks(BASE, seed=5))
    assert one == row(simulate_callbacks(BASE, seed=5))
