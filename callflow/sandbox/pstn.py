"""The sandbox's public network: a second Asterisk that plays the PSTN, joined by a trunk.

It runs from the same rootfs and recipe as callflow's sandbox Asterisk (its own name,
``<name>-pstn``, ports and state file), with the dialplan of ``docker/asterisk/pstn/``.
Numbers are E.164 and their digits script the call::

    +1 555 010 RR TT   a person: rings RR s, answers, says "hello", then echoes what it
                       hears; hangs up after TT s (00: when the caller does)
    +1 555 011 RR TT   an answering machine: rings RR s, a ~7 s greeting, a beep, then
                       records for TT s (00: 30 s) what it hears into the PSTN's
                       spool/recording (``machine-<caller>-<start, ms>.wav``)
    +1 555 012 RR xx   no answer: rings; after RR s the network gives up (cause 19);
                       00: rings until the caller's own ring timeout
    +1 555 013 RR xx   busy (cause 17) after RR s of ringing
    +1 555 014 RR xx   congestion (cause 34) after RR s of ringing
    +1 555 015 RR xx   invalid, an unallocated number (cause 1), after RR s
    +1 555 016 RR TT   a machine that never goes quiet: rings RR s, its greeting over and
                       over (no beep) until it hangs up after TT s (00: 30 s)
    any other +number  invalid, at once

A YAML table (``docker/asterisk/pstn/numbers.yaml`` by default) overrides numbers one by
one and names the softphones that register with the PSTN as customers, each reached at its
number. From those softphones, a number without ``+`` (``100``) is the contact center.

The trunk: on callflow's side the PJSIP endpoint ``pstn`` (dial ``PJSIP/+15550101000@pstn``;
calls from the PSTN arrive in ``callflow-inbound``); on the PSTN's side the endpoint
``callflow``. Each side knows the other by its source address and port on loopback, and the
PSTN asks callflow for a digest password on every call, as a SIP provider does. No
registration, ICE, STUN or DNS.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from callflow.sandbox.instance import Phone, Sandbox, SandboxError, SandboxInfo, rx
from callflow.sandbox.recipe import PSTN_DIR

NUMBERS_FILE = PSTN_DIR / "numbers.yaml"
CUSTOMERS_CONTEXT = "pstn-customers"
TRUNK_USER = "callflow"
BEHAVIOURS = (
    "person",
    "machine",
    "long-greeting",
    "no-answer",
    "busy",
    "congestion",
    "invalid",
    "contact-center",
)
_E164 = re.compile(r"\+[0-9]{6,15}")
_PHONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_PASSWORD = re.compile(r"[A-Za-z0-9_.+-]{4,64}")
_SHORT_NUMBER = re.compile(r"[0-9*#]{1,20}")
_KEYS = {"behaviour", "ring", "talk", "dial"}
_MAX_SECONDS = 3600
_Wrong = Callable[[Node, str], None]  # reports a problem at a node of the table


class PstnError(SandboxError):
    """The PSTN's numbers file is wrong (``file:line:column: what``), or it cannot start."""


def pstn_name(name: str) -> str:
    """The name of the PSTN that goes with the sandbox ``name``."""
    return f"{name}-pstn"


@dataclass(frozen=True)
class Behaviour:
    """What one number of the table does: ``kind`` (one of BEHAVIOURS), seconds of ringing
    first, seconds of talk or recording after answer, and the contact center's number."""

    kind: str
    ring: int = 0
    talk: int = 0
    dial: str = ""


@dataclass(frozen=True)
class PstnPlan:
    """The numbers given their own behaviour, and the customers' softphones."""

    numbers: dict[str, Behaviour] = field(default_factory=dict)
    phones: list[Phone] = field(default_factory=list)

    def phone_number(self, name: str) -> str:
        """The E.164 number of the customer softphone ``name``."""
        for phone in self.phones:
            if phone.name == name:
                return phone.caller_id
        raise KeyError(name)


# -- the table --------------------------------------------------------------------------


def read_plan(path: Path = NUMBERS_FILE) -> PstnPlan:
    """Read a numbers file; PstnError lists every mistake as ``file:line:column: what``."""
    try:
        root = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise PstnError(f"{path}: {exc}") from None
    problems: list[str] = []

    def wrong(node: Node, message: str) -> None:
        mark = node.start_mark
        problems.append(f"{path}:{mark.line + 1}:{mark.column + 1}: {message}")

    plan = PstnPlan()
    if root is None:
        return plan
    seen: dict[str, ScalarNode] = {}  # number -> where it was first given
    for key, value in _mapping(root, "the top level", wrong):
        if key.value == "phones":
            for name, entry in _mapping(value, "phones", wrong):
                phone = _phone(name, entry, wrong)
                if phone is not None:
                    _once(phone.caller_id, name, seen, wrong)
                    plan.phones.append(phone)
        elif key.value == "numbers":
            for number, entry in _mapping(value, "numbers", wrong):
                if not _E164.fullmatch(number.value):
                    wrong(number, f"'{number.value}' is not an E.164 number (+ then 6-15 digits)")
                elif (behaviour := _behaviour(entry, wrong)) is not None:
                    _once(number.value, number, seen, wrong)
                    plan.numbers[number.value] = behaviour
        else:
            wrong(key, f"unknown key '{key.value}' (expected phones or numbers)")
    if problems:
        raise PstnError("\n".join(problems))
    return plan


def _once(number: str, at: ScalarNode, seen: dict[str, ScalarNode], wrong: _Wrong) -> None:
    """Report a number given a second time (a phone's, or a behaviour's): one meaning each."""
    first = seen.setdefault(number, at)
    if first is not at:
        wrong(at, f"{number} is given twice (first at line {first.start_mark.line + 1})")


def _mapping(node: Node, what: str, wrong: _Wrong) -> list[tuple[ScalarNode, Node]]:
    if not isinstance(node, MappingNode):
        wrong(node, f"{what} must be a mapping")
        return []
    pairs = []
    for key, value in node.value:
        if isinstance(key, ScalarNode):
            pairs.append((key, value))
        else:
            wrong(key, f"a key of {what} must be text")
    return pairs


def _phone(name: ScalarNode, entry: Node, wrong: _Wrong) -> Phone | None:
    values = {k.value: v for k, v in _mapping(entry, f"phone {name.value}", wrong)}
    number, password = values.get("number"), values.get("password")
    if not _PHONE_NAME.fullmatch(name.value) or name.value == TRUNK_USER:
        wrong(name, f"'{name.value}' is not a phone name (a letter, then letters, digits, -, _)")
    elif set(values) != {"number", "password"} or number is None or password is None:
        wrong(entry, f"phone {name.value} needs a number and a password, nothing else")
    elif not _E164.fullmatch(str(number.value)):
        wrong(number, f"phone {name.value}: '{number.value}' is not an E.164 number")
    elif not _PASSWORD.fullmatch(str(password.value)):
        wrong(password, f"phone {name.value}: a password is 4-64 of A-Z a-z 0-9 _ . + -")
    else:
        return Phone(name.value, str(password.value), CUSTOMERS_CONTEXT, str(number.value))
    return None


def _behaviour(entry: Node, wrong: _Wrong) -> Behaviour | None:
    pairs = _mapping(entry, "a number's entry", wrong)
    values = {k.value: v for k, v in pairs}
    for key_node, _ in pairs:
        if key_node.value not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            wrong(key_node, f"unknown key '{key_node.value}' (expected {known})")
    kind = values.get("behaviour")
    if kind is None or kind.value not in BEHAVIOURS:
        wrong(kind or entry, f"behaviour must be one of {', '.join(BEHAVIOURS)}")
        return None
    seconds = {}
    for key in ("ring", "talk"):
        node = values.get(key)
        text = str(node.value) if node is not None else "0"
        if not text.isascii() or not text.isdigit() or int(text) > _MAX_SECONDS:
            wrong(node or entry, f"{key} is whole seconds from 0 to {_MAX_SECONDS}")
            return None
        seconds[key] = int(text)
    dial = str(values["dial"].value) if "dial" in values else ""
    if (kind.value == "contact-center") != bool(dial) or (
        dial and not _SHORT_NUMBER.fullmatch(dial)
    ):
        wrong(values.get("dial", entry), "dial (digits, * and #) goes with contact-center only")
        return None
    return Behaviour(kind.value, seconds["ring"], seconds["talk"], dial)


# -- the PSTN's config ------------------------------------------------------------------


def render_numbers(plan: PstnPlan) -> str:
    """The dialplan of the table: exact numbers, which win over the scripted patterns."""
    lines = [
        "; Written by callflow.sandbox.pstn from the numbers file: exact numbers win over",
        "; the scripted patterns of pstn.conf.",
        "[pstn-numbers]",
    ]
    for phone in plan.phones:
        lines.append(f"exten => {phone.caller_id},1,Gosub(pstn-phone,s,1({phone.name}))")
    for number, b in sorted(plan.numbers.items()):
        args = b.dial if b.kind == "contact-center" else f"{b.ring},{b.talk}"
        lines.append(f"exten => {number},1,Gosub(pstn-{b.kind},s,1({args}))")
    return "\n".join(lines) + "\n"


def trunk_config(
    *, endpoint: str, context: str, peer: tuple[str, int], secret: str, challenge: bool
) -> str:
    """PJSIP sections of one side of the trunk: endpoint, AOR with the peer's address,
    digest credentials (asked of the peer when ``challenge``, else given to it) and the
    identify that tells the peer's requests by source address and port."""
    host, port = peer
    auth = "auth" if challenge else "outbound_auth"
    return (
        f"; The trunk to {host}:{port}, written by callflow.sandbox.pstn.\n"
        f"[{endpoint}](phone-endpoint)\ncontext = {context}\naors = {endpoint}\n"
        f"{auth} = {endpoint}-auth\n\n"
        f"[{endpoint}](phone-aor)\ncontact = sip:{host}:{port}\n\n"
        f"[{endpoint}-auth](phone-auth)\nusername = {TRUNK_USER}\npassword = {secret}\n\n"
        f"[{endpoint}-identify]\ntype = identify\nendpoint = {endpoint}\n"
        f"match = {host}:{port}\n"
    )


def start_pstn(name: str, plan: PstnPlan, *, base: Path | None = None) -> Sandbox:
    """Start the PSTN Asterisk of sandbox ``name`` (it is called ``<name>-pstn``)."""
    pstn = Sandbox(
        pstn_name(name),
        app="pstn",
        phones=plan.phones,
        base=base,
        overlay=PSTN_DIR / "etc",
        files={
            "dialplan/pstn.conf": (PSTN_DIR / "dialplan" / "pstn.conf").read_text(),
            "dialplan/pstn-numbers.conf": render_numbers(plan),
        },
    )
    pstn.up()
    return pstn


def connect(callflow: SandboxInfo, pstn: SandboxInfo) -> None:
    """Join callflow's Asterisk and the PSTN by the trunk (a fresh password each time),
    and reload PJSIP on both sides; calls in progress are not touched."""
    secret = secrets.token_urlsafe(18)
    sides = (
        (callflow, "pstn", "callflow-inbound", pstn, False),
        (pstn, TRUNK_USER, "pstn-from-callflow", callflow, True),
    )
    for info, endpoint, context, peer, challenge in sides:
        text = trunk_config(
            endpoint=endpoint,
            context=context,
            peer=(peer.bind, peer.sip_port),
            secret=secret,
            challenge=challenge,
        )
        (Path(info.home) / "etc" / "pjsip_trunk.conf").write_text(text)
        rx(info, "module reload res_pjsip.so")
