"""`Timers`: what the scheduler must do at a given time.

Retries after their backoff; attempts past their timeout; attempts silent for longer than
their heartbeat timeout; tasks past their schedule-to-close time; deferred tasks whose
start time came; tasks whose deadline passed. Heaps (heapq) of plain
tuples, one per kind. An entry is never removed when it stops mattering (the
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
_PENDING = TaskState.PENDING
_CANCELLED = TaskState.CANCELLED

#: (due_s, sequence, task, its attempts when the retry was scheduled)
_Retry = tuple[float, int, TaskRecord, int]
#: (due_s, attempt_id, task): timeouts and silences (heartbeat timeouts) of attempts
_Timeout = tuple[float, int, TaskRecord]
#: (due_s, sequence, task): schedule-to-close deadlines of tasks
_Close = tuple[float, int, TaskRecord]
_EntryT = TypeVar("_EntryT", _Retry, _Timeout)


class Timers:
    """Retries waiting out their backoff and attempts that may run past their timeout."""

    __slots__ = (
        "_closes",
        "_deadlines",
        "_in_flight",
        "_retries",
        "_sequence",
        "_silences",
        "_starts",
        "_timeouts",
    )

    def __init__(self, in_flight: InFlight) -> None:
        """Keep timers that tell stale from live by ``in_flight``, the scheduler's own."""
        self._in_flight = in_flight
        self._retries: list[_Retry] = []
        self._timeouts: list[_Timeout] = []
        self._silences: list[_Timeout] = []
        self._closes: list[_Close] = []
        self._starts: list[_Close] = []
        self._deadlines: list[_Close] = []
        self._sequence = itertools.count()

    def add_retry(self, due_s: float, task: TaskRecord) -> None:
        """Make ``task`` ready again at ``due_s``, unless it has moved on by then."""
        heapq.heappush(self._retries, (due_s, next(self._sequence), task, task.attempts))

    def add_timeout(self, due_s: float, attempt_id: int, task: TaskRecord) -> None:
        """Time attempt ``attempt_id`` of ``task`` out at ``due_s``, unless it ended by then."""
        heapq.heappush(self._timeouts, (due_s, attempt_id, task))

    def add_silence(self, due_s: float, attempt_id: int, task: TaskRecord) -> None:
        """Check at ``due_s`` that attempt ``attempt_id`` reported progress lately."""
        heapq.heappush(self._silences, (due_s, attempt_id, task))

    def add_close(self, due_s: float, task: TaskRecord) -> None:
        """Fail ``task`` at ``due_s`` unless it has ended by then (schedule-to-close)."""
        heapq.heappush(self._closes, (due_s, next(self._sequence), task))

    def add_start(self, due_s: float, task: TaskRecord) -> None:
        """Make deferred ``task`` (waiting, its dependencies done) ready at ``due_s``."""
        heapq.heappush(self._starts, (due_s, next(self._sequence), task))

    def add_deadline(self, due_s: float, task: TaskRecord) -> None:
        """Check at ``due_s`` (its deadline) whether ``task`` has ended."""
        heapq.heappush(self._deadlines, (due_s, next(self._sequence), task))

    def due_starts(self, now_s: float) -> Iterator[TaskRecord]:
        """Yield each deferred task still waiting whose start time came by ``now_s``."""
        heap = self._starts
        while (head := self._head(heap, _waiting)) is not None and head[0] <= now_s:
            heapq.heappop(heap)
            yield head[2]

    def due_deadlines(self, now_s: float) -> Iterator[TaskRecord]:
        """Yield each unfinished task whose deadline passed by ``now_s``."""
        heap = self._deadlines
        while (head := self._head(heap, _open)) is not None and head[0] <= now_s:
            heapq.heappop(heap)
            yield head[2]

    def due_silences(self, now_s: float) -> Iterator[tuple[int, TaskRecord]]:
        """Yield (attempt id, task) of each attempt whose silence check is due by ``now_s``."""
        heap = self._silences
        while (head := self._head(heap, self._running)) is not None and head[0] <= now_s:
            heapq.heappop(heap)
            yield head[1], head[2]

    def due_closes(self, now_s: float) -> Iterator[TaskRecord]:
        """Yield each unfinished task whose schedule-to-close time is due by ``now_s``."""
        heap = self._closes
        while (head := self._head(heap, _open)) is not None and head[0] <= now_s:
            heapq.heappop(heap)
            yield head[2]

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
        heads = (
            self._head(self._retries, _retry_live),
            self._head(self._timeouts, self._timeout_live),
            self._head(self._silences, self._running),
            self._head(self._closes, _open),
            self._head(self._starts, _waiting),
            self._head(self._deadlines, _open),
        )
        return min((head[0] for head in heads if head is not None), default=None)

    def __len__(self) -> int:
        """Return the entries held, stale ones included (for tests and statistics)."""
        heaps = (
            self._retries,
            self._timeouts,
            self._silences,
            self._closes,
            self._starts,
            self._deadlines,
        )
        return sum(len(heap) for heap in heaps)

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

    def _running(self, entry: _Timeout) -> bool:
        _, attempt_id, task = entry
        return self._in_flight.tasks.get(attempt_id) is task


def _open(entry: _Close) -> bool:
    return not entry[2].state.is_terminal


def _waiting(entry: _Close) -> bool:
    return entry[2].state is _PENDING


def _retry_live(entry: _Retry) -> bool:
    _, _, task, attempts = entry
    return task.state is _RETRY_WAIT and task.attempts == attempts
