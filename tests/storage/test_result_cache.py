"""Result caching: keys made from function, arguments and inputs; stored results with expiry."""

from __future__ import annotations

import itertools
from typing import Any

from orchestrator import Workflow
from orchestrator.core.packed import PackedWorkflow
from orchestrator.durable.result_cache import ResultCache, cache_keys
from orchestrator.storage import MemoryStore

_names = itertools.count()


def square(x: int) -> int:
    """A module-level function (an import path)."""
    return x * x


def add(a: int, b: int) -> int:
    """Another one."""
    return a + b


def _keys(workflow: Workflow, workflow_id: str = "wf") -> dict[str, str]:
    keys, problems = cache_keys(PackedWorkflow.pack(workflow.to_spec(workflow_id)))
    assert problems == []
    return keys


def _pipeline(first_arg: int, *, name: str = "p", second: Any = add) -> Workflow:
    wf = Workflow(name)
    a = wf.task("a", square, args=(first_arg,), cache=True)
    wf.task("b", second, args=(a.output, 1), cache=True)
    wf.task("plain", square, args=(2,))
    return wf


def test_the_same_computation_has_the_same_key_in_any_workflow() -> None:
    first, second = _keys(_pipeline(3, name="one"), "w1"), _keys(_pipeline(3, name="two"), "w2")
    assert set(first) == {"a", "b"}  # only the tasks that ask for caching
    assert first == second
    assert len(set(first.values())) == 2


def test_a_change_of_argument_or_function_changes_the_key_and_those_downstream() -> None:
    base = _keys(_pipeline(3))
    other_arg = _keys(_pipeline(4))
    assert other_arg["a"] != base["a"] and other_arg["b"] != base["b"]  # through the input
    other_function = _keys(_pipeline(3, second=square))
    assert other_function["a"] == base["a"] and other_function["b"] != base["b"]


def test_a_key_of_your_own_ignores_function_and_arguments() -> None:
    wf1, wf2 = Workflow("one"), Workflow("two")
    wf1.task("x", square, args=(1,), cache="report-2026-11")
    wf2.task("y", add, args=(5, 6), cache="report-2026-11")
    assert _keys(wf1)["x"] == _keys(wf2)["y"]


def test_arguments_that_cannot_be_hashed_are_a_problem_naming_the_task() -> None:
    wf = Workflow("bad")
    wf.task("odd", add, args=(lambda: 1, 2), cache=True)
    keys, problems = cache_keys(PackedWorkflow.pack(wf.to_spec("wf")))
    assert keys == {}
    assert [p.where for p in problems] == ["tasks['odd'].cache"]
    assert "pickle" in problems[0].message


def test_stored_results_are_found_until_they_expire() -> None:
    cache = ResultCache(MemoryStore(f"cache-{next(_names)}"))
    assert cache.get("k", now_s=100.0, ttl_s=None) == (False, None)
    cache.put("k", {"value": [1, 2]}, stored_s=100.0)
    assert cache.get("k", now_s=150.0, ttl_s=None) == (True, {"value": [1, 2]})
    assert cache.get("k", now_s=150.0, ttl_s=60.0) == (True, {"value": [1, 2]})
    assert cache.get("k", now_s=161.0, ttl_s=60.0) == (False, None)


def test_a_damaged_entry_is_a_miss() -> None:
    store = MemoryStore(f"cache-{next(_names)}")
    cache = ResultCache(store)
    cache.put("k", 1, stored_s=0.0)
    [key] = store.list("cache/")
    store.put(key, b"\x80 not a pickle")
    assert cache.get("k", now_s=1.0, ttl_s=None) == (False, None)
