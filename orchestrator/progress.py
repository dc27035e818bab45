"""A live progress bar for a running workflow (terminal or notebook), built on rich."""

from __future__ import annotations

import time
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from orchestrator.core.states import TaskState
from orchestrator.core.status import WorkflowStatus


class FollowedRun(Protocol):
    """What `follow` needs of a run (`orchestrator.api.WorkflowRun` is one)."""

    def status(self) -> WorkflowStatus:
        """Return the run's status now."""
        ...

    def wait(self, timeout_s: float | None = None) -> WorkflowStatus:
        """Wait until the run ends or ``timeout_s`` passes; return its status."""
        ...


def describe(status: WorkflowStatus) -> str:
    """Return ``running 3 · ready 5 · failed 1``-style counts of the unfinished and failed."""
    shown = (
        TaskState.RUNNING,
        TaskState.READY,
        TaskState.RETRY_WAIT,
        TaskState.FAILED,
        TaskState.SKIPPED,
        TaskState.CANCELLED,
    )
    parts = [f"{state.value} {status.count(state)}" for state in shown if status.count(state)]
    return " · ".join(parts)


def follow(
    run: FollowedRun,
    *,
    timeout_s: float | None = None,
    refresh_s: float = 0.2,
    console: Console | None = None,
) -> WorkflowStatus:
    """Show a progress bar until ``run`` ends or ``timeout_s`` passes; return its status.

    Args:
        run: The run to follow.
        timeout_s: Stop following after this long (the run goes on).
        refresh_s: How often the bar is redrawn: each redraw follows a wait of at most
            this long, which returns early when the run ends.
        console: Where to draw (default: rich's, the terminal or the notebook).
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    status = run.status()
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(status.name, total=status.total, detail=describe(status))
        while True:
            bar.update(task, completed=status.done, detail=describe(status))
            if status.state.is_terminal:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            wait_s = refresh_s if deadline is None else min(refresh_s, deadline - time.monotonic())
            status = run.wait(max(wait_s, 0.0))
    return status
