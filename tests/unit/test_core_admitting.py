"""Sliced admission (`core.admitting`): a large workflow admitted a slice at a time.

Slices of 4 tasks here, so that workflows of a few dozen tasks take several slices. Each
test interleaves another event (an outcome, a cancel, a pause, an edit, a checkpoint, a
second submission) with the slices and checks that nothing is lost or doubled.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from orchestrator.core import (
    AdmissionContinued,
    SchedulerConfig,
    TaskState,
    Tick,
    WorkflowCancelRequested,
    WorkflowPauseRequested,
    WorkflowRejectedError,
    WorkflowRestored,
    WorkflowResumeRequested,
    WorkflowState,
    WorkflowSubmitted,
)
from orchestrator.core.events import WorkflowEdited
from orchestrator.core.packed import PackedWorkflow
from orchestrator.testing import Driver

S = TaskState
SLICE = 4
CONFIG = SchedulerConfig(admission_slice_tasks=SLICE)


def _big(spec: Any, roots: int = 10, workflow_id: str = "big", **fields: Any) -> Any:
    """``roots`` independent tasks, each with a child, and a join: 2 * roots + 1 tasks."""
    tops = [spec.task(f"r{i}", **fields) for i in range(roots)]
    children = [spec.task(f"c{i}", depends_on=[f"r{i}"], **fields) for i in range(roots)]
    join = spec.task("join", depends_on=[f"c{i}" for i in range(roots)], **fields)
    agents = [spec.agent(replicas=2)]
    return spec.workflow(*tops, *children, join, agents=agents, workflow_id=workflow_id)


def _submit_in_slices(driver: Driver, workflow: Any) -> Any:
    return driver.send(WorkflowSubmitted(workflow=workflow, in_slices=True))


def _continue(driver: Driver, workflow_id: str = "big", times: int = 1) -> list[Any]:
    return [driver.send(AdmissionContinued(workflow_id=workflow_id)) for _ in range(times)]


def _admit_rest(driver: Driver, workflow_id: str = "big") -> list[Any]:
    """Continue until the workflow is no longer being admitted; return each step's commands."""
    steps = []
    while workflow_id in driver.scheduler.admitting():
        steps.append(driver.send(AdmissionContinued(workflow_id=workflow_id)))
        assert len(steps) < 100
    return steps


def _run_to_end(driver: Driver, commands: list[Any]) -> list[str]:
    """Finish every dispatched attempt (and those they release); return the ids, in order."""
    done: list[str] = []
    orders = [order for step in commands for order in step.orders]
    while orders:
        order = orders.pop(0)
        done.append(order.task_id)
        orders.extend(driver.finish(order).orders)
    return done


def test_a_large_workflow_is_admitted_a_slice_at_a_time_and_runs_as_if_admitted_whole(
    spec: Any,
) -> None:
    workflow = _big(spec)  # 21 tasks: 6 slices of records (4 each, the last 1 and 3 roots)
    whole = Driver(CONFIG)
    whole_order = _run_to_end(whole, [whole.send(WorkflowSubmitted(workflow=workflow))])
    # Given a driver that admits in slices
    driver = Driver(CONFIG)
    first = _submit_in_slices(driver, workflow)
    # Then the workflow is registered, every task counted, nothing made or queued yet
    assert driver.scheduler.admitting() == ("big",)
    assert first.dispatched_ids == []
    status = driver.scheduler.workflow_status("big")
    assert (status.total, status.count(S.PENDING)) == (21, 21)
    steps = _admit_rest(driver)
    assert len(steps) == 6 + 2  # 21 records, then the 7 roots left, 4 at a time
    assert not any(step.dispatched_ids for step in steps[:5])  # none runs before all exist
    # Then the roots are queued in slices, and everything runs once, in the same order
    assert _run_to_end(driver, [first, *steps]) == whole_order
    assert driver.scheduler.workflow_status("big").state is WorkflowState.SUCCEEDED
    assert driver.scheduler.workflow_status("big").count(S.SUCCEEDED) == 21


def test_a_small_workflow_or_a_runtime_that_does_not_slice_is_admitted_at_once(
    spec: Any,
) -> None:
    driver = Driver(CONFIG)
    small = _big(spec, roots=1, workflow_id="small")  # 3 tasks, fewer than a slice
    assert _submit_in_slices(driver, small).dispatched_ids == ["r0"]
    assert driver.send(WorkflowSubmitted(workflow=_big(spec))).dispatched_ids == ["r0"]
    assert driver.scheduler.admitting() == ()
    unsliced = Driver(SchedulerConfig(admission_slice_tasks=None))
    assert _submit_in_slices(unsliced, _big(spec)).dispatched_ids == ["r0", "r1"]
    assert unsliced.scheduler.admitting() == ()


def test_another_workflow_keeps_dispatching_between_slices(spec: Any) -> None:
    driver = Driver(CONFIG)
    chain = spec.workflow(
        *spec.chain("a", "b", "c", agent="other"), agents=[spec.agent("other")], workflow_id="run"
    )
    (order_a,) = driver.submit(chain).orders
    _submit_in_slices(driver, _big(spec))
    # When an outcome of the running workflow arrives between two slices
    after_a = driver.finish(order_a)
    # Then its next task is dispatched at once, while the big one is still being admitted
    assert after_a.dispatched_ids == ["b"]
    assert driver.scheduler.admitting() == ("big",)
    _continue(driver, times=2)
    assert driver.finish(*after_a.orders).dispatched_ids == ["c"]


def test_a_cancel_during_admission_completes_it_then_cancels_every_task_once(
    spec: Any,
) -> None:
    driver = Driver(CONFIG)
    _submit_in_slices(driver, _big(spec))
    _continue(driver, times=2)
    # When a cancel arrives while records are still being made
    commands = driver.send(WorkflowCancelRequested(workflow_id="big", reason="stop"))
    # Then the admission is over and every task is cancelled, none run, none left out
    assert driver.scheduler.admitting() == ()
    assert commands.dispatched_ids == []
    status = driver.scheduler.workflow_status("big")
    assert status.state is WorkflowState.CANCELLED
    assert (status.total, status.count(S.CANCELLED)) == (21, 21)
    assert len(driver.scheduler.task_infos("big")) == 21
    # And a late continuation does nothing
    late = driver.send(AdmissionContinued(workflow_id="big"))
    assert late == []
    assert driver.scheduler.workflow_status("big").count(S.CANCELLED) == 21


def test_a_cancel_while_roots_are_queued_stops_the_started_ones_and_the_rest(
    spec: Any,
) -> None:
    driver = Driver(CONFIG)
    steps = [_submit_in_slices(driver, _big(spec)), *_continue(driver, times=6)]
    started = [task for step in steps for task in step.dispatched_ids]
    assert started and driver.scheduler.admitting() == ("big",)  # roots half queued
    driver.send(WorkflowCancelRequested(workflow_id="big"))
    status = driver.scheduler.workflow_status("big")
    assert status.count(S.CANCELLED) == 21
    assert driver.scheduler.admitting() == ()


def test_a_pause_during_admission_holds_every_task_and_resume_runs_each_once(
    spec: Any,
) -> None:
    driver = Driver(CONFIG)
    _submit_in_slices(driver, _big(spec))
    _continue(driver)
    paused = driver.send(WorkflowPauseRequested(workflow_id="big"))
    assert driver.scheduler.admitting() == ()
    assert paused.dispatched_ids == []
    status = driver.scheduler.workflow_status("big")
    assert status.state is WorkflowState.PAUSED
    assert (status.count(S.READY), status.count(S.PENDING)) == (10, 11)
    resumed = driver.send(WorkflowResumeRequested(workflow_id="big"))
    done = _run_to_end(driver, [resumed])
    assert sorted(done) == sorted(info.task_id for info in driver.scheduler.task_infos("big"))
    assert len(done) == len(set(done)) == 21


def test_an_edit_during_admission_applies_to_the_whole_workflow(spec: Any) -> None:
    driver = Driver(CONFIG)
    _submit_in_slices(driver, _big(spec))
    addition = spec.workflow(
        spec.task("after", depends_on=["join"]), agents=[spec.agent(replicas=2)]
    )
    extra = PackedWorkflow.pack(addition)
    driver.send(WorkflowEdited(workflow_id="big", additions=extra))
    assert driver.scheduler.admitting() == ()
    assert driver.scheduler.workflow_status("big").total == 22


def test_a_checkpoint_taken_during_admission_restores_the_workflow_whole(spec: Any) -> None:
    workflow = _big(spec)
    for continuations in (2, 6):  # while records are made; while roots are queued
        driver = Driver(CONFIG)
        steps = [_submit_in_slices(driver, workflow), *_continue(driver, times=continuations)]
        assert driver.scheduler.admitting() == ("big",)
        started = [order for step in steps for order in step.orders]
        entry = json.loads(json.dumps(driver.scheduler.checkpoint_entry("big")))
        # When the supervisor dies here and a new one restores the checkpoint
        restored = Driver(CONFIG)
        packed = PackedWorkflow.pack(workflow)
        first = restored.send(WorkflowRestored(workflow=packed, progress=entry))
        # Then every task is there, once, and the workflow runs to its end
        assert restored.scheduler.admitting() == ()
        assert restored.scheduler.workflow_status("big").total == 21
        done = _run_to_end(restored, [first])
        assert len(done) == len(set(done)) == 21
        assert restored.scheduler.workflow_status("big").state is WorkflowState.SUCCEEDED
        # (the attempts running at the checkpoint were lost with the supervisor: re-run)
        lost = {order.task_id for order in started}
        assert all(restored.scheduler.task_info("big", t).attempts == 2 for t in lost)


def test_status_during_admission_counts_every_task(spec: Any) -> None:
    driver = Driver(CONFIG)
    _submit_in_slices(driver, _big(spec))
    seen = []
    while driver.scheduler.admitting():
        status = driver.scheduler.workflow_status("big")
        seen.append((status.state, status.total, sum(status.counts.values())))
        _continue(driver)
    assert set(seen) == {(WorkflowState.RUNNING, 21, 21)}


def test_a_bad_workflow_is_refused_whole_and_leaves_nothing_behind(spec: Any) -> None:
    driver = Driver(CONFIG)
    good = _big(spec)
    bad = spec.workflow(*good.tasks, spec.task("x", depends_on=["missing"]), workflow_id="big")
    with pytest.raises(WorkflowRejectedError, match="missing"):
        _submit_in_slices(driver, bad)
    assert driver.scheduler.admitting() == ()
    assert driver.scheduler.workflow_ids() == []
    assert "worker" not in driver.scheduler.statistics().pools  # no pool defined either
    # The same id can then be submitted, and a second one while the first is admitted fails
    _submit_in_slices(driver, good)
    with pytest.raises(WorkflowRejectedError, match="already submitted"):
        _submit_in_slices(driver, good)
    assert len(_admit_rest(driver)) == 8


def test_two_large_workflows_are_admitted_side_by_side(spec: Any) -> None:
    driver = Driver(CONFIG)
    _submit_in_slices(driver, _big(spec, workflow_id="one"))
    _submit_in_slices(driver, _big(spec, workflow_id="two"))
    assert driver.scheduler.admitting() == ("one", "two")
    while driver.scheduler.admitting():
        for workflow_id in driver.scheduler.admitting():
            _continue(driver, workflow_id)
    for workflow_id in ("one", "two"):
        status = driver.scheduler.workflow_status(workflow_id)
        assert (status.count(S.READY) + status.count(S.RUNNING), status.total) == (10, 21)


def test_cached_tasks_succeed_once_every_record_is_made(spec: Any) -> None:
    driver = Driver(CONFIG)
    workflow = _big(spec)
    cached = ("r0", "r1", "c1")
    steps = [driver.send(WorkflowSubmitted(workflow=workflow, cached=cached, in_slices=True))]
    steps += _admit_rest(driver)
    status = driver.scheduler.workflow_status("big")
    assert status.count(S.SUCCEEDED) == 3
    queued = [task for step in steps for task in step.dispatched_ids]
    assert "r0" not in queued and "r1" not in queued
    done = _run_to_end(driver, steps)
    assert sorted(done + list(cached)) == sorted(t.id for t in workflow.tasks)
    assert driver.scheduler.workflow_status("big").state is WorkflowState.SUCCEEDED


def test_deadlines_of_tasks_admitted_in_slices_are_armed(spec: Any) -> None:
    driver = Driver(CONFIG)
    workflow = _big(spec, deadline=spec.deadline(1), on_deadline_miss="skip")
    _submit_in_slices(driver, workflow)
    steps = _admit_rest(driver)
    running = [task for step in steps for task in step.dispatched_ids]
    driver.clock.set(spec.deadline(2).timestamp())
    driver.send(Tick())
    status = driver.scheduler.workflow_status("big")
    assert status.count(S.SKIPPED) == 21 - len(running)
