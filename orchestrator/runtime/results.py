"""`ResultStore`: the ObjectRefs of the results the supervisor holds, by workflow then task.

The results themselves stay in Ray's object store; holding a ref keeps its object alive,
so releasing a workflow drops all of its refs at once and lets Ray free the objects.
`fetch` reads values, for the checkpoints and the result cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ray

from orchestrator.core.commands import TaskEvent
from orchestrator.core.states import TaskState


class ResultStore:
    """Result refs of the workflows not yet released (a ref is an opaque ``Any`` here)."""

    def __init__(self) -> None:
        self._by_workflow: dict[str, dict[str, Any]] = {}

    def open(self, workflow_id: str) -> None:
        """Start holding results for a newly submitted workflow."""
        self._by_workflow[workflow_id] = {}

    def put(self, workflow_id: str, task_id: str, ref: Any) -> None:
        """Hold ``ref`` as the result of a task; ignored once its workflow is released.

        An attempt may finish after its workflow was released (e.g. cancelled, then
        released while a call was still running): its result is then not wanted.
        """
        results = self._by_workflow.get(workflow_id)
        if results is not None:
            results[task_id] = ref

    def accept(
        self,
        events: Iterable[TaskEvent],
        candidates: Mapping[tuple[str, str, int], Any],
    ) -> None:
        """Keep the results the scheduler accepted; drop those it declared void.

        A SUCCEEDED event names the attempt that counts: its candidate ref (if it came in
        this round) is kept. A PENDING event of a task means its result is void (it was
        lost and will be computed again): its ref is dropped. Candidates of attempts the
        scheduler did not accept (late, stale, repeated) are never kept.
        """
        for event in events:
            if event.state is TaskState.SUCCEEDED:
                ref = candidates.get((event.workflow_id, event.task_id, event.attempt))
                if ref is not None:
                    self.put(event.workflow_id, event.task_id, ref)
            elif event.state is TaskState.PENDING:
                self._by_workflow.get(event.workflow_id, {}).pop(event.task_id, None)

    def get(self, workflow_id: str, task_id: str) -> Any | None:
        """Return a task's result ref, or None if it has none (or the workflow is gone)."""
        return self._by_workflow.get(workflow_id, {}).get(task_id)

    def refs(self, workflow_id: str, task_ids: list[str]) -> dict[str, Any]:
        """Return the refs held for ``task_ids`` (those held), by task id."""
        held = self._by_workflow.get(workflow_id, {})
        return {task_id: held[task_id] for task_id in task_ids if task_id in held}

    @staticmethod
    def resolve(refs: dict[str, Any]) -> dict[str, Any]:
        """Return the values of ``refs`` by the same keys (blocks; any thread)."""
        return dict(zip(refs, ray.get(list(refs.values())), strict=True))

    def fetch(self, workflow_id: str, task_ids: list[str]) -> dict[str, Any]:
        """Return the values of the results held for ``task_ids`` (from Ray's object store).

        Blocks until they are read: they are results of finished calls, already stored.
        """
        refs = {task_id: self.get(workflow_id, task_id) for task_id in task_ids}
        held = {task_id: ref for task_id, ref in refs.items() if ref is not None}
        return dict(zip(held, ray.get(list(held.values())), strict=True))

    def of(self, workflow_id: str) -> Mapping[str, Any]:
        """Return the refs of one workflow by task id (hot path: no copy).

        Raises:
            KeyError: the workflow is unknown or released.
        """
        return self._by_workflow[workflow_id]

    def release(self, workflow_id: str) -> None:
        """Drop every ref of a workflow (unknown ids are ignored)."""
        self._by_workflow.pop(workflow_id, None)

    def __len__(self) -> int:
        """Return how many results are held, over all workflows."""
        return sum(len(results) for results in self._by_workflow.values())
