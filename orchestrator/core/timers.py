"""`Timers`: what the scheduler must do at a given time, retries and attempt timeouts.

Two heaps (heapq) of plain tuples. An entry is never removed when it stops mattering (the
retried task was cancelled, the attempt ended); it goes stale and is skipped when it
reaches the top, the heapq recipe's lazy deletion. Whether an entry is stale is decided
in one place, `_head`, for `next_due_s` and for the ``due_*`` iterators alike. Staleness is
permanent (attempt ids are never reused and a task's attempt count only grows), so a stale
entry may be dropped early.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from typing import TypeVar

from orchestrator.core.records import InFlight, TaskRecord
from orchestrator.core.states import TaskState

_RETRY_WAIT = TaskState.RETRY_WAIT
_CANCELLED = TaskState.CANCELLED

#: (due_s, sequence, task, its attempts when the retry was scheduled)
_Retry = tuple[float, int, TaskRecord, int]
#: (due_s, attempt_id, task)
_Timeout = tuple[float, int, TaskRecord]
_EntryT = TypeVar("_EntryT", _Retry, _Timeout)


class Timers:
    """Retries waiting out their backoff and attempts that may run past their timeout."""

    __slots__ = ("_in_flight", "_retries", "_sequence", "_timeouts")

    def __init__(self, in_flight: InFlight) -> None:
        """Keep timers that tell stale from live by ``in_flight``, the scheduler's own."""
        self._in_flight = in_flight
        self._retries: list[_Retry] = []
        self._timeouts: list[_Timeout] = []
        self._sequence = itertools.count()

    def add_retry(self, due_s: float, task: TaskRecord) -> None:
        """Make ``task`` ready again at ``due_s``, unless it has moved on by then."""
        heapq.heappush(self._retries, (due_s, next(self._sequence), task, task.attempts))

    def add_timeout(self, due_s: float, attempt_id: int, task: TaskRecord) -> None:
        """Time attempt ``attempt_id`` of ``task`` out at ``due_s``, unless it ended by then."""
        heapq.heappush(self._timeouts, (due_s, attempt_id, task))

    def due_timeouts(self, now_s: float) -> Iterator[tuple[int, TaskRecord]]:
        """Yield (attempt id, task) of each live timeout due by ``now_s``, earliest first.

        An attempt is live while its task still waits for its outcome (the task is
        RUNNING), or while it was cancelled but still occupies its agent (CANCELLED):
        that agent must then be stopped. Each entry is judged when it is reached, so what
        the caller does for one entry is seen by the next.
        """
        heap = self._timeouts
        while (head := self._head(heap, self._timeout_live)) is not None and head[0] <= now_s:
            heapq.heappop(heap)
            yield head[1], head[2]

    def due_retries(self, now_s: float) -> Iterator[TaskRecord]:
        """Yield each task whose retry is due by ``now_s`` and still waits for it."""
        heap = self._retries
        while (head := self._head(heap, _retry_live)) is not None and head[0] <= now_s:
            heapq.heappop(heap)
            yield head[2]

    def next_due_s(self) -> float | None:
        """Return when the earliest live timer is due, or None when none is."""
        retry = self._head(self._retries, _retry_live)
        timeout = self._head(self._timeouts, self._timeout_live)
        if retry is None:
            return timeout[0] if timeout is not None else None
        return retry[0] if timeout is None else min(retry[0], timeout[0])

    def __len__(self) -> int:
        """Return the entries held, stale ones included (for tests and statistics)."""
        return len(self._retries) + len(self._timeouts)

    @staticmethod
    def _head(heap: list[_EntryT], live: Callable[[_EntryT], bool]) -> _EntryT | None:
        """Drop stale entries from the top of ``heap``; return the live top, or None."""
        while heap:
            if live(heap[0]):
                return heap[0]
            heapq.heappop(heap)
        return None

    def _timeout_live(self, entry: _Timeout) -> bool:
        _, attempt_id, task = entry
        in_flight = self._in_flight
        if in_flight.tasks.get(attempt_id) is task:
            return True
        return task.state is _CANCELLED and attempt_id in in_flight.calls


def _retry_live(entry: _Retry) -> bool:
    _, _, task, attempts = entry
    return task.state is _RETRY_WAIT and task.attempts == attempts
