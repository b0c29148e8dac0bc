"""Tests for the shared YAML checker: one pass finds every problem, in one style."""

from __future__ import annotations

from pathlib import Path

import pytest

from callflow.flow import diagnostics as flow_diagnostics
from callflow.flow import source as flow_source
from callflow.yamlcheck import (
    Boolean,
    Checker,
    Choice,
    Diagnostic,
    Duration,
    Integer,
    Key,
    ListOf,
    Location,
    Number,
    Section,
    Severity,
    Text,
    read_file,
    read_source,
)
from callflow.yamlcheck import diagnostics as shared_diagnostics
from callflow.yamlcheck import source as shared_source

SPEC = Section(
    Key("name", Text(), "A name.", required=True),
    Key("count", Integer(minimum=1), "How many."),
    Key("rounding", Integer(choices=(0, 5, 10)), "Rounded to."),
    Key("days", Number(above=0), "Days."),
    Key("grace", Number(minimum=0, maximum=60, unit="seconds"), "Seconds."),
    Key("enabled", Boolean(), "On or off."),
    Key("wait", Duration(zero=False), "How long."),
    Key("mode", Choice(("yes", "no", "once")), "When."),
    Key("tags", ListOf(Text(), single=True), "Tags."),
)


def _check(text: str) -> list[str]:
    source = read_source("f.yaml", text)
    checker = Checker(source.path, list(source.diagnostics))
    assert source.root is not None
    values = checker.section(source.root, SPEC, "the top level", at=source.root)
    checker.scalars(values, SPEC, lambda key: f"'{key}'")
    return [str(d).removeprefix("f.yaml:") for d in checker.sorted()]


def test_one_pass_reports_every_problem_in_order() -> None:
    """Every wrong value, unknown key and missing key is reported at once, by place."""
    text = (
        "count: 0\nrounding: 7\ndays: 0\ngrace: 90\nenabled: maybe\nwait: 0s\nmode: twice\n"
        "tags: [a, b]\nnmae: x\nnmae: y\n"
    )
    assert _check(text) == [
        "1:8: error: 'count' must be at least 1, not 0",
        "2:11: error: 'rounding' must be one of: 0, 5, 10, not 7",
        "3:7: error: 'days' must be more than 0, not 0",
        "4:8: error: 'grace' must be a number of seconds from 0 to 60, not '90'",
        "5:10: error: 'enabled' must be true or false, not string 'maybe'",
        "6:7: error: 'wait' must be more than 0 seconds",
        "7:7: error: 'mode' must be one of: yes, no, once, not 'twice'",
        "9:1: error: unknown key 'nmae' at the top level (expected one of: name, count, "
        "rounding, days, grace, enabled, wait, mode, tags); did you mean 'name'?",
        "10:1: error: duplicate key 'nmae' (first defined at line 9, column 1)",
        "10:1: error: unknown key 'nmae' at the top level (expected one of: name, count, "
        "rounding, days, grace, enabled, wait, mode, tags); did you mean 'name'?",
    ]


def test_a_missing_required_key_is_reported_where_its_mapping_starts() -> None:
    """A required key that is absent (and not merely misspelt) is an error at the mapping."""
    assert _check("count: 2\n") == ["1:1: error: missing required key 'name' at the top level"]


def test_good_values_are_converted() -> None:
    """Durations with units become seconds; words stay words, even YAML 1.1's yes/no."""
    source = read_source("f.yaml", "name: a\nwait: 1h30m\nmode: no\nenabled: yes\ncount: 0x10\n")
    assert source.root is not None
    checker = Checker("f.yaml")
    values = checker.section(source.root, SPEC, "the top level", at=source.root)
    assert checker.scalars(values, SPEC, str) == {
        "name": "a",
        "wait": 5400.0,
        "mode": "no",
        "enabled": True,
        "count": 16,
    }
    assert checker.diagnostics == []


def test_the_empty_file_message_names_the_kind_of_file() -> None:
    """An empty file is one error at 1:1 that says which kind of file it is."""
    [diagnostic] = read_source("q.yaml", "# nothing\n", "queues").diagnostics
    assert str(diagnostic) == "q.yaml:1:1: error: the queues file is empty"
    [flow] = flow_source.read_source("f.yaml", "").diagnostics
    assert flow.message == "the flow file is empty"


def test_read_file_reports_a_bad_byte_and_a_missing_file_as_diagnostics(tmp_path: Path) -> None:
    """A file that is not UTF-8 is reported at the bad byte; a missing one at 1:1."""
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"queues:\n  sup\xffport: {}\n")
    [bad] = read_file(str(path)).diagnostics
    assert bad.location == Location(str(path), 2, 6) and "byte 0xff" in bad.message
    [missing] = read_file(str(tmp_path / "nope.yaml")).diagnostics
    assert str(missing).endswith(
        "nope.yaml:1:1: error: cannot read file: No such file or directory"
    )


def test_a_diagnostic_prints_with_or_without_its_severity() -> None:
    """The one-line form is file:line:column, severity, message and suggestion."""
    d = Diagnostic(Location("s.yaml", 3, 3), Severity.ERROR, "unknown key 'pasword'", "password")
    assert str(d) == "s.yaml:3:3: error: unknown key 'pasword'; did you mean 'password'?"
    assert d.line(severity=False) == "s.yaml:3:3: unknown key 'pasword'; did you mean 'password'?"


@pytest.mark.parametrize(
    ("old", "new"),
    [(flow_source, shared_source), (flow_diagnostics, shared_diagnostics)],
    ids=["source", "diagnostics"],
)
def test_flow_modules_re_export_the_shared_reader(old: object, new: object) -> None:
    """callflow.flow.source and .diagnostics hand out the shared package's very objects."""
    names = [n for n in vars(old)["__all__"] if n != "read_source"]
    assert names
    for name in names:
        found = getattr(new, name, None)
        if found is None:  # Reporter lives in the checker module
            from callflow.yamlcheck import checker

            found = getattr(checker, name)
        assert getattr(old, name) is found, name


def test_schema_of_a_section_allows_only_its_keys() -> None:
    """A section's schema lists its keys, requires the required ones and refuses others;
    a choice of yes/no words also takes YAML 1.1's booleans."""
    schema = SPEC.schema()
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name"]
    assert list(schema["properties"]) == [key.name for key in SPEC]
    assert schema["properties"]["mode"]["anyOf"][1] == {"type": "boolean"}
    assert schema["properties"]["wait"]["anyOf"][0] == {"type": "number", "exclusiveMinimum": 0}
