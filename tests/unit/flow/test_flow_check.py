"""Tests for the flow checker: the broken-flow corpus, the sample flow, and the schema."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from callflow.flow import check, flow_schema, load_flow, scan_sounds, tts_sound_name
from callflow.flow.model import Say, Sound
from callflow.flow.nodes.menu import MenuNode
from callflow.sandbox.rootfs import rootfs_path

HERE = Path(__file__).parent
BROKEN = HERE / "broken"
REPO = HERE.parents[2]
SAMPLE = REPO / "config" / "flows" / "main.yaml"


def core_sounds() -> Path:
    """The English core sounds in the sandbox rootfs (scripts/setup provisions it)."""
    sounds = rootfs_path() / "usr/share/asterisk/sounds"
    found = sorted(p.parent for p in sounds.glob("*/hello-world.*") if not p.parent.is_symlink())
    if not found:
        pytest.fail(f"no Asterisk core sounds under {sounds}: run scripts/setup first")
    return found[0]


# The sounds the broken corpus may use; anything else is a missing sound.
CORPUS_SOUNDS = frozenset({"hello-world", "goodbye", "beep", "you-entered"})


def _expected(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    expected = [line.removeprefix("# expect: ") for line in lines if line.startswith("# expect: ")]
    return [e.replace("{file}", str(path)).replace("{dir}", str(BROKEN)) for e in expected]


BROKEN_FILES = sorted(BROKEN.glob("*.yaml"))


def test_corpus_is_large_enough() -> None:
    """The broken-flow corpus holds at least thirty files, each stating what it expects."""
    assert len(BROKEN_FILES) >= 30
    assert all(_expected(path) for path in BROKEN_FILES)


@pytest.mark.parametrize("path", BROKEN_FILES, ids=[p.stem for p in BROKEN_FILES])
def test_broken_flow_reports_exact_diagnostics(path: Path) -> None:
    """Each broken flow yields exactly the diagnostics written at its end, place and wording."""
    found = [str(d) for d in check([str(path)], CORPUS_SOUNDS)]
    assert found == _expected(path)


def test_broken_flow_does_not_load() -> None:
    """load_flow returns no Flow when the file has an error, but still all diagnostics."""
    flow, diagnostics = load_flow(str(BROKEN / "misspelt_key.yaml"))
    assert flow is None
    assert [d.suggestion for d in diagnostics] == ["timeout"]


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    """A file with several mistakes gets one diagnostic per mistake, errors before warnings."""
    path = tmp_path / "many.yaml"
    path.write_text(
        "entry:\n"
        '  "100": start\n'
        "nodes:\n"
        "  start:\n"
        "    type: menu\n"
        "    promt: hello-world\n"
        "    options: {1: nowhere}\n"
        "    retries: lots\n"
        "    on_failure: start\n"
        "  spare:\n"
        "    type: hangup\n"
    )
    found = [str(d).removeprefix(f"{path}:") for d in check([str(path)])]
    assert found == [
        "6:5: error: unknown key 'promt' in menu node 'start' (expected one of: type, "
        "description, prompt, options, repeat, timeout, retries, invalid_prompt, "
        "timeout_prompt, on_failure, barge_in); did you mean 'prompt'?",
        "7:18: error: option '1' in menu node 'start' goes to unknown node 'nowhere'",
        "8:14: error: 'retries' in menu node 'start' must be a whole number, not string 'lots'",
        "10:3: warning: node 'spare' is never reached (no entry or transition leads to it)",
    ]


def test_shared_include_checked_from_two_flows_reports_once(tmp_path: Path) -> None:
    """A mistake in a sub-flow included by two checked flows is reported a single time."""
    (tmp_path / "lib.yaml").write_text("nodes:\n  agent:\n    type: transfer\n    endpont: x\n")
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(
            'entry: {"1": agent}\ninclude: [lib.yaml]\nnodes:\n  other:\n    type: goto\n'
            "    target: agent\n"
        )
    found = check([str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml")])
    assert sum("endpont" in d.message for d in found) == 1


def test_sample_flow_checks_clean_without_sounds() -> None:
    """The shipped sample flow has no errors and no warnings."""
    assert check([str(SAMPLE)]) == []


def test_sample_flow_sounds_exist_in_asterisk_core_sounds() -> None:
    """Every sound the sample flow plays is one of Asterisk's English core sounds (those of the
    sandbox's Asterisk, as the Docker image ships them)."""
    sounds = scan_sounds([str(core_sounds())])
    assert "digits/1" in sounds
    assert check([str(SAMPLE)], sounds) == []


def test_sound_names_found_under_language_directory(tmp_path: Path) -> None:
    """A sounds root is searched both directly and under its language folder, any format."""
    (tmp_path / "en" / "custom").mkdir(parents=True)
    (tmp_path / "en" / "custom" / "welcome.sln16").write_bytes(b"")
    (tmp_path / "beep.gsm").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    assert scan_sounds([str(tmp_path)], "en") >= {"custom/welcome", "beep"}
    assert "notes" not in scan_sounds([str(tmp_path)], "en")


def test_settings_sounds_dir_is_used_when_present(tmp_path: Path) -> None:
    """Without explicit sounds, the flow's own sounds_dir is scanned if it exists here."""
    (tmp_path / "sounds").mkdir()
    (tmp_path / "sounds" / "hello-world.wav").write_bytes(b"")
    path = tmp_path / "flow.yaml"
    path.write_text(
        "settings: {sounds_dir: sounds}\nentry: {'1': a}\nnodes:\n"
        "  a: {type: hangup, prompt: [hello-world, missing-one]}\n"
    )
    assert [d.message.split(" not found")[0] for d in check([str(path)])] == ["sound 'missing-one'"]


def test_sample_flow_loads_into_model() -> None:
    """The sample flow loads into an immutable model with both entries and its sub-flow."""
    flow, diagnostics = load_flow(str(SAMPLE))
    assert diagnostics == []
    assert flow is not None
    assert dict(flow.entries) == {"100": "welcome", "700": "test_intro"}
    assert flow.files[1].endswith("shared/people.yaml")
    menu = flow.nodes["main_menu"]
    assert isinstance(menu, MenuNode)
    assert dict(menu.options) == {
        "1": "sales",
        "2": "support_wait",
        "3": "billing",
        "4": "account_number",
        "0": "operator",
    }
    assert menu.repeat == "*"
    assert menu.invalid_prompts == (Sound("pbx-invalid"),)
    assert isinstance(menu.prompts[0], Say)
    with pytest.raises(TypeError):
        flow.nodes["x"] = menu  # type: ignore[index]
    texts = flow.say_texts()
    assert ("Thank you for calling Acme.", "en-us") in texts


def test_tts_sound_name_is_stable_and_voice_specific() -> None:
    """The prompt-cache name depends on text and voice only, and lives under callflow-tts/."""
    name = tts_sound_name("Welcome to Acme", "en-us")
    assert name == tts_sound_name("Welcome to Acme", "en-us")
    assert name.startswith("callflow-tts/") and len(name) == len("callflow-tts/") + 16
    assert name != tts_sound_name("Welcome to Acme", "en-gb")


def test_schema_is_draft_2020_12_and_mirrors_node_types() -> None:
    """The schema declares draft 2020-12 and one definition per node type."""
    schema = flow_schema()
    json.dumps(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == ["nodes"]
    assert schema["$defs"]["menu_node"]["properties"]["timeout"]["type"] == "number"
    assert schema["$defs"]["hours_node"]["properties"]["open"] == {
        "$ref": "#/$defs/node_name",
        "description": "Where to go while open.",
    }


def test_schema_offers_on_restart_as_a_node_name() -> None:
    """on_restart is a top-level key of the schema, naming a node."""
    assert flow_schema()["properties"]["on_restart"]["$ref"] == "#/$defs/node_name"


def test_on_restart_is_loaded_and_counts_as_reaching_its_node(tmp_path: Path) -> None:
    """A flow's on_restart node is kept on the Flow and is not reported as unreachable."""
    path = tmp_path / "flow.yaml"
    path.write_text(
        'entry: {"100": bye}\non_restart: sorry\nnodes:\n'
        "  sorry: {type: play, prompt: hello-world, next: bye}\n"
        "  bye: {type: hangup}\n"
    )
    flow, diagnostics = load_flow(str(path))
    assert flow is not None and flow.on_restart == "sorry"
    assert diagnostics == []


def test_on_restart_defaults_to_none_and_is_refused_in_a_sub_flow(tmp_path: Path) -> None:
    """Without on_restart a flow has None; an included sub-flow may not have its own."""
    (tmp_path / "sub.yaml").write_text("on_restart: bye\nnodes:\n  extra: {type: hangup}\n")
    path = tmp_path / "flow.yaml"
    path.write_text('entry: {"100": bye}\ninclude: sub.yaml\nnodes:\n  bye: {type: hangup}\n')
    found = [str(d) for d in check([str(path)])]
    assert found[0] == (
        f"{tmp_path}/sub.yaml:1:1: error: 'on_restart' is only allowed in a top-level flow,"
        " not in an included sub-flow"
    )
    (tmp_path / "sub.yaml").write_text("nodes:\n  extra: {type: hangup}\n")
    flow, _ = load_flow(str(path))
    assert flow is not None and flow.on_restart is None


def test_committed_schema_file_is_current() -> None:
    """config/flows/flow.schema.json, used by the flows' modelines, matches `callflow schema`."""
    committed = json.loads((REPO / "config" / "flows" / "flow.schema.json").read_text())
    assert committed == flow_schema()


def test_schema_accepts_sample_and_rejects_misspelt_key(tmp_path: Path) -> None:
    """A JSON Schema validator accepts the sample flow and rejects a misspelt key."""
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    class Loader(yaml.SafeLoader):
        """YAML 1.2-like: dates stay text, as in the YAML language server."""

    Loader.yaml_implicit_resolvers = {
        key: [(tag, rx) for tag, rx in resolvers if not tag.endswith(":timestamp")]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def stringify(value: object) -> object:
        if isinstance(value, dict):
            return {str(k): stringify(v) for k, v in value.items()}
        if isinstance(value, list):
            return [stringify(v) for v in value]
        return value

    validator = jsonschema.Draft202012Validator(flow_schema())
    sample = stringify(yaml.load(SAMPLE.read_text(), Loader=Loader))
    assert list(validator.iter_errors(sample)) == []
    copy = tmp_path / "main.yaml"
    shutil.copy(SAMPLE, copy)
    broken = stringify(yaml.load(copy.read_text().replace("repeat:", "repet:", 1), Loader=Loader))
    assert list(validator.iter_errors(broken))


def _positions(node: object, out: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    import yaml

    assert isinstance(node, yaml.Node)
    out.append((str(node.tag), node.start_mark.line, node.start_mark.column))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _positions(key, out)
            _positions(value, out)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _positions(item, out)
    return out


@pytest.mark.parametrize("path", [SAMPLE, *BROKEN_FILES], ids=lambda p: p.stem)
def test_fast_yaml_loader_gives_every_node_the_same_place(path: Path) -> None:
    """libyaml's parser, used for speed, puts every node at PyYAML's line and column."""
    import yaml

    from callflow.flow.source import _Loader, compose

    text = path.read_text()
    try:
        slow = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return  # broken YAML is always reported by PyYAML itself
    assert yaml.__with_libyaml__
    fast = compose(text)
    if slow is None:
        assert fast is None
        return
    assert _positions(fast, []) == _positions(slow, [])


def test_merge_keys_merge_and_the_keys_written_beside_them_win(tmp_path: Path) -> None:
    """<<: *anchor merges a node's keys into another, as YAML specifies; keys written next
    to << override the merged ones, and their mistakes are reported where they are written."""
    path = tmp_path / "flow.yaml"
    text = (
        'entry: {"100": first}\nnodes:\n'
        "  first: &ask\n    type: menu\n    prompt: hello-world\n"
        "    options: {1: person, 2: second}\n    retries: 3\n    on_failure: bye\n"
        "  second:\n    <<: *ask\n    prompt: beep\n"
        "  person: {type: transfer, endpoint: PJSIP/agent1}\n"
        "  bye: {type: hangup}\n"
    )
    path.write_text(text)
    flow, diagnostics = load_flow(str(path))
    assert flow is not None, [str(d) for d in diagnostics]
    second = flow.nodes["second"]
    assert isinstance(second, MenuNode)
    assert (second.prompts, second.retries) == ((Sound("beep"),), 3)
    path.write_text(text.replace("prompt: beep\n", "prompt: beep\n    retries: lots\n"))
    assert [str(d) for d in check([str(path)])] == [
        f"{path}:12:14: error: 'retries' in menu node 'second' must be a whole number,"
        " not string 'lots'"
    ]


def test_a_file_that_is_not_utf8_is_reported_at_the_bad_byte(tmp_path: Path) -> None:
    """A Latin-1 byte in a flow is reported at its line and column, not at 1:1."""
    path = tmp_path / "flow.yaml"
    path.write_bytes(b'entry:\n  "100": bye\nnodes:\n  bye: {type: hangup, reason: caf\xe9}\n')
    assert [str(d) for d in check([str(path)])] == [
        f"{path}:4:34: error: the file is not UTF-8 text: byte 0xe9 cannot start a character"
        " here (save the file as UTF-8)"
    ]


def test_a_problem_with_an_aliased_value_is_reported_where_the_alias_is_used(
    tmp_path: Path,
) -> None:
    """A value written once (&anchor) and used again (*alias) is reported at each use."""
    path = tmp_path / "flow.yaml"
    path.write_text(
        'entry: {"100": first}\nnodes:\n'
        "  first:\n    type: play\n    prompt: &greet hello there\n    next: second\n"
        "  second:\n    type: play\n    prompt: *greet\n    next: bye\n"
        "  bye: {type: hangup}\n"
    )
    assert [str(d).split(": error:")[0] for d in check([str(path)])] == [
        f"{path}:5:13",
        f"{path}:9:13",
    ]
