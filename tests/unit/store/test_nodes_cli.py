"""`callflow nodes`: the claims on a store, and which of them still count as running."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from callflow.cli import main
from callflow.store import SqliteStore
from callflow.store.nodes import NodeLife


def test_nodes_lists_each_claim_and_whether_it_still_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "callflow.yaml"
    settings.write_text("store: store.sqlite3\n")
    assert main(["nodes", "--config", str(settings)]) == 2  # no store yet, as `callbacks list`
    assert "does not exist" in capsys.readouterr().err

    here = socket.gethostname()
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "callflow"])
    store = SqliteStore(tmp_path / "store.sqlite3")
    for node in (
        NodeLife("east", here, running.pid, "east.a", 0.0, 0.0),
        NodeLife("north", here, ended.pid, "north.b", 0.0, 0.0),
        NodeLife("west", "elsewhere", 42, "west.c", 0.0, 0.0),
        NodeLife("", "elsewhere", 43, "d", 0.0, 0.0),
    ):
        assert store.claim_node(node) is None
    store.close()
    with sqlite3.connect(tmp_path / "store.sqlite3") as db:  # west went silent 5 minutes ago
        db.execute("UPDATE nodes SET seen_at = seen_at - 300 WHERE name = 'west'")
    db.close()

    try:
        assert main(["nodes", "--config", str(settings)]) == 0
    finally:
        running.kill()
        running.wait()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NODE", "HOST", "PID", "STARTED", "(UTC)", "HEARD", "OF", "STATE"]
    states = {line.split()[0]: line for line in lines[1:]}
    assert states["(no"].endswith("running")  # "(no name)", on another host, heard of
    assert states["east"].endswith("running")
    assert "ended: its process is gone" in states["north"]
    assert "silent: taken as gone" in states["west"]
    assert re.search(r" 30[01] s ago ", states["west"]), states["west"]  # 5 minutes, and the run

    assert main(["nodes", "--config", str(settings), "--json"]) == 0
    rows = {row["node"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["west"]["state"] == "silent: taken as gone"
    assert rows["north"]["state"] == "ended: its process is gone"
    assert rows[""]["pid"] == 43
