"""`PriorityTaskQueue`: priority, then deadline, then rank, then FIFO; O(1) removal."""

from __future__ import annotations

import math
import random

import pytest

from orchestrator.core import Priority, PriorityTaskQueue
from orchestrator.core.queue import ItemT


def drain(queue: PriorityTaskQueue[ItemT]) -> list[ItemT]:
    """Pop everything."""
    return [queue.pop() for _ in range(len(queue))]


@pytest.mark.parametrize(
    ("pushes", "expected"),
    [
        # (item, priority, deadline_s, rank)
        pytest.param(
            [("bg", 4, math.inf, 0), ("crit", 0, math.inf, 0), ("med", 2, math.inf, 0)],
            ["crit", "med", "bg"],
            id="priority",
        ),
        pytest.param(
            [("late", 1, 20.0, 0), ("none", 1, math.inf, 0), ("early", 1, 10.0, 0)],
            ["early", "late", "none"],
            id="deadline-within-priority",
        ),
        pytest.param(
            [("low-early", 3, 1.0, 0), ("high-late", 1, 99.0, 0)],
            ["high-late", "low-early"],
            id="priority-beats-deadline",
        ),
        pytest.param(
            [("short", 2, 5.0, 1.0), ("long", 2, 5.0, 7.0), ("mid", 2, 5.0, 3.0)],
            ["long", "mid", "short"],
            id="higher-rank-first",
        ),
        pytest.param(
            [("ranked-late", 2, 9.0, 100.0), ("unranked-early", 2, 1.0, 0.0)],
            ["unranked-early", "ranked-late"],
            id="deadline-beats-rank",
        ),
        pytest.param(
            [
                ("first", 2, math.inf, 1.0),
                ("second", 2, math.inf, 1.0),
                ("third", 2, math.inf, 1.0),
            ],
            ["first", "second", "third"],
            id="fifo-on-ties",
        ),
    ],
)
def test_order(pushes: list[tuple[str, int, float, float]], expected: list[str]) -> None:
    queue: PriorityTaskQueue[str] = PriorityTaskQueue()
    for item, priority, deadline_s, rank in pushes:
        queue.push(item, priority, deadline_s, rank)
    assert queue.peek() == expected[0]
    assert drain(queue) == expected


def test_removed_items_never_come_out() -> None:
    queue: PriorityTaskQueue[str] = PriorityTaskQueue()
    for index, item in enumerate("abcde"):
        queue.push(item, Priority.MEDIUM, rank=-index)
    assert queue.remove("a") is True  # the head
    assert queue.remove("c") is True
    assert queue.remove("c") is False  # already gone
    assert queue.remove("zzz") is False
    assert len(queue) == 3
    assert "c" not in queue
    assert "b" in queue
    assert queue.peek() == "b"
    assert drain(queue) == ["b", "d", "e"]
    assert not queue


def test_remove_is_constant_time() -> None:
    # The recipe's O(1) removal marks the entry and leaves the heap as it is: no search,
    # no deletion, no re-heapify. Checked on the structure, as timing tests are flaky.
    queue: PriorityTaskQueue[int] = PriorityTaskQueue()
    for item in range(1000):
        queue.push(item, item % 5)
    heap = queue._heap
    keys_before = [tuple(entry[:4]) for entry in heap]
    assert queue.remove(500)
    assert queue._heap is heap
    assert [tuple(entry[:4]) for entry in heap] == keys_before
    assert sum(1 for entry in heap if entry[-1] == 500) == 0
    assert 500 not in queue


def test_push_again_moves_the_item() -> None:
    queue: PriorityTaskQueue[str] = PriorityTaskQueue()
    queue.push("a", Priority.LOW)
    queue.push("b", Priority.MEDIUM)
    queue.push("a", Priority.CRITICAL)  # reprioritised
    assert len(queue) == 2
    assert drain(queue) == ["a", "b"]
    queue.push("x", Priority.HIGH)
    queue.push("y", Priority.HIGH)
    queue.push("x", Priority.HIGH)  # same key again: goes behind y (new submission)
    assert drain(queue) == ["y", "x"]


@pytest.mark.parametrize("method", ["pop", "peek", "peek_key"])
def test_empty_queue_raises_index_error(method: str) -> None:
    queue: PriorityTaskQueue[str] = PriorityTaskQueue()
    with pytest.raises(IndexError):
        getattr(queue, method)()
    queue.push("a", 1)
    queue.remove("a")  # only a removed entry left in the heap
    with pytest.raises(IndexError):
        getattr(queue, method)()


def test_peek_key() -> None:
    queue: PriorityTaskQueue[str] = PriorityTaskQueue()
    queue.push("a", 3, 12.0, 2.5)
    queue.push("b", 1, 40.0, 1.0)
    assert queue.peek_key() == (1, 40.0, -1.0)
    queue.remove("b")
    assert queue.peek_key() == (3, 12.0, -2.5)


@pytest.mark.parametrize("seed", range(4))
def test_matches_sorted_under_random_operations(seed: int) -> None:
    # A model-based test: the queue must pop exactly what sorted() says, through random
    # pushes, re-pushes, removals and pops.
    rng = random.Random(seed)
    queue: PriorityTaskQueue[int] = PriorityTaskQueue()
    model: dict[int, tuple[int, float, float, int]] = {}  # item -> sort key
    sequence = 0
    for _ in range(3000):
        action = rng.random()
        item = rng.randrange(300)
        if action < 0.5:
            priority = rng.randrange(5)
            deadline_s = rng.choice([math.inf, float(rng.randrange(4))])
            rank = float(rng.randrange(3))
            queue.push(item, priority, deadline_s, rank)
            model[item] = (priority, deadline_s, -rank, sequence)
            sequence += 1
        elif action < 0.7:
            assert queue.remove(item) is (model.pop(item, None) is not None)
        elif model:
            expected = min(model, key=model.__getitem__)
            assert queue.peek() == expected
            assert queue.pop() == expected
            del model[expected]
        else:
            with pytest.raises(IndexError):
                queue.pop()
        assert len(queue) == len(model)
    assert drain(queue) == sorted(model, key=model.__getitem__)


def test_count_by_priority_follows_pushes_removals_moves_and_pops() -> None:
    queue: PriorityTaskQueue[str] = PriorityTaskQueue()
    for item, priority in [("a", 0), ("b", 2), ("c", 2), ("d", 4), ("e", 4)]:
        queue.push(item, priority)
    queue.remove("c")
    queue.reprioritize("d", 1)
    queue.push("b", 3)  # queued again: moved, not counted twice
    assert queue.pop() == "a"
    assert queue.count_by_priority() == {1: 1, 3: 1, 4: 1}
    assert sum(queue.count_by_priority().values()) == len(queue)


@pytest.mark.parametrize("share", [0.05, 0.5, 1.0])  # a push each, or one rebuild
@pytest.mark.parametrize("seed", range(3))
def test_reprioritize_many_orders_as_one_by_one(share: float, seed: int) -> None:
    rng = random.Random(seed)
    one_by_one: PriorityTaskQueue[int] = PriorityTaskQueue()
    at_once: PriorityTaskQueue[int] = PriorityTaskQueue()
    for item in range(400):
        priority, deadline, rank = rng.randrange(5), rng.choice([math.inf, 5.0]), rng.random()
        for queue in (one_by_one, at_once):
            queue.push(item, priority, deadline, rank)
    for queue in (one_by_one, at_once):  # stale entries in the heap, as in use
        queue.remove(7)
        queue.reprioritize(11, 0)
    moves = [(item, rng.randrange(5)) for item in rng.sample(range(12, 400), int(388 * share))]
    for item, priority in moves:
        one_by_one.reprioritize(item, priority)
    at_once.reprioritize_many(moves)
    assert drain(at_once) == drain(one_by_one)


def test_reprioritize_many_refuses_an_item_not_queued_and_stays_a_heap() -> None:
    queue: PriorityTaskQueue[str] = PriorityTaskQueue()
    for item, priority in [("a", 2), ("b", 3), ("c", 4)]:
        queue.push(item, priority)
    with pytest.raises(KeyError):
        queue.reprioritize_many([("c", 0), ("gone", 0)])
    assert drain(queue) == ["c", "a", "b"]  # what moved before the refusal did move
