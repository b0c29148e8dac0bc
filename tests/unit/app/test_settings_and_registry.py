"""Settings files and the flow registry: clear refusals, nothing half-loaded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callflow.app.settings import SettingsError, load_settings
from callflow.flow.loader import load_flow
from callflow.ivr import FlowRegistry
from callflow.prompts import build_prompts, missing_prompts
from callflow.queue.config import parse_queues
from callflow.store import SqliteStore

FLOW = """\
entry:
  "100": hello
nodes:
  hello:
    type: hangup
    prompt:
      - say: "Hello from the tests."
"""


def test_settings_resolve_paths_next_to_the_file(tmp_path: Path) -> None:
    """Relative flow, queues, store and sounds paths are taken from the settings' folder."""
    path = tmp_path / "callflow.yaml"
    path.write_text(
        "ari: {url: 'http://127.0.0.1:8088', password: pw}\n"
        "flows: [flows/a.yaml]\nqueues: queues.yaml\nstore: var/db.sqlite3\nsounds_dir: snd\n"
    )
    settings = load_settings(path)
    assert settings.flows == (tmp_path / "flows/a.yaml",)
    assert settings.queues == tmp_path / "queues.yaml"
    assert settings.store == tmp_path / "var/db.sqlite3"
    assert settings.sounds_dir == tmp_path / "snd"
    assert "pw" not in repr(settings)


def test_settings_refuse_credentials_in_the_url(tmp_path: Path) -> None:
    """A URL with user:password in it is refused with its line and column."""
    path = tmp_path / "callflow.yaml"
    path.write_text("ari:\n  url: http://callflow:secret@127.0.0.1:8088\n")
    with pytest.raises(SettingsError, match=r"callflow.yaml:2:8: ari.url must not hold"):
        load_settings(path)


def test_settings_password_comes_from_the_named_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """password_env names the variable the ARI password is read from."""
    monkeypatch.setenv("MY_ARI_PW", "from-env")
    path = tmp_path / "callflow.yaml"
    path.write_text("ari:\n  password_env: MY_ARI_PW\n")
    assert load_settings(path).ari.password == "from-env"


def test_registry_refuses_flows_whose_text_prompts_are_not_built(tmp_path: Path) -> None:
    """With a sounds directory set, a flow with an unbuilt say: prompt is refused, and
    accepted once the prompts are built."""
    flow = tmp_path / "a.yaml"
    flow.write_text(FLOW)
    sounds = tmp_path / "sounds"
    registry = FlowRegistry([flow], prompts_dir=sounds)
    refused = registry.load()
    assert not refused.applied
    assert "text prompt not built: 'Hello from the tests.'" in refused.errors[0]
    assert registry.flow_for("100") is None

    assert FlowRegistry([flow]).load().applied  # without a sounds dir nothing is checked
    loaded, _ = load_flow(str(flow))
    assert loaded is not None
    build_prompts([loaded], sounds)
    assert missing_prompts([loaded], sounds) == []
    assert registry.load().applied
    assert registry.flow_for("100") is not None


def test_registry_refuses_a_number_served_twice(tmp_path: Path) -> None:
    """Two flow files serving the same number are refused together, at both entries."""
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(FLOW)
    second.write_text(FLOW)
    result = FlowRegistry([first, second]).load()
    assert not result.applied
    assert result.errors == [
        f"{second}:2:3: error: number '100' is already served by the flow at {first}:2:3"
    ]


def test_event_log_reads_from_a_time_on(tmp_path: Path) -> None:
    """events(since=...) leaves out older events, so history reads stay bounded."""
    store = SqliteStore(tmp_path / "s.sqlite3")
    old = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    store.append("queue.connect", "a", {"caller": "1"}, at=old)
    store.append("queue.connect", "b", {"caller": "2"}, at=old + dt.timedelta(days=40))
    recent = store.events(kind="queue.connect", since=old + dt.timedelta(days=30))
    assert [e.call_id for e in recent] == ["b"]
    store.close()


QUEUE_FLOW = """\
entry:
  "300": wait
nodes:
  wait:
    type: queue
    queue: {queue}
    on_failure: bye
  bye:
    type: hangup
"""


def test_registry_refuses_queue_nodes_the_queues_cannot_serve(tmp_path: Path) -> None:
    """A queue node naming an unknown queue, or a queue whose overflow goes to a node the flow
    lacks, is refused at its queue: line; with the right names it loads."""
    center, diagnostics = parse_queues(
        "queues.yaml",
        "queues:\n  support:\n    overflow: {timeout: voicemail}\n  sales: {}\n",
    )
    assert center is not None, diagnostics
    flow = tmp_path / "flow.yaml"
    flow.write_text(QUEUE_FLOW.format(queue="suport"))
    result = FlowRegistry([flow], queues=center).load()
    assert not result.applied
    assert result.errors == [
        f"{flow}:6:12: error: queue node 'wait' names queue 'suport', which queues.yaml does"
        " not define; did you mean 'support'?"
    ]
    flow.write_text(QUEUE_FLOW.format(queue="support"))
    result = FlowRegistry([flow], queues=center).load()
    assert not result.applied
    assert any("may send callers to node 'voicemail'" in e for e in result.errors)
    flow.write_text(QUEUE_FLOW.format(queue="sales"))
    assert FlowRegistry([flow], queues=center).load().applied
