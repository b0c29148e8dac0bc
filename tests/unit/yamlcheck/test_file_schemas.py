"""Tests for the JSON Schemas of queues and settings files: made from the readers' specs,
committed next to the samples, accepting the samples and refusing a misspelt key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from callflow.app.settings import settings_schema
from callflow.cli import main
from callflow.queue.config import parse_queues, queues_schema

REPO = Path(__file__).parents[3]
CONFIG = REPO / "config"
EVERY_KEY = Path(__file__).parent / "every_key.queues.yaml"
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


def test_schema_and_checker_agree_on_a_file_using_every_queue_key() -> None:
    """A queues file with every key the checker knows is clean for both; a wrong value for
    a duration, a choice or a whole number fails both."""
    text = EVERY_KEY.read_text()
    center, diagnostics = parse_queues("q.yaml", text)
    assert center is not None and diagnostics == []
    assert _errors("queues", text) == []
    for right, wrong in [
        ("max_wait: 15m", "max_wait: 15 minutes"),
        ("strategy: weighted-random", "strategy: wrandom"),
        ("round_seconds: 15", "round_seconds: 7"),
        ("position_limit: 4", "position_limit: 0"),
        ("ring_timeout: 20s", "ring_timeout: 0"),
    ]:
        broken = text.replace(right, wrong)
        assert parse_queues("q.yaml", broken)[0] is None, wrong
        assert _errors("queues", broken), wrong


@pytest.mark.parametrize("kind", ["flow", "queues", "settings"])
def test_schema_command_prints_each_kind(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`callflow schema --kind KIND` prints that kind's draft 2020-12 schema."""
    assert main(["schema", "--kind", kind]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:callflow:{kind}"
