"""The dependencies between Taskmaster tasks: duplicate ids, self and missing references, cycles.

Besides the dependencies a file lists, two kinds are implied by subtasks (see the
`orchestrator.taskmaster` docstring): a task waits for its subtasks, and its subtasks wait
for the task's own dependencies. Cycles are found with both kinds and named with
Taskmaster ids, each depending on the next.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from orchestrator.core.errors import Problem
from orchestrator.core.graph import TaskGraph
from orchestrator.taskmaster.document import FINISHED_STATUSES, RawTask

_SIBLING_HINT = (
    ' (a plain number in a subtask\'s dependencies names a sibling subtask; "P.S" names '
    "subtask S of task P)"
)
_IMPLIED_NOTE = "; a task waits for its subtasks, and its subtasks wait for the task's dependencies"


def describe(key: str) -> str:
    """Return how a Taskmaster id is named in messages: ``task 3`` or ``subtask 3.2``."""
    return f"subtask {key}" if "." in key else f"task {key}"


def index_tasks(tasks: Sequence[RawTask], problems: list[Problem]) -> dict[str, RawTask]:
    """Return every task and subtask by Taskmaster id, in file order.

    A task comes before its subtasks. Duplicate ids are reported and left out (a task's
    with its subtasks).
    """
    nodes: dict[str, RawTask] = {}
    for task in tasks:
        if not _add(task, nodes, problems):
            continue
        for subtask in task.subtasks:
            _add(subtask, nodes, problems)
    return nodes


def _add(task: RawTask, nodes: dict[str, RawTask], problems: list[Problem]) -> bool:
    if task.key is None:
        return False
    first = nodes.get(task.key)
    if first is not None:
        problems.append(
            Problem(
                f"{task.where}.id",
                f"duplicate id: {describe(task.key)} is also at {first.path}",
            )
        )
        return False
    nodes[task.key] = task
    return True


def finished_tasks(nodes: Mapping[str, RawTask]) -> set[str]:
    """Return the ids of the finished tasks, and of every subtask of a finished task."""
    finished = {key for key, task in nodes.items() if task.status in FINISHED_STATUSES}
    finished.update(key for key, task in nodes.items() if task.parent in finished)
    return finished


def resolve_dependencies(
    nodes: Mapping[str, RawTask], finished: set[str], problems: list[Problem]
) -> tuple[dict[str, list[str]], set[tuple[str, str]]]:
    """Return what each unfinished task depends on, listed and implied, and the listed pairs.

    Only the tasks that will run are checked: a self-dependency or a dependency on an id
    not in the file is reported; dependencies on finished tasks are satisfied, and left out.
    A finished task's own dependencies are not checked, as it does not run.

    Returns:
        ``(edges, listed)``: ``edges[key]`` are the unfinished tasks an unfinished ``key``
        depends on; ``listed`` holds the ``(key, dependency)`` pairs the file lists.
    """
    running = [key for key in nodes if key not in finished]
    listed: dict[str, dict[str, None]] = {key: {} for key in running}
    for key in running:
        for dep in nodes[key].dependencies:
            if dep.key == key:
                problems.append(Problem(dep.where, f"{describe(key)} depends on itself"))
            elif dep.key not in nodes:
                hint = _SIBLING_HINT if dep.sibling else ""
                problems.append(
                    Problem(
                        dep.where,
                        f"{describe(key)} depends on {describe(dep.key)}, "
                        f"which is not in the file{hint}",
                    )
                )
            elif dep.key not in finished:
                listed[key][dep.key] = None
    edges = {key: dict(deps) for key, deps in listed.items()}
    for key in running:
        parent = nodes[key].parent
        if parent is None or parent not in listed:
            continue
        edges[parent][key] = None  # the task waits for its subtasks
        for inherited in listed[parent]:  # the subtasks wait for the task's dependencies
            if not inherited.startswith(f"{parent}."):
                edges[key][inherited] = None
    pairs = {(key, dep) for key, deps in listed.items() for dep in deps}
    return {key: list(deps) for key, deps in edges.items()}, pairs


def find_cycles(
    nodes: Mapping[str, RawTask],
    edges: Mapping[str, list[str]],
    listed: set[tuple[str, str]],
    problems: list[Problem],
) -> None:
    """Report one cycle of each group of tasks that wait for each other in a circle.

    The cycle is named by its Taskmaster ids, each depending on the next.
    """
    graph = TaskGraph()
    for key, deps in edges.items():
        graph.add(key, deps)
    for problem in graph.problems():
        if problem.kind != "cycle":  # ids and references were checked before
            continue
        # The graph's path runs from a dependency to its dependent: reverse it.
        chain = tuple(reversed(problem.path))
        pairs = itertools.pairwise(chain)
        note = "" if all(pair in listed for pair in pairs) else _IMPLIED_NOTE
        names = " -> ".join(chain)
        problems.append(
            Problem(
                nodes[chain[0]].where,
                f"circular dependency: {names} (each depends on the next{note})",
            )
        )
