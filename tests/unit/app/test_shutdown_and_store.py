"""The shutdown settings, an event log that holds only standard JSON, and what a restarted
callflow reads back from it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callflow.app.service import ShutdownPolicy
from callflow.app.settings import SettingsError, load_settings
from callflow.ivr.registry import FlowRegistry
from callflow.ivr.runner import FlowRunner
from callflow.store import SqliteStore

BASE = "ari:\n  password: x\nflows: []\n"


def test_shutdown_defaults_apologise_after_a_grace(tmp_path: Path) -> None:
    """With no shutdown section, calls get 5 s to finish, then an apology and a hang-up."""
    path = tmp_path / "callflow.yaml"
    path.write_text(BASE)
    assert load_settings(path).shutdown == ShutdownPolicy()
    assert ShutdownPolicy().action == "apologise" and ShutdownPolicy().grace == 5.0


def test_shutdown_section_is_read(tmp_path: Path) -> None:
    """grace, action, prompt and where in the dialplan callers go are all settable."""
    path = tmp_path / "callflow.yaml"
    path.write_text(
        BASE + "shutdown:\n  grace: 30\n  action: dialplan\n  context: overflow\n"
        "  extension: '200'\n  label: start\n  prompt: [sound:sorry]\n"
    )
    policy = load_settings(path).shutdown
    assert (policy.grace, policy.action, policy.context, policy.extension, policy.label) == (
        30.0,
        "dialplan",
        "overflow",
        "200",
        "start",
    )
    assert policy.media == ("sound:sorry",)


@pytest.mark.parametrize(
    ("section", "where", "message"),
    [
        ("  grace: soon\n", "6:10", "shutdown.grace must be a number of seconds"),
        ("  action: panic\n", "6:11", "shutdown.action must be 'apologise'"),
        ("  prompt: [sorry]\n", "6:12", "shutdown.prompt items are media"),
        ("  context: 'a,b'\n", "6:12", "shutdown.context must be a plain dialplan name"),
        ("  grase: 3\n", "6:3", "did you mean 'grace'?"),
    ],
)
def test_shutdown_mistakes_name_file_line_and_column(
    tmp_path: Path, section: str, where: str, message: str
) -> None:
    """Each mistake in the shutdown section is reported at its place, saying what is expected."""
    path = tmp_path / "callflow.yaml"
    path.write_text(BASE + "log: {}\nshutdown:\n" + section)
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert f"{path}:{where}:" in str(caught.value) and message in str(caught.value)


def test_the_event_log_stores_no_infinity(tmp_path: Path) -> None:
    """A figure that is infinite or NaN is stored as null, so SQLite's JSON functions read
    every row (one Infinity used to abort the whole query)."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    store.append("queue.announce", "c1", {"estimated_wait": float("inf"), "more": [float("nan")]})
    store.append("agent.state", "", {"agent": "a1", "state": "available"})
    [record] = store.events(kind="queue.announce")
    assert record.data == {"estimated_wait": None, "more": [None]}
    assert set(store.latest("agent.state", "agent")) == {"a1"}


def test_unended_calls_are_found_with_their_last_moment(tmp_path: Path) -> None:
    """Calls started without an end are listed, each with the time of its last event."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    t0 = dt.datetime(2026, 1, 1, 10, 0, tzinfo=dt.UTC)
    store.append("call.start", "open", {}, at=t0)
    store.append("flow.step", "open", {}, at=t0 + dt.timedelta(seconds=7))
    store.append("call.start", "done", {}, at=t0)
    store.append("call.end", "done", {"outcome": "hangup"}, at=t0 + dt.timedelta(seconds=3))
    assert store.unended_calls(t0 - dt.timedelta(hours=1)) == {"open": t0 + dt.timedelta(seconds=7)}


def test_the_node_name_is_read_and_checked(tmp_path: Path) -> None:
    """node: names this callflow among several; anything but letters, digits and _ is refused
    at its place."""
    path = tmp_path / "callflow.yaml"
    path.write_text(BASE + "node: east_1\n")
    assert load_settings(path).node == "east_1"
    path.write_text(BASE + "node: 'east.1'\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert f"{path}:4:7:" in str(caught.value)


def test_a_restart_stops_every_playback_asked_for_and_not_seen_to_finish(tmp_path: Path) -> None:
    """What a restarted callflow stops on a call it takes back: the playbacks its former
    life asked for (``call.prompt``, written before Asterisk is asked) or saw start, minus
    those it saw finish, in the order asked; a life that died before Asterisk said a prompt
    started still left its ids."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    runner = FlowRunner(FlowRegistry([]), store)
    store.append("call.prompt", "c1", {"playbacks": ["a0", "a1"]})
    store.append("call.playback.started", "c1", {"media": "sound:x", "playback": "a0"})
    store.append("call.playback", "c1", {"media": "sound:x", "state": "done", "playback": "a0"})
    store.append("call.playback.started", "c1", {"media": "sound:y", "playback": "a1"})
    store.append("call.prompt", "c1", {"playbacks": ["b0"]})  # asked; then callflow died
    store.append("call.prompt", "c2", {"playbacks": ["other"]})
    store.append("call.playback.started", "c3", {"media": "sound:z", "playback": "old"})
    assert runner.playbacks_in_progress("c1") == ["a1", "b0"]
    assert runner.playbacks_in_progress("c3") == ["old"]  # a log from before call.prompt
    assert runner.playbacks_in_progress("c4") == []
