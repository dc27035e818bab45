"""Resource conflicts: tasks that read or write the same named resource never overlap.

A task declares what it ``reads`` and ``writes`` (files, tables, any name). Two tasks
conflict on a resource when at least one of them writes it. At run time the dispatcher
takes a task's locks all at once, or none (a `LockTable`): readers share a resource, a
writer has it alone; a task that cannot take all its locks waits, still READY, in the
queue of the first resource it found taken, and goes back to its pool's queue when that
resource is released. Taking all or nothing means no task ever holds one lock while
waiting for another: no deadlock. `find_conflicts` lists, at validation, the conflicting
pairs that the dependency graph does not order, which the locks will order at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from orchestrator.core.graph import TaskGraph
from orchestrator.core.packed import PackedWorkflow
from orchestrator.core.queue import PriorityTaskQueue
from orchestrator.core.records import PoolRecord, TaskRecord
from orchestrator.core.states import TaskState, WorkflowState

_READY = TaskState.READY


class Conflict(NamedTuple):
    """Two tasks the graph does not order that touch one resource, one of them writing."""

    first: str
    second: str
    resource: str
    kind: str  # "write/write" or "read/write"


def find_conflicts(spec: PackedWorkflow, graph: TaskGraph, limit: int = 1000) -> list[Conflict]:
    """Return the conflicting pairs of ``spec`` not ordered by ``graph`` (up to ``limit``)."""
    touching: dict[str, list[tuple[str, bool]]] = {}
    for row in spec.rows:
        extras = row.extras
        if extras is None:
            continue
        for name in extras.writes:
            touching.setdefault(name, []).append((row.id, True))
        for name in extras.reads:
            if name not in extras.writes:
                touching.setdefault(name, []).append((row.id, False))
    descendants: dict[str, set[str]] = {}

    def after(node: str) -> set[str]:
        if node not in descendants:
            descendants[node] = graph.descendants(node)
        return descendants[node]

    found: list[Conflict] = []
    for resource, tasks in sorted(touching.items()):
        for index, (first, first_writes) in enumerate(tasks):
            for second, second_writes in tasks[index + 1 :]:
                if not (first_writes or second_writes):
                    continue
                if second in after(first) or first in after(second):
                    continue  # the graph orders them already
                kind = "write/write" if first_writes and second_writes else "read/write"
                found.append(Conflict(first, second, resource, kind))
                if len(found) >= limit:
                    return found
    return found


@dataclass(slots=True, eq=False)
class _Lock:
    readers: int = 0
    writer: bool = False
    waiting: PriorityTaskQueue[TaskRecord] = field(default_factory=PriorityTaskQueue)


class LockTable:
    """The locks of named resources (see the module docstring)."""

    __slots__ = ("_locks",)

    def __init__(self) -> None:
        """Start with every resource free."""
        self._locks: dict[str, _Lock] = {}

    def acquire(self, task: TaskRecord) -> bool:
        """Take all of ``task``'s locks and return True, or none: it then waits (False)."""
        extras = task.extras
        assert extras is not None
        locks = self._locks
        for name in extras.writes:
            lock = locks.setdefault(name, _Lock())
            if lock.writer or lock.readers:
                lock.waiting.push(task, task.priority, task.deadline_s, task.rank)
                return False
        for name in extras.reads:
            lock = locks.setdefault(name, _Lock())
            if lock.writer:
                lock.waiting.push(task, task.priority, task.deadline_s, task.rank)
                return False
        for name in extras.writes:
            locks[name].writer = True
        for name in extras.reads:
            if name not in extras.writes:
                locks[name].readers += 1
        return True

    def release(self, task: TaskRecord, dirty: set[PoolRecord]) -> None:
        """Give ``task``'s locks back; the tasks waiting for them go back to their queues."""
        extras = task.extras
        assert extras is not None
        for name in (*extras.writes, *extras.reads):
            lock = self._locks.get(name)
            if lock is None:
                continue
            if name in extras.writes:
                lock.writer = False
            elif lock.readers:
                lock.readers -= 1
            while lock.waiting:  # they try again at the next dispatch
                waiting = lock.waiting.pop()
                if waiting.state is not _READY:
                    continue
                if waiting.workflow.state is WorkflowState.PAUSED:
                    waiting.workflow.parked.append(waiting)
                    continue
                pool = waiting.pool
                pool.queue_of(waiting).push(
                    waiting, waiting.priority, waiting.deadline_s, waiting.rank
                )
                dirty.add(pool)

    def held(self) -> dict[str, str]:
        """Return each resource taken and how (``write`` or ``read``), for statistics."""
        return {
            name: "write" if lock.writer else "read"
            for name, lock in self._locks.items()
            if lock.writer or lock.readers
        }
