"""A live progress bar for a running workflow (terminal or notebook), built on rich.

Driven by the run's lifecycle events when it has them (`follow`'s ``events``): the bar
asks the supervisor for the run's counts only when events arrived (and every
`RESYNC_S` in any case), not on every redraw.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Protocol

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


class ChangeFeed(Protocol):
    """Events of one run (`orchestrator.api_events.EventStream` is one)."""

    def get_batch(self, max_n: int = 1000, timeout_s: float | None = None) -> list[Any]:
        """Return the events that came, waiting at most ``timeout_s`` for the first."""
        ...

    def close(self) -> None:
        """Stop receiving events."""
        ...


#: With events, the counts are asked for at least this often even if none came.
RESYNC_S = 10.0


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
    events: Callable[[], ChangeFeed] | None = None,
) -> WorkflowStatus:
    """Show a progress bar until ``run`` ends or ``timeout_s`` passes; return its status.

    Args:
        run: The run to follow.
        timeout_s: Stop following after this long (the run goes on).
        refresh_s: How often the bar is redrawn: each redraw follows a wait of at most
            this long, which returns early when the run ends.
        console: Where to draw (default: rich's, the terminal or the notebook).
        events: Opens the run's event feed: then counts are read when events come.
            Without (or when it cannot be opened), the bar waits on the run instead.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    feed = None
    if events is not None:
        try:
            feed = events()
        except Exception:  # no bus (an older supervisor...): wait on the run instead
            feed = None
    try:
        return _draw(run, feed, deadline, refresh_s, console)
    finally:
        if feed is not None:
            with contextlib.suppress(Exception):
                feed.close()


def _draw(
    run: FollowedRun,
    feed: ChangeFeed | None,
    deadline: float | None,
    refresh_s: float,
    console: Console | None,
) -> WorkflowStatus:
    status = run.status()  # after subscribing: nothing that follows is missed
    asked_s = time.monotonic()
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
            if feed is None:
                status = run.wait(max(wait_s, 0.0))
            elif feed.get_batch(10_000, max(wait_s, 0.0)) or time.monotonic() - asked_s > RESYNC_S:
                status = run.status()
                asked_s = time.monotonic()
    return status
