"""`WorkflowBook`: the workflows the scheduler keeps, running and finished, until released.

A finished workflow is kept (and its results, on the runtime's side) until a user releases
it or, oldest first, until more than ``max_finished`` have finished; releasing it drops
its dead letters too. A finished workflow whose dead letters are re-queued runs again.
"""

from __future__ import annotations

from collections import deque

from orchestrator.core.commands import Command, PublishWorkflowEvent, ReleaseWorkflow
from orchestrator.core.dead_letters import DeadLetterQueue
from orchestrator.core.records import WorkflowRecord
from orchestrator.core.states import WorkflowState


class WorkflowBook:
    """Workflows by id, oldest first, and the order in which they finished."""

    def __init__(self, dead_letters: DeadLetterQueue, max_finished: int) -> None:
        """Keep at most ``max_finished`` finished workflows; forget their dead letters."""
        self.workflows: dict[str, WorkflowRecord] = {}
        self._finished: deque[str] = deque()
        self._dead_letters = dead_letters
        self._max_finished = max_finished

    def add(self, workflow: WorkflowRecord) -> None:
        """Keep a newly admitted workflow."""
        self.workflows[workflow.workflow_id] = workflow

    def still_running(self, workflow_id: str) -> bool:
        """Return whether a workflow is kept and has not finished (paused counts)."""
        workflow = self.workflows.get(workflow_id)
        return workflow is not None and not workflow.state.is_terminal

    def require(self, workflow_id: str) -> WorkflowRecord:
        """Return a kept workflow. Raises `KeyError` naming an unknown id."""
        workflow = self.workflows.get(workflow_id)
        if workflow is None:
            raise KeyError(f"no workflow {workflow_id!r}")
        return workflow

    def close(self, workflow: WorkflowRecord, now_s: float, out: list[Command]) -> None:
        """Record that ``workflow`` ended at ``now_s``; publish it; release the oldest kept."""
        workflow.state = state = workflow.outcome()
        workflow.finished_s = now_s
        summary = ", ".join(f"{s.value}={n}" for s, n in workflow.counts.items() if n)
        out.append(
            PublishWorkflowEvent(workflow_id=workflow.workflow_id, state=state, message=summary)
        )
        self._finished.append(workflow.workflow_id)
        while len(self._finished) > self._max_finished:
            self._drop(self._finished[0], out)

    def keep_finished(self, workflow: WorkflowRecord) -> None:
        """Keep a restored ``workflow`` that had finished (its end was published then)."""
        self._finished.append(workflow.workflow_id)

    def release(self, workflow_id: str, out: list[Command]) -> None:
        """Forget a finished workflow, its results and its dead letters.

        Raises:
            KeyError: unknown workflow.
            ValueError: it is still running.
        """
        if not self.require(workflow_id).state.is_terminal:
            raise ValueError(f"workflow {workflow_id!r} is still running; cancel it first")
        self._drop(workflow_id, out)

    def reopen(self, workflow: WorkflowRecord, message: str, out: list[Command]) -> None:
        """Make a finished ``workflow`` run again (published), e.g. for re-queued tasks."""
        if not workflow.state.is_terminal:
            return
        workflow.state = WorkflowState.RUNNING
        workflow.finished_s = None
        self._finished.remove(workflow.workflow_id)
        out.append(
            PublishWorkflowEvent(
                workflow_id=workflow.workflow_id, state=WorkflowState.RUNNING, message=message
            )
        )

    def _drop(self, workflow_id: str, out: list[Command]) -> None:
        self._dead_letters.forget(workflow_id)
        del self.workflows[workflow_id]
        self._finished.remove(workflow_id)
        out.append(ReleaseWorkflow(workflow_id=workflow_id))
