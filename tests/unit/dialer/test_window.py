"""Abandon accounting per legal window, on hand-worked examples."""

from __future__ import annotations

import pytest

from callflow.dialer.window import DAY, AbandonLedger, AbandonWindow, is_abandoned


def test_two_second_rule_counts_from_the_end_of_the_greeting() -> None:
    """An agent connected 2 s after the greeting is in time; 2.1 s or never is abandoned."""
    assert not is_abandoned(10.0, 12.0)
    assert not is_abandoned(10.0, 10.5)
    assert is_abandoned(10.0, 12.1)
    assert is_abandoned(10.0, None)


def test_uk_window_counts_estimated_amd_false_positives_as_abandons() -> None:
    """Worked example: 1000 people, 20 abandoned, 500 machine verdicts at a 2 % false-positive
    share -> (20 + 10) / (1000 + 10); the US window counts 20 / 1000."""
    ledger = AbandonLedger.for_rule(amd_false_positive_share=0.02)
    for i in range(980):
        ledger.person_connected(float(i))
    for i in range(20):
        ledger.person_abandoned(1000.0 + i)
    for i in range(500):
        ledger.machine_detected(2000.0 + i)
    us, uk = ledger.figures(3000.0)
    assert us.kind == "us-30d" and us.rate == pytest.approx(0.02)
    assert uk.kind == "uk-24h"
    assert uk.live == pytest.approx(1010.0) and uk.abandoned == pytest.approx(30.0)
    assert uk.rate == pytest.approx(30.0 / 1010.0)


def test_uk_window_rolls_over_24_hours() -> None:
    """An abandon leaves the UK window 24 hours after it happened, not before."""
    window = AbandonWindow("uk-24h")
    window.person_abandoned(100.0)
    window.person_connected(5000.0)
    assert window.figures(100.0 + DAY - 1.0).abandoned == 1.0
    later = window.figures(100.0 + DAY)
    assert (later.live, later.abandoned) == (1.0, 0.0)


def test_us_window_is_the_campaign_then_each_successive_30_day_period() -> None:
    """Within the first 30 days everything counts; on day 31 a new period starts afresh."""
    window = AbandonWindow("us-30d", campaign_start=0.0)
    window.person_abandoned(DAY)
    window.person_connected(29 * DAY)
    assert window.figures(29.5 * DAY).rate == pytest.approx(0.5)
    window.person_connected(30 * DAY + 1.0)
    figures = window.figures(31 * DAY)
    assert (figures.live, figures.abandoned) == (1.0, 0.0)


def test_budget_is_abandons_left_at_a_target_rate() -> None:
    """1000 live calls, 20 abandons: 5 more fit under 2.5 %, 10 under 3 %, and at 1 % the
    window is 10 over."""
    window = AbandonWindow("us-30d")
    for i in range(980):
        window.person_connected(float(i))
    for i in range(20):
        window.person_abandoned(1000.0 + i)
    figures = window.figures(2000.0)
    assert figures.budget(0.025) == pytest.approx(5.0)
    assert figures.budget(0.03) == pytest.approx(10.0)
    assert figures.budget(0.01) == pytest.approx(-10.0)


def test_a_cap_is_a_share() -> None:
    """A cap of 3 (meaning 3 %) is refused: caps are shares."""
    with pytest.raises(ValueError, match="share"):
        AbandonWindow("us-30d", cap=3.0)


def test_machines_do_not_count_under_the_us_rule() -> None:
    """Machine verdicts leave the US window untouched whatever the false-positive share."""
    window = AbandonWindow("us-30d", amd_false_positive_share=0.5)
    window.machine_detected(1.0)
    assert window.figures(2.0).live == 0.0
