"""The live callbacks' configuration, requests and command line, without Asterisk: a queue's
``callback:`` block read (or refused at its line and column), numbers checked with the
queue's rules before anything is kept, the CLI's requests and cancels taken by the app."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from callflow.call.outbound import OutboundSettings
from callflow.callback.live import CallbackService, policy_of, rules_of
from callflow.callback.model import DialOutcome
from callflow.cli import main
from callflow.flow import machine as fm
from callflow.flow.model import Say, WeeklyHours
from callflow.queue.config import parse_queues
from callflow.queue.live import QueueService
from callflow.queue.model import callback_no_agent, callback_returning
from callflow.store import SqliteStore

QUEUES = """\
agents:
  alice: {endpoint: PJSIP/agent1, queues: [support]}
queues:
  support:
    exit_keys: {"1": offer}
    callback:
      mode: customer-first
      max_attempts: 4
      retry: {no_answer: 2m, busy: 30, lost: 5}
      expiry: 2h
      customer_hours: "09:00-20:00"
      default_country: GB
      blocked: ["+4455"]
  sales: {}
"""


HOURS = """\
      hours: {timezone: Europe/London, weekly: {mon-fri: "08:00-18:00", sat: "09:00-13:00"}}
"""


def _center(text: str = QUEUES) -> Any:
    center, diagnostics = parse_queues("queues.yaml", text, nodes={"offer"})
    assert center is not None, [str(d) for d in diagnostics]
    return center


def test_a_callback_block_becomes_the_queues_policy_and_number_rules() -> None:
    """Mode, attempts, per-outcome delays (the rest default), expiry, the hours callbacks are
    placed in and the customer's hours make the policy; the default country and the extra
    blocked prefix make the number rules."""
    with_hours = QUEUES.replace('      blocked: ["+4455"]\n', '      blocked: ["+4455"]\n' + HOURS)
    config = _center(with_hours).queues["support"].callback
    assert config is not None
    policy = policy_of(config)
    assert policy.mode == "customer-first" and policy.retry.max_attempts == 4
    assert policy.retry.delay(DialOutcome.NO_ANSWER) == 120.0
    assert policy.retry.delay(DialOutcome.BUSY) == 30.0
    assert policy.retry.delay(DialOutcome.LOST) == 5.0
    assert policy.retry.delay(DialOutcome.MACHINE) == 1800.0
    assert policy.expiry == 7200.0 and policy.window.customer_hours == (540, 1200)
    hours = policy.window.hours
    assert hours is not None and hours.timezone == "Europe/London"
    assert len(hours.weekly) == 6 and hours.weekly[0] == WeeklyHours(0, 480, 1080)
    rules = rules_of(config)
    assert rules.default_country == "GB" and "+4455" in rules.blocked_prefixes
    assert _center().queues["sales"].callback is None
    assert not policy.machine_message and policy.customer_wait == 0.0


def test_a_machine_message_and_the_customers_wait_for_an_agent() -> None:
    """machine_message (a prompt) makes the policy leave one; customer_wait and what then
    make the limit, and what the customer is told on answer and when it is reached."""
    extra = (
        '      machine_message: {say: "We called you back. We will try again."}\n'
        "      customer_wait: 2m\n      customer_wait_then: end\n"
    )
    blocked = '      blocked: ["+4455"]\n'
    center = _center(QUEUES.replace(blocked, blocked + extra))
    config = center.queues["support"].callback
    assert config is not None
    assert config.machine_message == Say("We called you back. We will try again.")
    policy = policy_of(config)
    assert policy.machine_message and policy.customer_wait == 120.0
    assert policy.customer_wait_then == "end"
    told = callback_returning(config)
    assert told.endswith("If no agent is free within 2 minutes, we will end this call."), told
    assert "sorry" in callback_no_agent(config)
    texts = {text for text, _ in center.say_texts()}
    assert {told, callback_no_agent(config), "We called you back. We will try again."} <= texts


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("      mode: agent-last", "5:13: error: 'mode' in 'callback' of queue 'support'"),
        ("      retry: {ringing: 5}", "5:15: error: unknown key 'ringing'"),
        ('      customer_hours: "21:00-08:00"', "5:23: error: 'customer_hours'"),
        ('      blocked: ["1900"]', "5:17: error: 'blocked' in 'callback' of queue 'support'"),
        ("      max_attempts: 0", "5:21: error: 'max_attempts' in 'callback'"),
        ("      hours: {timezone: Mars/Base, weekly: {mon: 08:00-18:00}}", "unknown timezone"),
        ('      hours: {timezone: UTC, weekly: {mon: "18:00"}}', "5:44: error: invalid hours"),
        ('      hours: {timezone: UTC, weekly: {moon: "08:00-18:00"}}', "5:39: error: unknown day"),
        ("      machine_message: {play: beep}", "5:25: error: unknown prompt kind 'play'"),
        ("      customer_wait: soon", "5:22: error: 'customer_wait' in 'callback'"),
        ("      customer_wait_then: hang_up", "5:27: error: 'customer_wait_then' in 'callback'"),
    ],
)
def test_a_wrong_callback_block_is_refused_at_its_line_and_column(line: str, expected: str) -> None:
    """Each mistake in a callback block is reported where it is, naming the block."""
    text = "queues:\n  support:\n    callback:\n      expiry: 1h\n" + line + "\n"
    center, diagnostics = parse_queues("q.yaml", text)
    assert center is None
    found = [str(d) for d in diagnostics]
    assert any(expected in d for d in found), found


class _Host:
    """No Asterisk: nothing in these tests places a call."""

    def __init__(self) -> None:
        self.calls: dict[str, Any] = {}
        self.recovered = asyncio.Event()

    @property
    def ari(self) -> Any:
        raise AssertionError("no call may be placed here")

    def attach_channel(self, channel_id: str, events: Any) -> None:
        raise AssertionError("no call may be placed here")


def _service(tmp_path: Path) -> CallbackService:
    store = SqliteStore(tmp_path / "store.sqlite3")
    return CallbackService(QueueService(_center(), store), _Host(), OutboundSettings())


class _Call:
    id = "call-1"


async def test_a_refused_number_is_logged_and_never_kept(tmp_path: Path) -> None:
    """A hostile number from a call is refused with its reason (for the prompt and the
    log) before the book sees it; a good national number is kept as E.164, once."""
    service = _service(tmp_path)
    for hostile in ("999", "0207946000&PJSIP/x", "07700 900123", "+441234*5", "+445512345678"):
        result = await service.request_from_call(
            _Call(),  # type: ignore[arg-type]
            fm.RequestCallback("support", hostile),
        )
        assert isinstance(result, fm.Failed) and result.reason.startswith("refused:"), hostile
    assert service.book.live() == []
    reasons = [e.data["reason"] for e in service.store.events(kind="callback.refused")]
    assert reasons == ["emergency", "dial_syntax", "bad_character", "bad_character", "blocked"]
    for _ in range(2):
        result = await service.request_from_call(
            _Call(),  # type: ignore[arg-type]
            fm.RequestCallback("support", "02079460000"),
        )
        assert result == fm.Completed("+442079460000")
    [callback] = service.book.live()
    assert callback.number == "+442079460000" and callback.state == "waiting"
    service.store.close()


def _settings(tmp_path: Path) -> Path:
    queues = tmp_path / "queues.yaml"
    queues.write_text(QUEUES.replace('exit_keys: {"1": offer}', ""))
    config = tmp_path / "callflow.yaml"
    config.write_text(
        "ari: {url: 'http://127.0.0.1:1', username: u, password: p}\n"
        f"flows: []\nqueues: {queues}\nstore: {tmp_path / 'store.sqlite3'}\n"
    )
    return config


async def test_the_cli_request_reaches_the_running_app_and_a_cancel_follows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`callflow callbacks request` refuses a premium number (exit 1) and writes a good one
    as submitted; the app's look at the store books it (a second request of the same
    number is cancelled as a duplicate); `list` shows it, `cancel` gives it up."""
    config = _settings(tmp_path)
    service = _service(tmp_path)
    assert (
        main(
            ["callbacks", "request", "+449012345678", "--queue", "support", "--config", str(config)]
        )
        == 1
    )
    assert "blocked" in capsys.readouterr().err
    assert (
        main(["callbacks", "request", "--queue", "sales", "0207946000", "--config", str(config)])
        == 1
    )
    capsys.readouterr()
    for _ in range(2):
        assert (
            main(
                [
                    "callbacks",
                    "request",
                    "02079460000",
                    "--queue",
                    "support",
                    "--config",
                    str(config),
                    "--json",
                ]
            )
            == 0
        )
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    service.poll_store(await service.store.live_callbacks_async())
    [callback] = service.book.live()
    assert callback.id == first["id"] and callback.number == "+442079460000"
    duplicate = service.store.load_callback(second["id"])
    assert duplicate is not None and duplicate["state"] == "cancelled"
    # Its event has the fields every callback event has, as the machine's own do.
    [event] = service.store.events(kind="callback.cancelled")
    assert event.data == {
        "callback": second["id"],
        "queue": "support",
        "state": "cancelled",
        "attempts": 0,
        "reason": f"duplicate of {first['id']}",
    }

    assert main(["callbacks", "list", "--config", str(config)]) == 0
    listed = capsys.readouterr().out
    assert first["id"] in listed and "waiting" in listed and second["id"] not in listed
    argv = ["callbacks", "cancel", first["id"], "--config", str(config), "--wait", "0"]
    assert main(argv) == 0
    assert "cancel asked" in capsys.readouterr().out
    service.poll_store(await service.store.live_callbacks_async())
    assert service.book.live() == []
    row = service.store.load_callback(first["id"])
    assert row is not None and row["state"] == "cancelled"
    assert main(["callbacks", "cancel", first["id"], "--config", str(config)]) == 1
    service.store.close()


async def test_rows_the_app_cannot_take_get_events_with_the_shared_fields(tmp_path: Path) -> None:
    """A submitted row for a queue the app does not have is failed, and a cancel asked for
    a callback no longer live here is cancelled: each event names the callback, its queue,
    state and attempts, and says why, as the machine's own events do."""
    service = _service(tmp_path)
    row = {
        "id": "cb0000000001",
        "queue": "nowhere",
        "number": "+442079460000",
        "requested_at": 1.0,
        "updated_at": 1.0,
        "state": "submitted",
        "call_id": "",
    }
    service.store.save_callback(row)
    asked = {**row, "id": "cb0000000002", "queue": "support", "state": "cancel-asked"}
    service.store.save_callback({**asked, "attempts": 2, "reason": "api"})
    service.poll_store(await service.store.live_callbacks_async())
    [failed] = service.store.events(kind="callback.failed")
    assert {k: failed.data[k] for k in ("callback", "queue", "state", "attempts")} == {
        "callback": "cb0000000001",
        "queue": "nowhere",
        "state": "failed",
        "attempts": 0,
    }
    assert failed.data["reason"].startswith("refused: ") and "nowhere" in failed.data["reason"]
    [cancelled] = service.store.events(kind="callback.cancelled")
    assert cancelled.data == {
        "callback": "cb0000000002",
        "queue": "support",
        "state": "cancelled",
        "attempts": 2,
        "reason": "cancelled: api",
    }
    assert service.store.load_callback("cb0000000001")["state"] == "failed"  # type: ignore[index]
    row2 = service.store.load_callback("cb0000000002")
    assert row2 is not None and (row2["state"], row2["reason"]) == ("cancelled", "cancelled: api")
    service.store.close()
