"""Tests for the queues file checker: exact diagnostics, defaults, the sample and the CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from callflow.flow.model import Say, Sound
from callflow.queue import cli
from callflow.queue.config import (
    JOIN_WORDS,
    LEAVE_WORDS,
    EmptyRule,
    PositionMode,
    Strategy,
    Target,
    WaitMode,
    Widening,
    load_queues,
    parse_queues,
)

REPO = Path(__file__).parents[3]
SAMPLE = REPO / "config" / "queues.yaml"

AGENTS = """\
agents:
  alice:
    endpoint: PJSIP/agent1
    skills: {english: 5, billing: 3}
    queues: [support]
  bob:
    endpoint: PJSIP/agent2
    skills: {english: 2}
    queues: [support]
"""


def _found(text: str, path: str = "q.yaml", nodes: set[str] | None = None) -> list[str]:
    _, diagnostics = parse_queues(path, text, nodes)
    return [str(d).removeprefix(f"{path}:") for d in diagnostics]


def _queue(body: str) -> str:
    """The two agents and one queue 'support' with ``body`` (indented 4) as its keys."""
    return AGENTS + "queues:\n  support:\n" + body


BROKEN = {
    "misspelt_queue_key": (
        _queue("    strategy: linear\n    max_wiat: 60\n"),
        "13:5: error: unknown key 'max_wiat' in queue 'support' (expected one of: description, "
        "strategy, members, skills, skill_widening, priority, max_callers, max_wait, "
        "join_when_empty, leave_when_empty, ring_timeout, retry_delay, wrapup, music_class, "
        "announce, exit_keys, overflow, last_agent, service_level, callback); "
        "did you mean 'max_wait'?",
    ),
    "unknown_strategy": (
        _queue("    strategy: longest_idel\n"),
        "12:15: error: 'strategy' of queue 'support' must be one of: longest-idle, "
        "round-robin-memory, fewest-calls, ring-all, random, linear, weighted-random, not "
        "'longest_idel'; did you mean 'longest-idle'?",
    ),
    "app_queue_strategy_name": (
        _queue("    strategy: rrmemory\n"),
        "12:15: error: unknown strategy 'rrmemory' for queue 'support': that is app_queue's "
        "name (expected one of: longest-idle, round-robin-memory, fewest-calls, ring-all, "
        "random, linear, weighted-random); did you mean 'round-robin-memory'?",
    ),
    "bad_duration": (
        _queue("    max_wait: 10 minutes\n"),
        "12:15: error: 'max_wait' of queue 'support' must be a duration (seconds, or e.g. "
        "'90s', '2m', '1h30m'), not string '10 minutes'",
    ),
    "negative_duration": (
        _queue("    wrapup: -5\n"),
        "12:13: error: 'wrapup' of queue 'support' must be a duration (seconds, or e.g. "
        "'90s', '2m', '1h30m') of 0 or more, not -5",
    ),
    "zero_ring_timeout": (
        _queue("    ring_timeout: 0s\n"),
        "12:19: error: 'ring_timeout' of queue 'support' must be more than 0 seconds",
    ),
    "wrong_type_priority": (
        _queue("    priority: high\n"),
        "12:15: error: 'priority' of queue 'support' must be a whole number, not string 'high'",
    ),
    "unknown_skill": (
        _queue("    skills: {englsh: 2}\n"),
        "12:14: error: queue 'support' needs skill 'englsh', which no agent has; did you mean "
        "'english'?",
    ),
    "agent_serves_unknown_queue": (
        AGENTS.replace("queues: [support]\n  bob", "queues: [suport]\n  bob")
        + "queues:\n  support: {}\n",
        "5:14: error: agent 'alice' serves unknown queue 'suport'; did you mean 'support'?",
    ),
    "queue_lists_unknown_agent": (
        _queue("    members: [alice, bobb]\n"),
        "12:22: error: queue 'support' lists unknown agent 'bobb'; did you mean 'bob'?",
    ),
    "missing_endpoint": (
        "agents:\n  carol:\n    skills: {english: 1}\n    queues: [q]\nqueues:\n  q: {}\n",
        "2:3: error: missing required key 'endpoint' in agent 'carol'",
    ),
    "misspelt_required_key_suggested_once": (
        "agents:\n  carol:\n    endpont: PJSIP/c\n    queues: [q]\nqueues:\n  q: {}\n",
        "3:5: error: unknown key 'endpont' in agent 'carol' (expected one of: endpoint, name, "
        "skills, queues, max_ring_no_answer); did you mean 'endpoint'?",
    ),
    "overflow_to_unknown_queue": (
        _queue("    overflow: {full: 'queue:biling'}\n"),
        "12:22: error: overflow 'full' of queue 'support' names unknown queue 'biling'",
    ),
    "overflow_to_itself": (
        _queue("    overflow: {timeout: 'queue:support'}\n"),
        "12:25: error: overflow 'timeout' of queue 'support' sends callers back to the same queue",
    ),
    "bad_empty_state": (
        _queue("    leave_when_empty: [paused, wrapped]\n"),
        "12:32: error: agent states in 'leave_when_empty' of queue 'support' must be one of: "
        "paused, unavailable, wrapup, not 'wrapped'; did you mean 'wrapup'?",
    ),
    "bad_join_word": (
        _queue("    join_when_empty: sometimes\n"),
        "12:22: error: 'join_when_empty' of queue 'support' must be one of: yes, no, strict, "
        "loose, or a list of: paused, unavailable, wrapup, not 'sometimes'",
    ),
    "bad_position_mode": (
        _queue("    announce: {frequency: 60, position: mor}\n"),
        "12:41: error: 'position' in 'announce' of queue 'support' must be one of: yes, no, "
        "limit, more, not 'mor'; did you mean 'more'?",
    ),
    "bad_round_seconds": (
        _queue("    announce:\n      round_seconds: 7\n"),
        "13:22: error: 'round_seconds' in 'announce' of queue 'support' must be one of: 0, 1, "
        "5, 10, 15, 20, 30, not 7",
    ),
    "misspelt_periodic_prompt_kind": (
        _queue("    announce:\n      periodic:\n        - {every: 30, prompt: 'sond:x'}\n"),
        "14:31: error: unknown prompt kind 'sond' in 'prompt' in 'announce' of queue "
        "'support'; did you mean 'sound'?",
    ),
    "bad_exit_key": (
        _queue('    exit_keys: {"00": voicemail}\n'),
        "12:17: error: keys of 'exit_keys' of queue 'support' must be one phone key (0-9, * "
        "or #), not string '00'",
    ),
    "widening_out_of_order": (
        _queue(
            "    skills: {english: 3}\n    skill_widening:\n"
            "      - {after: 2m, min_level: 2}\n      - {after: 60, min_level: 1}\n"
        ),
        "15:17: error: steps of 'skill_widening' of queue 'support' must come in increasing "
        "'after' order (60 s follows 120 s)",
    ),
    "zero_last_agent_days": (
        _queue("    last_agent: {days: 0}\n"),
        "12:24: error: 'days' in 'last_agent' of queue 'support' must be more than 0, not 0",
    ),
    "negative_max_ring_no_answer": (
        AGENTS.replace(
            "queues: [support]\n  bob", "queues: [support]\n    max_ring_no_answer: -1\n  bob"
        )
        + "queues:\n  support: {}\n",
        "6:25: error: 'max_ring_no_answer' of agent 'alice' must be at least 0, not -1",
    ),
    "bad_endpoint": (
        AGENTS.replace("PJSIP/agent2", "agent2") + "queues:\n  support: {}\n",
        "7:15: error: 'endpoint' of agent 'bob' must be TECH/resource, e.g. PJSIP/agent1, "
        "not 'agent2'",
    ),
    "duplicate_queue": (
        _queue("    wrapup: 5\n") + "  support:\n    wrapup: 6\n",
        "13:3: error: duplicate key 'support' (first defined at line 11, column 3)",
    ),
    "missing_queues_section": (
        "agents:\n  carol: {endpoint: PJSIP/c}\n",
        "1:1: error: missing required key 'queues' at the top level",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN), ids=sorted(BROKEN))
def test_broken_queues_file_reports_exact_diagnostic(case: str) -> None:
    """Each broken file yields exactly one error, with its line, column and suggestion."""
    text, expected = BROKEN[case]
    errors = [d for d in _found(text) if ": error: " in d]
    assert errors == [expected]


def test_broken_file_does_not_load() -> None:
    """A file with any error loads as None, with its diagnostics."""
    center, diagnostics = parse_queues("q.yaml", _queue("    strategy: linnear\n"))
    assert center is None
    assert [d.suggestion for d in diagnostics] == ["linear"]


def test_every_problem_is_reported_errors_before_warnings() -> None:
    """Several mistakes give one diagnostic each, errors first, then warnings by place."""
    text = (
        _queue(
            "    strategy: fastest\n"
            "    announce: {position: yes, position_limit: 3, frequency: 30, min_frequency: 60}\n"
            "    ring_timeout: soon\n"
        )
        + "  empty_queue: {}\n"
    )
    found = _found(text)
    assert [d.split(": ")[1] for d in found] == [
        "error",
        "error",
        "warning",
        "warning",
        "warning",
    ]
    assert found[0].startswith("12:15: error: 'strategy'")
    assert found[1].startswith("14:19: error: 'ring_timeout'")
    assert found[2] == (
        "13:47: warning: 'position_limit' in 'announce' of queue 'support' has no effect with "
        "position: yes (use limit or more)"
    )
    assert found[3].startswith("13:80: warning: 'min_frequency'")
    assert found[4] == (
        "15:3: warning: queue 'empty_queue' has no agents (name it in an agent's 'queues' or"
        " in its 'members')"
    )


def test_yaml_syntax_error_has_its_place() -> None:
    """A YAML syntax error is one diagnostic at the place PyYAML found it."""
    found = _found("queues:\n  support:\n    strategy: linear: x\n")
    assert found == [
        "3:21: error: YAML syntax error: mapping values are not allowed here; is this line "
        "indented too far, or does a value containing ': ' need quotes?"
    ]


def test_flow_node_targets_are_checked_when_nodes_are_given() -> None:
    """Exit keys and overflow targets must name flow nodes when the flow's nodes are known."""
    text = _queue("    exit_keys: {'0': voicemial}\n    overflow: {timeout: leave_message}\n")
    assert _found(text, nodes={"voicemail", "leave_message"}) == [
        "12:22: error: exit key '0' of queue 'support' names unknown flow node 'voicemial';"
        " did you mean 'voicemail'?"
    ]
    assert _found(text) == []


def test_full_queue_reads_every_setting() -> None:
    """Every key of a queue reaches its immutable dataclass, with units converted."""
    text = _queue(
        "    strategy: weighted-random\n"
        "    members: [bob]\n"
        "    skills: {english: 3}\n"
        "    skill_widening: [{after: 1m, min_level: 2}, {after: 1h30m, min_level: 1}]\n"
        "    priority: 2\n"
        "    max_callers: 10\n"
        "    max_wait: 15m\n"
        "    join_when_empty: strict\n"
        "    leave_when_empty: [paused, wrapup]\n"
        "    ring_timeout: 20s\n"
        "    retry_delay: 3\n"
        "    wrapup: 0.5m\n"
        "    music_class: jazz\n"
        "    exit_keys: {0: voicemail, '#': menu}\n"
        "    overflow: {full: 'queue:billing', timeout: voicemail}\n"
        "    last_agent: {days: 7, wait: 15}\n"
        "    service_level: 30\n"
        "    announce:\n"
        "      frequency: 45\n"
        "      min_frequency: 10\n"
        "      position: more\n"
        "      position_limit: 4\n"
        "      wait: once\n"
        "      round_seconds: 15\n"
        "      periodic:\n"
        "        - {every: 30, prompt: queue-periodic-announce}\n"
        "        - {every: 90, prompt: 'say:Thanks for holding'}\n"
        "  billing: {members: [alice]}\n"
    )
    center, diagnostics = parse_queues("q.yaml", text)
    assert diagnostics == []
    assert center is not None
    q = center.queues["support"]
    assert q.strategy is Strategy.WEIGHTED_RANDOM
    assert q.members == ("bob", "alice")  # its own list first, then agents naming it
    assert dict(q.skills) == {"english": 3}
    assert q.skill_widening == (Widening(60, 2), Widening(5400, 1))
    assert (q.priority, q.max_callers, q.max_wait) == (2, 10, 900)
    assert q.join_when_empty == EmptyRule(True, frozenset({"wrapup"}))
    assert q.leave_when_empty == EmptyRule(True, frozenset({"paused", "wrapup"}))
    assert (q.ring_timeout, q.retry_delay, q.wrapup, q.service_level) == (20, 3, 30, 30)
    assert q.music_class == "jazz"
    assert dict(q.exit_keys) == {"0": "voicemail", "#": "menu"}
    assert q.overflow.full == Target("queue", "billing")
    assert str(q.overflow.timeout) == "voicemail"
    assert q.overflow.empty is None
    assert (q.last_agent.enabled, q.last_agent.days, q.last_agent.wait) == (True, 7, 15)
    a = q.announce
    assert (a.frequency, a.min_frequency, a.position, a.position_limit) == (
        45,
        10,
        PositionMode.MORE,
        4,
    )
    assert (a.wait, a.round_seconds) == (WaitMode.ONCE, 15)
    assert [(p.every, p.prompt) for p in a.periodic] == [
        (30, Sound("queue-periodic-announce")),
        (90, Say("Thanks for holding")),
    ]


def test_empty_rule_words_follow_app_queue() -> None:
    """'yes' joins an empty queue but leaves one; 'no' refuses one but stays; strict also
    refuses when the only agents are logged out."""
    assert not JOIN_WORDS["yes"].enabled
    assert not LEAVE_WORDS["no"].enabled
    assert (
        JOIN_WORDS["no"]
        == LEAVE_WORDS["yes"]
        == EmptyRule(True, frozenset({"unavailable", "wrapup"}))
    )
    assert "unavailable" not in JOIN_WORDS["strict"].serving


def test_sample_file_checks_clean_and_loads() -> None:
    """config/queues.yaml has no problems and its queues are served by its agents."""
    center, diagnostics = load_queues(str(SAMPLE))
    assert diagnostics == []
    assert center is not None
    assert set(center.queues) == {"sales", "support", "billing"}
    assert center.queues["billing"].members == ("carmen", "alice")
    assert center.queues["support"].last_agent.enabled


def _run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="callflow")
    cli.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


def test_cli_check_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`callflow queues check` exits 0 on the sample (checked against its flow) and 1 on an
    error, listing errors before warnings and a summary."""
    flow = REPO / "config" / "flows" / "main.yaml"
    assert _run_cli("queues", "check", str(SAMPLE), "--flow", str(flow)) == 0
    assert capsys.readouterr().out.endswith("1 file checked: 0 errors, 0 warnings\n")
    bad = tmp_path / "queues.yaml"
    bad.write_text(_queue("    strategy: linnear\n") + "  idle: {}\n")
    assert _run_cli("queues", "check", str(bad)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{bad}:12:15: error:")
    assert lines[1].startswith(f"{bad}:13:3: warning: queue 'idle' has no agents")
    assert lines[2] == "1 file checked: 1 error, 1 warning"


def test_unreadable_file_is_a_diagnostic(tmp_path: Path) -> None:
    """A missing file is reported at line 1, column 1, not raised."""
    center, diagnostics = load_queues(str(tmp_path / "nope.yaml"))
    assert center is None
    assert str(diagnostics[0]).endswith("1:1: error: cannot read file: No such file or directory")


def test_a_file_that_is_not_utf8_is_placed_at_its_bad_byte(tmp_path: Path) -> None:
    """The queues file is read by the flows' reader: a bad byte is reported at its line and
    column, an empty file as the queues file."""
    path = tmp_path / "queues.yaml"
    path.write_bytes(b"queues:\n  support: {music_class: caf\xe9}\n")
    center, diagnostics = load_queues(str(path))
    assert center is None
    assert [str(d) for d in diagnostics] == [
        f"{path}:2:29: error: the file is not UTF-8 text: byte 0xe9 cannot start a character"
        " here (save the file as UTF-8)"
    ]
    assert _found("") == ["1:1: error: the queues file is empty"]
