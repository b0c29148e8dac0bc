"""Tests for the outbound dial template: only E.164 numbers reach a dial string, and the
``outbound:`` settings are read and checked like every other key."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest

from callflow.app.settings import read_settings, settings_schema
from callflow.call.outbound import (
    AMD_CONTEXT,
    GREETING_EXTENSION,
    GREETING_LIMIT,
    GreetingEnd,
    InvalidNumber,
    OutboundSettings,
    e164,
    greeting_end_of,
    originate_endpoint,
    template_problem,
)

SANDBOX = OutboundSettings()
ROOT = Path(__file__).resolve().parents[3]

HOSTILE = [
    "",
    "+",
    "+12345",  # 5 digits: too short
    "+1234567890123456",  # 16 digits: too long
    "15550100123",  # no +
    "++15550100123",
    "+1 555 0100 123",
    "+1-555-0100-123",
    "+15550100123&PJSIP/agent1",
    "+15550100123,30,tT",
    "+15550100123@evil.example",
    "+15550100123/sip:x@evil",
    "+1555010012;transport=tcp",
    "+1555*0100#",
    "+15550100123\n",
    " +15550100123",
    "+1555O100123",  # letter O
    "+" + "".join(chr(0xFF10 + int(d)) for d in "15550100123"),  # full-width: isdigit() is True
    "+" + "".join(chr(0x0660 + int(d)) for d in "15550100123"),  # Arabic-Indic digits
    "${CALLERID(num)}",
    "{number}",
    "sip:+15550100123@pstn",
]


@pytest.mark.parametrize("number", ["+155501", "+15550100123", "+442079460000", "+" + "9" * 15])
def test_an_e164_number_becomes_the_trunks_endpoint(number: str) -> None:
    """A '+' and 6 to 15 digits goes into the template as it is."""
    assert originate_endpoint(number, SANDBOX) == f"PJSIP/{number}@pstn"


@pytest.mark.parametrize("number", HOSTILE)
def test_anything_else_is_refused_with_a_clear_error(number: str) -> None:
    """Whatever is not '+' then 6 to 15 ASCII digits never reaches a dial string."""
    with pytest.raises(InvalidNumber, match=r"is not an E\.164 number"):
        originate_endpoint(number, SANDBOX)


@pytest.mark.parametrize("value", [None, 15550100123, 1.5e10, b"+15550100123"])
def test_a_value_that_is_not_text_is_refused(value: object) -> None:
    """A number that arrives as an int, bytes or None is refused, not converted."""
    with pytest.raises(InvalidNumber):
        e164(value)


def test_digits_placeholder_drops_the_plus() -> None:
    """{digits} is the number without its '+', for providers that want it so."""
    provider = OutboundSettings(endpoint="PJSIP/{digits}@provider", ring_timeout=30)
    assert originate_endpoint("+15550100123", provider) == "PJSIP/15550100123@provider"


@pytest.mark.parametrize(
    "template",
    [
        "PJSIP/pstn",  # no placeholder
        "PJSIP/{number}@pstn&PJSIP/{number}@other",
        "PJSIP/{number}@pstn,30",
        "PJSIP/{number}@{digits}",
        "{number}",
        "PJSIP/{numbr}@pstn",
        "PJSIP/{number} @pstn",
    ],
)
def test_an_unusable_template_is_refused(template: str) -> None:
    """A template must be TECH/resource with exactly one placeholder and no separators."""
    assert template_problem(template) is not None
    with pytest.raises(ValueError, match="template"):
        OutboundSettings(endpoint=template)


def _read(tmp_path: Path, text: str) -> tuple[OutboundSettings | None, list[str]]:
    path = tmp_path / "callflow.yaml"
    path.write_text("flows: []\n" + text)
    settings, diagnostics = read_settings(path)
    return (settings.outbound if settings else None), [d.line() for d in diagnostics]


def test_the_outbound_section_is_read(tmp_path: Path) -> None:
    """outbound: endpoint, caller_id and ring_timeout become the settings' OutboundSettings."""
    outbound, problems = _read(
        tmp_path,
        "outbound:\n"
        '  endpoint: "PJSIP/{number}@pstn"\n'
        "  caller_id: +15550100000\n"
        "  ring_timeout: 20\n",
    )
    assert problems == []
    assert outbound == OutboundSettings("PJSIP/{number}@pstn", "+15550100000", 20)


def test_without_the_section_the_sandbox_trunk_is_used(tmp_path: Path) -> None:
    """No outbound: key means PJSIP/{number}@pstn, no caller ID, 25 s of ringing."""
    outbound, problems = _read(tmp_path, "")
    assert problems == []
    assert outbound == OutboundSettings()
    assert outbound is not None and outbound.ring_timeout == 25


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("outbound: {endpoint: 'PJSIP/pstn'}", "endpoint"),
        ("outbound: {endpoint: 'PJSIP/{number}&Local/x'}", "endpoint"),
        ("outbound: {caller_id: 'evil; sip:x'}", "caller_id"),
        ("outbound: {ring_timeout: 0}", "ring_timeout"),
    ],
)
def test_a_wrong_outbound_value_is_an_error_at_its_place(
    tmp_path: Path, text: str, expected: str
) -> None:
    """A wrong template, caller ID or ring time is reported at its file:line:column."""
    outbound, problems = _read(tmp_path, text + "\n")
    assert outbound is None
    assert any(re.search(rf"yaml:2:2[0-9]: error: outbound\.{expected}", p) for p in problems), (
        problems
    )


def test_a_misspelt_outbound_key_gets_a_suggestion(tmp_path: Path) -> None:
    """An unknown key in outbound: is an error that names the nearest known key."""
    outbound, problems = _read(tmp_path, "outbound: {ringtimeout: 25}\n")
    assert outbound is None
    assert any("did you mean 'ring_timeout'" in p for p in problems), problems


@pytest.mark.parametrize(
    ("endpoint", "valid"),
    [
        ("PJSIP/{number}@pstn", True),
        ("PJSIP/{digits}@provider", True),
        ("PJSIP/{number}@pstn&PJSIP/agent1", False),
        ("PJSIP/{number}@pstn,30", False),
        ("PJSIP/pstn", False),
    ],
)
def test_the_schema_and_the_reader_agree_on_the_template(
    tmp_path: Path, endpoint: str, valid: bool
) -> None:
    """The editor's JSON Schema refuses the templates the reader refuses."""
    validator = jsonschema.Draft202012Validator(settings_schema())
    schema_ok = validator.is_valid({"flows": [], "outbound": {"endpoint": endpoint}})
    outbound, _ = _read(tmp_path, f"outbound: {{endpoint: '{endpoint}'}}\n")
    assert schema_ok is valid
    assert (outbound is not None) is valid


@pytest.mark.parametrize(
    ("args", "end"),
    [
        (("outbound", "GREETING", "SILENCE", "5230"), GreetingEnd("SILENCE", 5.23)),
        (("outbound", "GREETING", "TIMEOUT", "10004"), GreetingEnd("TIMEOUT", 10.004)),
        (("outbound", "GREETING", "SILENCE", ""), GreetingEnd("SILENCE", None)),
        (("outbound", "GREETING", "SILENCE", "-5"), GreetingEnd("SILENCE", None)),
        (("outbound", "GREETING", "SILENCE", "\uff15"), GreetingEnd("SILENCE", None)),
        (("outbound", "GREETING"), GreetingEnd("UNKNOWN", None)),
        (("outbound", "MACHINE", "LONGGREETING-1500-1500"), GreetingEnd("UNKNOWN", None)),
    ],
)
def test_the_dialplans_word_on_a_greetings_end_is_read(
    args: tuple[str, ...], end: GreetingEnd
) -> None:
    assert greeting_end_of(args) == end


def test_the_dialplan_waits_out_a_greeting_as_the_app_expects() -> None:
    """The AMD context's greeting extension waits for a second of quiet within
    GREETING_LIMIT s and returns with (GREETING, status, ms); its module is loaded."""
    text = (ROOT / "dialplan" / "callflow.conf").read_text()
    context = text.split(f"[{AMD_CONTEXT}]", 1)[1].split("\n[", 1)[0]
    lines = context.splitlines()
    start = lines.index(next(x for x in lines if x.startswith(f"exten => {GREETING_EXTENSION},1")))
    steps = [x for x in lines[start + 1 :] if x.startswith(" same => ")]
    apps = [x.removeprefix(" same => n,").split("(", 1)[0] for x in steps]
    assert apps == ["Set", "WaitForSilence", "Stasis", "Hangup"], steps
    assert f"WaitForSilence(1000,1,{GREETING_LIMIT:.0f})" in steps[1]
    assert "Stasis(${CALLFLOW_APP},outbound,GREETING,${WAITSTATUS}," in steps[2]
    modules = (ROOT / "docker" / "asterisk" / "etc" / "modules.conf").read_text().splitlines()
    assert "load = app_waitforsilence.so" in modules
