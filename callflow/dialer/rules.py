"""Dial-time rules: may this lead be called now, and when again after an attempt (pure, time
passed in).

Checked at the moment of dialing, never only at import: the do-not-call list (a number
added during the campaign is never called after), the calling hours at the lead's local
time (default 08:00-21:00), the attempts left, and the UK lockout (Ofcom: no repeat call
within 72 hours after an abandoned call; callflow never guarantees an agent, so the lockout
always holds while the campaign is held to ``uk-24h``).

An attempt's outcome decides the lead's next state (:func:`after_attempt`):

========================  ================================================================
``connected``             done: a person talked to an agent
``invalid``               failed for good: the number does not exist (Q.850 cause 1, 28)
``no_answer``, ``busy``,  called again after the campaign's ``retry`` delay for the outcome
``machine``, ``lost``     (congestion and other failures wait as ``busy``), while attempts
                          are left; else exhausted
``abandoned``             called again no sooner than ``retry.abandoned`` (72 h at least
                          under ``uk-24h``)
========================  ================================================================

A lead an agent skips in preview (:mod:`callflow.dialer.preview`) was never dialed: its row is
unchanged, and it is shown to nobody for ``retry.skipped`` (default 15 minutes).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal

from callflow.dialer.campaign import Campaign

HOUR = 3600.0
#: Ofcom: no repeat call within 72 hours of an abandoned call (unless an agent is guaranteed).
UK_LOCKOUT = 72 * HOUR
DEFAULT_RETRY: Mapping[str, float] = {
    "no_answer": 2 * HOUR,
    "busy": 10 * 60.0,
    "machine": 4 * HOUR,
    "abandoned": UK_LOCKOUT,
    "lost": 60.0,
    "skipped": 15 * 60.0,  # preview: a lead an agent skipped is shown to nobody before
}
Outcome = Literal[
    "connected", "abandoned", "machine", "no_answer", "busy", "congestion", "invalid",
    "failed", "hung_up", "lost",
]  # fmt: skip
LeadState = Literal["ready", "dialing", "done", "failed", "exhausted"]
# Q.850 causes of a call that was never answered.
_CAUSES: Mapping[int, Outcome] = {
    1: "invalid",
    28: "invalid",
    17: "busy",
    21: "busy",  # rejected by the person
    18: "no_answer",
    19: "no_answer",
    34: "congestion",
    38: "congestion",
    41: "congestion",
    42: "congestion",
}
_RETRY_AS: Mapping[str, str] = {"congestion": "busy", "failed": "busy", "hung_up": "no_answer"}


def unanswered(cause: int | None) -> Outcome:
    """The outcome of a call that ended before it answered (no cause: it rang out)."""
    if not cause:
        return "no_answer"
    return _CAUSES.get(cause, "failed")


def retry_delay(campaign: Campaign, outcome: str) -> float:
    """Seconds before a lead is called again after ``outcome``."""
    key = _RETRY_AS.get(outcome, outcome)
    delay = campaign.retry.get(key, DEFAULT_RETRY.get(key, DEFAULT_RETRY["busy"]))
    if key == "abandoned" and "uk-24h" in campaign.abandonment.windows:
        delay = max(delay, UK_LOCKOUT)
    return delay


@dataclass(frozen=True, slots=True)
class Next:
    """A lead's state after an attempt, and when it may be called again (``ready`` only)."""

    state: LeadState
    next_at: float = 0.0


def after_attempt(campaign: Campaign, outcome: str, attempts: int, now: float) -> Next:
    """What an attempt's ``outcome`` makes of its lead (``attempts``: made so far)."""
    if outcome == "connected":
        return Next("done")
    if outcome == "invalid":
        return Next("failed")
    if attempts >= campaign.max_attempts:
        return Next("exhausted")
    return Next("ready", now + retry_delay(campaign, outcome))


def within_hours(campaign: Campaign, zone: str | None, now: float) -> bool:
    """The lead's local time at ``now`` (epoch seconds) is within the calling hours."""
    try:
        tz: dt.tzinfo = zoneinfo.ZoneInfo(zone) if zone else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False  # a zone we cannot read: never risk a call at night
    local = dt.datetime.fromtimestamp(now, tz)
    minute = local.hour * 60 + local.minute
    start, end = campaign.calling_hours
    return start <= minute < end


def refusal(
    campaign: Campaign,
    lead: Mapping[str, object],
    now: float,
    do_not_call: Collection[str] = (),
) -> str | None:
    """Why ``lead`` (a ``campaign_leads`` row) may not be dialed at ``now``; None: it may."""
    number = str(lead.get("number", ""))
    if number in do_not_call:
        return "do-not-call"
    if lead.get("state", "ready") != "ready":
        return f"lead {lead.get('state')}"
    if _number(lead.get("attempts")) >= campaign.max_attempts:
        return "no attempts left"
    if _number(lead.get("next_at")) > now:
        return "retry not due"
    abandoned = lead.get("abandoned_at")
    uk = "uk-24h" in campaign.abandonment.windows
    if abandoned is not None and uk and now - _number(abandoned) < UK_LOCKOUT:
        return "abandoned within 72 hours"
    timezone = lead.get("timezone")
    if not within_hours(campaign, str(timezone) if timezone else None, now):
        return "outside calling hours"
    return None


def read_do_not_call(text: str) -> frozenset[str]:
    """A do-not-call file: one number a line (E.164 as written; '#' starts a comment)."""
    numbers = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return frozenset(n.replace(" ", "") for n in numbers if n)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


__all__ = [
    "DEFAULT_RETRY",
    "UK_LOCKOUT",
    "LeadState",
    "Next",
    "Outcome",
    "after_attempt",
    "read_do_not_call",
    "refusal",
    "retry_delay",
    "unanswered",
    "within_hours",
]
