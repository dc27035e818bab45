"""`RankLearner`: re-rank running workflows as the durations of their kinds are learnt.

A workflow submitted without estimates is first ranked by what the `DurationBook` knew
then (for a first run of its kinds: one unit per task, its longest chain of tasks). Once
a kind ends for the first time, or a learned duration moves by over a quarter, the ranks
of its open tasks are computed again from the learned durations and its ready tasks
re-queued in the new order. So the critical path of a workflow without
estimates is found while it runs, after one task of each kind ended.

The cost is one pass over the workflow's graph per re-ranking, and re-rankings are rationed
(see `RankLearner.rerank`); workflows over `MAX_TASKS` tasks keep their first ranks.
"""

from __future__ import annotations

from orchestrator.core.admission import normalised_ranks
from orchestrator.core.durations import DurationBook
from orchestrator.core.records import PoolRecord, WorkflowRecord, is_independent
from orchestrator.core.states import TaskState

#: Workflows with more tasks are not re-ranked (one pass over the graph each time).
MAX_TASKS = 20_000
#: Re-rankings of a workflow because a kind was first learnt, at most.
EARLY_RERANKS = 4

_READY = TaskState.READY


class RankLearner:
    """The workflows ranked in part without estimates, re-ranked as durations are learnt."""

    __slots__ = ("_book", "_workflows", "reranks")

    def __init__(self, book: DurationBook) -> None:
        """Re-rank from what ``book`` learns."""
        self._book = book
        #: Watched workflow -> (its open tasks when last ranked, times re-ranked).
        self._workflows: dict[WorkflowRecord, tuple[int, int]] = {}
        #: How many times a workflow was re-ranked (for tests and statistics).
        self.reranks = 0

    def watch(self, workflow: WorkflowRecord) -> None:
        """Re-rank ``workflow`` as durations are learnt, if some task of it has no estimate.

        Not a workflow of independent tasks: every rank is its own duration over the
        longest, and tasks of one kind (most often all of them) rank alike whatever it is.
        """
        if len(workflow.tasks) > MAX_TASKS or workflow in self._workflows:
            return
        tasks = workflow.tasks.values()
        if not is_independent(workflow) and any(task.estimate_s is None for task in tasks):
            self._workflows[workflow] = (workflow.open_tasks, 0)

    def due(self) -> bool:
        """Return whether a learned duration changed since the last `rerank`."""
        return bool(self._book.changed)

    def rerank(self, dirty: set[PoolRecord]) -> None:
        """Re-rank the watched workflows a learned change may reorder; forget ended ones.

        A workflow is re-ranked when a kind was first learnt (its first `EARLY_RERANKS`
        times: the first samples of its kinds matter most), or when an eighth of the tasks
        open at its last ranking ended since: at most about 8 ln(n) passes over a workflow
        of n tasks, however often durations move.

        Args:
            dirty: Where the pools whose queue order changed are added.
        """
        book = self._book
        new_kinds = book.new_kinds
        book.changed = set()
        book.new_kinds = False
        for workflow, (ranked_open, reranks) in list(self._workflows.items()):
            open_now = workflow.open_tasks
            if open_now == 0:
                del self._workflows[workflow]
            elif (new_kinds and reranks < EARLY_RERANKS) or (
                (ranked_open - open_now) * 8 >= ranked_open
            ):
                self._rerank(workflow, dirty)
                self._workflows[workflow] = (open_now, reranks + 1)

    def forget(self, workflow: WorkflowRecord) -> None:
        """Stop watching ``workflow``."""
        self._workflows.pop(workflow, None)

    def _rerank(self, workflow: WorkflowRecord, dirty: set[PoolRecord]) -> None:
        self.reranks += 1
        book = self._book
        weights: dict[str, float] = {}
        for task_id, task in workflow.tasks.items():
            expected_s = book.expected_s(task)
            if expected_s is not None:
                weights[task_id] = expected_s
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
