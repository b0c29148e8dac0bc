"""The KPI formulas, each against a hand-worked example."""

from __future__ import annotations

import pytest

from callflow.kpi.figures import abandon_rate, mean, ratio, service_level, sl1, sl2


def test_seed_abandon_rate() -> None:
    """The seed's example: 100 offered, 25 short abandons, 70 handled -> 5 / 75 = 6.67%."""
    rate = abandon_rate(100, 25, 70)
    assert rate == pytest.approx(5 / 75)
    assert f"{100 * rate:.2f}%" == "6.67%"


def test_abandon_rate_with_nothing_offered_is_no_figure() -> None:
    """With every caller a short abandon there is nothing to divide by: None, not 0."""
    assert abandon_rate(3, 3, 0) is None
    assert abandon_rate(0, 0, 0) is None


def test_service_levels() -> None:
    """80 answered within T of 90 answered, 6 abandoned within T (not short) of 10
    abandoned: SL1 = 80/90, SL2 = 86/100, default SL = 80/100 (offered 105, 5 short)."""
    assert sl1(80, 90) == pytest.approx(0.8889, abs=1e-4)
    assert sl2(80, 6, 90, 10) == pytest.approx(0.86)
    assert service_level(80, 105, 5) == pytest.approx(0.80)


def test_ratio_and_mean_of_nothing() -> None:
    """A ratio over 0 and the mean of no values are None."""
    assert ratio(1, 0) is None
    assert mean([]) is None
    assert mean([10, 30]) == 20
