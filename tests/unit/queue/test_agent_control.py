"""Agent commands sent as user events: validation, the QueueService calls, the answer."""

from __future__ import annotations

from typing import Any

import pytest

from callflow.ari import ChannelUserevent, parse_event
from callflow.queue import control
from callflow.queue.config import parse_queues
from callflow.queue.live import QueueService
from callflow.store import SqliteStore

QUEUES = """\
agents:
  alice: {endpoint: PJSIP/alice, queues: [support]}
  bob: {endpoint: PJSIP/bob, queues: [support]}
queues:
  support: {join_when_empty: yes}
"""


@pytest.fixture
def kicks() -> list[int]:
    return []


@pytest.fixture
def queues(store: SqliteStore, kicks: list[int], monkeypatch: pytest.MonkeyPatch) -> QueueService:
    center, diagnostics = parse_queues("queues.yaml", QUEUES)
    assert center is not None, diagnostics
    service = QueueService(center, store, clock=lambda: 1000.0)
    monkeypatch.setattr(service, "kick", lambda: kicks.append(1))
    return service


def command(queues: QueueService, **variables: object) -> dict[str, Any]:
    """Send one command with a request id, as the CLI does."""
    return control.handle_agent_command(queues, {"request": "r1", **variables})


def answers(store: SqliteStore) -> list[dict[str, Any]]:
    return [dict(e.data) for e in store.events(kind=control.COMMAND_EVENT)]


def test_login_logs_in_kicks_and_answers_with_every_agent(
    queues: QueueService, store: SqliteStore, kicks: list[int]
) -> None:
    """A login calls the QueueService, wakes the scheduler and answers in the store."""
    answer = command(queues, action="login", agent="alice")
    assert answer == {
        "request": "r1",
        "agent": "alice",
        "action": "login",
        "ok": True,
        "error": "",
        "agents": {
            "alice": {"state": "available", "reason": None},
            "bob": {"state": "logged_out", "reason": None},
        },
    }
    assert answers(store) == [answer]
    assert kicks == [1]
    assert queues.router.agents["alice"].state.value == "available"
    [state] = store.events(kind="agent.state")
    assert state.data == {"agent": "alice", "state": "available", "reason": None}


def test_pause_with_a_reason_unpause_and_logout(queues: QueueService, kicks: list[int]) -> None:
    """Each action lands on the agent; the reason travels with the pause."""
    command(queues, action="login", agent="bob")
    paused = command(queues, action="pause", agent="bob", reason="lunch")
    assert paused["ok"] and paused["agents"]["bob"] == {"state": "paused", "reason": "lunch"}
    unpaused = command(queues, action="unpause", agent="bob")
    assert unpaused["agents"]["bob"] == {"state": "available", "reason": None}
    gone = command(queues, action="logout", agent="bob")
    assert gone["ok"] and gone["agents"]["bob"]["state"] == "logged_out"
    assert len(kicks) == 4


def test_status_changes_nothing(queues: QueueService, kicks: list[int]) -> None:
    """status needs no agent, answers with the states and does not wake the scheduler."""
    answer = command(queues, action="status")
    assert answer["ok"] and answer["agent"] == ""
    assert set(answer["agents"]) == {"alice", "bob"}
    assert kicks == []


@pytest.mark.parametrize(
    ("variables", "error"),
    [
        ({"action": "dance", "agent": "alice"}, "unknown action 'dance' (login, logout, pause"),
        ({"agent": "alice"}, "missing action (login, logout, pause, unpause or status)"),
        ({"action": "login"}, "login needs an agent"),
        ({"action": "login", "agent": "  "}, "login needs an agent"),
        ({"action": "login", "agent": "alcie"}, "no agent 'alcie'; did you mean 'alice'?"),
        ({"action": "login", "agent": "zed"}, "no agent 'zed'"),
        ({"action": "status", "agent": "zed"}, "no agent 'zed'"),
        ({"action": "login", "agent": 7}, "'agent' must be text, not int"),
        ({"action": "login", "agent": "x" * 201}, "'agent' is too long"),
        ({"action": "login", "agent": "alice", "reason": "x"}, "a reason is only given with"),
        ({"action": "login", "agent": "alice", "queue": "x"}, "unknown field 'queue'"),
        ({"action": "pause", "agent": "alice"}, "agent 'alice' cannot pause while logged_out"),
        ({"action": "unpause", "agent": "alice"}, "agent 'alice' cannot unpause while logged"),
        ({"action": "logout", "agent": "alice"}, "agent 'alice' cannot log out while logged"),
    ],
)
def test_bad_commands_are_refused_with_a_clear_answer(
    queues: QueueService,
    store: SqliteStore,
    kicks: list[int],
    variables: dict[str, object],
    error: str,
) -> None:
    """Malformed, unknown or impossible commands change nothing and say why."""
    answer = command(queues, **variables)
    assert answer["ok"] is False
    assert answer["error"].startswith(error), answer["error"]
    assert answers(store) == [answer]
    assert answer["request"] == "r1"
    assert kicks == []
    assert all(a.state.value == "logged_out" for a in queues.router.agents.values())


def test_a_command_without_request_id_is_refused(queues: QueueService, store: SqliteStore) -> None:
    """Without a request id nobody could read the answer: refused, and nothing changes."""
    answer = control.handle_agent_command(queues, {"action": "login", "agent": "alice"})
    assert (answer["ok"], answer["error"], answer["request"]) == (False, "missing request id", "")
    assert queues.router.agents["alice"].state.value == "logged_out"


def test_odd_echoed_values_stay_text(queues: QueueService) -> None:
    """Non-text values are not echoed back into the store as they came."""
    answer = control.handle_agent_command(queues, {"request": ["x"], "action": {"a": 1}})
    assert (answer["request"], answer["action"], answer["ok"]) == ("", "", False)


def test_login_twice_is_refused_the_second_time(queues: QueueService) -> None:
    """An agent already logged in cannot log in again; the answer says so."""
    assert command(queues, action="login", agent="alice")["ok"]
    again = command(queues, action="login", agent="alice")
    assert again["error"] == "agent 'alice' cannot log in while available"


def test_user_event_handler_reads_asterisk_user_events(
    queues: QueueService, store: SqliteStore
) -> None:
    """The handler App registers takes the event's variables (Asterisk adds eventname)."""
    event = parse_event(
        {
            "type": "ChannelUserevent",
            "eventname": control.EVENT_NAME,
            "userevent": {
                "request": "abc",
                "action": "pause",
                "agent": "alice",
                "reason": "",
                "eventname": control.EVENT_NAME,
            },
            "application": "callflow",
        }
    )
    assert isinstance(event, ChannelUserevent)
    command(queues, action="login", agent="alice")
    control.user_event_handler(queues)(event)
    last = answers(store)[-1]
    assert (last["request"], last["ok"]) == ("abc", True)
    assert last["agents"]["alice"] == {"state": "paused", "reason": ""}
