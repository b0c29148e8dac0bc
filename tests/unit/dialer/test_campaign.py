"""Campaign files and lead lists: every problem at its file:line:column, nothing dropped."""

from __future__ import annotations

import pytest

from callflow.dialer.campaign import LeadColumns, campaign_schema, parse_campaign, parse_leads

GOOD = """\
name: renewals
dial_mode: predictive
abandonment:
  cap: 3
  windows: [us-30d, uk-24h]
  amd_false_positive: 1
  margin: 0.5
calling_hours: {start: "09:00", end: "20:30"}
ring_at_least: 20s
max_attempts: 5
retry: {no_answer: 2h, busy: 10m, abandoned: 72h}
agents: [alice, bob]
leads:
  number: phone
  timezone: tz
  default_timezone: America/New_York
  fields: [first_name, account]
"""


def test_a_good_campaign_reads_into_shares_minutes_and_seconds() -> None:
    """Percent become shares, HH:MM minutes after midnight, durations seconds."""
    campaign, diagnostics = parse_campaign("c.yaml", GOOD)
    assert diagnostics == []
    assert campaign is not None
    assert campaign.dial_mode == "predictive"
    assert campaign.abandonment.cap == pytest.approx(0.03)
    assert campaign.abandonment.amd_false_positive == pytest.approx(0.01)
    assert campaign.abandonment.windows == ("us-30d", "uk-24h")
    assert campaign.calling_hours == (9 * 60, 20 * 60 + 30)
    assert campaign.ring_at_least == 20.0
    assert campaign.retry == {"no_answer": 7200.0, "busy": 600.0, "abandoned": 259200.0}
    assert campaign.leads.fields == ("first_name", "account")


def test_every_mistake_is_reported_at_its_place_with_a_suggestion() -> None:
    """A misspelt key, a short ring, a wrong window, a bad clock and an unknown zone: all of
    them, each at file:line:column."""
    text = """\
name: renewals
dial_mode: predictve
abandonment:
  windows: [us-30d, eu-1h]
calling_hours: {start: "9am"}
ring_at_least: 10
max_atempts: 3
leads:
  number: phone
  default_timezone: Mars/Olympus
"""
    campaign, diagnostics = parse_campaign("c.yaml", text)
    assert campaign is None
    lines = [str(d) for d in diagnostics]
    assert any(line.startswith("c.yaml:2:12:") and "'predictive'" in line for line in lines)
    assert any(line.startswith("c.yaml:4:21:") and "eu-1h" in line for line in lines)
    assert any(line.startswith("c.yaml:5:24:") for line in lines)
    assert any(line.startswith("c.yaml:6:16:") and "at least 15" in line for line in lines)
    assert any(line.startswith("c.yaml:7:1:") and "'max_attempts'" in line for line in lines)
    assert any(line.startswith("c.yaml:10:21:") and "Mars/Olympus" in line for line in lines)


def test_ratio_mode_needs_a_ratio_and_a_margin_stays_under_the_cap() -> None:
    """dial_mode: ratio without a ratio, and a margin as big as the cap, are errors."""
    text = "name: x\ndial_mode: ratio\nabandonment: {cap: 3, margin: 3}\n"
    campaign, diagnostics = parse_campaign("c.yaml", text)
    assert campaign is None
    messages = " | ".join(d.message for d in diagnostics)
    assert "needs a 'ratio'" in messages and "less than the cap" in messages


def test_the_schema_comes_from_the_same_table() -> None:
    """The JSON Schema lists the checker's keys and requires name and dial_mode."""
    schema = campaign_schema()
    assert set(schema["properties"]) >= {"name", "dial_mode", "abandonment", "leads"}
    assert set(schema["required"]) == {"name", "dial_mode"}


COLUMNS = LeadColumns("phone", "tz", "America/New_York", ("first_name",))


def test_leads_are_e164_with_a_zone_and_their_fields() -> None:
    """Good rows become leads: E.164, the row's zone or the default, the screen fields."""
    csv_text = "phone,tz,first_name\n+12025550143,,Ann\n020 7946 0958,Europe/London,Bob\n"
    leads, diagnostics = parse_leads("l.csv", "phone,tz,first_name\n+12025550143,,Ann\n", COLUMNS)
    assert diagnostics == []
    assert [(x.number, x.timezone, dict(x.fields), x.line) for x in leads] == [
        ("+12025550143", "America/New_York", {"first_name": "Ann"}, 2)
    ]
    leads, diagnostics = parse_leads("l.csv", csv_text, COLUMNS)
    assert [d.location.line for d in diagnostics] == [3]  # spaces are refused, not dropped


def test_bad_rows_are_reported_with_their_line_and_the_good_ones_kept() -> None:
    """A refused number, an unknown zone and a quoted multi-line field: each bad row named by
    the line it starts on; the rows after still count."""
    csv_text = (
        "phone,tz,first_name\n"
        "+12025550143,,Ann\n"
        "911,,Emergency\n"
        '+12025550144,Mars/Olympus,"two\nlines"\n'
        "+12025550145,America/Chicago,Cy\n"
    )
    leads, diagnostics = parse_leads("l.csv", csv_text, COLUMNS)
    assert [x.number for x in leads] == ["+12025550143", "+12025550145"]
    assert [str(d.location) for d in diagnostics] == ["l.csv:3:1", "l.csv:4:2"]
    assert "emergency" in diagnostics[0].message
    assert "Mars/Olympus" in diagnostics[1].message
    assert leads[1].line == 6


def test_a_number_twice_is_one_lead_the_later_row_winning() -> None:
    """A re-import updates: the same number twice is one lead, with a warning."""
    csv_text = "phone,tz,first_name\n+12025550143,,Ann\n+1 202 555 0143,,x\n+12025550143,,Annie\n"
    leads, diagnostics = parse_leads("l.csv", csv_text, COLUMNS)
    assert [dict(x.fields) for x in leads] == [{"first_name": "Annie"}]
    assert any(not d.is_error and "line 2" in d.message for d in diagnostics)


def test_a_missing_column_is_reported_once_in_the_header() -> None:
    """A campaign naming a column the file lacks: one error at line 1, no lead read."""
    leads, diagnostics = parse_leads("l.csv", "number,tz\n+12025550143,\n", COLUMNS)
    assert leads == []
    assert [str(d.location) for d in diagnostics] == ["l.csv:1:1", "l.csv:1:1"]
    assert "'phone'" in diagnostics[0].message or "'phone'" in diagnostics[1].message


def test_preview_reads_its_timeout_and_what_then_with_skip_the_default() -> None:
    """``preview: {timeout, on_timeout}``: seconds and dial or skip; no block: no timeout;
    ``retry.skipped``: how long a skipped lead is shown to nobody."""
    text = "name: p\ndial_mode: preview\npreview: {timeout: 20s, on_timeout: dial}\n"
    campaign, diagnostics = parse_campaign("c.yaml", text + "retry: {skipped: 30m}\n")
    assert diagnostics == [] and campaign is not None
    assert (campaign.preview.timeout, campaign.preview.on_timeout) == (20.0, "dial")
    assert campaign.retry == {"skipped": 1800.0}
    campaign, _ = parse_campaign("c.yaml", "name: p\ndial_mode: preview\npreview: {timeout: 5}\n")
    assert campaign is not None and campaign.preview.on_timeout == "skip"
    campaign, _ = parse_campaign("c.yaml", "name: p\ndial_mode: preview\n")
    assert campaign is not None and campaign.preview.timeout is None


def test_preview_mistakes_are_reported_at_their_place() -> None:
    """A misspelt key, a wrong word, a zero timeout, and a preview block in another mode."""
    text = "name: p\ndial_mode: preview\npreview:\n  timeout: 0\n  on_timout: dial\n"
    campaign, diagnostics = parse_campaign("c.yaml", text)
    assert campaign is None
    lines = [str(d) for d in diagnostics]
    assert any(line.startswith("c.yaml:4:12:") and "timeout" in line for line in lines), lines
    assert any(line.startswith("c.yaml:5:3:") and "'on_timeout'" in line for line in lines), lines
    text = "name: p\ndial_mode: preview\npreview: {on_timeout: call}\n"
    _, diagnostics = parse_campaign("c.yaml", text)
    assert [str(d.location) for d in diagnostics] == ["c.yaml:3:23"], diagnostics
    assert "'dial'" in diagnostics[0].message or "dial" in diagnostics[0].message
    text = "name: p\ndial_mode: progressive\npreview: {timeout: 20}\n"
    campaign, diagnostics = parse_campaign("c.yaml", text)
    assert campaign is None
    assert [str(d) for d in diagnostics] == [
        "c.yaml:3:10: error: 'preview' is for dial_mode: preview, not progressive"
    ]
