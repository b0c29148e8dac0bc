"""What a caller controls (the keys they press, their caller ID, what their SIP headers say)
reaches no dial string, file name, SQL statement or log line unchecked: one hostile corpus
sent through each of those doors."""

# ruff: noqa: RUF001 -- look-alike digits (fullwidth, other scripts) are the point here

from __future__ import annotations

import io
import json
import logging
import re
import sqlite3
from pathlib import Path

import pytest

from callflow.app.logs import JsonFormatter, TextFormatter, escape_controls
from callflow.call.outbound import InvalidNumber, OutboundSettings, originate_endpoint
from callflow.callback.number import PhoneNumber, normalise
from callflow.flow.model import Say, SayDate, SayDigits, SayNumber, SayTime, Sound
from callflow.flow.prompts import media_for
from callflow.ivr.runner import _caller_id
from callflow.store import SqliteStore
from tests.unit.callback.test_number import REFUSED

CRAFTED = [
    # dial-string and dialplan injection
    "+15550100123&PJSIP/+19005550100@pstn",
    "+15550100123,30,tT",
    "+15550100123;foo=bar",
    "+15550100123|Local/100@default",
    "PJSIP/+15550100123@pstn",
    "Local/100@from-internal",
    "${SHELL(rm -rf /)}",
    "$[1+1]",
    "+1555${EPOCH}0100",
    "sip:+15550100123@evil.example",
    "<sip:+15550100123@evil.example>;tag=x",
    # SQL
    "'; DROP TABLE event_log; --",
    '" OR 1=1 --',
    "x' UNION SELECT data FROM callbacks --",
    # file names
    "../../../../etc/passwd",
    "/etc/passwd",
    "custom/../../../../tmp/x",
    "..\\..\\windows",
    ".hidden",
    # log lines and terminals
    "+15550100123\r\n2026-12-06 00:00:00,000 INFO    callflow: forged line",
    "+15550100123\nERROR admin logged in",
    "\x1b[2J\x1b[31mred",
    "+15550100123\x00",
    "\x7f\x85\u2028\u2029",
    "%0d%0aforged",
    # other scripts' digits, absurd lengths
    "+１５５５０１００１２３",
    "+١٥٥٥٠١٠٠١٢٣",
    "+" + "9" * 200,
    "A" * 5000,
]
HOSTILE = CRAFTED + [value for value, _, _ in REFUSED]
E164 = re.compile(r"\+[0-9]{6,15}")
SAFE_MEDIA = re.compile(
    r"sound:[A-Za-z0-9_+\-][A-Za-z0-9_+\-.]*(?:/[A-Za-z0-9_+\-][A-Za-z0-9_+\-.]*)*"
    r"|number:-?[0-9]+"
)


def test_the_corpus_is_hostile_and_large() -> None:
    """Over a hundred values; none of the crafted ones is a plain E.164 number (some of
    test_number's are: premium, emergency, too short for their country)."""
    assert len(HOSTILE) > 100
    assert not [v for v in CRAFTED if E164.fullmatch(v)]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_no_hostile_value_becomes_a_dial_string(value: str) -> None:
    """Only + and digits reach the dial template (anything else is refused), normalise()
    refuses or makes + and digits of the rest, and the caller ID shown to an agent is digits
    or nothing."""
    if E164.fullmatch(value):  # E.164-shaped: what it dials is normalise's call (test_number)
        assert originate_endpoint(value, OutboundSettings()) == f"PJSIP/{value}@pstn"
    else:
        with pytest.raises(InvalidNumber):
            originate_endpoint(value, OutboundSettings())
    number = normalise(value)
    if isinstance(number, PhoneNumber):
        endpoint = originate_endpoint(number.e164, OutboundSettings())
        assert re.fullmatch(r"PJSIP/\+[0-9]{6,15}@pstn", endpoint)
    shown = _caller_id(value)
    assert shown is None or re.fullmatch(r"\+?[0-9]{1,20}", shown)


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_no_hostile_value_names_a_file(value: str) -> None:
    """Prompts filled in with a caller's value play only sounds inside the sounds folder (no
    ``..``, no absolute path), prompt-cache hashes, digits and numbers."""
    prompts = [
        Sound("custom/${caller_id}"),
        Sound("${caller_id}"),
        Say("You called from ${caller_id}"),
        SayDigits("${caller_id}"),
        SayNumber("${caller_id}"),
        SayDate("${caller_id}"),
        SayTime("${caller_id}"),
    ]
    for media in media_for(prompts, "en-us", {"caller_id": value}.get):
        assert SAFE_MEDIA.fullmatch(media), media
        assert ".." not in media.split("/"), media


def test_hostile_values_are_only_data_to_the_store(tmp_path: Path) -> None:
    """Every value is stored and read back exactly, as data and in a column, finds only its
    own rows, and leaves the schema as it was: the store binds values, never formats them.
    (A lone surrogate goes into data only: SQLite's text is UTF-8, and a call id is
    Asterisk's, not a caller's.)"""
    store = SqliteStore(tmp_path / "store.sqlite3")
    tables_before = _tables(tmp_path / "store.sqlite3")
    for i, value in enumerate(HOSTILE):
        call_id = value if _is_utf8(value) else f"call-{i}"
        store.append("call.start", call_id=call_id, data={"caller": value, "dialled": value})
    store.flush()
    events = store.events(kind="call.start")
    assert [(e.data["caller"], e.data["dialled"]) for e in events] == [(v, v) for v in HOSTILE]
    for value in CRAFTED:
        assert [e.call_id for e in store.events(call_id=value)] == [value] * HOSTILE.count(value)
        assert store.last_agent_sync(value, 0) is None
        assert store.queue_entries(value) == []
    store.close()
    assert _tables(tmp_path / "store.sqlite3") == tables_before


def _is_utf8(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return sorted(name for (name,) in db.execute("SELECT name FROM sqlite_master"))


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_a_hostile_caller_id_is_one_log_line(formatter: logging.Formatter) -> None:
    """Logged as %s or %r, in a message or in an exception's, a caller ID makes one record
    line, with no control character in it; continuation lines of a traceback are indented."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    log = logging.getLogger("callflow.test_security_inputs")
    log.addHandler(handler)
    log.propagate = False
    try:
        for value in CRAFTED:
            log.warning("call x from %s to %r", value, value)
            try:
                raise ValueError(f"bad caller {value}")
            except ValueError:
                log.exception("refused %s", value)
    finally:
        log.removeHandler(handler)
        log.propagate = True
    lines = out.getvalue().splitlines()
    if isinstance(formatter, JsonFormatter):
        assert len(lines) == 2 * len(CRAFTED)
        assert all(json.loads(line)["message"] for line in lines)
    starts = [line for line in lines if not line.startswith("  ")]
    assert len(starts) == 2 * len(CRAFTED)
    for line in lines:
        assert escape_controls(line) == line, line
        assert "\u2028" not in line and "\x85" not in line


def test_escape_controls_writes_each_control_visibly() -> None:
    """CR, LF, tab, ESC, NUL, DEL, C1 and the Unicode separators become escapes; the rest
    of the text is left as it is."""
    assert escape_controls("a\r\nb\tc\x1b[0m\x00\x7f\x85\u2028é+1") == (
        "a\\r\\nb\\tc\\x1b[0m\\x00\\x7f\\x85\\u2028é+1"
    )


def test_callflow_run_logs_text_through_the_escaping_formatter() -> None:
    """``callflow run --log-format text`` (logs.configure) writes through TextFormatter."""
    from callflow.app import logs

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        logs.configure("info", "text")
        assert [type(h.formatter) for h in root.handlers] == [TextFormatter]
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
