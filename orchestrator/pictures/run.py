"""The picture of a run: its graph coloured by task state, and its timeline."""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core.specs import WorkflowSpec
from orchestrator.core.status import TaskInfo
from orchestrator.pictures.markup import esc, figure
from orchestrator.pictures.model import DEFAULT_MAX_NODES, sketch, states_of
from orchestrator.pictures.svg import svg_of
from orchestrator.pictures.timeline import timeline_svg


def run_html(
    spec: WorkflowSpec | None,
    task_infos: Iterable[TaskInfo],
    *,
    title: str,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> str:
    """Return HTML showing a run: its graph coloured by state, then its timeline.

    Args:
        spec: The run's workflow, or None when this driver does not know it (a run
            attached by id): then only the timeline is drawn, and a line says why.
        task_infos: The run's tasks (``run.tasks()``).
        title: The run's name, e.g. its workflow id.
        max_nodes: Most tasks drawn in the graph.
    """
    infos = list(task_infos)
    parts = []
    if spec is not None:
        drawn = sketch(spec, states_of(infos), title=title, max_nodes=max_nodes)
        parts.append(figure(svg_of(drawn)))
    else:
        parts.append(
            f"<p>{esc(title)}: the graph is drawn only for runs submitted by this driver.</p>"
        )
    if any(info.started_s is not None for info in infos):
        parts.append(figure(timeline_svg(infos, title=f"{title}: timeline")))
    return f'<div class="orchestrator-run">{"".join(parts)}</div>'
