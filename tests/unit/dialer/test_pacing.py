"""Pacing policies' decisions on hand-built states."""

from __future__ import annotations

import itertools
import math

import pytest

from callflow.dialer.pacing import (
    DELAY_QUANTILES,
    AgentView,
    CallView,
    Experience,
    FixedRatio,
    PacingState,
    Predictive,
    Progressive,
    Tally,
    VicidialAdaptive,
    _exact_risk,
    make_policy,
)
from callflow.dialer.window import WindowFigures

NOW = 12 * 3600.0  # noon
#: A window under its cap: 1000 live calls, 20 abandoned (10 abandons of headroom).
HEALTHY = WindowFigures("uk-24h", 1000.0, 20.0, 0.03)


def state(
    idle: int = 0,
    talking: int = 0,
    wrapup: int = 0,
    *,
    ringing: int = 0,
    waiting: int = 0,
    talk_age: float = 0.0,
    wrap_age: float = 0.0,
    now: float = NOW,
    windows: tuple[WindowFigures, ...] = (),
    today: Tally | None = None,
    last_minute: Tally | None = None,
    experience: Experience | None = None,
) -> PacingState:
    agents = (
        [AgentView("idle", now - 5.0)] * idle
        + [AgentView("talking", now - talk_age)] * talking
        + [AgentView("wrapup", now - wrap_age)] * wrapup
    )
    calls = [CallView("ringing", now - 1.0)] * ringing + [CallView("waiting", now - 12.0)] * waiting
    return PacingState(
        now=now,
        agents=agents,
        calls=calls,
        windows=windows or (HEALTHY,),
        experience=experience or Experience(),
        today=today or Tally(),
        last_minute=last_minute or Tally(),
    )


def test_progressive_dials_one_line_per_idle_agent_not_covered() -> None:
    """Three idle agents and one call ringing: two more lines; none when calls cover them."""
    assert Progressive().lines_to_dial(state(idle=3, talking=5, ringing=1)) == 2
    assert Progressive().lines_to_dial(state(idle=2, ringing=3)) == 0


def test_fixed_ratio_is_vicidials_goal_minus_calls_and_connected_ones() -> None:
    """Ratio 2, 2 idle and 3 talking: goal 10 lines, minus 1 ringing and 3 connected = 6;
    wrapping-up agents count for nothing."""
    assert FixedRatio(2.0).lines_to_dial(state(idle=2, talking=3, wrapup=4, ringing=1)) == 6
    with pytest.raises(ValueError):
        FixedRatio(0.5)


def test_vicidial_level_moves_by_the_idle_share_every_15_seconds() -> None:
    """5 of 10 agents ready and no call waiting for 15 seconds: level 1.0 -> 1.5; with 2
    calls waiting the differential is 3 and the level 1.0 -> 1.3."""
    policy = VicidialAdaptive()
    for second in range(15):
        policy.lines_to_dial(state(idle=5, talking=5, now=NOW + second))
    assert policy.level == pytest.approx(1.5)
    policy = VicidialAdaptive()
    for second in range(15):
        policy.lines_to_dial(state(idle=5, talking=5, waiting=2, now=NOW + second))
    assert policy.level == pytest.approx(1.3)


def test_vicidial_level_is_clamped_to_its_maximum_and_one() -> None:
    """All agents ready for ages: the level stops at 3.0; none ready and calls waiting: 1.0."""
    policy = VicidialAdaptive()
    for second in range(15 * 6):
        policy.lines_to_dial(state(idle=10, now=NOW + second))
    assert policy.level == 3.0
    for second in range(15 * 6, 15 * 12):
        policy.lines_to_dial(state(talking=10, waiting=4, now=NOW + second))
    assert policy.level == 1.0


@pytest.mark.parametrize(
    ("method", "hour", "expected"),
    [
        ("HARD_LIMIT", 12, 1.0),
        ("AVERAGE", 12, 0.75),  # 1.5 / 2, then raised to 1.0
        ("TAPERED", 15, 0.9),  # 1.5 * (2100 - 1500) / 1000
        ("TAPERED", 10, 1.5),  # 1100 hours left: not tapered yet
        ("TAPERED", 22, 1.0),  # past the latest server time
    ],
)
def test_vicidial_drop_methods_over_todays_limit(method: str, hour: int, expected: float) -> None:
    """Today's drops over 3 % of answers (51 calls today): each method cuts the level its way,
    and a level under 1.0 is raised to 1.0."""
    policy = VicidialAdaptive(method)  # type: ignore[arg-type]
    over = Tally(attempts=400, live=100, abandoned=4)
    for second in range(15):
        policy.lines_to_dial(state(idle=5, talking=5, now=hour * 3600.0 + second, today=over))
    assert policy.level == pytest.approx(max(expected, 1.0))


def test_vicidial_halves_when_the_last_minute_drops_half_its_calls() -> None:
    """More than 20 calls in the last minute and over half dropped: the level is halved."""
    policy = VicidialAdaptive(initial_level=3.0)
    bad = Tally(attempts=30, live=20, abandoned=16)
    for second in range(15):
        policy.lines_to_dial(state(idle=0, talking=10, now=NOW + second, last_minute=bad))
    assert policy.level == pytest.approx(1.5)


def test_predictive_dials_nothing_when_nobody_can_be_free_in_time() -> None:
    """Every agent just started talking (free no sooner than a whole wrap-up away): no line."""
    assert Predictive().lines_to_dial(state(talking=10, talk_age=0.0)) == 0


def test_predictive_dials_ahead_for_agents_finishing_their_wrap_up() -> None:
    """Ten agents 20 s into a wrap-up (15-45 s before anything is learnt) and no call in
    flight: lines are dialed before anyone is idle (progressive would dial none), but not 3
    per agent; 5 s in, none is free in time for any call dialed now."""
    lines = Predictive().lines_to_dial(state(wrapup=10, wrap_age=20.0))
    assert 0 < lines < 30
    assert Progressive().lines_to_dial(state(wrapup=10, wrap_age=20.0)) == 0
    assert Predictive().lines_to_dial(state(wrapup=10, wrap_age=5.0)) == 0


def test_predictive_dials_more_the_more_agents_are_about_to_be_free() -> None:
    """More agents near the end of their wrap-up: more lines."""
    few = Predictive().lines_to_dial(state(wrapup=3, talking=7, wrap_age=30.0))
    many = Predictive().lines_to_dial(state(wrapup=8, talking=2, wrap_age=30.0))
    assert many > few


def test_predictive_counts_calls_in_flight_against_the_agents_they_will_want() -> None:
    """The same agents with 20 calls already ringing: fewer new lines."""
    fresh = Predictive().lines_to_dial(state(wrapup=10, wrap_age=25.0))
    busy = Predictive().lines_to_dial(state(wrapup=10, wrap_age=25.0, ringing=20))
    assert busy < fresh


def test_predictive_falls_back_to_progressive_when_the_budget_is_spent() -> None:
    """A window already over its target: only progressive's lines, whatever is forecast."""
    spent = (WindowFigures("uk-24h", live=1000.0, abandoned=29.5, cap=0.03),)
    s = state(idle=2, wrapup=8, wrap_age=30.0, windows=spent)
    assert Predictive().lines_to_dial(s) == 2


def test_predictive_allowance_follows_the_worst_windows_headroom() -> None:
    """The allowance grows with the abandons still affordable under the cap, is bounded by
    max_allowance, follows the worst window, and is 0 once the headroom is down to the
    floor (a reserve of 2 abandons, plus what the calls in flight may still cost)."""
    policy = Predictive()
    tight = WindowFigures("us-30d", 1000.0, 26.0, 0.03)  # 4 abandons of headroom
    roomy = WindowFigures("uk-24h", 1000.0, 20.0, 0.03)  # 10
    clean = WindowFigures("uk-24h", 1000.0, 0.0, 0.03)  # 30
    assert 0.0 < policy.allowance([tight]) < policy.allowance([roomy])
    assert policy.allowance([roomy]) < policy.allowance([clean]) == policy.max_allowance
    assert policy.allowance([clean, tight]) == policy.allowance([tight])
    assert policy.allowance([WindowFigures("uk-24h", 1000.0, 28.5, 0.03)]) == 0.0
    assert policy.allowance([tight], in_flight=1.9) > 0.0
    assert policy.allowance([tight], in_flight=2.0) == 0.0  # floor 4
    assert policy.headroom([tight, roomy]) == pytest.approx(4.0)


def test_predictive_margin_lowers_the_target() -> None:
    """A campaign's margin (0.5 %) takes 5 abandons per 1000 live calls off the headroom; a
    margin at the cap leaves nothing; a negative margin is refused."""
    window = WindowFigures("uk-24h", 1000.0, 10.0, 0.03)
    assert Predictive(margin=0.005).headroom([window]) == pytest.approx(15.0)
    assert Predictive(margin=0.03).allowance([window]) == 0.0
    with pytest.raises(ValueError):
        Predictive(margin=-0.01)


def test_predictive_keeps_what_its_calls_in_flight_may_cost_within_the_headroom() -> None:
    """100 agents, 20 of them near the end of a wrap-up, 37 calls ringing: the lines it
    dials grow with the headroom, and once they ring beside the others (the same state a
    second later) it dials nothing more: the calls in flight may now cost all the headroom
    above the reserve. With 2 abandons of headroom, only progressive's lines (none)."""

    def busy(ringing: int, headroom: float) -> PacingState:
        window = WindowFigures("uk-24h", 5000.0, 150.0 - headroom, 0.03)
        return state(
            talking=80, wrapup=20, talk_age=30.0, wrap_age=30.0, ringing=ringing,
            windows=(window,),
        )  # fmt: skip

    dialed = [Predictive().lines_to_dial(busy(37, h)) for h in (4.5, 10.0, 30.0)]
    assert 0 < dialed[0] < dialed[1] < dialed[2]
    for h, lines in zip((4.5, 10.0, 30.0), dialed, strict=True):
        assert Predictive().lines_to_dial(busy(37 + lines, h)) == 0
    assert Predictive().lines_to_dial(busy(37, 2.0)) == 0


def test_predictive_dials_only_progressive_lines_in_a_fresh_window() -> None:
    """No live call yet: nothing to spend (the first abandon would be over the cap), so only
    one line per uncovered idle agent, however many are about to be free."""
    fresh = (WindowFigures("uk-24h", 0.0, 0.0, 0.03),)
    assert Predictive().lines_to_dial(state(idle=2, wrapup=8, wrap_age=30.0, windows=fresh)) == 2


def test_predictive_dials_more_the_more_headroom_it_has() -> None:
    """The same agents: more lines with more abandons still affordable."""
    few = Predictive().lines_to_dial(
        state(wrapup=10, wrap_age=25.0, windows=(WindowFigures("uk-24h", 1000.0, 25.0, 0.03),))
    )
    many = Predictive().lines_to_dial(
        state(wrapup=10, wrap_age=25.0, windows=(WindowFigures("uk-24h", 1000.0, 0.0, 0.03),))
    )
    assert many > few


def test_exact_shortfall_matches_enumeration() -> None:
    """The small-team risk: one agent surely free, one free with 0.5, two calls each a person
    in time with 0.4 and 0.3, and the new calls ahead: as enumerating every case says."""
    supply = [(1.0,) * 5, (0.5,) * 5]
    demand = [(0.4,) * 5, (0.3,) * 5]
    risk = _exact_risk(supply, demand, 0.25, 5)

    def enumerated(lines: int) -> float:
        total = 0.0
        for q in DELAY_QUANTILES:
            pq = 0.25 * q
            for free, d1, d2 in itertools.product((0, 1), repeat=3):
                p = 0.5 * (0.4 if d1 else 0.6) * (0.3 if d2 else 0.7)
                for ahead in range(lines + 1):
                    pa = math.comb(lines, ahead) * pq**ahead * (1 - pq) ** (lines - ahead)
                    if 1 + free - d1 - d2 - ahead < 1:
                        total += p * pa
        return total / len(DELAY_QUANTILES)

    for lines in range(4):
        assert risk(lines) == pytest.approx(enumerated(lines))


def test_exact_and_normal_risks_agree_in_the_middle() -> None:
    """Ten agents about to be free and six calls ringing: the small-team exact risk and the
    Normal approximation dial about as many lines."""
    s = state(wrapup=10, wrap_age=30.0, ringing=6)
    exact = Predictive(exact_up_to=100).lines_to_dial(s)
    normal = Predictive(exact_up_to=0).lines_to_dial(s)
    assert exact > 0 and abs(exact - normal) <= 2


def test_experience_learns_the_outcome_mix() -> None:
    """Fed 300 human verdicts in a row, the person share climbs far above its 20 % prior;
    a call ringing past every human's ring time is no longer a likely person."""
    experience = Experience()
    before = experience.person_share
    for _ in range(300):
        experience.attempt_ended("human", 8.0, 10.0)
    assert before == pytest.approx(0.2)
    assert experience.person_share > 0.5
    assert experience.ringing_person(30.0) == 0.0


def test_experience_forecasts_wrap_up_ends_from_their_age() -> None:
    """Wrap-ups learnt as 20-40 s: one 39 s old is surely over within the horizon; one just
    started surely is not."""
    experience = Experience()
    for i in range(200):
        experience.wrapup_ended(20.0 + 20.0 * (i + 0.5) / 200)
    assert experience.free_within("wrapup", 39.0)[0] == pytest.approx(1.0)
    assert experience.free_within("wrapup", 0.0)[0] == 0.0
    assert experience.free_within("idle", 0.0) == (1.0,) * len(experience.horizons)


def test_make_policy_knows_every_bench_name() -> None:
    """Each name the bench uses builds its policy, and a wrong one is refused."""
    for name in (
        "progressive",
        "ratio-1.2",
        "vicidial-hard-limit",
        "vicidial-tapered",
        "vicidial-average",
        "predictive",
    ):
        assert make_policy(name).name == name
    with pytest.raises(ValueError):
        make_policy("preview")
