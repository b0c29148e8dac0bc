"""Settings files are checked like flows and queues: every mistake at once, each placed."""

from __future__ import annotations

from pathlib import Path

import pytest

from callflow.app.settings import SettingsError, load_settings, read_settings


def _refused(path: Path) -> SettingsError:
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    return caught.value


def test_every_mistake_is_reported_at_once_one_a_line(tmp_path: Path) -> None:
    """Several mistakes in several sections give one line each, in file order, with
    file:line:column and the nearest valid word."""
    path = tmp_path / "callflow.yaml"
    path.write_text(
        "ari:\n  url: ftp://x\n  pasword: x\n"
        "log: {format: xml}\n"
        "store: {retention_days: 0}\n"
        "shutdown:\n  grace: -1\n  action: dialplann\n"
        "queue: queues.yaml\n"
    )
    error = _refused(path)
    assert str(error).splitlines() == [
        f"{path}:2:8: ari.url must start with http:// or https://",
        f"{path}:3:3: unknown key 'pasword' in 'ari' (expected one of: url, username, password,"
        " password_env, app, request_timeout, reconcile_interval); did you mean 'password'?",
        f"{path}:4:15: log.format must be one of: text, json, not 'xml'",
        f"{path}:5:25: store.retention_days must be a number of days from 1 to 36500, not '0'",
        f"{path}:7:10: shutdown.grace must be a number of seconds from 0 to 3600, not '-1'",
        f"{path}:8:11: shutdown.action must be 'apologise' (play the prompt, hang up) or"
        " 'dialplan' (back to the dialplan), not 'dialplann'; did you mean 'dialplan'?",
        f"{path}:9:1: unknown key 'queue' at the top level (expected one of: ari, flows, log,"
        " store, sounds_dir, queues, shutdown, node, outbound, api, campaigns);"
        " did you mean 'queues'?",
    ]
    assert len(error.diagnostics) == 7 and all(d.is_error for d in error.diagnostics)


def test_yaml_syntax_errors_and_duplicate_keys_are_placed(tmp_path: Path) -> None:
    """The settings reader is the flows' reader: syntax errors with hints, duplicate keys."""
    path = tmp_path / "callflow.yaml"
    path.write_text("ari:\n  url: http://x: 1\n")
    assert str(_refused(path)) == (
        f"{path}:2:16: YAML syntax error: mapping values are not allowed here; is this line"
        " indented too far, or does a value containing ': ' need quotes?"
    )
    path.write_text("flows: [a.yaml]\nflows: [b.yaml]\n")
    assert str(_refused(path)) == (
        f"{path}:2:1: duplicate key 'flows' (first defined at line 1, column 1)"
    )


def test_empty_and_missing_files_are_one_line(tmp_path: Path) -> None:
    """An empty file is refused at 1:1; a missing one names the file alone."""
    path = tmp_path / "callflow.yaml"
    path.write_text("# nothing yet\n")
    assert str(_refused(path)) == f"{path}:1:1: the settings file is empty"
    assert (
        str(_refused(tmp_path / "nope.yaml"))
        == f"{tmp_path / 'nope.yaml'}: settings file not found"
    )


def test_read_settings_returns_diagnostics_instead_of_raising(tmp_path: Path) -> None:
    """read_settings gives the settings (None on error) and the diagnostics, errors first."""
    path = tmp_path / "callflow.yaml"
    path.write_text("flows: [a.yaml]\nlog: {level: loud}\n")
    settings, diagnostics = read_settings(path)
    assert settings is None
    assert [str(d) for d in diagnostics] == [
        f"{path}:2:14: error: log.level must be one of: debug, info, warning, error, critical,"
        " not 'loud'"
    ]
    path.write_text("flows: a.yaml\nlog: {level: DEBUG}\n")
    settings, diagnostics = read_settings(path)
    assert settings is not None and diagnostics == []
    assert settings.flows == (tmp_path / "a.yaml",) and settings.log_level == "debug"
