"""What a picture of a workflow shows: its tasks, dependencies, depths and colours.

Every renderer (DOT, Mermaid, the built-in SVG layout) draws a `Sketch`, so they agree on
what is drawn: the same nodes, the same edges, the same cap and the same note about it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.core.specs import TaskSpec, WorkflowSpec, handler_name
from orchestrator.core.states import TaskState
from orchestrator.core.status import TaskInfo

#: Most tasks drawn; the first ones by depth are drawn beyond it, and the picture says so.
DEFAULT_MAX_NODES = 200
#: Most dependencies drawn (Mermaid refuses more than 500 edges by default).
DEFAULT_MAX_EDGES = 500

#: Fill and stroke colour of a task in each state.
STATE_COLOURS: Mapping[TaskState, tuple[str, str]] = {
    TaskState.PENDING: ("#e5e7eb", "#6b7280"),
    TaskState.READY: ("#bfdbfe", "#1d4ed8"),
    TaskState.RUNNING: ("#fde68a", "#b45309"),
    TaskState.RETRY_WAIT: ("#fed7aa", "#c2410c"),
    TaskState.SUCCEEDED: ("#bbf7d0", "#15803d"),
    TaskState.FAILED: ("#fecaca", "#b91c1c"),
    TaskState.SKIPPED: ("#f5f5f4", "#a8a29e"),
    TaskState.CANCELLED: ("#e9d5ff", "#7e22ce"),
}
#: Fill and stroke of a task whose state is not known (a workflow not submitted).
NO_STATE_COLOURS = ("#ffffff", "#374151")

#: What the functions of this package draw: a spec, or the tasks of one.
Drawable = WorkflowSpec | Sequence[TaskSpec]


@dataclass(frozen=True, slots=True)
class Node:
    """One task as drawn.

    Attributes:
        task_id: The task's id.
        handler: Its agent's name, or its function's name (without the module).
        priority: Its priority, lower case.
        state: Its state, or None when not known.
        depth: Its layer: 0 for tasks without dependencies, else one more than the
            deepest of its dependencies (tasks on a cycle are put below the others).
    """

    task_id: str
    handler: str
    priority: str
    state: TaskState | None
    depth: int

    @property
    def colours(self) -> tuple[str, str]:
        """Fill and stroke colour for its state."""
        return NO_STATE_COLOURS if self.state is None else STATE_COLOURS[self.state]

    @property
    def caption(self) -> str:
        """The second line of its label: handler and priority."""
        return f"{self.handler} · {self.priority}"


@dataclass(frozen=True, slots=True)
class Sketch:
    """What one picture draws.

    Attributes:
        title: The workflow's name (and id, when known).
        nodes: The tasks drawn, by depth then in the order they were declared.
        edges: The dependencies drawn, ``(dependency, dependent)``, between drawn tasks.
        total_nodes: Tasks in the workflow.
        total_edges: Dependencies between the tasks drawn, drawn or not.
    """

    title: str
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]
    total_nodes: int
    total_edges: int

    @property
    def note(self) -> str | None:
        """What was left out, in words, or None when everything is drawn."""
        parts = []
        if len(self.nodes) < self.total_nodes:
            parts.append(
                f"showing the first {len(self.nodes):,} of {self.total_nodes:,} tasks (by depth)"
            )
        if len(self.edges) < self.total_edges:
            parts.append(f"{len(self.edges):,} of {self.total_edges:,} dependencies")
        return "; ".join(parts) + "; the rest is not drawn" if parts else None

    def legend(self) -> list[TaskState]:
        """Return the states of the tasks drawn, in the order of `TaskState`."""
        present = {node.state for node in self.nodes}
        return [state for state in TaskState if state in present]

    def layers(self) -> list[list[Node]]:
        """Return the nodes by depth (no empty layers)."""
        layers: dict[int, list[Node]] = {}
        for node in self.nodes:
            layers.setdefault(node.depth, []).append(node)
        return [layers[depth] for depth in sorted(layers)]


def short_handler(task: TaskSpec) -> str:
    """Return the agent's name, or the function's name without its module."""
    if task.function is None:
        return task.agent or ""
    return handler_name(task.function).rpartition(":")[2]


def depths(tasks: Sequence[TaskSpec]) -> dict[str, int]:
    """Return each task's depth (see `Node.depth`); unknown dependencies are ignored.

    A Kahn pass: linear in tasks and dependencies. A workflow under construction may hold
    a cycle or a missing dependency; its picture is drawn all the same.
    """
    ids = {task.id for task in tasks}
    deps = {task.id: [d for d in task.dependencies() if d in ids] for task in tasks}
    dependents: dict[str, list[str]] = {task_id: [] for task_id in deps}
    waiting = {task_id: len(found) for task_id, found in deps.items()}
    for task_id, found in deps.items():
        for dep in found:
            dependents[dep].append(task_id)
    depth = {task_id: 0 for task_id, count in waiting.items() if count == 0}
    order = list(depth)
    for task_id in order:  # the list grows while it is walked
        for child in dependents[task_id]:
            depth[child] = max(depth.get(child, 0), depth[task_id] + 1)
            waiting[child] -= 1
            if waiting[child] == 0:
                order.append(child)
    below = max(depth.values(), default=-1) + 1
    return {task_id: depth.get(task_id, below) for task_id in deps}


def _parse_states(states: Mapping[str, TaskState | str] | None) -> dict[str, TaskState]:
    parsed: dict[str, TaskState] = {}
    for task_id, state in (states or {}).items():
        try:
            parsed[task_id] = TaskState(state)
        except ValueError:
            known = ", ".join(s.value for s in TaskState)
            raise ValueError(
                f"states[{task_id!r}]: unknown task state {state!r} (expected one of {known})"
            ) from None
    return parsed


def sketch(
    workflow: Drawable,
    states: Mapping[str, TaskState | str] | None = None,
    *,
    title: str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_edges: int = DEFAULT_MAX_EDGES,
) -> Sketch:
    """Decide what a picture of ``workflow`` draws.

    Args:
        workflow: A `WorkflowSpec`, or its tasks (e.g. of a workflow under construction).
        states: Task id to state (or its value, ``"running"``); tasks left out have no
            state, and states of tasks not in the workflow are not drawn.
        title: The picture's title; by default the spec's name (and id).
        max_nodes: Most tasks drawn: the first by depth, then by declaration.
        max_edges: Most dependencies drawn.

    Raises:
        ValueError: a state is unknown, or a cap is below 1.
    """
    if max_nodes < 1 or max_edges < 1:
        raise ValueError(
            f"max_nodes and max_edges must be at least 1, got {max_nodes} and {max_edges}"
        )
    known = _parse_states(states)
    if isinstance(workflow, WorkflowSpec):
        tasks: Sequence[TaskSpec] = workflow.tasks
        default_title = workflow.name if workflow.id is None else f"{workflow.name} ({workflow.id})"
    else:
        tasks, default_title = workflow, "workflow"
    depth = depths(tasks)
    position = {task.id: index for index, task in enumerate(tasks)}
    chosen = sorted(tasks, key=lambda task: (depth[task.id], position[task.id]))[:max_nodes]
    drawn = {task.id for task in chosen}
    nodes = tuple(
        Node(
            task.id,
            short_handler(task),
            task.priority.name.lower(),
            known.get(task.id),
            depth[task.id],
        )
        for task in chosen
    )
    edges = [(dep, task.id) for task in chosen for dep in task.dependencies() if dep in drawn]
    return Sketch(
        title=default_title if title is None else title,
        nodes=nodes,
        edges=tuple(edges[:max_edges]),
        total_nodes=len(tasks),
        total_edges=len(edges),
    )


def states_of(task_infos: Iterable[TaskInfo]) -> dict[str, TaskState]:
    """Return task id to state, for ``states`` (e.g. from ``run.tasks()``)."""
    return {info.task_id: info.state for info in task_infos}
