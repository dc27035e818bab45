"""Concurrency limits: most attempts running at once, per workflow, per tenant, overall.

Each limit is a `LimitGroup` (a count of the attempts running under it and a queue of
the tasks it holds back); a workflow belongs to its own group (``max_concurrency``), to
its tenant's (``SchedulerConfig.tenant_max_running``) and to the global one
(``SchedulerConfig.max_running_attempts``), each only when set. The dispatcher asks before
sending a task: when one of its groups is full, the task waits in that group's queue
instead (still READY), in priority order; when an attempt under the group ends, the most
urgent held task goes back to its pool's queue. Pools limit themselves already (replicas
times ``max_concurrency`` of the agent).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.core.config import SchedulerConfig
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.queue import PriorityTaskQueue
from orchestrator.core.records import PoolRecord, TaskRecord
from orchestrator.core.states import TaskState, WorkflowState

_READY = TaskState.READY
_PAUSED = WorkflowState.PAUSED


@dataclass(slots=True, eq=False)
class LimitGroup:
    """One limit: its name (for statistics), its size, what runs and what waits under it."""

    name: str
    limit: int
    running: int = 0
    held: PriorityTaskQueue[TaskRecord] = field(default_factory=PriorityTaskQueue)


def hold_if_full(task: TaskRecord) -> bool:
    """Hold ``task`` back if one of its groups is full (return True), else count it running."""
    groups = task.workflow.limits
    for group in groups:
        if group.running >= group.limit:
            group.held.push(task, task.priority, task.deadline_s, task.rank)
            return True
    for group in groups:
        group.running += 1
    return False


def ended(task: TaskRecord, dirty: set[PoolRecord]) -> None:
    """Count one attempt of ``task`` no longer running; let the most urgent held task go."""
    for group in task.workflow.limits:
        group.running -= 1
        while group.held:
            waiting = group.held.pop()
            if waiting.state is not _READY:
                continue  # cancelled, timed out or failed while it waited
            workflow = waiting.workflow
            if workflow.state is _PAUSED:
                workflow.parked.append(waiting)  # the resume queues it again
            else:
                pool = waiting.pool
                pool.queue_of(waiting).push(
                    waiting, waiting.priority, waiting.deadline_s, waiting.rank
                )
                dirty.add(pool)
            break


def limits_of(
    spec: PackedWorkflow,
    config: SchedulerConfig,
    tenants: dict[str, LimitGroup],
    global_limit: LimitGroup | None,
) -> tuple[LimitGroup, ...]:
    """Return the limits a newly admitted workflow runs under (tenants' made on first use)."""
    groups = []
    if spec.max_concurrency is not None:
        groups.append(LimitGroup(f"workflow:{spec.id}", spec.max_concurrency))
    tenant_limit = config.tenant_max_running.get(spec.tenant or "")
    if spec.tenant is not None and tenant_limit is not None:
        group = tenants.get(spec.tenant)
        if group is None:
            group = tenants[spec.tenant] = LimitGroup(f"tenant:{spec.tenant}", tenant_limit)
        groups.append(group)
    if global_limit is not None:
        groups.append(global_limit)
    return tuple(groups)
