"""Tests for the `callflow check` and `callflow schema` commands, run through callflow.cli."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from callflow.app.settings import load_settings
from callflow.cli import main
from callflow.ivr import FlowRegistry
from callflow.queue.config import load_queues

REPO = Path(__file__).parents[3]
FLOWS = REPO / "config" / "flows"


def test_check_sample_flows_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """`callflow check config/flows/*.yaml` passes with no errors or warnings."""
    files = [str(p) for p in sorted(FLOWS.glob("*.yaml"))]
    assert files
    assert main(["check", *files]) == 0
    assert capsys.readouterr().out.endswith("checked: 0 errors, 0 warnings\n")


def test_check_misspelt_key_exits_one_with_place_and_suggestion(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sample with one key misspelt fails with its line, column and the right suggestion
    (and, the repeat key lost, the menu's "press star" is a promise it no longer keeps)."""
    shutil.copytree(FLOWS, tmp_path / "flows")
    path = tmp_path / "flows" / "main.yaml"
    lines = path.read_text().splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if line.startswith("    repeat:"))
    lines[number] = lines[number].replace("repeat:", "repet:")
    star = next(i for i, line in enumerate(lines) if "press star" in line)
    path.write_text("".join(lines))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"{path}:{number + 1}:5: error: unknown key 'repet' in menu node 'main_menu' "
        "(expected one of: type, description, prompt, options, repeat, timeout, retries, "
        "invalid_prompt, timeout_prompt, on_failure, barge_in); did you mean 'repeat'?",
        f"{path}:{star + 1}:14: warning: the prompt in menu node 'main_menu' says 'press star',"
        " but the menu has no option '*'",
        "1 file checked: 1 error, 1 warning",
    ]


def test_check_prints_errors_before_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Errors come first even when a warning is earlier in the file, then the counts."""
    path = tmp_path / "flow.yaml"
    path.write_text(
        "entry: {'1': a}\nnodes:\n  spare: {type: hangup}\n  a: {type: play, prompt: x, next: b}\n"
    )
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1] for line in out[:2]] == ["error", "warning"]
    assert out[-1] == "1 file checked: 1 error, 1 warning"


def test_check_warnings_alone_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A flow with only warnings (a menu with no way to a person) still exits 0."""
    path = tmp_path / "flow.yaml"
    path.write_text(
        "entry: {'1': m}\nnodes:\n  m:\n    type: menu\n    prompt: x\n    options: {1: bye}\n"
        "    on_failure: bye\n  bye: {type: hangup}\n"
    )
    assert main(["check", str(path)]) == 0
    assert "1 warning" in capsys.readouterr().out


def test_check_with_sounds_directory_reports_missing_sound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--sounds DIR makes sound: prompts be checked against that directory."""
    (tmp_path / "sounds").mkdir()
    (tmp_path / "sounds" / "hello-world.wav").write_bytes(b"")
    path = tmp_path / "flow.yaml"
    path.write_text("entry: {'1': a}\nnodes:\n  a: {type: hangup, prompt: hello-wold}\n")
    assert main(["check", "--sounds", str(tmp_path / "sounds"), str(path)]) == 1
    assert "did you mean 'hello-world'?" in capsys.readouterr().out


def test_check_unreadable_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that does not exist is reported at 1:1 rather than crashing."""
    assert main(["check", str(tmp_path / "missing.yaml")]) == 1
    assert "missing.yaml:1:1: error: cannot read file" in capsys.readouterr().out


def test_schema_prints_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    """`callflow schema` prints a draft 2020-12 JSON Schema."""
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "menu_node" in schema["$defs"]


def test_check_with_queues_counts_overflow_targets_as_reached(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nodes only a queue's overflow or exit key leads to are unreachable for the flow alone;
    with --queues they are reached from the queue node."""
    flows = REPO / "tests" / "integration" / "flows" / "queues.yaml"
    queues = REPO / "tests" / "integration" / "queues.yaml"
    assert main(["check", str(flows)]) == 0
    alone = capsys.readouterr().out
    assert "node 'timeout_message' is never reached" in alone
    assert main(["check", str(flows), "--queues", str(queues)]) == 0
    assert capsys.readouterr().out.endswith("checked: 0 errors, 0 warnings\n")


def test_check_reports_errors_of_the_queues_file_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queues = tmp_path / "queues.yaml"
    queues.write_text("queues:\n  support:\n    stratgy: ring-all\n")
    assert main(["check", str(FLOWS / "main.yaml"), "--queues", str(queues)]) == 1
    assert f"{queues}:3:5: error: unknown key 'stratgy'" in capsys.readouterr().out


def test_check_config_dir_checks_settings_queues_and_flows(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`callflow check config/*.yaml` (the issue's acceptance command) takes each file as
    what it is: the settings bring in their flows and queues; all of it is clean."""
    files = [str(p) for p in sorted((REPO / "config").glob("*.yaml"))]
    assert {Path(f).name for f in files} >= {"callflow.yaml", "queues.yaml"}
    assert main(["check", *files]) == 0
    out = capsys.readouterr().out
    # callflow.yaml, docker.yaml, queues.yaml and the two flows they name
    assert out == "5 files checked: 0 errors, 0 warnings\n"


def test_check_a_settings_file_reports_its_flows_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text('entry:\n  "1": a\nnodes:\n  a:\n    type: hangup\n    reasn: x\n')
    settings = tmp_path / "callflow.yaml"
    settings.write_text("ari:\n  url: http://127.0.0.1:8088\nflows: [flow.yaml]\n")
    assert main(["check", str(settings)]) == 1
    assert f"{flow}:6:5: error: unknown key 'reasn'" in capsys.readouterr().out
    settings.write_text("ari:\n  url: ftp://x\n")
    assert main(["check", str(settings)]) == 1
    assert "ari.url must start with http://" in capsys.readouterr().out


QUEUE_FLOW = 'entry:\n  "300": wait\nnodes:\n  wait:\n    type: queue\n    queue: suport\n'
QUEUE_FLOW += "    on_failure: bye\n  bye:\n    type: hangup\n"


@pytest.fixture
def setup_dir(tmp_path: Path) -> Path:
    """A settings file naming two flows (one with a misspelt queue, both serving 300) and a
    queues file."""
    (tmp_path / "queues.yaml").write_text(
        "agents:\n  alice: {endpoint: PJSIP/agent1, queues: [support]}\nqueues:\n  support: {}\n"
    )
    (tmp_path / "a.yaml").write_text(QUEUE_FLOW)
    (tmp_path / "b.yaml").write_text('entry:\n  "300": bye\nnodes:\n  bye:\n    type: hangup\n')
    (tmp_path / "callflow.yaml").write_text(
        "ari: {url: 'http://127.0.0.1:8088'}\nflows: [a.yaml, b.yaml]\nqueues: queues.yaml\n"
    )
    return tmp_path


def test_an_unknown_queue_is_reported_at_its_queue_line_by_every_check(
    setup_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check FLOW --queues, check SETTINGS and queues check --flow all report a queue node's
    unknown queue at the queue: line, with the nearest queue name."""
    flow, queues = setup_dir / "a.yaml", setup_dir / "queues.yaml"
    expected = (
        f"{flow}:6:12: error: queue node 'wait' names queue 'suport', which {queues} does not"
        " define; did you mean 'support'?"
    )
    for argv in (
        ["check", str(flow), "--queues", str(queues)],
        ["check", str(setup_dir / "callflow.yaml")],
        ["queues", "check", str(queues), "--flow", str(flow)],
    ):
        assert main(argv) == 1, argv
        assert expected in capsys.readouterr().out.splitlines(), argv


def test_a_number_served_by_two_flows_is_reported_at_the_second_entry(
    setup_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two flows of one settings file serving the same number: an error at the second
    flow's entry that names the first one's place."""
    assert main(["check", str(setup_dir / "callflow.yaml")]) == 1
    first, second = setup_dir / "a.yaml", setup_dir / "b.yaml"
    assert (
        f"{second}:2:3: error: number '300' is already served by the flow at {first}:2:3"
        in capsys.readouterr().out.splitlines()
    )


def test_check_reports_exactly_what_run_refuses(
    setup_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The errors `callflow check SETTINGS` prints are the ones the registry of `callflow run`
    refuses the flows with, and a fixed setup passes both."""

    def run_errors() -> list[str]:
        settings = load_settings(setup_dir / "callflow.yaml")
        center, _ = load_queues(str(settings.queues))
        return FlowRegistry(settings.flows, queues=center).load().errors

    main(["check", str(setup_dir / "callflow.yaml")])
    printed = [line for line in capsys.readouterr().out.splitlines() if ": error: " in line]
    assert printed == sorted(run_errors()) and len(printed) == 2
    (setup_dir / "a.yaml").write_text(QUEUE_FLOW.replace("suport", "support"))
    (setup_dir / "b.yaml").write_text('entry:\n  "301": bye\nnodes:\n  bye:\n    type: hangup\n')
    assert main(["check", str(setup_dir / "callflow.yaml")]) == 0
    assert run_errors() == []


def test_check_with_a_missing_sounds_directory_says_so_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--sounds naming no directory is one error line, not every sound reported missing."""
    missing = tmp_path / "nonexistent"
    assert main(["check", str(FLOWS / "main.yaml"), "--sounds", str(missing)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"--sounds {missing}: no such directory; sounds are not checked",
        "1 file checked: 1 error, 0 warnings",
    ]


def test_check_settings_reports_text_prompts_run_would_find_unbuilt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the settings' sounds_dir on this machine, an unbuilt say: prompt fails check
    as it fails run."""
    (tmp_path / "sounds").mkdir()
    (tmp_path / "flow.yaml").write_text(
        'entry: {"100": bye}\nnodes:\n  bye: {type: hangup, prompt: [{say: "Goodbye."}]}\n'
    )
    settings = tmp_path / "callflow.yaml"
    settings.write_text(
        "ari: {url: 'http://127.0.0.1:8088'}\nflows: [flow.yaml]\nsounds_dir: sounds\n"
    )
    assert main(["check", str(settings)]) == 1
    assert "text prompt not built: 'Goodbye.'" in capsys.readouterr().out
    run = FlowRegistry([tmp_path / "flow.yaml"], prompts_dir=tmp_path / "sounds").load()
    assert not run.applied and "text prompt not built: 'Goodbye.'" in run.errors[0]


def test_check_counts_every_problem_of_a_settings_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A settings file with three mistakes is three errors, each at its place, as run says."""
    path = tmp_path / "callflow.yaml"
    path.write_text("ari:\n  pasword: x\nflowz: []\nlog: {level: loud}\n")
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": error:")[0] for line in out[:3]] == [
        f"{path}:2:3",
        f"{path}:3:1",
        f"{path}:4:14",
    ]
    assert out[-1] == "1 file checked: 3 errors, 0 warnings"
