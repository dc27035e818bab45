"""Recovery: lost results computed again, and dead letters run again.

Both undo an ending: a SUCCEEDED task whose result was lost goes back to PENDING, and so
do FAILED and SKIPPED tasks re-queued from the dead-letter queue; the graph is told
(`TaskGraph.undo`, `hold`, `revive`), and the tasks run again through the lifecycle.
"""

from __future__ import annotations

from orchestrator.core import dead_letters
from orchestrator.core.commands import Command
from orchestrator.core.lifecycle import TaskLifecycle
from orchestrator.core.records import TaskRecord, WorkflowRecord
from orchestrator.core.states import TaskState

_PENDING = TaskState.PENDING
_READY = TaskState.READY


def recompute_inputs(
    life: TaskLifecycle, task: TaskRecord, lost: tuple[str, ...], out: list[Command]
) -> None:
    """Compute again the upstream results ``task``'s attempt could not fetch (lineage).

    Each lost result's task goes back to PENDING (then READY) and runs again; the
    tasks waiting in a queue for it wait for it again; ``task`` itself waits for it
    again, its attempt free of charge but counted as a loss. A result lost more often
    than its task's ``max_agent_losses``, or ``task`` losing its inputs more often
    than its own, fails ``task`` with ``InputLost``.
    """
    workflow = task.workflow
    tasks, graph = workflow.tasks, workflow.graph
    task.losses += 1
    names = ", ".join(repr(name) for name in lost)
    if task.compensates is not None:  # never re-run a task to compensate it
        task.error_type = "InputLost"
        task.error_message = f"the result of {names} was lost"
        life.fail(task, f"InputLost: {task.error_message}", out)
        return
    for upstream in (tasks[name] for name in lost if name in tasks):
        fresh = (upstream.finished_s or 0.0) > (task.started_s or 0.0)
        if upstream.state is not TaskState.SUCCEEDED or fresh:
            continue  # computed again already, or being computed
        upstream.recomputes += 1
        if upstream.recomputes > upstream.retry.max_agent_losses:
            task.losses = task.retry.max_agent_losses + 1
            break
        graph.undo(upstream.task_id)
        message = f"its result was lost; computed again for {task.task_id!r}"
        life.set_state(upstream, _PENDING, out, message)
        for name in graph.dependents(upstream.task_id):
            dependent = tasks[name]
            if dependent.state is _READY:
                dependent.pool.queue_of(dependent).remove(dependent)
                graph.hold(name)
                reason = f"waits for {upstream.task_id!r} to be computed again"
                life.set_state(dependent, _PENDING, out, reason)
    if task.losses > task.retry.max_agent_losses:
        task.error_type = "InputLost"
        task.error_message = f"the result of {names} was lost too often"
        life.fail(task, f"InputLost: {task.error_message}", out)
    else:
        graph.hold(task.task_id)
        life.set_state(task, _PENDING, out, f"input {names} lost; waits for it again")
    life.release_ready(workflow, out)


def requeue(
    life: TaskLifecycle, workflow: WorkflowRecord, requeued: list[TaskRecord], out: list[Command]
) -> int:
    """Run dead letters again, with fresh attempts, and the tasks they alone skipped.

    Returns:
        How many tasks run again.
    """
    revived = dead_letters.revivable(workflow, requeued)
    workflow.graph.revive(task.task_id for task in revived if task.compensates is None)
    for task in revived:
        task.failures = task.losses = 0
        task.error_type = task.error_message = task.traceback = None
        task.first_ready_s = None
        why = "re-queued from the dead letters" if task in requeued else "runs again"
        life.set_state(task, _PENDING, out, why)
    for task in revived:
        if task.compensates is not None:  # outside the graph: ready at once
            life.make_ready(task, out)
    life.release_ready(workflow, out)
    return len(revived)
