"""Task and workflow states and the one table of legal task transitions."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType


class TaskState(enum.StrEnum):
    """Where a task is in its life."""

    PENDING = "pending"
    """Waiting for dependencies."""
    READY = "ready"
    """Dependencies met; queued for an agent."""
    RUNNING = "running"
    """An attempt was handed to an agent."""
    RETRY_WAIT = "retry_wait"
    """An attempt failed; waiting for the backoff before the next one."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Never ran because a task it depends on failed or was cancelled."""
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the task is done: it changes state again only if its result is lost."""
        return self in TERMINAL_TASK_STATES


TERMINAL_TASK_STATES = frozenset(
    {TaskState.SUCCEEDED, TaskState.FAILED, TaskState.SKIPPED, TaskState.CANCELLED}
)

#: Every legal (from, to) pair. Anything else is a bug and raises `IllegalTransitionError`.
TASK_TRANSITIONS: frozenset[tuple[TaskState, TaskState]] = frozenset(
    {
        (TaskState.PENDING, TaskState.READY),
        (TaskState.PENDING, TaskState.SKIPPED),
        # Its deadline passed with ``on_deadline_miss="skip"`` before it started.
        (TaskState.READY, TaskState.SKIPPED),
        (TaskState.RETRY_WAIT, TaskState.SKIPPED),
        # Its ``run_if`` predicate, evaluated by the agent, answered false.
        (TaskState.RUNNING, TaskState.SKIPPED),
        (TaskState.PENDING, TaskState.CANCELLED),
        (TaskState.READY, TaskState.RUNNING),
        (TaskState.READY, TaskState.CANCELLED),
        (TaskState.RUNNING, TaskState.SUCCEEDED),
        (TaskState.RUNNING, TaskState.FAILED),
        (TaskState.RUNNING, TaskState.RETRY_WAIT),
        # The agent died, hung or was stopped: the attempt is lost and the task re-queued.
        (TaskState.RUNNING, TaskState.READY),
        (TaskState.RUNNING, TaskState.CANCELLED),
        (TaskState.RETRY_WAIT, TaskState.READY),
        (TaskState.RETRY_WAIT, TaskState.CANCELLED),
        # A result was lost (its node or owner died): the task that produced it is
        # computed again, and the tasks that need it wait for it again.
        (TaskState.SUCCEEDED, TaskState.PENDING),
        (TaskState.RUNNING, TaskState.PENDING),
        (TaskState.READY, TaskState.PENDING),
        # Failed without running: no node can hold its agent any more, or its time ran
        # out while it waited.
        (TaskState.PENDING, TaskState.FAILED),
        (TaskState.READY, TaskState.FAILED),
        (TaskState.RETRY_WAIT, TaskState.FAILED),
        # Re-queued from the dead-letter queue, with the tasks its failure skipped.
        (TaskState.FAILED, TaskState.PENDING),
        (TaskState.SKIPPED, TaskState.PENDING),
    }
)


class IllegalTransitionError(RuntimeError):
    """A task was asked to move between two states the table does not allow."""

    def __init__(self, task: str, current: TaskState, requested: TaskState) -> None:
        super().__init__(f"task {task!r}: illegal transition {current.value} -> {requested.value}")
        self.task = task
        self.current = current
        self.requested = requested


#: The same table by current state: the states each state may move to. A lookup here costs
#: half of one in `TASK_TRANSITIONS` (no pair to build and hash), which the dispatch hot
#: path feels.
NEXT_TASK_STATES: Mapping[TaskState, frozenset[TaskState]] = MappingProxyType(
    {
        state: frozenset(requested for current, requested in TASK_TRANSITIONS if current is state)
        for state in TaskState
    }
)


def check_transition(task: str, current: TaskState, requested: TaskState) -> None:
    """Raise `IllegalTransitionError` unless ``current -> requested`` is in the table."""
    if requested not in NEXT_TASK_STATES[current]:
        raise IllegalTransitionError(task, current, requested)


class WorkflowState(enum.StrEnum):
    """Where a workflow is in its life."""

    RUNNING = "running"
    PAUSED = "paused"
    """Nothing of it starts until it is resumed (its running attempts may still finish)."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the workflow has finished."""
        return self is not WorkflowState.RUNNING and self is not WorkflowState.PAUSED
