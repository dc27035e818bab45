"""Read-only snapshots of the scheduler's records, for drivers and observers.

Pure functions from the mutable records (`orchestrator.core.records`) to the frozen
models of `orchestrator.core.status`; the scheduler's queries are one call each.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core.records import PoolRecord, TaskRecord, WorkflowRecord
from orchestrator.core.specs import Priority
from orchestrator.core.states import TaskState
from orchestrator.core.status import (
    PoolStatistics,
    RunSummary,
    SchedulerStatistics,
    TaskInfo,
    WorkflowStatus,
)

_PRIORITIES = tuple(Priority)


def workflow_status(workflow: WorkflowRecord) -> WorkflowStatus:
    """Return where ``workflow`` is: its state and its tasks counted by state."""
    return WorkflowStatus(
        workflow_id=workflow.workflow_id,
        name=workflow.name,
        state=workflow.state,
        total=len(workflow.tasks) + workflow.unmade_tasks,
        counts={state: n for state, n in workflow.counts.items() if n},
        submitted_s=workflow.submitted_s,
        finished_s=workflow.finished_s,
        deadline_misses=workflow.deadline_misses,
    )


def task_info(task: TaskRecord) -> TaskInfo:
    """Return what is known about ``task``."""
    return TaskInfo(
        task_id=task.task_id,
        state=task.state,
        priority=_PRIORITIES[task.priority],
        attempts=task.attempts,
        agent_id=task.agent_id,
        started_s=task.started_s,
        finished_s=task.finished_s,
        error_type=task.error_type,
        error_message=task.error_message,
        traceback=task.traceback,
        deadline_missed=task.deadline_missed,
    )


def run_summary(workflow: WorkflowRecord, now_s: float) -> RunSummary:
    """Return wall time, summed task time, critical path and speed-up of ``workflow``.

    A workflow still running is measured up to ``now_s``.
    """
    end_s = workflow.finished_s if workflow.finished_s is not None else now_s
    wall_s = max(end_s - workflow.submitted_s, 0.0)
    run_times = {task_id: task.run_time_s for task_id, task in workflow.tasks.items()}
    total_s = sum(run_times.values())
    path = workflow.graph.critical_path(run_times)
    counts = workflow.counts
    return RunSummary(
        workflow_id=workflow.workflow_id,
        state=workflow.state,
        total=len(workflow.tasks) + workflow.unmade_tasks,
        succeeded=counts.get(TaskState.SUCCEEDED, 0),
        failed=counts.get(TaskState.FAILED, 0),
        skipped=counts.get(TaskState.SKIPPED, 0),
        cancelled=counts.get(TaskState.CANCELLED, 0),
        wall_s=wall_s,
        task_time_sum_s=total_s,
        critical_path=path.nodes,
        critical_path_s=path.length_s,
        speedup=total_s / wall_s if wall_s > 0 else 0.0,
        deadline_misses=workflow.deadline_misses,
    )


def scheduler_statistics(
    workflows: Iterable[WorkflowRecord], pools: dict[str, PoolRecord], attempts_running: int
) -> SchedulerStatistics:
    """Return workflows, tasks, pools and agents counted (cheap: counters only)."""
    tasks: dict[TaskState, int] = {}
    running = kept = 0
    for workflow in workflows:
        kept += 1
        if not workflow.state.is_terminal:
            running += 1
        for state, count in workflow.counts.items():
            if count:
                tasks[state] = tasks.get(state, 0) + count
    return SchedulerStatistics(
        workflows_running=running,
        workflows_kept=kept,
        tasks=tasks,
        attempts_running=attempts_running,
        pools={
            key: PoolStatistics(
                ready=pool.queued(),
                open_tasks=pool.open_tasks,
                agents=len(pool.agents),
                calls_in_flight=sum(len(agent.calls) for agent in pool.agents.values()),
                mean_task_s=pool.ewma_task_s,
                breaker=pool.breaker.state.value if pool.breaker is not None else None,
                breaker_failures=pool.breaker.failures if pool.breaker is not None else 0,
                ready_by_priority=_ready_by_priority(pool),
                attempts_running=sum(
                    call.open_attempts for agent in pool.agents.values() for call in agent.calls
                ),
                busy_agents=sum(1 for agent in pool.agents.values() if agent.calls),
                agents_started=pool.started_total,
                gang_host=pool.host.spec.key if pool.host is not None else None,
            )
            for key, pool in pools.items()
        },
    )


def _ready_by_priority(pool: PoolRecord) -> dict[str, int]:
    """Count ``pool``'s queued tasks per priority name (counted by the queues)."""
    counts = pool.ready.count_by_priority()
    counts.update(pool.isolated.count_by_priority())
    return {_PRIORITIES[level].name.lower(): n for level, n in sorted(counts.items()) if n}
