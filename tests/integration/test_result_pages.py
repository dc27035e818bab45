"""``run.results()`` and ``run.result(id)``: small results read by the supervisor, large
ones fetched from the object store by the driver, in pages, in the order they were stored."""

from __future__ import annotations

import time
from typing import Any

import pytest
import ray

from orchestrator import Orchestrator, TaskState, Workflow, WorkflowState
from orchestrator.runtime.results import MAX_INLINE_RESULT_BYTES, MAX_PAGE_BYTES, read_page
from tests.integration import workloads

pytestmark = pytest.mark.integration


def test_small_results_come_as_values_and_large_ones_as_refs_in_stored_order(
    orchestrator: Orchestrator,
) -> None:
    # Given a workflow with small results and one larger than a page carries inline
    large = 2 * MAX_INLINE_RESULT_BYTES
    wf = Workflow("mixed-sizes")
    wf.task("first", workloads.add, args=(1, 1))
    big = wf.task("big", workloads.payload, args=(large,), depends_on=["first"])
    wf.task("last", workloads.length, args=(big.output,))
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=60).state is WorkflowState.SUCCEEDED
    # When they are read, Then each is its value, in the order the tasks succeeded
    results = run.results()
    assert list(results) == ["first", "big", "last"]
    assert (results["first"], results["big"], results["last"]) == (2, b"x" * large, large)
    # And one at a time too
    assert (run.result("big"), run.result("last")) == (b"x" * large, large)


def test_results_larger_than_a_page_come_in_several_pages(orchestrator: Orchestrator) -> None:
    # Given results whose values add up to more than one page's byte budget
    size = MAX_INLINE_RESULT_BYTES // 2
    count = MAX_PAGE_BYTES // size + 8
    wf = Workflow("many-pages")
    for index in range(count):
        wf.task(f"p{index}", workloads.payload, args=(size + index,))
    run = orchestrator.submit(wf)
    assert run.wait(timeout_s=120).state is WorkflowState.SUCCEEDED
    first_page = ray.get(orchestrator.supervisor.result_page.remote(run.id, None))
    assert first_page.rest, "the workflow's results should not fit in one page"
    # When every result is asked for, Then all come, each once, with its own value
    results = run.results()
    assert len(results) == count
    assert all(len(value) == size + int(task_id[1:]) for task_id, value in results.items())
    run.release()


def test_results_of_a_running_workflow_are_those_stored_so_far(
    orchestrator: Orchestrator,
) -> None:
    # Given a workflow with one quick task and one still running
    wf = Workflow("still-running")
    wf.task("quick", workloads.add, args=(20, 22))
    wf.task("slow", workloads.sleep_then, args=(5.0, "late"))
    run = orchestrator.submit(wf)
    deadline = time.monotonic() + 30
    while run.task("quick").state is not TaskState.SUCCEEDED:
        assert time.monotonic() < deadline, "the quick task did not finish"
        time.sleep(0.05)
    # When the results are read before the end, Then only the finished task's is there
    assert run.results() == {"quick": 42}
    with pytest.raises(TimeoutError):
        run.result("slow", timeout_s=0.1)
    run.cancel()


def _fails() -> Any:
    raise RuntimeError("no value for you")


def test_a_page_sends_results_it_cannot_read_as_refs(orchestrator: Orchestrator) -> None:
    # Given a small value and a ref whose read raises (this driver owns both, as the
    # supervisor owns the results it reads)
    orchestrator.start()
    good = ray.put(7)
    bad = ray.remote(_fails).remote()
    ray.wait([bad], fetch_local=False)
    # When a page of them is read
    page = read_page({"good": good, "bad": bad})
    # Then both go out as refs (reading them failed), and reading them raises Ray's error
    assert (page.task_ids, page.values, set(page.refs), page.rest) == (
        ("good", "bad"),
        {},
        {"good", "bad"},
        (),
    )
    assert ray.get(page.refs["good"]) == 7
    with pytest.raises(ray.exceptions.RayTaskError, match="no value for you"):
        ray.get(page.refs["bad"])
