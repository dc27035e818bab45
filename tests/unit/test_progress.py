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


class _Feed:
    """Events of a run: one batch per entry (empty: nothing came within the wait)."""

    def __init__(self, batches: list[list[str]]) -> None:
        self.batches = batches
        self.closed = False
        self.waits: list[float | None] = []

    def get_batch(self, max_n: int = 1000, timeout_s: float | None = None) -> list[str]:
        self.waits.append(timeout_s)
        return self.batches.pop(0) if self.batches else []

    def close(self) -> None:
        self.closed = True


class _CountingRun(_Run):
    """A run whose status is read only when asked; one task ends per status read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def status(self) -> WorkflowStatus:
        self.reads += 1
        if self.reads > 1:
            self.done += 1
        return _status(
            self.done, WorkflowState.SUCCEEDED if self.done == 4 else WorkflowState.RUNNING
        )


def test_with_events_the_counts_are_read_only_when_events_came() -> None:
    # Given a feed where events come on every other wait
    run = _CountingRun()
    feed = _Feed([["e"], [], ["e"], [], [], ["e"], ["e"]])
    status = follow(run, refresh_s=0.3, console=Console(file=io.StringIO()), events=lambda: feed)
    # Then the status was read once at the start and once per batch of events, never waited on
    assert status.state is WorkflowState.SUCCEEDED
    assert run.reads == 5
    assert run.waits == []
    assert feed.waits == [0.3] * 7
    assert feed.closed


def test_without_a_bus_follow_waits_on_the_run() -> None:
    def no_bus() -> _Feed:
        raise ConnectionError("no bus")

    run = _Run()
    status = follow(run, refresh_s=0.3, console=Console(file=io.StringIO()), events=no_bus)
    assert status.state is WorkflowState.SUCCEEDED
    assert run.waits == [0.3, 0.3, 0.3, 0.3]
