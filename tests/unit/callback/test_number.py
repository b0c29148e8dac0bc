"""Callback numbers: what a caller types or their caller ID says, made E.164 or refused.

The hostile corpus below is what an attacker (or a confused caller, or a spoofed caller ID)
would try: dial-string and dialplan-function injection, other scripts' digits, control
characters, URIs, emergency and premium numbers, absurd lengths."""

# ruff: noqa: RUF001 -- look-alike digits (fullwidth, other scripts) are the point here

from __future__ import annotations

import random
import string

import pytest

from callflow.callback.number import (
    DEFAULT_RULES,
    MAX_INPUT,
    PLANS,
    NumberingPlan,
    NumberRules,
    PhoneNumber,
    Refusal,
    Refused,
    dialable,
    normalise,
)

R = Refusal

ACCEPTED = [
    # (typed or caller ID, default country, E.164)
    ("+15550000001", "US", "+15550000001"),  # the sandbox's caller IDs
    ("5550100123", "US", "+15550100123"),  # ten digits, NANP
    ("15550100123", "US", "+15550100123"),  # with NANP's trunk prefix 1
    ("2125550100", "US", "+12125550100"),
    ("+14165550123", "US", "+14165550123"),  # Toronto: NANP too
    ("4165550123", "CA", "+14165550123"),
    ("011442079460000", "US", "+442079460000"),  # NANP's international prefix
    ("+442079460000", "US", "+442079460000"),
    ("02079460000", "GB", "+442079460000"),  # GB trunk prefix 0
    ("2079460000", "GB", "+442079460000"),  # GB national number without its trunk 0
    ("07700900123", "GB", "+447700900123"),  # UK mobile
    ("00442079460000", "GB", "+442079460000"),  # 00 international prefix
    ("0015550100123", "GB", "+15550100123"),  # from GB to NANP
    ("+33112345678", "US", "+33112345678"),
    ("0112345678", "FR", "+33112345678"),
    ("+4930123456", "US", "+4930123456"),  # Berlin: German numbers vary in length
    ("+49911555123", "US", "+49911555123"),  # Nuremberg's area code 911 is not 911
    ("09115551234", "DE", "+499115551234"),
    ("0612345678", "IT", "+390612345678"),  # Italy keeps its leading 0
    ("+61212345678", "US", "+61212345678"),
    ("0011442079460000", "AU", "+442079460000"),  # Australia's 0011
    ("+919876543210", "US", "+919876543210"),
    ("912345678", "ES", "+34912345678"),
]

REFUSED = [
    # (input, default country, reason)
    # -- empty, lengths
    ("", "US", R.EMPTY),
    ("+", "US", R.EMPTY),
    ("5", "US", R.TOO_SHORT),
    ("555", "US", R.TOO_SHORT),
    ("555010012", "US", R.TOO_SHORT),
    ("555010012345", "US", R.TOO_LONG),
    ("+1555010012", "US", R.TOO_SHORT),
    ("+155501001234", "US", R.TOO_LONG),
    ("0114420794600", "US", R.TOO_SHORT),
    ("+4420794600001", "US", R.TOO_LONG),
    ("+49301234567890123", "US", R.TOO_LONG),  # over E.164's 15 digits
    ("9" * 16, "US", R.TOO_LONG),
    ("1" * MAX_INPUT, "US", R.TOO_LONG),
    ("1" * (MAX_INPUT + 1), "US", R.TOO_LONG),
    ("5" * 10_000, "US", R.TOO_LONG),
    ("+" + "1" * 1_000_000, "US", R.TOO_LONG),
    # -- emergency and service codes, however written
    ("911", "US", R.EMERGENCY),
    ("+911", "US", R.EMERGENCY),
    ("1911", "US", R.EMERGENCY),  # trunk prefix + 911
    ("+1911", "US", R.EMERGENCY),
    ("9110", "US", R.EMERGENCY),  # 911 and a slip of the finger
    ("9115550100", "US", R.INVALID),  # area code 911 does not exist
    ("112", "US", R.EMERGENCY),
    ("112", "DE", R.EMERGENCY),
    ("+49112", "US", R.EMERGENCY),
    ("0049112", "GB", R.EMERGENCY),
    ("011 49 112", "US", R.BAD_CHARACTER),
    ("999", "GB", R.EMERGENCY),
    ("+44999", "US", R.EMERGENCY),
    ("0999", "GB", R.EMERGENCY),
    ("999", "US", R.EMERGENCY),  # global list: a caller abroad dials their own
    ("000", "AU", R.EMERGENCY),
    ("000", "US", R.EMERGENCY),
    ("+61000", "US", R.EMERGENCY),
    ("110", "DE", R.EMERGENCY),
    ("116117", "DE", R.EMERGENCY),
    ("+49116117", "US", R.EMERGENCY),
    ("15", "FR", R.EMERGENCY),
    ("17", "FR", R.EMERGENCY),
    ("+3318", "US", R.EMERGENCY),
    ("119", "JP", R.EMERGENCY),
    ("933", "US", R.EMERGENCY),
    ("988", "US", R.EMERGENCY),
    ("411", "US", R.EMERGENCY),  # N11 service codes are refused with them
    ("4115550100", "US", R.INVALID),  # N11 is no area code
    ("111", "NZ", R.EMERGENCY),
    ("190", "BR", R.EMERGENCY),
    # -- premium and other blocked prefixes
    ("19005550100", "US", R.BLOCKED),
    ("+19005550100", "US", R.BLOCKED),
    ("9005550100", "US", R.BLOCKED),
    ("+19765550100", "US", R.BLOCKED),
    ("09012345678", "GB", R.BLOCKED),  # UK 09
    ("+449012345678", "US", R.BLOCKED),
    ("08712345678", "GB", R.BLOCKED),
    ("+49900123456", "US", R.BLOCKED),  # Germany 0900
    ("0900123456", "DE", R.BLOCKED),
    ("+31900123456", "US", R.BLOCKED),  # Netherlands 0900
    ("0900123456", "NL", R.BLOCKED),
    ("0899123456", "FR", R.BLOCKED),
    ("1900123456", "AU", R.BLOCKED),
    ("+34806123456", "US", R.BLOCKED),
    ("2129765555", "US", R.BLOCKED),  # NANP 976 exchange: premium in any area code
    ("+12129765555", "US", R.BLOCKED),
    ("07012345678", "GB", R.BLOCKED),  # UK 070 personal numbers
    ("08451234567", "GB", R.BLOCKED),  # UK 084 service charge
    ("01801234567", "DE", R.BLOCKED),
    # -- countries
    ("+999123456789", "US", R.UNKNOWN_COUNTRY),
    ("+8821234567890", "US", R.UNKNOWN_COUNTRY),  # international networks (premium-priced)
    ("+870123456789", "US", R.UNKNOWN_COUNTRY),  # Inmarsat
    ("+0123456789", "US", R.UNKNOWN_COUNTRY),
    ("+000", "US", R.EMERGENCY),
    ("011", "US", R.TOO_SHORT),
    ("+442079460000", "US+CA", R.COUNTRY_NOT_ALLOWED),
    ("011442079460000", "US+CA", R.COUNTRY_NOT_ALLOWED),
    # -- the plan's leading digits
    ("0550100123", "US", R.INVALID),  # NANP area codes start 2-9
    ("10550100123", "US", R.INVALID),
    ("+440207946000", "US", R.INVALID),  # +44 then the trunk 0: not E.164
    ("+44000000000", "US", R.INVALID),
    ("+34123456789", "US", R.INVALID),
    # -- letters and keys
    ("1-800-FLOWERS", "US", R.BAD_CHARACTER),
    ("800FLOWERS", "US", R.BAD_CHARACTER),
    ("5550100l23", "US", R.BAD_CHARACTER),  # a lower-case L for a 1
    ("555O100123", "US", R.BAD_CHARACTER),  # a capital O for a 0
    ("0x5550100", "US", R.BAD_CHARACTER),
    ("5550100123e0", "US", R.BAD_CHARACTER),
    ("*67 5550100123", "US", R.BAD_CHARACTER),
    ("*675550100123", "US", R.BAD_CHARACTER),  # caller ID blocking prefix
    ("#5550100123", "US", R.BAD_CHARACTER),
    ("5550100123#", "US", R.BAD_CHARACTER),
    ("5550100123*1", "US", R.BAD_CHARACTER),
    ("*", "US", R.BAD_CHARACTER),
    ("#", "US", R.BAD_CHARACTER),
    ("**", "US", R.BAD_CHARACTER),
    ("5550100123w1234", "US", R.BAD_CHARACTER),  # wait-then-dial (w, p)
    ("5550100123p1234", "US", R.BAD_CHARACTER),
    ("5550100123x12", "US", R.BAD_CHARACTER),  # extension
    ("555.010.0123", "US", R.BAD_CHARACTER),
    ("555-010-0123", "US", R.BAD_CHARACTER),
    ("(555) 0100123", "US", R.BAD_CHARACTER),
    ("+1 555 010 0123", "US", R.BAD_CHARACTER),
    (" 5550100123", "US", R.BAD_CHARACTER),
    ("5550100123 ", "US", R.BAD_CHARACTER),
    ("  ", "US", R.BAD_CHARACTER),
    ("anonymous", "US", R.BAD_CHARACTER),  # caller ID withheld
    ("Anonymous", "US", R.BAD_CHARACTER),
    ("unknown", "US", R.BAD_CHARACTER),
    ("restricted", "US", R.BAD_CHARACTER),
    ('"Bob" <5550100123>', "US", R.BAD_CHARACTER),
    ("<5550100123>", "US", R.BAD_CHARACTER),
    ("5550100123!", "US", R.BAD_CHARACTER),
    ("5550100123\\", "US", R.BAD_CHARACTER),
    ("'5550100123'", "US", R.BAD_CHARACTER),
    ("5550100123%00", "US", R.BAD_CHARACTER),
    ("-5550100123", "US", R.BAD_CHARACTER),
    ("5550100123.0", "US", R.BAD_CHARACTER),
    ("1e10", "US", R.BAD_CHARACTER),
    ("NaN", "US", R.BAD_CHARACTER),
    ("[5550100123]", "US", R.BAD_CHARACTER),
    ("{number}", "US", R.BAD_CHARACTER),
    ("{5550100123}", "US", R.BAD_CHARACTER),
    ("5550100123:5060", "US", R.BAD_CHARACTER),
    ("`id`", "US", R.BAD_CHARACTER),
    ("555\t0100123", "US", R.CONTROL_CHARACTER),
    # -- misplaced plus
    ("++15550100123", "US", R.MISPLACED_PLUS),
    ("1+5550100123", "US", R.MISPLACED_PLUS),
    ("5550100123+", "US", R.MISPLACED_PLUS),
    ("+1+5550100123", "US", R.MISPLACED_PLUS),
    # -- dial-string and dialplan injection
    ("5550100123&PJSIP/alice", "US", R.DIAL_SYNTAX),  # & forks a Dial
    ("5550100123&5550100124", "US", R.DIAL_SYNTAX),
    ("&5550100123", "US", R.DIAL_SYNTAX),
    ("5550100123,30,tT", "US", R.DIAL_SYNTAX),  # , adds Dial options
    ("5550100123,,D(1)", "US", R.DIAL_SYNTAX),
    ("5550100123;transport=tcp", "US", R.DIAL_SYNTAX),
    ("5550100123;", "US", R.DIAL_SYNTAX),
    ("5550100123/n", "US", R.DIAL_SYNTAX),  # Local channel options
    ("Local/5550100123@default", "US", R.URI),
    ("PJSIP/5550100123@pstn", "US", R.URI),
    ("PJSIP/alice", "US", R.URI),
    ("pjsip/alice", "US", R.URI),
    ("IAX2/user:secret@host/5550100123", "US", R.URI),
    ("SIP/5550100123", "US", R.DIAL_SYNTAX),
    ("DAHDI/g1/5550100123", "US", R.DIAL_SYNTAX),
    ("${SHELL(rm -rf /)}", "US", R.DIAL_SYNTAX),
    ("${CALLERID(num)}", "US", R.DIAL_SYNTAX),
    ("${EXTEN}", "US", R.DIAL_SYNTAX),
    ("5550100123${EXTEN}", "US", R.DIAL_SYNTAX),
    ("$[1+1]", "US", R.DIAL_SYNTAX),
    ("$5550100123", "US", R.DIAL_SYNTAX),
    ("5550100123|r", "US", R.DIAL_SYNTAX),
    ("5550100123^30", "US", R.DIAL_SYNTAX),
    ("5550100123;$(reboot)", "US", R.DIAL_SYNTAX),
    # -- URIs
    ("sip:5550100123@pstn", "US", R.URI),
    ("sip:+15550100123@evil.example", "US", R.URI),
    ("SIP:5550100123@1.2.3.4", "US", R.URI),
    ("sips:5550100123@host", "US", R.URI),
    ("tel:+15550100123", "US", R.URI),
    ("TEL:5550100123", "US", R.URI),
    ("5550100123@pstn", "US", R.URI),
    ("5550100123@127.0.0.1:5060", "US", R.URI),
    ("@", "US", R.URI),
    ("sip:alice@example.com", "US", R.URI),
    ("<sip:5550100123@host>", "US", R.URI),
    ("sip:5550100123 @host", "US", R.URI),
    # -- control characters
    ("5550100123\x00", "US", R.CONTROL_CHARACTER),
    ("\x005550100123", "US", R.CONTROL_CHARACTER),
    ("555\x000100123", "US", R.CONTROL_CHARACTER),
    ("5550100123\r\n", "US", R.CONTROL_CHARACTER),
    ("5550100123\n", "US", R.CONTROL_CHARACTER),
    ("5550100123\r\nAction: Originate", "US", R.CONTROL_CHARACTER),  # AMI-style smuggling
    ("+15550100123\x7f", "US", R.CONTROL_CHARACTER),
    ("5550100123\x1b[2J", "US", R.CONTROL_CHARACTER),  # terminal escape into the logs
    ("\x08\x08\x08911", "US", R.CONTROL_CHARACTER),
    ("5550100123\v", "US", R.CONTROL_CHARACTER),
    ("5550100123\f", "US", R.CONTROL_CHARACTER),
    # -- other scripts' digits and look-alikes: refused, never translated
    ("٥٥٥٠١٠٠١٢٣", "US", R.NOT_ASCII),  # Arabic-Indic
    ("۵۵۵۰۱۰۰۱۲۳", "US", R.NOT_ASCII),  # Extended Arabic-Indic (Persian)
    ("५५५०१००१२३", "US", R.NOT_ASCII),  # Devanagari
    ("৫৫৫০১০০১২৩", "US", R.NOT_ASCII),  # Bengali
    ("๕๕๕๐๑๐๐๑๒๓", "US", R.NOT_ASCII),  # Thai
    ("５５５０１００１２３", "US", R.NOT_ASCII),  # fullwidth
    ("＋15550100123", "US", R.NOT_ASCII),  # fullwidth plus
    ("5550100１23", "US", R.NOT_ASCII),  # one fullwidth digit among ASCII
    ("𝟓𝟓𝟓𝟎𝟏𝟎𝟎𝟏𝟐𝟑", "US", R.NOT_ASCII),  # mathematical bold digits
    ("⁵⁵⁵⁰¹⁰⁰¹²³", "US", R.NOT_ASCII),  # superscripts
    ("①②③", "US", R.NOT_ASCII),  # circled
    ("Ⅴ", "US", R.NOT_ASCII),  # Roman numeral
    ("5550100123\u200b", "US", R.NOT_ASCII),  # zero-width space
    ("\ufeff5550100123", "US", R.NOT_ASCII),  # byte-order mark
    ("\u202e3210010555", "US", R.NOT_ASCII),  # right-to-left override
    ("555\u00a00100123", "US", R.NOT_ASCII),  # no-break space
    ("555\u20130100123", "US", R.NOT_ASCII),  # en dash
    ("5550100123\u0301", "US", R.NOT_ASCII),  # combining accent
    ("\u2795" + "15550100123", "US", R.NOT_ASCII),  # heavy plus sign
    ("\u2024", "US", R.NOT_ASCII),
    ("5550100123\udcff", "US", R.NOT_ASCII),  # a lone surrogate (undecodable bytes)
    ("\u0085", "US", R.NOT_ASCII),  # next line (C1 control)
]


def _rules(country: str) -> NumberRules:
    if country == "US+CA":
        return NumberRules("US", countries=frozenset({"US", "CA"}))
    return NumberRules(country)


@pytest.mark.parametrize(("text", "country", "e164"), ACCEPTED)
def test_plain_numbers_are_made_e164(text: str, country: str, e164: str) -> None:
    """A plain number, national or international, comes out as one E.164 number."""
    found = normalise(text, _rules(country))
    assert isinstance(found, PhoneNumber), found
    assert found.e164 == e164
    assert str(found) == e164


@pytest.mark.parametrize(("text", "country", "reason"), REFUSED, ids=repr)
def test_hostile_values_are_refused_with_their_reason(
    text: str, country: str, reason: Refusal
) -> None:
    """Anything but a plain number of valid length, outside emergency and blocked ranges,
    is refused, and the reason says which rule it broke."""
    found = normalise(text, _rules(country))
    assert isinstance(found, Refused), found
    assert found.reason is reason, found
    assert found.detail.isascii() and found.detail.isprintable()


def test_the_corpus_is_big() -> None:
    """The hostile corpus covers well over a hundred values."""
    assert len(REFUSED) >= 150


def test_the_detail_names_the_offending_character() -> None:
    """The detail says which character and where, never echoing unprintable input."""
    assert normalise("555&666") == Refused(R.DIAL_SYNTAX, "'&' at 4")
    assert normalise("5550100123\x00") == Refused(R.CONTROL_CHARACTER, "U+0000 at 11")
    found = normalise("٥")
    assert found == Refused(R.NOT_ASCII, "U+0665 ARABIC-INDIC DIGIT FIVE at 1")
    assert normalise("+1 555") == Refused(R.BAD_CHARACTER, "space at 3")
    assert normalise("19005550100") == Refused(R.BLOCKED, "+1900 is blocked")


def test_a_huge_input_is_refused_without_being_read() -> None:
    """A megabyte of digits is refused on its length alone, at once."""
    found = normalise("1" * 10_000_000)
    assert found == Refused(R.TOO_LONG, f"10000000 characters (at most {MAX_INPUT})")


def test_non_text_is_refused() -> None:
    """A value that is not text (bytes, a number) is refused, not converted."""
    for value in (b"5550100123", 5550100123, None):
        found = normalise(value)  # type: ignore[arg-type]
        assert isinstance(found, Refused) and found.reason is R.BAD_CHARACTER


def test_the_block_list_is_configurable() -> None:
    """A center may block more prefixes (or none): its list is what is refused."""
    rules = NumberRules("US", blocked_prefixes=("+1555",))
    assert normalise("5550100123", rules) == Refused(R.BLOCKED, "+1555 is blocked")
    assert isinstance(normalise("9005550100", rules), PhoneNumber)
    with pytest.raises(ValueError, match="not '\\+' and digits"):
        NumberRules("US", blocked_prefixes=("1900",))


def test_extra_emergency_codes_and_unknown_defaults() -> None:
    """A center may add codes refused everywhere; an unknown default country is an error."""
    rules = NumberRules("US", emergency=frozenset({"5550100123"}))
    assert normalise("5550100123", rules).reason is R.EMERGENCY  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="no numbering plan"):
        NumberRules("XX")
    with pytest.raises(ValueError, match="no numbering plan"):
        NumberRules("US", countries=frozenset({"XX"}))


def test_a_plan_table_of_ones_own() -> None:
    """A center calling a country not in the table adds its row: code, lengths, prefixes."""
    lux = NumberingPlan("LU", "352", frozenset(range(6, 12)), trunk_prefix="")
    rules = NumberRules("LU", plans={**PLANS, "LU": lux})
    found = normalise("621123456", rules)
    assert isinstance(found, PhoneNumber) and found.e164 == "+352621123456"
    assert found.plan == "LU" and found.national == "621123456"
    with pytest.raises(ValueError):
        NumberingPlan("X", "1a", frozenset({10}))
    with pytest.raises(ValueError):
        NumberingPlan("X", "1", frozenset({2}))


def test_output_is_idempotent_and_dialable() -> None:
    """Every accepted number reads back as itself and passes the last check before a dial."""
    for text, country, _ in ACCEPTED:
        found = normalise(text, _rules(country))
        assert isinstance(found, PhoneNumber)
        again = normalise(found.e164, _rules(country))
        assert again == found
        assert dialable(found.e164)


def test_dialable_is_strict() -> None:
    """dialable() takes '+' and 7 to 15 ASCII digits only."""
    assert dialable("+15550100123")
    for bad in ("15550100123", "+0123456789", "+1555", "+1234567890123456", "+١٢٣٤٥٦٧٨", "+1\n"):
        assert not dialable(bad)


def test_random_garbage_never_yields_anything_but_plus_and_digits() -> None:
    """Fuzz: whatever comes in (ASCII, unicode, controls), what comes out is refused or is
    '+' and ASCII digits only, dialable."""
    rng = random.Random(11)
    alphabet = (
        string.printable + "٠١٢٣٤٥٦٧٨٩０１２３４５６７８９\u200b\u202e\x00+" + "0123456789" * 6
    )
    accepted = 0
    for _ in range(20_000):
        chars = alphabet if rng.random() < 0.7 else "+0123456789"
        text = "".join(rng.choice(chars) for _ in range(rng.randint(0, 20)))
        found = normalise(text, DEFAULT_RULES)
        if isinstance(found, PhoneNumber):
            accepted += 1
            assert dialable(found.e164), text
            assert text.lstrip("+").isascii() and set(text) <= set("+0123456789"), text
        else:
            assert isinstance(found.reason, Refusal)
    assert accepted > 0  # the fuzz does reach valid numbers too


def test_every_digit_string_of_valid_nanp_length_is_judged_by_rules_alone() -> None:
    """Random 10-digit strings: accepted exactly when the area code is 2-9, not N11, not
    blocked (900, 976, or the 976 exchange)."""
    rng = random.Random(5)
    for _ in range(5_000):
        digits = "".join(rng.choice("0123456789") for _ in range(10))
        found = normalise(digits)
        area = digits[:3]
        expected = (
            area[0] in "23456789"
            and area[1:] != "11"
            and not digits.startswith(("900", "976"))
            and digits[3:6] != "976"
        )
        assert isinstance(found, PhoneNumber) is expected, (digits, found)
