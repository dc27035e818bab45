"""Admission: a workflow that passed validation becomes the scheduler's records.

`prepare` does the part that reads nothing of the scheduler (structure, graph, ranks), so
that the runtime can run it in another thread for a large workflow: the event loop keeps
dispatching meanwhile (see `Preparation`).

Also the home of the ranking policy: the rank of a task orders it within a priority and
deadline (higher first). Today it is the task's upward rank, the longest chain of work
after it (estimated durations, or one per task), so tasks on the critical path start first.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from orchestrator.core.config import SchedulerConfig
from orchestrator.core.durations import Lookup, kind_of
from orchestrator.core.errors import Problem
from orchestrator.core.fair_queue import FairShare
from orchestrator.core.graph import TaskGraph
from orchestrator.core.packed import PackedWorkflow, TaskRow
from orchestrator.core.records import PoolRecord, TaskRecord, WorkflowRecord
from orchestrator.core.states import TaskState
from orchestrator.core.validation import (
    Placement,
    WorkflowStructure,
    check_structure,
    place_tasks,
)

#: Weight of a task without an estimated duration in `critical_path_ranks`.
_DEFAULT_WEIGHT_S = 1.0


@dataclass(frozen=True, slots=True)
class Preparation:
    """What admitting a workflow needs that depends on the workflow alone.

    Attributes:
        spec: The workflow it was made for (admission checks it is the same object).
        structure: Its agents and dependency graph (prepared when it has no problem).
        problems: What `check_structure` found (the scheduler adds those of fitting it).
        ranks: Each task's rank (`critical_path_ranks`), or empty.
        placement: Each task's pool (`validation.place_tasks`), or None.
    """

    spec: PackedWorkflow
    structure: WorkflowStructure
    problems: tuple[Problem, ...]
    ranks: dict[str, float]
    placement: Placement | None = None


def prepare(
    spec: PackedWorkflow,
    rank_by_critical_path: bool,
    learned: Lookup | None = None,
    config: SchedulerConfig | None = None,
) -> Preparation:
    """Check ``spec``'s structure, prepare its graph, rank its tasks and place them.

    Reads nothing of any scheduler but ``learned`` (a dict lookup): safe to run in another
    thread while the scheduler goes on (the runtime does so for large workflows).

    Args:
        spec: The workflow.
        rank_by_critical_path: Rank its tasks (else every rank is 0).
        learned: The learned duration of a kind of task (`DurationBook.estimate_s`), for
            the tasks without an estimate.
        config: The scheduler's settings, to place the tasks in their pools (None: the
            scheduler places them).
    """
    structure, problems = check_structure(spec)
    ranks: dict[str, float] = {}
    placement = None
    if not problems:
        structure.graph.prepare()
        if rank_by_critical_path:
            ranks = critical_path_ranks(spec, structure.graph, learned)
        if config is not None:
            placement = place_tasks(
                spec,
                structure,
                config.default_function_resources,
                config.max_function_replicas,
                config.default_breaker,
                config.gang_functions,
            )
    return Preparation(spec, structure, tuple(problems), ranks, placement)


def critical_path_ranks(
    spec: PackedWorkflow, graph: TaskGraph, learned: Lookup | None = None
) -> dict[str, float]:
    """Return each task's longest chain of estimated work, over its workflow's longest.

    Each is its own chain (itself included) as a fraction of the workflow's longest, 0 to
    1. Normalised so that ranks compare across workflows: raw lengths would always put a big
    workflow's tasks before a small one's of the same priority and deadline.

    Args:
        spec: The workflow, for its tasks' ``estimated_duration_s``.
        graph: Its dependency graph, valid.
        learned: The learned duration of a kind of task, for tasks without an estimate
            (`durations.kind_of`); a task with neither weighs the mean of those known.
    """
    weights = {
        row.id: row.estimated_duration_s
        for row in spec.rows
        if row.estimated_duration_s is not None
    }
    if learned is not None and len(weights) < len(spec.rows):
        for row in spec.rows:
            if row.estimated_duration_s is None:
                handler = row.function if row.function is not None else row.agent
                learned_s = learned(kind_of(handler, row.id))
                if learned_s is not None:
                    weights[row.id] = learned_s
    return normalised_ranks(graph, weights)


def normalised_ranks(graph: TaskGraph, weights: Mapping[str, float]) -> dict[str, float]:
    """Return `critical_path_ranks` from each task's weight (missing: the mean of the others).

    Args:
        graph: A dependency graph, valid and prepared.
        weights: Seconds of work of the tasks whose duration is known or estimated.
    """
    default_s = sum(weights.values()) / len(weights) if weights else _DEFAULT_WEIGHT_S
    if default_s <= 0.0:
        default_s = _DEFAULT_WEIGHT_S
    every = dict.fromkeys(graph.nodes(), default_s)  # a C lookup per node, not a lambda
    every.update(weights)
    ranks = graph.upward_ranks(every.__getitem__)
    longest = max(ranks.values(), default=0.0)
    if longest <= 0.0:
        return ranks
    return {node: rank / longest for node, rank in ranks.items()}


def workflow_record(
    spec: PackedWorkflow,
    graph: TaskGraph,
    pool_counts: Mapping[PoolRecord, int],
    submitted_s: float,
    tenant_weights: Mapping[str, float] | None = None,
    burst_s: float = 0.0,
) -> WorkflowRecord:
    """Return the record of ``spec`` with its tasks counted, PENDING, but no task record yet.

    Each pool counts its new open tasks at once, so that no pool the workflow uses can be
    redefined while its task records are made (`make_task_records`, a slice at a time for
    a large workflow: see `orchestrator.core.admitting`).

    Args:
        spec: The workflow, validated.
        graph: Its dependency graph, prepared.
        pool_counts: How many of its tasks each pool runs.
        submitted_s: When it was admitted.
        tenant_weights: Weight of each tenant in fair sharing (missing: 1).
        burst_s: The workflow's burst in fair sharing (`FairShare.burst`).
    """
    workflow = WorkflowRecord(
        name=spec.name,
        workflow_id=spec.id or "",
        graph=graph,
        submitted_s=submitted_s,
        retries_left=spec.retry_budget,
        share=FairShare(
            spec.tenant,
            spec.weight,
            (tenant_weights or {}).get(spec.tenant or "", 1.0),
            burst_s,
        ),
    )
    _count_open(workflow, pool_counts)
    return workflow


def add_task_records(
    workflow: WorkflowRecord,
    rows: Sequence[TaskRow],
    task_pools: Sequence[PoolRecord],
    ranks: Mapping[str, float],
) -> None:
    """Add one PENDING task record per row to ``workflow``, counted (a live edit)."""
    make_task_records(workflow, rows, task_pools, ranks)
    _count_open(workflow, Counter(task_pools))


def make_task_records(
    workflow: WorkflowRecord,
    rows: Sequence[TaskRow],
    task_pools: Sequence[PoolRecord],
    ranks: Mapping[str, float],
) -> list[TaskRecord]:
    """Add one PENDING task record per row to ``workflow.tasks``; return those with a deadline.

    Counts nothing: the workflow and the pools counted these tasks beforehand.
    """
    tasks = workflow.tasks
    deadlined = []
    rank_of = ranks.get
    # Positional, in `TaskRecord`'s field order (see `records.task_record`): per task.
    for row, pool in zip(rows, task_pools, strict=True):
        task_id = row.id
        task = tasks[task_id] = TaskRecord(
            workflow,
            task_id,
            row.function,
            row.args,
            row.kwargs,
            row.retry,
            row.timeout_s,
            pool,
            row.inputs,
            row.priority,
            row.deadline_s,
            rank_of(task_id, 0.0),
            row.estimated_duration_s,
            row.extras,
        )
        if row.deadline_s != math.inf:
            deadlined.append(task)
    return deadlined


def _count_open(workflow: WorkflowRecord, pool_counts: Mapping[PoolRecord, int]) -> None:
    """Count new tasks, ``pool_counts[pool]`` in each pool, as open and PENDING."""
    for pool, count in pool_counts.items():
        pool.open_tasks += count
    total = sum(pool_counts.values())
    counts = workflow.counts
    counts[TaskState.PENDING] = counts.get(TaskState.PENDING, 0) + total
    workflow.open_tasks += total
