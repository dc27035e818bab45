"""Pausing and resuming a workflow.

A paused workflow starts nothing: its ready tasks leave their pool's queue and wait,
parked, in the workflow (tasks that become ready meanwhile are parked too, see
`TaskLifecycle.make_ready`). Its running attempts finish and count, unless the pause asked
to stop them: then they are given up (their outcome will be ignored) and their tasks are
parked with them, not charged. Timers go on: a retry's backoff, a timeout and a
schedule-to-close time still pass while paused. Resuming queues the parked tasks again, in
their order of priority.
"""

from __future__ import annotations

from orchestrator.core.commands import Command, PublishWorkflowEvent
from orchestrator.core.dispatch import Dispatcher
from orchestrator.core.fleet import AgentFleet
from orchestrator.core.lifecycle import TaskLifecycle
from orchestrator.core.records import WorkflowRecord
from orchestrator.core.states import TaskState, WorkflowState

_READY = TaskState.READY


def pause(
    workflow: WorkflowRecord,
    stop_running: bool,
    life: TaskLifecycle,
    dispatcher: Dispatcher,
    out: list[Command],
) -> None:
    """Pause ``workflow`` (see the module docstring); pausing it again does nothing.

    Raises:
        ValueError: the workflow has finished.
    """
    if workflow.state.is_terminal:
        raise ValueError(
            f"workflow {workflow.workflow_id!r} has finished ({workflow.state.value}):"
            " there is nothing to pause"
        )
    if workflow.state is WorkflowState.PAUSED and not stop_running:
        return
    workflow.state = WorkflowState.PAUSED
    stopped = 0
    for task in workflow.tasks.values():
        if task.state is _READY:
            if task.pool.queue_of(task).remove(task):
                workflow.parked.append(task)
        elif stop_running and task.state is TaskState.RUNNING:
            dispatcher.forget(task.attempt_id)  # its outcome will be ignored
            life.set_state(task, _READY, out, "attempt given up: the workflow was paused")
            workflow.parked.append(task)
            stopped += 1
    message = f"{len(workflow.parked)} task(s) held"
    if stopped:
        message += f", {stopped} running attempt(s) given up"
    out.append(
        PublishWorkflowEvent(
            workflow_id=workflow.workflow_id, state=WorkflowState.PAUSED, message=message
        )
    )


def resume(workflow: WorkflowRecord, fleet: AgentFleet, out: list[Command]) -> None:
    """Let paused ``workflow`` go on: queue its parked tasks again. Does nothing if not paused."""
    if workflow.state is not WorkflowState.PAUSED:
        return
    workflow.state = WorkflowState.RUNNING
    parked, workflow.parked = workflow.parked, []
    for task in parked:
        if task.state is _READY:  # not cancelled or timed out meanwhile
            task.pool.queue_of(task).push(task, task.priority, task.deadline_s, task.rank)
            fleet.dirty.add(task.pool)
    out.append(
        PublishWorkflowEvent(
            workflow_id=workflow.workflow_id,
            state=WorkflowState.RUNNING,
            message=f"resumed; {len(parked)} task(s) queued again",
        )
    )
