"""Tests for the sandbox PSTN's numbers table: read with file:line:column errors, rendered
into exact-number dialplan lines that win over the scripted patterns."""

from __future__ import annotations

from pathlib import Path

import pytest

from callflow.sandbox.pstn import (
    NUMBERS_FILE,
    Behaviour,
    PstnError,
    read_plan,
    render_numbers,
    trunk_config,
)


def _plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "numbers.yaml"
    path.write_text(text)
    return path


def test_the_shipped_table_reads_cleanly() -> None:
    """docker/asterisk/pstn/numbers.yaml has customers and numbers with behaviours."""
    plan = read_plan(NUMBERS_FILE)
    assert plan.phone_number("customer1") == "+15550200001"
    assert plan.numbers["+18005550100"] == Behaviour("contact-center", dial="100")
    assert all(p.context == "pstn-customers" for p in plan.phones)


def test_each_number_and_phone_becomes_one_exact_extension(tmp_path: Path) -> None:
    """A phone is dialled by its number; a number runs its behaviour with ring and talk."""
    plan = read_plan(
        _plan(
            tmp_path,
            "phones:\n  bob: {number: '+15550200042', password: bob-secret}\n"
            "numbers:\n  '+15550109999': {behaviour: machine, ring: 4, talk: 10}\n",
        )
    )
    dialplan = render_numbers(plan)
    assert "[pstn-numbers]" in dialplan
    assert "exten => +15550200042,1,Gosub(pstn-phone,s,1(bob))" in dialplan
    assert "exten => +15550109999,1,Gosub(pstn-machine,s,1(4,10))" in dialplan


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("numbers:\n  '15550100123': {behaviour: busy}\n", ":2:3: '15550100123' is not an E.164"),
        ("numbers:\n  '+15550100123': {behaviour: bussy}\n", ":2:31: behaviour must be one of"),
        ("numbers:\n  '+15550100123': {behaviour: busy, ring: -1}\n", ":2:43: ring is whole"),
        ("numbers:\n  '+15550100123': {behaviour: busy, dial: '100'}\n", ":2:43: dial"),
        ("numbers:\n  '+15550100123': {behaviour: busy, rings: 2}\n", ":2:37: unknown key 'rings'"),
        ("phones:\n  bob: {number: '+15550200042'}\n", ":2:8: phone bob needs a number and"),
        ("phones:\n  callflow: {number: '+15550200042', password: abcd}\n", ":2:3: 'callflow'"),
        ("phones:\n  bob: {number: '+1555', password: abcd}\n", ":2:17: phone bob: '+1555'"),
        ("phones:\n  bob: {number: '+15550200042', password: 'a b;c'}\n", ":2:43: phone bob: a"),
        ("phone: {}\n", ":1:1: unknown key 'phone'"),
    ],
)
def test_a_wrong_entry_is_reported_at_its_place(tmp_path: Path, text: str, expected: str) -> None:
    """Every mistake names the file, line and column: nothing unchecked reaches the dialplan
    or the PJSIP config."""
    with pytest.raises(PstnError) as caught:
        read_plan(_plan(tmp_path, text))
    assert expected in str(caught.value)


def test_a_number_given_twice_is_refused(tmp_path: Path) -> None:
    """A phone's number cannot also have a behaviour: one number, one meaning."""
    text = (
        "phones:\n  bob: {number: '+15550200042', password: abcd}\n"
        "numbers:\n  '+15550200042': {behaviour: busy}\n"
    )
    with pytest.raises(PstnError, match=r":4:3: \+15550200042 is given twice \(first at line 2\)"):
        read_plan(_plan(tmp_path, text))


def test_each_side_of_the_trunk_knows_the_other_by_address_and_port() -> None:
    """callflow's side gives the password, the PSTN's side asks for it; both identify the
    peer by its source address and port, so phones on loopback are never taken for it."""
    callflow = trunk_config(
        endpoint="pstn",
        context="callflow-inbound",
        peer=("127.0.0.1", 5070),
        secret="s3",
        challenge=False,
    )
    assert "outbound_auth = pstn-auth" in callflow
    assert "contact = sip:127.0.0.1:5070" in callflow
    assert "match = 127.0.0.1:5070" in callflow
    pstn = trunk_config(
        endpoint="callflow",
        context="pstn-from-callflow",
        peer=("127.0.0.1", 5060),
        secret="s3",
        challenge=True,
    )
    assert "\nauth = callflow-auth" in pstn and "outbound_auth" not in pstn


def test_a_number_written_twice_in_the_table_is_refused(tmp_path: Path) -> None:
    """The same number twice under numbers: is an error, not a silent override."""
    text = "numbers:\n  '+15550100001': {behaviour: busy}\n  '+15550100001': {behaviour: person}\n"
    with pytest.raises(PstnError, match=":3:3: \\+15550100001 is given twice"):
        read_plan(_plan(tmp_path, text))
