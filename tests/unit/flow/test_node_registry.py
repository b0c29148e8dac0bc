"""The node registry is the one source of node types: a type defined in one place (here, in
this file) is known to the loader, the checker, the JSON Schema, the graph and the machine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from callflow.flow import (
    Flow,
    FlowMachine,
    Hangup,
    Play,
    PlayDone,
    SimpleContext,
    Timeout,
    check,
    flow_schema,
    load_flow,
)
from callflow.flow import model as m
from callflow.flow.actions import Result, UnexpectedResult
from callflow.flow.graph import to_dot, to_mermaid
from callflow.flow.labels import Look
from callflow.flow.nodes import NODE_TYPES, kind_of, registered
from callflow.flow.nodes.base import Builder, NodeType, Outcome, Reading, Walk
from callflow.flow.spec import BARGE_IN, Field, Kind

# --- a node type in one place: everything the flow language needs to know about it ----


@dataclass(frozen=True)
class SayTimeNode(m.Node):
    """Tell the caller the time, then go on."""

    TYPE: ClassVar[str] = "say_time"

    next: str
    barge_in: bool = False


class SayTimeType(NodeType[SayTimeNode]):
    node = SayTimeNode
    fields = (
        Field("next", Kind.NODE, "Where to go once the time is told.", required=True),
        BARGE_IN,
    )
    look = Look("note", "#fdf6e3", "#b58900")
    mermaid = ("[/", "\\]")
    passes = True

    def build(self, b: Builder, r: Reading) -> SayTimeNode:
        return SayTimeNode(r.name, r.at, r.values.name("next"), r.values.flag("barge_in", False))

    def exits(self, node: SayTimeNode) -> list[tuple[str, str]]:
        return [("next", node.next)]

    def enter(self, node: SayTimeNode, walk: Walk) -> Outcome:
        media = walk.media((m.SayTime("${now.time}"),))
        return Play(media, node.barge_in, walk.flow.settings.language)

    def resume(self, node: SayTimeNode, result: Result, walk: Walk) -> Outcome:
        if not isinstance(result, PlayDone):
            raise UnexpectedResult(f"say_time {node.name!r} takes PlayDone, got {result!r}")
        walk.step(node, None, "time told")
        return node.next


# --- the tests ---------------------------------------------------------------------------

FLOW = """\
settings: {timezone: Europe/London}
entry: {"100": clock}
nodes:
  clock: {type: say_time, next: bye}
  bye: {type: hangup, prompt: goodbye}
"""


@pytest.fixture
def say_time() -> Iterator[NodeType[SayTimeNode]]:
    with registered(SayTimeType()) as kind:
        yield kind


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "flow.yaml"
    path.write_text(text)
    return str(path)


def load(path: str) -> Flow:
    flow, diagnostics = load_flow(path)
    assert flow is not None, [str(d) for d in diagnostics]
    assert diagnostics == []
    return flow


@pytest.mark.usefixtures("say_time")
def test_a_registered_type_loads_into_its_own_dataclass(tmp_path: Path) -> None:
    """The loader reads a node of a registered type through the type's fields and builder."""
    flow = load(write(tmp_path, FLOW))
    assert flow.nodes["clock"] == SayTimeNode("clock", flow.nodes["clock"].location, "bye")
    assert m.node_type(flow.nodes["clock"]) == "say_time"


@pytest.mark.usefixtures("say_time")
def test_the_checker_checks_a_registered_type_by_its_fields(tmp_path: Path) -> None:
    """Keys, required keys, transitions and loops of a registered type are checked like
    any built-in node's, with file:line:column and suggestions."""
    path = write(
        tmp_path,
        'entry: {"100": clock}\nnodes:\n'
        "  clock: {type: say_time, nxt: bye}\n"
        "  tick: {type: say_time, next: tock}\n"
        "  tock: {type: say_time, next: tick, barge_in: maybe}\n"
        "  bye: {type: hangup}\n",
    )
    assert [str(d).removeprefix(path) for d in check([path])] == [
        ":3:27: error: unknown key 'nxt' in say_time node 'clock' (expected one of: type,"
        " description, next, barge_in); did you mean 'next'?",
        ":4:3: error: loop that never waits for the caller: tick -> tock -> tick (add a menu or"
        " input node to the loop, or give it a way out)",
        ":5:48: error: 'barge_in' in say_time node 'tock' must be true or false, not string"
        " 'maybe'",
        ":4:3: warning: node 'tick' is never reached (no entry or transition leads to it)",
        ":5:3: warning: node 'tock' is never reached (no entry or transition leads to it)",
        ":6:3: warning: node 'bye' is never reached (no entry or transition leads to it)",
    ]
    path = write(tmp_path, FLOW.replace("next: bye}", "next: by}"))
    assert [str(d).removeprefix(path) for d in check([path])] == [
        ":4:33: error: 'next' in say_time node 'clock' goes to unknown node 'by'; did you mean"
        " 'bye'?"
    ]


def test_an_unregistered_type_is_unknown_and_a_registered_one_is_offered(tmp_path: Path) -> None:
    """The checker's list of node types is the registry's, at the moment it checks."""
    path = write(tmp_path, FLOW)
    assert any("unknown node type 'say_time'" in str(d) for d in check([path]))
    with registered(SayTimeType()):
        assert check([path]) == []
        bad = write(tmp_path, FLOW.replace("type: say_time", "type: say_tim"))
        [problem] = check([bad])
        assert "unknown node type 'say_tim'" in problem.message
        assert problem.message.endswith(", say_time)")
        assert problem.suggestion == "say_time"
    assert "say_time" not in NODE_TYPES


@pytest.mark.usefixtures("say_time")
def test_the_schema_describes_a_registered_type() -> None:
    """The JSON Schema offers the type and its keys, as the checker reads them."""
    schema = flow_schema()
    assert "say_time" in schema["$defs"]["node"]["properties"]["type"]["enum"]
    node = schema["$defs"]["say_time_node"]
    assert node["required"] == ["type", "next"]
    assert list(node["properties"]) == ["type", "description", "next", "barge_in"]
    assert node["properties"]["next"]["$ref"] == "#/$defs/node_name"


@pytest.mark.usefixtures("say_time")
def test_the_graph_draws_a_registered_type(tmp_path: Path) -> None:
    """The graph draws the type with its look and follows its exits."""
    flow = load(write(tmp_path, FLOW))
    dot = to_dot(flow)
    assert '"clock" [shape=note, style="filled", fillcolor="#fdf6e3", color="#b58900"' in dot
    assert '"clock" -> "bye" [label="next"' in dot
    mermaid = to_mermaid(flow)
    assert 'n_clock[/"<b>clock</b><br/><i>say_time</i>"\\]:::say_time' in mermaid
    assert "classDef say_time fill:#fdf6e3,stroke:#b58900,stroke-width:1px" in mermaid
    assert 'n_clock -->|"next"| n_bye' in mermaid


@pytest.mark.usefixtures("say_time")
def test_the_machine_steps_a_registered_type_through_existing_actions(tmp_path: Path) -> None:
    """The machine runs the type's step: it asks for a Play (so the live runner needs no
    change), and the result takes the call on."""
    flow = load(write(tmp_path, FLOW))
    at = dt.datetime(2025, 6, 2, 13, 5, tzinfo=dt.UTC)  # 14:05 in London
    machine = FlowMachine(flow, entry="100", call_id="c1", context=SimpleContext(lambda: at))
    action = machine.start()
    told = load(
        write(
            tmp_path,
            FLOW.replace(
                "{type: say_time, next: bye}",
                '{type: play, prompt: {time: "${now.time}"}, next: bye}',
            ),
        )
    )
    same = FlowMachine(told, entry="100", context=SimpleContext(lambda: at)).start()
    assert isinstance(action, Play) and action == same
    assert machine.current == "clock"
    assert machine.send(PlayDone()) == Hangup("normal", ("sound:goodbye",), "en")
    steps = [(s.node, s.node_type, s.outcome) for s in machine.pop_steps()]
    assert steps == [("clock", "say_time", "time told"), ("bye", "hangup", "hangup: normal")]
    again = FlowMachine(flow, entry="100", context=SimpleContext(lambda: at))
    again.start()
    with pytest.raises(UnexpectedResult):
        again.send(Timeout())


def test_every_registered_type_is_known_everywhere() -> None:
    """The registry is the single source: each type's model class, schema definition,
    graph look and machine step come from it, and nothing else lists node types."""
    schema = flow_schema()
    assert schema["$defs"]["node"]["properties"]["type"]["enum"] == list(NODE_TYPES)
    for name, kind in NODE_TYPES.items():
        assert kind.name == name == kind.node.TYPE
        assert f"{name}_node" in schema["$defs"]
        assert kind.look.shape and len(kind.mermaid) == 2
        node = kind.node.__new__(kind.node)
        assert kind_of(node) is kind
        for method in ("build", "enter"):
            assert getattr(type(kind), method) is not getattr(NodeType, method), (name, method)
