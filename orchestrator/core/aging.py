"""Aging: a ready task gains priority as it waits, so no level starves.

The rule: a task that has been ready (queued for an agent) for ``aging_s`` seconds is
queued one priority level higher, and one more for each further ``aging_s``, up to HIGH:
CRITICAL stays for tasks submitted as critical. An aged task keeps its place among the
tasks of its new level as of when it became ready, so it goes before those that became
ready after it. Its reported priority (``TaskInfo.priority``) does not change. Aging is
checked every quarter of ``aging_s`` while tasks wait (``SchedulerConfig.aging_s``; None
turns it off).

Aging overtakes more urgent work only: it never lifts a task above the (own) priority of
the most urgent task waiting in its pool at the check, and a task lifted earlier goes
back down to that level once the more urgent work is gone. So a backlog of one level
never jumps ahead of work of its own level that came later: among equals the pool is
shared by weight (`fair_queue`), and a 100,000-task workflow waiting for minutes does
not shut out a small one submitted after it.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable

from orchestrator.core.fair_queue import FairTaskQueue
from orchestrator.core.queue import PriorityTaskQueue
from orchestrator.core.records import PoolRecord, TaskRecord
from orchestrator.core.specs import Priority

#: The highest level aging reaches.
HIGHEST_AGED = int(Priority.HIGH)

_Queue = FairTaskQueue[TaskRecord] | PriorityTaskQueue[TaskRecord]
_TASK = operator.itemgetter(0)
_OWN_PRIORITY = operator.attrgetter("priority")


def age(pools: Iterable[PoolRecord], now_s: float, aging_s: float) -> list[PoolRecord]:
    """Re-level the waiting tasks by age; return the pools whose order changed.

    Tasks that waited long enough move up; those lifted above what now waits move back
    down (see the module docstring).
    """
    changed = []
    for pool in pools:
        queues = (pool.ready, pool.isolated)
        if not (queues[0] or queues[1]):
            continue
        # Passes over the queues without lists of their tasks: with 100,000 waiting, the
        # lists woke the garbage collector and a check held the scheduler up to 0.5 s.
        waiting = itertools.chain(queues[0].levels(), queues[1].levels())
        urgent = min(map(_OWN_PRIORITY, map(_TASK, waiting)))  # a pass in C
        ceiling = max(HIGHEST_AGED, urgent)  # no higher than the most urgent waiting work
        moved = False
        for queue in queues:
            moves = _moves(queue, ceiling, now_s, aging_s)
            if moves:
                queue.reprioritize_many(moves)
                moved = True
        if moved:
            changed.append(pool)
    return changed


def _moves(
    queue: _Queue, ceiling: int, now_s: float, aging_s: float
) -> list[tuple[TaskRecord, int]]:
    """Return (task, level) for each task of ``queue`` to queue at another level."""
    moves = []
    for task, queued_at in queue.levels():
        priority = task.priority
        if priority <= ceiling:  # never lifted: at its own level
            if queued_at != priority:
                moves.append((task, priority))
            continue
        target = max(ceiling, priority - int((now_s - task.ready_s) // aging_s))
        if target != queued_at:
            moves.append((task, target))
    return moves


def has_waiting(pools: Iterable[PoolRecord]) -> bool:
    """Return whether any task waits for an agent (aging then needs ticks)."""
    return any(pool.has_ready() for pool in pools)
