"""`PriorityTaskQueue`: the heapq "priority queue with removal" recipe.

Order: priority (lower first), then earliest deadline, then highest rank (longest remaining
chain of work), then submission order. Push and pop are O(log n); remove is O(1): the
entry is marked and skipped when it reaches the top.
"""

from __future__ import annotations

import heapq
import itertools
import math
import operator
from collections import Counter
from collections.abc import Hashable, Iterator, Sequence
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT", bound=Hashable)

_REMOVED: object = object()
#: `reprioritize_many` rebuilds the heap when more than 1/this of the items move.
_REBUILD_SHARE = 8
#: The priority an entry is queued at (its first field).
_PRIORITY_OF = operator.itemgetter(0)
#: The level of an (item, level) pair of `PriorityTaskQueue.levels`.
_LEVEL_OF = operator.itemgetter(1)


class PriorityTaskQueue(Generic[ItemT]):
    """A min-heap of items keyed by (priority, deadline, -rank, submission order)."""

    __slots__ = ("_counter", "_entries", "_heap")

    def __init__(self, counter: Iterator[int] | None = None) -> None:
        """Start empty.

        Args:
            counter: Where submission order numbers come from (several queues sharing
                one order them against each other); by default the queue's own.
        """
        self._heap: list[list[object]] = []
        self._entries: dict[ItemT, list[object]] = {}
        self._counter = itertools.count() if counter is None else counter

    def push(
        self,
        item: ItemT,
        priority: int,
        deadline_s: float = math.inf,
        rank: float = 0.0,
    ) -> None:
        """Add ``item``, or move it if it is already queued.

        Args:
            item: Any hashable value; each item is queued at most once.
            priority: Lower runs first (see `Priority`).
            deadline_s: Earlier runs first among equal priorities.
            rank: Larger runs first among equal priority and deadline.
        """
        if item in self._entries:
            self.remove(item)
        order = next(self._counter)
        # The fifth field only breaks ties between an entry and the stale copies that
        # `reprioritize` leaves (same order), so that items are never compared.
        entry: list[object] = [priority, deadline_s, -rank, order, order, item]
        self._entries[item] = entry
        heapq.heappush(self._heap, entry)

    def remove(self, item: ItemT) -> bool:
        """Drop ``item``; return whether it was queued."""
        entry = self._entries.pop(item, None)
        if entry is None:
            return False
        entry[-1] = _REMOVED
        return True

    def reprioritize(self, item: ItemT, priority: int) -> None:
        """Queue ``item`` at ``priority``, keeping its deadline, rank and place in order.

        Raises:
            KeyError: ``item`` is not queued.
        """
        entry = self._entries[item]
        entry[-1] = _REMOVED
        moved: list[object] = [priority, entry[1], entry[2], entry[3], next(self._counter), item]
        self._entries[item] = moved
        heapq.heappush(self._heap, moved)

    def reprioritize_many(self, moves: Sequence[tuple[ItemT, int]]) -> None:
        """`reprioritize` each (item, priority) of ``moves``.

        When many move, their levels change in place and the heap is rebuilt once: O(n)
        in C, no new entry per item (aging a 100,000-task backlog moved tens of
        thousands at once, each a new entry and a push).

        Raises:
            KeyError: an item is not queued (those before it have moved).
        """
        entries = self._entries
        if len(moves) * _REBUILD_SHARE < len(entries):
            for item, priority in moves:
                self.reprioritize(item, priority)
            return
        try:
            for item, priority in moves:
                entries[item][0] = priority
        finally:  # a heap again, whatever moved
            self._heap = list(entries.values())
            heapq.heapify(self._heap)

    def queued(self) -> list[tuple[ItemT, int]]:
        """Return each queued item with the priority it is queued at (no order)."""
        return list(self.levels())

    def levels(self) -> Iterator[tuple[ItemT, int]]:
        """Yield each queued item with the priority it is queued at (no order).

        Lazily, iterated in C: a pass over a large queue keeps no list of it alive (which
        would wake the garbage collector). Do not change the queue while iterating.
        """
        entries = self._entries  # keys and values iterate in the same order
        return zip(entries.keys(), map(_PRIORITY_OF, entries.values()), strict=True)

    def count_by_priority(self) -> Counter[int]:
        """Return how many items are queued at each priority (over `levels`).

        Counted in C, without building a list of the items: statistics of a pool with
        100,000 tasks waiting took 40-300 ms that way (the list's allocations woke the
        garbage collector), every metrics flush.
        """
        return Counter(map(_LEVEL_OF, self.levels()))

    def pop(self) -> ItemT:
        """Remove and return the first item. Raises `IndexError` when empty."""
        heap = self._heap
        while heap:
            item = heapq.heappop(heap)[-1]
            if item is not _REMOVED:
                del self._entries[item]  # type: ignore[arg-type]
                return item  # type: ignore[return-value]
        raise IndexError("pop from an empty PriorityTaskQueue")

    def peek(self) -> ItemT:
        """Return the first item without removing it. Raises `IndexError` when empty."""
        heap = self._heap
        while heap:
            item = heap[0][-1]
            if item is not _REMOVED:
                return item  # type: ignore[return-value]
            heapq.heappop(heap)
        raise IndexError("peek at an empty PriorityTaskQueue")

    def peek_key(self) -> tuple[int, float, float]:
        """Return (priority, deadline_s, -rank) of the first item. Raises `IndexError` if empty."""
        self.peek()
        entry = self._heap[0]
        return (entry[0], entry[1], entry[2])  # type: ignore[return-value]

    def peek_order_key(self) -> tuple[int, float, float, int]:
        """Return (priority, deadline_s, -rank, submission order) of the first item.

        Raises:
            IndexError: the queue is empty.
        """
        self.peek()
        entry = self._heap[0]
        return (entry[0], entry[1], entry[2], entry[3])  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def __contains__(self, item: object) -> bool:
        return item in self._entries
