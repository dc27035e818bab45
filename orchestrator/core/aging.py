"""Aging: a ready task gains priority as it waits, so no level starves.

The rule: a task that has been ready (queued for an agent) for ``aging_s`` seconds is
queued one priority level higher, and one more for each further ``aging_s``, up to HIGH:
CRITICAL stays for tasks submitted as critical. An aged task keeps its place among the
tasks of its new level as of when it became ready, so it goes before those that became
ready after it. Its reported priority (``TaskInfo.priority``) does not change. Aging is
checked every quarter of ``aging_s`` while tasks wait (``SchedulerConfig.aging_s``; None
turns it off).
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.core.records import PoolRecord
from orchestrator.core.specs import Priority

#: The highest level aging reaches.
HIGHEST_AGED = int(Priority.HIGH)


def age(pools: Iterable[PoolRecord], now_s: float, aging_s: float) -> list[PoolRecord]:
    """Move up the tasks that waited long enough; return the pools whose order changed."""
    changed = []
    for pool in pools:
        moved = False
        for queue in (pool.ready, pool.isolated):
            for task, queued_at in queue.queued():
                levels = int((now_s - task.ready_s) // aging_s)
                if levels <= 0:
                    continue
                target = max(HIGHEST_AGED, task.priority - levels)
                if target < queued_at:
                    queue.reprioritize(task, target)
                    moved = True
        if moved:
            changed.append(pool)
    return changed


def has_waiting(pools: Iterable[PoolRecord]) -> bool:
    """Return whether any task waits for an agent (aging then needs ticks)."""
    return any(pool.has_ready() for pool in pools)
