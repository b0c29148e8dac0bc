"""Graph: draw a loaded flow as a Graphviz (DOT → SVG) or Mermaid diagram.

:func:`to_dot` and :func:`to_mermaid` are pure: a :class:`Flow` in, diagram text out.
:func:`render_svg` is the only I/O, running Graphviz's ``dot``. :func:`add_commands`
registers ``callflow graph FILE [-o OUT] [--format svg|dot|mermaid]``.

Both diagrams show the same picture, built once by :func:`describe_flow`: the numbers
dialled point at their start nodes; each node shows its name, type and abridged prompts;
edges carry the YAML word that takes them (a key, ``on_failure``, ``open``, a branch
condition, ``next``); nodes from each included file sit in a box named after the file.

Errors::

    GraphError              drawing failed
    ├── GraphvizMissing     the ``dot`` program is not installed
    └── GraphvizFailed      ``dot`` ran and refused the input
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from callflow.flow import model as m
from callflow.flow.labels import Look
from callflow.flow.labels import abridge as abridge  # re-exported: graph's own words
from callflow.flow.labels import condition_text as condition_text
from callflow.flow.labels import prompt_text as prompt_text
from callflow.flow.loader import load_flow
from callflow.flow.nodes import NODE_TYPES, kind_of

Direction = Literal["LR", "TB"]

MAX_PROMPTS = 3  # prompt lines shown per node; the rest are counted
DOT_TIMEOUT = 60.0  # seconds; a flow of a few hundred nodes lays out in well under one

# --- errors ----------------------------------------------------------------------------


class GraphError(Exception):
    """Drawing a flow failed."""


class GraphvizMissing(GraphError):
    """Graphviz's ``dot`` program is not installed or not on PATH."""


class GraphvizFailed(GraphError):
    """``dot`` ran but failed; the message carries what it printed."""


# --- the picture, independent of the output language -----------------------------------


def looks() -> dict[str, Look]:
    """How each node type is drawn, by type (each type's ``look``): places the caller waits
    for input and the ways out to a person are saturated and bold; pass-through nodes are
    pale so they recede."""
    return {name: kind.look for name, kind in NODE_TYPES.items()}


ENTRY_LOOK = Look("cds", "#cfe2f3", "#0b5394", bold=True)


@dataclass(frozen=True)
class GraphNode:
    """One box: its flow node name, type, a detail line and its abridged prompts."""

    name: str
    kind: str
    detail: str
    lines: tuple[str, ...]
    file: str


@dataclass(frozen=True)
class GraphEdge:
    """One arrow between two nodes, with the words that take it (merged when parallel)."""

    source: str
    target: str
    label: str
    unhappy: bool


@dataclass(frozen=True)
class Picture:
    """Everything drawn: entries (number → node), nodes, edges, sub-flow files, direction."""

    entries: tuple[tuple[str, str], ...]
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    clusters: tuple[tuple[str, tuple[str, ...]], ...]  # (file label, node names)
    direction: Direction


def describe_flow(flow: m.Flow, direction: Direction | None = None) -> Picture:
    """Decide what the diagram shows; ``direction`` None picks the one that fits best."""
    # Graphviz keeps input order where it can, so list nodes in the order a call meets
    # them: menu keys then come out 1, 2, 3 across the page.
    ordered = _call_order(flow)
    nodes = tuple(_graph_node(flow.nodes[name]) for name in ordered)
    edges = _merge(edge for name in ordered for edge in _edges(flow.nodes[name]))
    by_file: dict[str, list[str]] = defaultdict(list)
    for node in nodes:
        if node.file != flow.path:
            by_file[node.file].append(node.name)
    base = os.path.dirname(flow.path)
    clusters = tuple(
        (os.path.relpath(path, base) if base else path, tuple(names))
        for path, names in by_file.items()
    )
    entries = tuple(flow.entries.items())
    return Picture(
        entries=entries,
        nodes=nodes,
        edges=edges,
        clusters=clusters,
        direction=direction or choose_direction(entries, edges),
    )


def _call_order(flow: m.Flow) -> list[str]:
    """Node names breadth-first from the entries, then any unreachable ones in file order."""
    seen: dict[str, None] = {}
    frontier = list(flow.entries.values())
    while frontier:
        following: list[str] = []
        for name in frontier:
            if name in seen or name not in flow.nodes:
                continue
            seen[name] = None
            following += [edge.target for edge in _edges(flow.nodes[name])]
        frontier = following
    for name in flow.nodes:
        seen.setdefault(name, None)
    return list(seen)


def choose_direction(entries: Sequence[tuple[str, str]], edges: Sequence[GraphEdge]) -> Direction:
    """Left-to-right for deep, narrow flows; top-down for shallow, wide ones.

    Boxes are about three times wider than tall, so a rank costs ~3 units across in
    top-down and ~1 unit down in left-to-right. Pick the layout whose picture is closer
    to a screen's 16:10.
    """
    depth = _ranks(entries, edges)
    if not depth:
        return "TB"
    per_rank: dict[int, int] = defaultdict(int)
    for rank in depth.values():
        per_rank[rank] += 1
    ranks = max(per_rank) + 1
    widest = max(per_rank.values())
    screen = math.log(16 / 10)
    top_down = abs(math.log((widest * 3.0) / (ranks * 1.4)) - screen)
    left_right = abs(math.log((ranks * 4.0) / (widest * 1.2)) - screen)
    return "LR" if left_right < top_down else "TB"


def _ranks(entries: Sequence[tuple[str, str]], edges: Sequence[GraphEdge]) -> dict[str, int]:
    """Breadth-first distance of each node from the nearest entry."""
    after: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        after[edge.source].append(edge.target)
    depth: dict[str, int] = {}
    frontier = [start for _, start in entries]
    for start in frontier:
        depth.setdefault(start, 0)
    while frontier:
        following: list[str] = []
        for name in frontier:
            for target in after[name]:
                if target not in depth:
                    depth[target] = depth[name] + 1
                    following.append(target)
        frontier = following
    return depth


def _graph_node(node: m.Node) -> GraphNode:
    kind = kind_of(node)
    lines = kind.lines(node)
    if len(lines) > MAX_PROMPTS:
        lines = [*lines[: MAX_PROMPTS - 1], f"(+{len(lines) - MAX_PROMPTS + 1} more)"]
    return GraphNode(node.name, kind.name, kind.detail(node), tuple(lines), node.location.path)


def _edges(node: m.Node) -> list[GraphEdge]:
    """Every way out of a node, labelled with the YAML word that takes it."""
    kind = kind_of(node)
    return [
        GraphEdge(node.name, target, label, label in kind.unhappy)
        for label, target in kind.exits(node)
    ]


def _merge(edges: Iterable[GraphEdge]) -> tuple[GraphEdge, ...]:
    """One arrow per (source, target): menu keys 1 and 2 to the same node read "1, 2"."""
    merged: dict[tuple[str, str], list[GraphEdge]] = {}
    for edge in edges:
        merged.setdefault((edge.source, edge.target), []).append(edge)
    return tuple(
        GraphEdge(
            source,
            target,
            _joined([e.label for e in group]),
            all(e.unhappy for e in group),
        )
        for (source, target), group in merged.items()
    )


def _joined(labels: Sequence[str]) -> str:
    """Keys share a line ("1, 2, on_failure"); a condition keeps lines of its own."""
    if any(" " in label or "\n" in label for label in labels):
        return "\n".join(labels)
    return ", ".join(labels)


# --- DOT -------------------------------------------------------------------------------


FONT = "Helvetica"


def to_dot(flow: m.Flow, direction: Direction | None = None) -> str:
    """The flow as a Graphviz DOT digraph, ready for ``dot -Tsvg``."""
    picture = describe_flow(flow, direction)
    title = os.path.basename(flow.path)
    lines = [
        f"digraph {dot_id(title)} {{",
        f"  graph [rankdir={picture.direction}, splines=true, newrank=true, "
        f'fontname="{FONT}", fontsize=16, labelloc=t, label={dot_id(title)}, '
        'nodesep=0.35, ranksep=0.55, pad=0.3, bgcolor="white"];',
        f'  node [fontname="{FONT}", fontsize=12, margin="0.15,0.08", penwidth=1.2];',
        f'  edge [fontname="{FONT}", fontsize=11, color="#555555", fontcolor="#222222", '
        "arrowsize=0.8];",
        "",
    ]
    for number, _ in picture.entries:
        lines.append(
            f"  {dot_id(_entry_id(number))} [{_dot_look(ENTRY_LOOK)}, "
            f"label=<<B>dial {html_text(number)}</B>>];"
        )
    lines.append("")
    in_cluster = {name for _, names in picture.clusters for name in names}
    by_name = {node.name: node for node in picture.nodes}
    for node in picture.nodes:
        if node.name not in in_cluster:
            lines.append(f"  {_dot_node(node)}")
    for index, (label, names) in enumerate(picture.clusters):
        lines += [
            "",
            f"  subgraph cluster_{index} {{",
            f'    graph [label={dot_id(label)}, style="rounded,dashed", color="#888888", '
            f'fontcolor="#444444", fontsize=13, labeljust=l];',
        ]
        lines += [f"    {_dot_node(by_name[name])}" for name in names]
        lines.append("  }")
    lines.append("")
    for number, start in picture.entries:
        lines.append(
            f'  {dot_id(_entry_id(number))} -> {dot_id(start)} [color="#0b5394", penwidth=1.6];'
        )
    for edge in picture.edges:
        lines.append(f"  {_dot_edge(edge)}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _entry_id(number: str) -> str:
    # Node names cannot contain ':' (see loader._NODE_NAME), so these never collide.
    return f"entry:{number}"


def _dot_look(look: Look) -> str:
    style = "filled,bold" if look.bold else "filled"
    if look.shape == "box":
        style = "rounded," + style
    attrs = f'shape={look.shape}, style="{style}", fillcolor="{look.fill}", color="{look.border}"'
    if look.double:
        attrs += ", peripheries=2"
    return attrs


def _dot_node(node: GraphNode) -> str:
    rows = [
        f"<B>{html_text(node.name)}</B>",
        f'<FONT POINT-SIZE="10" COLOR="#444444"><I>{html_text(node.detail)}</I></FONT>',
    ]
    rows += [f'<FONT POINT-SIZE="10">{html_text(line)}</FONT>' for line in node.lines]
    label = '<BR ALIGN="LEFT"/>'.join(rows) + '<BR ALIGN="LEFT"/>'
    return f"{dot_id(node.name)} [{_dot_look(NODE_TYPES[node.kind].look)}, label=<{label}>];"


def _dot_edge(edge: GraphEdge) -> str:
    attrs = [f"label={dot_id(edge.label)}"]
    if edge.unhappy:
        attrs.append('style=dashed, color="#990000", fontcolor="#990000"')
    if edge.label == "next":
        attrs.append('color="#777777", fontcolor="#777777"')
    return f"{dot_id(edge.source)} -> {dot_id(edge.target)} [{', '.join(attrs)}];"


def dot_id(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


def html_text(text: str) -> str:
    """Text for a Graphviz HTML-like label: markup characters as entities, on one line."""
    line = " ".join(text.split())
    return (
        line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


# --- Mermaid ---------------------------------------------------------------------------


def to_mermaid(flow: m.Flow, direction: Direction | None = None) -> str:
    """The flow as a Mermaid flowchart, e.g. for a Markdown page or mermaid.live."""
    picture = describe_flow(flow, direction)
    ids = _mermaid_ids([node.name for node in picture.nodes])
    lines = [f"flowchart {'LR' if picture.direction == 'LR' else 'TD'}"]
    for index, (number, _) in enumerate(picture.entries):
        lines.append(f'  entry_{index}(("{mermaid_text("dial " + number)}")):::entry')
    in_cluster = {name for _, names in picture.clusters for name in names}
    by_name = {node.name: node for node in picture.nodes}
    for node in picture.nodes:
        if node.name not in in_cluster:
            lines.append(f"  {_mermaid_node(ids[node.name], node)}")
    for index, (label, names) in enumerate(picture.clusters):
        lines.append(f'  subgraph file_{index}["{mermaid_text(label)}"]')
        lines += [f"    {_mermaid_node(ids[name], by_name[name])}" for name in names]
        lines.append("  end")
    for index, (_, start) in enumerate(picture.entries):
        lines.append(f"  entry_{index} ==> {ids[start]}")
    for edge in picture.edges:
        arrow = "-.->" if edge.unhappy else "-->"
        label = "<br/>".join(mermaid_text(line) for line in edge.label.split("\n"))
        lines.append(f'  {ids[edge.source]} {arrow}|"{label}"| {ids[edge.target]}')
    lines.append(f"  classDef entry fill:{ENTRY_LOOK.fill},stroke:{ENTRY_LOOK.border}")
    for kind, look in looks().items():
        width = "3px" if look.bold else "1px"
        lines.append(
            f"  classDef {kind} fill:{look.fill},stroke:{look.border},stroke-width:{width}"
        )
    return "\n".join(lines) + "\n"


def _mermaid_node(node_id: str, node: GraphNode) -> str:
    rows = [f"<b>{mermaid_text(node.name)}</b>", f"<i>{mermaid_text(node.detail)}</i>"]
    rows += [mermaid_text(line) for line in node.lines]
    # Decisions are diamonds, ways out to a person "subroutine" boxes, the end a stadium.
    opening, closing = NODE_TYPES[node.kind].mermaid
    return f'{node_id}{opening}"{"<br/>".join(rows)}"{closing}:::{node.kind}'


def _mermaid_ids(names: Sequence[str]) -> dict[str, str]:
    """Mermaid-safe ids: node names may hold '.' or '-', and words like ``end`` are keywords."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        base = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        candidate, suffix = base, 2
        while candidate in taken:
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(candidate)
        ids[name] = candidate
    return ids


# Characters that end a quoted Mermaid label, start markup or an entity, or split an edge.
_MERMAID_ENTITIES = {
    "#": "#35;",
    "&": "#38;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "|": "#124;",
    "`": "#96;",
}


def mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label: quotes, markup and ``#`` as Mermaid entity codes."""
    line = " ".join(text.split())
    return "".join(_MERMAID_ENTITIES.get(char, char) for char in line)


# --- rendering -------------------------------------------------------------------------


def render_svg(dot_text: str) -> bytes:
    """Lay out DOT text with Graphviz and return the SVG document."""
    return render(dot_text, "svg")


def render(dot_text: str, output_format: str) -> bytes:
    """Run ``dot -T<format>`` on DOT text; raises :class:`GraphError` on failure."""
    program = shutil.which("dot")
    if program is None:
        raise GraphvizMissing(
            "Graphviz is not installed: the 'dot' program was not found on PATH "
            "(install the 'graphviz' package, or use --format dot or --format mermaid)"
        )
    try:
        done = subprocess.run(  # noqa: S603 (dot from PATH, a fixed format; the graph on stdin)
            [program, f"-T{output_format}"],
            input=dot_text.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except OSError as exc:
        raise GraphvizMissing(f"cannot run Graphviz '{program}': {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise GraphvizFailed(f"Graphviz took longer than {DOT_TIMEOUT:g} s") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit {done.returncode}"
        raise GraphvizFailed(f"Graphviz failed: {message}")
    return done.stdout


# --- command line ----------------------------------------------------------------------


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``graph``."""
    parser = subparsers.add_parser(
        "graph",
        help="draw a flow as an SVG picture (Graphviz) or as Mermaid text",
        description="Draw a flow file and the sub-flows it includes. A flow with errors is "
        "not drawn: its problems are listed and the exit code is 1.",
    )
    parser.add_argument("file", metavar="FILE", help="flow file")
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        default=None,
        help="where to write ('-' for standard output); default: FILE with a .svg suffix "
        "for svg, standard output for dot and mermaid",
    )
    parser.add_argument(
        "--format",
        choices=("svg", "dot", "mermaid"),
        default="svg",
        help="svg (needs Graphviz), dot (Graphviz source) or mermaid (default: svg)",
    )
    parser.set_defaults(func=run_graph)


def run_graph(args: argparse.Namespace) -> int:
    """Load the flow, refuse it with its diagnostics if it has errors, else draw it."""
    path: str = args.file
    flow, diagnostics = load_flow(path)
    for diagnostic in diagnostics:
        print(diagnostic, file=sys.stderr)
    if flow is None:
        errors = sum(1 for d in diagnostics if d.is_error)
        print(f"{path}: not drawn: {errors} error{'' if errors == 1 else 's'}", file=sys.stderr)
        return 1
    output: str | None = args.output
    if args.format == "mermaid":
        text = to_mermaid(flow)
    elif args.format == "dot":
        text = to_dot(flow)
    else:
        if output is None:
            output = os.path.splitext(path)[0] + ".svg"
        try:
            text = render_svg(to_dot(flow)).decode("utf-8")
        except GraphError as exc:
            print(f"callflow graph: {exc}", file=sys.stderr)
            return 1
    if output is None or output == "-":
        sys.stdout.write(text)
        return 0
    try:
        with open(output, "w", encoding="utf-8", newline="") as file:
            file.write(text)
    except OSError as exc:
        print(f"callflow graph: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(output)
    return 0
