"""Pictures of workflows and runs: DOT, Mermaid, SVG and HTML, coloured by task state.

::

    from orchestrator.pictures import to_dot, to_mermaid, to_html, timeline_html, states_of

    to_mermaid(spec)                             # flowchart TD, for Markdown
    to_html(spec, states_of(run.tasks()))        # a page with an inline SVG, no network
    timeline_html(run.tasks())                   # rows are agents, bars are tasks

Every function takes a `WorkflowSpec` or a sequence of its `TaskSpec` objects (a
workflow under construction), and an optional map of task id to `TaskState`. Large
workflows are capped (``max_nodes``, ``max_edges``), and the picture says what was left
out. Pure Python: nothing here imports Ray; only `to_svg` may run Graphviz's ``dot``.
"""

from __future__ import annotations

from orchestrator.pictures.model import (
    DEFAULT_MAX_EDGES,
    DEFAULT_MAX_NODES,
    STATE_COLOURS,
    Sketch,
    sketch,
    states_of,
)
from orchestrator.pictures.run import run_html
from orchestrator.pictures.svg import figure_html, to_html, to_svg
from orchestrator.pictures.text import to_dot, to_mermaid
from orchestrator.pictures.timeline import timeline_html, timeline_svg

__all__ = [
    "DEFAULT_MAX_EDGES",
    "DEFAULT_MAX_NODES",
    "STATE_COLOURS",
    "Sketch",
    "figure_html",
    "run_html",
    "sketch",
    "states_of",
    "timeline_html",
    "timeline_svg",
    "to_dot",
    "to_html",
    "to_mermaid",
    "to_svg",
]
