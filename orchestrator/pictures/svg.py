"""Workflow pictures as SVG: a layered layout of its own, or Graphviz when installed.

The built-in layout puts each task in the layer of its depth (tasks without dependencies
on top), orders each layer by the mean position of its tasks' dependencies (fewer
crossings than declaration order), and wraps layers wider than `ROW_MAX` tasks onto
several rows. It needs nothing but Python, so HTML pages and notebooks always show it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from typing import Literal

from orchestrator.core.states import TaskState
from orchestrator.pictures.markup import (
    LEGEND_H,
    clip,
    esc,
    figure,
    legend_svg,
    legend_width,
    page,
    svg_open,
    text_px,
)
from orchestrator.pictures.model import (
    DEFAULT_MAX_EDGES,
    DEFAULT_MAX_NODES,
    Drawable,
    Node,
    Sketch,
    sketch,
)
from orchestrator.pictures.text import dot_of

NODE_W, NODE_H = 180, 44
GAP_X, GAP_Y, MARGIN = 20, 44, 16
#: Most tasks side by side; wider layers continue on the next row.
ROW_MAX = 8
#: Longest Graphviz may take to lay a picture out.
DOT_TIMEOUT_S = 60.0

Engine = Literal["auto", "graphviz", "builtin"]


def _place(drawn: Sketch, width: float, top: float) -> dict[str, tuple[float, float]]:
    """Return the top-left corner of each node's box."""
    corners: dict[str, tuple[float, float]] = {}
    parents: dict[str, list[str]] = {}
    for dep, task in drawn.edges:
        parents.setdefault(task, []).append(dep)
    y = top
    for layer in drawn.layers():

        def mean_x(node: Node) -> float:
            xs = [corners[p][0] for p in parents.get(node.task_id, ()) if p in corners]
            return sum(xs) / len(xs) if xs else float("inf")

        ordered = sorted(layer, key=mean_x)  # stable: declaration order among equals
        for start in range(0, len(ordered), ROW_MAX):
            row = ordered[start : start + ROW_MAX]
            row_w = len(row) * (NODE_W + GAP_X) - GAP_X
            x = (width - row_w) / 2
            for node in row:
                corners[node.task_id] = (x, y)
                x += NODE_W + GAP_X
            y += NODE_H + GAP_Y
    return corners


def _node_svg(node: Node, x: float, y: float) -> str:
    fill, stroke = node.colours
    state = "" if node.state is None else f" ({node.state.value})"
    centre = x + NODE_W / 2
    return (
        f'<g class="node" data-task="{esc(node.task_id)}">'
        f"<title>{esc(f'{node.task_id}: {node.caption}{state}')}</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        f'<text x="{centre:.1f}" y="{y + 18:.1f}" text-anchor="middle" font-size="12" '
        f'font-weight="bold" fill="#111827">{esc(clip(node.task_id, 23))}</text>'
        f'<text x="{centre:.1f}" y="{y + 34:.1f}" text-anchor="middle" font-size="11" '
        f'fill="#374151">{esc(clip(node.caption, 25))}</text></g>'
    )


def _edge_svg(dep: str, task: str, start: tuple[float, float], end: tuple[float, float]) -> str:
    x1, y1 = start[0] + NODE_W / 2, start[1] + NODE_H
    x2, y2 = end[0] + NODE_W / 2, end[1]
    middle = (y1 + y2) / 2
    return (
        f'<g class="edge" data-from="{esc(dep)}" data-to="{esc(task)}">'
        f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{middle:.1f} {x2:.1f},{middle:.1f} '
        f'{x2:.1f},{y2 - 6:.1f}" fill="none" stroke="#6b7280" stroke-width="1.2"/>'
        f'<polygon points="{x2 - 4:.1f},{y2 - 7:.1f} {x2 + 4:.1f},{y2 - 7:.1f} '
        f'{x2:.1f},{y2:.1f}" fill="#6b7280"/></g>'
    )


def svg_of(drawn: Sketch) -> str:
    """Return the built-in SVG picture of a `Sketch`."""
    legend = drawn.legend()
    header = [drawn.title, *([drawn.note] if drawn.note else [])]
    widest_row = min(ROW_MAX, max((len(layer) for layer in drawn.layers()), default=0))
    widths = [widest_row * (NODE_W + GAP_X) - GAP_X, legend_width(legend)]
    widths.extend(text_px(line, 14) for line in header)
    width = max(widths) + 2 * MARGIN
    top = MARGIN + 20 * len(header) + (LEGEND_H + 6 if legend else 0) + 8
    corners = _place(drawn, width, top)
    height = max((y for _, y in corners.values()), default=top - NODE_H) + NODE_H + MARGIN
    parts = [svg_open(width, height, f"workflow {drawn.title}")]
    parts.append(
        f'<text x="{MARGIN}" y="{MARGIN + 12}" font-size="15" font-weight="bold" '
        f'fill="#111827">{esc(drawn.title)}</text>'
    )
    if drawn.note:
        parts.append(
            f'<text class="note" x="{MARGIN}" y="{MARGIN + 32}" font-size="12" '
            f'fill="#b45309">{esc(drawn.note)}</text>'
        )
    if legend:
        parts.extend(legend_svg(legend, MARGIN, MARGIN + 20 * len(header)))
    parts.extend(_edge_svg(dep, task, corners[dep], corners[task]) for dep, task in drawn.edges)
    parts.extend(_node_svg(node, *corners[node.task_id]) for node in drawn.nodes)
    parts.append("</svg>")
    return "".join(parts)


def graphviz_svg(dot: str) -> str:
    """Lay ``dot`` out with Graphviz (``dot -Tsvg``) and return the SVG.

    Raises:
        RuntimeError: Graphviz is not installed, failed, or took too long.
    """
    executable = shutil.which("dot")
    if executable is None:
        raise RuntimeError(
            "Graphviz's 'dot' executable is not on PATH: install Graphviz, or draw with "
            "engine='builtin'"
        )
    try:
        done = subprocess.run(
            [executable, "-Tsvg"],
            input=dot.encode(),
            capture_output=True,
            timeout=DOT_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Graphviz took more than {DOT_TIMEOUT_S:.0f}s") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"Graphviz failed (exit {done.returncode}): {reason}")
    return done.stdout.decode()


def to_svg(
    workflow: Drawable,
    states: Mapping[str, TaskState | str] | None = None,
    *,
    engine: Engine = "auto",
    title: str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_edges: int = DEFAULT_MAX_EDGES,
) -> str:
    """Return the workflow as an SVG picture.

    Args:
        workflow: A `WorkflowSpec`, or its tasks.
        states: Task id to state: tasks are coloured by it, and a legend added.
        engine: ``graphviz`` (``dot -Tsvg``), ``builtin`` (this module's layout), or
            ``auto``: Graphviz when ``dot`` is installed, else the built-in layout.
        title: The picture's title; by default the workflow's name.
        max_nodes: Most tasks drawn (see `sketch`).
        max_edges: Most dependencies drawn.

    Raises:
        ValueError: an unknown engine.
        RuntimeError: Graphviz was asked for and is missing or failed.
    """
    if engine not in {"auto", "graphviz", "builtin"}:
        raise ValueError(f"unknown engine {engine!r}: expected auto, graphviz or builtin")
    drawn = sketch(workflow, states, title=title, max_nodes=max_nodes, max_edges=max_edges)
    if engine == "graphviz" or (engine == "auto" and shutil.which("dot") is not None):
        return graphviz_svg(dot_of(drawn))
    return svg_of(drawn)


def figure_html(
    workflow: Drawable,
    states: Mapping[str, TaskState | str] | None = None,
    *,
    title: str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_edges: int = DEFAULT_MAX_EDGES,
) -> str:
    """Return an HTML ``<figure>`` with the built-in SVG picture (for notebooks)."""
    drawn = sketch(workflow, states, title=title, max_nodes=max_nodes, max_edges=max_edges)
    return figure(svg_of(drawn), None)


def to_html(
    workflow: Drawable,
    states: Mapping[str, TaskState | str] | None = None,
    *,
    title: str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_edges: int = DEFAULT_MAX_EDGES,
) -> str:
    """Return a self-contained HTML page with the picture (inline SVG, nothing fetched).

    Arguments as in `to_svg`; the layout is always the built-in one.
    """
    drawn = sketch(workflow, states, title=title, max_nodes=max_nodes, max_edges=max_edges)
    return page(drawn.title, figure(svg_of(drawn), None))
