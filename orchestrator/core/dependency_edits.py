"""Live editing of dependencies: existing tasks of a running workflow gain upstream tasks.

An edge ``(task, upstream)`` makes ``task`` wait for ``upstream`` too, as if it had been
in its ``depends_on`` from the start: it receives that result among its inputs, and its
trigger rule counts it. Every edge of an edit is checked before anything changes
(`edge_problems`), together with the tasks the same edit adds, which an old task may now
depend on:

- both tasks exist (in the workflow or among the added ones), and differ;
- ``task`` has not started: it waits for its dependencies, or is ready and queued. A task
  running, retrying, done, or deferred and only waiting for its start time cannot gain
  an upstream;
- the edges, with the dependencies of the workflow and of the added tasks, make no cycle.

A refused edit changes nothing. Once applied (`add_edges`), a ready task that must now
wait goes back to pending; an edge to an upstream that already failed or was skipped
skips a task with the default rule at once, and another rule judges it again. Ranks on
the critical path are kept as they were computed at submission. With durable state the
supervisor stores the edges with the workflow's spec (`runtime.checkpoint_write`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from orchestrator.core import triggers
from orchestrator.core.commands import Command
from orchestrator.core.errors import Problem
from orchestrator.core.graph import TaskGraph
from orchestrator.core.lifecycle import TaskLifecycle
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.records import TaskRecord, WorkflowRecord
from orchestrator.core.states import TaskState

#: One new dependency: (the task that gains it, the upstream task it must wait for).
Edge = tuple[str, str]

_ENDED_WITHOUT_SUCCESS = frozenset({TaskState.FAILED, TaskState.SKIPPED, TaskState.CANCELLED})


def edge_problems(
    workflow: WorkflowRecord, edges: Sequence[Edge], additions: PackedWorkflow | None = None
) -> list[Problem]:
    """Return every problem of adding ``edges`` (with ``additions``' tasks) to ``workflow``."""
    tasks = workflow.tasks
    added = {row.id: row.inputs for row in additions.rows} if additions is not None else {}
    problems: list[Problem] = []
    for index, (task_id, upstream) in enumerate(edges):
        where = f"dependencies[{index}]"
        if task_id not in tasks:
            extra = " (a task added by this edit declares its own depends_on)"
            problems.append(
                Problem(
                    where,
                    f"task {task_id!r} is not in the workflow"
                    + (extra if task_id in added else ""),
                )
            )
            continue
        if upstream not in tasks and upstream not in added:
            problems.append(Problem(where, f"upstream task {upstream!r} is not in the workflow"))
            continue
        if upstream == task_id:
            problems.append(Problem(where, f"task {task_id!r} cannot depend on itself"))
            continue
        why = _started(tasks[task_id])
        if why is not None:
            problems.append(Problem(where, f"task {task_id!r} {why}: it cannot gain an upstream"))
    if not problems:
        problems.extend(_cycles(workflow.graph, added, edges))
    return problems


def _started(task: TaskRecord) -> str | None:
    """Return why ``task`` can no longer gain an upstream task, or None."""
    state = task.state
    if state is TaskState.READY:
        return None
    if state is not TaskState.PENDING:
        return f"is {state.value}"
    tasks = task.workflow.tasks
    deps = task.workflow.graph.dependencies(task.task_id)
    if all(tasks[dep].state.is_terminal for dep in deps):
        return "is only waiting for its start time"
    return None


def _cycles(
    graph: TaskGraph, added: dict[str, tuple[str, ...]], edges: Iterable[Edge]
) -> list[Problem]:
    """Return the cycles the workflow's graph would have with ``added`` and ``edges``."""
    extra: dict[str, list[str]] = {}
    for task_id, upstream in edges:
        extra.setdefault(task_id, []).append(upstream)
    probe = TaskGraph()
    for node in graph.nodes():
        probe.add(node, (*graph.dependencies(node), *extra.get(node, ())))
    for node, deps in added.items():
        probe.add(node, deps)
    return [
        Problem("dependencies", problem.message)
        for problem in probe.problems()
        if problem.kind == "cycle"
    ]


def add_edges(
    workflow: WorkflowRecord, edges: Sequence[Edge], life: TaskLifecycle, out: list[Command]
) -> None:
    """Apply ``edges`` (checked by `edge_problems`) to ``workflow``."""
    tasks, graph = workflow.tasks, workflow.graph
    for task_id, upstream in edges:
        task = tasks[task_id]
        if task.state.is_terminal or upstream in task.inputs:
            continue  # skipped by an earlier edge of this edit; or already its upstream
        task.inputs = (*task.inputs, upstream)
        waits = graph.add_dependency(task_id, upstream)
        if waits and task.state is TaskState.READY:
            _unqueue(task)
            life.set_state(task, TaskState.PENDING, out, f"waits for {upstream!r} too (edited)")
        elif not waits:
            _judge_again(task, upstream, life, out)


def _unqueue(task: TaskRecord) -> None:
    """Take ready ``task`` out of where it waits (its pool's queue, or a paused workflow)."""
    task.pool.queue_of(task).remove(task)
    parked = task.workflow.parked
    if task in parked:
        parked.remove(task)
    # Queues of limits and locks skip a task that is no longer ready when they reach it.


def _judge_again(task: TaskRecord, upstream: str, life: TaskLifecycle, out: list[Command]) -> None:
    """Judge ``task`` again after gaining ``upstream``, which has already ended."""
    if task.workflow.tasks[upstream].state not in _ENDED_WITHOUT_SUCCESS:
        return  # it succeeded: nothing to wait for, nothing changes
    if triggers.rule_of(task) == triggers.DEFAULT_RULE:
        life.skip(task, f"upstream task {upstream!r} did not succeed (edited)", out)
    elif task.state is TaskState.READY:
        reason = triggers.skip_reason(task)
        if reason is not None:
            life.skip(task, reason, out)
