"""Real calls doing what callers do: a key during a prompt of several parts, '#' after a
full entry. Timings come from the event log; what was heard, from the softphone's recording."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callflow.bench.reload import write_large_flow
from callflow.sandbox import SandboxInfo
from callflow.testing.audio import measure
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events
from tests.integration.test_ivr import call_in, path, until_started

pytestmark = pytest.mark.asterisk

DEFECTS = Path(__file__).parent / "flows" / "defects.yaml"
# What the caller hears after the key: the chosen node's beep, then goodbye.
NEXT_PROMPTS = ["sound:beep", "sound:goodbye"]


@pytest.mark.parametrize(
    ("number", "node", "first_part"),
    [
        ("300", "long_menu", "sound:vm-intro"),
        ("302", "long_play", "sound:vm-intro"),
        ("303", "digits_menu", "sound:digits/1"),
        ("304", "number_menu", "sound:digits/1"),
    ],
    ids=["menu", "play", "menu-reading-digits", "menu-reading-a-number"],
)
async def test_a_key_silences_the_whole_multi_part_prompt(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    no_leaks: None,
    number: str,
    node: str,
    first_part: str,
) -> None:
    """A key pressed in the first part of a long prompt of several parts stops all of it:
    the next node's prompt starts at once, and no later part is played or heard."""
    app = await start_app([DEFECTS])
    phone = await phones("caller1")
    mark, call_id = await call_in(app, phone, number)
    await until_started(app, call_id, first_part)
    await phone.send_dtmf("1")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=30)
    await wait_for_events(app, "call.end")
    assert [n for n, _, _ in path(app, call_id)] == [node, "chosen", "bye"]
    [key] = app.store.events(call_id=call_id, kind="call.dtmf")
    started = app.store.events(call_id=call_id, kind="call.playback.started")
    assert [e.data["media"] for e in started if e.at > key.at] == NEXT_PROMPTS
    next_prompt = next(e.at for e in started if e.data["media"] == "sound:beep")
    # Had the rest of the prompt played, the next one would have started 48 s or more later.
    assert (next_prompt - key.at).total_seconds() < 2.0
    heard = await phone.recording()
    assert heard is not None
    # The first part up to the key, the beep and goodbye: seconds, not the 55 s prompt.
    assert measure(heard).voiced_seconds < 8.0


@pytest.mark.parametrize("keys", ["2468#1", "24681"], ids=["terminator", "typed-ahead"])
async def test_keys_after_a_full_entry(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    no_leaks: None,
    keys: str,
) -> None:
    """Once '2468' fills a four-digit input, a '#' right after still ends that entry (it is
    no wrong key in the next menu), and any other key is typed ahead into that menu."""
    app = await start_app([DEFECTS])
    phone = await phones("caller1")
    mark, call_id = await call_in(app, phone, "301")
    await until_started(app, call_id, "sound:beep")
    await phone.send_dtmf(keys)
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=30)
    await wait_for_events(app, "call.end")
    assert [e.data["digit"] for e in app.store.events(call_id=call_id, kind="call.dtmf")] == list(
        keys
    )
    assert path(app, call_id) == [
        ("pin", "2468", "set pin"),
        ("after_pin", "1", "option 1"),
        ("bye", None, "hangup: done"),
    ]


async def test_a_single_key_number_reaches_its_flow(
    asterisk: SandboxInfo, start_app: AppFactory, phones: PhoneFactory, no_leaks: None
) -> None:
    """A flow entry of one key ("5") is routed by the shipped dialplan into the flow."""
    app = await start_app([DEFECTS])
    phone = await phones("caller1")
    mark, call_id = await call_in(app, phone, "5")
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=20)
    await wait_for_events(app, "call.end")
    assert path(app, call_id) == [("bye", None, "hangup: done")]


async def test_a_key_during_a_reload_of_a_large_flow_is_handled_at_once(
    asterisk: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    no_leaks: None,
    tmp_path: Path,
) -> None:
    """A key pressed as a 10000-node flow starts reloading (seconds of work) is handled at
    once, before the reload ends: the reload is read and checked beside the calls."""
    large = tmp_path / "large.yaml"
    write_large_flow(large, 10_000, entry="900")
    app = await start_app([DEFECTS, large])
    phone = await phones("caller1")
    mark, call_id = await call_in(app, phone, "300")
    await until_started(app, call_id, "sound:vm-intro")
    generation = app.flows.generation
    await phone.command("sndcode", "1")  # the phone sends the key now...
    pressed = dt.datetime.now(dt.UTC)
    result = await app.flows.reload_async("test")  # ...and the reload starts at once
    reloaded = dt.datetime.now(dt.UTC)
    assert result.applied and app.flows.generation == generation + 1
    await phone.wait_event("CALL_CLOSED", since=mark, timeout=30)
    await wait_for_events(app, "call.end")
    steps = app.store.events(call_id=call_id, kind="flow.step")
    [menu] = [e for e in steps if e.data["node"] == "long_menu"]
    assert menu.data["input"] == "1"
    # A reload on the event loop would have held the key until it ended, seconds later.
    assert menu.at < reloaded and (reloaded - pressed).total_seconds() > 1.0
    assert (menu.at - pressed).total_seconds() < 1.0
