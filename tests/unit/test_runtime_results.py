"""`ResultStore`: result refs held per workflow, dropped together on release."""

from __future__ import annotations

import pytest

from orchestrator.runtime.results import ResultStore


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
