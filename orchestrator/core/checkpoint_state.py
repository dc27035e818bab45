"""The durable form of the scheduler's own state: what a checkpoint holds, and putting it back.

Pure and JSON-safe (never pickle): for each workflow, its state and, for every task that
left its first state, a short list of fields (`TASK_FIELDS`). Specs and task results are
user values: the runtime stores them beside the checkpoint (`orchestrator.durable`) and
hands the spec back with the entry in a `WorkflowRestored` event.

What comes back, and what does not:

- finished tasks (succeeded, failed, skipped, cancelled) keep their state, attempts,
  timings and errors, and a failed one its dead letter: they do not run again;
- a task that was running lost its attempt with the supervisor: it is queued again and
  charged one agent loss (bounded by its ``max_agent_losses``, as any infrastructure loss);
- a task waiting out a retry backoff is ready at once; waiting and ready tasks are queued
  again as their dependencies allow;
- the workflow keeps its state (paused stays paused), its retry budget and its times; a
  failed workflow that was running its compensations starts them again.

Entries merge: a later entry's tasks replace the same tasks of an earlier one, so a
checkpoint may hold only what changed since the previous (`workflow_entry` with
``task_ids``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.core.commands import Command, TaskEvent
from orchestrator.core.dead_letters import DeadLetterQueue
from orchestrator.core.lifecycle import TaskLifecycle
from orchestrator.core.records import TaskRecord, WorkflowRecord
from orchestrator.core.states import TERMINAL_TASK_STATES, TaskState, WorkflowState

#: Version of the entries below; a reader refuses newer ones (see `storage.checkpoints`).
SCHEMA = 1

#: The fields of a task entry, in order.
TASK_FIELDS = (
    "state",
    "attempts",
    "failures",
    "losses",
    "recomputes",
    "started_s",
    "finished_s",
    "run_time_s",
    "first_ready_s",
    "error_type",
    "error_message",
    "traceback",
    "dead_letter_s",
    "heartbeat",
    "deadline_missed",
)

_PENDING = TaskState.PENDING
_RUNNING = TaskState.RUNNING
_SUCCEEDED = TaskState.SUCCEEDED


def workflow_entry(
    workflow: WorkflowRecord,
    dead_letters: DeadLetterQueue,
    task_ids: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Return the JSON-safe entry of ``workflow``: its state, and its tasks' fields.

    Args:
        workflow: The workflow.
        dead_letters: Where its failed tasks' dead letters are (their time is saved).
        task_ids: Only these tasks (those that changed); None: every task that left its
            first state (pending, never tried).
    """
    tasks = workflow.tasks
    if task_ids is None:
        chosen: Iterable[TaskRecord] = (
            task for task in tasks.values() if task.state is not _PENDING or task.attempts
        )
    else:
        chosen = (tasks[task_id] for task_id in task_ids if task_id in tasks)
    letters = dead_letters.failed_times(workflow.workflow_id)
    return {
        "id": workflow.workflow_id,
        "name": workflow.name,
        "submitted_s": workflow.submitted_s,
        "state": workflow.state.value,
        "finished_s": workflow.finished_s,
        "cancel_reason": workflow.cancel_reason,
        "retries_left": workflow.retries_left,
        "deadline_misses": workflow.deadline_misses,
        "tasks": {
            task.task_id: _task_fields(task, letters.get(task.task_id))
            for task in chosen
            if task.compensates is None  # compensations are planned again if needed
        },
    }


def _task_fields(task: TaskRecord, dead_letter_s: float | None) -> list[Any]:
    return [
        task.state.value,
        task.attempts,
        task.failures,
        task.losses,
        task.recomputes,
        task.started_s,
        task.finished_s,
        task.run_time_s,
        task.first_ready_s,
        task.error_type,
        task.error_message,
        task.traceback,
        dead_letter_s,
        _json_or_none(task.last_heartbeat),
        task.deadline_missed,
    ]


def _json_or_none(value: Any) -> Any:
    """Return ``value`` if JSON can hold it as it is, else None (a handler's heartbeat)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return None


def merge(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """Return the entry of one workflow after ``newer`` (a later, maybe partial, entry)."""
    merged = dict(newer)
    merged["tasks"] = {**older.get("tasks", {}), **newer.get("tasks", {})}
    return merged


def apply(
    workflow: WorkflowRecord,
    entry: Mapping[str, Any],
    life: TaskLifecycle,
    dead_letters: DeadLetterQueue,
    out: list[Command],
    missing_results: Iterable[str] = (),
) -> bool:
    """Put freshly admitted ``workflow`` where ``entry`` says it was (see module docstring).

    Its graph must be prepared and no task released yet. Returns whether the workflow had
    finished (the caller keeps it as finished; nothing is queued then). Succeeded tasks
    of ``missing_results`` (their result was not kept) that a task still to run needs,
    directly or through other such tasks, run again.

    Raises:
        ValueError: the entry is malformed (an unknown state, a wrong number of fields).
    """
    tasks = workflow.tasks
    ended: list[str] = []
    lost: list[TaskRecord] = []
    saved = entry.get("tasks", {})
    for task_id, fields in saved.items():
        if len(fields) != len(TASK_FIELDS):
            raise ValueError(
                f"task {task_id!r}: {len(fields)} fields in its entry, {len(TASK_FIELDS)} expected"
            )
        TaskState(fields[0])  # an unknown state is refused before anything changes
    workflow_state = WorkflowState(entry.get("state", WorkflowState.RUNNING.value))
    redo = _to_compute_again(workflow, saved, set(missing_results))
    for task_id, fields in saved.items():
        task = tasks.get(task_id)
        if task is None:
            continue  # not in the spec any more: nothing to put back
        state = TaskState(fields[0])
        _restore_fields(task, fields)
        if task_id in redo:
            task.recomputes += 1
            continue
        if state in TERMINAL_TASK_STATES:
            _restore_state(task, state)
            ended.append(task_id)
            if fields[12] is not None and state is TaskState.FAILED:
                dead_letters.add(task, float(fields[12]))
        elif state is _RUNNING:
            lost.append(task)
    workflow.submitted_s = float(entry.get("submitted_s", workflow.submitted_s))
    workflow.cancel_reason = entry.get("cancel_reason")
    workflow.retries_left = entry.get("retries_left", workflow.retries_left)
    workflow.deadline_misses = int(entry.get("deadline_misses", 0))
    workflow.graph.resume_from(ended)
    if workflow_state.is_terminal and workflow.open_tasks == 0:
        workflow.state = workflow_state
        finished_s = entry.get("finished_s")
        workflow.finished_s = float(finished_s) if finished_s is not None else None
        return True
    # A workflow that had finished but whose tasks did not all end (a dead letter
    # re-queued after the checkpoint?) runs: its open tasks decide.
    workflow.state = WorkflowState.RUNNING if workflow_state.is_terminal else workflow_state
    for task in lost:
        task.losses += 1
        if task.losses > task.retry.max_agent_losses:
            task.error_type = "AgentLost"
            task.error_message = (
                f"its attempt was lost with the supervisor (lost {task.losses} times)"
            )
            life.fail(task, f"AgentLost: {task.error_message}", out)
    if workflow.open_tasks == 0:
        return False  # every task ended but the workflow had not closed: the caller does
    life.release_ready(workflow, out)
    return False


def succeed_from_cache(
    workflow: WorkflowRecord, task_ids: Iterable[str], now_s: float
) -> list[TaskEvent]:
    """Mark freshly admitted tasks succeeded without running (their result was cached).

    Returns the events to publish. Their dependents are then queued as for any success.
    """
    tasks = workflow.tasks
    events = []
    done = []
    for task_id in task_ids:
        task = tasks[task_id]
        _restore_state(task, _SUCCEEDED)
        task.started_s = task.finished_s = now_s
        done.append(task_id)
        events.append(TaskEvent(workflow.workflow_id, task_id, _SUCCEEDED, 0, "from the cache"))
    workflow.graph.resume_from(done)
    return events


def _to_compute_again(
    workflow: WorkflowRecord, saved: Mapping[str, list[Any]], missing: set[str]
) -> set[str]:
    """Return the succeeded tasks of ``missing`` whose result a task still to run needs."""
    succeeded = _SUCCEEDED.value
    ended_values = {state.value for state in TERMINAL_TASK_STATES}
    ended = {task_id for task_id, fields in saved.items() if fields[0] in ended_values}
    candidates = {t for t in missing if t in saved and saved[t][0] == succeeded}
    graph = workflow.graph
    redo: set[str] = set()
    changed = bool(candidates)
    while changed:
        changed = False
        for task_id in candidates - redo:
            if any(d not in ended or d in redo for d in graph.dependents(task_id)):
                redo.add(task_id)
                changed = True
    return redo


def _restore_fields(task: TaskRecord, fields: list[Any]) -> None:
    task.attempts = int(fields[1])
    task.failures = int(fields[2])
    task.losses = int(fields[3])
    task.recomputes = int(fields[4])
    task.started_s = fields[5]
    task.finished_s = fields[6]
    task.run_time_s = float(fields[7])
    task.first_ready_s = fields[8]
    task.error_type = fields[9]
    task.error_message = fields[10]
    task.traceback = fields[11]
    task.last_heartbeat = fields[13]
    task.deadline_missed = bool(fields[14])


def _restore_state(task: TaskRecord, state: TaskState) -> None:
    """Move a PENDING task straight to a final ``state``, outside the table: a restore."""
    workflow = task.workflow
    workflow.counts[task.state] -= 1
    workflow.counts[state] = workflow.counts.get(state, 0) + 1
    task.state = state
    workflow.open_tasks -= 1
    task.pool.open_tasks -= 1
