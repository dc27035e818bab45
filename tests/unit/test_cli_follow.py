"""``status --follow``'s source of updates: a change is told once, and it stops at the end."""

from __future__ import annotations

from orchestrator.cli_observe import status_updates
from orchestrator.core.states import TaskState, WorkflowState
from orchestrator.core.status import WorkflowStatus


def _status(state: WorkflowState, **counts: int) -> WorkflowStatus:
    return WorkflowStatus(
        workflow_id="wf",
        name="wf",
        state=state,
        total=3,
        counts={TaskState(k): v for k, v in counts.items()},
        submitted_s=0.0,
    )


def test_each_change_is_yielded_once_and_the_end_stops_the_updates() -> None:
    running = WorkflowState.RUNNING
    snapshots = [
        _status(running, ready=3),
        _status(running, ready=3),  # no change: nothing told
        _status(running, running=1, ready=2),
        _status(running, running=1, ready=2),
        _status(WorkflowState.SUCCEEDED, succeeded=3),
        _status(WorkflowState.SUCCEEDED, succeeded=3),  # never read: it had ended
    ]
    reads = iter(snapshots)
    sleeps: list[float] = []
    updates = list(status_updates(lambda: [next(reads)], interval_s=0.25, sleep=sleeps.append))
    assert [[s.counts for s in update] for update in updates] == [
        [{TaskState.READY: 3}],
        [{TaskState.RUNNING: 1, TaskState.READY: 2}],
        [{TaskState.SUCCEEDED: 3}],
    ]
    assert sleeps == [0.25] * 4  # polled until the end, then no more
    assert next(reads).state is WorkflowState.SUCCEEDED  # the last one was left unread


def test_a_finished_workflow_is_told_once() -> None:
    done = _status(WorkflowState.FAILED, failed=1, succeeded=2)
    updates = list(status_updates(lambda: [done], sleep=lambda _: None))
    assert updates == [[done]]
