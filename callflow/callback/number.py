"""Callback numbers: a typed or caller-ID value made an E.164 number, or refused with a reason.

A callback dials what a caller typed or what their caller ID said, so this is where hostile
text would reach a dial string. The rule is an allow-list: the only values accepted are an
optional leading ``+`` followed by ASCII digits, whose national part has a valid length for
a numbering plan this center calls, that is neither an emergency code nor under a blocked
(premium) prefix. Everything else is a :class:`Refused` with a :class:`Refusal` saying why
(for the prompt and the event log) and a detail naming the offending piece. Nothing is
"cleaned up": a space, a dash, a ``*`` or a letter is refused, not dropped, so a caller is
never called back at a number they did not quite give.

How a value is read, against the default country's plan (``NumberRules.default_country``):

- ``+<country code><national number>``: international, the plan chosen by its country code;
- ``<international prefix><country code><national number>`` (``011`` in NANP, ``00``
  in most of the world): the same;
- ``<trunk prefix><national number>`` (``1`` in NANP, ``0`` in most of Europe), or the
  national number alone: the default country's.

A plan (:class:`NumberingPlan`) is a row of a table: country code, national (significant)
number lengths, an optional pattern for its leading digits, trunk and international
prefixes, and its emergency and service codes. :data:`PLANS` holds NANP and a few dozen
others' worth of common ones; a center passes its own table to call elsewhere.

Checks, in order (the first that fails is the reason): input size, emptiness, control
characters, non-ASCII characters (Arabic-Indic or fullwidth digits included: they are
refused, not translated), URIs (``sip:``, ``tel:``, ``@``), dial-string syntax (``&``, ``,``,
``;``, ``/``, ``$``, ``|``, ``^``), any other character, a ``+`` not in front, an unknown or
not allowed country, emergency codes, lengths, the plan's leading digits, blocked prefixes.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

MAX_INPUT = 32
"""Longest text looked at: longer is refused at once (a 15-digit E.164 number with an
international prefix fits easily)."""
MAX_E164_DIGITS = 15  # ITU-T E.164: country code and national number together

DIAL_SYNTAX = "&,;/$|^"
"""Characters with a meaning in an Asterisk dial string or dialplan expression: ``&`` forks
a Dial, ``,`` and ``|`` separate arguments, ``/`` names a technology, ``$`` starts a
``${...}`` or ``$[...]`` expansion, ``;`` starts a channel option or a comment, ``^`` is an
escaped comma in some applications."""

GLOBAL_EMERGENCY = frozenset({"112", "911", "999", "000", "110", "119", "118"})
"""Emergency codes refused whatever the plan: a caller abroad dials their own."""

DEFAULT_BLOCKED = (
    "+1900",  # NANP premium rate
    "+1976",  # NANP premium (976 "party lines")
    "+449",  # UK 09: premium rate
    "+4487",  # UK 087: revenue share
    "+4484",  # UK 084: service charge
    "+4470",  # UK 070: "personal" numbers, priced like premium and much abused
    "+44118",  # UK 118: directory enquiries
    "+3389",  # France 089: premium
    "+3381",  # France 081: shared cost
    "+3382",  # France 082: shared cost
    "+49900",  # Germany 0900
    "+49137",  # Germany 0137: televoting
    "+49118",  # Germany 118xx: directory enquiries
    "+49180",  # Germany 0180: service numbers
    "+49190",  # Germany 0190: former premium range
    "+31900",  # Netherlands 0900
    "+31906",  # Netherlands 0906: adult
    "+31909",  # Netherlands 0909: entertainment
    "+32900",  # Belgium 0900
    "+3290",  # Belgium 090x
    "+41900",  # Switzerland 0900
    "+41906",  # Switzerland 0906: adult
    "+34803",  # Spain 803: adult
    "+34806",  # Spain 806: entertainment
    "+34807",  # Spain 807: professional services
    "+34905",  # Spain 905: televoting
    "+3989",  # Italy 89x: premium
    "+61190",  # Australia 190x: premium
    "+6490",  # New Zealand 0900
    "+35315",  # Ireland 15xx: premium
)
"""E.164 prefixes callbacks never dial (premium and revenue-share ranges); configurable."""

DEFAULT_BLOCKED_PATTERNS = (r"\+1[2-9]\d\d976\d{4}",)
"""Regular expressions of E.164 numbers callbacks never dial: NANP's 976 exchange (premium
"976 numbers" in any area code); configurable."""


class Refusal(enum.StrEnum):
    """Why a value is not a number a callback may dial."""

    EMPTY = "empty"
    TOO_LONG = "too_long"  # more digits than the plan allows, or than E.164 (or the input cap)
    TOO_SHORT = "too_short"
    CONTROL_CHARACTER = "control_character"  # NUL, CR, LF, TAB, DEL...
    NOT_ASCII = "not_ascii"  # other scripts' digits, fullwidth forms, invisible marks
    URI = "uri"  # sip:, sips:, tel:, or an @host
    DIAL_SYNTAX = "dial_syntax"  # & , ; / $ | ^
    BAD_CHARACTER = "bad_character"  # letters, * # space ( ) - . and the rest
    MISPLACED_PLUS = "misplaced_plus"
    UNKNOWN_COUNTRY = "unknown_country"  # no plan for this country code
    COUNTRY_NOT_ALLOWED = "country_not_allowed"  # a plan this center does not call
    INVALID = "invalid"  # the plan's leading digits do not fit (area code 0xx, N11...)
    EMERGENCY = "emergency"
    BLOCKED = "blocked"  # a premium or otherwise blocked prefix


@dataclass(frozen=True)
class NumberingPlan:
    """One country's (or NANP's) numbers: what follows the country code.

    ``lengths``: the valid lengths of the national significant number (no trunk prefix);
    ``pattern``: a regular expression the whole national number must match (leading digits);
    ``trunk_prefix``: dialled before a national number at home (``0``; ``1`` in NANP);
    ``international_prefix``: dialled before a country code (``00``; ``011`` in NANP);
    ``emergency``: emergency and short service codes, refused.
    """

    name: str
    country_code: str
    lengths: frozenset[int]
    trunk_prefix: str = "0"
    international_prefix: str = "00"
    pattern: str = r"[1-9]\d*"
    emergency: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not (self.country_code.isascii() and self.country_code.isdigit()):
            raise ValueError(f"plan {self.name}: country code {self.country_code!r} not digits")
        if not self.lengths or min(self.lengths) < 3:
            raise ValueError(f"plan {self.name}: national lengths must be 3 or more")
        re.compile(self.pattern)

    def matches(self, national: str) -> bool:
        """The national number fits the plan's leading digits."""
        return re.fullmatch(self.pattern, national) is not None


def _plan(
    name: str,
    code: str,
    lengths: Iterable[int],
    emergency: Iterable[str],
    *,
    trunk: str = "0",
    international: str = "00",
    pattern: str = r"[1-9]\d*",
) -> NumberingPlan:
    return NumberingPlan(
        name, code, frozenset(lengths), trunk, international, pattern, frozenset(emergency)
    )


_NANP = _plan(
    "NANP",
    "1",
    [10],
    ["911", "933", "988", "112", "211", "311", "411", "511", "611", "711", "811"],
    trunk="1",
    international="011",
    # NPA-NXX-XXXX: the area code starts with 2-9 and is not an N11 service code. The
    # exchange is not checked: test ranges (the sandbox's +1555000xxxx) use exchanges the
    # public network does not.
    pattern=r"[2-9](?!11)\d\d\d{7}",
)

PLANS: Mapping[str, NumberingPlan] = MappingProxyType(
    {
        "NANP": _NANP,
        "US": _NANP,
        "CA": _NANP,
        "GB": _plan("GB", "44", [9, 10], ["999", "112", "111", "101", "105", "119"]),
        "IE": _plan("IE", "353", [7, 8, 9], ["999", "112"]),
        "FR": _plan(
            "FR",
            "33",
            [9],
            ["112", "15", "17", "18", "114", "115", "119", "191", "196", "197"],
        ),
        "DE": _plan("DE", "49", range(6, 14), ["110", "112", "115", "116117"]),
        "NL": _plan("NL", "31", [9], ["112"]),
        "BE": _plan("BE", "32", [8, 9], ["112", "100", "101"]),
        "CH": _plan("CH", "41", [9], ["112", "117", "118", "144", "1414"]),
        "ES": _plan(
            "ES",
            "34",
            [9],
            ["112", "091", "092", "061", "062", "080", "085"],
            trunk="",
            pattern=r"[5-9]\d{8}",
        ),
        "IT": _plan(
            "IT", "39", range(6, 12), ["112", "113", "115", "118"], trunk="", pattern=r"[03]\d+"
        ),
        "SE": _plan("SE", "46", range(7, 10), ["112", "11414"]),
        "AU": _plan(
            "AU",
            "61",
            [9, 10],
            ["000", "112", "106"],
            international="0011",
            pattern=r"[2-478]\d{8}|1[389]\d{8}",  # 13/1300, 1800, 1900: ten digits
        ),
        "NZ": _plan("NZ", "64", range(8, 11), ["111", "112"]),
        "JP": _plan("JP", "81", [9, 10], ["110", "118", "119"], international="010"),
        "IN": _plan("IN", "91", [10], ["100", "101", "102", "108", "112"]),
        "BR": _plan("BR", "55", [10, 11], ["190", "192", "193", "199"]),
        "MX": _plan("MX", "52", [10], ["911", "066"], trunk=""),
    }
)
"""Numbering plans by country (ISO 3166 alpha-2; ``US``, ``CA`` and ``NANP`` are one plan)."""


@dataclass(frozen=True)
class PhoneNumber:
    """A number a callback may dial: ``e164`` is ``+`` and digits only."""

    e164: str
    plan: str  # the numbering plan's name (NANP, GB...)
    national: str  # the national significant number

    def __str__(self) -> str:
        return self.e164


@dataclass(frozen=True)
class Refused:
    """Not a number a callback may dial: ``reason`` for the prompt and the log, ``detail``
    naming what is wrong (printable ASCII only, safe to log)."""

    reason: Refusal
    detail: str


def _default_blocked() -> tuple[str, ...]:
    return DEFAULT_BLOCKED


def _default_blocked_patterns() -> tuple[str, ...]:
    return DEFAULT_BLOCKED_PATTERNS


@dataclass(frozen=True)
class NumberRules:
    """How a center reads callback numbers: its default country, the plans it calls (None:
    every plan in ``plans``), the E.164 prefixes (and patterns) it never dials, and
    emergency codes refused whatever the plan."""

    default_country: str = "US"
    countries: frozenset[str] | None = None
    blocked_prefixes: tuple[str, ...] = field(default_factory=_default_blocked)
    blocked_patterns: tuple[str, ...] = field(default_factory=_default_blocked_patterns)
    emergency: frozenset[str] = GLOBAL_EMERGENCY
    plans: Mapping[str, NumberingPlan] = field(default_factory=lambda: PLANS)

    def __post_init__(self) -> None:
        if self.default_country not in self.plans:
            raise ValueError(f"no numbering plan for default country {self.default_country!r}")
        for prefix in self.blocked_prefixes:
            if not _E164_PREFIX.fullmatch(prefix):
                raise ValueError(f"blocked prefix {prefix!r} is not '+' and digits")
        for pattern in self.blocked_patterns:
            re.compile(pattern)
        for country in self.countries or ():
            if country not in self.plans:
                raise ValueError(f"no numbering plan for allowed country {country!r}")

    @property
    def home(self) -> NumberingPlan:
        """The default country's plan."""
        return self.plans[self.default_country]

    def allows(self, plan: NumberingPlan) -> bool:
        """This center calls numbers of ``plan``."""
        if self.countries is None:
            return True
        return any(self.plans[c] == plan for c in self.countries)

    def plan_for(self, digits: str) -> NumberingPlan | None:
        """The plan whose country code starts ``digits`` (codes are prefix-free)."""
        for size in (1, 2, 3):
            code = digits[:size]
            for plan in self.plans.values():
                if plan.country_code == code:
                    return plan
        return None


_E164_PREFIX = re.compile(r"\+[1-9]\d{0,14}")
_DIALABLE = re.compile(r"\+[1-9]\d{6,14}")
DEFAULT_RULES = NumberRules()


def normalise(text: str, rules: NumberRules = DEFAULT_RULES) -> PhoneNumber | Refused:
    """``text`` (typed digits or a caller ID) as an E.164 number, or why it is refused."""
    if not isinstance(text, str):
        return Refused(Refusal.BAD_CHARACTER, f"not text: {type(text).__name__}")
    if len(text) > MAX_INPUT:
        return Refused(Refusal.TOO_LONG, f"{len(text)} characters (at most {MAX_INPUT})")
    if not text:
        return Refused(Refusal.EMPTY, "nothing was given")
    found = _character_problem(text)
    if found is not None:
        return found
    plus = text.startswith("+")
    digits = text[1:] if plus else text
    if not digits:
        return Refused(Refusal.EMPTY, "'+' and no digits")
    return _read(digits, plus, rules)


def dialable(value: str) -> bool:
    """True for ``+`` and 7 to 15 ASCII digits, not starting with 0: the last check a dial
    string's ``{number}`` gets, whatever produced it."""
    return isinstance(value, str) and value.isascii() and _DIALABLE.fullmatch(value) is not None


def _character_problem(text: str) -> Refused | None:
    lowered = text.lower()
    for index, char in enumerate(text):
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            return Refused(Refusal.CONTROL_CHARACTER, f"U+{code:04X} at {index + 1}")
        if code > 0x7F:
            return Refused(Refusal.NOT_ASCII, f"U+{code:04X} {_char_name(char)} at {index + 1}")
    if "@" in text or lowered.startswith(("sip:", "sips:", "tel:", "pjsip", "iax")):
        return Refused(Refusal.URI, "an address, not a number")
    for index, char in enumerate(text):
        if char in DIAL_SYNTAX:
            return Refused(Refusal.DIAL_SYNTAX, f"{char!r} at {index + 1}")
    for index, char in enumerate(text):
        if char == "+":
            if index:
                return Refused(Refusal.MISPLACED_PLUS, f"'+' at {index + 1}")
        elif not "0" <= char <= "9":
            shown = "space" if char == " " else repr(char)
            return Refused(Refusal.BAD_CHARACTER, f"{shown} at {index + 1}")
    return None


def _char_name(char: str) -> str:
    return unicodedata.name(char, "UNNAMED").encode("ascii", "replace").decode()


def _read(digits: str, plus: bool, rules: NumberRules) -> PhoneNumber | Refused:
    home = rules.home
    if digits in rules.emergency or digits in home.emergency:
        return Refused(Refusal.EMERGENCY, f"{digits} is an emergency or service code")
    if plus:
        international = digits
    elif home.international_prefix and digits.startswith(home.international_prefix):
        international = digits[len(home.international_prefix) :]
    else:
        national = digits
        if home.trunk_prefix and digits.startswith(home.trunk_prefix):
            national = digits[len(home.trunk_prefix) :]
        return _check(home, national, rules)
    if not international:
        return Refused(Refusal.TOO_SHORT, "no country code")
    plan = rules.plan_for(international)
    if plan is None:
        return Refused(Refusal.UNKNOWN_COUNTRY, f"no plan for country code of +{international[:3]}")
    if not rules.allows(plan):
        return Refused(Refusal.COUNTRY_NOT_ALLOWED, f"{plan.name} (+{plan.country_code})")
    return _check(plan, international[len(plan.country_code) :], rules)


def _check(plan: NumberingPlan, national: str, rules: NumberRules) -> PhoneNumber | Refused:
    emergency = plan.emergency | rules.emergency
    shortest, longest = min(plan.lengths), max(plan.lengths)
    if national in emergency or (
        len(national) < shortest and any(national.startswith(code) for code in emergency)
    ):
        return Refused(Refusal.EMERGENCY, f"{national} is an emergency or service code")
    if not national:
        return Refused(Refusal.TOO_SHORT, f"no national number ({plan.name})")
    total = len(plan.country_code) + len(national)
    if len(national) > longest or total > MAX_E164_DIGITS:
        return Refused(Refusal.TOO_LONG, f"{len(national)} digits ({plan.name}: at most {longest})")
    if len(national) < shortest:
        return Refused(
            Refusal.TOO_SHORT, f"{len(national)} digits ({plan.name}: at least {shortest})"
        )
    if len(national) not in plan.lengths:
        allowed = ", ".join(str(n) for n in sorted(plan.lengths))
        return Refused(Refusal.INVALID, f"{len(national)} digits ({plan.name}: {allowed})")
    if not plan.matches(national):
        return Refused(Refusal.INVALID, f"{national[:4]}... does not start a {plan.name} number")
    e164 = f"+{plan.country_code}{national}"
    for prefix in rules.blocked_prefixes:
        if e164.startswith(prefix):
            return Refused(Refusal.BLOCKED, f"{prefix} is blocked")
    for pattern in rules.blocked_patterns:
        if re.fullmatch(pattern, e164):
            return Refused(Refusal.BLOCKED, "a blocked range")
    if not dialable(e164):  # belt and braces: nothing else may ever leave here
        return Refused(Refusal.INVALID, "not an E.164 number")
    return PhoneNumber(e164, plan.name, national)


__all__ = [
    "DEFAULT_BLOCKED",
    "DEFAULT_BLOCKED_PATTERNS",
    "DEFAULT_RULES",
    "DIAL_SYNTAX",
    "GLOBAL_EMERGENCY",
    "MAX_INPUT",
    "PLANS",
    "NumberRules",
    "NumberingPlan",
    "PhoneNumber",
    "Refusal",
    "Refused",
    "dialable",
    "normalise",
]
