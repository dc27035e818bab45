"""Finished workflows are released on request or beyond max_finished_workflows; statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from orchestrator.core import ReleaseWorkflow, SchedulerConfig, TaskState, WorkflowReleaseRequested


def run_one(driver: Any, spec: Any, workflow_id: str) -> Any:
    commands = driver.submit(spec.workflow(spec.task("only"), workflow_id=workflow_id))
    return driver.finish(*commands.orders)


def test_release_forgets_a_finished_workflow_and_frees_its_results(driver: Any, spec: Any) -> None:
    driver.send(spec.nodes(4))
    run_one(driver, spec, "wf")
    commands = driver.send(WorkflowReleaseRequested(workflow_id="wf"))
    assert [c.workflow_id for c in commands.of(ReleaseWorkflow)] == ["wf"]
    assert driver.scheduler.workflow_ids() == []
    with pytest.raises(KeyError):
        driver.scheduler.workflow_status("wf")
    with pytest.raises(KeyError, match="no workflow 'wf'"):
        driver.send(WorkflowReleaseRequested(workflow_id="wf"))


def test_a_running_workflow_cannot_be_released(driver: Any, spec: Any) -> None:
    driver.send(spec.nodes(4))
    driver.submit(spec.workflow(spec.task("only")))
    with pytest.raises(ValueError, match="still running"):
        driver.send(WorkflowReleaseRequested(workflow_id="wf"))
    assert driver.scheduler.workflow_ids() == ["wf"]


def test_oldest_finished_workflows_are_released_beyond_the_limit(
    make_driver: Callable[..., Any], spec: Any
) -> None:
    driver = make_driver(SchedulerConfig(max_finished_workflows=2))
    driver.send(spec.nodes(4))
    released = []
    for index in range(4):
        released += [
            c.workflow_id for c in run_one(driver, spec, f"wf-{index}").of(ReleaseWorkflow)
        ]
    assert released == ["wf-0", "wf-1"]
    assert driver.scheduler.workflow_ids() == ["wf-2", "wf-3"]


def test_statistics_count_tasks_pools_and_calls(driver: Any, spec: Any) -> None:
    driver.send(spec.nodes(4))
    commands = driver.submit(spec.workflow(*spec.chain("a", "b", "c")))
    stats = driver.scheduler.statistics()
    assert stats.workflows_running == 1
    assert stats.tasks == {TaskState.RUNNING: 1, TaskState.PENDING: 2}
    assert stats.attempts_running == 1
    pool = stats.pools["worker"]
    assert (pool.agents, pool.calls_in_flight, pool.open_tasks, pool.ready) == (1, 1, 3, 0)
    assert pool.mean_task_s is None
    driver.finish(*commands.orders, duration_s=2.0)
    stats = driver.scheduler.statistics()
    assert stats.tasks == {TaskState.SUCCEEDED: 1, TaskState.RUNNING: 1, TaskState.PENDING: 1}
    assert stats.pools["worker"].mean_task_s == pytest.approx(2.0)
    assert stats.pools["worker"].open_tasks == 2
