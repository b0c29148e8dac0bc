"""Dial-time rules and the campaign store: who may be called now, what an outcome makes of a
lead, and an attempt that is never placed twice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callflow.dialer.campaign import Campaign, parse_campaign
from callflow.dialer.rules import (
    UK_LOCKOUT,
    after_attempt,
    read_do_not_call,
    refusal,
    retry_delay,
    unanswered,
)
from callflow.store import SqliteStore

NOON_UTC = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC).timestamp()
CAMPAIGN = Campaign(name="c", dial_mode="progressive", max_attempts=3, retry={"busy": 60.0})


def lead(**values: object) -> dict[str, object]:
    return {"number": "+15550100108", "timezone": "UTC", "state": "ready", "attempts": 0,
            "next_at": 0.0, "abandoned_at": None, **values}  # fmt: skip


def test_a_due_lead_within_hours_may_be_called() -> None:
    """Ready, attempts left, due, noon at the lead's zone: no refusal."""
    assert refusal(CAMPAIGN, lead(), NOON_UTC) is None


@pytest.mark.parametrize(
    ("values", "dnc", "reason"),
    [
        ({}, {"+15550100108"}, "do-not-call"),
        ({"timezone": "Pacific/Auckland"}, set(), "outside calling hours"),  # 01:00 there
        ({"attempts": 3}, set(), "no attempts left"),
        ({"next_at": NOON_UTC + 1}, set(), "retry not due"),
        ({"abandoned_at": NOON_UTC - UK_LOCKOUT + 60}, set(), "abandoned within 72 hours"),
        ({"state": "done"}, set(), "lead done"),
    ],
)
def test_each_rule_is_checked_at_dial_time(
    values: dict[str, object], dnc: set[str], reason: str
) -> None:
    """The do-not-call list, the lead's local hours, attempts, retry time, the UK lockout."""
    assert refusal(CAMPAIGN, lead(**values), NOON_UTC, dnc) == reason


def test_the_uk_lockout_holds_72_hours_whatever_the_retry_says() -> None:
    """retry.abandoned of 1 h is raised to 72 h under uk-24h; kept without it."""
    text = "name: c\ndial_mode: progressive\nretry: {abandoned: 1h}\n"
    campaign, _ = parse_campaign("c.yaml", text)
    assert campaign is not None
    assert retry_delay(campaign, "abandoned") == UK_LOCKOUT
    us, _ = parse_campaign("c.yaml", text + "abandonment: {windows: [us-30d]}\n")
    assert us is not None and retry_delay(us, "abandoned") == 3600.0
    gone = refusal(us, lead(abandoned_at=NOON_UTC - 60), NOON_UTC)
    assert gone is None


def test_outcomes_make_a_lead_done_failed_retried_or_exhausted() -> None:
    """Connected is done, invalid fails for good, others wait their delay until attempts
    run out; causes map to outcomes."""
    assert after_attempt(CAMPAIGN, "connected", 1, 0).state == "done"
    assert after_attempt(CAMPAIGN, "invalid", 1, 0).state == "failed"
    assert after_attempt(CAMPAIGN, "busy", 1, 100).next_at == 160
    assert after_attempt(CAMPAIGN, "congestion", 1, 100).next_at == 160  # waits as busy
    assert after_attempt(CAMPAIGN, "no_answer", 3, 0).state == "exhausted"
    assert [unanswered(c) for c in (None, 17, 19, 34, 1, 99)] == [
        "no_answer", "busy", "no_answer", "congestion", "invalid", "failed",
    ]  # fmt: skip


def test_a_do_not_call_file_takes_one_number_a_line_with_comments() -> None:
    """Blank lines and comments are skipped."""
    text = "# list\n+15550100107  # asked\n\n+44 20 7946 0000\n"
    assert read_do_not_call(text) == {"+15550100107", "+442079460000"}


def test_campaign_prompts_are_checked_and_spoken_texts_listed() -> None:
    """safe_harbor and machine_message: sounds and say: texts, each at its place if wrong."""
    campaign, diagnostics = parse_campaign(
        "c.yaml",
        "name: c\ndial_mode: progressive\nsafe_harbor: [{say: Hi}, {sound: custom/x}]\n"
        "machine_message: {say: Bye}\ndo_not_call: dnc.txt\n",
    )
    assert diagnostics == [] and campaign is not None
    assert campaign.say_texts() == {("Hi", "en-us"), ("Bye", "en-us")}
    assert campaign.do_not_call == "dnc.txt"
    _, wrong = parse_campaign(
        "c.yaml", "name: c\ndial_mode: progressive\nsafe_harbor: {sound: ../x}\n"
    )
    assert [str(d) for d in wrong] == [
        "c.yaml:3:22: error: 'safe_harbor': '../x' is not a sound name (letters, digits, _ - . /)"
    ]


async def test_an_attempt_is_claimed_once_and_a_reimport_keeps_the_leads_state(
    tmp_path: Path,
) -> None:
    """The second claim of the same number and attempt is refused (never dialed twice); a
    re-import updates the lead's fields and keeps its attempts."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        store.import_leads("c", [{"number": "+15550100108", "timezone": "UTC", "line": 2}])
        row = {"id": "dl1", "campaign": "c", "number": "+15550100108", "attempt": 1,
               "state": "dialing", "dialed_at": 1.0}  # fmt: skip
        lead_row = {"campaign": "c", "number": "+15550100108", "state": "dialing", "attempts": 1}
        assert await store.claim_attempt(row, lead_row)
        assert not await store.claim_attempt({**row, "id": "dl2"}, lead_row)
        store.save_attempt({**row, "state": "ended", "outcome": "busy", "ended_at": 2.0},
                           {**lead_row, "state": "ready", "next_at": 60.0})  # fmt: skip
        store.import_leads("c", [{"number": "+15550100108", "fields": {"name": "Ann"}}])
        [kept] = store.campaign_leads("c")
        assert (kept["attempts"], kept["state"], kept["fields"]) == (1, "ready", {"name": "Ann"})
        [attempt] = store.campaign_attempts("c")
        assert (attempt["id"], attempt["outcome"]) == ("dl1", "busy")
        kinds = [(e.kind, e.data["state"]) for e in store.events(kind="campaign.attempt")]
        assert kinds == [("campaign.attempt", "dialing"), ("campaign.attempt", "ended")]
        store.set_campaign_state("c", "running")
        assert store.campaign_states() == {"c": "running"}
    finally:
        store.close()


async def test_due_leads_come_a_page_at_a_time_in_import_order(tmp_path: Path) -> None:
    """Only ready leads whose time has come, by CSV line, from past the last one read."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        numbers = [f"+1555010010{i}" for i in range(5)]
        store.import_leads("c", [{"number": n, "line": 9 - i} for i, n in enumerate(numbers)])
        row = {"id": "dl1", "campaign": "c", "number": numbers[0], "attempt": 1,
               "state": "dialing", "dialed_at": 1.0}  # fmt: skip
        lead_row = {"campaign": "c", "number": numbers[0], "state": "dialing", "attempts": 1}
        assert await store.claim_attempt(row, lead_row)
        first = store.due_leads("c", 0.0, limit=2)
        assert [x["number"] for x in first] == [numbers[4], numbers[3]]
        rest = store.due_leads("c", 0.0, after=(first[-1]["line"], first[-1]["number"]))
        assert [x["number"] for x in rest] == [numbers[2], numbers[1]]  # numbers[0] is dialing
    finally:
        store.close()
