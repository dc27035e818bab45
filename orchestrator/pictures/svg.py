"""Workflow pictures as SVG: a layered layout of its own, or Graphviz when installed.

The built-in layout puts each task in the layer of its depth (tasks without dependencies
on top), orders each layer by the mean position of its tasks' dependencies (fewer
crossings than declaration order), and wraps only layers wider than `ROW_MAX` tasks onto
several rows. A wide picture keeps its size (the page scrolls) rather than shrink its text
out of reach. It needs nothing but Python, so HTML pages and notebooks always show it.
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

NODE_H, GAP_X, GAP_Y, MARGIN = 44, 20, 44, 16
#: Narrowest and widest box: boxes are as wide as their longest label needs, within these.
NODE_MIN_W, NODE_MAX_W = 110, 240
#: Most tasks side by side; a wider layer continues on the next row (an arrow into
#: a later row then passes behind the boxes of the rows above it).
ROW_MAX = 24
#: Longest Graphviz may take to lay a picture out.
DOT_TIMEOUT_S = 60.0

Engine = Literal["auto", "graphviz", "builtin"]


def _node_width(drawn: Sketch) -> float:
    """Return the width of every box: the longest id or caption, within the limits."""
    needed = [text_px(node.task_id, 12) for node in drawn.nodes]
    needed.extend(text_px(node.caption, 11) for node in drawn.nodes)
    return min(max(max(needed, default=0.0) + 16, NODE_MIN_W), NODE_MAX_W)


def _place(
    drawn: Sketch, width: float, top: float, node_w: float
) -> dict[str, tuple[float, float]]:
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
            x = (width - len(row) * (node_w + GAP_X) + GAP_X) / 2
            for node in row:
                corners[node.task_id] = (x, y)
                x += node_w + GAP_X
            y += NODE_H + GAP_Y
    return corners


def _node_svg(node: Node, x: float, y: float, node_w: float) -> str:
    fill, stroke = node.colours
    state = "" if node.state is None else f" ({node.state.value})"
    centre = x + node_w / 2
    return (
        f'<g class="node" data-task="{esc(node.task_id)}">'
        f"<title>{esc(f'{node.task_id}: {node.caption}{state}')}</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{node_w:.1f}" height="{NODE_H}" rx="6" '
        f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        f'<text x="{centre:.1f}" y="{y + 18:.1f}" text-anchor="middle" font-size="12" '
        f'font-weight="bold" fill="#111827">{esc(clip(node.task_id, int((node_w - 16) / 7.2)))}'
        f'</text><text x="{centre:.1f}" y="{y + 34:.1f}" text-anchor="middle" font-size="11" '
        f'fill="#374151">{esc(clip(node.caption, int((node_w - 16) / 6.6)))}</text></g>'
    )


def _edge_svg(dep: str, task: str, ends: tuple[tuple[float, float], ...], node_w: float) -> str:
    (x1, y1), (x2, y2) = ends
    x1, y1, x2 = x1 + node_w / 2, y1 + NODE_H, x2 + node_w / 2
    middle = (y1 + y2) / 2
    return (
        f'<g class="edge" data-from="{esc(dep)}" data-to="{esc(task)}">'
        f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{middle:.1f} {x2:.1f},{middle:.1f} '
        f'{x2:.1f},{y2 - 6:.1f}" fill="none" stroke="#6b7280" stroke-width="1.2"/>'
        f'<polygon points="{x2 - 4:.1f},{y2 - 7:.1f} {x2 + 4:.1f},{y2 - 7:.1f} '
        f'{x2:.1f},{y2:.1f}" fill="#6b7280"/></g>'
    )


def svg_of(drawn: Sketch) -> str:
    """Return the built-in SVG picture of a `Sketch` (at its natural size: scroll if wide)."""
    legend = drawn.legend()
    header = [drawn.title, *([drawn.note] if drawn.note else [])]
    node_w = _node_width(drawn)
    widest_row = min(ROW_MAX, max((len(layer) for layer in drawn.layers()), default=0))
    widths = [widest_row * (node_w + GAP_X) - GAP_X, legend_width(legend)]
    widths.extend(text_px(line, 14) for line in header)
    width = max(widths) + 2 * MARGIN
    top = MARGIN + 20 * len(header) + (LEGEND_H + 6 if legend else 0) + 8
    corners = _place(drawn, width, top, node_w)
    height = max((y for _, y in corners.values()), default=top - NODE_H) + NODE_H + MARGIN
    parts = [svg_open(width, height, f"workflow {drawn.title}", fit=False)]
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
    parts.extend(
        _edge_svg(dep, task, (corners[dep], corners[task]), node_w) for dep, task in drawn.edges
    )
    parts.extend(_node_svg(node, *corners[node.task_id], node_w) for node in drawn.nodes)
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
    return figure(svg_of(drawn))


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
    return page(drawn.title, figure(svg_of(drawn)))
