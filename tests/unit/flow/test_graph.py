"""Tests for `callflow graph`: DOT and Mermaid text, escaping, SVG rendering, refusal."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from callflow.flow import load_flow
from callflow.flow.graph import (
    GraphEdge,
    GraphvizFailed,
    GraphvizMissing,
    add_commands,
    choose_direction,
    condition_text,
    describe_flow,
    dot_id,
    html_text,
    mermaid_text,
    render_svg,
    to_dot,
    to_mermaid,
)
from callflow.flow.model import AllOf, AnyOf, Compare, Flow, Not

HERE = Path(__file__).parent
FIXTURES = HERE / "graph_fixtures"
SAMPLE = HERE.parents[2] / "config" / "flows" / "main.yaml"

needs_graphviz = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")


def load(path: Path) -> Flow:
    flow, diagnostics = load_flow(str(path))
    assert flow is not None, [str(d) for d in diagnostics]
    return flow


def run(*argv: str) -> int:
    """Run `callflow graph ...` through the command's own argparse registration."""
    parser = argparse.ArgumentParser(prog="callflow")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_commands(subparsers)
    args = parser.parse_args(["graph", *argv])
    code: int = args.func(args)
    return code


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


# --- DOT ---------------------------------------------------------------------------------


def test_dot_edges_carry_the_yaml_words_that_take_them() -> None:
    """Menu keys, repeat, on_failure, hours, branch conditions, else, next and goto label edges."""
    lines = lines_of(to_dot(load(FIXTURES / "small.yaml")))
    unhappy = 'style=dashed, color="#990000", fontcolor="#990000"'
    muted = 'color="#777777", fontcolor="#777777"'
    for expected in [
        '"main_menu" -> "sales" [label="1, 2"];',
        '"main_menu" -> "account" [label="3"];',
        '"main_menu" -> "operator" [label="0, on_failure"];',
        '"main_menu" -> "main_menu" [label="* repeat"];',
        '"office_hours" -> "main_menu" [label="open"];',
        f'"office_hours" -> "voicemail" [label="closed, holiday", {unhappy}];',
        f'"account" -> "operator" [label="on_failure", {unhappy}];',
        f'"account" -> "route" [label="next", {muted}];',
        '"route" -> "uk" [label="caller_id starts with \\"+44\\""];',
        '"route" -> "read_back" [label="sales.estimated_wait > 300\\nelse"];',
        '"to_goodbye" -> "goodbye" [label="goto"];',
    ]:
        assert expected in lines


def test_dot_entries_are_distinct_shapes_pointing_at_start_nodes() -> None:
    """Each dialled number is its own arrow-shaped node with an edge to its start node."""
    lines = lines_of(to_dot(load(SAMPLE)))
    assert '"entry:100" -> "welcome" [color="#0b5394", penwidth=1.6];' in lines
    assert '"entry:700" -> "test_intro" [color="#0b5394", penwidth=1.6];' in lines
    entry = next(line for line in lines if line.startswith('"entry:100" ['))
    assert "shape=cds" in entry
    assert "<B>dial 100</B>" in entry


def test_dot_nodes_show_name_type_and_abridged_prompts() -> None:
    """A node's label has its name in bold, its type, and each prompt cut to ~30 characters."""
    lines = lines_of(to_dot(load(FIXTURES / "small.yaml")))
    welcome = next(line for line in lines if line.startswith('"welcome" ['))
    assert "<B>welcome</B>" in welcome
    assert "<I>play</I>" in welcome
    assert "sound: hello-world" in welcome
    assert "say: &quot;Welcome to Acme Widgets, the…&quot;" in welcome
    read_back = next(line for line in lines if line.startswith('"read_back" ['))
    assert "digits: ${account}" in read_back


def test_dot_shapes_make_waits_and_people_stand_out() -> None:
    """Menus are bold, transfers and queues are green double boxes, hangups red."""
    lines = lines_of(to_dot(load(FIXTURES / "small.yaml")))

    def attrs(name: str) -> str:
        return next(line for line in lines if line.startswith(f'"{name}" ['))

    assert 'style="rounded,filled,bold", fillcolor="#ffe599"' in attrs("main_menu")
    assert "shape=hexagon" in attrs("office_hours")
    for person in ("sales", "operator"):
        assert 'fillcolor="#b6d7a8"' in attrs(person)
        assert "peripheries=2" in attrs(person)
    assert 'fillcolor="#f4cccc"' in attrs("goodbye")
    assert 'fillcolor="#e8f1fb"' in attrs("welcome")


def test_dot_groups_included_nodes_in_a_cluster_per_file() -> None:
    """Nodes from an included file sit in one cluster labelled with that file's path."""
    text = to_dot(load(FIXTURES / "small.yaml"))
    start = text.index("subgraph cluster_0 {")
    cluster = text[start : text.index("\n  }\n", start)]
    assert 'label="small_people.yaml"' in cluster
    for name in ("sales", "operator", "voicemail", "goodbye"):
        assert f'\n    "{name}" [' in cluster
    assert '"welcome" [' not in cluster
    assert "cluster_1" not in text


def test_dot_layout_is_readable() -> None:
    """The graph uses splines, a sans-serif font and a rank direction."""
    text = to_dot(load(SAMPLE))
    assert "splines=true" in text
    assert 'fontname="Helvetica"' in text
    assert "rankdir=TB" in text


def test_dot_escapes_quotes_markup_backslashes_and_newlines() -> None:
    """Quotes, <, >, & and backslashes from flow text cannot break out of DOT labels."""
    assert dot_id('say "hi"\nnext\\d') == '"say \\"hi\\"\\nnext\\\\d"'
    assert html_text('a "b" <c> & d\nE') == "a &quot;b&quot; &lt;c&gt; &amp; d E"
    text = to_dot(load(FIXTURES / "tricky.yaml"))
    assert "say: &quot;Say &quot;hi&quot; &lt;b&gt;&amp;&lt;/b&gt;&quot;" in text
    assert "say: &quot;line one line two&quot;" in text
    assert '[label="caller_id matches /^\\\\+44|\\"x\\"$/\\nelse"]' in text


@needs_graphviz
def test_escaped_text_survives_graphviz() -> None:
    """Graphviz accepts the escaped flow and shows the original characters in the SVG."""
    svg = render_svg(to_dot(load(FIXTURES / "tricky.yaml"))).decode()
    assert ">say: &quot;Say &quot;hi&quot; &lt;b&gt;&amp;&lt;/b&gt;&quot;</text>" in svg
    assert ">caller_id matches /^\\+44|&quot;x&quot;$/</text>" in svg
    assert ">say: &quot;Press # to &lt;end&gt; | done&quot;</text>" in svg


# --- Mermaid -----------------------------------------------------------------------------


def test_mermaid_has_nodes_labelled_edges_and_subgraphs() -> None:
    """The Mermaid flowchart names every node and labels edges as the DOT graph does."""
    lines = lines_of(to_mermaid(load(FIXTURES / "small.yaml")))
    assert lines[0] == "flowchart TD"
    for expected in [
        'entry_0(("dial 100")):::entry',
        "entry_0 ==> n_welcome",
        'n_main_menu -->|"1, 2"| n_sales',
        'n_main_menu -->|"* repeat"| n_main_menu',
        'n_office_hours -.->|"closed, holiday"| n_voicemail',
        'n_route -->|"caller_id starts with #quot;+44#quot;"| n_uk',
        'n_route -->|"sales.estimated_wait #gt; 300<br/>else"| n_read_back',
        'subgraph file_0["small_people.yaml"]',
        'n_main_menu{{"<b>main_menu</b><br/><i>menu · 5 s timeout, 2 retries</i><br/>'
        'say: #quot;For sales press 1, for…#quot;"}}:::menu',
    ]:
        assert expected in lines


def test_mermaid_escapes_quotes_markup_hash_and_pipes() -> None:
    """Quotes, <, >, &, # and | in flow text become Mermaid entity codes."""
    assert mermaid_text('a "b" <c> & #1 | `x`') == (
        "a #quot;b#quot; #lt;c#gt; #38; #35;1 #124; #96;x#96;"
    )
    text = to_mermaid(load(FIXTURES / "tricky.yaml"))
    assert "say: #quot;Say #quot;hi#quot; #lt;b#gt;#38;#lt;/b#gt;#quot;" in text
    assert "say: #quot;Press #35; to #lt;end#gt; #124; done#quot;" in text
    assert "\\n" not in text


# --- the picture -------------------------------------------------------------------------


def test_conditions_read_as_short_words() -> None:
    """Nested all/any/not conditions and queue figures read as one short phrase."""
    condition = AllOf(
        (
            Compare("tier", "in", ("gold", "silver")),
            AnyOf((Compare("queue.estimated_wait", "at_most", "60", queue="sales"),)),
            Not(Compare("vip", "is_set", True)),
        )
    )
    assert condition_text(condition) == (
        "tier in [gold, silver] and (sales.estimated_wait <= 60) and not vip is set"
    )


def test_wide_fan_out_goes_left_to_right_and_the_sample_top_down() -> None:
    """A menu fanning out to many leaves is drawn left to right; the sample flow top-down."""
    edges = [GraphEdge("menu", f"leaf{i}", str(i), False) for i in range(9)]
    assert choose_direction([("100", "menu")], edges) == "LR"
    assert describe_flow(load(SAMPLE)).direction == "TB"


# --- rendering and the command -----------------------------------------------------------


@needs_graphviz
def test_sample_flow_renders_to_svg_with_every_node(tmp_path: Path) -> None:
    """`callflow graph main.yaml -o OUT.svg` writes an SVG naming every node and entry."""
    out = tmp_path / "main.svg"
    assert run(str(SAMPLE), "-o", str(out)) == 0
    svg = out.read_text()
    assert svg.startswith(("<?xml", "<svg"))
    assert "</svg>" in svg
    for name in load(SAMPLE).nodes:
        assert f">{name}</text>" in svg
    assert "dial 100" in svg
    assert "shared/people.yaml" in svg


@needs_graphviz
def test_thirty_node_flow_renders_every_node() -> None:
    """A flow of ~30 nodes over three files lays out and names every node."""
    flow = load(FIXTURES / "big.yaml")
    assert len(flow.nodes) >= 29
    svg = render_svg(to_dot(flow)).decode()
    for name in flow.nodes:
        assert f">{name}</text>" in svg


@needs_graphviz
def test_default_output_is_the_flow_file_with_svg_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without -o the SVG is written next to the flow as FILE.svg and its path printed."""
    shutil.copytree(FIXTURES, tmp_path / "flows")
    path = tmp_path / "flows" / "small.yaml"
    assert run(str(path)) == 0
    assert (tmp_path / "flows" / "small.svg").read_text().startswith(("<?xml", "<svg"))
    assert capsys.readouterr().out == f"{tmp_path / 'flows' / 'small.svg'}\n"


def test_dot_and_mermaid_formats_print_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    """--format dot and --format mermaid print the diagram text to standard output."""
    assert run(str(FIXTURES / "small.yaml"), "--format", "dot") == 0
    assert capsys.readouterr().out.startswith('digraph "small.yaml" {')
    assert run(str(FIXTURES / "small.yaml"), "--format", "mermaid") == 0
    assert capsys.readouterr().out.startswith("flowchart TD\n")


def test_mermaid_can_be_written_to_a_file(tmp_path: Path) -> None:
    """-o with --format mermaid writes the flowchart to that file."""
    out = tmp_path / "flow.mmd"
    assert run(str(FIXTURES / "small.yaml"), "--format", "mermaid", "-o", str(out)) == 0
    assert out.read_text().startswith("flowchart TD\n")


def test_broken_flow_is_refused_with_file_line_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A flow with an error is not drawn: its diagnostics are printed and the exit code is 1."""
    path = FIXTURES / "broken.yaml"
    out = tmp_path / "broken.svg"
    assert run(str(path), "-o", str(out)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"{path}:9:17: error: 'on_failure' in menu node 'start' goes to unknown node "
        "'agnet'; did you mean 'agent'?",
        f"{path}: not drawn: 1 error",
    ]
    assert not out.exists()


def test_missing_graphviz_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without `dot` on PATH, svg output fails with exit 1 and says to install Graphviz."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GraphvizMissing, match="Graphviz is not installed"):
        render_svg("digraph { a }")
    assert run(str(FIXTURES / "small.yaml"), "-o", str(tmp_path / "x.svg")) == 1
    assert "install the 'graphviz' package" in capsys.readouterr().err
    assert not (tmp_path / "x.svg").exists()


@needs_graphviz
def test_graphviz_syntax_error_is_reported() -> None:
    """DOT that Graphviz rejects raises GraphvizFailed carrying Graphviz's message."""
    with pytest.raises(GraphvizFailed, match="syntax error"):
        render_svg("digraph { a -> }")
