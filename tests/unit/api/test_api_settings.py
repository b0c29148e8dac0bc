"""The ``api:`` settings: read at file:line:column like the rest, the token from the
environment, refused when missing or short; the JSON Schema knows the section."""

from __future__ import annotations

from pathlib import Path

import pytest

from callflow.api.settings import ApiSettings, ApiSettingsError
from callflow.app.settings import SettingsError, load_settings, settings_schema

BASE = "ari: {password: secret}\nflows: []\n"


def settings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callflow.yaml"
    path.write_text(BASE + text)
    return path


def test_no_api_section_means_no_api(tmp_path: Path) -> None:
    """The API is off unless asked for."""
    assert load_settings(settings(tmp_path, "")).api is None


def test_the_token_comes_from_the_environment_variable_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """token_env names the variable; its value wins over a token in the file."""
    monkeypatch.setenv("MY_API_TOKEN", "from-the-environment-123")
    path = settings(tmp_path, "api:\n  port: 9000\n  token: in-the-file-1234567\n"
                    "  token_env: MY_API_TOKEN\n")  # fmt: skip
    api = load_settings(path).api
    assert api == ApiSettings(bind="127.0.0.1", port=9000, token="from-the-environment-123")
    assert "from-the-environment" not in repr(api)
    assert api is not None and api.loopback


def test_the_default_variable_is_callflow_api_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without token or token_env, CALLFLOW_API_TOKEN holds it."""
    monkeypatch.setenv("CALLFLOW_API_TOKEN", "x" * 32)
    api = load_settings(settings(tmp_path, "api: {bind: 0.0.0.0}\n")).api
    assert api is not None and api.token == "x" * 32 and not api.loopback


def test_an_api_without_a_token_does_not_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No token anywhere: an error at the api section's line and column."""
    monkeypatch.delenv("CALLFLOW_API_TOKEN", raising=False)
    path = settings(tmp_path, "api:\n  port: 9000\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}:4:3: the api needs a token")


def test_short_tokens_wrong_ports_and_misspelt_keys_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each at its file:line:column, a misspelt key with the nearest valid one."""
    monkeypatch.delenv("CALLFLOW_API_TOKEN", raising=False)
    cases = {
        "api:\n  token: short\n": ":4:10: the api token must be at least 16",
        "api:\n  token: abcdefghijklmnopq\n  port: 70000\n": ":5:9: api.port must be a TCP port",
        "api:\n  token: abcdefghijklmnopq\n  prot: 80\n": "did you mean 'port'",
    }
    for text, expected in cases.items():
        with pytest.raises(SettingsError) as caught:
            load_settings(settings(tmp_path, text))
        assert expected in str(caught.value), str(caught.value)


def test_api_settings_refuse_an_unusable_token() -> None:
    """Made in code, the settings refuse what the file reader refuses."""
    with pytest.raises(ApiSettingsError):
        ApiSettings(token="")
    with pytest.raises(ApiSettingsError):
        ApiSettings(token=" padded-token-0123456 ")


def test_the_schema_knows_the_api_section() -> None:
    """`callflow schema --kind settings` describes api: and its keys."""
    api = settings_schema()["properties"]["api"]
    assert set(api["properties"]) == {"bind", "port", "token", "token_env"}
    assert api["additionalProperties"] is False
