"""`ResultStore`: result refs held per workflow, dropped together on release."""

from __future__ import annotations

import pytest

from orchestrator.core.commands import TaskEvent
from orchestrator.core.states import TaskState
from orchestrator.runtime.results import ResultStore, split_page


def test_results_are_held_per_workflow_until_released() -> None:
    store = ResultStore()
    store.open("wf-1")
    store.open("wf-2")
    store.put("wf-1", "a", "ref-a")
    store.put("wf-1", "b", "ref-b")
    store.put("wf-2", "a", "ref-2a")
    assert (store.get("wf-1", "a"), store.get("wf-2", "a"), len(store)) == ("ref-a", "ref-2a", 3)
    assert dict(store.of("wf-1")) == {"a": "ref-a", "b": "ref-b"}

    store.release("wf-1")

    assert (store.get("wf-1", "a"), len(store)) == (None, 1)
    with pytest.raises(KeyError):
        store.of("wf-1")


def test_a_result_arriving_after_release_is_not_kept() -> None:
    # Given a workflow released while one of its calls was still running
    store = ResultStore()
    store.open("wf")
    store.release("wf")
    # When that call's result arrives
    store.put("wf", "late", "ref")
    # Then nothing is held for it
    assert (store.get("wf", "late"), len(store)) == (None, 0)
    store.release("wf")  # releasing twice is harmless


def _event(task_id: str, state: TaskState, attempt: int) -> TaskEvent:
    return TaskEvent("wf", task_id, state, attempt)


def test_only_the_accepted_attempts_result_is_kept() -> None:
    # Given attempt 2 of `t` accepted (SUCCEEDED), and candidates of attempts 1 and 2
    store = ResultStore()
    store.open("wf")
    candidates = {("wf", "t", 1): "late-ref-1", ("wf", "t", 2): "ref-2"}
    store.accept([_event("t", TaskState.SUCCEEDED, 2)], candidates)
    assert store.get("wf", "t") == "ref-2"
    # When attempt 1's result arrives late, with no success of its own
    store.accept([], {("wf", "t", 1): "late-ref-1"})
    # Then it never overwrites the accepted one
    assert store.get("wf", "t") == "ref-2"
    # Nor does a repeated success event without its candidate
    store.accept([_event("t", TaskState.SUCCEEDED, 1)], {})
    assert store.get("wf", "t") == "ref-2"


def test_a_result_declared_void_is_dropped() -> None:
    store = ResultStore()
    store.open("wf")
    store.accept([_event("t", TaskState.SUCCEEDED, 1)], {("wf", "t", 1): "ref-1"})
    store.accept([_event("t", TaskState.PENDING, 1)], {})  # lost: computed again
    assert store.get("wf", "t") is None
    store.accept([_event("t", TaskState.SUCCEEDED, 2)], {("wf", "t", 2): "ref-2"})
    assert store.get("wf", "t") == "ref-2"


def test_a_page_carries_small_results_as_values_and_large_or_unknown_ones_as_refs() -> None:
    inline, as_refs, count = split_page([10, 2_000, None, 10], max_inline_bytes=1_000)
    assert (inline, as_refs, count) == ([0, 3], [1, 2], 4)


def test_a_page_ends_before_its_values_pass_the_byte_budget() -> None:
    # Given results of 400 bytes and a page of 1,000 bytes
    sizes = [400, 400, 5_000, 400, 400]
    # When they are split
    inline, as_refs, count = split_page(sizes, max_inline_bytes=1_000, max_page_bytes=1_000)
    # Then the page holds the first two values, the large one (a ref costs no budget)
    # and ends before the fourth value, which would pass the budget
    assert (inline, as_refs, count) == ([0, 1], [2], 3)


def test_a_page_holds_at_least_one_result_and_at_most_max_results() -> None:
    assert split_page([900], max_inline_bytes=1_000, max_page_bytes=100) == ([0], [], 1)
    assert split_page([1] * 10, max_results=4) == ([0, 1, 2, 3], [], 4)
    assert split_page([]) == ([], [], 0)
