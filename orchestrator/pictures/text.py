"""Workflow pictures as text other tools draw: Graphviz DOT and Mermaid flowcharts.

Both say the same as the built-in SVG: a box per task (its id, then handler and
priority), an arrow from each dependency to its dependent, colours by state with a legend
of the states present, and a note when the workflow was too large to draw whole. In DOT,
title, note and legend are the graph's label (an HTML-like table), so every node of the
graph is a task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from html import escape as esc

from orchestrator.core.states import TaskState
from orchestrator.pictures.model import (
    DEFAULT_MAX_EDGES,
    DEFAULT_MAX_NODES,
    STATE_COLOURS,
    Drawable,
    Sketch,
    sketch,
)

#: Characters Mermaid shows as they are inside a quoted label; others become ``#code;``.
_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 _.,:@/()\-+=·…]")


def dot_quote(text: str) -> str:
    """Return ``text`` as a double-quoted DOT string, shown as is in a label.

    Backslashes are doubled (labels read backslash-n, backslash-N... as escapes), quotes
    escaped, ampersands written ``&amp;`` (Graphviz reads entities such as ``&lt;`` in
    any label), and line breaks become backslash-n, a line break in a label.
    """
    escaped = text.replace("&", "&amp;").replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r\n", "\n").replace("\n", "\\n") + '"'


def mermaid_text(text: str) -> str:
    """Return ``text`` for a quoted Mermaid label: unusual characters as entity codes.

    Quotes, ``<``, ``>``, ``&``, ``#``, brackets, pipes and the like become ``#34;``-style
    codes, which Mermaid shows as the character itself.
    """
    return "".join(ch if _MERMAID_SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in text)


def to_dot(
    workflow: Drawable,
    states: Mapping[str, TaskState | str] | None = None,
    *,
    title: str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_edges: int = DEFAULT_MAX_EDGES,
) -> str:
    """Return the workflow as a Graphviz DOT digraph (render with ``dot -Tsvg``).

    Args:
        workflow: A `WorkflowSpec`, or its tasks.
        states: Task id to state: tasks are coloured by it, and a legend added.
        title: The graph's label; by default the workflow's name.
        max_nodes: Most tasks drawn (see `sketch`).
        max_edges: Most dependencies drawn.
    """
    return dot_of(sketch(workflow, states, title=title, max_nodes=max_nodes, max_edges=max_edges))


def _dot_header(drawn: Sketch) -> str:
    """Return the graph's label: title, note and legend, as a Graphviz HTML-like table."""
    legend = drawn.legend()
    span = max(len(legend), 1)
    rows = [f'<tr><td colspan="{span}"><font point-size="14">{esc(drawn.title)}</font></td></tr>']
    if drawn.note is not None:
        rows.append(
            f'<tr><td colspan="{span}"><font color="#b45309">{esc(drawn.note)}</font></td></tr>'
        )
    if legend:
        cells = "".join(
            f'<td border="1" style="rounded" bgcolor="{STATE_COLOURS[state][0]}" '
            f'color="{STATE_COLOURS[state][1]}">{state.value}</td>'
            for state in legend
        )
        rows.append(f"<tr>{cells}</tr>")
    return f'<<table border="0" cellspacing="4">{"".join(rows)}</table>>'


def dot_of(drawn: Sketch) -> str:
    """Return the DOT text of a `Sketch`."""
    lines = [
        f"digraph {dot_quote(drawn.title)} {{",
        "  graph [rankdir=TB, labelloc=t, fontname=Helvetica, fontsize=11,"
        f" label={_dot_header(drawn)}];",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica, fontsize=11];',
        '  edge [color="#6b7280", arrowsize=0.7];',
    ]
    for node in drawn.nodes:
        fill, stroke = node.colours
        state = "" if node.state is None else f", tooltip={dot_quote(node.state.value)}"
        label = dot_quote(node.task_id + "\n" + node.caption)
        lines.append(
            f"  {dot_quote(node.task_id)} [label={label}, "
            f'fillcolor="{fill}", color="{stroke}"{state}];'
        )
    lines.extend(f"  {dot_quote(dep)} -> {dot_quote(task)};" for dep, task in drawn.edges)
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(
    workflow: Drawable,
    states: Mapping[str, TaskState | str] | None = None,
    *,
    title: str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_edges: int = DEFAULT_MAX_EDGES,
) -> str:
    """Return the workflow as a Mermaid ``flowchart TD`` (GitHub renders it in Markdown).

    Tasks are named ``t0``, ``t1``... in the chart (task ids may hold characters Mermaid
    reads as syntax); their ids are in the labels. Arguments as in `to_dot`.
    """
    drawn = sketch(workflow, states, title=title, max_nodes=max_nodes, max_edges=max_edges)
    names = {node.task_id: f"t{index}" for index, node in enumerate(drawn.nodes)}
    lines = ["---", f"title: {json.dumps(drawn.title)}", "---", "flowchart TD"]
    for node in drawn.nodes:
        label = f"{mermaid_text(node.task_id)}<br/>{mermaid_text(node.caption)}"
        lines.append(f'  {names[node.task_id]}["{label}"]')
    lines.extend(f"  {names[dep]} --> {names[task]}" for dep, task in drawn.edges)
    if drawn.note is not None:
        lines.append(f'  more["{mermaid_text(drawn.note)}"]')
    legend = drawn.legend()
    for state in legend:
        fill, stroke = STATE_COLOURS[state]
        lines.append(f"  classDef {state.value} fill:{fill},stroke:{stroke},color:#111827")
    for state in legend:
        members = [names[node.task_id] for node in drawn.nodes if node.state is state]
        lines.append(f"  class {','.join(members)} {state.value}")
    if legend:
        lines.append('  subgraph legend["states"]')
        lines.extend(f'    legend_{s.value}["{s.value}"]:::{s.value}' for s in legend)
        lines.append("  end")
    return "\n".join(lines) + "\n"
