"""The supervisor's log lines for what the scheduler publishes: task and workflow events.

One line per task event worth telling (a success is not: the workflow's summary tells),
at debug level for large workflows (see `LoggingSettings.task_lines_max_tasks`); one
line per workflow change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from structlog.typing import FilteringBoundLogger

from orchestrator.core.commands import PublishWorkflowEvent, TaskEvent
from orchestrator.core.states import TaskState, WorkflowState

_WARNINGS = (TaskState.FAILED, TaskState.RETRY_WAIT)


def log_task_events(
    log: FilteringBoundLogger, events: Iterable[TaskEvent], quiet: set[str]
) -> None:
    """Log task events; those of workflows in ``quiet`` at debug level.

    The logger is bound once per call: an unbound one (a lazy proxy, following the
    configuration at each use) builds a logger at every attribute read, which made
    cancelling a 100,000-task workflow hold the supervisor about a second for lines
    that debug level then dropped. Those are skipped when debug is off.
    """
    logger: FilteringBoundLogger | None = None
    debug = False
    for event in events:
        if event.state is TaskState.SUCCEEDED:
            continue
        if logger is None:
            logger = log.bind()
            debug = logger.is_enabled_for(logging.DEBUG)
        if event.workflow_id in quiet:  # a large workflow: its summary line tells
            if not debug:
                continue
            method = logger.debug
        elif event.state in _WARNINGS:
            method = logger.warning
        else:
            method = logger.info
        method(
            f"task.{event.state.value}",
            workflow_id=event.workflow_id,
            task_id=event.task_id,
            attempt=event.attempt,
            detail=event.message,
        )


def log_workflow_event(log: FilteringBoundLogger, command: PublishWorkflowEvent) -> None:
    """Log a workflow that paused, runs (resumed, or running again) or finished."""
    if command.state is WorkflowState.PAUSED:
        log.info("workflow.paused", workflow_id=command.workflow_id, detail=command.message)
    elif not command.state.is_terminal:
        log.info("workflow.running", workflow_id=command.workflow_id, detail=command.message)
    else:
        log.info(
            "workflow.finished",
            workflow_id=command.workflow_id,
            state=command.state.value,
            counts=command.message,
        )
