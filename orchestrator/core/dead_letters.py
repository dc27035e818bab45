"""`DeadLetterQueue`: tasks that failed for good, kept to be inspected, re-queued or purged.

Every task that ends FAILED (its retries spent, an error not retryable, a time limit, no
node to run it) is a dead letter until it is re-queued or purged, or its workflow is
released. Its record keeps what is needed to run it again: its arguments, its last error
and traceback. Re-queuing gives it a fresh set of attempts; the tasks that were skipped
because of it (and of nothing else still failed) run again too, and a finished workflow
runs again (`revive`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from orchestrator.core.records import TaskRecord, WorkflowRecord
from orchestrator.core.specs import handler_name
from orchestrator.core.states import TaskState


class DeadLetter(BaseModel):
    """A task that failed for good, as shown to users.

    Attributes:
        workflow_id: Its workflow.
        task_id: The task.
        handler: The function or agent pool that ran it.
        args: Its positional arguments (placeholders of upstream results kept).
        kwargs: Its keyword arguments.
        attempts: Attempts it made.
        error_type: Exception class of its last failure.
        error_message: Text of its last failure.
        traceback: Traceback of its last failure.
        failed_s: When it failed (scheduler clock).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    workflow_id: str
    task_id: str
    handler: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = Field(default_factory=dict)
    attempts: int
    error_type: str | None
    error_message: str | None
    traceback: str | None
    failed_s: float


class DeadLetterQueue:
    """Dead letters by (workflow id, task id), oldest first."""

    __slots__ = ("_letters",)

    def __init__(self) -> None:
        """Start empty."""
        self._letters: dict[tuple[str, str], tuple[TaskRecord, float]] = {}

    def add(self, task: TaskRecord, failed_s: float) -> None:
        """Keep ``task``, which just failed for good at ``failed_s``."""
        self._letters[(task.workflow.workflow_id, task.task_id)] = (task, failed_s)

    def __len__(self) -> int:
        return len(self._letters)

    def letters(self, workflow_id: str | None = None) -> list[DeadLetter]:
        """Return the dead letters of one workflow, or of all, oldest first."""
        return [
            _letter(task, failed_s)
            for (wid, _), (task, failed_s) in self._letters.items()
            if workflow_id is None or wid == workflow_id
        ]

    def take(self, workflow_id: str, task_ids: Iterable[str] | None) -> list[TaskRecord]:
        """Remove and return the named dead letters of a workflow (all when None).

        Raises:
            KeyError: a named task is not a dead letter; nothing is removed then.
        """
        if task_ids is None:
            keys = [key for key in self._letters if key[0] == workflow_id]
        else:
            keys = [(workflow_id, task_id) for task_id in task_ids]
            missing = [key[1] for key in keys if key not in self._letters]
            if missing:
                raise KeyError(f"not dead letters of workflow {workflow_id!r}: {missing}")
        return [self._letters.pop(key)[0] for key in keys]

    def purge(self, workflow_id: str | None, task_ids: Iterable[str] | None) -> None:
        """Drop dead letters: the named ones of a workflow, all of it, or (None) every one.

        Raises:
            KeyError: a named task is not a dead letter; nothing is dropped then.
        """
        if workflow_id is None:
            self._letters.clear()
        else:
            self.take(workflow_id, task_ids)

    def failed_times(self, workflow_id: str) -> dict[str, float]:
        """Return when each dead letter of a workflow failed, by task id."""
        return {
            task.task_id: failed_s
            for (wid, _), (task, failed_s) in self._letters.items()
            if wid == workflow_id
        }

    def forget(self, workflow_id: str) -> None:
        """Drop the dead letters of a released workflow."""
        for key in [key for key in self._letters if key[0] == workflow_id]:
            del self._letters[key]


def revivable(workflow: WorkflowRecord, requeued: list[TaskRecord]) -> list[TaskRecord]:
    """Return the tasks to run again: ``requeued`` and the skipped tasks that only they held up.

    A skipped task runs again when each of its dependencies has succeeded or runs again
    too; one still held up by a failure that stays is left skipped.
    """
    graph, tasks = workflow.graph, workflow.tasks
    revived = {task.task_id for task in requeued}
    descendants: set[str] = set()
    for task in requeued:
        descendants |= graph.descendants(task.task_id)
    order = [node for node in graph.topological_order() if node in descendants]
    for node in order:
        if tasks[node].state is not TaskState.SKIPPED:
            continue
        deps = graph.dependencies(node)
        if all(tasks[dep].state is TaskState.SUCCEEDED or dep in revived for dep in deps):
            revived.add(node)
    return [task for task in requeued] + [
        tasks[node] for node in order if node in revived and tasks[node] not in requeued
    ]


def _letter(task: TaskRecord, failed_s: float) -> DeadLetter:
    handler = task.function if task.function is not None else task.pool.spec.key
    return DeadLetter(
        workflow_id=task.workflow.workflow_id,
        task_id=task.task_id,
        handler=handler_name(handler) if not isinstance(handler, str) else handler,
        args=task.args,
        kwargs=task.kwargs,
        attempts=task.attempts,
        error_type=task.error_type,
        error_message=task.error_message,
        traceback=task.traceback,
        failed_s=failed_s,
    )
