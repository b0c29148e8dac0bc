"""``callflow campaigns preview AGENT [--accept|--skip]``: the agent's screen from the store
of the running callflow, and an accept or skip asked of its campaign (the code the API's
routes use)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from callflow.cli import main
from callflow.dialer import preview as pv
from callflow.store import SqliteStore


def setup(folder: Path) -> Path:
    (folder / "queues.yaml").write_text(
        "agents:\n  alice: {endpoint: PJSIP/alice, queues: [sales]}\nqueues:\n  sales: {}\n"
    )
    (folder / "main.yaml").write_text("entry:\n  '100': bye\nnodes:\n  bye: {type: hangup}\n")
    (folder / "p.yaml").write_text("name: p\ndial_mode: preview\nagents: [alice]\n")
    settings = folder / "callflow.yaml"
    settings.write_text(
        "ari: {url: 'http://127.0.0.1:8088', username: u, password: p}\n"
        f"flows: [main.yaml]\nqueues: queues.yaml\ncampaigns: [p.yaml]\n"
        f"store: {folder / 'store.sqlite3'}\n"
    )
    return settings


def test_the_screen_then_a_skip_answered_by_the_campaign(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = setup(tmp_path)
    config = ["--config", str(settings)]
    assert main(["campaigns", "preview", "alice", *config]) == 1
    assert "no lead is presented" in capsys.readouterr().out
    store = SqliteStore(tmp_path / "store.sqlite3")
    data = {
        "campaign": "p",
        "presentation": "dlx",
        "agent": "alice",
        "number": "+12025550143",
        "attempt": 1,
        "timezone": "America/Chicago",
        "fields": {"first_name": "Ann"},
        "last_outcome": None,
        "at": 1.0,
    }
    store.append(pv.PRESENTED, "dlx", data)
    store.flush()
    assert main(["campaigns", "preview", "alice", *config]) == 0
    out = capsys.readouterr().out
    assert "alice: presented +12025550143 (campaign p, attempt 1" in out
    assert "time zone: America/Chicago" in out and "first_name: Ann" in out
    assert main(["campaigns", "preview", "alice", "--json", *config]) == 0
    assert json.loads(capsys.readouterr().out)["fields"] == {"first_name": "Ann"}
    # No campaign answers: the request is written, the command says nothing came back.
    assert main(["campaigns", "preview", "alice", "--skip", "--wait", "0.3", *config]) == 1
    assert "no answer from the campaign" in capsys.readouterr().err
    [request] = store.events(kind=pv.REQUEST)
    assert (request.call_id, request.data["action"], request.data["source"]) == (
        "dlx",
        "skip",
        "cli",
    )

    # The runner's answer, written while the command waits.
    def answer() -> None:
        verdict = {"campaign": "p", "presentation": "dlx", "dial": False, "at": 2.0}
        store.append(pv.SKIPPED, "dlx", verdict)
        store.flush()

    timer = threading.Timer(0.5, answer)
    timer.start()
    try:
        assert main(["campaigns", "preview", "alice", "--skip", "--wait", "10", *config]) == 0
    finally:
        timer.join()
    assert capsys.readouterr().out.endswith("+12025550143: skipped, not dialed\n")
    store.close()
    assert main(["campaigns", "preview", "alice", "--accept", *config]) == 1
    assert "no lead is presented to alice" in capsys.readouterr().err
