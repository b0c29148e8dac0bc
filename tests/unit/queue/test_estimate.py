"""Tests for the wait predictors, the hypoexponential maths and the spoken rounding."""

from __future__ import annotations

import math
import random

import pytest

from callflow.queue.estimate import (
    AbandonmentAwarePredictor,
    AbandonRateEstimator,
    AppQueuePredictor,
    CalibratedPredictor,
    CallerAbandoned,
    CallerAnswered,
    CallerJoined,
    CallerLeft,
    ConservativePredictor,
    HandleTimeEstimator,
    HeadOfLine,
    LastToEnterService,
    QueueLengthPredictor,
    ServiceCompleted,
    ahead_band,
    elapsed_band,
    hypoexponential_mean,
    hypoexponential_quantile,
    hypoexponential_survival,
    regularized_beta,
    regularized_gamma_upper,
    spoken_wait,
)

# (a = s*mu, theta, n): small and large lines, weak and strong abandonment, none at all.
CASES = [
    (10 / 180, 1 / 60, 0),
    (10 / 180, 1 / 60, 12),
    (5 / 180, 1 / 60, 4),
    (100 / 180, 1 / 180, 40),
    (20 / 180, 0.0, 25),
]


def _monte_carlo_waits(a: float, theta: float, n: int, samples: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return sorted(sum(rng.expovariate(a + k * theta) for k in range(n + 1)) for _ in range(samples))


# ------------------------------------------------------------------------------ maths


def test_incomplete_beta_and_gamma_match_known_closed_forms() -> None:
    """The special functions reproduce I_x(p,1) = x^p, I_x(1,q) = 1-(1-x)^q and Q(1,x) = e^-x."""
    for x in (0.01, 0.3, 0.77, 0.999):
        assert regularized_beta(2.5, 1.0, x) == pytest.approx(x**2.5, rel=1e-10)
        assert regularized_beta(1.0, 7.0, x) == pytest.approx(1 - (1 - x) ** 7, rel=1e-10)
    for x in (0.1, 1.0, 5.0, 40.0):
        assert regularized_gamma_upper(1.0, x) == pytest.approx(math.exp(-x), rel=1e-10)
        erlang3 = math.exp(-x) * (1 + x + x * x / 2)
        assert regularized_gamma_upper(3.0, x) == pytest.approx(erlang3, rel=1e-10)


@pytest.mark.parametrize(("a", "theta", "n"), CASES)
def test_quantile_matches_monte_carlo(a: float, theta: float, n: int) -> None:
    """The 50th/80th/90th percentiles agree with 20,000 simulated hypoexponential waits."""
    waits = _monte_carlo_waits(a, theta, n, 20_000, seed=n + 7)
    for p in (0.5, 0.8, 0.9):
        empirical = waits[int(p * len(waits))]
        assert hypoexponential_quantile(p, a, theta, n) == pytest.approx(empirical, rel=0.03)


@pytest.mark.parametrize(("a", "theta", "n"), CASES)
def test_survival_matches_monte_carlo(a: float, theta: float, n: int) -> None:
    """The closed-form P(W > t) matches the simulated share of waits above t."""
    waits = _monte_carlo_waits(a, theta, n, 20_000, seed=n + 11)
    mean = hypoexponential_mean(a, theta, n)
    for t in (0.5 * mean, mean, 2.0 * mean):
        share = sum(w > t for w in waits) / len(waits)
        assert hypoexponential_survival(t, a, theta, n) == pytest.approx(share, abs=0.012)


def test_survival_stays_stable_for_long_lines() -> None:
    """For 800 callers ahead the survival stays in [0, 1], decreases, and inverts its quantile."""
    a, theta, n = 100 / 180, 1 / 600, 800
    mean = hypoexponential_mean(a, theta, n)
    grid = [mean * f for f in (0.5, 0.8, 0.9, 1.0, 1.1, 1.2, 1.5)]
    values = [hypoexponential_survival(t, a, theta, n) for t in grid]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values, reverse=True)
    q80 = hypoexponential_quantile(0.8, a, theta, n)
    assert hypoexponential_survival(q80, a, theta, n) == pytest.approx(0.2, abs=1e-9)


def test_tiny_abandonment_converges_to_the_erlang_answer() -> None:
    """As theta -> 0 the hypoexponential quantile approaches the Erlang(n+1, a) quantile."""
    a, n = 10 / 180, 9
    erlang = hypoexponential_quantile(0.8, a, 0.0, n)
    assert hypoexponential_quantile(0.8, a, 1e-7, n) == pytest.approx(erlang, rel=1e-4)


def test_mean_uses_an_accurate_sum_for_very_long_lines() -> None:
    """The Euler-Maclaurin shortcut for n > 4000 agrees with the exact sum."""
    a, theta, n = 1.0, 0.01, 4500
    exact = math.fsum(1.0 / (a + k * theta) for k in range(n + 1))
    assert hypoexponential_mean(a, theta, n) == pytest.approx(exact, rel=1e-9)


# ------------------------------------------------------------------ online estimators


def test_handle_time_estimator_moves_from_the_prior_to_the_data() -> None:
    """With no calls it reports the configured prior; after many it reports their mean."""
    estimator = HandleTimeEstimator(prior=300.0, memory=1000)
    assert estimator.mean_handle_time == 300.0
    for _ in range(5000):
        estimator.observe(120.0)
    assert estimator.mean_handle_time == pytest.approx(120.0, rel=1e-3)


def test_abandon_rate_is_abandons_per_second_of_waiting() -> None:
    """Exponential patience censored by answers is recovered as abandons / total waiting."""
    rng = random.Random(3)
    estimator = AbandonRateEstimator(prior_rate=0.0, memory=10**9)
    for _ in range(40_000):
        patience, answer_after = rng.expovariate(1 / 90), rng.expovariate(1 / 60)
        waited = min(patience, answer_after)
        estimator.observe(waited, abandoned=patience < answer_after)
    assert estimator.abandon_rate == pytest.approx(1 / 90, rel=0.03)


# ---------------------------------------------------------------------- predictors


def test_app_queue_port_follows_a_hand_worked_sequence() -> None:
    """holdtime <- (3*holdtime + wait) >> 2 on answers only, announced as whole minutes."""
    queue = AppQueuePredictor()
    queue.observe(CallerAnswered(1, at=100.0, waited=100.0))  # (0 + 100) >> 2 = 25
    assert queue.holdtime == 25
    queue.observe(CallerAbandoned(2, at=500.0, waited=400.0))  # abandons never count
    assert queue.holdtime == 25
    queue.observe(CallerAnswered(3, at=200.0, waited=60.0))  # (75 + 60) >> 2 = 33
    assert queue.holdtime == 33
    told = queue.estimate(5, 10, now=300.0)
    assert (told.mean, told.announce) == (33.0, 60.0)  # (33 + 30) / 60 = 1 minute
    queue.observe(CallerAnswered(4, at=300.0, waited=0.0))  # (99 + 0) >> 2 = 24
    assert queue.holdtime == 24
    assert queue.estimate(0, 10, now=310.0).announce == 0.0  # (24 + 30) / 60 = 0: silent


def test_app_queue_port_counts_whole_clock_seconds() -> None:
    """The wait fed to holdtime is a difference of time(NULL) readings, not a rounded float."""
    queue = AppQueuePredictor()
    queue.observe(CallerAnswered(1, at=10.2, waited=0.5))  # floor(10.2) - floor(9.7) = 1
    queue.observe(CallerAnswered(2, at=1000.0, waited=400.0))  # (0 + 400) >> 2 = 100
    assert queue.holdtime == 100


def test_app_queue_port_keeps_the_abs_and_rounding_quirks() -> None:
    """Past its estimate the figure grows again, and the +30 leaks into rounded seconds."""
    queue = AppQueuePredictor(holdtime=100)
    late = queue.estimate(0, 10, now=1000.0, elapsed=200.0)  # |(130 - 200) / 60| = 1
    assert (late.mean, late.announce) == (100.0, 60.0)
    rounded = AppQueuePredictor(rounding_seconds=10, holdtime=100).estimate(0, 10, now=0.0)
    assert rounded.announce == 130.0  # 2 min + (130 - 120) / 10 * 10 s


def test_les_reports_the_last_answered_wait() -> None:
    """LES says the wait of the most recently answered caller, less the asker's own wait."""
    les = LastToEnterService()
    les.observe(CallerAnswered(1, at=50.0, waited=40.0))
    les.observe(CallerAnswered(2, at=60.0, waited=90.0))
    assert les.estimate(3, 10, now=61.0).mean == 90.0
    assert les.estimate(3, 10, now=61.0, elapsed=30.0).mean == 60.0


def test_hol_follows_the_head_of_the_line() -> None:
    """HOL reports how long the first waiting caller has waited, skipping those who left."""
    hol = HeadOfLine()
    for caller, at in ((1, 0.0), (2, 10.0), (3, 20.0)):
        hol.observe(CallerJoined(caller, at))
    assert hol.estimate(3, 5, now=30.0).mean == 30.0
    hol.observe(CallerAbandoned(2, at=31.0, waited=21.0))  # behind the head: no change
    hol.observe(CallerAnswered(1, at=32.0, waited=32.0))  # head answered: 3 is next
    assert hol.estimate(1, 5, now=40.0).mean == 20.0
    hol.observe(CallerAnswered(3, at=41.0, waited=21.0))
    assert hol.estimate(0, 5, now=42.0).mean == 21.0  # empty line: falls back to LES


def test_hol_forgets_a_head_who_left_unanswered() -> None:
    """A head of line who left by the queue's time limit or an exit key is no longer the
    head: the next caller's wait is the figure (before, the departed head's wait grew
    forever, and every caller who ever left that way was kept)."""
    hol = HeadOfLine()
    for caller, at in ((1, 0.0), (2, 10.0), (3, 20.0)):
        hol.observe(CallerJoined(caller, at))
    hol.observe(CallerLeft(1, at=60.0, waited=60.0))  # the head timed out
    assert hol.estimate(1, 5, now=70.0).mean == 60.0  # caller 2, in line since 10 s
    hol.observe(CallerLeft(3, at=71.0, waited=51.0))  # behind the head: dropped when reached
    hol.observe(CallerAnswered(2, at=72.0, waited=62.0))
    assert hol.estimate(0, 5, now=80.0).mean == 62.0  # empty line: LES, caller 2's wait


def test_calibrated_forgets_what_it_told_a_caller_who_left_unanswered() -> None:
    """What a caller was told is kept until they are answered (then scored) or gone: one who
    timed out or took a callback is gone too, and scores nothing (their wait was cut short).
    Before, such callers' figures stayed, up to 20,000 callers (the soak's growing memory)."""
    predictor = CalibratedPredictor(default_handle_time=120.0, min_samples=1)
    base = predictor.estimate(3, 2, 0.0)
    for caller in range(100):
        predictor.estimate(3, 2, float(caller), caller=caller)
        predictor.observe(CallerLeft(caller, float(caller) + 5.0, 5.0))
    assert predictor._told == {}
    assert predictor.estimate(3, 2, 10**6).announce == pytest.approx(base.announce, rel=0.05)


def test_ql_divides_the_position_by_the_service_rate() -> None:
    """QL is (n+1) mean handle times shared among the serving agents; no agents, no promise."""
    ql = QueueLengthPredictor(default_handle_time=200.0)
    assert ql.estimate(4, 10, now=0.0).mean == pytest.approx(100.0)
    ql.observe(ServiceCompleted(at=1.0, handle_time=200.0))
    assert ql.estimate(4, 10, now=1.0).mean == pytest.approx(100.0)
    assert math.isinf(ql.estimate(4, 0, now=1.0).mean)


def test_qla_mean_equals_the_closed_form_sum() -> None:
    """With mu and theta known, QLA's mean is sum_{i=0..n} 1/(s*mu + i*theta)."""
    s, mu, theta = 10, 1 / 180, 1 / 60
    qla = AbandonmentAwarePredictor(default_handle_time=1 / mu, default_abandon_rate=theta)
    for n in (0, 1, 7, 30):
        expected = sum(1.0 / (s * mu + i * theta) for i in range(n + 1))
        assert qla.estimate(n, s, now=0.0).mean == pytest.approx(expected, rel=1e-12)


def test_qla_percentile_announces_the_quantile() -> None:
    """QLA-p80 keeps QLA's mean but announces the hypoexponential 80th percentile."""
    s, mu, theta = 10, 1 / 180, 1 / 60
    qla = AbandonmentAwarePredictor(
        percentile=0.8, default_handle_time=1 / mu, default_abandon_rate=theta
    )
    told = qla.estimate(6, s, now=0.0)
    assert qla.name == "QLA-p80"
    assert told.mean == pytest.approx(hypoexponential_mean(s * mu, theta, 6))
    assert told.announce == pytest.approx(hypoexponential_quantile(0.8, s * mu, theta, 6))
    assert told.announce > told.mean


def test_default_falls_back_to_configured_handle_time_without_history() -> None:
    """With no history the default announces the p80 of Exp(s/default_handle_time)."""
    default = ConservativePredictor(default_handle_time=300.0)
    told = default.estimate(0, 1, now=0.0)
    assert told.mean == pytest.approx(300.0)
    assert told.announce == pytest.approx(300.0 * math.log(5.0), rel=1e-9)


def test_default_is_position_aware() -> None:
    """Caller 2 and caller 20 in the same queue hear different, ordered waits."""
    default = ConservativePredictor(default_handle_time=180.0, default_abandon_rate=1 / 120)
    second, twentieth = default.estimate(1, 10, now=0.0), default.estimate(19, 10, now=0.0)
    assert second.announce < twentieth.announce
    assert spoken_wait(second.announce) != spoken_wait(twentieth.announce)


def test_default_mean_is_the_answered_callers_mean() -> None:
    """The default's mean is the tilted sum over k=1..n+1, below QLA's untilted mean."""
    s, mu, theta, n = 10, 1 / 180, 1 / 60, 5
    default = ConservativePredictor(default_handle_time=1 / mu, default_abandon_rate=theta)
    expected = sum(1.0 / (s * mu + k * theta) for k in range(1, n + 2))
    assert default.estimate(n, s, now=0.0).mean == pytest.approx(expected)
    untilted = ConservativePredictor(
        default_handle_time=1 / mu, default_abandon_rate=theta, answered_mean=False
    )
    assert untilted.estimate(n, s, now=0.0).mean == pytest.approx(
        hypoexponential_mean(s * mu, theta, n)
    )


def test_answered_mean_matches_monte_carlo_of_answered_callers() -> None:
    """Callers whose own exponential patience outlasts the wait average the tilted mean."""
    a, theta, n = 10 / 180, 1 / 60, 4
    rng = random.Random(5)
    answered = []
    for _ in range(60_000):
        wait = sum(rng.expovariate(a + k * theta) for k in range(n + 1))
        if rng.expovariate(theta) > wait:
            answered.append(wait)
    expected = hypoexponential_mean(a + theta, theta, n)
    assert sum(answered) / len(answered) == pytest.approx(expected, rel=0.02)


# ------------------------------------------------------------------- spoken figures


@pytest.mark.parametrize(
    ("seconds", "phrase"),
    [
        (-5.0, "less than a minute"),
        (0.0, "less than a minute"),
        (33.0, "about 40 seconds"),
        (59.9, "about 1 minute"),
        (60.0, "about 1 minute"),
        (61.0, "about 1 minute 15 seconds"),  # rounded up: never a promise below the figure
        (120.0, "about 2 minutes"),
        (185.0, "about 3 minutes 30 seconds"),
        (9 * 60 + 40, "about 10 minutes"),
        (12 * 60 + 1, "about 13 minutes"),
        (19 * 60 + 40, "about 20 minutes"),
        (40 * 60, "about 40 minutes"),
        (44 * 60, "about 45 minutes"),
        (56 * 60, "about an hour"),
        (3600.0, "more than an hour"),
        (math.inf, "more than an hour"),
        (math.nan, "more than an hour"),
    ],
)
def test_spoken_wait_phrases(seconds: float, phrase: str) -> None:
    """Waits are rounded up to steps that grow with them, capped at an hour."""
    assert spoken_wait(seconds) == phrase


def test_absurd_durations_are_not_learnt() -> None:
    """A negative or day-long duration (a clock step, not a call) leaves the learnt handle
    time and abandonment rate as they were."""
    handle = HandleTimeEstimator(prior=180.0)
    for bad in (-50.0, 0.0, 2 * 86_400.0, math.inf):
        handle.observe(bad)
    assert handle.mean_handle_time == 180.0 and handle.completed == 0
    abandon = AbandonRateEstimator(prior_rate=0.01)
    before = abandon.abandon_rate
    abandon.observe(-30.0, abandoned=True)
    abandon.observe(3 * 86_400.0, abandoned=True)
    assert abandon.abandon_rate == before and abandon.abandoned == 0


def test_survival_and_quantile_hold_past_the_exp_underflow() -> None:
    """Where exp(-theta*t) underflows (theta*t > 745) the wait's survival is computed in log
    space: one caller served at rate a = 0.0005/s with theta = 0.5 waits past its 80th
    percentile of 3219 s with probability 0.2, not 0 (before: a 1490 s answer)."""
    a, theta = 0.0005, 0.5
    assert hypoexponential_survival(2000.0, 0.002, 0.4, 0) == pytest.approx(math.exp(-4.0))
    assert hypoexponential_quantile(0.8, a, theta, 0) == pytest.approx(-math.log(0.2) / a)
    # Several ahead: still a proper, decreasing survival far in the tail.
    tail = [hypoexponential_survival(t, a, theta, 3) for t in (2000.0, 4000.0, 8000.0)]
    assert 1.0 > tail[0] > tail[1] > tail[2] > 0.0


# ---------------------------------------------------------------- the calibrated default


def _teach(predictor: CalibratedPredictor, ratio: float, samples: int, **asked: int) -> None:
    """Callers told a figure at join, each then answered after ``ratio`` times the model's
    answered-caller mean."""
    model = CalibratedPredictor(default_handle_time=120.0).estimate(3, 2, 0.0).mean
    for caller in range(samples):
        start = 1000.0 * caller
        predictor.estimate(3, 2, start, caller=caller, **asked)
        predictor.observe(CallerAnswered(caller, start + ratio * model, 0.0))


def test_calibrated_starts_from_the_model() -> None:
    """With no outcomes yet it tells the model's percentile of the answered caller's wait:
    the tilted hypoexponential (rates s*mu + k*theta, k = 1..n+1)."""
    predictor = CalibratedPredictor(default_handle_time=120.0, default_abandon_rate=1 / 90)
    a, theta = 2 / 120.0, 1 / 90
    estimate = predictor.estimate(3, 2, 0.0)
    assert estimate.mean == pytest.approx(hypoexponential_mean(a + theta, theta, 3))
    assert estimate.announce == pytest.approx(hypoexponential_quantile(0.8, a + theta, theta, 3))


def test_calibrated_learns_what_the_waits_that_followed_were() -> None:
    """Callers in a situation who all waited half the model's figure: the mean follows, and
    the announced figure is their (upper) 80th percentile, here the same half."""
    predictor = CalibratedPredictor(default_handle_time=120.0, min_samples=20)
    model = predictor.estimate(3, 2, 0.0)
    _teach(predictor, 0.5, 50)
    learnt = predictor.estimate(3, 2, 10**6)
    assert learnt.mean == pytest.approx(0.5 * model.mean)
    assert learnt.announce == pytest.approx(0.5 * model.mean)


def test_calibrated_keeps_priorities_apart() -> None:
    """Callers of a higher priority who are served sooner teach their own figure: a
    low-priority caller in the same place is not told theirs."""
    predictor = CalibratedPredictor(default_handle_time=120.0, min_samples=20)
    _teach(predictor, 2.0, 60, priority=0)
    _teach(predictor, 0.25, 60, priority=5)
    low = predictor.estimate(3, 2, 10**6, priority=0)
    high = predictor.estimate(3, 2, 10**6, priority=5)
    assert high.announce == pytest.approx(low.announce / 8)


def test_calibrated_quantile_has_a_margin_for_few_samples() -> None:
    """The percentile is taken one standard error high: from 40 samples spread evenly over
    (0, 1], the announced ratio is above their plain 80th percentile."""
    predictor = CalibratedPredictor(default_handle_time=120.0, min_samples=40)
    base = predictor.estimate(3, 2, 0.0).mean
    for caller in range(40):
        start = 1000.0 * caller
        predictor.estimate(3, 2, start, caller=caller)
        predictor.observe(CallerAnswered(caller, start + base * (caller + 1) / 40, 0.0))
    announced = predictor.estimate(3, 2, 10**6).announce / base
    assert 0.8 < announced < 0.9


def test_calibrated_forgets_abandoners_and_repeated_questions() -> None:
    """An abandoner's figures teach nothing (their wait is unknown); asking twice at the
    same moment is one figure; callers never settled do not pile up forever."""
    predictor = CalibratedPredictor(default_handle_time=120.0, min_samples=1)
    untold = CalibratedPredictor(default_handle_time=120.0, min_samples=1)
    predictor.estimate(3, 2, 0.0, caller=1)
    for learner in (predictor, untold):
        learner.observe(CallerAbandoned(1, 500.0, 500.0))
    assert predictor.estimate(3, 2, 0.0).announce == untold.estimate(3, 2, 0.0).announce
    base = predictor.estimate(3, 2, 0.0, caller=2).mean
    predictor.estimate(3, 2, 0.0, caller=2)
    predictor.observe(CallerAnswered(2, base, 0.0))  # one sample: the figure, kept
    assert predictor.estimate(3, 2, 10.0).mean == pytest.approx(base)


def test_bands() -> None:
    """Callers ahead and time waited go in doubling bands."""
    assert [ahead_band(n) for n in (0, 1, 2, 3, 4, 7, 8, 64, 1000)] == [0, 1, 2, 2, 3, 3, 4, 7, 7]
    assert [elapsed_band(t) for t in (0.0, 10.0, 15.0, 20.0, 60.0, 61.0, 10_000.0)] == [
        0,
        1,
        1,
        2,
        3,
        4,
        7,
    ]
