"""Bringing saved workflows back into a starting supervisor.

For each workflow `Durability.load` found: its saved results are read first (one
`ray.put` each: this supervisor owns them now, as it owned the originals), the scheduler
restores it (`WorkflowRestored`, naming the succeeded tasks whose result could not be
read, so that those still needed run again), and its results are then held for the
tasks that stay succeeded. The commands that come back (agents to start, batches to
send) are returned to be executed once every workflow is back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray
from structlog.typing import FilteringBoundLogger

from orchestrator.core.commands import Command
from orchestrator.core.errors import WorkflowRejectedError
from orchestrator.core.events import ScheduleRestored, WorkflowRestored
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.scheduler import Scheduler
from orchestrator.core.states import TaskState
from orchestrator.runtime.durability import Durability, saved_segments
from orchestrator.runtime.results import ResultStore

_SUCCEEDED = TaskState.SUCCEEDED.value


def restore_workflows(
    durability: Durability,
    scheduler: Scheduler,
    results: ResultStore,
    open_workflow: Callable[[PackedWorkflow], Any],
    log: FilteringBoundLogger,
) -> list[Command]:
    """Restore every saved workflow into ``scheduler``; return the commands to execute.

    A workflow the scheduler refuses now (the cluster cannot hold its agents any more, a
    malformed entry) is logged and left out; the others come back.

    Args:
        durability: Where the state is saved (its `load` is called here).
        scheduler: A scheduler that knows no workflow yet.
        results: Where the results of succeeded tasks are held.
        open_workflow: The supervisor's bookkeeping of a new workflow; returns its
            "finished" event, set here for a workflow that had finished.
        log: Where the restore is told.
    """
    commands: list[Command] = []
    for item in durability.load():
        workflow_id = item.spec.id or ""
        succeeded = [
            task_id
            for task_id, fields in item.entry.get("tasks", {}).items()
            if fields[0] == _SUCCEEDED
        ]
        values = durability.read_results(workflow_id, saved_segments(item.results, succeeded))
        missing = tuple(task_id for task_id in succeeded if task_id not in values)
        event = WorkflowRestored(workflow=item.spec, progress=item.entry, missing_results=missing)
        try:
            restored = scheduler.handle(event)
        except (WorkflowRejectedError, ValueError) as exc:
            log.error("workflow.not_restored", workflow_id=workflow_id, reason=str(exc))
            continue
        finished = open_workflow(item.spec)
        for task_id, value in values.items():
            if scheduler.task_info(workflow_id, task_id).state is TaskState.SUCCEEDED:
                results.put(workflow_id, task_id, ray.put(value))
        status = scheduler.workflow_status(workflow_id)
        if status.state.is_terminal:
            finished.set()
        log.info(
            "workflow.restored",
            workflow_id=workflow_id,
            state=status.state.value,
            succeeded=status.count(TaskState.SUCCEEDED),
            total=status.total,
            results_to_compute_again=len(missing),
        )
        commands.extend(restored)
    return commands


def restore_schedules(durability: Durability, scheduler: Scheduler) -> list[Command]:
    """Hand the schedules `Durability.load` found back to ``scheduler``; return commands."""
    commands: list[Command] = []
    for schedule in durability.restorable_schedules:
        event = ScheduleRestored(
            schedule=schedule.spec, workflow=schedule.workflow, state=schedule.state
        )
        commands.extend(scheduler.handle(event))
    return commands
