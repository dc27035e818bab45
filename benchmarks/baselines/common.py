"""What the Ray and Dask baselines share: one plan per workflow, one task body, timings.

A baseline runs the tasks of a `WorkflowSpec` exactly as written (the function, or its
import path, called with the spec's ``args`` and ``kwargs``) with no orchestrator in
between: dependencies become the engine's own futures, so the engine orders the tasks, and
each task holds its declared CPUs out of ``slots``. `OutputOf` placeholders in the
arguments are replaced by the upstream results, as the orchestrator does.

Where the spec carries ``estimated_duration_s``, the baselines get the same knowledge the
orchestrator ranks with: each task's upward rank (its longest chain of estimated work to
the end, itself included; `estimated_ranks_s`). Plain Ray has no task priorities, so its
tasks are submitted in `rank_order`; Dask takes them as ``priority=`` (`dask_priorities`).
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator.core.bounds import task_cores
from orchestrator.core.graph import TaskGraph
from orchestrator.core.specs import OutputOf, WorkflowSpec
from orchestrator.import_paths import import_object

# Same depth limit as the spec's placeholder scan.
_MAX_DEPTH = 8


@dataclass(frozen=True, slots=True)
class PlannedTask:
    """One task ready to hand to an engine.

    Attributes:
        id: Task id.
        function: The callable, or its ``module:attribute`` import path.
        args: Positional arguments, placeholders included.
        kwargs: Keyword arguments, placeholders included.
        depends_on: Tasks whose results must exist first (``depends_on`` + placeholders).
        cores: CPUs the task holds while it runs.
    """

    id: str
    function: str | Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    depends_on: tuple[str, ...]
    cores: float


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """What the task body returns to the engine: the result and when it ran.

    Times are ``time.time()`` on the worker, comparable across processes of one machine.
    """

    value: Any
    started_at: float
    finished_at: float


@dataclass(frozen=True, slots=True)
class BaselineRun:
    """One timed run of a workflow on a baseline engine.

    Attributes:
        engine: ``ray`` or ``dask``.
        slots: CPUs the run was capped at.
        wall_s: From the first submission to the last result, in seconds.
        spans: ``(started_at, finished_at)`` of each task, by id (``time.time()`` values).
        results: Each task's return value, by id.
    """

    engine: str
    slots: int
    wall_s: float
    spans: Mapping[str, tuple[float, float]]
    results: Mapping[str, Any]


def plan(spec: WorkflowSpec, slots: int) -> list[PlannedTask]:
    """Return the tasks of ``spec`` in dependency order, checked to fit in ``slots``.

    Raises:
        ValueError: ``slots`` is below 1, a task names an agent (baselines run functions
            only), or a task needs more CPUs than ``slots`` (it would wait forever).
        GraphValidationError: the graph has a cycle or a missing task.
    """
    if isinstance(slots, bool) or not isinstance(slots, int) or slots < 1:
        raise ValueError(f"slots must be a whole number >= 1, got {slots!r}")
    graph = TaskGraph()
    by_id = {}
    for task in spec.tasks:
        if task.function is None:
            raise ValueError(
                f"task {task.id!r} runs on agent {task.agent!r}; baselines run functions"
            )
        cores = task_cores(task)
        if cores > slots:
            raise ValueError(
                f"task {task.id!r} needs {cores:g} CPUs but only {slots} slot(s) exist"
            )
        graph.add(task.id, task.dependencies())
        by_id[task.id] = PlannedTask(
            id=task.id,
            function=task.function,
            args=task.args,
            kwargs=task.kwargs,
            depends_on=task.dependencies(),
            cores=cores,
        )
    return [by_id[task_id] for task_id in graph.topological_order()]


def estimated_ranks_s(spec: WorkflowSpec) -> dict[str, float] | None:
    """Return each task's upward rank from the spec's estimates, in seconds.

    A task's rank is the longest chain of ``estimated_duration_s`` from it to the end of
    the workflow, itself included (`TaskGraph.upward_ranks`); a task without an estimate
    weighs 0 s. None when no task has an estimate: there is nothing to rank with.

    Raises:
        GraphValidationError: the graph has a cycle or a missing task.
    """
    estimates = {
        task.id: task.estimated_duration_s
        for task in spec.tasks
        if task.estimated_duration_s is not None
    }
    if not estimates:
        return None
    graph = TaskGraph()
    for task in spec.tasks:
        graph.add(task.id, task.dependencies())
    return graph.upward_ranks(lambda node: estimates.get(node, 0.0))


def rank_order(tasks: Sequence[PlannedTask], ranks: Mapping[str, float]) -> list[PlannedTask]:
    """Return ``tasks`` in a topological order that takes the highest rank among ready ones.

    List scheduling's submission order: start from the tasks with no dependency; each
    time, take the ready task of highest rank (ties: the one earlier in ``tasks``), which
    may make its dependents ready. A dependency outside ``tasks`` counts as done.

    Raises:
        KeyError: a task has no rank.
        ValueError: the dependencies among ``tasks`` form a cycle.
    """
    index = {task.id: position for position, task in enumerate(tasks)}
    waiting_on = {task.id: sum(1 for dep in set(task.depends_on) if dep in index) for task in tasks}
    dependents: dict[str, list[str]] = {task.id: [] for task in tasks}
    for task in tasks:
        for dep in set(task.depends_on):
            if dep in index:
                dependents[dep].append(task.id)
    ready = [(-ranks[task.id], index[task.id]) for task in tasks if waiting_on[task.id] == 0]
    heapq.heapify(ready)
    order: list[PlannedTask] = []
    while ready:
        _, position = heapq.heappop(ready)
        task = tasks[position]
        order.append(task)
        for child in dependents[task.id]:
            waiting_on[child] -= 1
            if waiting_on[child] == 0:
                heapq.heappush(ready, (-ranks[child], index[child]))
    if len(order) != len(tasks):
        raise ValueError("the tasks' dependencies form a cycle")
    return order


def dask_priorities(ranks: Mapping[str, float]) -> dict[str, int]:
    """Return Dask ``priority=`` values (higher runs first): each rank in whole microseconds.

    Dask compares priorities as numbers; whole microseconds keep every difference the
    estimates can express at the benchmarks' scales and keep the values integers.
    """
    return {task_id: round(rank_s * 1_000_000) for task_id, rank_s in ranks.items()}


def import_functions(paths: tuple[str, ...]) -> int:
    """Import each ``module:attribute`` path (warms a worker up); return how many."""
    for path in paths:
        import_object(path)
    return len(paths)


def function_paths(tasks: list[PlannedTask]) -> tuple[str, ...]:
    """Return the distinct import paths the tasks name."""
    return tuple(sorted({task.function for task in tasks if isinstance(task.function, str)}))


def _substitute(value: Any, results: Mapping[str, Any], depth: int = 0) -> Any:
    if isinstance(value, OutputOf):
        return results[value.output_of]
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, list | tuple):
        return type(value)(_substitute(item, results, depth + 1) for item in value)
    if isinstance(value, dict):
        return {key: _substitute(item, results, depth + 1) for key, item in value.items()}
    return value


def call_task(
    function: str | Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    dependency_ids: tuple[str, ...],
    *dependency_outcomes: TaskOutcome,
) -> TaskOutcome:
    """Run one task: the body both engines execute.

    The engine passes the upstream outcomes as arguments, which is what makes it wait for
    them; their values replace the `OutputOf` placeholders.
    """
    started_at = time.time()
    results = {
        task_id: outcome.value
        for task_id, outcome in zip(dependency_ids, dependency_outcomes, strict=True)
    }
    target = import_object(function) if isinstance(function, str) else function
    value = target(*_substitute(args, results), **_substitute(dict(kwargs), results))
    return TaskOutcome(value, started_at, time.time())


def finish(
    engine: str, slots: int, wall_s: float, ids: list[str], outcomes: list[TaskOutcome]
) -> BaselineRun:
    """Bundle the outcomes of a run."""
    return BaselineRun(
        engine=engine,
        slots=slots,
        wall_s=wall_s,
        spans={
            task_id: (o.started_at, o.finished_at) for task_id, o in zip(ids, outcomes, strict=True)
        },
        results={task_id: o.value for task_id, o in zip(ids, outcomes, strict=True)},
    )
