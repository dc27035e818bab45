"""`progress.follow` needs only ``status()`` and ``wait(timeout_s)``: no Ray, no driver API."""

from __future__ import annotations

import io

from rich.console import Console

from orchestrator.core.states import TaskState, WorkflowState
from orchestrator.core.status import WorkflowStatus
from orchestrator.progress import describe, follow


def _status(done: int, state: WorkflowState = WorkflowState.RUNNING) -> WorkflowStatus:
    counts = {TaskState.SUCCEEDED: done, TaskState.RUNNING: 4 - done}
    counts = {state: n for state, n in counts.items() if n}
    return WorkflowStatus(
        workflow_id="wf", name="demo", state=state, total=4, counts=counts, submitted_s=0.0
    )


class _Run:
    """A run that finishes one task per wait."""

    def __init__(self) -> None:
        self.done = 0
        self.waits: list[float | None] = []

    def status(self) -> WorkflowStatus:
        return _status(self.done)

    def wait(self, timeout_s: float | None = None) -> WorkflowStatus:
        self.waits.append(timeout_s)
        self.done += 1
        finished = self.done == 4
        return _status(self.done, WorkflowState.SUCCEEDED if finished else WorkflowState.RUNNING)


def test_follow_redraws_after_each_wait_of_refresh_s_until_the_run_ends() -> None:
    run = _Run()
    out = io.StringIO()
    status = follow(run, refresh_s=0.3, console=Console(file=out, width=100))
    assert status.state is WorkflowState.SUCCEEDED
    assert run.waits == [0.3, 0.3, 0.3, 0.3]
    assert "demo" in out.getvalue() and "4/4" in out.getvalue()


def test_follow_stops_at_its_timeout_while_the_run_goes_on() -> None:
    run = _Run()
    status = follow(run, timeout_s=0.0, refresh_s=0.3, console=Console(file=io.StringIO()))
    assert (status.state, run.waits) == (WorkflowState.RUNNING, [])


def test_describe_lists_unfinished_and_failed_counts() -> None:
    assert describe(_status(1)) == "running 3"
