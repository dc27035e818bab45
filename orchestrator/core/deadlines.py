"""Deadlines missed: detected when the deadline passes, reported, and acted on by policy.

A task with a ``deadline`` is checked when it passes (`Timers.add_deadline`). If it has
not ended, the miss is recorded (``TaskInfo.deadline_missed``, the workflow's
``deadline_misses``, a task event) and its ``on_deadline_miss`` decides: ``run`` (go on),
``skip`` (a task not running yet is skipped, with the tasks that need it; a running one
goes on) or ``fail`` (it fails now with ``DeadlineMissed``; a running attempt's agent is
stopped). Ordering by deadline (earliest first within a priority) is the queue's.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.core.commands import Command
from orchestrator.core.lifecycle import TaskLifecycle
from orchestrator.core.records import TaskRecord
from orchestrator.core.states import TaskState

_FAIL_TEXT = "not done by its deadline"
_SKIP_TEXT = "not started by its deadline"
_NOTE_TEXT = "missed its deadline"

#: How the task event of a miss begins, whatever the policy (metrics count misses by it).
MISS_MESSAGE_PREFIXES = (f"DeadlineMissed: {_FAIL_TEXT} ", f"{_SKIP_TEXT} ", f"{_NOTE_TEXT} ")


def miss(task: TaskRecord, life: TaskLifecycle, out: list[Command]) -> None:
    """Act on ``task``'s deadline having passed (nothing if it ended or was seen already)."""
    if task.deadline_missed or task.state.is_terminal:
        return
    task.deadline_missed = True
    task.workflow.deadline_misses += 1
    when = datetime.fromtimestamp(task.deadline_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    policy = task.extras.on_deadline_miss if task.extras is not None else "run"
    if policy == "fail":
        life.fail_now(task, "DeadlineMissed", f"{_FAIL_TEXT} {when}", "deadline", out)
    elif policy == "skip" and task.state is not TaskState.RUNNING:
        life.skip(task, f"{_SKIP_TEXT} {when}", out)
    else:
        life.note(task, f"{_NOTE_TEXT} {when}")
