"""Estimated wait for a queued caller: predictors that watch queue events and say how long.

Every predictor here is sans-I/O. It is fed plain queue events (:class:`CallerJoined`,
:class:`CallerAnswered`, :class:`CallerAbandoned`, :class:`ServiceCompleted`) through
``observe`` and answers ``estimate(ahead, agents_serving, now, elapsed)`` with an
:class:`Estimate`: the point estimate ``mean`` (seconds still to wait) and ``announce``,
the figure the caller would be told. The live queue and the simulator in
:mod:`callflow.sim.center` drive the very same objects.

The predictors (Ibrahim & Whitt's names; ``n`` callers ahead, ``s`` agents serving,
``mu`` service rate per agent, ``theta`` abandonment rate per waiting caller):

- :class:`AppQueuePredictor` - an exact port of Asterisk app_queue's ``holdtime``.
- :class:`LastToEnterService` (LES) and :class:`HeadOfLine` (HOL) - delay history only.
- :class:`QueueLengthPredictor` (QL) - ``(n+1)/(s*mu)``.
- :class:`AbandonmentAwarePredictor` (QLA) - ``sum_{i=0..n} 1/(s*mu + i*theta)``,
  optionally announcing a percentile of the hypoexponential wait instead of its mean.
- :class:`ConservativePredictor` - the model alone: announces the 80th percentile of the
  abandonment-aware wait of a caller who never hangs up.
- :class:`CalibratedPredictor` - callflow's default: the abandonment-aware figure for a
  caller who is answered, corrected by what the waits that followed its figures were,
  situation by situation (priority, callers ahead, time waited), announcing the 80th
  percentile of the answered callers' waits.

The percentile maths: with ``n`` ahead, all agents busy, exponential services and
patience, the wait is a sum of independent exponentials with rates ``a + k*theta``
(``a = s*mu``, ``k = 0..n``). For rates in arithmetic progression the survival
function has the closed form ``P(W > t) = I_x(a/theta, n+1)`` with ``x = exp(-theta*t)``,
``I`` the regularized incomplete beta function (substitute ``u = exp(-theta*t)`` in the
density ``theta * exp(-a*t) * (1 - exp(-theta*t))**n / B(a/theta, n+1)``). Evaluated with
a continued fraction it is stable for any ``n``, unlike the textbook partial-fraction sum
over distinct rates, whose alternating terms cancel catastrophically once ``n`` passes
~20. At ``theta = 0`` it is the Erlang(n+1, a) survival ``Q(n+1, a*t)``.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Protocol

from callflow.queue.wait import wait_figure

# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class CallerJoined:
    """A caller entered the queue at ``at`` (seconds)."""

    caller_id: int
    at: float


@dataclass(frozen=True, slots=True)
class CallerAnswered:
    """A caller was connected to an agent at ``at`` after waiting ``waited`` seconds."""

    caller_id: int
    at: float
    waited: float


@dataclass(frozen=True, slots=True)
class CallerAbandoned:
    """A caller hung up in the queue at ``at`` after waiting ``waited`` seconds."""

    caller_id: int
    at: float
    waited: float


@dataclass(frozen=True, slots=True)
class ServiceCompleted:
    """An agent finished a call at ``at`` that took ``handle_time`` seconds."""

    at: float
    handle_time: float


@dataclass(frozen=True, slots=True)
class CallerLeft:
    """A caller left the queue at ``at`` after ``waited`` seconds, neither answered nor
    hanging up: its time limit, an exit key (a callback), an empty queue, callflow letting
    them go, or the call lost. For patience, censored exposure, as an answered caller's."""

    caller_id: int
    at: float
    waited: float


QueueEvent = CallerJoined | CallerAnswered | CallerAbandoned | CallerLeft | ServiceCompleted


@dataclass(frozen=True, slots=True)
class Estimate:
    """A wait estimate in seconds: the point estimate and the figure to tell the caller."""

    mean: float
    announce: float


@dataclass(frozen=True, slots=True)
class AgentView:
    """One agent who serves the queue, as the queue sees them at a moment (the agent-state
    snapshot): ``free_in`` seconds until they can take a caller when that is known (the
    rest of a wrap-up: 0 when free now), otherwise ``busy_for``, how long they have been
    on their current call so far (ring and talk). Handle times are not memoryless: a call
    that has lasted 10 minutes has another share of time to go than one just begun."""

    busy_for: float = 0.0
    free_in: float | None = None


# A snapshot of the agents serving a queue: one view per agent who will take its callers.
AgentSnapshot = Sequence[AgentView]


class WaitPredictor(Protocol):
    """What the queue and the simulator need from a wait predictor."""

    @property
    def name(self) -> str:
        """Short label used in reports."""
        ...

    def observe(self, event: QueueEvent) -> None:
        """Update internal state from one queue event."""
        ...

    def estimate(
        self,
        ahead: int,
        agents_serving: int,
        now: float,
        elapsed: float = 0.0,
        *,
        caller: int | None = None,
        priority: int = 0,
        agents: AgentSnapshot | None = None,
    ) -> Estimate:
        """Estimate the remaining wait of a caller with ``ahead`` callers in front;
        ``agents``, if given, is the snapshot of the agents serving (predictors that do not
        use it ignore it)."""
        ...


# ------------------------------------------------------------------- app_queue port


def _c_div(numerator: int, denominator: int) -> int:
    """C integer division: truncates toward zero (Python's ``//`` floors)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator > 0) else -quotient


def _whole_seconds_between(start: float, end: float) -> int:
    """``end - start`` as app_queue sees it: a difference of two ``time(NULL)`` readings."""
    return math.floor(end) - math.floor(start)


class AppQueuePredictor:
    """Asterisk app_queue's estimated hold time, ported line for line.

    Source: asterisk/asterisk ``apps/app_queue.c`` (unchanged in substance from 1.4
    through 20.x):

    - ``recalc_holdtime(qe, newholdtime)``:
      ``qe->parent->holdtime = (((oldvalue << 2) - oldvalue) + newholdtime) >> 2;``
      i.e. ``holdtime <- (3*holdtime + wait) / 4`` in *integer* seconds, called from
      ``try_calling()`` ("Update parameters for the queue") with ``now - qe->start``
      only when a member answers - abandons never move it, and every answered call
      counts, including callers who waited zero seconds. A new queue starts at 0.
    - ``say_position()``:
      ``avgholdmins = abs(((qe->parent->holdtime + 30) - (now - qe->start)) / 60);``
      and, if ``announce-round-seconds`` is set,
      ``avgholdsecs = (abs(((qe->parent->holdtime + 30) - (now - qe->start))) -
      60 * avgholdmins) / qe->parent->roundingseconds; avgholdsecs *= roundingseconds;``
      The caller hears ``avgholdmins`` minutes (+ ``avgholdsecs`` seconds), nothing when
      both are 0. Note the quirks kept here on purpose: it ignores the position; the
      ``abs`` makes the estimate grow again once the caller has waited past it; and the
      ``+ 30`` that rounds minutes also leaks into the seconds part (holdtime 100 s with
      rounding 10 is announced as 2 min 10 s).

    ``mean`` is ``|holdtime - elapsed|`` (app_queue's own figure before rounding) and
    ``announce`` is the rounded figure in seconds, 0 when app_queue would stay silent.
    """

    name = "app_queue"

    def __init__(self, rounding_seconds: int = 0, holdtime: int = 0) -> None:
        self.rounding_seconds = rounding_seconds
        self.holdtime = holdtime

    def observe(self, event: QueueEvent) -> None:
        """Fold an answered caller's wait into ``holdtime``; ignore everything else."""
        if isinstance(event, CallerAnswered):
            newholdtime = _whole_seconds_between(event.at - event.waited, event.at)
            oldvalue = self.holdtime
            self.holdtime = (((oldvalue << 2) - oldvalue) + newholdtime) >> 2

    def estimate(
        self,
        ahead: int,
        agents_serving: int,
        now: float,
        elapsed: float = 0.0,
        *,
        caller: int | None = None,
        priority: int = 0,
        agents: AgentSnapshot | None = None,
    ) -> Estimate:
        """Return app_queue's hold time for a caller who has waited ``elapsed`` seconds."""
        waited = _whole_seconds_between(now - elapsed, now)  # now - qe->start
        shifted = (self.holdtime + 30) - waited
        avgholdmins = abs(_c_div(shifted, 60))
        avgholdsecs = 0
        if self.rounding_seconds:
            avgholdsecs = _c_div(abs(shifted) - 60 * avgholdmins, self.rounding_seconds)
            avgholdsecs *= self.rounding_seconds
        return Estimate(
            mean=float(abs(self.holdtime - waited)),
            announce=float(60 * avgholdmins + avgholdsecs),
        )


# ------------------------------------------------------------ delay-history predictors


class LastToEnterService:
    """LES: the wait of the caller who most recently reached an agent.

    A total-wait predictor; asked later in a caller's wait it returns what is left,
    ``max(LES - elapsed, 0)``. Before anyone has been answered it says 0.
    """

    name = "LES"

    def __init__(self) -> None:
        self.last_wait = 0.0

    def observe(self, event: QueueEvent) -> None:
        """Remember the wait of each answered caller."""
        if isinstance(event, CallerAnswered):
            self.last_wait = event.waited

    def estimate(
        self,
        ahead: int,
        agents_serving: int,
        now: float,
        elapsed: float = 0.0,
        *,
        caller: int | None = None,
        priority: int = 0,
        agents: AgentSnapshot | None = None,
    ) -> Estimate:
        """Return the last answered caller's wait, less what this caller has waited."""
        remaining = max(self.last_wait - elapsed, 0.0)
        return Estimate(remaining, remaining)


class HeadOfLine:
    """HOL: how long the caller at the head of the queue has been waiting so far.

    It keeps its own FIFO picture of who is waiting from the join/answer/abandon events.
    With nobody waiting (the caller asking would be first) there is no head, and it falls
    back to LES, the wait of the last caller answered.
    """

    name = "HOL"

    def __init__(self) -> None:
        self._line: deque[tuple[int, float]] = deque()
        self._gone: set[int] = set()
        self._les = LastToEnterService()

    def observe(self, event: QueueEvent) -> None:
        """Track who is waiting, and since when."""
        self._les.observe(event)
        if isinstance(event, CallerJoined):
            self._line.append((event.caller_id, event.at))
        elif isinstance(event, CallerAnswered | CallerAbandoned | CallerLeft):
            if self._line and self._line[0][0] == event.caller_id:
                self._line.popleft()
            else:
                self._gone.add(event.caller_id)
            self._drop_departed_head()

    def _drop_departed_head(self) -> None:
        while self._line and self._line[0][0] in self._gone:
            self._gone.discard(self._line.popleft()[0])

    def estimate(
        self,
        ahead: int,
        agents_serving: int,
        now: float,
        elapsed: float = 0.0,
        *,
        caller: int | None = None,
        priority: int = 0,
        agents: AgentSnapshot | None = None,
    ) -> Estimate:
        """Return the head-of-line caller's elapsed wait, less this caller's own."""
        if not self._line:
            return self._les.estimate(ahead, agents_serving, now, elapsed)
        remaining = max(now - self._line[0][1] - elapsed, 0.0)
        return Estimate(remaining, remaining)


# ------------------------------------------------------------------ online estimators


class HandleTimeEstimator:
    """Mean handle time from recent completed calls, so ``mu = 1 / mean_handle_time``.

    An exponentially weighted mean over roughly the last ``memory`` calls, started from a
    configured ``prior`` worth ``prior_weight`` calls: while history is thin the
    configured figure dominates, then real calls wash it out.
    """

    def __init__(self, prior: float = 300.0, prior_weight: float = 5.0, memory: int = 1000):
        if prior <= 0 or prior_weight <= 0 or memory < 1:
            raise ValueError("prior, prior_weight and memory must be positive")
        self._decay = 1.0 - 1.0 / memory
        self._weight = prior_weight
        self._total = prior * prior_weight
        self.completed = 0

    def observe(self, handle_time: float) -> None:
        """Add one completed call (an absurd duration, e.g. after a clock step, is dropped)."""
        if not 0.0 < handle_time <= MAX_PLAUSIBLE:
            return
        self._weight = self._weight * self._decay + 1.0
        self._total = self._total * self._decay + handle_time
        self.completed += 1

    @property
    def mean_handle_time(self) -> float:
        """Current estimate of the mean handle time in seconds."""
        return self._total / self._weight


# A duration longer than a day is a clock step, not a call: the learners leave it out.
MAX_PLAUSIBLE = 86_400.0


class AbandonRateEstimator:
    """``theta``: abandons per second of waiting, from callers who have left the queue.

    This is the maximum-likelihood estimate for exponential patience: abandons divided by
    the total time callers spent waiting (answered callers count as censored exposure).
    Sums decay by ``1 - 1/memory`` per departure that had waited at all, and start from
    ``prior_rate`` over ``prior_exposure`` seconds of pretend waiting.
    """

    def __init__(
        self, prior_rate: float = 0.0, prior_exposure: float = 600.0, memory: int = 2000
    ) -> None:
        if prior_rate < 0 or prior_exposure <= 0 or memory < 1:
            raise ValueError("prior_rate >= 0, prior_exposure > 0 and memory >= 1 required")
        self._decay = 1.0 - 1.0 / memory
        self._abandons = prior_rate * prior_exposure
        self._exposure = prior_exposure
        self.abandoned = 0

    def observe(self, waited: float, abandoned: bool) -> None:
        """Add one caller who left the queue after ``waited`` seconds."""
        if not 0.0 < waited <= MAX_PLAUSIBLE:
            return
        self._abandons = self._abandons * self._decay + (1.0 if abandoned else 0.0)
        self._exposure = self._exposure * self._decay + waited
        self.abandoned += abandoned

    @property
    def abandon_rate(self) -> float:
        """Current estimate of ``theta`` per second (0 when nobody has abandoned)."""
        return self._abandons / self._exposure


class _RateTracker:
    """The online ``mu`` and ``theta`` estimates shared by the queue-length predictors."""

    def __init__(
        self,
        default_handle_time: float,
        default_abandon_rate: float,
        handle_memory: int,
        abandon_memory: int,
    ) -> None:
        self.handle = HandleTimeEstimator(prior=default_handle_time, memory=handle_memory)
        self.abandon = AbandonRateEstimator(prior_rate=default_abandon_rate, memory=abandon_memory)

    def observe(self, event: QueueEvent) -> None:
        if isinstance(event, ServiceCompleted):
            self.handle.observe(event.handle_time)
        elif isinstance(event, CallerAnswered | CallerLeft):
            self.abandon.observe(event.waited, abandoned=False)
        elif isinstance(event, CallerAbandoned):
            self.abandon.observe(event.waited, abandoned=True)


# --------------------------------------------------------- hypoexponential wait maths

_STANDARD_NORMAL = NormalDist()

# Below this theta/a the beta form is numerically the Erlang form; use the latter.
_ERLANG_CUTOFF = 1e-9


def hypoexponential_mean(service_rate: float, abandon_rate: float, ahead: int) -> float:
    """Mean wait ``sum_{k=0..n} 1/(a + k*theta)`` with ``a = s*mu`` and ``n = ahead``."""
    a, theta, n = service_rate, abandon_rate, ahead
    if a <= 0:
        return math.inf
    if theta <= _ERLANG_CUTOFF * a:
        return (n + 1) / a
    if n <= 4000:
        return math.fsum(1.0 / (a + k * theta) for k in range(n + 1))
    # Euler-Maclaurin: integral + endpoint corrections; error ~ f'''/720, negligible here.
    first, last = 1.0 / a, 1.0 / (a + n * theta)
    integral = math.log1p(n * theta / a) / theta
    return integral + (first + last) / 2 + theta * (first * first - last * last) / 12


def hypoexponential_variance(service_rate: float, abandon_rate: float, ahead: int) -> float:
    """Variance of the wait: ``sum_{k=0..n} 1/(a + k*theta)**2``."""
    a, theta, n = service_rate, abandon_rate, ahead
    if a <= 0:
        return math.inf
    if theta <= _ERLANG_CUTOFF * a:
        return (n + 1) / (a * a)
    if n <= 4000:
        return math.fsum(1.0 / (a + k * theta) ** 2 for k in range(n + 1))
    first, last = 1.0 / a, 1.0 / (a + n * theta)
    return (first - last) / theta + (first * first + last * last) / 2


def _continued_fraction_beta(p: float, q: float, x: float) -> float:
    """Lentz's continued fraction for the incomplete beta (converges for x < (p+1)/(p+q+2))."""
    tiny = 1e-300
    qab, qap, qam = p + q, p + 1.0, p - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = tiny if abs(d) < tiny else d
    d = 1.0 / d
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (q - m) * x / ((qam + m2) * (p + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(p + m) * (qab + m) * x / ((p + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            return h
    raise ArithmeticError(f"incomplete beta did not converge (p={p}, q={q}, x={x})")


def regularized_beta(
    p: float,
    q: float,
    x: float,
    one_minus_x: float | None = None,
    log_x: float | None = None,
) -> float:
    """``I_x(p, q)``; pass ``one_minus_x`` when ``x`` is near 1 to keep its precision, and
    ``log_x`` when ``x`` may underflow (``exp(-745)`` is 0.0 in a double, while
    ``x**p`` for a small ``p`` is not)."""
    y = 1.0 - x if one_minus_x is None else one_minus_x
    if log_x is None:
        if x <= 0.0:
            return 0.0
        log_x = math.log(x)
    if y <= 0.0:
        return 1.0
    log_front = math.lgamma(p + q) - math.lgamma(p) - math.lgamma(q) + p * log_x + q * math.log(y)
    front = math.exp(log_front)
    if x < (p + 1.0) / (p + q + 2.0):
        return front * _continued_fraction_beta(p, q, x) / p
    return 1.0 - front * _continued_fraction_beta(q, p, y) / q


def regularized_gamma_upper(k: float, x: float) -> float:
    """``Q(k, x) = Gamma(k, x) / Gamma(k)``, the Erlang(k) survival at rate*t = x."""
    if x <= 0.0:
        return 1.0
    log_front = -x + k * math.log(x) - math.lgamma(k)
    if x < k + 1.0:  # series for P(k, x)
        term = total = 1.0 / k
        ap = k
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                return 1.0 - total * math.exp(log_front)
        raise ArithmeticError(f"gamma series did not converge (k={k}, x={x})")
    tiny = 1e-300  # Lentz continued fraction for Q(k, x)
    b = x + 1.0 - k
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - k)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            return math.exp(log_front) * h
    raise ArithmeticError(f"gamma continued fraction did not converge (k={k}, x={x})")


def hypoexponential_survival(
    t: float, service_rate: float, abandon_rate: float, ahead: int
) -> float:
    """``P(W > t)`` for ``W = sum_{k=0..n} Exp(a + k*theta)``; see the module docstring."""
    a, theta, n = service_rate, abandon_rate, ahead
    if t <= 0.0:
        return 1.0
    if theta <= _ERLANG_CUTOFF * a:
        return regularized_gamma_upper(n + 1.0, a * t)
    # In log space: exp(-theta*t) underflows past theta*t ~ 745, where the survival (about
    # exp(-a*t) for a small service rate) is still far from 0.
    log_x = -theta * t
    return regularized_beta(a / theta, n + 1.0, math.exp(log_x), -math.expm1(log_x), log_x)


def _hypoexponential_density(
    t: float, service_rate: float, abandon_rate: float, ahead: int
) -> float:
    a, theta, n = service_rate, abandon_rate, ahead
    if t <= 0.0:
        return a if n == 0 else 0.0
    if theta <= _ERLANG_CUTOFF * a:
        return math.exp(math.log(a) + n * math.log(a * t) - a * t - math.lgamma(n + 1.0))
    p = a / theta
    log_beta = math.lgamma(p) + math.lgamma(n + 1.0) - math.lgamma(p + n + 1.0)
    log_f = math.log(theta) - a * t + n * math.log(-math.expm1(-theta * t)) - log_beta
    return math.exp(log_f)


def hypoexponential_quantile(
    probability: float, service_rate: float, abandon_rate: float, ahead: int
) -> float:
    """The ``probability``-quantile of the wait, by safeguarded Newton on the closed-form CDF.

    Starts from a normal approximation, keeps a bracket, and falls back to bisection
    whenever a Newton step would leave it; converges to 1e-9 relative in a handful of
    steps for the queue sizes a contact center sees.
    """
    if not 0.0 < probability < 1.0:
        raise ValueError("probability must be in (0, 1)")
    a, theta, n = service_rate, abandon_rate, ahead
    if a <= 0:
        return math.inf
    target = 1.0 - probability  # survival we look for
    mean = hypoexponential_mean(a, theta, n)
    sd = math.sqrt(hypoexponential_variance(a, theta, n))
    lo, hi = 0.0, mean + 8.0 * sd
    while hypoexponential_survival(hi, a, theta, n) > target:
        lo, hi = hi, hi * 2.0
    z = _STANDARD_NORMAL.inv_cdf(probability)
    t = min(max(mean + z * sd, lo + 1e-12 * hi), hi)
    for _ in range(100):
        gap = hypoexponential_survival(t, a, theta, n) - target  # decreasing in t
        if gap > 0:
            lo = t
        else:
            hi = t
        density = _hypoexponential_density(t, a, theta, n)
        step = gap / density if density > 0 else math.inf
        candidate = t + step
        if not lo < candidate < hi:
            candidate = (lo + hi) / 2
        if abs(candidate - t) <= 1e-9 * max(candidate, 1e-9):
            return candidate
        t = candidate
    return t


# ------------------------------------------------------------ queue-length predictors


class QueueLengthPredictor:
    """QL: ``(n+1) / (s * mu)``, with ``mu`` from the recent mean handle time.

    Memoryless, so ``elapsed`` does not change the answer. No agents serving means no
    wait can be promised: it returns infinity.
    """

    name = "QL"

    def __init__(self, default_handle_time: float = 300.0, handle_memory: int = 1000) -> None:
        self.handle = HandleTimeEstimator(prior=default_handle_time, memory=handle_memory)

    def observe(self, event: QueueEvent) -> None:
        """Learn handle times from completed calls."""
        if isinstance(event, ServiceCompleted):
            self.handle.observe(event.handle_time)

    def estimate(
        self,
        ahead: int,
        agents_serving: int,
        now: float,
        elapsed: float = 0.0,
        *,
        caller: int | None = None,
        priority: int = 0,
        agents: AgentSnapshot | None = None,
    ) -> Estimate:
        """Return ``(ahead + 1)`` mean handle times shared among ``agents_serving``."""
        if agents_serving <= 0:
            return Estimate(math.inf, math.inf)
        mean = (ahead + 1) * self.handle.mean_handle_time / agents_serving
        return Estimate(mean, mean)


class _LearnsRates:
    """A predictor that learns ``s*mu`` and ``theta`` online from queue events."""

    rates: _RateTracker

    def observe(self, event: QueueEvent) -> None:
        """Learn handle times and the abandonment rate."""
        self.rates.observe(event)

    def _rates(self, agents_serving: int) -> tuple[float, float]:
        """The service rate of the agents serving (``s*mu``) and the abandonment rate."""
        return agents_serving / self.rates.handle.mean_handle_time, self.rates.abandon.abandon_rate


class AbandonmentAwarePredictor(_LearnsRates):
    """QLA: ``sum_{i=0..n} 1/(s*mu + i*theta)``, optionally announcing a percentile.

    ``mu`` comes from the recent mean handle time and ``theta`` from abandons per second
    of waiting (see :class:`HandleTimeEstimator`, :class:`AbandonRateEstimator`). With
    ``percentile`` set, ``announce`` is that quantile of the hypoexponential wait;
    otherwise it is the mean.
    """

    def __init__(
        self,
        percentile: float | None = None,
        default_handle_time: float = 300.0,
        default_abandon_rate: float = 0.0,
        handle_memory: int = 1000,
        abandon_memory: int = 2000,
    ) -> None:
        self.percentile = percentile
        self.name = "QLA" if percentile is None else f"QLA-p{round(percentile * 100)}"
        self.rates = _RateTracker(
            default_handle_time, default_abandon_rate, handle_memory, abandon_memory
        )

    def estimate(
        self,
        ahead: int,
        agents_serving: int,
        now: float,
        elapsed: float = 0.0,
        *,
        caller: int | None = None,
        priority: int = 0,
        agents: AgentSnapshot | None = None,
    ) -> Estimate:
        """Return the hypoexponential mean and, if configured, its percentile."""
        if agents_serving <= 0:
            return Estimate(math.inf, math.inf)
        a, theta = self._rates(agents_serving)
        mean = hypoexponential_mean(a, theta, ahead)
        if self.percentile is None:
            return Estimate(mean, mean)
        return Estimate(mean, hypoexponential_quantile(self.percentile, a, theta, ahead))


class ConservativePredictor(_LearnsRates):
    """The model alone: the 80th percentile of the abandonment-aware wait.

    - ``announce`` is the ``percentile`` quantile of the wait of a caller who stays until
      answered: ``sum_{k=0..n} Exp(s*mu + k*theta)``. Webb, Yu & Bretthauer: callers who
      outwait the announced time abandon more, so an optimistic mean is the wrong thing
      to say.
    - ``mean`` is the expected wait of callers in this position *who get answered* - the
      quantity a served-caller error metric (and ASA) measures. With exponential patience
      and the caller's own patience independent of the line ahead, conditioning the
      hypoexponential on ``patience > W`` tilts each ``Exp(r)`` to ``Exp(r + theta)``, so it
      is ``sum_{k=1..n+1} 1/(s*mu + k*theta)`` (Ibrahim & Whitt's QLA is the untilted
      ``k=0..n`` sum, kept as :class:`AbandonmentAwarePredictor`). Set
      ``answered_mean=False`` for the untilted mean.
    - Fallback while history is thin: the configured ``default_handle_time`` and
      ``default_abandon_rate`` act as a prior worth a few calls, so the very first
      caller already hears a position-aware figure (``(n+1)`` handle times over ``s``
      agents), and real history takes over within tens of calls.
    """

    name = "model-p80"

    def __init__(
        self,
        percentile: float = 0.8,
        default_handle_time: float = 300.0,
        default_abandon_rate: float = 0.0,
        answered_mean: bool = True,
        handle_memory: int = 1000,
        abandon_memory: int = 2000,
    ) -> None:
        self.percentile = percentile
        self.answered_mean = answered_mean
        self.rates = _RateTracker(
            default_handle_time, default_abandon_rate, handle_memory, abandon_memory
        )

    def estimate(
        self,
        ahead: int,
        agents_serving: int,
        now: float,
        elapsed: float = 0.0,
        *,
        caller: int | None = None,
        priority: int = 0,
        agents: AgentSnapshot | None = None,
    ) -> Estimate:
        """Return the answered-caller mean and the conservative percentile to announce."""
        if agents_serving <= 0:
            return Estimate(math.inf, math.inf)
        a, theta = self._rates(agents_serving)
        mean_rate = a + theta if self.answered_mean else a
        mean = hypoexponential_mean(mean_rate, theta, ahead)
        return Estimate(mean, hypoexponential_quantile(self.percentile, a, theta, ahead))


# ----------------------------------------------------- forward runs from a snapshot


class HandleSamples:
    """The last ``window`` handle times, kept sorted, to draw from: a fresh call's handle
    time, or what is left of a call that has lasted ``elapsed`` (a draw among the recent
    calls that lasted longer, less ``elapsed``). Below ``min_samples``, and past the
    longest call seen, draws are exponential around ``prior`` (no shape known yet)."""

    def __init__(self, window: int = 500, min_samples: int = 30) -> None:
        if window < 1 or min_samples < 1:
            raise ValueError("window and min_samples must be positive")
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []
        self._window = window
        self._min = min_samples

    def observe(self, handle_time: float) -> None:
        """Add one completed call (absurd durations are dropped)."""
        if not 0.0 < handle_time <= MAX_PLAUSIBLE:
            return
        if len(self._recent) == self._window:
            old = self._recent.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
        self._recent.append(handle_time)
        bisect.insort(self._sorted, handle_time)

    def __len__(self) -> int:
        return len(self._recent)

    @property
    def shaped(self) -> bool:
        """Whether enough calls were seen to draw from them rather than the prior."""
        return len(self._sorted) >= self._min

    def fresh(self, rng: random.Random, prior: float) -> float:
        """A handle time for a call about to start."""
        if len(self._sorted) < self._min:
            return rng.expovariate(1.0 / prior)
        return self._sorted[rng.randrange(len(self._sorted))]

    def left(self, elapsed: float, rng: random.Random, prior: float) -> float:
        """What is left of a call that has lasted ``elapsed`` seconds."""
        if len(self._sorted) < self._min:
            return rng.expovariate(1.0 / prior)
        start = bisect.bisect_right(self._sorted, elapsed)
        if start == len(self._sorted):  # longer than any recent call: no shape to go by
            return rng.expovariate(1.0 / prior)
        return self._sorted[rng.randrange(start, len(self._sorted))] - elapsed


# Forward runs per figure, and the most steps (runs x (agents + callers ahead + 1)) spent on
# one: beyond that, many agents make completions near-Poisson and the closed form serves.
FORWARD_RUNS = 64
FORWARD_BUDGET = 64 * 16


def forward_waits(
    ahead: int,
    agents: AgentSnapshot,
    handle: HandleSamples,
    mean_handle_time: float,
    abandon_rate: float,
    runs: int = FORWARD_RUNS,
    seed: int = 0,
) -> list[tuple[float, float]]:
    """The wait of a caller with ``ahead`` callers in front, by ``runs`` forward runs of
    the queue from the agents' snapshot: each agent takes the next caller when their
    current call (drawn given how long it has lasted) or known wrap-up ends, then fresh
    calls drawn from recent handle times; each caller ahead hangs up at rate
    ``abandon_rate``. Returns (wait, weight) pairs: the weight is the chance that the
    caller's own patience (the same rate) outlasts that wait, so that the weighted
    distribution is that of the callers who are answered. Deterministic for a ``seed``
    (common random numbers: the same situation gets the same figure)."""
    rng = random.Random(seed)  # noqa: S311 - a model's draws, not a secret
    out: list[tuple[float, float]] = []
    if not agents:
        return out
    for _ in range(runs):
        free = [
            view.free_in
            if view.free_in is not None
            else handle.left(view.busy_for, rng, mean_handle_time)
            for view in agents
        ]
        heapq.heapify(free)
        served = 0
        while True:
            at = heapq.heappop(free)
            # Callers ahead who hung up before this agent was free are skipped.
            while served < ahead and abandon_rate > 0 and rng.expovariate(abandon_rate) < at:
                served += 1
            if served >= ahead:
                out.append((at, math.exp(-abandon_rate * at)))
                break
            served += 1
            heapq.heappush(free, at + handle.fresh(rng, mean_handle_time))
    return out


def weighted_mean_and_quantile(
    pairs: Sequence[tuple[float, float]], probability: float
) -> tuple[float, float]:
    """The weighted mean and ``probability`` quantile of (value, weight) pairs."""
    ordered = sorted(pairs)
    total = math.fsum(w for _, w in ordered)
    if total <= 0.0:
        return math.inf, math.inf
    mean = math.fsum(x * w for x, w in ordered) / total
    target, cumulative = probability * total, 0.0
    for value, weight in ordered:
        cumulative += weight
        if cumulative >= target:
            return mean, value
    return mean, ordered[-1][0]


# ------------------------------------------------------------ the calibrated default


def ahead_band(ahead: int) -> int:
    """Callers ahead in doubling bands: 0, 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64 and more."""
    return min(7, max(0, ahead).bit_length())


def elapsed_band(elapsed: float) -> int:
    """Time already waited in doubling bands: 0 (at join), up to 15 s, 30 s, 1, 2, 4, 8 min
    and more."""
    if elapsed <= 0.0:
        return 0
    return min(7, 1 + max(0, math.ceil(math.log2(elapsed / 15.0))))


class _Residuals:
    """Recent outcomes as ratios (wait that followed / model figure), per situation.

    Each sample goes to every level of its situation (``keys``, most specific first); a
    lookup takes the most specific level that has ``min_samples``. Each level keeps the
    last ``window`` samples, so that the figures follow a queue that changes. A sample
    remembers whose wait it was: one caller told many times (a long wait, re-announced)
    gives many samples that say nearly the same thing, and the margin taken for sampling
    counts callers, not samples.
    """

    def __init__(self, window: int, min_samples: int) -> None:
        self._window = window
        self._min = min_samples
        self._levels: dict[tuple[int, ...], deque[tuple[float, int]]] = {}

    def add(self, keys: tuple[tuple[int, ...], ...], ratio: float, caller: int) -> None:
        for key in keys:
            samples = self._levels.get(key)
            if samples is None:
                samples = self._levels[key] = deque(maxlen=self._window)
            samples.append((ratio, caller))

    def lookup(self, keys: tuple[tuple[int, ...], ...]) -> deque[tuple[float, int]] | None:
        for key in keys:
            samples = self._levels.get(key)
            if samples is not None and len(samples) >= self._min:
                return samples
        return None


def _upper_quantile(samples: Sequence[tuple[float, int]], probability: float) -> float:
    """The ``probability`` quantile of the ratios in ``samples``, taken one standard error
    high: from ``n`` independent samples the empirical quantile is itself uncertain by about
    ``sqrt(p*(1-p)/n)`` in probability, and a promise should hold despite that (more margin
    from few samples, little from many). ``n`` counts the callers the samples came from."""
    ordered = sorted(ratio for ratio, _ in samples)
    n = len({caller for _, caller in samples})
    probability = min(0.995, probability + math.sqrt(probability * (1.0 - probability) / n))
    at = probability * (len(ordered) - 1)
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


@dataclass(frozen=True, slots=True)
class _Told:
    at: float
    base: float
    keys: tuple[tuple[int, ...], ...]
    offset: float = 0.0


class CalibratedPredictor(_LearnsRates):
    """callflow's default: a promise kept for the callers who get an agent.

    What a caller is told is meant to be outwaited by at most ``1 - percentile`` of the
    callers who reach an agent (those who hang up first never learn whether it was kept).
    Two parts:

    - **A model** of the wait of a caller who is answered. Given the agents' snapshot
      (``agents``: how long each busy agent has been on their call, when a wrap-up ends)
      and few enough agents and callers ahead, forward runs of the queue from that state
      (:func:`forward_waits`: each current call's rest drawn from recent handle times
      given how long it has lasted, then fresh calls; callers ahead hang up at the learnt
      rate; each run weighted by the chance the caller's own patience outlasts it).
      Otherwise, or without a snapshot, Ibrahim & Whitt's abandonment-aware queue-length
      figure: the callers ahead leave by service (``s*mu``, from the agents serving and the
      learnt handle time: ring + talk + wrap-up) and by abandonment (``theta``, abandons
      per second waited), and conditioning on the caller's own patience outlasting the wait
      tilts every stage, so the answered caller's mean is ``sum_{k=1..n+1} 1/(s*mu+k*theta)``.
    - **Its errors, learnt.** Every figure given to a caller is remembered with the
      situation it was given in: which model, the caller's priority, the callers ahead (in
      doubling bands), the time already waited (in doubling bands, 0 at join; a caller who
      has already waited is a survivor of the queue's slow spells, a population of its own
      at every level). When the caller reaches an agent, the wait that followed each
      figure, over the model's figure, is one sample for that situation. The announced
      figure is the model's times the ``percentile`` quantile of the recent samples of the
      most specific situation that has enough of them (taken one standard error high, the
      error counted in callers, so that a promise holds despite the sampling); the point
      estimate is the model's times their mean.

    What the model leaves out, the samples carry, measured rather than assumed: patience
    that is not exponential (callers who all give up near a minute are answered within a
    minute or not at all: deep in the line, the samples say so), the spread of handle times
    (a heavy tail widens the quantile), callers of a higher priority who overtake (each
    priority has its own samples), and a queue whose load drifts (only the recent samples
    count). Until a situation has samples, the model's own quantile is told.

    ``snapshot``: where the predictor reads the agents' snapshot at ``now`` when
    ``estimate`` is not given one (the live queue: :func:`callflow.queue.snapshot.
    snapshot_source`).
    """

    name = "default"

    def __init__(
        self,
        percentile: float = 0.8,
        default_handle_time: float = 300.0,
        default_abandon_rate: float = 0.0,
        handle_memory: int = 1000,
        abandon_memory: int = 2000,
        window: int = 400,
        min_samples: int = 40,
        snapshot: Callable[[float], AgentSnapshot] | None = None,
    ) -> None:
        if not 0.0 < percentile < 1.0:
            raise ValueError("percentile must be in (0, 1)")
        self.percentile = percentile
        self.rates = _RateTracker(
            default_handle_time, default_abandon_rate, handle_memory, abandon_memory
        )
        self.handles = HandleSamples()
        self.snapshot = snapshot
        self._residuals = _Residuals(window, min_samples)
        self._told: dict[int, list[_Told]] = {}
        # The last forward figures and their situation: asked again at once, not run again.
        self._forward: tuple[tuple[object, ...], tuple[float, float]] | None = None

    def observe(self, event: QueueEvent) -> None:
        """Learn the rates, and from an answered caller the errors of what they were told."""
        super().observe(event)
        if isinstance(event, ServiceCompleted):
            self.handles.observe(event.handle_time)
        elif isinstance(event, CallerAnswered):
            for told in self._told.pop(event.caller_id, ()):
                followed = event.at - told.at + told.offset
                if told.base > 0.0 and 0.0 <= followed <= MAX_PLAUSIBLE:
                    self._residuals.add(told.keys, followed / told.base, event.caller_id)
        elif isinstance(event, CallerAbandoned | CallerLeft):
            self._told.pop(event.caller_id, None)

    def estimate(
        self,
        ahead: int,
        agents_serving: int,
        now: float,
        elapsed: float = 0.0,
        *,
        caller: int | None = None,
        priority: int = 0,
        agents: AgentSnapshot | None = None,
    ) -> Estimate:
        """The answered caller's expected wait and the figure to announce."""
        if agents_serving <= 0:
            return Estimate(math.inf, math.inf)
        if agents is None and self.snapshot is not None:
            agents = self.snapshot(now)
        a, theta = self._rates(agents_serving)
        ahead = max(0, ahead)
        # The snapshot says most when one of the calls in progress will answer the caller
        # (fewer callers ahead than agents), and costs steps per agent and caller ahead.
        busy = len(agents) if agents else 0
        # Forward runs add knowledge only where there is some: the shape of handle times
        # (enough of them seen) or a known end (a wrap-up). Otherwise their draws are the
        # exponential the closed form computes exactly, less 64 draws' noise.
        informed = self.handles.shaped or any(v.free_in is not None for v in agents or ())
        forward = informed and ahead < busy and FORWARD_RUNS * (busy + ahead + 1) <= FORWARD_BUDGET
        if forward and agents:
            situation = (ahead, tuple(agents), len(self.handles), theta)
            if self._forward is None or self._forward[0] != situation:
                runs = forward_waits(
                    ahead, agents, self.handles, self.rates.handle.mean_handle_time, theta
                )
                self._forward = (situation, weighted_mean_and_quantile(runs, self.percentile))
            base, model_quantile = self._forward[1]
            # A forward figure can be near 0 (a wrap-up about to end), where a ratio says
            # nothing: the figures are compared one gap between completions further on.
            offset = 1.0 / (a + theta)
            base += offset
            model_quantile += offset
        else:
            # The model, for a caller who is answered: every stage tilted by the own patience.
            base = hypoexponential_mean(a + theta, theta, ahead)
            model_quantile = math.nan
            offset = 0.0
        band, waited, mode = ahead_band(ahead), int(elapsed > 0.0), int(forward)
        keys = (
            (0, mode, priority, band, elapsed_band(elapsed)),
            (1, mode, waited, priority, band),
            (2, mode, waited, band),
            (3, waited),
        )
        if caller is not None:
            self._remember(caller, _Told(now, base, keys, offset))
        samples = self._residuals.lookup(keys)
        if samples is None:
            if math.isnan(model_quantile):
                model_quantile = hypoexponential_quantile(self.percentile, a + theta, theta, ahead)
            return Estimate(base - offset, model_quantile - offset)
        mean = base * math.fsum(ratio for ratio, _ in samples) / len(samples)
        announce = base * _upper_quantile(samples, self.percentile)
        return Estimate(max(0.0, mean - offset), max(0.0, announce - offset))

    def _remember(self, caller: int, told: _Told) -> None:
        figures = self._told.get(caller)
        if figures is None:
            if len(self._told) >= _MAX_REMEMBERED:  # callers never settled (lost): oldest go
                del self._told[next(iter(self._told))]
            figures = self._told[caller] = []
        if figures and figures[-1].at == told.at:
            figures[-1] = told  # asked again at the same moment: one figure
        else:
            figures.append(told)


# Callers whose figures are kept until they are answered or abandon.
_MAX_REMEMBERED = 20_000


# ------------------------------------------------------------------- spoken figures


def spoken_wait(seconds: float) -> str:
    """The words of :func:`callflow.queue.wait.wait_figure` for a conservative estimate
    (without ``round_seconds``), for reports; an estimate already passed is "less than a
    minute"."""
    if math.isnan(seconds):  # no figure at all: as unbounded
        return "more than an hour"
    figure = wait_figure(seconds)
    return figure.words() if figure is not None else "less than a minute"


__all__ = [
    "FORWARD_BUDGET",
    "FORWARD_RUNS",
    "AbandonRateEstimator",
    "AbandonmentAwarePredictor",
    "AgentSnapshot",
    "AgentView",
    "AppQueuePredictor",
    "CalibratedPredictor",
    "CallerAbandoned",
    "CallerAnswered",
    "CallerJoined",
    "CallerLeft",
    "ConservativePredictor",
    "Estimate",
    "HandleSamples",
    "HandleTimeEstimator",
    "HeadOfLine",
    "LastToEnterService",
    "QueueEvent",
    "QueueLengthPredictor",
    "ServiceCompleted",
    "WaitPredictor",
    "ahead_band",
    "elapsed_band",
    "forward_waits",
    "hypoexponential_mean",
    "hypoexponential_quantile",
    "hypoexponential_survival",
    "hypoexponential_variance",
    "regularized_beta",
    "regularized_gamma_upper",
    "spoken_wait",
    "weighted_mean_and_quantile",
]
