"""Tests for the JSON Schemas of queues and settings files: made from the readers' specs,
committed next to the samples, accepting the samples and refusing a misspelt key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from callflow.app.settings import read_settings, settings_schema
from callflow.cli import main
from callflow.queue.config import parse_queues, queues_schema

REPO = Path(__file__).parents[3]
CONFIG = REPO / "config"
EVERY_KEY = {
    kind: Path(__file__).parent / f"every_key.{kind}.yaml" for kind in ("queues", "settings")
}
SCHEMAS = {"queues": queues_schema, "settings": settings_schema}
SAMPLES = [
    ("queues", CONFIG / "queues.yaml"),
    ("queues", REPO / "tests" / "integration" / "queues.yaml"),
    ("settings", CONFIG / "callflow.yaml"),
    ("settings", CONFIG / "docker.yaml"),
]


class _Loader(yaml.SafeLoader):
    """YAML 1.2-like: dates stay text, as in the YAML language server."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if not tag.endswith(":timestamp")]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _data(text: str) -> Any:
    def stringify(value: object) -> object:
        if isinstance(value, dict):
            return {str(k): stringify(v) for k, v in value.items()}
        if isinstance(value, list):
            return [stringify(v) for v in value]
        return value

    return stringify(yaml.load(text, Loader=_Loader))


def _errors(kind: str, text: str) -> list[str]:
    """Every error message, those inside anyOf branches too."""
    validator = jsonschema.Draft202012Validator(SCHEMAS[kind]())
    found: list[str] = []
    todo = list(validator.iter_errors(_data(text)))
    while todo:
        error = todo.pop()
        found.append(error.message)
        todo.extend(error.context or ())
    return found


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_committed_schema_file_is_current(kind: str) -> None:
    """config/<kind>.schema.json is what `callflow schema --kind <kind>` prints."""
    committed = json.loads((CONFIG / f"{kind}.schema.json").read_text())
    assert committed == SCHEMAS[kind]()
    jsonschema.Draft202012Validator.check_schema(committed)


@pytest.mark.parametrize(("kind", "path"), SAMPLES, ids=lambda p: getattr(p, "name", p))
def test_sample_files_validate_against_their_schema(kind: str, path: Path) -> None:
    """The sample queues and settings files are valid for a JSON Schema validator too."""
    assert _errors(kind, path.read_text()) == []


@pytest.mark.parametrize(
    ("kind", "path", "right", "wrong"),
    [
        ("queues", CONFIG / "queues.yaml", "strategy:", "stratgy:"),
        ("queues", CONFIG / "queues.yaml", "position:", "postion:"),
        ("settings", CONFIG / "callflow.yaml", "password_env:", "pasword_env:"),
        ("settings", CONFIG / "callflow.yaml", "retention_days:", "retension_days:"),
    ],
)
def test_a_misspelt_key_is_rejected(kind: str, path: Path, right: str, wrong: str) -> None:
    """A misspelt key, at the top or deep in a section, fails the schema."""
    text = path.read_text()
    assert right in text
    assert any(
        f"'{wrong[:-1]}' was unexpected" in e for e in _errors(kind, text.replace(right, wrong, 1))
    )


def _checked(kind: str, text: str, tmp_path: Path) -> bool:
    """Whether the file's own reader accepts ``text``."""
    if kind == "queues":
        return parse_queues("q.yaml", text)[0] is not None
    path = tmp_path / "callflow.yaml"
    path.write_text(text)
    return read_settings(path)[0] is not None


@pytest.mark.parametrize(
    ("kind", "wrong"),
    [
        ("queues", {"max_wait: 15m": "max_wait: 15 minutes"}),
        ("queues", {"strategy: weighted-random": "strategy: wrandom"}),
        ("queues", {"round_seconds: 15": "round_seconds: 7"}),
        ("queues", {"position_limit: 4": "position_limit: 0"}),
        ("queues", {"ring_timeout: 20s": "ring_timeout: 0"}),
        ("settings", {"level: warning": "level: loud"}),
        ("settings", {"retention_days: 400": "retention_days: 0"}),
        ("settings", {"grace: 30": "grace: 3601"}),
        ("settings", {"url: https:": "url: ftp:"}),
    ],
    ids=lambda w: next(iter(w.values())) if isinstance(w, dict) else w,
)
def test_schema_and_reader_agree_on_a_file_using_every_key(
    kind: str, wrong: dict[str, str], tmp_path: Path
) -> None:
    """A file with every key its reader knows is clean for both the reader and the schema;
    the same file with one wrong value fails both."""
    text = EVERY_KEY[kind].read_text()
    assert _checked(kind, text, tmp_path)
    assert _errors(kind, text) == []
    [(right, bad)] = wrong.items()
    assert right in text
    broken = text.replace(right, bad)
    assert not _checked(kind, broken, tmp_path)
    assert _errors(kind, broken)


@pytest.mark.parametrize("kind", ["flow", "queues", "settings"])
def test_schema_command_prints_each_kind(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`callflow schema --kind KIND` prints that kind's draft 2020-12 schema."""
    assert main(["schema", "--kind", kind]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:callflow:{kind}"
