"""`Admissions`: large workflows admitted a slice at a time, other events handled between.

Admitting a workflow of 100,000 tasks (making its task records, queueing its roots) takes
the scheduler a second or more. Done in one go, that second is a stall of every running
workflow: the runtime handles no outcome and dispatches nothing meanwhile. So a workflow
of more than ``SchedulerConfig.admission_slice_tasks`` tasks is admitted in slices of that
many; the runtime sends `AdmissionContinued` for each next slice once it has handled
what else happened (outcomes, ticks, other submissions).

What a workflow being admitted looks like, and why nothing is lost or doubled:

- It is validated whole before anything is kept (a bad workflow is refused, nothing
  kept), then registered at once: its id is taken, every task is counted (PENDING until
  made and queued) and its pools count its tasks, so none of them can be redefined.
- Then its task records are made, a slice at a time, each task's deadline armed as it is
  made; none runs, none is queued yet (a task could otherwise end before the records of
  its dependents exist). Once all are made, cached tasks succeed, and the tasks ready
  then (its roots) are queued, a slice at a time, those that left PENDING meanwhile (a
  deadline missed) skipped.
- Its status counts every task from the start: made or not, a task not yet queued is
  PENDING. A request that changes the workflow (cancel, pause, resume, edit, re-queue)
  first completes its admission in the same step (`complete`), then applies to it
  whole. A checkpoint taken meanwhile holds the tasks that left PENDING (the queued
  ones); restored, the workflow comes back whole with the rest queued again.
- A continuation for a workflow that is no longer being admitted does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from orchestrator.core import checkpoint_state
from orchestrator.core.admission import make_task_records
from orchestrator.core.commands import Command, PublishTaskEvents
from orchestrator.core.lifecycle import TaskLifecycle
from orchestrator.core.packed import TaskRow
from orchestrator.core.records import PoolRecord, TaskRecord, WorkflowRecord

#: Called once every task record of a workflow is made (the rank learner watches it).
OnBuilt = Callable[[WorkflowRecord], None]
#: Called with a workflow whose every task ended at admission (all cached).
Finish = Callable[[WorkflowRecord, list[Command]], None]
#: Arms the deadline of a task (`Timers.add_deadline`).
AddDeadline = Callable[[float, TaskRecord], None]


@dataclass(frozen=True, slots=True)
class TaskPools:
    """The pool of each row of a workflow: its key, and each key's pool record."""

    keys: Sequence[str]
    pools: Mapping[str, PoolRecord]

    def __getitem__(self, rows: slice) -> list[PoolRecord]:
        """Return the pool records of a slice of rows."""
        pools = self.pools
        return [pools[key] for key in self.keys[rows]]


@dataclass(slots=True, eq=False)
class Admission:
    """One workflow being admitted: where its slices are.

    Attributes:
        workflow: Its record, registered, its tasks counted.
        rows: Its rows, in order.
        task_pools: The pool of each row.
        ranks: Each task's rank (missing: 0).
        cached: Tasks that succeed at admission without running (their result is cached).
        now_s: When it was submitted (cached tasks succeed then).
        built: Rows whose task record is made.
        ready: The tasks ready once every record is made (None until then).
        released: How many of ``ready`` were queued.
    """

    workflow: WorkflowRecord
    rows: Sequence[TaskRow]
    task_pools: TaskPools
    ranks: Mapping[str, float]
    cached: tuple[str, ...]
    now_s: float
    built: int = 0
    ready: list[str] | None = None
    released: int = 0


class Admissions:
    """The workflows being admitted, by id, oldest first (see the module docstring).

    Args:
        life: Queues the ready tasks (`TaskLifecycle.release`).
        add_deadline: Arms a task's deadline.
        on_built: Told of each workflow whose records are all made.
        finish: Ends a workflow whose every task ended at admission (all cached).
    """

    def __init__(
        self, life: TaskLifecycle, add_deadline: AddDeadline, on_built: OnBuilt, finish: Finish
    ) -> None:
        self._life = life
        self._add_deadline = add_deadline
        self._on_built = on_built
        self._finish = finish
        self._under_way: dict[str, Admission] = {}

    def __contains__(self, workflow_id: object) -> bool:
        return workflow_id in self._under_way

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._under_way))

    def __len__(self) -> int:
        return len(self._under_way)

    def start(self, admission: Admission, slice_tasks: int | None, out: list[Command]) -> None:
        """Admit a registered workflow whole, or keep it for `advance` to admit in slices.

        Whole when it has ``slice_tasks`` tasks or fewer, or ``slice_tasks`` is None.
        """
        admission.workflow.unmade_tasks = len(admission.rows)
        if slice_tasks is None or len(admission.rows) <= slice_tasks:
            while not self._step(admission, len(admission.rows), out):
                pass
            return
        self._under_way[admission.workflow.workflow_id] = admission  # nothing made yet

    def advance(self, workflow_id: str, slice_tasks: int | None, out: list[Command]) -> None:
        """Admit the next slice of ``slice_tasks`` tasks (None: all the rest) of a workflow.

        A workflow not being admitted is left alone.
        """
        admission = self._under_way.get(workflow_id)
        if admission is None:
            return
        size = slice_tasks if slice_tasks is not None else len(admission.rows)
        done = self._step(admission, size, out)
        while slice_tasks is None and not done:
            done = self._step(admission, size, out)
        if done:
            del self._under_way[workflow_id]

    def complete(self, workflow_id: str, out: list[Command]) -> None:
        """Admit all that is left of a workflow at once (nothing if it is not being admitted)."""
        self.advance(workflow_id, None, out)

    def _step(self, admission: Admission, size: int, out: list[Command]) -> bool:
        """Make up to ``size`` records, or queue up to ``size`` ready tasks; return if done."""
        rows = admission.rows
        workflow = admission.workflow
        if admission.ready is None:
            start, end = admission.built, min(admission.built + size, len(rows))
            deadlined = make_task_records(
                workflow, rows[start:end], admission.task_pools[start:end], admission.ranks
            )
            for task in deadlined:
                self._add_deadline(task.deadline_s, task)
            admission.built = end
            workflow.unmade_tasks -= end - start
            if end < len(rows):
                return False
            if not self._built(admission, out):
                return True
            size -= end - start
            if size <= 0:
                return False
        assert admission.ready is not None
        start = admission.released
        end = min(start + size, len(admission.ready))
        self._life.release(workflow, admission.ready[start:end], out)
        admission.released = end
        return end >= len(admission.ready)

    def _built(self, admission: Admission, out: list[Command]) -> bool:
        """Every record is made: succeed the cached tasks; return whether any is to queue.

        None is when the workflow ended at admission (all cached), or nothing is ready.
        """
        workflow = admission.workflow
        self._on_built(workflow)
        if admission.cached:
            events = checkpoint_state.succeed_from_cache(
                workflow, admission.cached, admission.now_s
            )
            out.append(PublishTaskEvents(tuple(events)))
            if workflow.open_tasks == 0:
                self._finish(workflow, out)
                return False
        admission.ready = workflow.graph.ready()
        return bool(admission.ready)
