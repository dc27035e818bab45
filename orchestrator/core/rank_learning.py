"""`RankLearner`: re-rank running workflows as the durations of their kinds are learnt.

A workflow submitted without estimates is first ranked by what the `DurationBook` knew
then (for a first run of its kinds: one unit per task, its longest chain of tasks). Once
a kind of its tasks ends for the first time, or its learned duration moves by over a
quarter, the ranks of its open tasks are computed again from the learned durations and
its ready tasks re-queued in the new order. So the critical path of a workflow without
estimates is found while it runs, after one task of each kind ended.

The cost is one pass over the workflow's graph per change of a kind it has; the kinds of
a workflow change a few times (first sample, then large moves only), and workflows over
`MAX_TASKS` tasks keep their first ranks.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core.admission import normalised_ranks
from orchestrator.core.durations import DurationBook, task_kind
from orchestrator.core.records import PoolRecord, WorkflowRecord
from orchestrator.core.states import TaskState

#: Workflows with more tasks are not re-ranked (one pass over the graph each time).
MAX_TASKS = 20_000

_READY = TaskState.READY


class RankLearner:
    """The workflows ranked in part without estimates, and the kinds each one waits on."""

    __slots__ = ("_book", "_kinds", "_workflows", "reranks")

    def __init__(self, book: DurationBook) -> None:
        """Re-rank from what ``book`` learns."""
        self._book = book
        #: Kind -> the workflows with open tasks of it that have no estimate.
        self._kinds: dict[str, set[WorkflowRecord]] = {}
        self._workflows: dict[WorkflowRecord, set[str]] = {}
        #: How many times a workflow was re-ranked (for tests and statistics).
        self.reranks = 0

    def watch(self, workflow: WorkflowRecord) -> None:
        """Re-rank ``workflow`` when a kind of its tasks without estimate is learnt."""
        if len(workflow.tasks) > MAX_TASKS or workflow in self._workflows:
            return
        kinds = {task_kind(task) for task in workflow.tasks.values() if task.estimate_s is None}
        if not kinds:
            return
        self._workflows[workflow] = kinds
        for kind in kinds:
            self._kinds.setdefault(kind, set()).add(workflow)

    def due(self) -> bool:
        """Return whether a learned duration changed since the last `rerank`."""
        return bool(self._book.changed)

    def rerank(self, dirty: set[PoolRecord]) -> None:
        """Re-rank the watched workflows with a kind that changed; forget ended ones.

        Args:
            dirty: Where the pools whose queue order changed are added.
        """
        changed, self._book.changed = self._book.changed, set()
        affected: set[WorkflowRecord] = set()
        for kind in changed:
            affected.update(self._kinds.get(kind, ()))
        for workflow in affected:
            if workflow.open_tasks == 0:
                self.forget(workflow)
            else:
                self._rerank(workflow, dirty)

    def forget(self, workflow: WorkflowRecord) -> None:
        """Stop watching ``workflow``."""
        for kind in self._workflows.pop(workflow, ()):
            watchers = self._kinds.get(kind)
            if watchers is not None:
                watchers.discard(workflow)
                if not watchers:
                    del self._kinds[kind]

    def forget_ended(self, workflows: Iterable[WorkflowRecord]) -> None:
        """Stop watching those of ``workflows`` that have no open task left."""
        for workflow in [w for w in workflows if w.open_tasks == 0 and w in self._workflows]:
            self.forget(workflow)

    def _rerank(self, workflow: WorkflowRecord, dirty: set[PoolRecord]) -> None:
        self.reranks += 1
        book = self._book
        weights: dict[str, float] = {}
        for task_id, task in workflow.tasks.items():
            estimate_s = task.estimate_s
            if estimate_s is None:
                estimate_s = book.estimate_s(task_kind(task))
            if estimate_s is not None:
                weights[task_id] = estimate_s
        ranks = normalised_ranks(workflow.graph, weights)
        tasks = workflow.tasks
        for task_id, rank in ranks.items():
            found = tasks.get(task_id)
            if found is None or found.rank == rank or found.state.is_terminal:
                continue
            task = found
            task.rank = rank
            if task.state is _READY and task in task.pool.ready:
                task.pool.ready.push(task, task.priority, task.deadline_s, rank)
                dirty.add(task.pool)
