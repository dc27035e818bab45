"""Compensation (sagas): undo what a failed workflow's completed tasks did.

A task may declare a compensating function (``compensate``). When its workflow fails
(not when it is cancelled), once every task has ended, the compensations of the tasks
that succeeded run one at a time, in reverse order of completion, each receiving its
task's result; each is a task of the workflow (id ``<task>:compensate``), so its state,
attempts and error are recorded and shown like any other. A compensation that fails does
not stop the next one. The workflow then ends FAILED.
"""

from __future__ import annotations

from orchestrator.core.records import PoolRecord, TaskRecord, WorkflowRecord, task_record
from orchestrator.core.specs import OutputOf
from orchestrator.core.states import TaskState, WorkflowState

#: Suffix of a compensation's task id.
SUFFIX = ":compensate"


def wanted(workflow: WorkflowRecord) -> bool:
    """Return whether ``workflow``, all of whose tasks ended, must compensate now.

    Only once: a workflow whose compensations ran (or were found unneeded) is done.
    """
    if workflow.compensations is not None or workflow.cancel_reason is not None:
        return False
    if workflow.outcome() is not WorkflowState.FAILED:
        return False
    return any(_compensable(task) for task in workflow.tasks.values())


def plan(workflow: WorkflowRecord, pool: PoolRecord) -> list[TaskRecord]:
    """Return the compensation tasks of ``workflow``, latest completion first.

    They run in ``pool`` (the function pool), each with its task's retry policy and
    timeout, its task's result as input, and are not part of the dependency graph.
    """
    done = [task for task in workflow.tasks.values() if _compensable(task)]
    done.sort(key=lambda task: task.finished_s or 0.0, reverse=True)
    records = []
    for task in done:
        assert task.extras is not None
        task_id = task.task_id + SUFFIX
        while task_id in workflow.tasks:
            task_id += "_"
        record = task_record(
            workflow=workflow,
            task_id=task_id,
            function=task.extras.compensate,
            args=(OutputOf(output_of=task.task_id),),
            kwargs={},
            retry=task.retry,
            timeout_s=task.timeout_s,
            pool=pool,
            inputs=(task.task_id,),
            priority=task.priority,
            deadline_s=task.deadline_s,
            rank=0.0,
            estimate_s=None,
        )
        record.compensates = task.task_id
        records.append(record)
    return records


def _compensable(task: TaskRecord) -> bool:
    return (
        task.state is TaskState.SUCCEEDED
        and task.compensates is None
        and task.extras is not None
        and task.extras.compensate is not None
    )
