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

from collections.abc import Iterable

from orchestrator.core.records import PoolRecord
from orchestrator.core.specs import Priority

#: The highest level aging reaches.
HIGHEST_AGED = int(Priority.HIGH)


def age(pools: Iterable[PoolRecord], now_s: float, aging_s: float) -> list[PoolRecord]:
    """Re-level the waiting tasks by age; return the pools whose order changed.

    Tasks that waited long enough move up; those lifted above what now waits move back
    down (see the module docstring).
    """
    changed = []
    for pool in pools:
        moved = False
        waiting = [(queue, queue.queued()) for queue in (pool.ready, pool.isolated)]
        urgent = min((task.priority for _, queued in waiting for task, _ in queued), default=0)
        ceiling = max(HIGHEST_AGED, urgent)  # no higher than the most urgent waiting work
        for queue, queued in waiting:
            for task, queued_at in queued:
                levels = int((now_s - task.ready_s) // aging_s)
                target = min(task.priority, max(ceiling, task.priority - levels))
                if target != queued_at:
                    queue.reprioritize(task, target)
                    moved = True
        if moved:
            changed.append(pool)
    return changed


def has_waiting(pools: Iterable[PoolRecord]) -> bool:
    """Return whether any task waits for an agent (aging then needs ticks)."""
    return any(pool.has_ready() for pool in pools)
